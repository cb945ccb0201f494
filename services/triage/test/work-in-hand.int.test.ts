import { names, partitionOf, type TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type NatsConnection,
} from '@telecare/platform';
import {
  cleanupNamespace,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumerName, timerBucket } from '../src/index.ts';
import { killableInstances, makeEvent, publishEvent, readAlerts } from './support.ts';

const ns = uniqueNamespace('inhand');
const n = names(ns);
const PARTITIONS = 2;
const logger = createLogger('triage-in-hand-test', process.env.TEST_LOG_LEVEL ?? 'silent');
/** The default ack wait: what a real deployment runs with. */
const env = serviceEnv(ns, {
  TRIAGE_PORT: '0',
  TELECARE_PARTITIONS: String(PARTITIONS),
  TRIAGE_RETRY_DELAY_MS: '100',
  TRIAGE_LEASE_TTL_S: '15',
  TRIAGE_LEASE_RENEW_MS: '500',
});

let nc: NatsConnection;
let jsm: JetStreamManager;
const instances = killableInstances(env);

const startInstance = (name: string) => instances.start({ TRIAGE_INSTANCE: name });

const readyz = async (url: string): Promise<{ status: number; partitions: number[] }> => {
  const response = await fetch(`${url}/readyz`);
  const body = (await response.json()) as { partitions: number[] };
  return { status: response.status, partitions: body.partitions };
};

const flood = (residentId: string): TelecareEvent =>
  makeEvent({
    residentId,
    type: 'flood.detected',
    deviceEventId: `inhand-${residentId}`,
    partitions: PARTITIONS,
    serial: `FL-${residentId}`,
  });

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-in-hand-test', logger });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  instances.killAll();
  await openBucket(nc, timerBucket(n))
    .then((kv) => kv.destroy())
    .catch(() => undefined);
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('after a crash of triage', () => {
  it('picks up the event a killed process held in seconds, not after a long ack wait', async () => {
    const first = await startInstance('triage-a');
    first.kill();
    const residentId = 'res_inhand_1';
    await publishEvent(jetstream(nc), n, flood(residentId));
    // The killed process had pulled the event and never acked it: take it the same way.
    const lane = await jetstream(nc).consumers.get(
      n.streams.events,
      consumerName(partitionOf(residentId, PARTITIONS)),
    );
    // (Unless the killed process's last pull was still open and took it: in hand all the same.)
    await lane.next({ expires: 2_000 });
    const info = await jsm.consumers.info(
      n.streams.events,
      consumerName(partitionOf(residentId, PARTITIONS)),
    );
    expect(info.num_ack_pending).toBe(1);

    const again = await startInstance('triage-a');
    // From the moment it runs: a process takes a while to start on a loaded machine.
    const since = performance.now();
    await waitFor(
      async () => {
        const found = (await readAlerts(jsm, n)).filter(({ alert }) => alert.residentId === residentId);
        return found.length > 0 ? found : undefined;
      },
      { what: 'the flood alert of the event in hand', timeoutMs: 20_000, intervalMs: 200 },
    );
    // The old default (30 s ack wait) fails this; the runtime's ack wait is a few seconds.
    expect(performance.now() - since).toBeLessThan(12_000);
    again.kill();
  }, 90_000);

  it('a restarted instance that owns no partition yet is not ready', async () => {
    // The killed instance's leases name it until they expire: a new process under another name
    // owns nothing meanwhile, and must not say it is ready.
    const dead = await startInstance('triage-a');
    expect((await readyz(dead.url)).partitions).toEqual([0, 1]);
    dead.kill();
    const next = await startInstance('triage-c');
    const early = await readyz(next.url);
    expect(early.partitions).toEqual([]);
    expect(early.status).toBe(503);
    // Ready from its first partition on; the other's lease may expire a moment later.
    const later = await waitFor(
      async () => {
        const r = await readyz(next.url);
        return r.status === 200 && r.partitions.length === 2 ? r : undefined;
      },
      { what: 'the new instance ready once it owns the partitions', timeoutMs: 40_000, intervalMs: 200 },
    );
    expect(later.partitions).toEqual([0, 1]);
    next.kill();
  }, 90_000);
});

import { names, type TelecareEvent } from '@telecare/contracts';
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
import { timerBucket } from '../src/index.ts';
import { killableInstances, makeEvent, publishEvent, readAlerts } from './support.ts';

const ns = uniqueNamespace('leaserestart');
const n = names(ns);
const PARTITIONS = 4;
const logger = createLogger('triage-lease-restart-test', process.env.TEST_LOG_LEVEL ?? 'silent');
/** A lease time far longer than the test waits: whatever is taken here is taken back, not expired. */
const env = serviceEnv(ns, {
  TRIAGE_PORT: '0',
  TELECARE_PARTITIONS: String(PARTITIONS),
  TRIAGE_RETRY_DELAY_MS: '100',
  TRIAGE_LEASE_TTL_S: '60',
  TRIAGE_LEASE_RENEW_MS: '1000',
});

let nc: NatsConnection;
let jsm: JetStreamManager;
const instances = killableInstances(env);

/** A triage instance in a process of its own, to be killed. */
const startInstance = (extra: Record<string, string>) => instances.start(extra);

const owned = async (url: string): Promise<number[]> =>
  ((await (await fetch(`${url}/readyz`)).json()) as { partitions: number[] }).partitions;

const flood = (residentId: string): TelecareEvent =>
  makeEvent({
    residentId,
    type: 'flood.detected',
    deviceEventId: `restart-${residentId}`,
    partitions: PARTITIONS,
    serial: `FL-${residentId}`,
  });

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-lease-restart-test', logger });
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

describe('a crashed instance restarted under its stable name (TRIAGE_INSTANCE)', () => {
  it('takes its own leases back at once instead of waiting a lease time', async () => {
    const first = await startInstance({ TRIAGE_INSTANCE: 'triage-a' });
    expect(await owned(first.url)).toEqual([0, 1, 2, 3]);
    first.kill();

    // Nothing was given back: the leases still name the killed process's instance, for a minute
    // more, and no other instance could take them before then.
    const leases = await openBucket(nc, n.kv.triageLeases);
    for (let p = 0; p < PARTITIONS; p++)
      expect((await leases.get(`partition.${p}`))?.json()).toEqual({ owner: 'triage-a' });

    // The same name takes every partition back as it starts, and reads what waited.
    const again = await startInstance({ TRIAGE_INSTANCE: 'triage-a' });
    expect(await owned(again.url)).toEqual([0, 1, 2, 3]);
    await publishEvent(jetstream(nc), n, flood('res_restart_1'));
    const alerts = await waitFor(
      async () => {
        const found = (await readAlerts(jsm, n)).filter(({ alert }) => alert.type === 'flood.detected');
        return found.length > 0 ? found : undefined;
      },
      { what: 'the flood alert from the restarted instance', timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(alerts.map(({ alert }) => alert.residentId)).toEqual(['res_restart_1']);
    again.kill();
    // Two processes started one after the other (each a TypeScript load) on a machine other test
    // files share: time for both to start, not a measure of how fast leases come back.
  }, 90_000);
});

import { type EventType, names } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  createRedis,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type NatsConnection,
  type Redis,
} from '@telecare/platform';
import { freePort, OwnServer, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropTriageNamespace,
  eventIndexAt,
  killableInstances,
  residentPublisher,
  unackedOn,
} from './support.ts';

// The gaps of index writes skipped while Redis is away outlive the process that skipped them: a
// triage killed before Redis is back leaves them for the next instance to record. This file stops
// and starts a Redis of its own, and runs triage in processes of its own, to be killed.
const PARTITIONS = 1;
const HELPLINE_TOKEN = 'test-helpline-triage-token-0123456789';
const RESIDENT = 'res_gapcrash1';
const PATIENCE_MS = 30_000;
const logger = createLogger('triage-index-gap-crash-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ns = uniqueNamespace('idxgapcrash');
const n = names(ns);

let redisServer: OwnServer;
let instances: ReturnType<typeof killableInstances>;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** Publishes an event of the resident's: its EVENTS sequence. */
let publish: (type: EventType) => Promise<number>;

const allAcked = (what: string) =>
  waitFor(async () => (await unackedOn(jsm, n, 0)) === 0, { what, timeoutMs: PATIENCE_MS, intervalMs: 100 });

beforeAll(async () => {
  redisServer = await OwnServer.start('redis', await freePort());
  instances = killableInstances(
    serviceEnv(ns, {
      TRIAGE_PORT: '0',
      TELECARE_PARTITIONS: String(PARTITIONS),
      TRIAGE_RETRY_DELAY_MS: '100',
      REDIS_URL: redisServer.url,
      TRIAGE_LEASES: 'false',
      HELPLINE_TRIAGE_TOKEN: HELPLINE_TOKEN,
    }),
  );
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-index-gap-crash-test', logger });
  js = jetstream(nc);
  publish = residentPublisher(js, () => n, RESIDENT, PARTITIONS);
  jsm = await jetstreamManager(nc);
}, 60_000);

afterAll(async () => {
  instances?.killAll();
  if (nc) await dropTriageNamespace(nc, n);
  await nc?.close();
  redisServer?.destroy();
});

describe('event index gaps skipped by a triage that crashes before Redis is back', () => {
  it('are recorded by the next instance once Redis is back', async () => {
    const first = await instances.start();
    // A press with Redis up: the resident's state is held in memory from now on.
    const pressed = await publish('pendant.pressed');
    await allAcked('the press read');
    expect(await eventIndexAt(first.url, RESIDENT, HELPLINE_TOKEN)).toMatchObject({
      seqs: [pressed],
      gap: null,
    });

    await redisServer.kill();
    // No rule concerns motion: acked without their index writes, which Redis is not there to take.
    const motions = [await publish('motion'), await publish('motion')];
    await allAcked('the motion events acked with Redis down');
    first.kill();

    redisServer.start();
    const second = await instances.start();
    const redis: Redis = await createRedis({ url: redisServer.url, logger, name: 'index-gap-crash-test' });
    try {
      // Recorded in Redis, where the index view and the timeline read it.
      await waitFor(
        async () =>
          (await redis.get(`${n.redisPrefix}triage:events-gap:${RESIDENT}`)) === String(motions.at(-1)),
        {
          what: 'the gap recorded in Redis by the next instance',
          timeoutMs: PATIENCE_MS,
          intervalMs: 100,
        },
      );
      // The index view says so too (Redis came back empty: no sequence is left in the list).
      expect((await eventIndexAt(second.url, RESIDENT, HELPLINE_TOKEN)).gap).toBe(motions.at(-1));
    } finally {
      redis.disconnect();
    }
  }, 120_000);
});

import { type Names, names, partitionOf } from '@telecare/contracts';
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
// triage killed before Redis is back leaves them for the instance that takes their partition next
// to record. This file stops and starts a Redis of its own, and runs triage in processes of its
// own, to be killed.
const HELPLINE_TOKEN = 'test-helpline-triage-token-0123456789';
const PATIENCE_MS = 30_000;
const logger = createLogger('triage-index-gap-crash-test', process.env.TEST_LOG_LEVEL ?? 'silent');

let redisServer: OwnServer;
let redis: Redis | undefined;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const namespaces: Names[] = [];
const spawned: Array<ReturnType<typeof killableInstances>> = [];

/** A namespace of the test's own, and its triage instances (each in a process of its own). */
function namespace(label: string, partitions: number, env: Record<string, string> = {}) {
  const n = names(uniqueNamespace(label));
  namespaces.push(n);
  const instances = killableInstances(
    serviceEnv(n.namespace, {
      TRIAGE_PORT: '0',
      TELECARE_PARTITIONS: String(partitions),
      TRIAGE_RETRY_DELAY_MS: '100',
      REDIS_URL: redisServer.url,
      HELPLINE_TRIAGE_TOKEN: HELPLINE_TOKEN,
      ...env,
    }),
  );
  spawned.push(instances);
  return {
    n,
    instances,
    acked: (partition: number, what: string) =>
      waitFor(async () => (await unackedOn(jsm, n, partition)) === 0, {
        what,
        timeoutMs: PATIENCE_MS,
        intervalMs: 100,
      }),
    /** Waits for the resident's gap in Redis, where the index view and the timeline read it. */
    gapRecorded: (residentId: string, seq: number | undefined) =>
      waitFor(
        async () =>
          (await (redis as Redis).get(`${n.redisPrefix}triage:events-gap:${residentId}`)) === String(seq),
        { what: 'the gap recorded in Redis', timeoutMs: PATIENCE_MS, intervalMs: 100 },
      ),
  };
}

beforeAll(async () => {
  redisServer = await OwnServer.start('redis', await freePort());
  redis = await createRedis({ url: redisServer.url, logger, name: 'index-gap-crash-test' });
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-index-gap-crash-test', logger });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
}, 60_000);

afterAll(async () => {
  for (const instances of spawned) instances.killAll();
  redis?.disconnect();
  if (nc) for (const n of namespaces) await dropTriageNamespace(nc, n);
  await nc?.close();
  redisServer?.destroy();
});

/** With Redis up, the resident's state is saved by a press and held in memory from then on. */
async function pressWhileRedisUp(
  space: ReturnType<typeof namespace>,
  residentId: string,
  partitions: number,
) {
  const publish = residentPublisher(js, () => space.n, residentId, partitions);
  const partition = partitionOf(residentId, partitions);
  await publish('pendant.pressed');
  await space.acked(partition, 'the press read');
  return { publish, partition };
}

/** Kills Redis, then publishes motion (no rule concerns it) that is acked without its index writes. */
async function motionWhileRedisDown(
  space: ReturnType<typeof namespace>,
  { publish, partition }: Awaited<ReturnType<typeof pressWhileRedisUp>>,
): Promise<number[]> {
  redis?.disconnect();
  redis = undefined;
  await redisServer.kill();
  const motions = [await publish('motion'), await publish('motion')];
  await space.acked(partition, 'the motion events acked with Redis down');
  return motions;
}

async function redisBack(): Promise<void> {
  redisServer.start();
  redis = await createRedis({ url: redisServer.url, logger, name: 'index-gap-crash-test' });
}

describe('event index gaps skipped by a triage that crashes before Redis is back', () => {
  it('are recorded by the next instance to start once Redis is back', async () => {
    const space = namespace('idxgapcrash', 1, { TRIAGE_LEASES: 'false' });
    const resident = 'res_gapcrash1';
    const first = await space.instances.start();
    const sent = await pressWhileRedisUp(space, resident, 1);
    expect(await eventIndexAt(first.url, resident, HELPLINE_TOKEN)).toMatchObject({ gap: null });
    const motions = await motionWhileRedisDown(space, sent);
    first.kill();

    await redisBack();
    const second = await space.instances.start();
    await space.gapRecorded(resident, motions.at(-1));
    // The index view says so too (Redis came back empty: no sequence is left in the list).
    expect((await eventIndexAt(second.url, resident, HELPLINE_TOKEN)).gap).toBe(motions.at(-1));
  }, 120_000);

  it('are recorded by a running instance once it takes over the crashed one’s partition', async () => {
    // A short lease time: the survivor takes the crashed instance's partitions a few seconds on.
    const space = namespace('idxgaptake', 2, { TRIAGE_LEASE_TTL_S: '3' });
    const owned = async (url: string): Promise<number[]> =>
      ((await (await fetch(`${url}/readyz`)).json()) as { partitions?: number[] }).partitions ?? [];
    const crashing = await space.instances.start({ TRIAGE_INSTANCE: 'triage-crashing' });
    const surviving = await space.instances.start({ TRIAGE_INSTANCE: 'triage-surviving' });
    await waitFor(
      async () => (await owned(crashing.url)).length === 1 && (await owned(surviving.url)).length === 1,
      {
        what: 'the partitions shared out',
        timeoutMs: PATIENCE_MS,
        intervalMs: 100,
      },
    );
    const [partition] = await owned(crashing.url);
    const resident = Array.from({ length: 64 }, (_, i) => `res_gaptake${i}`).find(
      (id) => partitionOf(id, 2) === partition,
    ) as string;
    const sent = await pressWhileRedisUp(space, resident, 2);
    const motions = await motionWhileRedisDown(space, sent);
    crashing.kill();

    await redisBack();
    await waitFor(async () => (await owned(surviving.url)).length === 2, {
      what: "the crashed instance's partition taken over",
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
    await space.gapRecorded(resident, motions.at(-1));
    expect((await eventIndexAt(surviving.url, resident, HELPLINE_TOKEN)).gap).toBe(motions.at(-1));
  }, 120_000);
});

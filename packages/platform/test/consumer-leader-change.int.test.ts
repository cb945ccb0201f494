import { names } from '@telecare/contracts';
import { OwnNatsCluster, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  ALARM_LANE,
  type ConsumerLoop,
  connectNats,
  createLogger,
  ensureDurableConsumer,
  ensureStreams,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type NatsConnection,
  SECOND_NS,
  sleep,
  startConsumerLoop,
  systemClock,
} from '../src/index.ts';

/**
 * An alarm lane on a three-node cluster (R3 stream and consumer) whose consumer changes leader.
 * A leader stepping down ends the pull it holds (`409 Leadership Change`): no failure, the loop
 * pulls again at once from the new leader, not after a failed pull's pause (a second) and a lookup.
 */
const n = names('leaderchange');
const logger = createLogger('consumer-leader-change-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const CONSUMER = 'p1';
/** From an alarm stored (the new leader elected) to its handler: tens of ms; a shared machine's margin. */
const HANDLED_WITHIN_MS = 500;
const ROUNDS = 6;

let cluster: OwnNatsCluster;
let nc: NatsConnection;
let jsm: JetStreamManager;
let loop: ConsumerLoop | undefined;
/** When each alarm was handled, by `i`. */
const handled = new Map<number, number>();

beforeAll(async () => {
  cluster = await OwnNatsCluster.start(3);
  nc = await connectNats({ url: cluster.url, name: 'consumer-leader-change-test', logger });
  jsm = await jetstreamManager(nc);
  // Just started, the cluster may not place three replicas yet.
  await waitFor(
    () =>
      ensureStreams(jsm, n, ['alerts', 'deadletter'], { replicas: 3 }).then(
        () => true,
        () => undefined,
      ),
    { what: 'the R3 streams', timeoutMs: 30_000, intervalMs: 250 },
  );
  await ensureDurableConsumer(
    jsm,
    n.streams.alerts,
    CONSUMER,
    { ack_wait: 5 * SECOND_NS },
    { filter_subject: n.subjects.alertsOfPriority(1), max_deliver: -1 },
  );
  loop = startConsumerLoop({
    js: jetstream(nc),
    names: n,
    stream: n.streams.alerts,
    consumer: CONSUMER,
    service: 'test',
    schema: z.object({ i: z.number() }),
    handle: async ({ i }) => {
      handled.set(i, performance.now());
    },
    logger,
    clock: systemClock,
    ...ALARM_LANE,
  });
}, 90_000);

afterAll(async () => {
  await loop?.stop();
  await nc?.close();
  await cluster?.destroy();
}, 60_000);

const leader = async (): Promise<string | undefined> =>
  (await jsm.consumers.info(n.streams.alerts, CONSUMER)).cluster?.leader;

/** Stores alarm `i` (retried while the stream answers that it is not available) and returns when. */
async function store(i: number): Promise<number> {
  const js = jetstream(nc, { timeout: 2_000 });
  return waitFor(
    () =>
      js.publish(n.subjects.alert(1, `res_${i}`), JSON.stringify({ i }), { msgID: `alarm-${i}` }).then(
        () => performance.now(),
        () => undefined,
      ),
    { what: `alarm ${i} stored`, timeoutMs: 30_000, intervalMs: 20 },
  );
}

describe('an alarm lane whose consumer changes leader', () => {
  it('pulls again at once from the new leader', async () => {
    await store(0);
    await waitFor(() => handled.get(0), {
      what: 'the first alarm handled',
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    const latencies: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const before = await waitFor(leader, { what: 'a leader', timeoutMs: 30_000, intervalMs: 100 });
      // The lane's pull is waiting on the leader: it has been idle a moment.
      await sleep(500);
      await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.${n.streams.alerts}.${CONSUMER}`, undefined, {
        timeout: 5_000,
      });
      await waitFor(async () => ((await leader().catch(() => undefined)) ?? before) !== before, {
        what: 'a new leader',
        timeoutMs: 30_000,
        intervalMs: 10,
      });
      const storedAt = await store(round);
      const at = await waitFor(() => handled.get(round), {
        what: `alarm ${round} handled`,
        timeoutMs: 30_000,
        intervalMs: 5,
      });
      latencies.push(at - storedAt);
    }
    console.log(
      `stored → handled after a leader change: ${latencies.map((ms) => ms.toFixed(0)).join(', ')} ms`,
    );
    for (const ms of latencies) expect(ms).toBeLessThan(HANDLED_WITHIN_MS);
  }, 180_000);
});

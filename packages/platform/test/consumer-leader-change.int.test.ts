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
 * A leader whose node is lost answers nothing: the loop's lookup and its question about the pull
 * gone quiet wait unanswered through the election, and are asked again as soon as JetStream
 * advises that the consumer has a new leader, not when their timeouts end (1 s and 5 s).
 */
const n = names('leaderchange');
const logger = createLogger('consumer-leader-change-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const CONSUMER = 'p1';
/** From an alarm stored (the new leader elected) to its handler: tens of ms; a shared machine's margin. */
const HANDLED_WITHIN_MS = 500;
const ROUNDS = 3;

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
  await alarmConsumer(CONSUMER, 1);
  loop = alarmLane(nc, CONSUMER, handled);
}, 90_000);

/** A durable consumer of one priority's alarms. */
const alarmConsumer = (consumer: string, priority: 1 | 2): Promise<void> =>
  ensureDurableConsumer(
    jsm,
    n.streams.alerts,
    consumer,
    { ack_wait: 5 * SECOND_NS },
    { filter_subject: n.subjects.alertsOfPriority(priority), max_deliver: -1 },
  );

/** An alarm lane on `consumer` through `connection`, noting when it handles each alarm in `seen`. */
const alarmLane = (connection: NatsConnection, consumer: string, seen: Map<number, number>) =>
  startConsumerLoop({
    js: jetstream(connection),
    names: n,
    stream: n.streams.alerts,
    consumer,
    service: 'test',
    schema: z.object({ i: z.number() }),
    handle: async ({ i }) => {
      seen.set(i, performance.now());
    },
    logger,
    clock: systemClock,
    ...ALARM_LANE,
  });

afterAll(async () => {
  await loop?.stop();
  await nc?.close();
  await cluster?.destroy();
}, 60_000);

const leader = async (): Promise<string | undefined> =>
  (await jsm.consumers.info(n.streams.alerts, CONSUMER)).cluster?.leader;

/** Stores alarm `i` (retried while the stream answers that it is not available) and returns when. */
async function store(i: number, priority: 1 | 2 = 1): Promise<number> {
  const js = jetstream(nc, { timeout: 2_000 });
  return waitFor(
    () =>
      js.publish(n.subjects.alert(priority, `res_${i}`), JSON.stringify({ i }), { msgID: `alarm-${i}` }).then(
        () => performance.now(),
        () => undefined,
      ),
    { what: `alarm ${i} stored`, timeoutMs: 30_000, intervalMs: 20 },
  );
}

/** Steps the consumer's leader down until it is not on `node`. */
async function leadOff(consumer: string, node: string): Promise<string> {
  const of = async () => (await jsm.consumers.info(n.streams.alerts, consumer)).cluster?.leader;
  for (let tries = 0; tries < 12; tries++) {
    const now = await waitFor(of, { what: `a leader of ${consumer}`, timeoutMs: 30_000, intervalMs: 100 });
    if (now !== node) return now;
    await nc.request(`$JS.API.CONSUMER.LEADER.STEPDOWN.${n.streams.alerts}.${consumer}`, undefined, {
      timeout: 5_000,
    });
    await waitFor(async () => ((await of().catch(() => undefined)) ?? now) !== now, {
      what: `another leader of ${consumer}`,
      timeoutMs: 30_000,
      intervalMs: 50,
    });
  }
  throw new Error(`the leader of ${consumer} stays on ${node}`);
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

  it('asks again as soon as the consumer has a new leader after its node was lost', async () => {
    const consumer = 'p2';
    await alarmConsumer(consumer, 2);
    const latencies: number[] = [];
    for (let round = 0; round < 2; round++) {
      // The stream's leader stays up (alarms are stored during the consumer's election), the
      // consumer's leader is on another node, and the lane is connected to the third: its link
      // stays up while the consumer's leader is lost.
      const streamLeader = (await jsm.streams.info(n.streams.alerts)).cluster?.leader ?? '';
      const lost = await leadOff(consumer, streamLeader);
      const third = [0, 1, 2].find(
        (i) => i !== cluster.indexOf(streamLeader) && i !== cluster.indexOf(lost),
      ) as number;
      const own = await connectNats({ url: cluster.urlOf(third), name: `lane-${round}`, logger });
      let electedAt: number | undefined;
      own.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.${n.streams.alerts}.${consumer}`, {
        callback: () => {
          electedAt ??= performance.now();
        },
      });
      const seen = new Map<number, number>();
      const lane = alarmLane(own, consumer, seen);
      try {
        const first = 100 + round * 10;
        await store(first, 2);
        await waitFor(() => seen.get(first), { what: 'the lane reading', timeoutMs: 30_000, intervalMs: 20 });
        await sleep(500);
        await cluster.killNode(cluster.indexOf(lost));
        await sleep(300);
        const storedAt = await store(first + 1, 2);
        const at = await waitFor(() => seen.get(first + 1), {
          what: 'the alarm stored during the election handled',
          timeoutMs: 60_000,
          intervalMs: 5,
        });
        const elected = await waitFor(() => electedAt, {
          what: 'the advisory of the new leader',
          timeoutMs: 10_000,
          intervalMs: 20,
        });
        latencies.push(at - Math.max(elected, storedAt));
      } finally {
        await lane.stop();
        await own.close();
        await cluster.startNode(cluster.indexOf(lost));
      }
      await waitFor(
        async () => {
          const replicas = (await jsm.consumers.info(n.streams.alerts, consumer)).cluster?.replicas ?? [];
          return replicas.length === 2 && replicas.every((r) => r.current) ? true : undefined;
        },
        { what: 'the restarted node current again', timeoutMs: 60_000, intervalMs: 250 },
      );
    }
    console.log(`new leader → alarm handled: ${latencies.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    for (const ms of latencies) expect(ms).toBeLessThan(HANDLED_WITHIN_MS);
  }, 240_000);
});

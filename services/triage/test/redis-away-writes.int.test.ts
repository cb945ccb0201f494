import {
  createLogger,
  createRedis,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type Redis,
  sleep,
} from '@telecare/platform';
import { initialState, type Timer } from '@telecare/rules';
import { type OwnServer, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { StateStore, TimerStore } from '../src/index.ts';
import { RedisAway, RedisAwayError } from '../src/redis-away.ts';
import {
  metricValue,
  pauseServer,
  residentPublisher,
  scrape,
  triageOnOwnRedis,
  unackedOn,
} from './support.ts';

// With Redis away the writes an event waits for (its state's save, its timers' index, a held
// alert) fail at once as its reads do, a Redis that stops answering on a live connection is found
// within about a second, and the lanes that backed off go on as soon as Redis answers again. This
// file kills, stops and starts a Redis of its own.
const PARTITIONS = 1;
const logger = createLogger('triage-redis-away-writes-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const PATIENCE_MS = 30_000;
/** A failure known at once: no round trip, no reconnect attempt waited for. */
const AT_ONCE_MS = 200;
/** A lane's retry delay far longer than Redis takes to come back: only its return ends the wait. */
const RETRY_DELAY_MS = 30_000;

let bed: Awaited<ReturnType<typeof triageOnOwnRedis>> | undefined;
let redisServer: OwnServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** The test's own client of the same Redis, for the stores alone. */
let redis: Redis;
let timers: TimerStore;
let states: StateStore;
const n = () => (bed as NonNullable<typeof bed>).testbed.n;
const unacked = () => unackedOn(jsm, n(), 0);
/** Waits until the partition lane has acked everything published. */
const allAcked = (what: string) =>
  waitFor(async () => (await unacked()) === 0, { what, timeoutMs: PATIENCE_MS, intervalMs: 50 });

beforeAll(async () => {
  bed = await triageOnOwnRedis('triage-awaywrites', logger, {
    TRIAGE_RETRY_DELAY_MS: String(RETRY_DELAY_MS),
  });
  ({ redisServer, nc, js, jsm } = bed);
  redis = await createRedis({ url: redisServer.url, logger, name: 'triage-away-writes-test' });
  timers = await TimerStore.open({ nc, names: n(), redis, partitions: 1, partitionOf: () => 0, logger });
  states = new StateStore(redis, n().redisPrefix, logger);
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  await bed?.close();
});

const timer = (id: string): Timer => ({
  id,
  ruleId: 'absence.test',
  residentId: 'res_awaywrites_store',
  dueAt: 1_000,
  checkAt: 1_000,
});

/** How long `attempt` takes to fail, and that it fails as Redis away. */
async function failsIn(attempt: () => Promise<unknown>): Promise<number> {
  const began = performance.now();
  const err = await attempt().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  const took = performance.now() - began;
  expect(err, 'a failure').toBeInstanceOf(Error);
  const away = err instanceof RedisAwayError || (err as Error).cause instanceof RedisAwayError;
  expect(away, String(err)).toBe(true);
  return took;
}

const save = (residentId: string) =>
  timers.apply([], residentId, (writes) => states.saveIn(writes, undefined, initialState(residentId)));

describe('triage writes while Redis is away', () => {
  it('fails the writes an event waits for at once while Redis is down, and writes no timer record it could not index', async () => {
    await redisServer.kill();
    onTestFinished(() => redisServer.start());
    await waitFor(async () => redis.status !== 'ready', {
      what: 'the client to see Redis gone',
      timeoutMs: PATIENCE_MS,
    });
    const records = await timers.count();
    const took = {
      timers: await failsIn(() =>
        timers.apply([{ op: 'set', timer: timer('t-down') }], 'res_awaywrites_store'),
      ),
      save: await failsIn(() => save('res_awaywrites_store')),
      hold: await failsIn(() => timers.hold(timer('hold-down'), {} as never)),
    };
    for (const [which, ms] of Object.entries(took)) expect(ms, which).toBeLessThan(AT_ONCE_MS);
    expect(await timers.count()).toBe(records);
  });

  it('finds a Redis that stops answering on a live connection within about a second, then fails reads and writes at once, until it answers', async () => {
    await waitFor(async () => !RedisAway.of(redis).away, { what: 'Redis back', timeoutMs: PATIENCE_MS });
    await save('res_awaywrites_store');
    const resume = pauseServer(redisServer);
    // The first read after it stopped: found away by the PING it leaves unanswered, not by the
    // client's command timeout (5 s).
    const first = await failsIn(() => states.load('res_awaywrites_cold'));
    expect(first).toBeLessThan(1_500);
    const after = {
      read: await failsIn(() => states.load('res_awaywrites_cold')),
      save: await failsIn(() => save('res_awaywrites_store')),
    };
    for (const [which, ms] of Object.entries(after)) expect(ms, which).toBeLessThan(AT_ONCE_MS);
    resume();
    await waitFor(async () => !RedisAway.of(redis).away, {
      what: 'Redis answering again',
      timeoutMs: PATIENCE_MS,
    });
    expect(await states.load('res_awaywrites_store')).toMatchObject({ residentId: 'res_awaywrites_store' });
  });

  it('sends no PING while Redis answers', async () => {
    const pings = async () =>
      Number(/cmdstat_ping:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
    const before = await pings();
    // The partition lane reads its due timers on every round meanwhile.
    await sleep(3_000);
    expect((await pings()) - before).toBe(0);
  });

  it('keeps a partition lane backed off with Redis down, acks nothing it could not save, and goes on as soon as Redis is back', async () => {
    const warm = residentPublisher(js, n, 'res_awaywrites_warm', PARTITIONS);
    await warm('heartbeat');
    await allAcked('the first event read');

    await redisServer.kill();
    onTestFinished(() => redisServer.start());
    // A held state the event changes (a dose sets its timer), and a state not held at all.
    await warm('medication.due');
    await residentPublisher(js, n, 'res_awaywrites_cold', PARTITIONS)('heartbeat');
    // Into the outage: the client's reconnect attempts 2 s apart by now.
    await sleep(12_000);
    expect(await unacked()).toBe(2);

    redisServer.start();
    const back = performance.now();
    await allAcked('both events acked once Redis is back');
    // The client's next reconnect attempt (2 s at most), then at once: not the lane's retry delay.
    expect(performance.now() - back).toBeLessThan(4_000);
    expect(await redis.llen(states.key('res_awaywrites_warm'))).toBeGreaterThan(0);
    const page = await scrape(bed?.triage.url as string);
    expect(metricValue(page, /^triage_redis_away_total\{cause="disconnected"/)).toBeGreaterThan(0);
    expect(metricValue(page, /^triage_redis_away[ {]/)).toBe(0);
    expect(await redis.zcard(timers.indexKey(0))).toBeGreaterThan(0);
  }, 120_000);

  it('acks the events that need nothing of Redis within a bounded wait when Redis stops answering, not after a due timers read held the lane for the command timeout', async () => {
    const warm = residentPublisher(js, n, 'res_awaywrites_stopped', PARTITIONS);
    // A press: the resident's state is saved, and held in memory from now on.
    await warm('pendant.pressed');
    await allAcked('the first event read');
    pauseServer(redisServer);
    // The lane's next round reads its due timers from the stopped Redis.
    await sleep(1_500);
    const sent = performance.now();
    // No rule concerns motion: with the state in memory, only its index write needs Redis.
    await warm('motion');
    await allAcked('the motion acked with Redis stopped');
    expect(performance.now() - sent).toBeLessThan(2_000);
    const page = await scrape(bed?.triage.url as string);
    expect(metricValue(page, /^triage_redis_away_total\{cause="unanswered"/)).toBeGreaterThan(0);
    expect(metricValue(page, /^triage_redis_away[ {]/)).toBe(1);
  }, 60_000);
});

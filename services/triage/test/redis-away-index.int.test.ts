import {
  createLogger,
  createRedis,
  type JetStreamClient,
  type JetStreamManager,
  type Redis,
} from '@telecare/platform';
import { type OwnServer, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HELPLINE_TOKEN,
  metricValue,
  pauseServer,
  pressToAlert,
  residentPublisher,
  scrape,
  triageOnOwnRedis,
  unackedOn,
} from './support.ts';

// An event tried again while Redis is away sends its index write once, not once a try: the writes
// of every try waited on the connection of a stopped Redis and all ran once it answered. This file
// stops and continues a Redis of its own.
const PARTITIONS = 1;
const logger = createLogger('triage-redis-away-index-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const PATIENCE_MS = 30_000;
/** Press to alert: what a press is owed with Redis away. */
const ALARM_MS = 1_000;

let bed: Awaited<ReturnType<typeof triageOnOwnRedis>> | undefined;
let redisServer: OwnServer;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** The test's own client of the same Redis, and one in MONITOR mode: every command Redis runs. */
let redis: Redis;
let monitor: Awaited<ReturnType<Redis['monitor']>> | undefined;
const ran: string[][] = [];
const n = () => (bed as NonNullable<typeof bed>).testbed.n;
const unacked = () => unackedOn(jsm, n(), 0);

beforeAll(async () => {
  bed = await triageOnOwnRedis('triage-awayindex', logger);
  ({ redisServer, js, jsm } = bed);
  redis = await createRedis({ url: redisServer.url, logger, name: 'triage-away-index-test' });
  monitor = await redis.monitor();
  monitor.on('monitor', (_time: string, args: string[]) => ran.push(args));
}, 60_000);

afterAll(async () => {
  monitor?.disconnect();
  redis?.disconnect();
  await bed?.close();
});

/** The index writes Redis ran for a resident: the append script, on their list and the partitions' `since`. */
const indexWrites = (residentId: string): number => {
  const list = `${n().redisPrefix}triage:events:${residentId}`;
  const since = `${n().redisPrefix}triage:events-since`;
  return ran.filter((args) => args.includes(list) && args.includes(since)).length;
};

describe('the event index while Redis is away', () => {
  it('sends an event index write once for an event tried again and again while Redis is stopped, and alerts an alarm meanwhile', async () => {
    // With Redis answering: the scripts are loaded, and the lane has read everything.
    await residentPublisher(js, n, 'res_awayindex_first', PARTITIONS)('heartbeat');
    await waitFor(async () => (await unacked()) === 0, {
      what: 'the first event read',
      timeoutMs: PATIENCE_MS,
    });
    await waitFor(async () => indexWrites('res_awayindex_first') > 0, {
      what: 'the first index write seen',
      timeoutMs: PATIENCE_MS,
    });
    const retries = async () =>
      metricValue(await scrape(bed?.triage.url as string), /^triage_retries_total\{dependency="redis"/);
    const before = await retries();

    const resume = pauseServer(redisServer);
    // A resident whose state is not held: the event is tried again until Redis answers.
    const seq = await residentPublisher(js, n, 'res_awayindex_cold', PARTITIONS)('motion');
    // And a press meanwhile, of another resident whose state is not held.
    const press = residentPublisher(js, n, 'res_awayindex_press', PARTITIONS);
    expect(await pressToAlert(jsm, n(), 'res_awayindex_press', press)).toBeLessThan(ALARM_MS);
    // Tried again a good many times (every 100 ms once Redis is known away).
    await waitFor(async () => (await retries()) - before >= 10, {
      what: 'the event tried again while Redis is stopped',
      timeoutMs: PATIENCE_MS,
    });
    expect(await unacked()).toBeGreaterThan(0);
    // The helpline's read of an index, Redis known away: refused at once, not after the command
    // timeout (the helpline then reads the partition itself, and its console waits no longer).
    const asked = performance.now();
    const read = await fetch(`${bed?.triage.url}/api/residents/res_awayindex_cold/event-index`, {
      headers: { authorization: `Bearer ${HELPLINE_TOKEN}` },
    });
    expect(read.status).toBe(503);
    expect(performance.now() - asked).toBeLessThan(ALARM_MS);

    resume();
    await waitFor(async () => (await unacked()) === 0, {
      what: 'every event acked once Redis answers',
      timeoutMs: PATIENCE_MS,
      intervalMs: 50,
    });
    // What was sent meanwhile ran before the acked event's own commands, and the monitor saw it.
    await waitFor(async () => indexWrites('res_awayindex_cold') > 0, {
      what: 'the index write seen',
      timeoutMs: PATIENCE_MS,
    });
    expect(indexWrites('res_awayindex_cold')).toBe(1);
    expect(await redis.lrange(`${n().redisPrefix}triage:events:res_awayindex_cold`, 0, -1)).toEqual([
      String(seq),
    ]);
    // Nothing acked that is not durable: the press's state (its open alert) saved once Redis answered.
    expect(await redis.llen(`${n().redisPrefix}triage:state:v4:res_awayindex_press`)).toBeGreaterThan(0);
  }, 120_000);
});

import type { EventType } from '@telecare/contracts';
import {
  createLogger,
  createRedis,
  type JetStreamClient,
  type JetStreamManager,
  type Redis,
  sleep,
} from '@telecare/platform';
import { type OwnServer, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  pressToAlert as alertedIn,
  pauseServer,
  readAlerts,
  residentPublisher,
  triageOnOwnRedis,
  unackedOn,
} from './support.ts';

// While Redis is away an alarm reaches ALERTS within a second, whether or not the resident's
// state is held, and the alarm lane is not held behind it. This file kills, stops and starts a
// Redis of its own.
const PARTITIONS = 1;
const logger = createLogger('triage-redis-away-test', process.env.TEST_LOG_LEVEL ?? 'silent');
/** Waits that a loaded machine may stretch: each is for a condition, never spent on a quiet one. */
const PATIENCE_MS = 30_000;
/** Press to alert: what a press is owed with Redis away. */
const ALARM_MS = 1_000;

let bed: Awaited<ReturnType<typeof triageOnOwnRedis>> | undefined;
let redisServer: OwnServer;
let js: JetStreamClient;
let jsm: JetStreamManager;
const n = () => (bed as NonNullable<typeof bed>).testbed.n;
const unacked = () => unackedOn(jsm, n(), 0);
/** The test's own client of the same Redis: what triage saved. */
let redis: Redis;

beforeAll(async () => {
  bed = await triageOnOwnRedis('triage-redisaway', logger);
  ({ redisServer, js, jsm } = bed);
  redis = await createRedis({ url: redisServer.url, logger, name: 'triage-redisaway-test' });
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  await bed?.close();
});

/** Each resident's state is in Redis: their presses decided ahead of it were saved once it answered. */
async function expectSaved(residentIds: readonly string[]): Promise<void> {
  for (const residentId of residentIds)
    expect(await redis.llen(`${n().redisPrefix}triage:state:v4:${residentId}`), residentId).toBeGreaterThan(
      0,
    );
}

const pressToAlert = (residentId: string, publish: (type: EventType) => Promise<number>) =>
  alertedIn(jsm, n(), residentId, publish);

describe('triage while Redis is away', () => {
  it('stores an alarm in ALERTS within a second, the first press after Redis goes and presses later in the outage, whether or not the state is held', async () => {
    const warm = residentPublisher(js, n, 'res_away_warm', PARTITIONS);
    // With Redis up: this resident's state is saved and held in memory from now on.
    await warm('pendant.pressed');
    await waitFor(async () => (await unacked()) === 0, {
      what: 'the first press read',
      timeoutMs: PATIENCE_MS,
    });

    await redisServer.kill();
    // Back for the next test whatever this one did (a running server is left as it is).
    onTestFinished(() => redisServer.start());
    const took: Record<string, number> = {};
    // The first press after Redis went, of a resident whose state is not held.
    took.coldFirst = await pressToAlert(
      'res_away_cold1',
      residentPublisher(js, n, 'res_away_cold1', PARTITIONS),
    );
    took.warmFirst = await pressToAlert('res_away_warm', warm);
    // Further into the outage: the client tries to reconnect every 2 s from 11 s on, as it does a
    // minute or an hour in.
    await sleep(12_000);
    for (let i = 0; i < 3; i++) {
      const residentId = `res_away_cold_later${i}`;
      took[`coldLater${i}`] = await pressToAlert(
        residentId,
        residentPublisher(js, n, residentId, PARTITIONS),
      );
      took[`warmLater${i}`] = await pressToAlert('res_away_warm', warm);
    }
    for (const [which, ms] of Object.entries(took)) expect(ms, which).toBeLessThan(ALARM_MS);

    // Nothing is acked that is not durable: the cold residents' presses wait for Redis to save
    // their states, and once it is back every event is acked and each alert is there once.
    redisServer.start();
    await waitFor(async () => (await unacked()) === 0, {
      what: 'every press acked once Redis is back',
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
    const ids = (await readAlerts(jsm, n())).map((stored) => stored.alert.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(1 + Object.keys(took).length);
    await expectSaved(['res_away_cold1', 'res_away_cold_later0', 'res_away_cold_later2', 'res_away_warm']);
  }, 120_000);

  it('stores alarms in ALERTS within a second, one after another, when Redis is connected but does not answer', async () => {
    const warm = residentPublisher(js, n, 'res_stopped_warm', PARTITIONS);
    await warm('pendant.pressed');
    await waitFor(async () => (await unacked()) === 0, {
      what: 'the first press read',
      timeoutMs: PATIENCE_MS,
    });
    // Stopped, not killed: the connection stays up and every command waits for an answer.
    const resume = pauseServer(redisServer);
    const took: Record<string, number> = {};
    for (let i = 0; i < 2; i++) {
      // The warm resident's state is saved after its alert: a save Redis does not answer.
      took[`warm${i}`] = await pressToAlert('res_stopped_warm', warm);
      const residentId = `res_stopped_cold${i}`;
      took[`cold${i}`] = await pressToAlert(residentId, residentPublisher(js, n, residentId, PARTITIONS));
    }
    for (const [which, ms] of Object.entries(took)) expect(ms, which).toBeLessThan(ALARM_MS);

    resume();
    await waitFor(async () => (await unacked()) === 0, {
      what: 'every press acked once Redis answers',
      timeoutMs: PATIENCE_MS,
      intervalMs: 100,
    });
    const mine = (await readAlerts(jsm, n())).filter((stored) =>
      stored.alert.residentId.startsWith('res_stopped'),
    );
    expect(new Set(mine.map((stored) => stored.alert.id)).size).toBe(1 + Object.keys(took).length);
    await expectSaved(['res_stopped_cold0', 'res_stopped_cold1', 'res_stopped_warm']);
  }, 120_000);
});

import { names } from '@telecare/contracts';
import {
  createLogger,
  createRedis,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
  type Redis,
} from '@telecare/platform';
import { type OwnServer, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TimerStore } from '../src/index.ts';
import { RedisAway } from '../src/redis-away.ts';
import {
  pressToAlert as alertedIn,
  dropTriageNamespace,
  pauseServer,
  residentPublisher,
  triageOnOwnRedis,
  unackedOn,
} from './support.ts';

// The writes made on the side of a read (the due timers' corrections of the index) and the rule
// set history's copy wait for no Redis that went away: each waited for the client's command
// timeout (5 s), one after another, and an alarm is alerted meanwhile. This file stops and
// continues a Redis of its own.
const PARTITIONS = 1;
const logger = createLogger('triage-redis-away-corrections-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const PATIENCE_MS = 30_000;
/** Press to alert: what a press is owed with Redis away. */
const ALARM_MS = 1_000;
/** What a read or write owes a Redis that stopped: the watch's verdict (about 0.8 s), not 5 s. */
const BOUND_MS = 1_500;
const ADMIN_TOKEN = 'test-admin-token-0123456789';

let bed: Awaited<ReturnType<typeof triageOnOwnRedis>> | undefined;
let redisServer: OwnServer;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
/** The test's own client of the same Redis, for a timer store of a namespace of its own. */
let redis: Redis;
let timers: TimerStore;
const own = names(uniqueNamespace('triage-awaycorr-store'));
const n = () => (bed as NonNullable<typeof bed>).testbed.n;
const unacked = () => unackedOn(jsm, n(), 0);

beforeAll(async () => {
  bed = await triageOnOwnRedis('triage-awaycorr', logger, { TELECARE_ADMIN_TOKEN: ADMIN_TOKEN });
  ({ redisServer, nc, js, jsm } = bed);
  redis = await createRedis({ url: redisServer.url, logger, name: 'triage-away-corrections-test' });
  RedisAway.of(redis, logger);
  timers = await TimerStore.open({ nc, names: own, redis, partitions: 1, partitionOf: () => 0, logger });
  await timers.rebuildIndex();
}, 60_000);

afterAll(async () => {
  redis?.disconnect();
  if (nc) await dropTriageNamespace(nc, own);
  await bed?.close();
});

const pressToAlert = (residentId: string) =>
  alertedIn(jsm, n(), residentId, residentPublisher(js, n, residentId, PARTITIONS));

describe('writes on the side while Redis is away', () => {
  it("does not hold the due timers' read for its index corrections when Redis stops right after the read, and puts them right once it answers", async () => {
    const index = timers.indexKey(0);
    // Two entries due before their records are (the index's score early), and two whose records are gone.
    for (const id of ['early:1', 'early:2'])
      await timers.apply(
        [
          {
            op: 'set',
            timer: { id, ruleId: 'early', residentId: 'res_corr', dueAt: 60_000, checkAt: 60_000 },
          },
        ],
        'res_corr',
      );
    await redis.zadd(index, 1_000, 'early:1', 1_001, 'early:2', 1_002, 'gone:1', 1_003, 'gone:2');

    // Redis stops as soon as the due timers are read: what the read leads to finds it stopped.
    let resume: (() => void) | undefined;
    const read = redis.zrangebyscore.bind(redis) as (...args: unknown[]) => Promise<string[]>;
    const spy = vi.spyOn(redis, 'zrangebyscore').mockImplementation((async (...args: unknown[]) => {
      const ids = await read(...args);
      resume = pauseServer(redisServer);
      return ids;
    }) as never);
    const began = performance.now();
    await timers.due(0, 10_000).catch(() => undefined);
    const took = performance.now() - began;
    spy.mockRestore();
    expect(resume, 'Redis stopped after the read').toBeDefined();
    expect(took).toBeLessThan(BOUND_MS);
    // An alarm meanwhile is alerted at once.
    expect(await pressToAlert('res_corr_press')).toBeLessThan(ALARM_MS);

    resume?.();
    await waitFor(async () => !RedisAway.of(redis).away, { what: 'Redis answering', timeoutMs: PATIENCE_MS });
    // The next read finds the entries wrong again and puts them right.
    expect(await timers.due(0, 10_000)).toEqual([]);
    await waitFor(
      async () => (await redis.zcard(index)) === 2 && (await redis.zscore(index, 'gone:1')) === null,
      {
        what: 'the index put right',
        timeoutMs: PATIENCE_MS,
      },
    );
    expect(Number(await redis.zscore(index, 'early:1'))).toBe(60_000);
    await waitFor(async () => (await unacked()) === 0, { what: 'the press acked', timeoutMs: PATIENCE_MS });
  }, 120_000);

  it('answers a rule set put at once while Redis is stopped, and copies it to the history in Redis once Redis answers', async () => {
    const resume = pauseServer(redisServer);
    const began = performance.now();
    const response = await fetch(`${bed?.triage.url}/api/rules`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        version: 2,
        rules: [
          { id: 'trigger.pendant', version: 1, kind: 'trigger', on: ['pendant.pressed'], reason: '{what}' },
        ],
      }),
    });
    const took = performance.now() - began;
    expect(response.status, await response.clone().text()).toBe(200);
    expect(took).toBeLessThan(BOUND_MS);
    const { revision } = (await response.json()) as { revision: number };
    expect(await pressToAlert('res_corr_rules_press')).toBeLessThan(ALARM_MS);

    resume();
    await waitFor(
      async () => (await redis.hget(`${n().redisPrefix}triage:rules:history`, String(revision))) !== null,
      { what: 'the put copied to the history in Redis', timeoutMs: PATIENCE_MS },
    );
    await waitFor(async () => (await unacked()) === 0, { what: 'the press acked', timeoutMs: PATIENCE_MS });
  }, 120_000);
});

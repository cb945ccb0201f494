import { names } from '@telecare/contracts';
import { connectNats, createLogger, createRedis, type NatsConnection, type Redis } from '@telecare/platform';
import type { Timer } from '@telecare/rules';
import { cleanupNamespace, fillBucket, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_INDEX_TTL_S } from '../src/event-index.ts';
import { GapClaims } from '../src/index-gaps.ts';
import { TimerStore } from '../src/timers.ts';

/**
 * Triage's buckets are bounded by their part of the store (TELECARE_JETSTREAM_MAX_BYTES); full, one
 * refuses new keys. Neither the timers nor the event index's gap claims may then fail the event
 * (it would be handed back for as long as the bucket stays full, the resident's alarms held up
 * behind it): a new timer is kept in Redis only and still falls due, a claim is given up.
 */
const ns = uniqueNamespace('triage-full');
const n = names(ns);
const logger = createLogger('triage-full-test', process.env.TEST_LOG_LEVEL ?? 'silent');
/** The timers' part of it is 160 KiB, the gap claims' 32 KiB: filled in a few hundred writes. */
const STORE = 16 * 1024 * 1024;
let nc: NatsConnection;
let redis: Redis;

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'triage-full-test', logger });
  redis = await createRedis({ url: servers.redisUrl, logger, name: 'triage-full-test' });
});

afterAll(async () => {
  await nc?.close();
  redis?.disconnect();
  await cleanupNamespace(ns);
});

const timer = (id: string, dueAt: number): Timer => ({
  id,
  ruleId: 'absence.test',
  residentId: 'res_full',
  dueAt,
  checkAt: dueAt,
});

describe('a full bucket in triage', { timeout: 60_000 }, () => {
  it('a new timer the full timer bucket refuses is kept in Redis, falls due, and is counted', async () => {
    const store = await TimerStore.open({
      nc,
      names: n,
      redis,
      partitions: 1,
      partitionOf: () => 0,
      logger,
      storeBytes: STORE,
    });
    // Indexed first, as at start-up (an index found missing is rebuilt from the bucket, whose
    // fillers, no timers, it would purge).
    await store.rebuildIndex();
    const writes: string[] = [];
    store.onWrite = (op) => writes.push(op);
    await store.apply([{ op: 'set', timer: timer('held', 1_000) }], 'res_full');
    expect(await fillBucket(nc, n.kv.triageTimers)).toBeGreaterThan(0);

    await store.apply([{ op: 'set', timer: timer('refused', 2_000) }], 'res_full');
    // Moving a timer it holds may be refused too (the bucket then keeps the record as it was).
    await store.apply([{ op: 'set', timer: timer('held', 3_000) }], 'res_full');
    expect(writes.slice(0, 2)).toEqual(['put', 'refused']);
    const due = await store.due(0, 10_000, 100);
    expect(due.map((t) => [t.id, t.dueAt]).sort()).toEqual([
      ['held', 3_000],
      ['refused', 2_000],
    ]);
    // Cancelling the one it never held fails nothing either.
    await store.apply([{ op: 'cancel', id: 'refused' }], 'res_full');
    expect((await store.due(0, 10_000, 100)).map((t) => t.id)).toEqual(['held']);
    expect((await store.due(0, 10_000, 100)).map((t) => [t.id, t.dueAt])).toEqual([['held', 3_000]]);
  });

  it('a gap claim the full bucket refuses lets its event through, counted, instead of failing it', async () => {
    const claims = await GapClaims.open({
      nc,
      names: n,
      ttlS: EVENT_INDEX_TTL_S,
      storeBytes: STORE,
      logger,
      batchMs: 5,
    });
    expect(await fillBucket(nc, n.kv.triageIndexGaps)).toBeGreaterThan(0);
    await expect(claims.add('res_full', 41, 0)).resolves.toBeUndefined();
    expect(claims.unclaimed).toBe(1);
  });
});

import { names } from '@telecare/contracts';
import {
  connectNats,
  createBucket,
  createLogger,
  createRedis,
  jetstreamManager,
  type NatsConnection,
  type Redis,
} from '@telecare/platform';
import type { Timer } from '@telecare/rules';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimerStore, timerBucket } from '../src/index.ts';

/**
 * The timer commands of one evaluation are stored at once, not one round trip after another; what
 * they leave behind must be what applying them in order leaves: the last command per timer wins.
 */
const ns = uniqueNamespace('timerstore');
const logger = createLogger('timer-store-test', 'silent');
let nc: NatsConnection;
let redis: Redis;
let store: TimerStore;

const timer = (id: string, dueAt: number): Timer => ({
  id,
  ruleId: 'absence.test',
  residentId: 'res_timerstore',
  dueAt,
  checkAt: dueAt,
});

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'timer-store-test', logger });
  redis = await createRedis({ url: servers.redisUrl, logger, name: 'timer-store-test' });
  store = await TimerStore.open({
    nc,
    names: names(ns),
    redis,
    partitions: 1,
    partitionOf: () => 0,
    logger,
  });
});
const lostNs = uniqueNamespace('timerlost');
afterAll(async () => {
  await nc?.close();
  redis?.disconnect();
  await cleanupNamespace(ns);
  await cleanupNamespace(lostNs);
});

describe('TimerStore.apply', () => {
  it('leaves what the commands leave in order: the last command per timer wins', async () => {
    await store.apply(
      [
        { op: 'set', timer: timer('a', 1_000) },
        { op: 'cancel', id: 'a' },
        { op: 'cancel', id: 'b' },
        { op: 'set', timer: timer('b', 2_000) },
        { op: 'set', timer: timer('c', 3_000) },
        { op: 'set', timer: timer('c', 4_000) },
        ...Array.from({ length: 20 }, (_, i) => ({
          op: 'set' as const,
          timer: timer(`many-${i}`, 5_000 + i),
        })),
      ],
      'res_timerstore',
    );
    const due = await store.due(0, 10_000, 100);
    const byId = new Map(due.map((t) => [t.id, t.dueAt]));
    expect(byId.has('a')).toBe(false);
    expect(byId.get('b')).toBe(2_000);
    expect(byId.get('c')).toBe(4_000);
    expect([...byId.keys()].filter((id) => id.startsWith('many-'))).toHaveLength(20);
  });

  it("removes a cancelled timer's index entry from its resident's partition only, and due drops one left elsewhere", async () => {
    const spread = await TimerStore.open({
      nc,
      names: names(ns),
      redis,
      partitions: 4,
      partitionOf: (residentId) => (residentId === 'res_timerstore' ? 2 : 0),
      logger,
    });
    await spread.apply([{ op: 'set', timer: timer('spread', 1_000) }], 'res_timerstore');
    expect(await redis.zscore(spread.indexKey(2), 'spread')).toBe('1000');
    // An entry for the same timer in another partition, with its copy (as a change in the number of
    // partitions leaves).
    await redis.zadd(spread.indexKey(1), 1_000, 'spread');
    await redis.hset(spread.copyKey(1), 'spread', JSON.stringify(timer('spread', 1_000)));
    await spread.apply([{ op: 'cancel', id: 'spread' }], 'res_timerstore');
    expect(await redis.zscore(spread.indexKey(2), 'spread')).toBeNull();
    expect(await redis.hget(spread.copyKey(2), 'spread')).toBeNull();
    expect(await spread.due(1, 10_000)).toEqual([]);
    expect(await redis.zscore(spread.indexKey(1), 'spread')).toBeNull();
    expect(await redis.hget(spread.copyKey(1), 'spread')).toBeNull();
    // Dropped, not moved to its resident's partition to fire there from the copy.
    expect(await redis.zscore(spread.indexKey(2), 'spread')).toBeNull();
  });

  it("an entry left in another partition's index by a change in the number of partitions goes to its resident's, and fires there only", async () => {
    // A timer that lives on, moved by each set (a device's check): its record is never gone.
    const before = await TimerStore.open({
      nc,
      names: names(ns),
      redis,
      partitions: 4,
      partitionOf: () => 1,
      logger,
    });
    await before.apply([{ op: 'set', timer: timer('moved-on', 1_000) }], 'res_timerstore');
    const after = await TimerStore.open({
      nc,
      names: names(ns),
      redis,
      partitions: 4,
      partitionOf: (residentId) => (residentId === 'res_timerstore' ? 3 : 0),
      logger,
    });
    await after.apply([{ op: 'set', timer: timer('moved-on', 2_000) }], 'res_timerstore');
    // The old partition's entry comes due first: not fired there, but moved to partition 3.
    expect(await after.due(1, 10_000)).toEqual([]);
    expect(await redis.zscore(after.indexKey(1), 'moved-on')).toBeNull();
    expect(await redis.zscore(after.indexKey(3), 'moved-on')).toBe('2000');
    expect((await after.due(3, 10_000)).map((t) => [t.id, t.dueAt])).toEqual([['moved-on', 2_000]]);
  });

  it('fails, to be retried, when Redis refuses one of the index writes', async () => {
    const refusing = await TimerStore.open({
      nc,
      names: names(ns),
      redis,
      partitions: 8,
      partitionOf: () => 5,
      logger,
    });
    // Not a sorted set: ZADD answers WRONGTYPE for this command alone, and the pipeline still resolves.
    await redis.set(refusing.indexKey(5), 'not an index');
    await expect(
      refusing.apply([{ op: 'set', timer: timer('refused', 1_000) }], 'res_timerstore'),
    ).rejects.toThrow(/could not write the timers' index or the state/);
    await redis.del(refusing.indexKey(5));
  });
});

describe('TimerStore when JetStream lost the timer bucket', () => {
  it('a timer whose record went with the bucket fires from its copy, and the copies write the records back; a cancelled one stays gone', async () => {
    const n = names(lostNs);
    const lost = await TimerStore.open({ nc, names: n, redis, partitions: 2, partitionOf: () => 1, logger });
    await lost.rebuildIndex(); // as at start-up: the index is whole
    await lost.apply(
      [
        { op: 'set', timer: timer('kept', 1_000) },
        { op: 'set', timer: timer('later', 50_000) },
        { op: 'set', timer: timer('cancelled', 1_000) },
      ],
      'res_timerstore',
    );
    await lost.apply([{ op: 'cancel', id: 'cancelled' }], 'res_timerstore');
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(`KV_${timerBucket(n)}`);
    // Made again empty (as the service's bucket check makes it), before its records are written back.
    await createBucket(nc, timerBucket(n), { kind: 'triageTimers', history: 1 });
    expect(await lost.count()).toBe(0);
    expect((await lost.due(1, 10_000)).map((t) => [t.id, t.dueAt])).toEqual([['kept', 1_000]]);

    expect(await lost.writeBack()).toBe(2);
    expect(await lost.count()).toBe(2);
    // Written back once: a second pass (another instance's) creates nothing.
    expect(await lost.writeBack()).toBe(0);
    await lost.fired(timer('kept', 1_000));
    expect(await lost.due(1, 100_000)).toEqual([timer('later', 50_000)]);
  });

  it('a bucket lost while no instance ran is written back from the copies when the index is rebuilt at start', async () => {
    const n = names(lostNs);
    const before = await TimerStore.open({
      nc,
      names: n,
      redis,
      partitions: 2,
      partitionOf: () => 0,
      logger,
    });
    await before.apply([{ op: 'set', timer: timer('while-down', 70_000) }], 'res_timerstore');
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(`KV_${timerBucket(n)}`);
    const started = await TimerStore.open({
      nc,
      names: n,
      redis,
      partitions: 2,
      partitionOf: () => 0,
      logger,
    });
    await started.rebuildIndex();
    // Every timer the copies held (of both partitions), not only those of the partition set here.
    expect(await started.count()).toBe(2);
    expect(await started.due(0, 100_000)).toEqual([timer('while-down', 70_000)]);
  });
});

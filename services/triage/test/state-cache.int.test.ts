import { createLogger, createRedis, type Redis } from '@telecare/platform';
import { initialState, type ResidentState } from '@telecare/rules';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LaneWork } from '../src/leases.ts';
import { forgettingStates, StateStore } from '../src/state-store.ts';

/**
 * Triage keeps the states it last read or saved decoded in memory. That copy is right only while
 * this instance is the one writer of those residents: once a lease changes hands, Redis is read again.
 */
const ns = uniqueNamespace('statecache');
const prefix = `${ns}:`;
const logger = createLogger('state-cache-test', 'silent');
let redis: Redis;

beforeAll(async () => {
  redis = await createRedis({ url: servers.redisUrl, logger, name: 'state-cache-test' });
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis?.disconnect();
  await cleanupNamespace(ns);
});

/** Saves `state` whole, as another instance would. */
async function saveWhole(store: StateStore, state: ResidentState): Promise<void> {
  const pipeline = redis.pipeline();
  const then = store.saveIn(pipeline, undefined, state);
  const replies = await pipeline.exec();
  await then(replies?.[0] ?? [null, null]);
}

/** A state with a mark of who wrote it. */
const written = (residentId: string, by: number): ResidentState => ({
  ...initialState(residentId),
  scheduled: { by },
});

/** Lane work that records what it was told, and nothing else. */
function lanes(told: string[]): LaneWork {
  return {
    start: (lease) => told.push(`start ${lease}`),
    stop: async (lease) => {
      told.push(`stop ${lease}`);
    },
    abandon: async (lease) => {
      told.push(`abandon ${lease}`);
    },
    setAreaLanes: async () => [],
    areaTypes: () => [],
  };
}

describe('the resident states held in memory', () => {
  it('answers from memory while this instance writes, and reads Redis again once a lease changes hands', async () => {
    const store = new StateStore(redis, prefix, logger, { cache: 10 });
    const other = new StateStore(redis, prefix, logger);
    await saveWhole(other, written('res_cache1', 1));
    expect((await store.load('res_cache1'))?.scheduled.by).toBe(1);

    // Another instance writes while this one still holds the copy: the copy answers.
    await saveWhole(other, written('res_cache1', 2));
    expect((await store.load('res_cache1'))?.scheduled.by).toBe(1);

    const told: string[] = [];
    const work = forgettingStates(lanes(told), store);
    for (const step of [
      () => work.start('partition.0'),
      () => work.stop('partition.0'),
      () => work.abandon('partition.0'),
    ]) {
      expect(store.held).toBe(1);
      await step();
      expect(store.held).toBe(0);
      const by = Number(told.length + 10);
      await saveWhole(other, written('res_cache1', by));
      expect((await store.load('res_cache1'))?.scheduled.by).toBe(by);
    }
    expect(told).toEqual(['start partition.0', 'stop partition.0', 'abandon partition.0']);
  });

  it('keeps the most recently used up to its size, and nothing when its size is 0', async () => {
    const store = new StateStore(redis, prefix, logger, { cache: 2 });
    for (const id of ['res_lru1', 'res_lru2', 'res_lru3']) store.remember(written(id, 1));
    expect(store.held).toBe(2);
    await saveWhole(new StateStore(redis, prefix, logger), written('res_lru1', 5));
    expect((await store.load('res_lru1'))?.scheduled.by).toBe(5);
    store.forget('res_lru1');
    expect(store.held).toBe(1);

    const none = new StateStore(redis, prefix, logger, { cache: 0 });
    none.remember(written('res_lru2', 1));
    expect(none.held).toBe(0);
  });
});

import { createLogger, createRedis, type Redis } from '@telecare/platform';
import { encodeState, initialState, type RecentEvent, type ResidentState } from '@telecare/rules';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateStore } from '../src/state-store.ts';

/**
 * A resident's state in Redis is a list an event's save changes (the head, the rows that went and
 * came) rather than writes whole: what one instance saves, another reads back the same, whatever
 * happened to the list in between.
 */
const ns = uniqueNamespace('statestore');
const prefix = `${ns}:`;
const logger = createLogger('state-store-test', 'silent');
let redis: Redis;

beforeAll(async () => {
  redis = await createRedis({ url: servers.redisUrl, logger, name: 'state-store-test' });
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis?.disconnect();
  await cleanupNamespace(ns);
});

const T = Date.parse('2026-12-01T08:00:00.000Z');

const entry = (i: number, serial = 'PIR-1'): RecentEvent => ({
  id: `evt_${serial}-${i}`,
  type: 'motion',
  at: T + i * 60_000,
  serial,
  deviceKind: 'pir',
  location: 'lounge',
  testMode: false,
});

/** The state with `recent` made of these events, `seen` their ids (the last 8). */
const withRecent = (residentId: string, recent: RecentEvent[]): ResidentState => ({
  ...initialState(residentId),
  recent,
  seen: recent.slice(-8).map((e) => e.id),
  devices: { 'HUB-1': { lastAt: recent.at(-1)?.at ?? T, lastId: 'evt_HUB-1-0', intervalS: 3600 } },
});

/** Saves `after` as triage does, in a pipeline of its own; answers the commands sent. */
async function save(
  store: StateStore,
  before: ResidentState | undefined,
  after: ResidentState,
): Promise<string[][]> {
  const pipeline = redis.pipeline();
  const then = store.saveIn(pipeline, before, after);
  const sent: string[][] = [];
  for (const command of (pipeline as unknown as { _queue: Array<{ name: string; args: unknown[] }> })._queue)
    sent.push([command.name, ...command.args.map(String)]);
  const replies = await pipeline.exec();
  await then(replies?.[0] ?? [null, null]);
  return sent;
}

/** What a store holding nothing in memory reads. */
const readBack = (residentId: string) => new StateStore(redis, prefix, logger).load(residentId);

describe('resident states stored as lists', () => {
  it('saves an event in order as its change: one row pushed, the oldest removed, the head set', async () => {
    const store = new StateStore(redis, prefix, logger);
    const full = withRecent(
      'res_list1',
      Array.from({ length: 200 }, (_, i) => entry(i)),
    );
    await save(store, undefined, full);
    const loaded = (await store.load('res_list1')) as ResidentState;
    expect(loaded).toEqual(full);
    const next = withRecent('res_list1', [...full.recent.slice(1), entry(200)]);
    const [sent] = await save(store, loaded, next);
    // The script's arguments: the change, a fraction of the whole state.
    const bytes = (sent ?? []).reduce((sum, arg) => sum + arg.length, 0);
    expect(bytes).toBeLessThan(encodeState(next).length / 4);
    expect(sent).toContain('change');
    expect(await redis.llen(store.key('res_list1'))).toBe(1 + 2 + 200);
    expect(await readBack('res_list1')).toEqual(next);
  });

  it('keeps an event that came late in its place, and one removed from the middle out', async () => {
    const store = new StateStore(redis, prefix, logger);
    const first = withRecent('res_list2', [entry(0), entry(2), entry(3, 'HUB-1'), entry(4)]);
    await save(store, undefined, first);
    const late = withRecent('res_list2', [entry(0), entry(1), entry(2), entry(4)]);
    await save(store, first, late);
    expect(await readBack('res_list2')).toEqual(late);
  });

  it('writes the whole state when the list is not the one its change was made from', async () => {
    const store = new StateStore(redis, prefix, logger);
    const other = new StateStore(redis, prefix, logger);
    const first = withRecent('res_list3', [entry(0), entry(1)]);
    await save(store, undefined, first);

    // Lost (Redis emptied, the key evicted): the next save restores all of it.
    await redis.del(store.key('res_list3'));
    const second = withRecent('res_list3', [entry(0), entry(1), entry(2)]);
    await save(store, first, second);
    expect(await readBack('res_list3')).toEqual(second);

    // Written meanwhile by another instance: the last save wins whole, as a whole write did.
    const theirs = withRecent('res_list3', [entry(7, 'HUB-1')]);
    await save(other, undefined, theirs);
    const third = withRecent('res_list3', [entry(0), entry(1), entry(2), entry(3)]);
    await save(store, second, third);
    expect(await readBack('res_list3')).toEqual(third);
  });

  it('reads a state stored by the version before, and its first save moves it to the list', async () => {
    const store = new StateStore(redis, prefix, logger);
    const old = withRecent('res_list4', [entry(0), entry(1)]);
    await redis.set(store.legacyKey('res_list4'), encodeState(old));
    const read = (await store.load('res_list4')) as ResidentState;
    expect(read).toEqual(old);
    const next = withRecent('res_list4', [entry(0), entry(1), entry(2)]);
    await save(store, read, next);
    expect(await redis.exists(store.legacyKey('res_list4'))).toBe(0);
    expect(await readBack('res_list4')).toEqual(next);

    // And the whole form of the version before that.
    await redis.del(store.key('res_list4'));
    await redis.set(store.legacyKey('res_list4'), JSON.stringify(old));
    expect(await readBack('res_list4')).toEqual(old);
  });

  it('drops what is not a state where the list goes, and the next save writes it whole', async () => {
    const store = new StateStore(redis, prefix, logger);
    await redis.set(store.key('res_list5'), 'not a list');
    expect(await store.load('res_list5')).toBeUndefined();
    await redis.del(store.key('res_list5'));
    await redis.rpush(store.key('res_list5'), 'x.1', '{"v":4}', 'null');
    expect(await store.load('res_list5')).toBeUndefined();
    const state = withRecent('res_list5', [entry(0)]);
    await save(store, undefined, state);
    expect(await readBack('res_list5')).toEqual(state);
  });
});

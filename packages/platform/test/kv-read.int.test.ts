import { names } from '@telecare/contracts';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectNats,
  createBucket,
  createLogger,
  jetstreamManager,
  lastValues,
  type NatsConnection,
  WatchedBucket,
} from '../src/index.ts';

/** A bucket read whole in one pass, leaving no consumer behind. */
const ns = uniqueNamespace('kvread');
const bucket = `${names(ns).namespace}-read`;
const watched = `${names(ns).namespace}-watched`;
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connectNats({
    url: servers.natsUrl,
    name: 'kv-read-test',
    logger: createLogger('kv', 'silent'),
  });
});

afterAll(async () => {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(`KV_${bucket}`).catch(() => false);
  await jsm.streams.delete(`KV_${watched}`).catch(() => false);
  await nc.close();
  await cleanupNamespace(ns);
});

describe('lastValues', () => {
  it('reads every live key once with its last value, over several batches, and deletes its consumer', async () => {
    const kv = await createBucket(nc, bucket, { kind: 'deviceMap', history: 3 });
    const empty = await lastValues(nc, bucket);
    expect(empty.size).toBe(0);
    const writes: Promise<number>[] = [];
    for (let i = 0; i < 2_500; i++) writes.push(kv.put(`k${i}`, `v${i}`));
    await Promise.all(writes);
    await kv.put('k1', 'changed');
    await kv.delete('k2');
    await kv.purge('k3');
    const values = await lastValues(nc, bucket);
    expect(values.size).toBe(2_498);
    expect(new TextDecoder().decode(values.get('k1'))).toBe('changed');
    expect(new TextDecoder().decode(values.get('k2499'))).toBe('v2499');
    expect(values.has('k2')).toBe(false);
    expect(values.has('k3')).toBe(false);
    const jsm = await jetstreamManager(nc);
    let consumers = 0;
    for await (const _ of jsm.consumers.list(`KV_${bucket}`)) consumers++;
    expect(consumers).toBe(0);
  });
});

describe('WatchedBucket.preload', () => {
  const Entry = {
    safeParse: (value: unknown) =>
      typeof value === 'object' && value !== null && typeof (value as { key?: unknown }).key === 'string'
        ? { success: true as const, data: value as { key: string; v: number } }
        : { success: false as const },
  };
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

  it('holds the bucket read whole at once, and never replaces what the watch gave with it', async () => {
    const kv = await createBucket(nc, watched, { kind: 'deviceMap', history: 3 });
    await kv.put('a', JSON.stringify({ key: 'a', v: 1 }));
    const mirror = new WatchedBucket<{ key: string; v: number }>({
      kv,
      schema: Entry,
      keyOf: (entry) => entry.key,
      what: 'test entries',
      logger: createLogger('kv', 'silent'),
    });
    try {
      // Read whole: held from now on, whether or not the watch has delivered it yet.
      expect(mirror.preload(await lastValues(nc, watched))).toBe(1);
      expect(mirror.held('a')).toEqual({ key: 'a', v: 1 });
      // The watch gives a newer value; a stale read taken before it does not replace it.
      await kv.put('a', JSON.stringify({ key: 'a', v: 2 }));
      for (let i = 0; i < 100 && mirror.held('a')?.v !== 2; i++)
        await new Promise((resolve) => setTimeout(resolve, 20));
      expect(mirror.held('a')).toEqual({ key: 'a', v: 2 });
      mirror.preload(new Map([['a', encode({ key: 'a', v: 1 })]]));
      expect(mirror.held('a')).toEqual({ key: 'a', v: 2 });
      // A key the watch has not given is taken; one that does not name its key is not.
      mirror.preload(
        new Map([
          ['b', encode({ key: 'b', v: 3 })],
          ['c', encode({ key: 'x', v: 4 })],
          ['d', new TextEncoder().encode('not json')],
        ]),
      );
      expect(mirror.held('b')).toEqual({ key: 'b', v: 3 });
      expect(mirror.held('c')).toBeUndefined();
      expect(mirror.held('d')).toBeUndefined();
    } finally {
      await mirror.close();
    }
  });
});

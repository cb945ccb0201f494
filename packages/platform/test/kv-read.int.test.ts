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
} from '../src/index.ts';

/** A bucket read whole in one pass, leaving no consumer behind. */
const ns = uniqueNamespace('kvread');
const bucket = `${names(ns).namespace}-read`;
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
  await nc.close();
  await cleanupNamespace(ns);
});

describe('lastValues', () => {
  it('reads every live key once with its last value, over several batches, and deletes its consumer', async () => {
    const kv = await createBucket(nc, bucket, { history: 3 });
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

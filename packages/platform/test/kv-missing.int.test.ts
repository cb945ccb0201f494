import { names } from '@telecare/contracts';
import { cleanupNamespace, FaultProxy, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectNats,
  createBucket,
  createLogger,
  jetstreamManager,
  type NatsConnection,
  TransientError,
} from '../src/index.ts';

/**
 * A bucket whose stream JetStream lost (deleted by hand, a server whose store was lost) until
 * `keepBuckets` makes it again: a read or a create on it fails at once, as a put does, instead of
 * waiting out the request timeout, and every operation fails with a `BucketMissingError` naming
 * the bucket (not the client's "jetstream is not enabled"); a healthy bucket behind a slow link is
 * still waited for.
 */
const ns = uniqueNamespace('kvmissing');
const bucket = `${names(ns).namespace}-missing`;
const slow = `${names(ns).namespace}-slow`;
const unheard = `${names(ns).namespace}-unheard`;
const logger = createLogger('kv', 'silent');
let nc: NatsConnection;
let proxy: FaultProxy;
let behindProxy: NatsConnection;

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'kv-missing-test', logger });
  proxy = await FaultProxy.start({ port: Number(new URL(servers.natsUrl).port || 4222) });
  behindProxy = await connectNats({ url: proxy.url('nats'), name: 'kv-missing-slow', logger });
});

afterAll(async () => {
  await behindProxy?.close();
  await proxy?.close();
  const jsm = await jetstreamManager(nc);
  for (const name of [bucket, slow, unheard]) await jsm.streams.delete(`KV_${name}`).catch(() => false);
  await nc?.close();
  await cleanupNamespace(ns);
});

/** How long `run` took to fail, and what it failed with. */
async function failure(run: () => Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const started = performance.now();
  try {
    await run();
  } catch (err) {
    return { err, ms: performance.now() - started };
  }
  throw new Error('expected it to fail');
}

/**
 * "At once": milliseconds alone; the bound leaves room for the test files beside this one and is
 * half the 5 s request timeout a missing bucket's operations waited before.
 */
const AT_ONCE_MS = 2_500;

describe('a KV bucket whose stream is missing', () => {
  it('fails a get, a create, a put, an update, a delete and a purge at once with a transient error naming the bucket, and works again once it is made again', async () => {
    const kv = await createBucket(nc, bucket, { kind: 'triageLeases', history: 1 });
    await kv.put('a', 'before');
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(`KV_${bucket}`);

    for (const run of [() => kv.get('a'), () => kv.create('b', 'new')]) {
      const { err, ms } = await failure(run);
      expect(ms).toBeLessThan(AT_ONCE_MS);
      expect(err).toBeInstanceOf(TransientError);
      expect((err as TransientError).name).toBe('BucketMissingError');
      expect((err as TransientError).context).toMatchObject({ bucket, dependency: 'nats' });
    }
    // A put fails at once by itself (nothing listens on the bucket's subjects), and says why.
    for (const [operation, run] of [
      ['put', () => kv.put('a', 'after')],
      ['update', () => kv.update('a', 'after', 1)],
      ['delete', () => kv.delete('a')],
      ['purge', () => kv.purge('a')],
    ] as const) {
      const { err, ms } = await failure(run);
      expect(ms, operation).toBeLessThan(AT_ONCE_MS);
      expect(err, operation).toBeInstanceOf(TransientError);
      expect((err as TransientError).name, operation).toBe('BucketMissingError');
      expect((err as TransientError).message, operation).toContain(`KV bucket ${bucket} does not exist`);
      expect((err as TransientError).context, operation).toMatchObject({ bucket, operation });
    }
    // Several at once share one look at the stream, and each fails as fast.
    const started = performance.now();
    const all = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => kv.get(`k${i}`)));
    expect(performance.now() - started).toBeLessThan(AT_ONCE_MS);
    expect(all.every((r) => r.status === 'rejected' && r.reason instanceof TransientError)).toBe(true);

    // Made again (as `keepBuckets` does): the same handle reads and writes as before.
    await createBucket(nc, bucket, { kind: 'triageLeases', history: 1 });
    expect(await kv.get('a')).toBeNull();
    expect(await kv.create('b', 'new')).toBeGreaterThan(0);
    expect((await kv.get('b'))?.string()).toBe('new');
    const revision = await kv.put('c', 'one');
    expect(await kv.update('c', 'two', revision)).toBeGreaterThan(revision);
    await kv.delete('c');
    await kv.purge('b');
    expect(await kv.get('b')).toMatchObject({ operation: 'PURGE' });
    // A write refused for its own reason is refused as the client says, not as a missing bucket.
    const stale = (await failure(() => kv.update('a', 'stale', 1))).err;
    expect(stale).not.toBeInstanceOf(TransientError);
  });

  it('leaves a write nothing answers on a bucket whose stream is there as the client says it', async () => {
    const kv = await createBucket(nc, unheard, { kind: 'triageLeases', history: 1 });
    const jsm = await jetstreamManager(nc);
    // The stream is there but takes other subjects: nothing listens on the bucket's.
    const { config } = await jsm.streams.info(`KV_${unheard}`);
    await jsm.streams.update(`KV_${unheard}`, { ...config, subjects: [`$KV.${unheard}-elsewhere.>`] });
    const { err } = await failure(() => kv.put('a', 'value'));
    expect(err).not.toBeInstanceOf(TransientError);
    expect((err as Error).name).toBe('JetStreamNotEnabled');
  });

  it('still waits for a healthy bucket that answers slowly (past the look at its stream)', async () => {
    const kv = await createBucket(behindProxy, slow, { kind: 'triageLeases', history: 1 });
    await kv.put('a', 'value');
    proxy.set({ kind: 'delay', ms: 600 });
    try {
      const started = performance.now();
      const [entry, revision] = await Promise.all([kv.get('a'), kv.create('b', 'new')]);
      expect(performance.now() - started).toBeGreaterThan(1_000);
      expect(entry?.string()).toBe('value');
      expect(revision).toBeGreaterThan(0);
    } finally {
      proxy.set({ kind: 'pass' });
    }
  });
});

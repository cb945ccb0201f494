import { names } from '@telecare/contracts';
import { cleanupNamespace, FaultProxy, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectNats,
  createBucket,
  createLogger,
  jetstreamManager,
  lastValues,
  type NatsConnection,
  TimeoutError,
} from '../src/index.ts';

/**
 * A bucket read whole while another process keeps writing to it (triage's timer records under
 * load, read by a triage instance starting again): the read ends with what the bucket held when
 * it began, instead of chasing the writes for as long as they come.
 */
const ns = uniqueNamespace('kvbusy');
const bucket = `${names(ns).namespace}-busy`;
const logger = createLogger('kv', 'silent');
let writer: NatsConnection;
let reader: NatsConnection;
let proxy: FaultProxy;

beforeAll(async () => {
  writer = await connectNats({ url: servers.natsUrl, name: 'kv-busy-writer', logger });
  proxy = await FaultProxy.start({ port: Number(new URL(servers.natsUrl).port || 4222) });
  reader = await connectNats({ url: proxy.url('nats'), name: 'kv-busy-reader', logger });
});

afterAll(async () => {
  await reader?.close();
  await proxy?.close();
  const jsm = await jetstreamManager(writer);
  await jsm.streams.delete(`KV_${bucket}`).catch(() => false);
  await writer?.close();
  await cleanupNamespace(ns);
});

describe('lastValues on a bucket being written', () => {
  it('reads what the bucket held when it began, and ends although writes never stop', async () => {
    const kv = await createBucket(writer, bucket, { kind: 'triageTimers', history: 1 });
    await Promise.all(Array.from({ length: 200 }, (_, i) => kv.put(`k${i}`, `v${i}`)));
    // Steady writers (about 150 writes a second) and a reader whose round trip is slow (a loaded
    // machine): each batch the reader fetches finds the writes made meanwhile pending.
    let writing = true;
    let written = 0;
    const writes = Promise.all(
      Array.from({ length: 4 }, async (_, w) => {
        while (writing) {
          await Promise.all([
            kv.put(`busy${w}-${written % 5}`, String(written)),
            new Promise((r) => setTimeout(r, 20)),
          ]);
          written++;
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    proxy.set({ kind: 'delay', ms: 150 });
    try {
      const started = performance.now();
      const outcome = await Promise.race([
        lastValues(reader, bucket).then((values) => ({ values })),
        new Promise<'still reading'>((r) => setTimeout(() => r('still reading'), 15_000)),
      ]);
      expect(outcome).not.toBe('still reading');
      const { values } = outcome as { values: Map<string, Uint8Array> };
      for (let i = 0; i < 200; i++) expect(values.has(`k${i}`)).toBe(true);
      expect(new TextDecoder().decode(values.get('k199'))).toBe('v199');
      // Before, it read until nothing was pending and was still reading when the race ended.
      expect(performance.now() - started).toBeLessThan(15_000);
    } finally {
      writing = false;
      await writes;
      proxy.set({ kind: 'pass' });
    }
  }, 40_000);

  it('fails with a TimeoutError when the read makes no progress, and leaves no consumer', async () => {
    const kv = await createBucket(writer, bucket, { kind: 'triageTimers', history: 1 });
    await kv.put('k0', 'v0');
    // Every answer 2 s late: the requests still make it (within their 5 s), a batch does not
    // bring its first message within the 1 s the read allows here. (Twice the stall is enough to
    // show it; each of the read's round trips costs the test that delay.)
    proxy.set({ kind: 'delay', ms: 1_000 });
    try {
      const outcome = await lastValues(reader, bucket, { stallMs: 1_000 }).catch((err: unknown) => err);
      expect(outcome).toBeInstanceOf(TimeoutError);
      expect((outcome as Error).message).toMatch(/no message for 1000 ms/);
    } finally {
      proxy.set({ kind: 'pass' });
    }
    const jsm = await jetstreamManager(writer);
    let consumers = 0;
    for await (const _ of jsm.consumers.list(`KV_${bucket}`)) consumers++;
    expect(consumers).toBe(0);
  }, 40_000);
});

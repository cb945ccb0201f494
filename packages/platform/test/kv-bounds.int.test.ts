import { Kvm } from '@nats-io/kv';
import { names } from '@telecare/contracts';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BucketFullError,
  bucketBytes,
  connectNats,
  createBucket,
  createLogger,
  jetstreamManager,
  type NatsConnection,
} from '../src/index.ts';

/**
 * Every KV bucket is bounded by its part of the store (TELECARE_JETSTREAM_MAX_BYTES), as the
 * streams are: JetStream with a full store refuses every write to every stream, a pendant press
 * with the rest, so a bucket must never fill it. A bucket made before buckets were bounded gets
 * its bound at the next start, unless it holds more (a smaller bound would drop entries: it is
 * left, with a warning). A full bucket refuses what would grow it, by name.
 */
const ns = uniqueNamespace('kvbounds');
const n = names(ns);
/** A small store, so that the buckets' parts are a few KiB and fill in a few writes. */
const STORE = 16 * 1024 * 1024;
const warnings: string[] = [];
const logger = createLogger('kv-bounds', 'warn', {
  write: (line: string) => {
    warnings.push(line);
  },
});
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connectNats({
    url: servers.natsUrl,
    name: 'kv-bounds-test',
    logger: createLogger('kv', 'silent'),
  });
});

afterAll(async () => {
  await nc?.close();
  await cleanupNamespace(ns);
});

const configOf = async (bucket: string) => {
  const info = await (await jetstreamManager(nc)).streams.info(`KV_${bucket}`);
  return { config: info.config, state: info.state };
};

describe('KV bucket bounds', { timeout: 60_000 }, () => {
  it('a bucket createBucket makes is bounded by its part of the store, and its values by their known size', async () => {
    await createBucket(nc, n.kv.deviceMap, { kind: 'deviceMap', history: 5 }, { storeBytes: STORE });
    const { config } = await configOf(n.kv.deviceMap);
    // A 32nd of the store is the buckets' room; the device map takes 16 64ths of it.
    expect(config.max_bytes).toBe(128 * 1024);
    expect(config.max_bytes).toBe(bucketBytes(STORE).deviceMap);
    expect(config.max_msg_size).toBe(16 * 1024);
    // A full bucket refuses new writes rather than drop its oldest entries.
    expect(config.discard).toBe('new');
  });

  it('an existing bucket made without bounds gets them at start; one holding more than its part keeps none, with a warning', async () => {
    await new Kvm(nc).create(n.kv.residentAway, { history: 5 });
    await createBucket(
      nc,
      n.kv.residentAway,
      { kind: 'residentAway', history: 5 },
      { storeBytes: STORE, logger },
    );
    expect((await configOf(n.kv.residentAway)).config.max_bytes).toBe(bucketBytes(STORE).residentAway);

    // The timers' part of this store is 20 64ths of 512 KiB: 160 KiB. Written past it unbounded.
    const timers = await new Kvm(nc).create(n.kv.triageTimers, { history: 1 });
    const value = 'x'.repeat(1000);
    const writes = Math.ceil(bucketBytes(STORE).triageTimers / 1000) + 20;
    for (let i = 0; i < writes; i++) await timers.put(`t${i}`, value);
    const before = await configOf(n.kv.triageTimers);
    expect(before.state.bytes).toBeGreaterThan(bucketBytes(STORE).triageTimers);

    await createBucket(
      nc,
      n.kv.triageTimers,
      { kind: 'triageTimers', history: 1 },
      { storeBytes: STORE, logger },
    );
    const after = await configOf(n.kv.triageTimers);
    expect(after.config.max_bytes).toBe(-1);
    expect(after.state.messages).toBe(writes);
    expect(warnings.join('')).toMatch(
      /triage-timers.*holds more than its share.*TELECARE_JETSTREAM_MAX_BYTES/,
    );
    // The value bound takes nothing away: it is given all the same.
    expect(after.config.max_msg_size).toBe(64 * 1024);
  });

  it('a full bucket refuses a new key with a BucketFullError, and purges free room', async () => {
    const leases = await createBucket(
      nc,
      n.kv.triageLeases,
      { kind: 'triageLeases', history: 1 },
      { storeBytes: STORE },
    );
    const bound = bucketBytes(STORE).triageLeases;
    const value = 'o'.repeat(100);
    let refused: unknown;
    let written = 0;
    for (; written < bound / 100 + 10; written++) {
      try {
        await leases.put(`p${written}`, value);
      } catch (err) {
        refused = err;
        break;
      }
    }
    expect(refused).toBeInstanceOf(BucketFullError);
    expect(String(refused)).toMatch(/triage-leases is full.*TELECARE_JETSTREAM_MAX_BYTES/);
    await expect(leases.create('another', value)).rejects.toBeInstanceOf(BucketFullError);
    // Purges of keys it holds are taken, and free room (each leaves a marker a little smaller than
    // what it removes). The last keys written: a put taken past the bound makes nats-server 2.9
    // drop the oldest messages, so the first keys may be gone already.
    for (let key = written - 4; key < written; key++) await leases.purge(`p${key}`);
    await leases.create('another', value);
  });
});

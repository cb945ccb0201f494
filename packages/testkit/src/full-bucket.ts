import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';

/** Where the fillers go in a bucket: `FILLER.000000`, `FILLER.000001`… */
const FILLERS = 'FILLER';

/**
 * Fills a bounded KV bucket to its last byte with filler keys, each sized from the bytes its stream
 * holds; answers how many were written. Sized by trial instead (a put until one is refused), a put
 * the server takes for its value can overshoot the bound by the message's own overhead, and
 * nats-server 2.9 then drops the oldest messages to make up: keys held before the fill would be
 * gone, and a test of what the full bucket does with them would test nothing.
 */
export async function fillBucket(nc: NatsConnection, bucket: string): Promise<number> {
  const kv = await new Kvm(nc).open(bucket, { allow_direct: true });
  const jsm = await jetstreamManager(nc);
  const stream = `KV_${bucket}`;
  const { config } = await jsm.streams.info(stream);
  if (config.max_bytes <= 0) throw new Error(`${bucket} is not bounded: it cannot be filled`);
  const held = async () => (await jsm.streams.info(stream)).state.bytes;
  // Keys of one length, so that every filler's overhead is the first one's.
  const key = (count: number) => `${FILLERS}.${String(count).padStart(6, '0')}`;
  const before = await held();
  await kv.put(key(0), '');
  const overhead = (await held()) - before;
  for (let count = 1; ; count++) {
    const room = config.max_bytes - (await held());
    if (room < overhead) return count;
    // The last filler takes the room to the byte; one before it leaves room for a whole one.
    const size = room - overhead <= 8_000 ? room - overhead : Math.min(8_000, room - 2 * overhead);
    await kv.put(key(count), 'f'.repeat(size));
    if (count > 10_000) throw new Error(`${bucket} took 10,000 writes and is still not full`);
  }
}

/** Gives a bucket `fillBucket` filled its room back: the fillers purged (a purge of the stream, not a write to it). */
export async function emptyFillers(nc: NatsConnection, bucket: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${FILLERS}.>` });
}

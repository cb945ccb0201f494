import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { waitFor } from '@telecare/testkit';

/**
 * One manager per connection: a scenario settles thousands of times, and each new manager asks the
 * server for its account info first.
 */
const managers = new WeakMap<NatsConnection, Promise<JetStreamManager>>();

function managerOf(nc: NatsConnection): Promise<JetStreamManager> {
  let jsm = managers.get(nc);
  if (!jsm) {
    jsm = jetstreamManager(nc);
    managers.set(nc, jsm);
    // A failed look-up is not kept: the next call asks again.
    jsm.catch(() => managers.delete(nc));
  }
  return jsm;
}

/**
 * Waits until every consumer of `streams` has taken everything published so far (nothing pending,
 * nothing unacknowledged): before a test moves a manual clock, or reads counts that must be final.
 * The streams are listed side by side, each probe one round trip.
 */
export async function consumersDrained(
  nc: NatsConnection,
  streams: readonly string[],
  what: string,
  wait: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const jsm = await managerOf(nc);
  const idle = async (stream: string) => {
    for await (const consumer of jsm.consumers.list(stream))
      if (consumer.num_pending > 0 || consumer.num_ack_pending > 0) return false;
    return true;
  };
  await waitFor(async () => (await Promise.all(streams.map(idle))).every(Boolean), {
    what,
    timeoutMs: wait.timeoutMs ?? 10_000,
    intervalMs: wait.intervalMs ?? 20,
  });
}

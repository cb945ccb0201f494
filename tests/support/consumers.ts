import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { waitFor } from '@telecare/testkit';

/**
 * Waits until every consumer of `streams` has taken everything published so far (nothing pending,
 * nothing unacknowledged): before a test moves a manual clock, or reads counts that must be final.
 */
export async function consumersDrained(
  nc: NatsConnection,
  streams: readonly string[],
  what: string,
  wait: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await waitFor(
    async () => {
      for (const stream of streams)
        for await (const consumer of jsm.consumers.list(stream))
          if (consumer.num_pending > 0 || consumer.num_ack_pending > 0) return false;
      return true;
    },
    { what, timeoutMs: wait.timeoutMs ?? 10_000, intervalMs: wait.intervalMs ?? 20 },
  );
}

import { AckPolicy, type Consumer, type ConsumerConfig, DeliverPolicy, type JsMsg } from '@nats-io/jetstream';
import type { Names } from '@telecare/contracts';
import type { JetStreamClient, JetStreamManager, Logger } from '@telecare/platform';
import type { EventProcessor } from './processor.ts';

export const consumerName = (partition: number): string => `triage-p${partition}`;

/** How long one pull waits for a message; also the longest a drain waits for an idle partition. */
const PULL_EXPIRES_MS = 1_000;

/**
 * One durable pull consumer per partition. `max_ack_pending: 1` is what keeps a partition in
 * order: JetStream hands out the next event only once this one is acked or terminated, and a
 * nak'd event comes back before anything behind it. Any number of triage instances can share a
 * consumer without breaking that order.
 */
export async function ensurePartitionConsumers(
  jsm: JetStreamManager,
  n: Names,
  partitions: number,
  ackWaitS: number,
): Promise<void> {
  for (let partition = 0; partition < partitions; partition++) {
    const name = consumerName(partition);
    const settings = {
      filter_subject: n.subjects.eventsOfPartition(partition),
      max_ack_pending: 1,
      ack_wait: ackWaitS * 1_000_000_000,
      // Never give up on an event: a transient failure retries until it succeeds.
      max_deliver: -1,
    } satisfies Partial<ConsumerConfig>;
    const existing = await jsm.consumers.info(n.streams.events, name).catch(() => undefined);
    if (existing) {
      await jsm.consumers.update(n.streams.events, name, settings);
    } else {
      await jsm.consumers.add(n.streams.events, {
        ...settings,
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
      });
    }
  }
}

export interface PartitionWorkers {
  /** Stops pulling, lets the event in hand finish and ack, then resolves. */
  stop(): Promise<void>;
  /** Partitions whose loop is running. */
  readonly running: number;
}

export function runPartitionWorkers(options: {
  js: JetStreamClient;
  names: Names;
  partitions: number;
  processor: EventProcessor;
  logger: Logger;
  retryDelayMs: number;
}): PartitionWorkers {
  const log = options.logger.child({ component: 'partitions' });
  let stopping = false;
  let running = 0;
  const wakers = new Set<() => void>();
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      wakers.add(wake);
    });

  const loop = async (partition: number): Promise<void> => {
    running++;
    let consumer: Consumer | undefined;
    try {
      while (!stopping) {
        let msg: JsMsg | null;
        try {
          consumer ??= await options.js.consumers.get(options.names.streams.events, consumerName(partition));
          msg = await consumer.next({ expires: PULL_EXPIRES_MS });
        } catch (err) {
          consumer = undefined;
          log.warn({ err, partition }, 'pull failed; retrying');
          await pause(options.retryDelayMs);
          continue;
        }
        // An event in hand is finished even when stopping: it was delivered to us and acking it
        // now saves the next instance from waiting out ack_wait.
        if (msg) await options.processor.handle(msg);
      }
    } finally {
      running--;
    }
  };

  const loops = Array.from({ length: options.partitions }, (_, partition) =>
    loop(partition).catch((err) => log.error({ err, partition }, 'partition loop ended unexpectedly')),
  );

  return {
    get running() {
      return running;
    },
    async stop() {
      stopping = true;
      for (const wake of [...wakers]) wake();
      await Promise.all(loops);
    },
  };
}

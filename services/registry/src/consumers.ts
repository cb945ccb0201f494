import type { Names } from '@telecare/contracts';
import {
  ACK_WAIT_S,
  type Clock,
  type ConsumerLoop,
  ensureDurableConsumer,
  type JetStreamClient,
  type JetStreamManager,
  type Logger,
  type Registry,
  SECOND_NS,
  startConsumerLoop,
} from '@telecare/platform';
import type { z } from 'zod';
import type { RegistryStore } from './store.ts';

/** What each of the registry's stream consumers is given. */
export interface ConsumerDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: Names;
  store: RegistryStore;
  clock: Clock;
  logger: Logger;
  /** The durable consumer's name. */
  consumer: string;
  /** Where the consumer loop's metrics go. */
  metrics?: Registry;
}

/**
 * One of the registry's durable consumers on the platform's loop: the platform's ack wait (an
 * event in hand says it is still being worked on, so what a killed registry held comes back in
 * seconds), every subject of the stream, what it cannot read acked and skipped — the registry only
 * reads what another service judged — and made again if JetStream loses it. `from` is where a new
 * consumer starts reading.
 */
export async function startRegistryConsumer<T>(
  deps: ConsumerDeps,
  spec: {
    stream: string;
    subjects: string;
    from: { deliver_policy: 'all' } | { deliver_policy: 'by_start_time'; opt_start_time: string };
    schema: z.ZodType<T>;
    handle: (value: T) => Promise<void>;
    log: Logger;
  },
): Promise<ConsumerLoop> {
  const created = {
    ...spec.from,
    ack_wait: ACK_WAIT_S * SECOND_NS,
    filter_subject: spec.subjects,
    max_deliver: -1,
    max_ack_pending: 1000,
  } as const;
  await ensureDurableConsumer(deps.jsm, spec.stream, deps.consumer, { ack_wait: created.ack_wait }, created);
  return startConsumerLoop({
    js: deps.js,
    names: deps.names,
    stream: spec.stream,
    consumer: deps.consumer,
    service: 'registry',
    schema: spec.schema,
    undecodable: 'skip',
    handle: spec.handle,
    logger: spec.log,
    clock: deps.clock,
    batch: 32,
    // Lost by JetStream, the consumer is made again rather than waited for.
    recreate: created,
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  });
}

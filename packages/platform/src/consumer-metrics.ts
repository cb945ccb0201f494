import type { ConsumerInfo, JetStreamManager } from '@nats-io/jetstream';
import { Gauge, type Registry } from 'prom-client';

/** The consumers of one stream a service reports on (its own). */
export interface WatchedConsumers {
  readonly stream: string;
  readonly include: (consumer: string) => boolean;
}

/** One read of the consumers' state serves every gauge of a scrape. */
const FRESH_MS = 1_000;

/**
 * Gauges of the service's own JetStream consumers, read from the server at each scrape: the
 * messages not yet delivered (its lag), delivered and not yet acknowledged, and redelivered. The
 * server counts them, so they are right across restarts and instances. A failed read leaves the
 * last values: `/metrics` answers while NATS is away (readiness says so).
 */
export function watchConsumers(
  registry: Registry,
  jsm: JetStreamManager,
  watched: readonly WatchedConsumers[],
): void {
  let last: { at: number; infos: Promise<ConsumerInfo[]> } | undefined;
  const list = async (): Promise<ConsumerInfo[]> => {
    const infos: ConsumerInfo[] = [];
    for (const w of watched)
      for await (const info of jsm.consumers.list(w.stream)) if (w.include(info.name)) infos.push(info);
    return infos;
  };
  const read = (): Promise<ConsumerInfo[]> => {
    const now = performance.now();
    if (!last || now - last.at > FRESH_MS) last = { at: now, infos: list() };
    return last.infos;
  };
  const gauge = (name: string, help: string, value: (info: ConsumerInfo) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['stream', 'consumer'] as const,
      registers: [registry],
      async collect() {
        const infos = await read().catch(() => undefined);
        if (!infos) return;
        this.reset();
        for (const info of infos) this.set({ stream: info.stream_name, consumer: info.name }, value(info));
      },
    });
  gauge(
    'nats_consumer_pending_messages',
    'Messages in the stream not yet delivered to the consumer: its lag',
    (i) => i.num_pending,
  );
  gauge(
    'nats_consumer_ack_pending_messages',
    'Messages delivered to the consumer and not yet acknowledged',
    (i) => i.num_ack_pending,
  );
  gauge(
    'nats_consumer_redelivered_messages',
    'Messages delivered more than once and not yet acknowledged',
    (i) => i.num_redelivered,
  );
}

import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import { Gauge, type Registry } from 'prom-client';
import { within } from './work.ts';

/** One read of the streams' state serves every gauge of a scrape. */
const FRESH_MS = 1_000;
/**
 * How long a scrape waits for a stream's state. With NATS away a request waits for the client's
 * own timeout (5 s), one stream after another: `/metrics` took half a minute to answer.
 */
const READ_WAIT_MS = 500;

/**
 * Gauges of the streams a service creates, read from the server at each scrape: bytes held
 * against the stream's byte bound, messages, and the age of the oldest message (how much history
 * the stream holds). At its bound a stream drops its oldest messages: for EVENTS, a consumer whose
 * lag (`nats_consumer_pending_messages`) nears the stream's messages is about to lose events it
 * has not read. A KV bucket's stream (`KV_<bucket>`) at its bound refuses new keys instead
 * (`BucketFullError`): `streams` is asked again at each read, so buckets opened after this are
 * included. A failed read leaves the last values: `/metrics` answers while NATS is away, within `READ_WAIT_MS`.
 */
export function watchStreams(
  registry: Registry,
  jsm: JetStreamManager,
  streams: () => readonly string[],
): void {
  let last: { at: number; infos: Promise<StreamInfo[]> } | undefined;
  const list = async (): Promise<StreamInfo[]> => {
    const infos = await Promise.all(
      streams().map((stream) => {
        const info = jsm.streams.info(stream);
        info.catch(() => undefined);
        return within(info, READ_WAIT_MS).catch(() => undefined);
      }),
    );
    return infos.filter((info): info is StreamInfo => info !== undefined);
  };
  const read = (): Promise<StreamInfo[]> => {
    const now = performance.now();
    if (!last || now - last.at > FRESH_MS) last = { at: now, infos: list() };
    return last.infos;
  };
  const gauge = (name: string, help: string, value: (info: StreamInfo) => number | undefined) =>
    new Gauge({
      name,
      help,
      labelNames: ['stream'] as const,
      registers: [registry],
      async collect() {
        const infos = await read().catch(() => undefined);
        if (!infos) return;
        this.reset();
        for (const info of infos) {
          const v = value(info);
          if (v !== undefined) this.set({ stream: info.config.name }, v);
        }
      },
    });
  gauge('nats_stream_bytes', 'Bytes the stream holds', (i) => i.state.bytes);
  gauge(
    'nats_stream_max_bytes',
    "The stream byte bound, its share of TELECARE_JETSTREAM_MAX_BYTES: past it a stream's oldest messages go first, a KV bucket (KV_…) refuses new keys",
    (i) => (i.config.max_bytes > 0 ? i.config.max_bytes : undefined),
  );
  gauge('nats_stream_messages', 'Messages the stream holds', (i) => i.state.messages);
  gauge('nats_stream_oldest_message_age_seconds', 'Age of the oldest message the stream holds', (i) =>
    i.state.messages > 0 ? Math.max(0, (Date.now() - Date.parse(i.state.first_ts)) / 1000) : undefined,
  );
}

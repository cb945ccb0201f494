import { Alert, CaseEvent, type Names, TelecareEvent } from '@telecare/contracts';
import {
  ACK_WAIT_S,
  backoffDelay,
  type Counter,
  isDataException,
  type JetStreamClient,
  type JetStreamManager,
  keepWorking,
  type Logger,
  PoisonMessageError,
  parseMessage,
  REDELIVERY,
  SECOND_NS,
} from '@telecare/platform';
import { alertRecord, caseStep, deviceActivity } from './records.ts';
import type { ReportsStore } from './store.ts';

export const SOURCES = ['events', 'alerts', 'cases'] as const;
export type Source = (typeof SOURCES)[number];

/** The durable consumer of one stream: `<prefix>-events`, `<prefix>-alerts`, `<prefix>-cases`. */
export const consumerName = (prefix: string, source: Source): string => `${prefix}-${source}`;

export interface IngestMetrics {
  readonly applied: Counter<'source'>;
  readonly refused: Counter<'source'>;
}

/** The part of a JetStream message the handler uses. */
export interface StreamMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly info: { readonly deliveryCount: number };
  ack(): void;
  working(): void;
  nak(millis?: number): void;
  term(reason?: string): void;
}

/** Applies one message of `source` to the read model. Throws PoisonMessageError for bad input. */
export async function applyMessage(
  store: ReportsStore,
  source: Source,
  data: Uint8Array,
  logger: Logger,
): Promise<void> {
  if (source === 'events') {
    const activity = deviceActivity(parseMessage(TelecareEvent, data, 'event'));
    if (activity) await store.applyActivity(activity);
    return;
  }
  if (source === 'alerts') {
    await store.applyAlert(alertRecord(parseMessage(Alert, data, 'alert')));
    return;
  }
  const step = caseStep(parseMessage(CaseEvent, data, 'case event'));
  if (step.refused)
    logger.warn(
      { caseId: step.caseId, stepId: step.stepId, issues: step.refused },
      'case fact not counted: not a CaseFact',
    );
  await store.applyCaseStep(step);
}

async function handle(deps: IngestDeps, source: Source, msg: StreamMessage): Promise<void> {
  try {
    await keepWorking(msg, ACK_WAIT_S * 1_000, () => applyMessage(deps.store, source, msg.data, deps.logger));
    msg.ack();
    deps.metrics.applied.inc({ source });
  } catch (err) {
    if (err instanceof PoisonMessageError || isDataException(err)) {
      // Another service's contract broken, or data PostgreSQL cannot hold (a device time in year
      // 0): counted and logged, never retried for ever.
      deps.metrics.refused.inc({ source });
      deps.logger.warn(
        { source, subject: msg.subject, detail: err instanceof Error ? err.message : String(err) },
        'message refused by the reports',
      );
      msg.term();
      return;
    }
    const delay = backoffDelay(REDELIVERY, msg.info.deliveryCount);
    deps.logger.warn({ err, source, retryInMs: delay }, 'message not applied; will retry');
    msg.nak(delay);
  }
}

export interface IngestDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  readonly store: ReportsStore;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  readonly prefix: string;
}

const streamOf = (names: Names, source: Source): string => names.streams[source];

/** Creates the durable consumer if missing: from the start of the stream, acked one by one. */
async function ensureConsumer(deps: IngestDeps, source: Source): Promise<void> {
  const stream = streamOf(deps.names, source);
  const name = consumerName(deps.prefix, source);
  if (await deps.jsm.consumers.info(stream, name).catch(() => undefined)) return;
  await deps.jsm.consumers.add(stream, {
    durable_name: name,
    ack_policy: 'explicit',
    deliver_policy: 'all',
    ack_wait: ACK_WAIT_S * SECOND_NS,
    max_deliver: -1,
    max_ack_pending: 1000,
  });
}

/** Deletes the durable consumers, so that the next start reads every stream from its start. */
export async function deleteConsumers(jsm: JetStreamManager, names: Names, prefix: string): Promise<void> {
  for (const source of SOURCES)
    await jsm.consumers.delete(streamOf(names, source), consumerName(prefix, source)).catch(() => false);
}

/**
 * Follows CASES, ALERTS and EVENTS until stopped, one message at a time per stream (a case's steps
 * stay in order). Every write is idempotent, so a redelivery changes nothing.
 */
export async function startIngest(deps: IngestDeps): Promise<{ stop(): Promise<void> }> {
  const loops: { close(): Promise<void>; done: Promise<void> }[] = [];
  let stopping = false;
  for (const source of SOURCES) {
    await ensureConsumer(deps, source);
    const consumer = await deps.js.consumers.get(
      streamOf(deps.names, source),
      consumerName(deps.prefix, source),
    );
    const messages = await consumer.consume({ max_messages: 256 });
    const done = (async () => {
      for await (const msg of messages) {
        if (stopping) {
          msg.nak();
          continue;
        }
        await handle(deps, source, msg);
      }
    })().catch((err: unknown) => deps.logger.error({ err, source }, 'reports consumer stopped unexpectedly'));
    loops.push({ close: async () => void (await messages.close()), done });
  }
  return {
    async stop() {
      stopping = true;
      for (const loop of loops) await loop.close();
      await Promise.all(loops.map((l) => l.done));
    },
  };
}

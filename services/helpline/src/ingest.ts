import { Alert, type Names, type RejectReason } from '@telecare/contracts';
import {
  ACK_WAIT_S,
  activeTraceparent,
  backoffDelay,
  type Clock,
  inSpan,
  type JetStreamClient,
  type JetStreamManager,
  keepWorking,
  LanePool,
  type Logger,
  type MsgHdrs,
  natsTraceContext,
  PoisonMessageError,
  parseMessage,
  publishDeadLetter,
  REDELIVERY,
  SECOND_NS,
  SpanKind,
  traceIdOf,
} from '@telecare/platform';
import type { HelplineMetrics } from './metrics.ts';
import type { CasePublisher } from './publisher.ts';
import type { CaseStore } from './store.ts';

export const CONSUMER = 'helpline';
export const SERVICE = 'helpline';

/** The part of a JetStream message the handler uses. */
export interface AlertMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly info: { readonly deliveryCount: number };
  /** `traceparent`: the alert publish this message continues. */
  readonly headers?: MsgHdrs | undefined;
  ack(): void;
  working(): void;
  nak(millis?: number): void;
  term(reason?: string): void;
}

export interface IngestDeps {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly names: Names;
  readonly store: CaseStore;
  readonly publisher: CasePublisher;
  readonly metrics: HelplineMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Called after an alert committed a change, so the next case is offered at once. */
  readonly onCommitted?: () => void;
}

/**
 * Creates the durable `helpline` consumer on ALERTS if it does not exist yet, or brings an existing
 * one's ack wait to the runtime's: what a killed process held comes back in seconds.
 */
export async function ensureConsumer(jsm: JetStreamManager, names: Names): Promise<void> {
  const existing = await jsm.consumers.info(names.streams.alerts, CONSUMER).catch(() => undefined);
  if (existing) {
    if (existing.config.ack_wait !== ACK_WAIT_S * SECOND_NS)
      await jsm.consumers.update(names.streams.alerts, CONSUMER, { ack_wait: ACK_WAIT_S * SECOND_NS });
    return;
  }
  await jsm.consumers.add(names.streams.alerts, {
    durable_name: CONSUMER,
    ack_policy: 'explicit',
    deliver_policy: 'all',
    filter_subject: names.subjects.allAlerts,
    ack_wait: ACK_WAIT_S * SECOND_NS,
    // An alarm is never given up on: a transient failure is retried until it succeeds.
    max_deliver: -1,
    max_ack_pending: 1000,
  });
}

// SQLSTATE class 22 is a data exception: the same alert will fail the same way every time.
const isPermanentDbError = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && 'code' in err && String(err.code).startsWith('22');

/**
 * One alert message: commit it to its case, publish the case events, then ack. Redelivery is
 * harmless (the alert id is the key); bad input is dead-lettered and terminated.
 */
export function handleAlertMessage(deps: IngestDeps, msg: AlertMessage): Promise<void> {
  return inSpan(
    SERVICE,
    'case commit',
    { parent: natsTraceContext(msg.headers), kind: SpanKind.CONSUMER },
    () => commitAlertMessage(deps, msg),
  );
}

/**
 * The alert with the trace context it is committed in (this span's, or the one its message came
 * with), kept with it so the case's offer and accept join the same trace.
 */
const withTrace = (alert: Alert, msg: AlertMessage): Alert => {
  const traceparent = activeTraceparent() ?? (msg.headers?.get('traceparent') || undefined);
  return traceparent ? { ...alert, traceparent } : alert;
};

async function commitAlertMessage(deps: IngestDeps, msg: AlertMessage): Promise<void> {
  const log = deps.logger;
  try {
    const alert = withTrace(parseMessage(Alert, msg.data, 'alert'), msg);
    const endTimer = deps.metrics.commitSeconds.startTimer();
    let result: Awaited<ReturnType<CaseStore['ingest']>>;
    try {
      result = await deps.store.ingest(alert, new Date(deps.clock.now()));
    } catch (err) {
      if (isPermanentDbError(err))
        throw new PoisonMessageError('alert refused by the case store', {
          cause: err,
          context: { reason: 'unhandled', alertId: alert.id },
        });
      throw err;
    }
    endTimer();
    // Also publishes anything an earlier attempt committed but did not get into CASES.
    await deps.publisher.flush();
    msg.ack();
    if (result.outcome === 'duplicate') {
      deps.metrics.duplicates.inc();
      log.debug({ alertId: alert.id, caseId: result.caseId }, 'duplicate alert: nothing changed');
      return;
    }
    deps.onCommitted?.();
    deps.metrics.alertsIngested.inc({ priority: String(alert.priority), outcome: result.outcome });
    if (result.outcome === 'opened') deps.metrics.casesOpened.inc({ priority: String(alert.priority) });
    if (result.outcome === 'joined') deps.metrics.casesJoined.inc();
    if (result.autoResolved) deps.metrics.autoResolved.inc({ outcome: result.autoResolved });
    log.info(
      {
        alertId: alert.id,
        caseId: result.caseId,
        priority: alert.priority,
        outcome: result.outcome,
        ...(alert.closes ? { closes: alert.closes.alertId } : {}),
        ...(result.autoResolved ? { autoResolved: result.autoResolved } : {}),
        ...(alert.traceparent ? { traceId: traceIdOf(alert.traceparent) } : {}),
      },
      'alert committed',
    );
  } catch (err) {
    if (err instanceof PoisonMessageError) {
      const reason: RejectReason =
        err.context.reason === 'not-json'
          ? 'not-json'
          : err.context.reason === 'schema'
            ? 'schema'
            : 'unhandled';
      try {
        await publishDeadLetter(
          deps.js,
          deps.names,
          { service: SERVICE, reason, detail: err.message, origin: msg.subject, raw: msg.data },
          new Date(deps.clock.now()),
        );
      } catch (dlqErr) {
        // Not even the dead-letter stream took it: keep the message and try again later.
        log.warn({ err: dlqErr }, 'dead-letter publish failed; alert message will be redelivered');
        deps.metrics.retried.inc();
        msg.nak(2_000);
        return;
      }
      deps.metrics.refused.inc({ reason });
      log.warn({ reason, detail: err.message, subject: msg.subject }, 'alert message dead-lettered');
      // No reason text on the TERM: nats-server before 2.10 ignores a `+TERM <reason>` ack,
      // leaving the message pending. The reason is in the dead letter.
      msg.term();
      return;
    }
    deps.metrics.retried.inc();
    const delay = backoffDelay(REDELIVERY, msg.info.deliveryCount);
    log.warn(
      { err, deliveryCount: msg.info.deliveryCount, retryInMs: delay },
      'alert not committed; will retry',
    );
    msg.nak(delay);
  }
}

/** The resident an alert message is for: the last token of `<ns>.alerts.p<priority>.<residentId>`. */
export const laneOf = (subject: string): string => subject.slice(subject.lastIndexOf('.') + 1);

/**
 * Pulls from the durable consumer until stopped. Alerts for different residents are handled
 * concurrently (up to `concurrency`); one resident's alerts are handled one after another in
 * stream order, and each is acked only after its own commit. stop() lets the messages in hand
 * finish and ack.
 */
export async function startIngest(
  deps: IngestDeps,
  options: { concurrency?: number } = {},
): Promise<{ stop(): Promise<void> }> {
  await ensureConsumer(deps.jsm, deps.names);
  const consumer = await deps.js.consumers.get(deps.names.streams.alerts, CONSUMER);
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const pool = new LanePool(concurrency);
  const messages = await consumer.consume({ max_messages: Math.max(64, concurrency * 16) });
  let stopping = false;
  const loop = (async () => {
    for await (const msg of messages) {
      if (stopping) {
        // Not ours to finish: leave it for redelivery to whoever consumes next.
        msg.nak();
        continue;
      }
      // In hand from now: waiting for its lane counts against the ack wait too.
      let done: () => void = () => {};
      const finished = new Promise<void>((resolve) => {
        done = resolve;
      });
      void keepWorking(msg, ACK_WAIT_S * 1_000, () => finished);
      await pool.submit(laneOf(msg.subject), () => handleAlertMessage(deps, msg).finally(done));
    }
  })().catch((err: unknown) => deps.logger.error({ err }, 'alert consumer stopped unexpectedly'));
  return {
    async stop() {
      stopping = true;
      await messages.close();
      await loop;
      await pool.idle();
    },
  };
}

import { Alert, type Names, type Priority } from '@telecare/contracts';
import {
  ACK_WAIT_S,
  ALARM_LANE,
  activeTraceparent,
  type BackoffPolicy,
  backoffDelay,
  type Clock,
  type ConsumerLoopOptions,
  ensureDurableConsumer,
  inSpan,
  isDataException,
  type JetStreamClient,
  type JetStreamManager,
  type Logger,
  PoisonMessageError,
  postgresRefusal,
  SECOND_NS,
  SpanKind,
  startConsumerLoop,
  traceIdOf,
  traceparentContext,
} from '@telecare/platform';
import { boundAlert } from './alert-bounds.ts';
import type { HeldAlerts } from './held-alerts.ts';
import type { HelplineMetrics } from './metrics.ts';
import type { CasePublisher } from './publisher.ts';
import type { CaseStore } from './store/index.ts';

export const SERVICE = 'helpline';

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
  /** The alarms in hand that PostgreSQL (or NATS) keeps from becoming cases, for the consoles. */
  readonly held?: HeldAlerts;
}

/**
 * One durable consumer per priority (`helpline-p1` … `helpline-p5`; JetStream 2.9 takes one
 * filter subject per consumer): an alarm is fetched and committed on its own path, never behind a
 * flood of lower-priority records (a power cut's restores, a storm of heartbeats' faults).
 */
export const PRIORITIES: readonly Priority[] = [1, 2, 3, 4, 5];
export const consumerOf = (priority: Priority): string => `helpline-p${priority}`;
/** The single consumer of every priority that earlier versions read; replaced at start-up. */
export const LEGACY_CONSUMER = 'helpline';
export const isIngestConsumer = (name: string): boolean => /^helpline-p[1-5]$/.test(name);

/** Alerts in hand at once per priority: alarms get the full width, the rest half of it. */
export const concurrencyOf = (priority: Priority, concurrency: number): number =>
  priority <= 2 ? concurrency : Math.max(1, Math.ceil(concurrency / 2));

/**
 * How an alarm (P1, P2) that failed for the moment (PostgreSQL restarting, say) is tried again:
 * soon and often, so it is committed within two seconds of the database answering again. Handed
 * back with the platform's backoff (1 s doubling to 30 s), a press raised during a 16 s outage
 * waited 12 s more after it. While the database or NATS does not answer (`unreachable`) it is
 * tried in hand: the attempts are bounded by the lane width, and a resident's repeat press cannot
 * overtake the press it repeats. A failure of its own is handed back, so one alert that breaks a
 * statement never holds back the resident's next press.
 */
export const ALARM_RETRY: BackoffPolicy = { initialMs: 250, maxMs: 2_000, jitter: 0.5 };

/**
 * Whether a failure is a dependency not answering (every alert would fail alike) rather than this
 * alert: an error PostgreSQL raised for a statement (it has a `severity` and a SQLSTATE) is the
 * alert's own, unless its class is a connection exception (08), insufficient resources (53: disk
 * full, too many connections) or operator intervention such as a shutdown or a cancel (57), or it
 * is a refusal of every write (`postgresRefusal`: read-only); so is a programming error (a
 * TypeError, a row that does not parse). Network errors, a pool timeout, NATS: unreachable.
 */
export function unreachable(err: unknown): boolean {
  // A bug met by this alert (a row that does not parse, a property of undefined) is its own too.
  if (
    err instanceof TypeError ||
    err instanceof RangeError ||
    (err instanceof Error && err.name === 'ZodError')
  )
    return false;
  if (typeof err !== 'object' || err === null || !('severity' in err) || !('code' in err)) return true;
  return /^(08|53|57)/.test(String(err.code)) || postgresRefusal(err) !== undefined;
}

/** Every alert commit that can be in hand at once, across the priorities (for the pool's size). */
export const totalConcurrency = (concurrency: number): number =>
  PRIORITIES.reduce((sum, p) => sum + concurrencyOf(p, concurrency), 0);

/**
 * Creates the per-priority durable consumers on ALERTS if they do not exist yet, or brings an
 * existing one's ack wait to the runtime's: what a killed process held comes back in seconds. A
 * deployment upgraded from the single consumer starts each new one where the old one's acks
 * reached, then deletes the old one; what it held unacked is delivered again (the alert id is the
 * key, so again changes nothing).
 */
export async function ensureConsumers(jsm: JetStreamManager, names: Names): Promise<void> {
  const stream = names.streams.alerts;
  const legacy = await jsm.consumers.info(stream, LEGACY_CONSUMER).catch(() => undefined);
  const start = legacy
    ? {
        deliver_policy: 'by_start_sequence' as const,
        opt_start_seq: legacy.ack_floor.stream_seq + 1,
      }
    : { deliver_policy: 'all' as const };
  for (const priority of PRIORITIES)
    await ensureDurableConsumer(
      jsm,
      stream,
      consumerOf(priority),
      { ack_wait: ACK_WAIT_S * SECOND_NS },
      { ...priorityConsumer(names, priority), ...start },
    );
  if (legacy) await jsm.consumers.delete(stream, LEGACY_CONSUMER).catch(() => undefined);
}

/** One priority's consumer as it is created (also when JetStream lost it: the loop's `recreate`). */
const priorityConsumer = (names: Names, priority: Priority): ConsumerLoopOptions<Alert>['recreate'] => ({
  deliver_policy: 'all',
  ack_wait: ACK_WAIT_S * SECOND_NS,
  filter_subject: names.subjects.alertsOfPriority(priority),
  // An alarm is never given up on: a transient failure is retried until it succeeds.
  max_deliver: -1,
  max_ack_pending: 1000,
});

/**
 * One alert: commit it to its case and publish the case events; the consumer loop acks it after.
 * Redelivery is harmless (the alert id is the key).
 */
export async function commitAlert(deps: IngestDeps, received: Alert): Promise<void> {
  const { alert, cut } = boundAlert(received);
  if (cut.length > 0) {
    deps.metrics.cut.inc();
    deps.logger.warn({ alertId: alert.id, cut }, 'alert cut to the bounds a case keeps');
  }
  const endTimer = deps.metrics.commitSeconds.startTimer();
  let result: Awaited<ReturnType<CaseStore['ingest']>>;
  try {
    result = await deps.store.ingest(alert, new Date(deps.clock.now()));
  } catch (err) {
    // A data exception (SQLSTATE class 22): the same alert will fail the same way every time.
    if (isDataException(err))
      throw new PoisonMessageError('alert refused by the case store', {
        cause: err,
        context: { reason: 'unhandled', alertId: alert.id },
      });
    throw err;
  }
  endTimer();
  // Also publishes anything an earlier attempt committed but did not get into CASES.
  await deps.publisher.flush();
  if (result.outcome === 'duplicate') {
    deps.metrics.duplicates.inc();
    deps.logger.debug({ alertId: alert.id, caseId: result.caseId }, 'duplicate alert: nothing changed');
    return;
  }
  deps.onCommitted?.();
  deps.metrics.alertsIngested.inc({ priority: String(alert.priority), outcome: result.outcome });
  if (result.outcome === 'opened') deps.metrics.casesOpened.inc({ priority: String(alert.priority) });
  if (result.outcome === 'joined') deps.metrics.casesJoined.inc();
  if (result.autoResolved) deps.metrics.autoResolved.inc({ outcome: result.autoResolved });
  deps.logger.info(
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
}

/**
 * The alert with the trace context it is committed in (the `case commit` span's, or the one its
 * message came with), kept with it so the case's offer and accept join the same trace.
 */
export const withTrace = (alert: Alert, received: string | undefined): Alert => {
  const traceparent = activeTraceparent() ?? received;
  return traceparent ? { ...alert, traceparent } : alert;
};

/** The resident an alert message is for: the last token of `<ns>.alerts.p<priority>.<residentId>`. */
export const laneOf = (subject: string): string => subject.slice(subject.lastIndexOf('.') + 1);

/**
 * Reads the per-priority consumers until stopped (the platform's consumer loop, one per priority).
 * Alerts for different residents are handled concurrently; one resident's alerts of a priority one
 * after another in stream order, each acked only after its own commit. Across priorities the case
 * store decides one resident's alerts one at a time and lets a closing alert that came first close
 * the alert it closes when that comes. stop() lets the alerts in hand finish and ack.
 */
export async function startIngest(
  deps: IngestDeps,
  options: { concurrency?: number } = {},
): Promise<{ stop(): Promise<void> }> {
  await ensureConsumers(deps.jsm, deps.names);
  const width = Math.max(1, options.concurrency ?? 8);
  const loops = await Promise.all(
    PRIORITIES.map((priority) => {
      const concurrency = concurrencyOf(priority, width);
      return startConsumerLoop({
        js: deps.js,
        names: deps.names,
        stream: deps.names.streams.alerts,
        consumer: consumerOf(priority),
        service: SERVICE,
        schema: Alert,
        handle: async (alert, message) => {
          try {
            await commitAlert(deps, withTrace(alert, message.traceparent));
          } catch (err) {
            if (unreachable(err)) deps.held?.failed(alert.id);
            else deps.held?.settled(alert.id);
            throw err;
          }
          deps.held?.settled(alert.id);
        },
        // Each alert is committed in a span continuing triage's `alert publish`.
        around: (message, run) =>
          inSpan(
            SERVICE,
            'case commit',
            { parent: traceparentContext(message.traceparent), kind: SpanKind.CONSUMER },
            run,
          ),
        logger: deps.logger,
        clock: deps.clock,
        // Called as each alert is delivered: an alarm waiting for its lane is in hand from then.
        key: (subject, alert) => {
          if (alert) deps.held?.taken(alert);
          return laneOf(subject);
        },
        // A priority's consumer JetStream lost is made again, not waited for.
        recreate: priorityConsumer(deps.names, priority),
        // The alarm lanes also notice a lost pull and JetStream back from a 503 within a fraction
        // of the second a press has; the others keep the defaults, which cost less idle traffic.
        ...(priority <= 2
          ? {
              ...ALARM_LANE,
              retryInPlace: unreachable,
              retryDelay: (attempt: number) => backoffDelay(ALARM_RETRY, attempt),
            }
          : {}),
        concurrency,
        batch: Math.max(16, concurrency * 4),
        metrics: deps.metrics.registry,
        observe: {
          deadLettered: (reason) => deps.metrics.refused.inc({ reason }),
          retried: () => deps.metrics.retried.inc(),
        },
      });
    }),
  );
  return { stop: async () => void (await Promise.all(loops.map((loop) => loop.stop()))) };
}

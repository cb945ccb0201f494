import type { JsMsg } from '@nats-io/jetstream';
import { type Alert, type Names, type RejectReason, TelecareEvent } from '@telecare/contracts';
import {
  type Clock,
  headers,
  type JetStreamClient,
  type Logger,
  publishDeadLetter,
  TransientError,
} from '@telecare/platform';
import { evaluate, initialState, type RuleSet } from '@telecare/rules';
import type { TriageMetrics } from './metrics.ts';
import type { StateStore } from './state-store.ts';

export const SERVICE = 'triage';

export type Outcome = 'acked' | 'dead-lettered' | 'retry';

interface Refusal {
  readonly reason: RejectReason;
  readonly detail: string;
}

const decoder = new TextDecoder();

/** Reads a stored message as a TelecareEvent, or says why it never will be one. */
export function readEvent(data: Uint8Array): { event: TelecareEvent } | { refusal: Refusal } {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(data));
  } catch (err) {
    return { refusal: { reason: 'not-json', detail: err instanceof Error ? err.message : String(err) } };
  }
  const parsed = TelecareEvent.safeParse(json);
  if (parsed.success) return { event: parsed.data };
  const detail = parsed.error.issues
    .map((issue) => `${issue.path.map(String).join('.') || '(event)'}: ${issue.message}`)
    .join('; ');
  return { refusal: { reason: 'schema', detail } };
}

/**
 * The imperative shell around the rules core for one event: load state, evaluate, store every
 * alert (waiting for its PubAck), save state, and only then ack. Any step that fails for a
 * moment hands the event back for redelivery; nothing is acked before it is durable.
 */
export class EventProcessor {
  readonly #js: JetStreamClient;
  readonly #names: Names;
  readonly #store: StateStore;
  readonly #rules: RuleSet;
  readonly #clock: Clock;
  readonly #metrics: TriageMetrics;
  readonly #log: Logger;
  readonly #retryDelayMs: number;

  constructor(deps: {
    js: JetStreamClient;
    names: Names;
    store: StateStore;
    ruleSet: RuleSet;
    clock: Clock;
    metrics: TriageMetrics;
    logger: Logger;
    retryDelayMs: number;
  }) {
    this.#js = deps.js;
    this.#names = deps.names;
    this.#store = deps.store;
    this.#rules = deps.ruleSet;
    this.#clock = deps.clock;
    this.#metrics = deps.metrics;
    this.#log = deps.logger.child({ component: 'processor' });
    this.#retryDelayMs = deps.retryDelayMs;
  }

  async handle(msg: JsMsg): Promise<Outcome> {
    const stopTimer = this.#metrics.evaluationSeconds.startTimer();
    const read = readEvent(msg.data);
    if ('refusal' in read) return this.#deadLetter(msg, read.refusal);
    const { event } = read;
    try {
      const state = (await this.#store.load(event.residentid)) ?? initialState(event.residentid);
      let result: ReturnType<typeof evaluate>;
      try {
        result = evaluate(state, { kind: 'event', event, now: this.#clock.now() }, this.#rules);
      } catch (err) {
        // A rule that throws will throw again on every redelivery and would hold up the whole
        // partition behind it; dead-letter the event so it is visible and the others flow.
        this.#log.error({ err, eventId: event.id }, 'rules failed on an event');
        return await this.#deadLetter(msg, {
          reason: 'unhandled',
          detail: `rules failed: ${err instanceof Error ? err.message : String(err)}`,
        });
      }
      const traceparent = msg.headers?.get('traceparent') || event.traceparent;
      for (const alert of result.alerts) await this.#publishAlert(alert, traceparent);
      if (result.state === state) this.#metrics.duplicateEvents.inc();
      else await this.#store.save(result.state);
      msg.ack();
      this.#metrics.eventsEvaluated.inc({ type: event.type });
      stopTimer();
      return 'acked';
    } catch (err) {
      return this.#retry(msg, err);
    }
  }

  async #publishAlert(alert: Alert, traceparent: string | undefined): Promise<void> {
    const h = headers();
    if (traceparent) h.set('traceparent', traceparent);
    try {
      const ack = await this.#js.publish(
        this.#names.subjects.alert(alert.priority, alert.residentId),
        JSON.stringify(alert),
        { msgID: alert.id, headers: h, expect: { streamName: this.#names.streams.alerts } },
      );
      if (ack.duplicate) {
        this.#metrics.alertsDeduplicated.inc();
        return;
      }
    } catch (err) {
      throw new TransientError('could not store an alert', {
        cause: err,
        context: { dependency: 'nats', alertId: alert.id },
      });
    }
    this.#metrics.alertsPublished.inc({ priority: `p${alert.priority}`, late: String(alert.late) });
    this.#log.info(
      {
        alertId: alert.id,
        residentId: alert.residentId,
        priority: alert.priority,
        rule: alert.rule.id,
        late: alert.late,
        testMode: alert.testMode,
      },
      'alert raised',
    );
  }

  async #deadLetter(msg: JsMsg, refusal: Refusal): Promise<Outcome> {
    try {
      await publishDeadLetter(
        this.#js,
        this.#names,
        {
          service: SERVICE,
          reason: refusal.reason,
          detail: refusal.detail,
          origin: `${msg.subject}#${msg.seq}`,
          raw: msg.data,
        },
        new Date(this.#clock.now()),
      );
    } catch (err) {
      return this.#retry(
        msg,
        new TransientError('could not dead-letter', { cause: err, context: { dependency: 'nats' } }),
      );
    }
    // No term reason: servers before 2.10 ignore a `+TERM <reason>` and leave the event pending.
    msg.term();
    this.#metrics.deadLetters.inc({ reason: refusal.reason });
    this.#log.warn({ subject: msg.subject, seq: msg.seq, reason: refusal.reason }, 'event dead-lettered');
    return 'dead-lettered';
  }

  #retry(msg: JsMsg, err: unknown): Outcome {
    const dependency =
      err instanceof TransientError ? String(err.context.dependency ?? 'unknown') : 'unknown';
    this.#metrics.retries.inc({ dependency });
    this.#log.warn({ err, subject: msg.subject, seq: msg.seq }, 'event handed back for redelivery');
    try {
      msg.nak(this.#retryDelayMs);
    } catch {
      // Not connected: JetStream redelivers it after ack_wait anyway.
    }
    return 'retry';
  }
}

import {
  type Alert,
  type AwayPeriod,
  type Names,
  type RejectReason,
  type SecurityEvent,
  type SecurityEventKind,
  securityEventIdFor,
  TelecareEvent,
} from '@telecare/contracts';
import {
  type Clock,
  decodeJson,
  headers,
  injectTrace,
  inSpan,
  type JetStreamPublisher,
  KeyedLock,
  type Logger,
  type MessageContext,
  PoisonMessageError,
  reportedElsewhere,
  SpanKind,
  sleep,
  TimeoutError,
  TransientError,
  traceIdOf,
  traceparentContext,
  within,
} from '@telecare/platform';
import {
  AreaState,
  areaRules,
  type DeviceContext,
  decideAreaHold,
  type Evaluation,
  evaluate,
  evaluateArea,
  holdForArea,
  initialAreaState,
  initialState,
  isAreaHold,
  type ResidentState,
  type RuleSet,
  supervisedSerial,
  type Timer,
} from '@telecare/rules';
import type { EventIndex } from './event-index.ts';
import type { TriageMetrics } from './metrics.ts';
import { RedisAwayError } from './redis-away.ts';
import type { StateStore } from './state-store.ts';
import type { ScriptWrites, TimerStore } from './timers.ts';

export const SERVICE = 'triage';
const CANCEL_NOT_TAKEN = 'cancel-not-taken' satisfies SecurityEventKind;

interface Refusal {
  readonly reason: RejectReason;
  readonly detail: string;
}

/** Reads a stored message as a TelecareEvent, or says why it never will be one. */
export function readEvent(data: Uint8Array): { event: TelecareEvent } | { refusal: Refusal } {
  const decoded = decodeJson(TelecareEvent, data, { root: '(event)' });
  return decoded.ok
    ? { event: decoded.value }
    : { refusal: { reason: decoded.reason, detail: decoded.detail } };
}

// One resident at a time: the ordinary lane, the alarm lane and the timer ticks of a partition
// all run in this process, so an in-process KeyedLock per resident keeps load → evaluate → save whole.

/**
 * The imperative shell around the rules core for one event: load state, evaluate, store every
 * alert (waiting for its PubAck), save state, and only then ack. Any step that fails for a
 * moment hands the event back for redelivery; nothing is acked before it is durable.
 */
export class EventProcessor {
  readonly #publisher: JetStreamPublisher;
  readonly #names: Names;
  readonly #store: StateStore;
  #rules: RuleSet;
  readonly #clock: Clock;
  readonly #metrics: TriageMetrics;
  readonly #log: Logger;
  readonly #timers: TimerStore;
  readonly #locks = new KeyedLock();
  readonly #device: (serial: string) => Promise<DeviceContext | undefined>;
  readonly #away: (residentId: string) => readonly AwayPeriod[] | undefined;
  readonly #index: EventIndex | undefined;
  readonly #securityEvent: (event: SecurityEvent, msgID: string) => unknown;
  /**
   * Per area lane (by event type): a clock time by which that lane had read everything stored
   * before it. A held per-home alert is decided only once its lane has caught up with its due time.
   * In Redis, since the area lane may run in another instance than the partition that holds the alert.
   */
  readonly #areaCaughtUpKey: string;

  constructor(deps: {
    /** Alerts' acknowledged publishes, answered on the publisher's one reply subscription. */
    publisher: JetStreamPublisher;
    names: Names;
    store: StateStore;
    timers: TimerStore;
    ruleSet: RuleSet;
    clock: Clock;
    metrics: TriageMetrics;
    logger: Logger;
    /**
     * What the device map says about a device: its supervision interval and whose it is (`residentId`
     * null when it is not in the map or is decommissioned); undefined when not known.
     */
    device?: (serial: string) => Promise<DeviceContext | undefined>;
    /** A resident's declared away periods (the registry's resident-away bucket, in memory). */
    away?: (residentId: string) => readonly AwayPeriod[] | undefined;
    /** Each resident's newest events by stream sequence, written by the partition lanes. */
    index?: EventIndex;
    /**
     * Takes a security event to store on SECURITY under `msgID` (`SecurityEventOutbox.raise`):
     * returns at once, the event held while NATS is away.
     */
    securityEvent?: (event: SecurityEvent, msgID: string) => unknown;
  }) {
    this.#index = deps.index;
    this.#securityEvent = deps.securityEvent ?? (() => undefined);
    this.#timers = deps.timers;
    this.#device = deps.device ?? (async () => undefined);
    this.#away = deps.away ?? (() => undefined);
    this.#publisher = deps.publisher;
    this.#names = deps.names;
    this.#store = deps.store;
    this.#rules = deps.ruleSet;
    this.#clock = deps.clock;
    this.#metrics = deps.metrics;
    this.#log = deps.logger.child({ component: 'processor' });
    this.#areaCaughtUpKey = `${deps.names.redisPrefix}triage:area-caught-up`;
  }

  /**
   * Puts a validated rule set in force for the next event or tick. Each evaluation reads the rule
   * set once, so an event in hand finishes under the rules it started with.
   */
  setRuleSet(ruleSet: RuleSet): void {
    this.#rules = ruleSet;
  }

  /**
   * One event of a partition or alarm lane. Returns once everything it caused is durable; the
   * consumer loop then acks it. A failure for the moment throws (the loop hands the event back);
   * a rule that throws on it throws a `PoisonMessageError` (the loop dead-letters it). Given the
   * partition it was read on (its partition lane, never an alarm lane: the partition lane reads
   * every event, in order), the event's sequence goes into its resident's index.
   */
  handle(
    event: TelecareEvent,
    message: Pick<MessageContext, 'traceparent' | 'seq'>,
    partition?: number,
  ): Promise<void> {
    // In its `triage evaluate` span: the child of the gateway's store span.
    return inSpan(
      SERVICE,
      'triage evaluate',
      { parent: traceparentContext(message.traceparent), kind: SpanKind.CONSUMER },
      () => this.#handle(event, message, partition),
    );
  }

  async #handle(
    event: TelecareEvent,
    message: Pick<MessageContext, 'traceparent' | 'seq'>,
    partition: number | undefined,
  ): Promise<void> {
    const stopTimer = this.#metrics.evaluationSeconds.startTimer();
    if (partition === undefined) await this.#alarm(event, message);
    else await this.#underLock(event.residentid, () => this.#step(event, message, partition));
    stopTimer();
  }

  /**
   * An alarm lane's event: its resident's step, unless their lock is not free within
   * `ALARM_STATE_WAIT_MS` (their partition lane holds it, waiting for Redis). Then it is decided
   * without the lock, from the state held in memory (or none), its alerts stored and the rest left
   * to its partition lane; the step, once it gets the lock, does nothing.
   */
  async #alarm(event: TelecareEvent, message: Pick<MessageContext, 'traceparent' | 'seq'>): Promise<void> {
    let begun = false;
    let abandoned = false;
    const step = this.#underLock(event.residentid, async () => {
      if (abandoned) return;
      begun = true;
      await this.#step(event, message, undefined);
    });
    await Promise.race([step.catch(() => undefined), sleep(ALARM_STATE_WAIT_MS)]);
    if (begun) return step;
    abandoned = true;
    step.catch(() => undefined);
    const state = this.#store.peek(event.residentid);
    const { pass } = await this.#alert(event, message, state ?? initialState(event.residentid));
    this.#aheadOfState(event, pass, state === undefined, 'lock');
  }

  /**
   * One event under its resident's lock. Given the partition it was read on (`undefined`: an alarm
   * lane), its sequence goes into its resident's index.
   */
  async #step(
    event: TelecareEvent,
    message: Pick<MessageContext, 'traceparent' | 'seq'>,
    partition: number | undefined,
  ): Promise<void> {
    // Sent now, beside the state's load and save, and stored before the event is acked (or,
    // Redis not taking it in time, claimed as a gap of the resident's index).
    const indexing =
      partition === undefined ? undefined : this.#index?.send(event.residentid, message.seq, partition);
    // An alarm lane does not wait for Redis: a state it cannot have at once is decided without.
    const loaded =
      partition === undefined
        ? await this.#alarmState(event.residentid)
        : await this.#store.load(event.residentid);
    const state =
      loaded === UNKNOWN ? initialState(event.residentid) : (loaded ?? initialState(event.residentid));
    const { result, pass, held, now } = await this.#alert(event, message, state);
    // An alarm lane's part is done once its alerts are stored: with Redis away, the rest of the
    // event (its state, timers and holds) is its partition lane's, which reads it too, in order,
    // and acks it only once all of it is durable.
    if (partition === undefined && (loaded === UNKNOWN || !this.#store.redisWritable))
      return this.#aheadOfState(event, pass, loaded === UNKNOWN, 'redis');
    for (const hold of held) await this.#timers.hold(hold.timer, hold.alert);
    // The timers' index and the state in one round trip to Redis, after the timers' records.
    const applying = this.#timers.apply(result.timers, event.residentid, this.#saving(state, result.state));
    try {
      await (partition === undefined ? within(applying, ALARM_SAVE_WAIT_MS) : applying);
    } catch (err) {
      if (partition !== undefined || !(redisFailed(err) || err instanceof TimeoutError)) throw err;
      // A save still on its way is not waited for: what Redis holds is read again by the next
      // event (a save that lands late is a list the next change was not made from: written whole).
      applying.catch(() => undefined);
      this.#store.forget(event.residentid);
      return this.#aheadOfState(event, pass, false, 'redis');
    }
    // Waited for only as long as Redis answers: an event the state did not need Redis for is
    // not held by its index, which claims a gap instead (see `EventIndex.settle`).
    if (indexing && !(await this.#index?.settle(indexing, event.residentid, message.seq)))
      this.#metrics.eventIndexSkipped.inc();
    // A state as loaded is held already (by `load`); a changed one is held once it is saved.
    if (result.state !== state) this.#store.remember(result.state);
    // An alarm is read twice, by its own lane and by its partition's: count it once. An event
    // that no rule concerns leaves the state as it was too, but it is not a repeat.
    this.#heldAway(result.held);
    this.#suppressed(result.suppressed);
    this.#cancelsNotTaken(result.cancelsNotTaken, now);
    if (result.duplicate) this.#metrics.duplicateEvents.inc();
    else this.#metrics.eventsEvaluated.inc({ type: event.type });
    if (now - Date.parse(event.time) > this.#rules.settings.lateAfterS * 1000) this.#metrics.lateEvents.inc();
    for (const merged of result.merged)
      this.#log.info({ alertId: merged.alertId, eventId: merged.eventId }, 'event merged into an open alert');
  }

  /**
   * Evaluates an event against `state` and stores the alerts that are not held for their area:
   * what it decided, and the alerts held.
   */
  async #alert(event: TelecareEvent, message: Pick<MessageContext, 'traceparent'>, state: ResidentState) {
    const device = await this.#device(event.subject).catch(() => undefined);
    const away = this.#away(event.residentid);
    const now = this.#clock.now();
    let result: Evaluation;
    try {
      const stopRules = this.#metrics.rulesSeconds.startTimer();
      result = evaluate(
        state,
        { kind: 'event', event, now, ...(device ? { device } : {}), ...(away ? { away } : {}) },
        this.#rules,
      );
      stopRules();
    } catch (err) {
      // A rule that throws will throw again on every redelivery and would hold up the whole
      // partition behind it; dead-letter the event so it is visible and the others flow.
      this.#log.error({ err, eventId: event.id }, 'rules failed on an event');
      throw new PoisonMessageError(`rules failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
        context: { reason: 'unhandled', eventId: event.id },
      });
    }
    const traceparent = message.traceparent || event.traceparent;
    // A home's own mains.lost waits for its district's area decision (see decideHold).
    const { pass, held } = holdForArea(event, result.alerts, this.#rules);
    for (const alert of pass) await this.#publishAlert(alert, traceparent);
    return { result, pass, held, now };
  }

  /**
   * An alarm lane's resident state: `UNKNOWN` when Redis is away or does not give it within
   * `ALARM_STATE_WAIT_MS`, and the alarm is then decided without it (from an empty state).
   */
  async #alarmState(residentId: string): Promise<ResidentState | undefined | typeof UNKNOWN> {
    const loading = this.#store.load(residentId);
    try {
      return await within(loading, ALARM_STATE_WAIT_MS);
    } catch {
      // A load still on its way is not waited for; its failure is not news.
      loading.catch(() => undefined);
      return UNKNOWN;
    }
  }

  /**
   * An alarm whose alerts are stored but whose state the alarm lane could not save: its resident's
   * lock not had within its bound (`lock`: the partition lane held it, a busy machine or Redis slow)
   * or Redis away (`redis`). Acked on its alarm lane, so the next alarm is not held behind it; its
   * partition lane evaluates it with the state and saves it.
   */
  #aheadOfState(
    event: TelecareEvent,
    alerts: readonly Alert[],
    unknown: boolean,
    cause: 'lock' | 'redis',
  ): void {
    this.#metrics.alarmsAheadOfState.inc({ state: unknown ? 'unknown' : 'held' });
    this.#log.warn(
      {
        eventId: event.id,
        residentId: event.residentid,
        alertIds: alerts.map((alert) => alert.id),
        withoutState: unknown,
        cause,
      },
      'alarm alerted ahead of its state: its partition lane saves it',
    );
  }

  /**
   * One resident's step under their lock. A step that fails part-way (an alert stored but not the
   * state, say) drops the state held in memory, so the retry starts from what Redis holds.
   */
  #underLock<T>(residentId: string, step: () => Promise<T>): Promise<T> {
    return this.#locks.run(residentId, async () => {
      try {
        return await step();
      } catch (err) {
        this.#store.forget(residentId);
        throw err;
      }
    });
  }

  /** The state's save, to go with the timers' index writes, when the rules changed it. */
  #saving(
    before: ResidentState,
    after: ResidentState,
  ): ((writes: ScriptWrites) => (answer: [Error | null, unknown]) => Promise<void>) | undefined {
    return after === before ? undefined : (writes) => this.#store.saveIn(writes, before, after);
  }

  /**
   * Alerts the rules held because the resident is declared away: counted by rule and logged with
   * the resident and the period, so a hold is visible (never its reason text).
   */
  #heldAway(held: Evaluation['held']): void {
    for (const hold of held) {
      this.#metrics.alertsHeldAway.inc({ rule: hold.ruleId });
      this.#log.info(
        { residentId: hold.residentId, ruleId: hold.ruleId, type: hold.type, awayId: hold.awayId },
        'alert held: resident declared away',
      );
    }
  }

  /**
   * Reports a limited rule did not raise (a flapping sensor): counted by rule, and logged at debug
   * only, since a sensor bouncing 50 times a minute would otherwise flood the log as it did the queue.
   */
  #suppressed(suppressed: Evaluation['suppressed']): void {
    for (const one of suppressed) {
      this.#metrics.alertsSuppressed.inc({ rule: one.ruleId });
      this.#log.debug(
        {
          residentId: one.residentId,
          ruleId: one.ruleId,
          type: one.type,
          eventId: one.eventId,
          deviceSerial: one.deviceSerial,
        },
        'alert suppressed: device over its rule limit',
      );
    }
  }

  /**
   * Cancels the rules did not take (their device kept sending cancels with nothing to cancel, or
   * the alarm's alert holds another device's press): a sign of a stolen login, counted, logged and
   * raised as a `cancel-not-taken` security event for a supervisor. Only cancels that paired with an
   * alarm come here, a few per press, not the stream's every cancel; the alarm's case carries the
   * note for the operator. Raised once its alerts are stored, into the outbox (nothing waited for),
   * under an id of the alert and the cancel: a redelivered event raises it once.
   */
  #cancelsNotTaken(refused: Evaluation['cancelsNotTaken'], now: number): void {
    for (const one of refused) {
      this.#metrics.cancelsNotTaken.inc({ rule: one.ruleId });
      const detail = {
        serial: one.deviceSerial,
        residentId: one.residentId,
        alertId: one.alertId,
        eventId: one.eventId,
        ruleId: one.ruleId,
        orphanCancels: one.orphans,
        ...(one.otherDevice === undefined ? {} : { otherDevice: one.otherDevice }),
      };
      this.#log.warn(
        { securityEvent: CANCEL_NOT_TAKEN, ...detail },
        one.otherDevice === undefined
          ? 'security: a cancel not taken: its device sent cancels with no alarm to cancel'
          : "security: a cancel not taken: the alarm's alert holds another device's press it may not close",
      );
      try {
        this.#securityEvent(
          {
            id: null,
            at: new Date(now).toISOString(),
            service: SERVICE,
            kind: CANCEL_NOT_TAKEN,
            userId: null,
            caseId: null,
            detail,
          },
          securityEventIdFor(CANCEL_NOT_TAKEN, one.alertId, one.eventId),
        );
      } catch (err) {
        // The alerts are stored and the event is to be acked: its security event is not worth a retry.
        this.#log.error({ err, alertId: one.alertId, eventId: one.eventId }, 'security event not raised');
      }
    }
  }

  /** What the loop reports of an event it dead-lettered or handed back, in triage's own counts. */
  readonly observe = {
    deadLettered: (reason: RejectReason): void => {
      this.#metrics.deadLetters.inc({ reason });
    },
    retried: (err: unknown): void => {
      this.#metrics.retries.inc({ dependency: dependencyOf(err) });
    },
  };

  /**
   * A stored timer come due: the same steps as an event, then the timer is removed. A failure
   * leaves the timer in place, so it fires again (its alerts have deterministic ids).
   */
  async tick(timer: Timer): Promise<boolean> {
    if (isAreaHold(timer)) return this.#decideHold(timer);
    try {
      return await this.#underLock(timer.residentId, async () => {
        const state = (await this.#store.load(timer.residentId)) ?? initialState(timer.residentId);
        // A supervision check is given what the device map says of its device now: one re-paired
        // to another resident, or removed, is not this home's to report lost. Not known (the map
        // unreadable): the check decides as before.
        const serial = supervisedSerial(timer, this.#rules);
        const device = serial === undefined ? undefined : await this.#device(serial).catch(() => undefined);
        let result: Evaluation;
        try {
          const away = this.#away(timer.residentId);
          result = evaluate(
            state,
            {
              kind: 'tick',
              timer,
              now: this.#clock.now(),
              ...(away ? { away } : {}),
              ...(device ? { device } : {}),
            },
            this.#rules,
          );
        } catch (err) {
          this.#log.error({ err, timerId: timer.id }, 'rules failed on a timer; dropped');
          await this.#timers.fired(timer);
          return false;
        }
        for (const alert of result.alerts) await this.#publishAlert(alert, undefined);
        await this.#timers.apply(result.timers, timer.residentId, this.#saving(state, result.state));
        if (result.state !== state) this.#store.remember(result.state);
        this.#heldAway(result.held);
        await this.#timers.fired(timer);
        this.#metrics.timersFired.inc({ rule: timer.ruleId });
        return true;
      });
    } catch (err) {
      this.#metrics.retries.inc({ dependency: dependencyOf(err) });
      this.#log[reportedElsewhere(err) ? 'debug' : 'warn'](
        { err, timerId: timer.id },
        'timer tick failed; it fires again',
      );
      return false;
    }
  }

  /**
   * An event of an area rule's type, from the one area consumer over every partition: the
   * district's state has one writer, so no lock is needed across partitions.
   */
  async handleArea(event: TelecareEvent, message: Pick<MessageContext, 'pending'>): Promise<void> {
    // The resident lane dead-letters bad input; here an event without a district is only skipped.
    if (!event.postcodedistrict) return;
    const district = event.postcodedistrict;
    const takenAt = this.#clock.now();
    const state = (await this.#loadArea(district)) ?? initialAreaState(district);
    const result = evaluateArea(state, event, this.#clock.now(), this.#rules);
    for (const alert of result.alerts) await this.#publishAlert(alert, undefined);
    if (result.state !== state)
      await this.#store.saveRaw(this.#areaKey(district), JSON.stringify(result.state));
    // Nothing else was pending on this lane when it was taken: everything stored before is read.
    if (message.pending === 0) await this.areaCaughtUp(event.type, takenAt);
  }

  /**
   * The area lane of `type` had nothing pending at clock time `at` (or read all stored before it).
   * Not recording it only delays held alerts (up to their window), so a failure is logged, not thrown.
   */
  async areaCaughtUp(type: string, at: number): Promise<void> {
    try {
      await this.#store.raiseMark(this.#areaCaughtUpKey, type, at);
    } catch (err) {
      // Redis away is logged once, as it goes (`RedisAway`), not on every idle pull.
      if (!(err instanceof TransientError && err.cause instanceof RedisAwayError))
        this.#log.warn({ err, type }, 'could not record the area lane caught up');
    }
  }

  #areaKey(district: string): string {
    return `${this.#names.redisPrefix}triage:area:${district}`;
  }

  async #loadArea(district: string): Promise<AreaState | undefined> {
    const raw = await this.#store.raw(this.#areaKey(district));
    const parsed = raw ? AreaState.safeParse(JSON.parse(raw)) : undefined;
    return parsed?.success ? parsed.data : undefined;
  }

  /**
   * A per-home alert held for its district's area decision, come due at the end of its window
   * plus the reorder grace. It waits (looked at again on the partition loop's next round) until the area lane has read
   * every report stored before that time, so the decision sees the whole window whichever home
   * reported first; then it is withheld when the district raised an area incident for that window
   * (or the one before), and sent otherwise. If the area lane is more than a window behind, the
   * alert is sent rather than kept waiting: a missed merge costs an operator one more P3 alert,
   * a lost one a home without mains that nobody knows about.
   *
   * The area lanes follow the rule set in force, and a rule set is in force here only once the
   * consumers of its area types exist (`AreaLanes`): while its rule is in force, the lanes a hold
   * waits on exist, and one that has not run yet (the area lease is changing hands) counts as
   * behind. Once its rule is no longer in force nothing decides the window any more, so the alert
   * is sent at once, without waiting for a lane.
   */
  async #decideHold(timer: Timer): Promise<boolean> {
    try {
      const now = this.#clock.now();
      const rule = areaRules(this.#rules).find((candidate) => candidate.id === timer.ruleId);
      const alert = await this.#timers.heldAlert(timer);
      if (!alert) {
        this.#log.warn({ timerId: timer.id }, 'held alert record gone; dropped');
        await this.#timers.fired(timer);
        return true;
      }
      if (rule) {
        const marks = await Promise.all(rule.on.map((type) => this.#store.mark(this.#areaCaughtUpKey, type)));
        const caughtUp = Math.min(...marks.map((mark) => mark ?? Number.NEGATIVE_INFINITY));
        // Not decided yet: left due, so the partition loop asks again on its next round.
        if (caughtUp < timer.dueAt && now < timer.dueAt + rule.withinS * 1000) return false;
      }
      const state = timer.key ? await this.#loadArea(timer.key) : undefined;
      const outcome = decideAreaHold(state, timer, this.#rules);
      if (outcome.decision === 'release') {
        await this.#publishAlert(alert, undefined);
        this.#metrics.alertsReleased.inc({ rule: timer.ruleId });
      } else {
        this.#metrics.alertsWithheld.inc({ rule: timer.ruleId });
        this.#log.info(
          { alertId: alert.id, incidentId: outcome.incidentId, residentId: alert.residentId },
          'per-home alert withheld: part of an area incident',
        );
      }
      await this.#timers.fired(timer);
      this.#metrics.timersFired.inc({ rule: timer.ruleId });
      return true;
    } catch (err) {
      this.#metrics.retries.inc({ dependency: dependencyOf(err) });
      this.#log[reportedElsewhere(err) ? 'debug' : 'warn'](
        { err, timerId: timer.id },
        'held alert decision failed; it is decided again',
      );
      return false;
    }
  }

  #publishAlert(alert: Alert, traceparent: string | undefined): Promise<void> {
    return inSpan(
      SERVICE,
      'alert publish',
      {
        kind: SpanKind.PRODUCER,
        attributes: { 'telecare.alert.id': alert.id, 'telecare.priority': alert.priority },
      },
      () => this.#storeAlert(alert, traceparent),
    );
  }

  async #storeAlert(alert: Alert, traceparent: string | undefined): Promise<void> {
    const h = headers();
    injectTrace(h, traceparent);
    try {
      const ack = await this.#publisher.publish(
        this.#names.subjects.alert(alert.priority, alert.residentId),
        JSON.stringify(alert),
        { msgID: alert.id, headers: h, expectStream: this.#names.streams.alerts },
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
    this.#metrics.alertsByType.inc({ type: alert.type });
    this.#log.info(
      {
        alertId: alert.id,
        residentId: alert.residentId,
        priority: alert.priority,
        rule: alert.rule.id,
        late: alert.late,
        testMode: alert.testMode,
        ...(h.has('traceparent') ? { traceId: traceIdOf(h.get('traceparent')) } : {}),
      },
      'alert raised',
    );
  }
}

/** An alarm lane waits this long for its resident's state, then decides the alarm without it. */
export const ALARM_STATE_WAIT_MS = 250;
/**
 * An alarm lane waits this long for its state's save (its alerts are stored by then), then leaves
 * the save to its partition lane: the next alarm of its lane is not held behind a Redis that does
 * not answer.
 */
export const ALARM_SAVE_WAIT_MS = 250;
const UNKNOWN = Symbol('state unknown');

const redisFailed = (err: unknown): boolean => dependencyOf(err) === 'redis';

const dependencyOf = (err: unknown): string =>
  err instanceof TransientError ? String(err.context.dependency ?? 'unknown') : 'unknown';

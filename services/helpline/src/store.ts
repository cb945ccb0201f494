import { Alert, CaseEvent, CaseState, EventTypeSchema, newId, Outcome, Priority } from '@telecare/contracts';
import { type Pool, traceIdOf, withTransaction } from '@telecare/platform';
import type { QueryResult, QueryResultRow } from 'pg';
import { z } from 'zod';
import { CALL_OUTCOMES, type HelplineCase } from './api.ts';
import { CallNotFoundError, CaseNotFoundError, TransitionRefusedError } from './errors.ts';
import type { ConsoleStore } from './presence.ts';
import { CALL_PARTIES, type CallParty } from './telephony.ts';
import {
  type Action,
  allowed,
  closingEffect,
  isOpen,
  joins,
  moreUrgent,
  OPEN_STATES,
  pressesOf,
  refusal,
  TRANSITIONS,
} from './transitions.ts';

/** What both a pool and a client in a transaction can do. */
interface Db {
  query<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

const CaseRow = z.object({
  id: z.string(),
  resident_id: z.string(),
  priority: Priority,
  type: EventTypeSchema,
  state: CaseState,
  raised_at: z.date(),
  accepted_at: z.date().nullable(),
  resolved_at: z.date().nullable(),
  outcome: Outcome.nullable(),
  test_mode: z.boolean(),
  offered_to: z.string().nullable(),
  offer_expires_at: z.date().nullable(),
  assigned_to: z.string().nullable(),
  escalation_step: z.number().int(),
  hold_until: z.date().nullable(),
  hold_reason: z.string().nullable(),
  hold_return_priority: Priority.nullable(),
  answer_target_missed: z.number().int().nullable(),
  alerts: z.array(Alert).min(1),
});
type CaseRow = z.infer<typeof CaseRow>;

const EventRow = z.object({
  id: z.string(),
  case_id: z.string(),
  at: z.date(),
  actor: z.string(),
  kind: CaseEvent.shape.kind,
  data: z.record(z.string(), z.unknown()),
});

const toCase = (row: CaseRow): HelplineCase => ({
  id: row.id,
  residentId: row.resident_id,
  priority: row.priority,
  type: row.type,
  state: row.state,
  raisedAt: row.raised_at.toISOString(),
  acceptedAt: row.accepted_at?.toISOString() ?? null,
  resolvedAt: row.resolved_at?.toISOString() ?? null,
  outcome: row.outcome,
  alertIds: row.alerts.map((a) => a.id),
  because: row.alerts.map((a) => ({
    alertId: a.id,
    rule: a.rule,
    reason: a.reason,
    evidence: a.evidence,
    thresholds: a.thresholds,
    late: a.late,
  })),
  offeredTo: row.offered_to,
  offerExpiresAt: row.offer_expires_at?.toISOString() ?? null,
  assignedTo: row.assigned_to,
  escalationStep: row.escalation_step,
  answerTargetMissed:
    row.answer_target_missed === 60 || row.answer_target_missed === 180 ? row.answer_target_missed : null,
  ...pressesOf(row.alerts),
  deviceSerials: [...new Set(row.alerts.flatMap((a) => (a.deviceSerial ? [a.deviceSerial] : [])))],
  traceId: traceIdOf(row.alerts[0]?.traceparent),
  hold: row.hold_until
    ? {
        until: row.hold_until.toISOString(),
        reason: row.hold_reason ?? '',
        returnPriority: row.hold_return_priority,
      }
    : null,
});

const toEvent = (row: unknown): CaseEvent => {
  const r = EventRow.parse(row);
  return { id: r.id, caseId: r.case_id, at: r.at.toISOString(), actor: r.actor, kind: r.kind, data: r.data };
};

/** A case as stored: the API view plus what the API does not show. */
export interface StoredCase {
  readonly case: HelplineCase;
  readonly testMode: boolean;
  /** The trace context its first alert was committed in: offers and accepts join that trace. */
  readonly traceparent: string | undefined;
}

export type IngestResult =
  | { readonly outcome: 'duplicate'; readonly caseId: string }
  | {
      /**
       * `closing`: an alert that closes an earlier one joined that alert's case (and may have
       * resolved it); `record`: a record-only (P5) alert with nothing to close, kept in a closed case;
       * `repeat`: a repeat press counted on the open case of the alert it repeats.
       */
      readonly outcome: 'opened' | 'joined' | 'repeat' | 'test' | 'closing' | 'record';
      readonly caseId: string;
      readonly events: CaseEvent[];
      /** Set when a closing alert resolved its case on its own. */
      readonly autoResolved?: 'false-alarm' | 'technical-resolved';
    };

export type TransitionInput =
  | { action: 'accept' }
  | { action: 'hold'; until: Date; reason: string; returnPriority?: Priority | undefined }
  | { action: 'resolve'; outcome: Outcome; reason: string };

export const SYSTEM_ACTOR = 'helpline';

export type CallOutcome = (typeof CALL_OUTCOMES)[number];

/** A call about to be recorded as started (the number is not kept: the party says whom). */
export interface NewCall {
  readonly id: string;
  readonly party: CallParty;
  readonly responderId?: string | undefined;
  readonly deviceSerial?: string | undefined;
  readonly scheme: 'tel' | 'sip';
  readonly via: 'browser' | 'pbx';
  readonly pbxReference?: string | null | undefined;
  /** Why the phone system did not place it, when it was asked to and failed. */
  readonly pbxFailed?: string | undefined;
}

const CallRow = z.object({
  id: z.string(),
  case_id: z.string(),
  party: z.enum(CALL_PARTIES),
  responder_id: z.string().nullable(),
  device_serial: z.string().nullable(),
  scheme: z.enum(['tel', 'sip']),
  via: z.enum(['browser', 'pbx']),
  pbx_reference: z.string().nullable(),
  started_by: z.string(),
  started_at: z.date(),
  ended_by: z.string().nullable(),
  ended_at: z.date().nullable(),
  outcome: z.enum(CALL_OUTCOMES).nullable(),
});

export interface CallRecord {
  id: string;
  caseId: string;
  party: CallParty;
  responderId: string | null;
  deviceSerial: string | null;
  scheme: 'tel' | 'sip';
  via: 'browser' | 'pbx';
  pbxReference: string | null;
  startedBy: string;
  startedAt: string;
  endedBy: string | null;
  endedAt: string | null;
  outcome: CallOutcome | null;
  durationSeconds: number | null;
}

/** Who acts, for the audit trail; `override` lets a supervisor or admin act on anyone's case. */
export interface Actor {
  readonly id: string;
  readonly override: boolean;
}

/** One answer target's figure: answered within it, out of the calls it has been decided for. */
export interface TargetFigure {
  count: number;
  /** Calls the target is decided for: answered, or still waiting past it. */
  of: number;
  percent: number | null;
  target: number;
  met: boolean;
}

/** Answer figures for one group of alarm calls (all, one priority, one operator). */
export interface AnswerFigures {
  /** Calls decided for the 60 s target: answered, or waiting over 60 s. */
  total: number;
  answered: number;
  /** Alarm calls waiting now, unanswered (those under 60 s are neither met nor missed yet). */
  waiting: number;
  waitingOver60: number;
  waitingOver180: number;
  within60s: TargetFigure;
  within180s: TargetFigure;
  medianAnswerSeconds: number | null;
  maxAnswerSeconds: number | null;
}

export interface AnswerStats extends AnswerFigures {
  from: string;
  to: string;
  /** The priorities counted: alarm calls only. */
  priorities: number[];
  byPriority: Record<string, AnswerFigures>;
  /** Calls answered by each person (the first acceptance), most answered first. */
  byOperator: (AnswerFigures & { userId: string; name: string })[];
}

/** Alarm calls: the priorities that count against the answer targets (DESIGN §6, TSA). */
export const ALARM_PRIORITIES = [1, 2] as const;
/** The two answer targets, in seconds, with the share of calls each asks for. */
export const ANSWER_TARGETS = [
  { seconds: 60, percent: 97.5 },
  { seconds: 180, percent: 99 },
] as const;

export interface QueueFigures {
  /** Queued or offered (not being worked). */
  waiting: number;
  /** Of those, never answered: their answer clock runs from the raise. */
  unanswered: number;
  longestWaitSeconds: number | null;
  oldestCaseId: string | null;
  offered: number;
  accepted: number;
  onHold: number;
}

export interface QueueOverview {
  waitingNow: number;
  longestWaitSeconds: number | null;
  /** Alarm calls (P1, P2) waiting, and the longest of their waits. */
  alarmsWaiting: number;
  alarmLongestWaitSeconds: number | null;
  byPriority: Record<string, QueueFigures>;
}

export interface Breach {
  caseId: string;
  residentId: string;
  priority: number;
  type: string;
  state: string;
  raisedAt: string;
  waitedSeconds: number;
  /** The answer target it has missed so far: 60, then 180. */
  targetSeconds: number;
}

const emptyFigures = (): AnswerFigures => figuresOf({});
const pct = (count: number, of: number, target: number) => ({
  percent: of === 0 ? null : Math.round((count / of) * 10000) / 100,
  met: of === 0 || count / of >= target / 100,
});

function figuresOf(r: Record<string, unknown>): AnswerFigures {
  const n = (key: string) => Number(r[key] ?? 0);
  const seconds = (key: string) =>
    r[key] === null || r[key] === undefined ? null : Math.round(Number(r[key]) * 10) / 10;
  const figure = (count: number, of: number, target: number): TargetFigure => ({
    count,
    of,
    percent: of === 0 ? null : Math.round((count / of) * 10000) / 100,
    target,
    // Nothing decided yet is not a failure: a shift that has just begun is not at 0 %.
    met: of === 0 || count / of >= target / 100,
  });
  const [t60, t180] = ANSWER_TARGETS;
  return {
    total: n('decided60'),
    answered: n('answered'),
    waiting: n('waiting'),
    waitingOver60: n('waiting_over60'),
    waitingOver180: n('waiting_over180'),
    within60s: figure(n('within60'), n('decided60'), t60.percent),
    within180s: figure(n('within180'), n('decided180'), t180.percent),
    medianAnswerSeconds: seconds('p50'),
    maxAnswerSeconds: seconds('max_wait'),
  };
}

/** The helpline's PostgreSQL schema: cases, the alerts that explain them and their audit trail. */
export class CaseStore {
  readonly #t: { cases: string; alerts: string; events: string; outbox: string };
  readonly #select: string;
  readonly #calls: string;

  constructor(
    private readonly pool: Pool,
    private readonly schema: string,
    private readonly joinWindowSeconds: number,
    /** Who is there: offers go only to them, and an offer to someone gone is anyone's to accept. */
    private readonly consoles: ConsoleStore,
  ) {
    const q = (table: string) => `"${schema}".${table}`;
    this.#t = {
      cases: q('cases'),
      alerts: q('case_alerts'),
      events: q('case_events'),
      outbox: q('case_outbox'),
    };
    this.#calls = q('calls');
    this.#select = `select c.*, (select json_agg(a.alert order by a.received_at, a.alert_id)
        from ${this.#t.alerts} a where a.case_id = c.id) as alerts
      from ${this.#t.cases} c`;
  }

  async ping(): Promise<boolean> {
    await this.pool.query('select 1');
    return true;
  }

  /**
   * Records an alert in one transaction: a known alert id changes nothing; otherwise it joins the
   * resident's open case within the window or opens a new one, with its case events and outbox rows.
   */
  async ingest(alert: Alert, now: Date): Promise<IngestResult> {
    const t = this.#t;
    return withTransaction(this.pool, async (db) => {
      // One resident's alerts are decided one at a time, even across helpline instances, so two
      // alerts arriving together cannot open two cases.
      await db.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `${this.schema}:${alert.residentId}`,
      ]);
      const known = await db.query<{ case_id: string }>(
        `select case_id from ${t.alerts} where alert_id = $1`,
        [alert.id],
      );
      if (known.rows[0]) return { outcome: 'duplicate', caseId: known.rows[0].case_id };

      const raisedAt = new Date(alert.raisedAt);
      const events: CaseEvent[] = [];
      const event = (caseId: string, kind: CaseEvent['kind'], data: Record<string, unknown>) =>
        events.push({
          id: newId('cev', now.getTime()),
          caseId,
          at: now.toISOString(),
          actor: SYSTEM_ACTOR,
          kind,
          data,
        });

      if (alert.closes) {
        const closing = await this.#closeWith(db, alert, now, event);
        if (closing) {
          await this.#append(db, events);
          return { ...closing, events };
        }
        // The alert it closes is not here (never reached this helpline): a record like any P5.
      }

      // A repeat press: counted on the case of the alert it repeats while that case is open.
      let after: { readonly caseId: string; readonly state: CaseState } | undefined;
      if (alert.repeats) {
        const repeated = await this.#repeatInto(db, alert, now, event);
        if (repeated.outcome !== 'not-open') {
          await this.#append(db, events);
          return { outcome: repeated.outcome, caseId: repeated.caseId, events };
        }
        // Resolved or closed (triage cannot know an operator resolved it), or never here: the
        // resident is pressing for help now, so the press is a new alarm like any other.
        after = repeated.after;
      }
      const follows = alert.repeats
        ? {
            repeats: alert.repeats.alertId,
            ...(after ? { afterCase: after.caseId, afterState: after.state } : {}),
          }
        : {};

      let outcome: 'opened' | 'joined' | 'test' | 'record';
      let caseId: string;
      // Record-only alerts never join or ring: they are kept in a case of their own, closed at once.
      const recordOnly = alert.priority === 5 && !alert.testMode;
      const open =
        alert.testMode || recordOnly
          ? undefined
          : (
              await db.query<{ id: string; priority: number; state: string; last_alert_at: Date }>(
                `select id, priority, state, last_alert_at from ${t.cases}
               where resident_id = $1 and not test_mode and state = any($2)
               order by last_alert_at desc limit 1 for update`,
                [alert.residentId, OPEN_STATES],
              )
            ).rows[0];
      const openSummary = open && {
        priority: Priority.parse(open.priority),
        lastAlertAt: open.last_alert_at,
      };

      if (open && openSummary && joins(openSummary, alert, this.joinWindowSeconds)) {
        outcome = 'joined';
        caseId = open.id;
        const raise = moreUrgent(alert.priority, openSummary.priority);
        // A new alert for a case on hold means the call-back cannot wait: it goes back to the queue.
        const requeue = open.state === 'on_hold';
        await joinAlert(db, t.cases, { caseId, raise, alert, raisedAt, requeue, now });
        event(caseId, 'alert-joined', {
          alertId: alert.id,
          priority: alert.priority,
          type: alert.type,
          ...(raise ? { priorityRaisedFrom: openSummary.priority } : {}),
          ...(requeue ? { requeuedFromHold: true } : {}),
          ...follows,
        });
      } else {
        outcome = alert.testMode ? 'test' : recordOnly ? 'record' : 'opened';
        caseId = newId('case', now.getTime());
        await db.query(
          `insert into ${t.cases} (id, resident_id, priority, type, state, raised_at, last_alert_at,
             test_mode, created_at, updated_at)
           values ($1, $2, $3, $4, $5, $6, $6, $7, $8, $8)`,
          [
            caseId,
            alert.residentId,
            alert.priority,
            alert.type,
            alert.testMode || recordOnly ? 'closed' : 'queued',
            raisedAt,
            alert.testMode,
            now,
          ],
        );
        event(caseId, 'opened', {
          alertId: alert.id,
          priority: alert.priority,
          type: alert.type,
          ...(alert.testMode ? { testMode: true } : {}),
          ...(recordOnly ? { recordOnly: true, ...(alert.closes ? { closes: alert.closes } : {}) } : {}),
          ...follows,
        });
        if (alert.testMode) event(caseId, 'closed', { reason: 'test-mode' });
        else if (recordOnly) event(caseId, 'closed', { reason: 'record-only' });
      }
      await db.query(
        `insert into ${t.alerts} (alert_id, case_id, alert, received_at) values ($1, $2, $3, $4)`,
        [alert.id, caseId, JSON.stringify(alert), now],
      );
      await this.#append(db, events);
      return { outcome, caseId, events };
    });
  }

  /**
   * A repeat press joins the case that holds the alert it repeats, whatever the join window, while
   * that case is open: it is counted (`presses`), makes the case at least as urgent as the press,
   * and brings a held case back to the queue (the resident is pressing again; the call-back cannot
   * wait). A test-mode repeat is recorded on its (closed) test case. `not-open`: that case is
   * resolved or closed, or the alert it repeats never reached this helpline; `after` names the case.
   */
  async #repeatInto(
    db: Db,
    alert: Alert,
    now: Date,
    event: (caseId: string, kind: CaseEvent['kind'], data: Record<string, unknown>) => void,
  ): Promise<
    | { outcome: 'repeat' | 'test'; caseId: string }
    | { outcome: 'not-open'; after?: { caseId: string; state: CaseState } }
  > {
    const t = this.#t;
    const repeats = alert.repeats;
    if (!repeats) return { outcome: 'not-open' };
    const { rows } = await db.query<{ id: string; state: string; test_mode: boolean; priority: number }>(
      `select c.id, c.state, c.test_mode, c.priority from ${t.alerts} a join ${t.cases} c on c.id = a.case_id
       where a.alert_id = $1 and c.resident_id = $2 for update of c`,
      [repeats.alertId, alert.residentId],
    );
    const target = rows[0];
    if (!target || target.test_mode !== alert.testMode) return { outcome: 'not-open' };
    const state = CaseState.parse(target.state);
    if (!target.test_mode && !isOpen(state))
      return { outcome: 'not-open', after: { caseId: target.id, state } };
    const caseId = target.id;
    await db.query(
      `insert into ${t.alerts} (alert_id, case_id, alert, received_at) values ($1, $2, $3, $4)`,
      [alert.id, caseId, JSON.stringify(alert), now],
    );
    const held = await db.query<{ alert: unknown }>(`select alert from ${t.alerts} where case_id = $1`, [
      caseId,
    ]);
    const { presses, lastPressAt } = pressesOf(held.rows.map((r) => Alert.parse(r.alert)));
    const common = {
      alertId: alert.id,
      priority: alert.priority,
      type: alert.type,
      repeat: true,
      repeats: repeats.alertId,
      evidence: alert.evidence,
      reason: alert.reason,
      presses,
      lastPressAt,
    };
    if (target.test_mode) {
      event(caseId, 'alert-joined', common);
      return { outcome: 'test', caseId };
    }
    const current = Priority.parse(target.priority);
    const raise = moreUrgent(alert.priority, current);
    const requeue = state === 'on_hold';
    await joinAlert(db, t.cases, { caseId, raise, alert, raisedAt: new Date(alert.raisedAt), requeue, now });
    event(caseId, 'alert-joined', {
      ...common,
      ...(raise ? { priorityRaisedFrom: current } : {}),
      ...(requeue ? { requeuedFromHold: true } : {}),
    });
    return { outcome: 'repeat', caseId };
  }

  /**
   * A closing alert joins the case that holds the alert it closes, whatever the window, and may
   * resolve it (see `closingEffect`). Undefined when that alert is not in any case of this
   * resident (or its test mode differs): the caller records it as a record-only alert.
   */
  async #closeWith(
    db: Db,
    alert: Alert,
    now: Date,
    event: (caseId: string, kind: CaseEvent['kind'], data: Record<string, unknown>) => void,
  ): Promise<
    { outcome: 'closing'; caseId: string; autoResolved?: 'false-alarm' | 'technical-resolved' } | undefined
  > {
    const t = this.#t;
    const closes = alert.closes;
    if (!closes) return undefined;
    const { rows } = await db.query<{ id: string; state: string; test_mode: boolean }>(
      `select c.id, c.state, c.test_mode from ${t.alerts} a join ${t.cases} c on c.id = a.case_id
       where a.alert_id = $1 and c.resident_id = $2 for update of c`,
      [closes.alertId, alert.residentId],
    );
    const target = rows[0];
    if (!target || target.test_mode !== alert.testMode) return undefined;
    const caseId = target.id;
    await db.query(
      `insert into ${t.alerts} (alert_id, case_id, alert, received_at) values ($1, $2, $3, $4)`,
      [alert.id, caseId, JSON.stringify(alert), now],
    );
    const held = await db.query<{ alert: unknown }>(`select alert from ${t.alerts} where case_id = $1`, [
      caseId,
    ]);
    const alerts = held.rows.map((r) => Alert.parse(r.alert));
    const closedAs = new Map(alerts.flatMap((a) => (a.closes ? [[a.closes.alertId, a.closes.outcome]] : [])));
    const raisers = alerts
      .filter((a) => !a.closes)
      .map((a) => {
        // A repeat press is closed with the alert it repeats: the resident's cancel ends the group.
        const how = closedAs.get(a.id) ?? (a.repeats ? closedAs.get(a.repeats.alertId) : undefined);
        return { type: a.type, ...(how ? { closedAs: how } : {}) };
      });
    const state = CaseState.parse(target.state);
    const decided = closingEffect(state, target.test_mode, raisers);
    const closed = alerts.find((a) => a.id === closes.alertId);
    event(caseId, 'alert-joined', {
      alertId: alert.id,
      priority: alert.priority,
      type: alert.type,
      closes: closes,
      closedType: closed?.type,
      // Who acted: the resident (a cancel) or the device (a restore), reported through triage.
      by: closes.outcome === 'false-alarm' ? 'resident' : 'device',
      ...(alert.deviceSerial ? { deviceSerial: alert.deviceSerial } : {}),
      evidence: alert.evidence,
      reason: alert.reason,
      effect: decided.effect === 'resolve' ? 'resolved' : 'noted',
      ...(decided.effect === 'note' ? { why: decided.why } : {}),
    });
    if (decided.effect === 'note') {
      await db.query(`update ${t.cases} set updated_at = $2 where id = $1`, [caseId, now]);
      return { outcome: 'closing', caseId };
    }
    // The row is locked since the state was read, so no accept can slip in between.
    await db.query(
      `update ${t.cases} set state = 'resolved', resolved_at = $2, outcome = $3, outcome_reason = $4,
         offered_to = null, offer_expires_at = null, updated_at = $2
       where id = $1 and state in ('queued', 'offered')`,
      [caseId, now, decided.outcome, alert.reason],
    );
    event(caseId, 'resolved', {
      outcome: decided.outcome,
      reason: alert.reason,
      automatic: true,
      byAlertId: alert.id,
    });
    return { outcome: 'closing', caseId, autoResolved: decided.outcome };
  }

  async list(state: 'open' | 'all', limit: number): Promise<HelplineCase[]> {
    const where = state === 'open' ? 'where not c.test_mode and c.state = any($2)' : 'where not c.test_mode';
    const { rows } = await this.pool.query(
      `${this.#select} ${where} order by c.priority, c.raised_at, c.id limit $1`,
      state === 'open' ? [limit, OPEN_STATES] : [limit],
    );
    return rows.map((row) => toCase(CaseRow.parse(row)));
  }

  async get(id: string, db: Db = this.pool): Promise<StoredCase | undefined> {
    const { rows } = await db.query(`${this.#select} where c.id = $1`, [id]);
    if (!rows[0]) return undefined;
    const row = CaseRow.parse(rows[0]);
    return { case: toCase(row), testMode: row.test_mode, traceparent: row.alerts[0]?.traceparent };
  }

  async events(caseId: string): Promise<CaseEvent[]> {
    const { rows } = await this.pool.query(
      `select id, case_id, at, actor, kind, data from ${this.#t.events} where case_id = $1 order by seq`,
      [caseId],
    );
    return rows.map(toEvent);
  }

  /**
   * An operator action as one conditional update: only a case in an allowed state (and, once
   * someone has it, only their own case unless the actor may override) changes, so a double
   * click or two operators racing produce exactly one case event. A retry carrying the request
   * key of an action already done returns the case as it is now and writes nothing.
   */
  async transition(
    id: string,
    input: TransitionInput,
    actor: Actor,
    now: Date,
    requestKey?: string,
  ): Promise<{ case: HelplineCase; event: CaseEvent | undefined }> {
    const t = this.#t;
    return withTransaction(this.pool, async (db) => {
      if (requestKey) {
        const done = await this.#eventByKey(db, id, requestKey);
        if (done) {
          const stored = await this.get(id, db);
          if (!stored) throw new CaseNotFoundError(id);
          return { case: stored.case, event: undefined };
        }
      }
      const from = TRANSITIONS[input.action].from;
      // Whose the case is: a case offered to, or worked by, someone else is theirs unless the actor
      // overrides. An offer to someone who is no longer there (signed out, tab closed, network
      // lost, set away) holds nobody back: whoever is there may take the case.
      const mine = `($4::boolean or (state = 'queued')
        or (state = 'offered' and (offered_to = $5 or not ${this.consoles.thereSql('offered_to', '$2')}))
        or (state in ('accepted', 'on_hold') and (assigned_to = $5 or assigned_to is null)))`;
      let updated: QueryResult;
      let data: Record<string, unknown> = {};
      const base = [id, now, from, actor.override, actor.id];
      switch (input.action) {
        case 'accept':
          updated = await db.query(
            `update ${t.cases} set state = 'accepted', accepted_at = coalesce(accepted_at, $2),
               assigned_to = $5, offered_to = null, offer_expires_at = null,
               hold_until = null, hold_reason = null, hold_return_priority = null, updated_at = $2
             where id = $1 and state = any($3) and ${mine}
             returning id, extract(epoch from (accepted_at - raised_at)) as answer_s`,
            base,
          );
          data = { answerSeconds: Number(updated.rows[0]?.answer_s ?? 0) };
          break;
        case 'hold':
          updated = await db.query(
            `update ${t.cases} set state = 'on_hold', hold_until = $6, hold_reason = $7,
               hold_return_priority = $8, updated_at = $2
             where id = $1 and state = any($3) and ${mine} returning id`,
            [...base, input.until, input.reason, input.returnPriority ?? null],
          );
          data = {
            until: input.until.toISOString(),
            reason: input.reason,
            ...(input.returnPriority ? { returnPriority: input.returnPriority } : {}),
          };
          break;
        case 'resolve':
          updated = await db.query(
            `update ${t.cases} set state = 'resolved', resolved_at = $2, outcome = $6, outcome_reason = $7,
               hold_until = null, hold_reason = null, hold_return_priority = null, updated_at = $2
             where id = $1 and state = any($3) and ${mine} returning id`,
            [...base, input.outcome, input.reason],
          );
          data = { outcome: input.outcome, reason: input.reason };
          break;
      }
      if (updated.rowCount !== 1) throw await this.#whyNot(db, id, input.action, actor);
      const event = this.#newEvent(id, KIND[input.action], data, actor.id, now);
      await this.#append(db, [event], requestKey);
      const stored = await this.get(id, db);
      if (!stored) throw new CaseNotFoundError(id);
      return { case: stored.case, event };
    });
  }

  /** A supervisor gives a case to someone else: an open case in the queue is offered to them, one being worked moves to them. */
  async reassign(
    id: string,
    to: string,
    reason: string,
    actor: Actor,
    now: Date,
    offerSeconds: number,
    requestKey?: string,
  ): Promise<{ case: HelplineCase; event: CaseEvent | undefined }> {
    return withTransaction(this.pool, async (db) => {
      if (requestKey && (await this.#eventByKey(db, id, requestKey))) {
        const stored = await this.get(id, db);
        if (!stored) throw new CaseNotFoundError(id);
        return { case: stored.case, event: undefined };
      }
      const { rows } = await db.query<{
        state: string;
        offered_to: string | null;
        assigned_to: string | null;
      }>(`select state, offered_to, assigned_to from ${this.#t.cases} where id = $1 for update`, [id]);
      const row = rows[0];
      if (!row) throw new CaseNotFoundError(id);
      const state = CaseState.parse(row.state);
      if (!OPEN_STATES.includes(state))
        throw new TransitionRefusedError(id, 'reassign', state, `the case is already ${state}`);
      const fromUser = row.assigned_to ?? row.offered_to;
      if (state === 'queued' || state === 'offered') {
        await db.query(
          `update ${this.#t.cases} set state = 'offered', offered_to = $2, last_offered_to = $2,
             offer_expires_at = $3, updated_at = $4 where id = $1`,
          [id, to, new Date(now.getTime() + offerSeconds * 1000), now],
        );
      } else {
        await db.query(`update ${this.#t.cases} set assigned_to = $2, updated_at = $3 where id = $1`, [
          id,
          to,
          now,
        ]);
      }
      const event = this.#newEvent(id, 'reassigned', { from: fromUser, to, reason }, actor.id, now);
      await this.#append(db, [event], requestKey);
      const stored = await this.get(id, db);
      if (!stored) throw new CaseNotFoundError(id);
      return { case: stored.case, event };
    });
  }

  /**
   * A case event that records work on a case without changing its state: a note, a responder
   * call, a call to emergency services, a reveal. Only on an open case (notes also on a resolved
   * one), and only by whoever works it unless the actor overrides. The request key makes a retry
   * or a double click write one event.
   */
  async record(
    id: string,
    kind: 'note' | 'responder-called' | 'emergency-called' | 'revealed',
    data: Record<string, unknown>,
    actor: Actor,
    now: Date,
    requestKey?: string,
  ): Promise<{ event: CaseEvent; duplicate: boolean }> {
    return withTransaction(this.pool, async (db) => {
      const { rows } = await db.query<{ state: string; assigned_to: string | null }>(
        `select state, assigned_to from ${this.#t.cases} where id = $1 for update`,
        [id],
      );
      const row = rows[0];
      if (!row) throw new CaseNotFoundError(id);
      if (requestKey) {
        const done = await this.#eventByKey(db, id, requestKey);
        if (done) return { event: done, duplicate: true };
      }
      const state = CaseState.parse(row.state);
      const action = kind === 'note' ? 'note' : kind === 'revealed' ? 'reveal' : 'call';
      if (kind !== 'note' && kind !== 'revealed' && state !== 'accepted')
        throw new TransitionRefusedError(id, action, state, 'accept the case before calling anyone for it');
      if (kind !== 'note' && kind !== 'revealed' && !actor.override && row.assigned_to !== actor.id)
        throw new TransitionRefusedError(id, action, state, 'another operator is working this case');
      if (state === 'closed') throw new TransitionRefusedError(id, action, state, 'the case is closed');
      // The reveal's case check again, under the row lock: the case may have moved since.
      if (kind === 'revealed' && state === 'resolved')
        throw new TransitionRefusedError(id, action, state, 'the case is resolved');
      if (
        kind === 'revealed' &&
        !actor.override &&
        !((state === 'accepted' || state === 'on_hold') && row.assigned_to === actor.id)
      )
        throw new TransitionRefusedError(
          id,
          action,
          state,
          'only the operator holding the case reads these fields',
        );
      const event = this.#newEvent(id, kind, data, actor.id, now);
      await this.#append(db, [event], requestKey);
      return { event, duplicate: false };
    });
  }

  /**
   * A call started from the case, by whoever works it (the case accepted by them, or a supervisor
   * or admin): the call row and its `call-started` event in one transaction, under the case's lock.
   */
  async startCall(
    caseId: string,
    call: NewCall,
    actor: Actor,
    now: Date,
    requestKey?: string,
  ): Promise<{ event: CaseEvent; duplicate: boolean }> {
    return withTransaction(this.pool, async (db) => {
      if (requestKey) {
        const done = await this.#eventByKey(db, caseId, requestKey);
        if (done) return { event: done, duplicate: true };
      }
      await this.#lockForCall(db, caseId, actor, 'call');
      await db.query(
        `insert into ${this.#calls} (id, case_id, party, responder_id, device_serial, scheme, via, pbx_reference,
           started_by, started_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          call.id,
          caseId,
          call.party,
          call.responderId ?? null,
          call.deviceSerial ?? null,
          call.scheme,
          call.via,
          call.pbxReference ?? null,
          actor.id,
          now,
        ],
      );
      const event = this.#newEvent(
        caseId,
        'call-started',
        {
          callId: call.id,
          party: call.party,
          ...(call.responderId ? { responderId: call.responderId } : {}),
          ...(call.deviceSerial ? { deviceSerial: call.deviceSerial } : {}),
          scheme: call.scheme,
          via: call.via,
          ...(call.pbxReference ? { pbxReference: call.pbxReference } : {}),
          ...(call.pbxFailed ? { pbxFailed: call.pbxFailed } : {}),
        },
        actor.id,
        now,
      );
      await this.#append(db, [event], requestKey);
      return { event, duplicate: false };
    });
  }

  /**
   * Ends a call started from the case: a `call-ended` event with its outcome and duration. With a
   * `record` (a responder's answer, a 999 call) the record is written in the same transaction,
   * naming the call and its duration, and must match the call's party. Only the person who started
   * the call (or a supervisor or admin) ends it, once. Answers the last event written.
   */
  async endCall(
    caseId: string,
    callId: string,
    end: { outcome: CallOutcome; note?: string | undefined },
    actor: Actor,
    now: Date,
    requestKey?: string,
    record?: { kind: 'responder-called' | 'emergency-called'; data: Record<string, unknown> },
  ): Promise<{ event: CaseEvent; duplicate: boolean }> {
    return withTransaction(this.pool, async (db) => {
      if (requestKey) {
        const done = await this.#eventByKey(db, caseId, requestKey);
        if (done) return { event: done, duplicate: true };
      }
      const state = record
        ? await this.#lockForCall(db, caseId, actor, 'call')
        : await this.#lockCase(db, caseId);
      const { rows } = await db.query<{
        party: CallParty;
        responder_id: string | null;
        started_by: string;
        started_at: Date;
        ended_at: Date | null;
      }>(
        `select party, responder_id, started_by, started_at, ended_at from ${this.#calls}
         where id = $1 and case_id = $2 for update`,
        [callId, caseId],
      );
      const call = rows[0];
      if (!call) throw new CallNotFoundError(caseId, callId);
      if (state === 'closed')
        throw new TransitionRefusedError(caseId, 'end-call', state, 'the case is closed');
      if (call.ended_at)
        throw new TransitionRefusedError(caseId, 'end-call', state, 'the call has already ended');
      if (!actor.override && call.started_by !== actor.id)
        throw new TransitionRefusedError(caseId, 'end-call', state, 'another operator made this call');
      if (
        record?.kind === 'responder-called' &&
        (call.party !== 'responder' || call.responder_id !== record.data.responderId)
      )
        throw new TransitionRefusedError(caseId, 'end-call', state, 'that call was not to this responder');
      if (record?.kind === 'emergency-called' && call.party !== 'emergency')
        throw new TransitionRefusedError(
          caseId,
          'end-call',
          state,
          'that call was not to emergency services',
        );
      const durationSeconds = Math.max(0, Math.round((now.getTime() - call.started_at.getTime()) / 1000));
      await db.query(`update ${this.#calls} set ended_at = $2, ended_by = $3, outcome = $4 where id = $1`, [
        callId,
        now,
        actor.id,
        end.outcome,
      ]);
      const events = [
        this.#newEvent(
          caseId,
          'call-ended',
          {
            callId,
            party: call.party,
            ...(call.responder_id ? { responderId: call.responder_id } : {}),
            outcome: end.outcome,
            durationSeconds,
            ...(end.note ? { note: end.note } : {}),
          },
          actor.id,
          now,
        ),
      ];
      if (record)
        events.push(
          this.#newEvent(caseId, record.kind, { ...record.data, callId, durationSeconds }, actor.id, now),
        );
      // The request key goes on the last event: a retry finds it and writes nothing.
      const first = events.slice(0, -1);
      const last = events.at(-1) as CaseEvent;
      await this.#append(db, first);
      await this.#append(db, [last], requestKey);
      return { event: last, duplicate: false };
    });
  }

  /** The calls made from a case, oldest first. */
  async calls(caseId: string): Promise<CallRecord[]> {
    const { rows } = await this.pool.query(
      `select * from ${this.#calls} where case_id = $1 order by started_at, id`,
      [caseId],
    );
    return rows.map((row) => {
      const r = CallRow.parse(row);
      return {
        id: r.id,
        caseId: r.case_id,
        party: r.party,
        responderId: r.responder_id,
        deviceSerial: r.device_serial,
        scheme: r.scheme,
        via: r.via,
        pbxReference: r.pbx_reference,
        startedBy: r.started_by,
        startedAt: r.started_at.toISOString(),
        endedBy: r.ended_by,
        endedAt: r.ended_at?.toISOString() ?? null,
        outcome: r.outcome,
        durationSeconds: r.ended_at
          ? Math.max(0, Math.round((r.ended_at.getTime() - r.started_at.getTime()) / 1000))
          : null,
      };
    });
  }

  /** The event an earlier request with this key wrote, if any (a retried click). */
  async eventByKey(caseId: string, key: string): Promise<CaseEvent | undefined> {
    return this.#eventByKey(this.pool, caseId, key);
  }

  /** Locks the case row for a call; only the operator working it (accepted by them) calls. */
  async #lockForCall(db: Db, id: string, actor: Actor, action: string): Promise<CaseState> {
    const { rows } = await db.query<{ state: string; assigned_to: string | null }>(
      `select state, assigned_to from ${this.#t.cases} where id = $1 for update`,
      [id],
    );
    const row = rows[0];
    if (!row) throw new CaseNotFoundError(id);
    const state = CaseState.parse(row.state);
    if (state !== 'accepted')
      throw new TransitionRefusedError(id, action, state, 'accept the case before calling anyone for it');
    if (!actor.override && row.assigned_to !== actor.id)
      throw new TransitionRefusedError(
        id,
        action,
        state,
        'another operator is working this case',
        row.assigned_to,
      );
    return state;
  }

  async #lockCase(db: Db, id: string): Promise<CaseState> {
    const { rows } = await db.query<{ state: string }>(
      `select state from ${this.#t.cases} where id = $1 for update`,
      [id],
    );
    if (!rows[0]) throw new CaseNotFoundError(id);
    return CaseState.parse(rows[0].state);
  }

  /**
   * Offers queued cases to available operators who have no offer or case in hand, most urgent
   * case first, longest-available operator first. One dispatcher at a time across instances.
   */
  async dispatch(now: Date, offerSeconds: number): Promise<CaseEvent[]> {
    return withTransaction(this.pool, async (db) => {
      const locked = await db.query<{ ok: boolean }>(
        'select pg_try_advisory_xact_lock(hashtextextended($1, 0)) as ok',
        [`${this.schema}:dispatch`],
      );
      if (!locked.rows[0]?.ok) return [];
      // Only people who are there: available by choice and with a console heard from just now.
      const { rows: free } = await db.query<{ user_id: string }>(
        `select p.user_id from "${this.schema}".presence p join "${this.schema}".users u on u.id = p.user_id
         where p.status = 'available' and u.role = 'operator'
           and ${this.consoles.connectedSql('p.user_id', '$1')}
           and not exists (select 1 from ${this.#t.cases} c
             where (c.state = 'offered' and c.offered_to = p.user_id)
                or (c.state = 'accepted' and c.assigned_to = p.user_id))
         order by p.since, p.user_id`,
        [now],
      );
      const events: CaseEvent[] = [];
      for (const { user_id: userId } of free) {
        // Not straight back to the operator who just let it go, unless nobody else can take it.
        const { rows } = await db.query<{ id: string }>(
          `select id from ${this.#t.cases}
           where state = 'queued' and not test_mode
           order by (last_offered_to is not distinct from $1 and $2), priority, raised_at, id
           limit 1 for update skip locked`,
          [userId, free.length > 1],
        );
        const next = rows[0];
        if (!next) break;
        await db.query(
          `update ${this.#t.cases} set state = 'offered', offered_to = $2, last_offered_to = $2,
             offer_expires_at = $3, updated_at = $4 where id = $1`,
          [next.id, userId, new Date(now.getTime() + offerSeconds * 1000), now],
        );
        events.push(
          this.#newEvent(
            next.id,
            'offered',
            { to: userId, expiresInSeconds: offerSeconds },
            SYSTEM_ACTOR,
            now,
          ),
        );
      }
      await this.#append(db, events);
      return events;
    });
  }

  /**
   * Offers go back to the queue when not accepted in time, and at once when the person they were
   * offered to is no longer there (set away, or no console connected); an operator may also decline one.
   */
  async expireOffers(now: Date, onlyCase?: { id: string; by: string }): Promise<CaseEvent[]> {
    const c = this.consoles;
    return withTransaction(this.pool, async (db) => {
      const { rows } = onlyCase
        ? await db.query<{ id: string; offered_to: string; reason: string }>(
            `update ${this.#t.cases} set state = 'queued', offered_to = null, offer_expires_at = null, updated_at = $1
             where id = $2 and state = 'offered' and offered_to = $3
             returning id, $3::text as offered_to, 'declined' as reason`,
            [now, onlyCase.id, onlyCase.by],
          )
        : await db.query<{ id: string; offered_to: string; reason: string }>(
            `with due as (select id, offered_to,
                 case when offer_expires_at <= $1 then 'not accepted in time'
                      when ${c.awaySql('offered_to')} then 'operator away'
                      else 'operator not connected' end as reason
               from ${this.#t.cases}
               where state = 'offered' and (offer_expires_at <= $1 or not ${c.thereSql('offered_to', '$1')})
               for update skip locked)
             update ${this.#t.cases} c set state = 'queued', offered_to = null, offer_expires_at = null, updated_at = $1
             from due where c.id = due.id returning c.id, due.offered_to, due.reason`,
            [now],
          );
      const events = rows.map((r) =>
        this.#newEvent(
          r.id,
          'offer-expired',
          { from: r.offered_to, reason: r.reason },
          onlyCase?.by ?? SYSTEM_ACTOR,
          now,
        ),
      );
      await this.#append(db, events);
      return events;
    });
  }

  /** Call-backs that are due: the case returns to the queue at its return priority. */
  async returnHolds(now: Date): Promise<CaseEvent[]> {
    return withTransaction(this.pool, async (db) => {
      const { rows } = await db.query<{
        id: string;
        priority: number;
        hold_reason: string;
        assigned_to: string | null;
      }>(
        `with due as (select id, hold_reason, assigned_to from ${this.#t.cases}
           where state = 'on_hold' and hold_until <= $1 for update skip locked)
         update ${this.#t.cases} c set state = 'queued', priority = coalesce(c.hold_return_priority, c.priority),
           hold_until = null, hold_reason = null, hold_return_priority = null, assigned_to = null,
           last_offered_to = null, updated_at = $1
         from due where c.id = due.id returning c.id, c.priority, due.hold_reason, due.assigned_to`,
        [now],
      );
      const events = rows.map((r) =>
        this.#newEvent(
          r.id,
          'requeued',
          { reason: 'call-back due', holdReason: r.hold_reason, priority: r.priority, heldBy: r.assigned_to },
          SYSTEM_ACTOR,
          now,
        ),
      );
      await this.#append(db, events);
      return events;
    });
  }

  /**
   * Moves unaccepted P1 cases up the escalation ladder: step n is reached `afterSeconds[n-1]`
   * after the case was raised. Each step is claimed once (conditional update) and recorded.
   */
  async escalate(
    now: Date,
    ladder: readonly { step: number; to: string; afterSeconds: number }[],
  ): Promise<CaseEvent[]> {
    return withTransaction(this.pool, async (db) => {
      const events: CaseEvent[] = [];
      for (const rung of ladder) {
        const { rows } = await db.query<{ id: string; waited: number }>(
          `update ${this.#t.cases} set escalation_step = $1, updated_at = $2
           where priority = 1 and state in ('queued', 'offered') and not test_mode
             and escalation_step < $1 and raised_at <= $3
           returning id, extract(epoch from ($2 - raised_at)) as waited`,
          [rung.step, now, new Date(now.getTime() - rung.afterSeconds * 1000)],
        );
        for (const r of rows)
          events.push(
            this.#newEvent(
              r.id,
              'escalated',
              {
                step: rung.step,
                to: rung.to,
                afterSeconds: rung.afterSeconds,
                waitedSeconds: Math.round(Number(r.waited)),
              },
              SYSTEM_ACTOR,
              now,
            ),
          );
      }
      await this.#append(db, events);
      return events;
    });
  }

  /**
   * Answer times of alarm calls (P1, P2) raised in [from, to) against the TSA targets. A call still
   * waiting counts against a target only once it has waited past it: one waiting 40 s is neither
   * met nor missed. Technical and maintenance cases (P3, P4) are not alarm calls and do not count.
   * Grouped overall, by priority, and by who first accepted each call.
   */
  async answerStats(from: Date, to: Date, now: Date): Promise<AnswerStats> {
    const t = this.#t;
    const { rows } = await this.pool.query<Record<string, unknown>>(
      `with s as (
         select c.priority, extract(epoch from (coalesce(c.accepted_at, $3) - c.raised_at)) as wait,
           c.accepted_at is not null as answered,
           (select e.actor from ${t.events} e where e.case_id = c.id and e.kind = 'accepted'
             order by e.seq limit 1) as by_user
         from ${t.cases} c where not c.test_mode and c.priority = any($4) and c.raised_at >= $1 and c.raised_at < $2
           and (c.accepted_at is not null or c.state in ('queued', 'offered')))
       select grouping(s.priority) = 0 as per_priority, grouping(s.by_user) = 0 as per_user,
         s.priority, s.by_user, max(u.display_name) as name,
         count(*) filter (where answered or wait > 60) as decided60,
         count(*) filter (where answered or wait > 180) as decided180,
         count(*) filter (where answered) as answered,
         count(*) filter (where answered and wait <= 60) as within60,
         count(*) filter (where answered and wait <= 180) as within180,
         count(*) filter (where not answered) as waiting,
         count(*) filter (where not answered and wait > 60) as waiting_over60,
         count(*) filter (where not answered and wait > 180) as waiting_over180,
         percentile_cont(0.5) within group (order by wait) filter (where answered) as p50,
         max(wait) filter (where answered) as max_wait
       from s left join "${this.schema}".users u on u.id = s.by_user
       group by grouping sets ((), (s.priority), (s.by_user))`,
      [from, to, now, ALARM_PRIORITIES],
    );
    let all = emptyFigures();
    const byPriority: Record<string, AnswerFigures> = {};
    const byOperator: AnswerStats['byOperator'] = [];
    for (const r of rows) {
      if (r.per_priority) byPriority[String(r.priority)] = figuresOf(r);
      else if (r.per_user) {
        // Unanswered calls belong to nobody: only answered ones are anyone's figures.
        if (typeof r.by_user === 'string') {
          const f = figuresOf(r);
          byOperator.push({
            userId: r.by_user,
            name: typeof r.name === 'string' ? r.name : r.by_user,
            ...f,
            total: f.answered,
            waiting: 0,
            waitingOver60: 0,
            waitingOver180: 0,
            within60s: { ...f.within60s, of: f.answered, ...pct(f.within60s.count, f.answered, 97.5) },
            within180s: { ...f.within180s, of: f.answered, ...pct(f.within180s.count, f.answered, 99) },
          });
        }
      } else all = figuresOf(r);
    }
    byOperator.sort((a, b) => b.answered - a.answered || a.userId.localeCompare(b.userId));
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      priorities: [...ALARM_PRIORITIES],
      ...all,
      byPriority,
      byOperator,
    };
  }

  /**
   * Alarm calls (P1, P2) still unanswered at 60 s and at 180 s: each step is claimed once by a
   * conditional update and recorded as `answer-target-missed`, so the console, the stream and
   * CASES see the moment a target is lost (not only the escalation ladder of a P1).
   */
  async missTargets(now: Date): Promise<CaseEvent[]> {
    return withTransaction(this.pool, async (db) => {
      const events: CaseEvent[] = [];
      for (const target of ANSWER_TARGETS) {
        const { rows } = await db.query<{ id: string; priority: number; waited: number }>(
          `update ${this.#t.cases} set answer_target_missed = $1, updated_at = $2
           where priority = any($4) and state in ('queued', 'offered') and not test_mode
             and accepted_at is null and coalesce(answer_target_missed, 0) < $1 and raised_at <= $3
           returning id, priority, extract(epoch from ($2 - raised_at)) as waited`,
          [target.seconds, now, new Date(now.getTime() - target.seconds * 1000), ALARM_PRIORITIES],
        );
        for (const r of rows)
          events.push(
            this.#newEvent(
              r.id,
              'answer-target-missed',
              {
                targetSeconds: target.seconds,
                step: target.seconds === 60 ? 1 : 2,
                priority: r.priority,
                waitedSeconds: Math.floor(Number(r.waited)),
              },
              SYSTEM_ACTOR,
              now,
            ),
          );
      }
      await this.#append(db, events);
      return events;
    });
  }

  /** The open queue by priority: what is waiting, for how long, and what is being worked. */
  async queueOverview(now: Date): Promise<QueueOverview> {
    const { rows } = await this.pool.query<Record<string, unknown>>(
      `select priority,
         count(*) filter (where state in ('queued', 'offered')) as waiting,
         count(*) filter (where state in ('queued', 'offered') and accepted_at is null) as unanswered,
         max(extract(epoch from ($1 - raised_at))) filter (where state in ('queued', 'offered') and accepted_at is null) as longest,
         (array_agg(id order by raised_at, id) filter (where state in ('queued', 'offered') and accepted_at is null))[1] as oldest,
         count(*) filter (where state = 'offered') as offered,
         count(*) filter (where state = 'accepted') as accepted,
         count(*) filter (where state = 'on_hold') as on_hold
       from ${this.#t.cases} where not test_mode and state = any($2) group by priority`,
      [now, OPEN_STATES],
    );
    const byPriority: Record<string, QueueFigures> = {};
    for (const p of [1, 2, 3, 4, 5])
      byPriority[String(p)] = {
        waiting: 0,
        unanswered: 0,
        longestWaitSeconds: null,
        oldestCaseId: null,
        offered: 0,
        accepted: 0,
        onHold: 0,
      };
    for (const r of rows)
      byPriority[String(r.priority)] = {
        waiting: Number(r.waiting),
        unanswered: Number(r.unanswered),
        longestWaitSeconds: r.longest === null ? null : Math.max(0, Math.floor(Number(r.longest))),
        oldestCaseId: typeof r.oldest === 'string' ? r.oldest : null,
        offered: Number(r.offered),
        accepted: Number(r.accepted),
        onHold: Number(r.on_hold),
      };
    const figures = Object.entries(byPriority);
    const longest = (list: [string, QueueFigures][]) =>
      list.reduce<number | null>(
        (m, [, f]) => (f.longestWaitSeconds === null ? m : Math.max(m ?? 0, f.longestWaitSeconds)),
        null,
      );
    const alarms = figures.filter(([p]) => (ALARM_PRIORITIES as readonly number[]).includes(Number(p)));
    return {
      waitingNow: figures.reduce((n, [, f]) => n + f.waiting, 0),
      longestWaitSeconds: longest(figures),
      alarmsWaiting: alarms.reduce((n, [, f]) => n + f.waiting, 0),
      alarmLongestWaitSeconds: longest(alarms),
      byPriority,
    };
  }

  /** Alarm calls waiting unanswered past an answer target, longest first. */
  async breaches(now: Date): Promise<Breach[]> {
    const { rows } = await this.pool.query<{
      id: string;
      resident_id: string;
      priority: number;
      type: string;
      state: string;
      raised_at: Date;
      waited: number;
      answer_target_missed: number;
    }>(
      `select id, resident_id, priority, type, state, raised_at, answer_target_missed,
         extract(epoch from ($1 - raised_at)) as waited
       from ${this.#t.cases} where not test_mode and state in ('queued', 'offered') and accepted_at is null
         and answer_target_missed is not null order by raised_at, id limit 200`,
      [now],
    );
    return rows.map((r) => ({
      caseId: r.id,
      residentId: r.resident_id,
      priority: r.priority,
      type: r.type,
      state: r.state,
      raisedAt: r.raised_at.toISOString(),
      waitedSeconds: Math.floor(Number(r.waited)),
      targetSeconds: r.answer_target_missed,
    }));
  }

  /** Who has which case: offers in hand, and cases accepted or on hold, per person. */
  async holders(): Promise<Map<string, { offered: string[]; working: string[] }>> {
    const { rows } = await this.pool.query<{ who: string; id: string; offered: boolean }>(
      `select coalesce(offered_to, assigned_to) as who, id, state = 'offered' as offered from ${this.#t.cases}
       where not test_mode and ((state = 'offered' and offered_to is not null)
         or (state in ('accepted', 'on_hold') and assigned_to is not null))
       order by raised_at, id`,
    );
    const out = new Map<string, { offered: string[]; working: string[] }>();
    for (const r of rows) {
      const entry = out.get(r.who) ?? { offered: [], working: [] };
      (r.offered ? entry.offered : entry.working).push(r.id);
      out.set(r.who, entry);
    }
    return out;
  }

  /** Every open case with its timers, for the restart test and the supervisor view. */
  async openCount(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `select count(*) as n from ${this.#t.cases} where not test_mode and state = any($1)`,
      [OPEN_STATES],
    );
    return Number(rows[0]?.n ?? 0);
  }

  #newEvent(
    caseId: string,
    kind: CaseEvent['kind'],
    data: Record<string, unknown>,
    actor: string,
    now: Date,
  ): CaseEvent {
    return { id: newId('cev', now.getTime()), caseId, at: now.toISOString(), actor, kind, data };
  }

  async #eventByKey(db: Db, caseId: string, key: string): Promise<CaseEvent | undefined> {
    const { rows } = await db.query(
      `select id, case_id, at, actor, kind, data from ${this.#t.events} where case_id = $1 and request_key = $2`,
      [caseId, key],
    );
    return rows[0] ? toEvent(rows[0]) : undefined;
  }

  /** Case events committed but not yet confirmed in CASES, oldest first. */
  async unpublished(limit: number): Promise<CaseEvent[]> {
    const { rows } = await this.pool.query(
      `select e.id, e.case_id, e.at, e.actor, e.kind, e.data
       from ${this.#t.outbox} o join ${this.#t.events} e on e.id = o.event_id
       order by e.seq limit $1`,
      [limit],
    );
    return rows.map(toEvent);
  }

  async markPublished(eventIds: readonly string[]): Promise<void> {
    if (eventIds.length === 0) return;
    await this.pool.query(`delete from ${this.#t.outbox} where event_id = any($1)`, [eventIds]);
  }

  async #append(db: Db, events: readonly CaseEvent[], requestKey?: string): Promise<void> {
    for (const e of events) {
      await db.query(
        `insert into ${this.#t.events} (id, case_id, at, actor, kind, data, request_key) values ($1, $2, $3, $4, $5, $6, $7)`,
        [e.id, e.caseId, e.at, e.actor, e.kind, JSON.stringify(e.data), requestKey ?? null],
      );
      await db.query(`insert into ${this.#t.outbox} (event_id) values ($1)`, [e.id]);
    }
  }

  async #whyNot(db: Db, id: string, action: Action, actor: Actor): Promise<Error> {
    const { rows } = await db.query<{ state: string; offered_to: string | null; assigned_to: string | null }>(
      `select state, offered_to, assigned_to from ${this.#t.cases} where id = $1`,
      [id],
    );
    const row = rows[0];
    if (!row) return new CaseNotFoundError(id);
    const state = CaseState.parse(row.state);
    if (allowed(action, state)) {
      if (state === 'offered' && row.offered_to !== actor.id)
        return new TransitionRefusedError(
          id,
          action,
          state,
          'the case is offered to another operator',
          row.offered_to,
        );
      if (row.assigned_to && row.assigned_to !== actor.id)
        return new TransitionRefusedError(
          id,
          action,
          state,
          'another operator has this case',
          row.assigned_to,
        );
      // The update matched nothing although the state allows it: it changed between the two statements.
      return new TransitionRefusedError(id, action, state, 'the case changed; reload it');
    }
    return new TransitionRefusedError(
      id,
      action,
      state,
      refusal(action, state),
      row.assigned_to ?? undefined,
    );
  }
}

const KIND: Record<Action, CaseEvent['kind']> = { accept: 'accepted', hold: 'held', resolve: 'resolved' };

/**
 * An alert (or a repeat press) joins its open case: the case takes the alert's priority and type
 * when it is more urgent, and a case on hold goes back to the queue, since the call-back cannot
 * wait for a resident who is pressing again.
 */
async function joinAlert(
  db: Db,
  cases: string,
  p: { caseId: string; raise: boolean; alert: Alert; raisedAt: Date; requeue: boolean; now: Date },
): Promise<void> {
  await db.query(
    `update ${cases} set
       priority = case when $2 then $3 else priority end,
       type = case when $2 then $4 else type end,
       last_alert_at = greatest(last_alert_at, $5),
       state = case when $6 then 'queued' else state end,
       hold_until = case when $6 then null else hold_until end,
       hold_reason = case when $6 then null else hold_reason end,
       hold_return_priority = case when $6 then null else hold_return_priority end,
       updated_at = $7
     where id = $1`,
    [p.caseId, p.raise, p.alert.priority, p.alert.type, p.raisedAt, p.requeue, p.now],
  );
}

import { Alert, CaseEvent, CaseState, EventTypeSchema, newId, Outcome, Priority } from '@telecare/contracts';
import { type Pool, withTransaction } from '@telecare/platform';
import type { QueryResult, QueryResultRow } from 'pg';
import { z } from 'zod';
import type { HelplineCase } from './api.ts';
import { CaseNotFoundError, TransitionRefusedError } from './errors.ts';
import type { ConsoleStore } from './presence.ts';
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
  ...pressesOf(row.alerts),
  deviceSerials: [...new Set(row.alerts.flatMap((a) => (a.deviceSerial ? [a.deviceSerial] : [])))],
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

/** Who acts, for the audit trail; `override` lets a supervisor or admin act on anyone's case. */
export interface Actor {
  readonly id: string;
  readonly override: boolean;
}

export interface AnswerStats {
  from: string;
  to: string;
  total: number;
  answered: number;
  waitingOver60: number;
  within60s: { count: number; percent: number | null; target: number; met: boolean };
  within180s: { count: number; percent: number | null; target: number; met: boolean };
  medianAnswerSeconds: number | null;
  maxAnswerSeconds: number | null;
}

/** The helpline's PostgreSQL schema: cases, the alerts that explain them and their audit trail. */
export class CaseStore {
  readonly #t: { cases: string; alerts: string; events: string; outbox: string };
  readonly #select: string;

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
        await db.query(
          `update ${t.cases} set
             priority = case when $2 then $3 else priority end,
             type = case when $2 then $4 else type end,
             last_alert_at = greatest(last_alert_at, $5),
             state = case when $6 then 'queued' else state end,
             hold_until = case when $6 then null else hold_until end,
             hold_reason = case when $6 then null else hold_reason end,
             hold_return_priority = case when $6 then null else hold_return_priority end,
             updated_at = $7
           where id = $1`,
          [caseId, raise, alert.priority, alert.type, raisedAt, requeue, now],
        );
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
    await db.query(
      `update ${t.cases} set
         priority = case when $2 then $3 else priority end,
         type = case when $2 then $4 else type end,
         last_alert_at = greatest(last_alert_at, $5),
         state = case when $6 then 'queued' else state end,
         hold_until = case when $6 then null else hold_until end,
         hold_reason = case when $6 then null else hold_reason end,
         hold_return_priority = case when $6 then null else hold_return_priority end,
         updated_at = $7
       where id = $1`,
      [caseId, raise, alert.priority, alert.type, new Date(alert.raisedAt), requeue, now],
    );
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
    return { case: toCase(row), testMode: row.test_mode };
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

  /** Answer times against the TSA targets: cases raised in [from, to), the unanswered ones counted by how long they have waited. */
  async answerStats(from: Date, to: Date, now: Date): Promise<AnswerStats> {
    const { rows } = await this.pool.query<Record<string, string | null>>(
      `with s as (
         select extract(epoch from (coalesce(accepted_at, $3) - raised_at)) as wait, accepted_at is not null as answered
         from ${this.#t.cases} where not test_mode and raised_at >= $1 and raised_at < $2
           and (accepted_at is not null or state in ('queued', 'offered')))
       select count(*) as total, count(*) filter (where answered) as answered,
         count(*) filter (where answered and wait <= 60) as within60,
         count(*) filter (where answered and wait <= 180) as within180,
         count(*) filter (where not answered and wait > 60) as waiting_over60,
         percentile_cont(0.5) within group (order by wait) filter (where answered) as p50,
         max(wait) filter (where answered) as max_wait
       from s`,
      [from, to, now],
    );
    const r = rows[0] ?? {};
    const total = Number(r.total ?? 0);
    const pct = (n: number) => (total === 0 ? null : Math.round((n / total) * 10000) / 100);
    const within60 = Number(r.within60 ?? 0);
    const within180 = Number(r.within180 ?? 0);
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      total,
      answered: Number(r.answered ?? 0),
      waitingOver60: Number(r.waiting_over60 ?? 0),
      within60s: {
        count: within60,
        percent: pct(within60),
        target: 97.5,
        met: total === 0 || within60 / total >= 0.975,
      },
      within180s: {
        count: within180,
        percent: pct(within180),
        target: 99,
        met: total === 0 || within180 / total >= 0.99,
      },
      medianAnswerSeconds: r.p50 === null || r.p50 === undefined ? null : Math.round(Number(r.p50) * 10) / 10,
      maxAnswerSeconds:
        r.max_wait === null || r.max_wait === undefined ? null : Math.round(Number(r.max_wait) * 10) / 10,
    };
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

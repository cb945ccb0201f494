import {
  Alert,
  type Case,
  CaseEvent,
  CaseState,
  EventTypeSchema,
  newId,
  Outcome,
  Priority,
} from '@telecare/contracts';
import { type Pool, withTransaction } from '@telecare/platform';
import type { QueryResult, QueryResultRow } from 'pg';
import { z } from 'zod';
import { CaseNotFoundError, TransitionRefusedError } from './errors.ts';
import { type Action, allowed, joins, moreUrgent, OPEN_STATES, refusal, TRANSITIONS } from './transitions.ts';

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

const toCase = (row: CaseRow): Case => ({
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
});

const toEvent = (row: unknown): CaseEvent => {
  const r = EventRow.parse(row);
  return { id: r.id, caseId: r.case_id, at: r.at.toISOString(), actor: r.actor, kind: r.kind, data: r.data };
};

/** A case as stored: the API view plus what the API does not show. */
export interface StoredCase {
  readonly case: Case;
  readonly testMode: boolean;
}

export type IngestResult =
  | { readonly outcome: 'duplicate'; readonly caseId: string }
  | { readonly outcome: 'opened' | 'joined' | 'test'; readonly caseId: string; readonly events: CaseEvent[] };

export type TransitionInput =
  | { action: 'accept' }
  | { action: 'hold'; until: Date; reason: string; returnPriority?: Priority | undefined }
  | { action: 'resolve'; outcome: Outcome; reason: string };

export const SYSTEM_ACTOR = 'helpline';

/** The helpline's PostgreSQL schema: cases, the alerts that explain them and their audit trail. */
export class CaseStore {
  readonly #t: { cases: string; alerts: string; events: string; outbox: string };
  readonly #select: string;

  constructor(
    private readonly pool: Pool,
    private readonly schema: string,
    private readonly joinWindowSeconds: number,
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

      let outcome: 'opened' | 'joined' | 'test';
      let caseId: string;
      const open = alert.testMode
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
        });
      } else {
        outcome = alert.testMode ? 'test' : 'opened';
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
            alert.testMode ? 'closed' : 'queued',
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
        });
        if (alert.testMode) event(caseId, 'closed', { reason: 'test-mode' });
      }
      await db.query(
        `insert into ${t.alerts} (alert_id, case_id, alert, received_at) values ($1, $2, $3, $4)`,
        [alert.id, caseId, JSON.stringify(alert), now],
      );
      await this.#append(db, events);
      return { outcome, caseId, events };
    });
  }

  async list(state: 'open' | 'all', limit: number): Promise<Case[]> {
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
   * An operator action as one conditional update: only a case in an allowed state changes, so
   * a double click or two operators racing produce exactly one case event.
   */
  async transition(
    id: string,
    input: TransitionInput,
    actor: string,
    now: Date,
  ): Promise<{ case: Case; event: CaseEvent }> {
    const t = this.#t;
    return withTransaction(this.pool, async (db) => {
      const from = TRANSITIONS[input.action].from;
      let updated: QueryResult;
      let data: Record<string, unknown> = {};
      switch (input.action) {
        case 'accept':
          updated = await db.query(
            `update ${t.cases} set state = 'accepted', accepted_at = coalesce(accepted_at, $2),
               hold_until = null, hold_reason = null, hold_return_priority = null, updated_at = $2
             where id = $1 and state = any($3) returning id`,
            [id, now, from],
          );
          break;
        case 'hold':
          updated = await db.query(
            `update ${t.cases} set state = 'on_hold', hold_until = $4, hold_reason = $5,
               hold_return_priority = $6, updated_at = $2
             where id = $1 and state = any($3) returning id`,
            [id, now, from, input.until, input.reason, input.returnPriority ?? null],
          );
          data = {
            until: input.until.toISOString(),
            reason: input.reason,
            ...(input.returnPriority ? { returnPriority: input.returnPriority } : {}),
          };
          break;
        case 'resolve':
          updated = await db.query(
            `update ${t.cases} set state = 'resolved', resolved_at = $2, outcome = $4, outcome_reason = $5,
               hold_until = null, hold_reason = null, hold_return_priority = null, updated_at = $2
             where id = $1 and state = any($3) returning id`,
            [id, now, from, input.outcome, input.reason],
          );
          data = { outcome: input.outcome, reason: input.reason };
          break;
      }
      if (updated.rowCount !== 1) throw await this.#whyNot(db, id, input.action);
      const event: CaseEvent = {
        id: newId('cev', now.getTime()),
        caseId: id,
        at: now.toISOString(),
        actor,
        kind: KIND[input.action],
        data,
      };
      await this.#append(db, [event]);
      const stored = await this.get(id, db);
      if (!stored) throw new CaseNotFoundError(id);
      return { case: stored.case, event };
    });
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

  async #append(db: Db, events: readonly CaseEvent[]): Promise<void> {
    for (const e of events) {
      await db.query(
        `insert into ${this.#t.events} (id, case_id, at, actor, kind, data) values ($1, $2, $3, $4, $5, $6)`,
        [e.id, e.caseId, e.at, e.actor, e.kind, JSON.stringify(e.data)],
      );
      await db.query(`insert into ${this.#t.outbox} (event_id) values ($1)`, [e.id]);
    }
  }

  async #whyNot(db: Db, id: string, action: Action): Promise<Error> {
    const { rows } = await db.query<{ state: string }>(`select state from ${this.#t.cases} where id = $1`, [
      id,
    ]);
    if (!rows[0]) return new CaseNotFoundError(id);
    const state = CaseState.parse(rows[0].state);
    // The update matched nothing although the state allows it: only possible if it changed between
    // the two statements; report the state we saw.
    return new TransitionRefusedError(
      id,
      action,
      state,
      allowed(action, state) ? 'the case changed; reload it' : refusal(action, state),
    );
  }
}

const KIND: Record<Action, CaseEvent['kind']> = { accept: 'accepted', hold: 'held', resolve: 'resolved' };

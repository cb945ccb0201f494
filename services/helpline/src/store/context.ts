import { type CaseEvent, newId } from '@telecare/contracts';
import type { Pool } from '@telecare/platform';
import type { QueryResult, QueryResultRow } from 'pg';
import type { CasePatch, CaseSnapshot, EventDraft } from '../core/model.ts';
import type { ConsoleStore } from '../presence.ts';
import { toEvent } from './rows.ts';

/** What both a pool and a client in a transaction can do. */
export interface Db {
  query<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/** The helpline's tables, qualified with its schema. */
export interface Tables {
  readonly cases: string;
  readonly alerts: string;
  readonly events: string;
  readonly outbox: string;
  readonly calls: string;
  readonly users: string;
  readonly presence: string;
  readonly handovers: string;
}

/** What every part of the store shares: the pool, the schema and its tables, who is there. */
export interface StoreContext {
  readonly pool: Pool;
  readonly schema: string;
  readonly t: Tables;
  /** Who is there: offers go only to them, and an offer to someone gone is anyone's to accept. */
  readonly consoles: ConsoleStore;
  readonly joinWindowSeconds: number;
}

export function tablesOf(schema: string): Tables {
  const q = (table: string) => `"${schema}".${table}`;
  return {
    cases: q('cases'),
    alerts: q('case_alerts'),
    events: q('case_events'),
    outbox: q('case_outbox'),
    calls: q('calls'),
    users: q('users'),
    presence: q('presence'),
    handovers: q('overflow_handovers'),
  };
}

export function newEvent(
  caseId: string,
  kind: CaseEvent['kind'],
  data: Record<string, unknown>,
  actor: string,
  now: Date,
): CaseEvent {
  return { id: newId('cev', now.getTime()), caseId, at: now.toISOString(), actor, kind, data };
}

/** The core's event drafts as case events: an id each, at `now`. */
export const stamp = (caseId: string, drafts: readonly EventDraft[], now: Date): CaseEvent[] =>
  drafts.map((d) => newEvent(caseId, d.kind, d.data, d.actor, now));

/** Appends case events and their outbox rows; the request key, if any, goes on the last one. */
export async function append(
  ctx: StoreContext,
  db: Db,
  events: readonly CaseEvent[],
  requestKey?: string,
): Promise<void> {
  for (const [i, e] of events.entries()) {
    await db.query(
      `insert into ${ctx.t.events} (id, case_id, at, actor, kind, data, request_key) values ($1, $2, $3, $4, $5, $6, $7)`,
      [
        e.id,
        e.caseId,
        e.at,
        e.actor,
        e.kind,
        JSON.stringify(e.data),
        i === events.length - 1 ? (requestKey ?? null) : null,
      ],
    );
    await db.query(`insert into ${ctx.t.outbox} (event_id) values ($1)`, [e.id]);
  }
}

/** The event an earlier request with this key wrote, if any (a retried click). */
export async function eventByKey(
  ctx: StoreContext,
  db: Db,
  caseId: string,
  key: string,
): Promise<CaseEvent | undefined> {
  const { rows } = await db.query(
    `select id, case_id, at, actor, kind, data from ${ctx.t.events} where case_id = $1 and request_key = $2`,
    [caseId, key],
  );
  return rows[0] ? toEvent(rows[0]) : undefined;
}

/**
 * Presence follows the accepted case, in the transaction that moves it. The operator it now goes
 * to is `busy` (an operator's own accept, or a supervisor's reassign of a case being worked); the
 * operator it leaves by someone else's hand (a supervisor's reassign, hold or resolve, or the case
 * back in the queue while their console was gone) is `available` again, as after letting it go
 * themselves, unless they still hold another accepted case. The queue offers nothing to someone
 * busy, so an operator left `busy` with nothing in hand sat at a free desk while alarms waited.
 * Only `busy` becomes `available` and only `available` becomes `busy`: a chosen `away` stays.
 */
export async function presenceFollows(
  ctx: StoreContext,
  db: Db,
  before: CaseSnapshot,
  patch: CasePatch,
  now: Date,
): Promise<void> {
  const state = patch.state ?? before.state;
  const holder = patch.assignedTo !== undefined ? patch.assignedTo : before.assignedTo;
  const was = before.state === 'accepted' ? before.assignedTo : null;
  const is = state === 'accepted' ? holder : null;
  if (was === is) return;
  if (was)
    await db.query(
      `update ${ctx.t.presence} p set status = 'available', since = $2
        where p.user_id = $1 and p.status = 'busy'
          and not exists (select 1 from ${ctx.t.cases} c
            where c.state = 'accepted' and c.assigned_to = $1 and c.id <> $3)`,
      [was, now, before.id],
    );
  if (is)
    await db.query(
      `update ${ctx.t.presence} p set status = 'busy', since = $2
        where p.user_id = $1 and p.status = 'available'
          and exists (select 1 from ${ctx.t.users} u where u.id = $1 and u.role = 'operator')`,
      [is, now],
    );
}

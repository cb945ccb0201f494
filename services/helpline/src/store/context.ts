import { type CaseEvent, newId } from '@telecare/contracts';
import type { Pool } from '@telecare/platform';
import type { QueryConfig, QueryResult, QueryResultRow } from 'pg';
import type { CasePatch, CaseSnapshot, EventDraft } from '../core/model.ts';
import { IdempotencyKeyReusedError } from '../errors.ts';
import type { ConsoleStore } from '../presence.ts';
import { toEvent } from './rows.ts';

/** What both a pool and a client in a transaction can do. */
export interface Db {
  query<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
  /** A prepared statement (`prepared`). */
  query<R extends QueryResultRow>(config: QueryConfig): Promise<QueryResult<R>>;
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

/** The request a key must have made for its step to answer this one: who, and which step. */
export interface KeyedRequest {
  readonly actor: string;
  /** The kinds of step the action writes last (the one the key goes on). */
  readonly kinds: readonly CaseEvent['kind'][];
  /** What else the step must match (the call a call's end names). */
  readonly matches?: (step: CaseEvent) => boolean;
}

/**
 * The step an earlier request with this key wrote, when it was this person's same action (a retried
 * click: answered with that step, nothing written again). A key another person's request, or another
 * action, wrote is refused (422): answered as done, this request would be lost, and the answer would
 * show someone else's step.
 */
export async function keptStep(
  ctx: StoreContext,
  db: Db,
  caseId: string,
  key: string,
  request: KeyedRequest,
): Promise<CaseEvent | undefined> {
  const done = await eventByKey(ctx, db, caseId, key);
  if (!done) return undefined;
  if (done.actor !== request.actor || !request.kinds.includes(done.kind) || request.matches?.(done) === false)
    throw new IdempotencyKeyReusedError(caseId);
  return done;
}

/**
 * Presence follows the accepted case, in the transaction that moves it. The operator it now goes
 * to is `busy` (an operator's own accept, or a supervisor's reassign of a case being worked); the
 * operator it leaves by someone else's hand (a supervisor's reassign, hold or resolve, or the case
 * back in the queue while their console was gone) is `available` again, as after letting it go
 * themselves, unless they still hold another accepted case. The queue offers nothing to someone
 * busy, so an operator left `busy` with nothing in hand sat at a free desk while alarms waited.
 * Only `busy` becomes `available` and only `available` becomes `busy`: a chosen `away` stays,
 * but for one's own accept (`acceptedBy`): someone who takes a call is there and on it, an
 * operator `busy` whatever they chose (and a first presence for one who never chose one), a
 * supervisor back from `away` to `available`. Set here, in
 * the accept's transaction, and not by the route after it: written after the commit, it could land
 * after a break taken at the same moment had sent the case back to the queue, leaving them `busy`
 * with nothing in hand.
 */
export async function presenceFollows(
  ctx: StoreContext,
  db: Db,
  before: CaseSnapshot,
  patch: CasePatch,
  now: Date,
  acceptedBy?: string,
): Promise<void> {
  const state = patch.state ?? before.state;
  const holder = patch.assignedTo !== undefined ? patch.assignedTo : before.assignedTo;
  const was = before.state === 'accepted' ? before.assignedTo : null;
  const is = state === 'accepted' ? holder : null;
  if (was === is) return;
  if (was) await freeWhenNothingInHand(ctx, db, was, now, before.id);
  if (is && is === acceptedBy) {
    await db.query(
      `insert into ${ctx.t.presence} as p (user_id, status, since)
         select $1, 'busy', $2 from ${ctx.t.users} u where u.id = $1 and u.role = 'operator'
       on conflict (user_id) do update set status = 'busy', since = excluded.since where p.status <> 'busy'`,
      [is, now],
    );
    // A supervisor is never offered cases, so never `busy`; one who chose away and takes a call is
    // there all the same, and an accepted case never sits with someone away.
    await db.query(
      `update ${ctx.t.presence} p set status = 'available', since = $2
        where p.user_id = $1 and p.status = 'away'
          and exists (select 1 from ${ctx.t.users} u where u.id = $1 and u.role = 'supervisor')`,
      [is, now],
    );
  } else if (is)
    await db.query(
      `update ${ctx.t.presence} p set status = 'busy', since = $2
        where p.user_id = $1 and p.status = 'available'
          and exists (select 1 from ${ctx.t.users} u where u.id = $1 and u.role = 'operator')`,
      [is, now],
    );
}

/**
 * A `busy` person with no accepted case in hand (other than `leaving`, the case letting go of them
 * in this transaction) is `available` again; with one still in hand they stay `busy`: availability
 * follows what they have in hand, not the last case they touched. The presence row is locked first
 * so the look at their cases is taken after any accept that holds it has committed: read in the
 * same statement as the update, a case accepted at that moment was missed and a person on a call
 * was made available.
 */
export async function freeWhenNothingInHand(
  ctx: StoreContext,
  db: Db,
  userId: string,
  now: Date,
  leaving: string | null = null,
): Promise<void> {
  const { rows } = await db.query<{ status: string }>(
    `select status from ${ctx.t.presence} where user_id = $1 for update`,
    [userId],
  );
  if (rows[0]?.status !== 'busy') return;
  await db.query(
    `update ${ctx.t.presence} p set status = 'available', since = $2
      where p.user_id = $1 and p.status = 'busy'
        and not exists (select 1 from ${ctx.t.cases} c
          where c.state = 'accepted' and c.assigned_to = $1 and c.id is distinct from $3)`,
    [userId, now, leaving],
  );
}

import type { CaseEvent } from '@telecare/contracts';
import { CALL_OUTCOMES } from '@telecare/contracts';
import { withTransaction } from '@telecare/platform';
import { z } from 'zod';
import { callingRefusal, decideCallEnd, decideCallStart } from '../core/calls.ts';
import type { Actor } from '../core/model.ts';
import { CallInProgressError, CallNotFoundError, TransitionRefusedError } from '../errors.ts';
import { CALL_PARTIES, type CallParty } from '../telephony.ts';
import { lockCase, refusalError } from './cases.ts';
import { append, type Db, keptStep, type StoreContext, stamp } from './context.ts';

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

/** A call placed, ready to record: what `place` answers once the phone system has had it. */
export interface PlacedCall {
  readonly call: NewCall;
  readonly at: Date;
}

/**
 * Places a call from the case (`place` asks the phone system) and records it: the call row and its
 * `call-started` event in one transaction, under the case's lock, by whoever works the case (the
 * case accepted by them, or a supervisor or admin). With a request key the key is claimed before
 * the phone rings, by a PostgreSQL advisory lock on the case and key held until the call is
 * recorded: a second start under the same key (a double click, a retry after a lost answer, on
 * any instance) waits for the first and is answered with its call, and only one call is placed.
 * One that waits past `waitMs` is told the call is still being placed (409). The lock goes with
 * the transaction, so a crash in between leaves nothing claimed.
 */
export async function placeCall(
  ctx: StoreContext,
  caseId: string,
  actor: Actor,
  requestKey: string | undefined,
  waitMs: number,
  place: () => Promise<PlacedCall>,
): Promise<{ event: CaseEvent; duplicate: boolean }> {
  if (!requestKey) {
    // Nothing to claim: the phone system is asked without holding a connection meanwhile.
    const { call, at } = await place();
    return withTransaction(ctx.pool, (db) => recordCall(ctx, db, caseId, call, actor, at));
  }
  return withTransaction(ctx.pool, async (db) => {
    await claimKey(ctx, db, caseId, requestKey, waitMs);
    const done = await keptStep(ctx, db, caseId, requestKey, { actor: actor.id, kinds: ['call-started'] });
    if (done) return { event: done, duplicate: true };
    const { call, at } = await place();
    return recordCall(ctx, db, caseId, call, actor, at, requestKey);
  });
}

/** Waits (at most `waitMs`) for the case's `key` to be free, and holds it to the end of the transaction. */
async function claimKey(ctx: StoreContext, db: Db, caseId: string, key: string, waitMs: number) {
  const { rows } = await db.query<{ before: string }>(
    `select current_setting('lock_timeout') as before, set_config('lock_timeout', $1, true)`,
    [`${Math.max(1, Math.round(waitMs))}ms`],
  );
  try {
    await db.query('select pg_advisory_xact_lock(hashtext($1), hashtext($2))', [
      `${ctx.schema}:call:${caseId}`,
      key,
    ]);
  } catch (err) {
    if (typeof err === 'object' && err !== null && 'code' in err && err.code === LOCK_NOT_AVAILABLE)
      throw new CallInProgressError(caseId);
    throw err;
  }
  // The case's own lock, taken later in the transaction, waits as any other would.
  await db.query(`select set_config('lock_timeout', $1, true)`, [rows[0]?.before ?? '0']);
}

/** PostgreSQL's SQLSTATE for a lock not taken within `lock_timeout`. */
const LOCK_NOT_AVAILABLE = '55P03';

/** The call row and its `call-started` event, under the case's lock, in the caller's transaction. */
async function recordCall(
  ctx: StoreContext,
  db: Db,
  caseId: string,
  call: NewCall,
  actor: Actor,
  now: Date,
  requestKey?: string,
): Promise<{ event: CaseEvent; duplicate: boolean }> {
  const c = await lockCase(ctx, db, caseId, now);
  const d = decideCallStart(c, call, actor);
  if (!d.ok) throw refusalError(caseId, c.state, d);
  await db.query(
    `insert into ${ctx.t.calls} (id, case_id, party, responder_id, device_serial, scheme, via, pbx_reference,
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
  const events = stamp(caseId, d.events, now);
  await append(ctx, db, events, requestKey);
  return { event: events.at(-1) as CaseEvent, duplicate: false };
}

/**
 * Ends a call started from the case: a `call-ended` event with its outcome and duration. With a
 * `record` (a responder's answer, a 999 call) the record is written in the same transaction,
 * naming the call and its duration, and must match the call's party. Only the person who started
 * the call (or a supervisor or admin) ends it, once. Answers the last event written.
 */
export async function endCall(
  ctx: StoreContext,
  caseId: string,
  callId: string,
  end: { outcome: CallOutcome; note?: string | undefined },
  actor: Actor,
  now: Date,
  requestKey?: string,
  record?: { kind: 'responder-called' | 'emergency-called'; data: Record<string, unknown> },
): Promise<{ event: CaseEvent; duplicate: boolean }> {
  return withTransaction(ctx.pool, async (db) => {
    if (requestKey) {
      // The same end of the same call (with the same record, if any), or refused.
      const done = await keptStep(ctx, db, caseId, requestKey, {
        actor: actor.id,
        kinds: [record?.kind ?? 'call-ended'],
        matches: (step) => step.data.callId === callId,
      });
      if (done) return { event: done, duplicate: true };
    }
    const c = await lockCase(ctx, db, caseId, now);
    const { rows } = await db.query<{
      party: CallParty;
      responder_id: string | null;
      started_by: string;
      started_at: Date;
      ended_at: Date | null;
    }>(
      `select party, responder_id, started_by, started_at, ended_at from ${ctx.t.calls}
       where id = $1 and case_id = $2 for update`,
      [callId, caseId],
    );
    const row = rows[0];
    // A refusal of the case (not accepted, someone else's) comes before a call that is not there.
    const call = row && {
      party: row.party,
      responderId: row.responder_id,
      startedBy: row.started_by,
      startedAt: row.started_at,
      endedAt: row.ended_at,
    };
    if (!call) {
      const why = record ? callingRefusal(c, actor) : undefined;
      if (why) throw new TransitionRefusedError(caseId, 'call', c.state, why.reason, why.holder);
      throw new CallNotFoundError(caseId, callId);
    }
    const d = decideCallEnd(c, callId, call, { ...end, record }, actor, now);
    if (!d.ok) throw refusalError(caseId, c.state, d);
    await db.query(`update ${ctx.t.calls} set ended_at = $2, ended_by = $3, outcome = $4 where id = $1`, [
      callId,
      now,
      actor.id,
      end.outcome,
    ]);
    // The request key goes on the last event: a retry finds it and writes nothing.
    const events = stamp(caseId, d.events, now);
    await append(ctx, db, events, requestKey);
    return { event: events.at(-1) as CaseEvent, duplicate: false };
  });
}

/** The calls made from a case, oldest first. */
export async function calls(ctx: StoreContext, caseId: string): Promise<CallRecord[]> {
  const { rows } = await ctx.pool.query(
    `select * from ${ctx.t.calls} where case_id = $1 order by started_at, id`,
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

import { type CaseEvent, CaseState } from '@telecare/contracts';
import { withTransaction } from '@telecare/platform';
import { z } from 'zod';
import { CALL_OUTCOMES } from '../api.ts';
import type { Actor } from '../core/model.ts';
import { CallNotFoundError, CaseNotFoundError, TransitionRefusedError } from '../errors.ts';
import { CALL_PARTIES, type CallParty } from '../telephony.ts';
import { append, type Db, eventByKey, newEvent, type StoreContext } from './context.ts';

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

/**
 * A call started from the case, by whoever works it (the case accepted by them, or a supervisor
 * or admin): the call row and its `call-started` event in one transaction, under the case's lock.
 */
export async function startCall(
  ctx: StoreContext,
  caseId: string,
  call: NewCall,
  actor: Actor,
  now: Date,
  requestKey?: string,
): Promise<{ event: CaseEvent; duplicate: boolean }> {
  return withTransaction(ctx.pool, async (db) => {
    if (requestKey) {
      const done = await eventByKey(ctx, db, caseId, requestKey);
      if (done) return { event: done, duplicate: true };
    }
    await lockForCall(ctx, db, caseId, actor, 'call');
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
    const event = newEvent(
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
    await append(ctx, db, [event], requestKey);
    return { event, duplicate: false };
  });
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
      const done = await eventByKey(ctx, db, caseId, requestKey);
      if (done) return { event: done, duplicate: true };
    }
    const state = record
      ? await lockForCall(ctx, db, caseId, actor, 'call')
      : await lockCase(ctx, db, caseId);
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
    const call = rows[0];
    if (!call) throw new CallNotFoundError(caseId, callId);
    if (state === 'closed') throw new TransitionRefusedError(caseId, 'end-call', state, 'the case is closed');
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
      throw new TransitionRefusedError(caseId, 'end-call', state, 'that call was not to emergency services');
    const durationSeconds = Math.max(0, Math.round((now.getTime() - call.started_at.getTime()) / 1000));
    await db.query(`update ${ctx.t.calls} set ended_at = $2, ended_by = $3, outcome = $4 where id = $1`, [
      callId,
      now,
      actor.id,
      end.outcome,
    ]);
    const events = [
      newEvent(
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
      events.push(newEvent(caseId, record.kind, { ...record.data, callId, durationSeconds }, actor.id, now));
    // The request key goes on the last event: a retry finds it and writes nothing.
    const first = events.slice(0, -1);
    const last = events.at(-1) as CaseEvent;
    await append(ctx, db, first);
    await append(ctx, db, [last], requestKey);
    return { event: last, duplicate: false };
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

/** Locks the case row for a call; only the operator working it (accepted by them) calls. */
async function lockForCall(
  ctx: StoreContext,
  db: Db,
  id: string,
  actor: Actor,
  action: string,
): Promise<CaseState> {
  const { rows } = await db.query<{ state: string; assigned_to: string | null }>(
    `select state, assigned_to from ${ctx.t.cases} where id = $1 for update`,
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

async function lockCase(ctx: StoreContext, db: Db, id: string): Promise<CaseState> {
  const { rows } = await db.query<{ state: string }>(
    `select state from ${ctx.t.cases} where id = $1 for update`,
    [id],
  );
  if (!rows[0]) throw new CaseNotFoundError(id);
  return CaseState.parse(rows[0].state);
}

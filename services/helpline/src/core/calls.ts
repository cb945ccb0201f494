import type { Actor, CaseSnapshot, Decision, EventDraft } from './model.ts';

/** Who may call for a case: the operator who accepted it, or a supervisor or admin. */
export function callingRefusal(
  c: Pick<CaseSnapshot, 'state' | 'assignedTo'>,
  actor: Actor,
): { reason: string; holder?: string | null } | undefined {
  if (c.state !== 'accepted') return { reason: 'accept the case before calling anyone for it' };
  if (!actor.override && c.assignedTo !== actor.id)
    return { reason: 'another operator is working this case', holder: c.assignedTo };
  return undefined;
}

/** A call about to start: who is called, and how (the number is never kept: the party says whom). */
export interface CallStart {
  readonly id: string;
  readonly party: string;
  readonly responderId?: string | undefined;
  readonly deviceSerial?: string | undefined;
  readonly scheme: string;
  readonly via: string;
  readonly pbxReference?: string | null | undefined;
  /** Why the phone system did not place it, when it was asked to and failed. */
  readonly pbxFailed?: string | undefined;
}

/** A call started from the case, as stored. */
export interface CallSnapshot {
  readonly party: string;
  readonly responderId: string | null;
  readonly startedBy: string;
  readonly startedAt: Date;
  readonly endedAt: Date | null;
}

/** What ends a call: its outcome, and the responder's answer or the 999 record it closes. */
export interface CallEnd {
  readonly outcome: string;
  readonly note?: string | undefined;
  readonly record?:
    | { readonly kind: 'responder-called' | 'emergency-called'; readonly data: Record<string, unknown> }
    | undefined;
}

const refused = (action: string, reason: string, holder?: string | null): Decision => ({
  ok: false,
  refused: 'state',
  action,
  reason,
  ...(holder !== undefined ? { holder } : {}),
});

/** Starting a call from the case: a `call-started` step naming the party, never the number. */
export function decideCallStart(c: CaseSnapshot, call: CallStart, actor: Actor): Decision {
  const why = callingRefusal(c, actor);
  if (why) return refused('call', why.reason, why.holder);
  const data = {
    callId: call.id,
    party: call.party,
    ...(call.responderId ? { responderId: call.responderId } : {}),
    ...(call.deviceSerial ? { deviceSerial: call.deviceSerial } : {}),
    scheme: call.scheme,
    via: call.via,
    ...(call.pbxReference ? { pbxReference: call.pbxReference } : {}),
    ...(call.pbxFailed ? { pbxFailed: call.pbxFailed } : {}),
  };
  return { ok: true, patch: {}, events: [{ kind: 'call-started', actor: actor.id, data }] };
}

/**
 * Ending a call: once, by whoever started it (or a supervisor or admin), with its duration; with a
 * record (a responder's answer, a 999 call) that must match the call's party, written after it.
 */
export function decideCallEnd(
  c: CaseSnapshot,
  callId: string,
  call: CallSnapshot,
  end: CallEnd,
  actor: Actor,
  now: Date,
): Decision {
  const action = end.record ? 'call' : 'end-call';
  if (end.record) {
    const why = callingRefusal(c, actor);
    if (why) return refused(action, why.reason, why.holder);
  }
  if (c.state === 'closed') return refused('end-call', 'the case is closed');
  if (call.endedAt) return refused('end-call', 'the call has already ended');
  if (!actor.override && call.startedBy !== actor.id)
    return refused('end-call', 'another operator made this call');
  const record = end.record;
  if (
    record?.kind === 'responder-called' &&
    (call.party !== 'responder' || call.responderId !== record.data.responderId)
  )
    return refused('end-call', 'that call was not to this responder');
  if (record?.kind === 'emergency-called' && call.party !== 'emergency')
    return refused('end-call', 'that call was not to emergency services');
  const durationSeconds = Math.max(0, Math.round((now.getTime() - call.startedAt.getTime()) / 1000));
  const events: EventDraft[] = [
    {
      kind: 'call-ended',
      actor: actor.id,
      data: {
        callId,
        party: call.party,
        ...(call.responderId ? { responderId: call.responderId } : {}),
        outcome: end.outcome,
        durationSeconds,
        ...(end.note ? { note: end.note } : {}),
      },
    },
  ];
  if (record)
    events.push({ kind: record.kind, actor: actor.id, data: { ...record.data, callId, durationSeconds } });
  return { ok: true, patch: {}, events };
}

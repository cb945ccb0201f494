import { describe, expect, it } from 'vitest';
import { type CallSnapshot, decideCallEnd, decideCallStart } from './calls.ts';
import type { Actor, CaseSnapshot } from './model.ts';

const T0 = Date.parse('2026-12-01T02:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000);
const op: Actor = { id: 'usr_op1', override: false };
const other: Actor = { id: 'usr_op2', override: false };
const sup: Actor = { id: 'usr_sup', override: true };

const accepted: CaseSnapshot = {
  id: 'case_1',
  residentId: 'res_1',
  state: 'accepted',
  priority: 1,
  type: 'pendant.pressed',
  raisedAt: at(0),
  lastAlertAt: at(0),
  acceptedAt: at(20),
  testMode: false,
  offeredTo: null,
  offerExpiresAt: null,
  offeredToPresent: false,
  offeredToAway: false,
  offeredToBusy: false,
  escalationStep: 0,
  answerTargetMissed: null,
  assignedTo: op.id,
  holderPresent: true,
  holderAway: false,
  holderSignedIn: true,
  holderGoneSince: null,
  operatorGoneAt: null,
  requeuedAt: null,
  priorityRaisedAt: null,
  hold: null,
  faultRepeats: null,
  alerts: { count: 0, presses: 0, lastPressAt: null, lastPressIndex: null, raisers: {} },
};
const toResponder: CallSnapshot = {
  party: 'responder',
  responderId: 'rsp_1',
  startedBy: op.id,
  startedAt: at(30),
  endedAt: null,
};

describe('calls from a case', () => {
  it('starts a call only for whoever holds the accepted case, naming the party and never a number', () => {
    const call = { id: 'call_1', party: 'home-unit', deviceSerial: 'PX-1', scheme: 'tel', via: 'browser' };
    const d = decideCallStart(accepted, call, op);
    expect(d).toEqual({
      ok: true,
      patch: {},
      events: [
        {
          kind: 'call-started',
          actor: op.id,
          data: { callId: 'call_1', party: 'home-unit', deviceSerial: 'PX-1', scheme: 'tel', via: 'browser' },
        },
      ],
    });
    expect(decideCallStart(accepted, call, other)).toMatchObject({ ok: false, holder: op.id });
    expect(decideCallStart({ ...accepted, state: 'on_hold' }, call, sup)).toMatchObject({
      ok: false,
      reason: 'accept the case before calling anyone for it',
    });
  });

  it('ends a call once, with its duration, and writes the responder’s answer after it', () => {
    const record = { kind: 'responder-called' as const, data: { responderId: 'rsp_1', result: 'accepted' } };
    const d = decideCallEnd(accepted, 'call_1', toResponder, { outcome: 'answered', record }, op, at(95));
    if (!d.ok) throw new Error(d.reason);
    expect(d.events.map((e) => [e.kind, e.data.durationSeconds])).toEqual([
      ['call-ended', 65],
      ['responder-called', 65],
    ]);
    expect(
      decideCallEnd(
        accepted,
        'call_1',
        { ...toResponder, endedAt: at(60) },
        { outcome: 'answered' },
        op,
        at(95),
      ),
    ).toMatchObject({ ok: false, reason: 'the call has already ended' });
    expect(
      decideCallEnd(accepted, 'call_1', toResponder, { outcome: 'answered' }, other, at(95)),
    ).toMatchObject({
      ok: false,
      reason: 'another operator made this call',
    });
    const wrong = { kind: 'responder-called' as const, data: { responderId: 'rsp_2' } };
    expect(
      decideCallEnd(accepted, 'call_1', toResponder, { outcome: 'answered', record: wrong }, op, at(95)),
    ).toMatchObject({ ok: false, reason: 'that call was not to this responder' });
  });
});

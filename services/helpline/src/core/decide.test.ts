import { type Alert, alertIdFor, type CaseFact, type CaseState, type Priority } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyPatch, decideAlert } from './alerts.ts';
import { decide } from './decide.ts';
import type { Actor, CaseSnapshot, Command, Decision } from './model.ts';
import { isOpen } from './transitions.ts';

const T0 = Date.parse('2026-12-01T02:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000);
const iso = (s: number) => at(s).toISOString();
const op: Actor = { id: 'usr_op1', override: false };
const other: Actor = { id: 'usr_op2', override: false };
const sup: Actor = { id: 'usr_sup', override: true };

let n = 0;
const press = (s: number, over: Partial<Alert> = {}): Alert => {
  n += 1;
  return {
    id: alertIdFor('pendant', 'res_1', `evt_${n}`),
    residentId: 'res_1',
    priority: 1,
    type: 'pendant.pressed',
    raisedAt: iso(s),
    rule: { id: 'pendant', version: 1 },
    evidence: [`evt_${n}`],
    thresholds: {},
    reason: 'Pendant pressed',
    late: false,
    testMode: false,
    ...over,
  };
};

const caseOf = (over: Partial<CaseSnapshot> = {}): CaseSnapshot => {
  const first = press(0);
  return {
    id: 'case_1',
    residentId: 'res_1',
    state: 'queued',
    priority: 1,
    type: 'pendant.pressed',
    raisedAt: at(0),
    lastAlertAt: at(0),
    acceptedAt: null,
    testMode: false,
    offeredTo: null,
    offeredToPresent: false,
    assignedTo: null,
    hold: null,
    alerts: [first],
    ...over,
  };
};

const ok = (d: Decision) => {
  if (!d.ok) throw new Error(`refused: ${d.reason}`);
  return d;
};

describe('decide: operator commands', () => {
  it('accepts a waiting case with its answer time, and refuses it to others once taken', () => {
    const d = ok(decide(caseOf(), { kind: 'accept', actor: op }, at(42)));
    expect(d.patch).toMatchObject({
      state: 'accepted',
      acceptedAt: at(42),
      assignedTo: op.id,
      offeredTo: null,
    });
    expect(d.events).toEqual([{ kind: 'accepted', actor: op.id, data: { answerSeconds: 42 } }]);
    const held = caseOf({ state: 'on_hold', assignedTo: op.id, acceptedAt: at(42) });
    expect(decide(held, { kind: 'accept', actor: other }, at(90))).toMatchObject({
      ok: false,
      refused: 'state',
      reason: 'another operator has this case',
      holder: op.id,
    });
    // The first answer counts: taking a case back from hold keeps its answer time.
    expect(ok(decide(held, { kind: 'accept', actor: op }, at(90))).events[0]?.data).toEqual({
      answerSeconds: 42,
    });
  });

  it('lets anyone take a case offered to someone who is no longer there, and nobody one offered to someone who is', () => {
    const offered = caseOf({ state: 'offered', offeredTo: other.id, offeredToPresent: true });
    expect(decide(offered, { kind: 'accept', actor: op }, at(5))).toMatchObject({
      ok: false,
      reason: 'the case is offered to another operator',
    });
    expect(decide({ ...offered, offeredToPresent: false }, { kind: 'accept', actor: op }, at(5)).ok).toBe(
      true,
    );
    expect(decide(offered, { kind: 'accept', actor: sup }, at(5)).ok).toBe(true);
  });

  it('refuses what the state does not allow, in words', () => {
    expect(
      decide(caseOf(), { kind: 'resolve', actor: op, outcome: 'false-alarm', reason: 'x' }, at(1)),
    ).toMatchObject({
      ok: false,
      refused: 'state',
      reason: 'accept the case before resolving it',
    });
    expect(
      decide(caseOf({ state: 'resolved' }), { kind: 'hold', actor: op, until: at(900), reason: 'x' }, at(1)),
    ).toMatchObject({ ok: false, reason: 'the case is already resolved' });
  });

  it('reassigns a waiting case as an offer and a case in hand to its new holder', () => {
    const cmd: Command = { kind: 'reassign', actor: sup, to: 'usr_op3', reason: 'r', offerSeconds: 20 };
    expect(ok(decide(caseOf(), cmd, at(10))).patch).toEqual({
      state: 'offered',
      offeredTo: 'usr_op3',
      lastOfferedTo: 'usr_op3',
      offerExpiresAt: at(30),
    });
    const worked = caseOf({ state: 'accepted', assignedTo: op.id });
    const d = ok(decide(worked, cmd, at(10)));
    expect(d.patch).toEqual({ assignedTo: 'usr_op3' });
    expect(d.events[0]?.data).toEqual({ from: op.id, to: 'usr_op3', reason: 'r' });
    expect(decide(caseOf({ state: 'closed' }), cmd, at(10))).toMatchObject({
      ok: false,
      reason: 'the case is already closed',
    });
  });
});

describe('decide: recorded work', () => {
  const accepted = caseOf({ state: 'accepted', assignedTo: op.id });
  const rec = (actor: Actor, event: 'note' | 'responder-called' | 'revealed'): Command => ({
    kind: 'record',
    actor,
    event,
    data: { text: 'x' },
  });

  it('takes a note on any case but a closed one, and leaves the case as it is', () => {
    expect(ok(decide(caseOf({ state: 'resolved' }), rec(other, 'note'), at(9)))).toEqual({
      ok: true,
      patch: {},
      events: [{ kind: 'note', actor: other.id, data: { text: 'x' } }],
    });
    expect(decide(caseOf({ state: 'closed' }), rec(op, 'note'), at(9))).toMatchObject({ ok: false });
  });

  it('records calls only on a case accepted by the actor, and reveals only to whoever holds it', () => {
    expect(decide(caseOf(), rec(op, 'responder-called'), at(9))).toMatchObject({
      ok: false,
      reason: 'accept the case before calling anyone for it',
    });
    expect(decide(accepted, rec(other, 'responder-called'), at(9))).toMatchObject({
      ok: false,
      reason: 'another operator is working this case',
    });
    expect(decide(accepted, rec(op, 'responder-called'), at(9)).ok).toBe(true);
    expect(decide({ ...accepted, state: 'on_hold' }, rec(op, 'revealed'), at(9)).ok).toBe(true);
    expect(decide(accepted, rec(other, 'revealed'), at(9))).toMatchObject({
      ok: false,
      reason: 'only the operator holding the case reads these fields',
    });
    expect(decide({ ...accepted, state: 'resolved' }, rec(sup, 'revealed'), at(9))).toMatchObject({
      ok: false,
      reason: 'the case is resolved',
    });
  });
});

describe('decide: a call-back due', () => {
  it('returns the held case to the queue at its return priority, for whoever is free', () => {
    const held = caseOf({
      state: 'on_hold',
      priority: 1,
      assignedTo: op.id,
      hold: { until: at(600), reason: 'ring back after the GP', returnPriority: 2 },
    });
    expect(decide(held, { kind: 'call-back-due' }, at(599))).toMatchObject({ ok: false });
    const d = ok(decide(held, { kind: 'call-back-due' }, at(600)));
    expect(d.patch).toMatchObject({ state: 'queued', priority: 2, holdUntil: null, assignedTo: null });
    expect(d.events[0]?.data).toEqual({
      reason: 'call-back due',
      holdReason: 'ring back after the GP',
      priority: 2,
      heldBy: op.id,
    });
  });
});

describe('decide: facts', () => {
  const accepted = caseOf({ state: 'accepted', assignedTo: op.id, acceptedAt: at(20) });
  const floor: CaseFact = { fact: 'found-on-floor', at: iso(600), onFloorMinutes: 45, source: 'responder' };

  it('records a fact as a fact-recorded step whose data is the fact itself', () => {
    const d = ok(decide(accepted, { kind: 'record-fact', actor: op, facts: [floor] }, at(700)));
    expect(d.patch).toEqual({});
    expect(d.events).toEqual([{ kind: 'fact-recorded', actor: op.id, data: floor }]);
  });

  it('refuses a time after now (beyond a minute of clock skew) or before the raise as invalid input', () => {
    const future = decide(
      accepted,
      { kind: 'record-fact', actor: op, facts: [{ fact: 'admitted', at: iso(800) }] },
      at(700),
    );
    expect(future).toMatchObject({ ok: false, refused: 'invalid' });
    expect(
      decide(
        accepted,
        { kind: 'record-fact', actor: op, facts: [{ fact: 'admitted', at: iso(730) }] },
        at(700),
      ).ok,
    ).toBe(true);
    expect(
      decide(
        accepted,
        { kind: 'record-fact', actor: op, facts: [{ fact: 'admitted', at: iso(-1) }] },
        at(700),
      ),
    ).toMatchObject({
      ok: false,
      refused: 'invalid',
      reason: expect.stringMatching(/before the case was raised/),
    });
  });

  it('is for the holder or a supervisor, on a case in hand or resolved', () => {
    const cmd = (actor: Actor): Command => ({ kind: 'record-fact', actor, facts: [floor] });
    expect(decide(accepted, cmd(other), at(700))).toMatchObject({
      ok: false,
      refused: 'state',
      holder: op.id,
    });
    expect(decide(accepted, cmd(sup), at(700)).ok).toBe(true);
    expect(decide(caseOf(), cmd(op), at(700))).toMatchObject({
      ok: false,
      reason: 'accept the case before recording what happened',
    });
    expect(decide({ ...accepted, state: 'resolved' }, cmd(op), at(700)).ok).toBe(true);
    expect(decide({ ...accepted, state: 'closed' }, cmd(sup), at(700))).toMatchObject({
      ok: false,
      reason: 'the case is closed',
    });
  });

  it('resolves with the facts first and the resolution last', () => {
    const d = ok(
      decide(
        accepted,
        {
          kind: 'resolve',
          actor: op,
          outcome: 'ambulance',
          reason: 'fall',
          facts: [floor, { fact: 'ambulance-conveyed', at: iso(650) }],
        },
        at(700),
      ),
    );
    expect(d.events.map((e) => e.kind)).toEqual(['fact-recorded', 'fact-recorded', 'resolved']);
    expect(d.patch).toMatchObject({ state: 'resolved', resolvedAt: at(700), outcome: 'ambulance' });
  });
});

describe('decideAlert', () => {
  it('joins the open case within the window, raising its priority and bringing it back from hold', () => {
    const open = caseOf({ state: 'on_hold', priority: 3, type: 'mains.lost', assignedTo: op.id });
    const d = decideAlert({ openCase: open }, press(60), at(61), 900);
    expect(d).toMatchObject({ into: 'existing', outcome: 'joined', caseId: 'case_1' });
    if (d.into !== 'existing') throw new Error('expected a join');
    expect(d.patch).toMatchObject({ priority: 1, type: 'pendant.pressed', state: 'queued', holdUntil: null });
    expect(d.events[0]?.data).toMatchObject({ priorityRaisedFrom: 3, requeuedFromHold: true });
  });

  it('opens a new case past the window, and keeps test-mode and record-only alerts in closed cases of their own', () => {
    expect(decideAlert({ openCase: caseOf() }, press(901), at(901), 900)).toMatchObject({
      into: 'new',
      outcome: 'opened',
    });
    const test = decideAlert({ openCase: caseOf() }, press(5, { testMode: true }), at(5), 900);
    expect(test).toMatchObject({
      into: 'new',
      outcome: 'test',
      newCase: { state: 'closed', testMode: true },
    });
    const record = decideAlert(
      { openCase: caseOf() },
      press(5, { priority: 5, type: 'door.opened' }),
      at(5),
      900,
    );
    expect(record).toMatchObject({ into: 'new', outcome: 'record', newCase: { state: 'closed' } });
    expect(record.events.map((e) => e.kind)).toEqual(['opened', 'closed']);
  });

  it('resolves an unaccepted case whose every alert the resident cancelled', () => {
    const c = caseOf();
    const first = c.alerts[0] as Alert;
    const cancel = press(20, {
      priority: 5,
      type: 'alarm.cancelled',
      closes: { alertId: first.id, outcome: 'false-alarm' },
    });
    const d = decideAlert({ closesCase: c }, cancel, at(21), 900);
    expect(d).toMatchObject({ into: 'existing', outcome: 'closing', autoResolved: 'false-alarm' });
    expect(d.events.map((e) => e.kind)).toEqual(['alert-joined', 'resolved']);
  });
});

// --- properties -------------------------------------------------------------------------------

const actors = fc.constantFrom(op, other, sup);
const commands: fc.Arbitrary<Command> = fc.oneof(
  actors.map((actor): Command => ({ kind: 'accept', actor })),
  actors.map((actor): Command => ({ kind: 'hold', actor, until: at(110), reason: 'call back' })),
  actors.map((actor): Command => ({ kind: 'resolve', actor, outcome: 'reassurance-given', reason: 'fine' })),
  actors.map(
    (actor): Command => ({ kind: 'record-fact', actor, facts: [{ fact: 'responder-arrived', at: iso(10) }] }),
  ),
  actors.map((actor): Command => ({ kind: 'reassign', actor, to: 'usr_op4', reason: 'r', offerSeconds: 20 })),
  actors.map((actor): Command => ({ kind: 'record', actor, event: 'note', data: { text: 'n' } })),
);
type Step =
  | { kind: 'command'; command: Command }
  | { kind: 'press'; priority: Priority; repeat: boolean }
  | { kind: 'call-back-due' };
const steps: fc.Arbitrary<Step[]> = fc.array(
  fc.oneof(
    commands.map((command): Step => ({ kind: 'command', command })),
    fc.constant<Step>({ kind: 'call-back-due' }),
    fc
      .record({ priority: fc.constantFrom<Priority>(1, 2, 3, 4), repeat: fc.boolean() })
      .map((p): Step => ({ kind: 'press', ...p })),
  ),
  { maxLength: 25 },
);
const startState = fc.constantFrom<CaseState>('queued', 'offered', 'accepted', 'on_hold');

/** Runs steps against one case as the shell would, the alerts through `decideAlert`. */
function run(
  start: CaseSnapshot,
  list: Step[],
  onStep: (before: CaseSnapshot, after: CaseSnapshot, step: Step, opened: boolean) => void,
) {
  let c = start;
  list.forEach((step, i) => {
    const now = at(100 + i);
    let next = c;
    let opened = false;
    if (step.kind === 'command' || step.kind === 'call-back-due') {
      const d = decide(c, step.kind === 'command' ? step.command : { kind: 'call-back-due' }, now);
      if (d.ok) next = applyPatch(c, d.patch);
    } else {
      const alert = press(100 + i, {
        priority: step.priority,
        ...(step.repeat ? { repeats: { alertId: (c.alerts[0] as Alert).id } } : {}),
      });
      const d = decideAlert(
        {
          repeatsCase: step.repeat ? c : undefined,
          openCase: isOpen(c.state) ? c : undefined,
        },
        alert,
        now,
        900,
      );
      if (d.into === 'existing') next = applyPatch(c, d.patch, alert);
      else opened = true;
    }
    onStep(c, next, step, opened);
    c = next;
  });
}

describe('case core properties', () => {
  it('a case never goes back from resolved', () => {
    fc.assert(
      fc.property(startState, steps, (state, list) => {
        run(
          caseOf({ state, assignedTo: state === 'accepted' || state === 'on_hold' ? op.id : null }),
          list,
          (before, after) => {
            if (before.state === 'resolved') expect(after.state).toBe('resolved');
          },
        );
      }),
    );
  });

  it('a press after the resolution opens a new case, a repeat included', () => {
    fc.assert(
      fc.property(steps, (list) => {
        run(caseOf({ state: 'resolved' }), list, (before, after, step, opened) => {
          if (step.kind === 'press') {
            expect(opened).toBe(true);
            expect(after).toBe(before);
          }
        });
      }),
    );
  });

  it('priority never drops on a press that joins or repeats into a case', () => {
    fc.assert(
      fc.property(startState, steps, (state, list) => {
        run(caseOf({ state, priority: 4, type: 'battery.low' }), list, (before, after, step, opened) => {
          if (step.kind === 'press' && !opened) {
            expect(after.priority).toBeLessThanOrEqual(before.priority);
            expect(after.priority).toBeLessThanOrEqual(step.priority);
          }
        });
      }),
    );
  });

  it('every refusal says why, and a refused command changes nothing', () => {
    fc.assert(
      fc.property(startState, commands, (state, command) => {
        const d = decide(
          caseOf({ state, assignedTo: op.id, offeredTo: other.id, offeredToPresent: true }),
          command,
          at(50),
        );
        if (!d.ok) expect(d.reason).toMatch(/\w/);
        else expect(d.events.length).toBeGreaterThan(0);
      }),
    );
  });
});

import { type Alert, alertIdFor, type CaseFact, type CaseState, type Priority } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AlertDecision, applyPatch, decideAlert } from './alerts.ts';
import { decide } from './decide.ts';
import type { Actor, CaseSnapshot, Command, Decision } from './model.ts';
import { closedBy, isOpen, tallyOf } from './transitions.ts';

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

/** The alert that opened every case of these tests. */
const first = press(0);

const caseOf = (over: Partial<CaseSnapshot> = {}): CaseSnapshot => {
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
    offerExpiresAt: null,
    offeredToPresent: false,
    offeredToAway: false,
    offeredToBusy: false,
    escalationStep: 0,
    answerTargetMissed: null,
    assignedTo: null,
    holderPresent: null,
    holderAway: null,
    holderSignedIn: null,
    holderGoneSince: null,
    operatorGoneAt: null,
    requeuedAt: null,
    priorityRaisedAt: null,
    hold: null,
    faultRepeats: null,
    alerts: tallyOf([first]),
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
    const cmd: Command = {
      kind: 'reassign',
      actor: sup,
      to: 'usr_op3',
      reason: 'r',
      offerSeconds: 20,
      toConsole: true,
      toAway: false,
    };
    expect(ok(decide(caseOf(), cmd, at(10))).patch).toEqual({
      state: 'offered',
      offeredTo: 'usr_op3',
      lastOfferedTo: 'usr_op3',
      offerExpiresAt: at(30),
    });
    const worked = caseOf({ state: 'accepted', assignedTo: op.id });
    const d = ok(decide(worked, cmd, at(10)));
    // The new holder starts with no absence counted against them.
    expect(d.patch).toEqual({ assignedTo: 'usr_op3', holderGoneSince: null, operatorGoneAt: null });
    expect(d.events[0]?.data).toEqual({ from: op.id, to: 'usr_op3', reason: 'r' });
    expect(decide(caseOf({ state: 'closed' }), cmd, at(10))).toMatchObject({
      ok: false,
      reason: 'the case is already closed',
    });
  });
});

describe('decide: a press the operator has not seen', () => {
  it('refuses a hold or resolution decided before an alert joined, and takes one that saw it', () => {
    const c = caseOf({ state: 'accepted', assignedTo: op.id, acceptedAt: at(5) });
    const pressedAgain = applyPatch(c, {}, press(30, { repeats: { alertId: first.id } }));
    const resolve = { kind: 'resolve', actor: op, outcome: 'reassurance-given', reason: 'fine' } as const;
    expect(decide(pressedAgain, { ...resolve, seenAlerts: 1 }, at(31))).toMatchObject({
      ok: false,
      refused: 'state',
      reason: expect.stringContaining('pressed again'),
    });
    const hold = { kind: 'hold', actor: op, until: at(600), reason: 'call back', seenAlerts: 1 } as const;
    expect(decide(pressedAgain, hold, at(31))).toMatchObject({ ok: false, refused: 'state' });
    expect(decide(pressedAgain, { ...resolve, seenAlerts: 2 }, at(31))).toMatchObject({ ok: true });
    // A request that does not say what it saw is decided as before.
    expect(decide(pressedAgain, resolve, at(31))).toMatchObject({ ok: true });
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

describe('decideAlert: the device in the audit trail', () => {
  const smoke = (s: number, over: Partial<Alert> = {}) =>
    press(s, {
      type: 'smoke.detected',
      deviceSerial: 'SD-123',
      deviceKind: 'smoke-detector',
      ...over,
    });

  it('names the device an alert is from, by serial and kind, on the case it opens and on one it joins', () => {
    const opened = decideAlert({}, smoke(0), at(1), 900);
    expect(opened.events[0]).toMatchObject({
      kind: 'opened',
      data: { type: 'smoke.detected', deviceSerial: 'SD-123', deviceKind: 'smoke-detector' },
    });
    const joined = decideAlert({ openCase: caseOf() }, smoke(60, { deviceSerial: 'SD-124' }), at(61), 900);
    expect(joined.events[0]).toMatchObject({
      kind: 'alert-joined',
      data: { type: 'smoke.detected', deviceSerial: 'SD-124', deviceKind: 'smoke-detector' },
    });
  });

  it('names the pendant on a repeat press', () => {
    const repeat = press(30, {
      deviceSerial: 'PX-7',
      deviceKind: 'pendant',
      repeats: { alertId: first.id },
    });
    const d = decideAlert({ repeatsCase: caseOf() }, repeat, at(31), 900);
    expect(d.events[0]?.data).toMatchObject({ repeat: true, deviceSerial: 'PX-7', deviceKind: 'pendant' });
  });

  it('says an alert about the whole home or an area is about no one device, whatever device it names', () => {
    const silence = press(0, {
      type: 'inactivity.unusual',
      priority: 2,
      deviceSerial: 'PIR-L',
      deviceKind: 'pir',
    });
    const home = decideAlert({}, silence, at(1), 900).events[0]?.data;
    expect(home).toMatchObject({ about: 'home' });
    expect(home).not.toHaveProperty('deviceSerial');
    expect(home).not.toHaveProperty('deviceKind');
    const area = press(0, { type: 'area.mains-lost', priority: 3, residentId: 'area:GL1' });
    expect(decideAlert({}, area, at(1), 900).events[0]?.data).toMatchObject({ about: 'area' });
  });
});

describe('decideAlert', () => {
  it('joins the open case within the window, raising its priority and bringing it back from hold', () => {
    const open = caseOf({ state: 'on_hold', priority: 3, type: 'mains.lost', assignedTo: op.id });
    const d = decideAlert({ openCase: open }, press(60), at(61), 900);
    expect(d).toMatchObject({ into: 'existing', outcome: 'joined', caseId: 'case_1' });
    if (d.into !== 'existing') throw new Error('expected a join');
    expect(d.patch).toMatchObject({ priority: 1, type: 'pendant.pressed', state: 'queued', holdUntil: null });
    // Back in the queue, it is nobody's until someone takes it (its holder may be away or signed out),
    // as after a call-back: the card no longer names them.
    expect(d.patch).toMatchObject({ assignedTo: null });
    expect(d.events[0]?.data).toMatchObject({ priorityRaisedFrom: 3, requeuedFromHold: true, heldBy: op.id });
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

  it('opens a future-dated alarm as raised now: it waits, escalates and misses targets from now', () => {
    // A device clock an hour fast: the case may not sit behind every press of the hour, nor wait
    // an hour for its ladder and answer targets.
    const d = decideAlert({}, press(3600), at(10), 900);
    if (d.into !== 'new') throw new Error('expected a new case');
    expect(d.newCase.raisedAt).toEqual(at(10));
    expect(d.events[0]?.data).toMatchObject({ raisedAtAheadSeconds: 3590 });
    // A press a few seconds ahead of the helpline's clock is taken as it came.
    const near = decideAlert({}, press(12), at(10), 900);
    if (near.into !== 'new') throw new Error('expected a new case');
    expect(near.newCase.raisedAt).toEqual(at(10));
  });

  it('joins a future-dated alert to the open case as raised now, never moving its window ahead', () => {
    const d = decideAlert({ openCase: caseOf() }, press(7200), at(60), 900);
    expect(d).toMatchObject({ into: 'existing', outcome: 'joined' });
    if (d.into !== 'existing') throw new Error('expected a join');
    expect(d.patch.lastAlertAt).toEqual(at(60));
    expect(d.events[0]?.data).toMatchObject({ raisedAtAheadSeconds: 7140 });
  });

  it('resolves an unaccepted case whose every alert the resident cancelled', () => {
    const c = caseOf();
    const cancel = press(20, {
      priority: 5,
      type: 'alarm.cancelled',
      closes: { alertId: first.id, outcome: 'false-alarm' },
    });
    const d = decideAlert({ closesCase: c, closed: closedBy([first], cancel) }, cancel, at(21), 900);
    expect(d).toMatchObject({ into: 'existing', outcome: 'closing', autoResolved: 'false-alarm' });
    expect(d.events.map((e) => e.kind)).toEqual(['alert-joined', 'resolved']);
  });

  /** A restore noted, the case left queued for an operator: PIR-L noisy 3 times in 7 days. */
  const keptForTheInstaller = (
    d: Extract<AlertDecision, { into: 'existing' }>,
    closedType: Alert['type'],
  ) => {
    expect(d.autoResolved).toBeUndefined();
    expect(d.patch).toEqual({});
    expect(d.events.map((e) => e.kind)).toEqual(['alert-joined']);
    expect(d.events[0]?.data).toMatchObject({
      effect: 'noted',
      why: 'fault-repeats',
      closedType,
      repeated: { type: 'sensor.noisy', deviceSerial: 'PIR-L', times: 3, days: 7 },
      note: 'PIR-L noisy 3 times in 7 days: book the installer',
    });
  };

  it('keeps a sensor noisy for the third time in a week for an operator, saying so', () => {
    const noisy = press(0, {
      priority: 4,
      type: 'sensor.noisy',
      deviceSerial: 'PIR-L',
      reason: 'Movement sensor reports far beyond a person',
    });
    const c = caseOf({ priority: 4, type: 'sensor.noisy', alerts: tallyOf([noisy]) });
    const quiet = press(3600, {
      priority: 5,
      type: 'sensor.quiet',
      deviceSerial: 'PIR-L',
      reason: 'Movement sensor calm again',
      closes: { alertId: noisy.id, outcome: 'restored' },
    });
    const closed = closedBy([noisy], quiet);
    // The second time this week: cleared without an operator, as before.
    const twice = decideAlert(
      { closesCase: c, closed: { ...closed, recent: { deviceSerial: 'PIR-L', times: 2, days: 7 } } },
      quiet,
      at(3601),
      900,
    );
    expect(twice).toMatchObject({ outcome: 'closing', autoResolved: 'technical-resolved' });
    // The third: noted, the case stays queued at P4 for someone to book the installer.
    const thrice = decideAlert(
      { closesCase: c, closed: { ...closed, recent: { deviceSerial: 'PIR-L', times: 3, days: 7 } } },
      quiet,
      at(3601),
      900,
    );
    if (thrice.into !== 'existing') throw new Error('expected the case of the noisy sensor');
    keptForTheInstaller(thrice, 'sensor.noisy');
  });

  it('keeps the repeating fault for an operator when its restore came while another alert of the case was open', () => {
    const noisy = press(0, { priority: 4, type: 'sensor.noisy', deviceSerial: 'PIR-L', reason: 'noisy' });
    const mains = press(5, { priority: 3, type: 'mains.lost', deviceSerial: 'HUB-1', reason: 'mains' });
    const restoreOf = (a: Alert, s: number, type: Alert['type']) =>
      press(s, {
        priority: 5,
        type,
        deviceSerial: a.deviceSerial as string,
        reason: 'restored',
        closes: { alertId: a.id, outcome: 'restored' },
      });
    const quiet = restoreOf(noisy, 3600, 'sensor.quiet');
    const back = restoreOf(mains, 3700, 'mains.restored');
    const c = caseOf({ priority: 3, type: 'mains.lost', alerts: tallyOf([noisy, mains]) });
    /** A restore decided on the case of `before`, its device's fault raised `times` times lately. */
    const decided = (on: CaseSnapshot, before: Alert[], closing: Alert, times: number) => {
      const recent = { deviceSerial: closing.deviceSerial as string, times, days: 7 };
      const d = decideAlert(
        { closesCase: { ...on, alerts: tallyOf(before) }, closed: { ...closedBy(before, closing), recent } },
        closing,
        at(3800),
        900,
      );
      if (d.into !== 'existing') throw new Error('expected the case');
      return d;
    };
    // The noisy sensor's third spell calms first: noted, the mains still out.
    const first = decided(c, [noisy, mains], quiet, 3);
    expect(first.autoResolved).toBeUndefined();
    expect(first.events[0]?.data).toMatchObject({ effect: 'noted', why: 'other-alerts-open' });
    // The mains back, a fault seen once: the case still stays, for the sensor's sake.
    const last = decided(applyPatch(c, first.patch), [noisy, mains, quiet], back, 1);
    keptForTheInstaller(last, 'mains.lost');
    // In the other order the sensor's own restore comes last and keeps it, as before.
    const mainsFirst = decided(c, [noisy, mains], back, 1);
    expect(mainsFirst.events[0]?.data).toMatchObject({ effect: 'noted', why: 'other-alerts-open' });
    const quietLast = decided(applyPatch(c, mainsFirst.patch), [noisy, mains, back], quiet, 3);
    expect(quietLast.events[0]?.data).toMatchObject({
      why: 'fault-repeats',
      repeated: { deviceSerial: 'PIR-L' },
    });
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
  fc
    .record({ actor: actors, toConsole: fc.boolean(), toAway: fc.boolean() })
    .map((p): Command => ({ kind: 'reassign', to: 'usr_op4', reason: 'r', offerSeconds: 20, ...p })),
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
        ...(step.repeat ? { repeats: { alertId: first.id } } : {}),
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

  it('a reassign never leaves a case with someone who would not see it', () => {
    fc.assert(
      fc.property(startState, steps, (state, list) => {
        run(
          caseOf({ state, assignedTo: state === 'accepted' || state === 'on_hold' ? op.id : null }),
          list,
          (before, after, step) => {
            if (step.kind !== 'command' || step.command.kind !== 'reassign' || after === before) return;
            const { toConsole, toAway } = step.command;
            expect(toConsole).toBe(true);
            if (after.state !== 'on_hold') expect(toAway).toBe(false);
          },
        );
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

describe("the queue's timers", () => {
  const ladder = [
    { step: 1, to: 'all-operators', afterSeconds: 30 },
    { step: 2, to: 'supervisor', afterSeconds: 60 },
    { step: 3, to: 'overflow', afterSeconds: 120 },
  ] as const;

  it('an offer lapses when not accepted in time, or at once when its operator is away or gone', () => {
    const offered = caseOf({
      state: 'offered',
      offeredTo: op.id,
      offerExpiresAt: at(30),
      offeredToPresent: true,
    });
    expect(decide(offered, { kind: 'offer-due' }, at(29)).ok).toBe(false);
    const lapsed = ok(decide(offered, { kind: 'offer-due' }, at(30)));
    expect(lapsed.patch).toEqual({ state: 'queued', offeredTo: null, offerExpiresAt: null });
    expect(lapsed.events).toEqual([
      { kind: 'offer-expired', actor: 'helpline', data: { from: op.id, reason: 'not accepted in time' } },
    ]);
    const away = { ...offered, offeredToPresent: false, offeredToAway: true };
    expect(ok(decide(away, { kind: 'offer-due' }, at(5))).events[0]?.data.reason).toBe('operator away');
    const gone = { ...offered, offeredToPresent: false };
    expect(ok(decide(gone, { kind: 'offer-due' }, at(5))).events[0]?.data.reason).toBe(
      'operator not connected',
    );
    expect(decide(caseOf(), { kind: 'offer-due' }, at(60)).ok).toBe(false);
  });

  it('an offer goes back at once when its operator has accepted another case meanwhile', () => {
    const offered = caseOf({
      state: 'offered',
      offeredTo: op.id,
      offerExpiresAt: at(30),
      offeredToPresent: true,
      offeredToBusy: true,
    });
    const back = ok(decide(offered, { kind: 'offer-due' }, at(5)));
    expect(back.patch).toEqual({ state: 'queued', offeredTo: null, offerExpiresAt: null });
    expect(back.events[0]?.data).toEqual({ from: op.id, reason: 'operator took another case' });
  });

  it('only the operator an offer was made to declines it', () => {
    const offered = caseOf({
      state: 'offered',
      offeredTo: op.id,
      offerExpiresAt: at(30),
      offeredToPresent: true,
    });
    const declined = ok(decide(offered, { kind: 'decline', actor: op }, at(3)));
    expect(declined.events[0]).toEqual({
      kind: 'offer-expired',
      actor: op.id,
      data: { from: op.id, reason: 'declined' },
    });
    expect(decide(offered, { kind: 'decline', actor: other }, at(3))).toMatchObject({
      ok: false,
      holder: op.id,
    });
  });

  it('an unanswered P1 climbs the ladder rung by rung, each recorded once, two at once when a tick was late', () => {
    const queued = caseOf();
    expect(decide(queued, { kind: 'escalation-due', ladder }, at(29)).ok).toBe(false);
    const late = ok(decide(queued, { kind: 'escalation-due', ladder }, at(61)));
    expect(late.patch).toEqual({ escalationStep: 2 });
    expect(late.events.map((e) => e.data.step)).toEqual([1, 2]);
    expect(late.events[1]?.data).toEqual({ step: 2, to: 'supervisor', afterSeconds: 60, waitedSeconds: 61 });
    expect(decide({ ...queued, escalationStep: 2 }, { kind: 'escalation-due', ladder }, at(90)).ok).toBe(
      false,
    );
    expect(decide({ ...queued, priority: 2 }, { kind: 'escalation-due', ladder }, at(90)).ok).toBe(false);
    expect(decide({ ...queued, state: 'accepted' }, { kind: 'escalation-due', ladder }, at(90)).ok).toBe(
      false,
    );
    expect(decide({ ...queued, testMode: true }, { kind: 'escalation-due', ladder }, at(90)).ok).toBe(false);
  });

  it('an alarm call not answered misses its 60 s and 180 s targets once each; answered, test or not an alarm call, never', () => {
    const queued = caseOf({ priority: 2 });
    expect(decide(queued, { kind: 'answer-targets-due' }, at(59)).ok).toBe(false);
    const first = ok(decide(queued, { kind: 'answer-targets-due' }, at(60)));
    expect(first.patch).toEqual({ answerTargetMissed: 60 });
    expect(first.events[0]?.data).toEqual({ targetSeconds: 60, step: 1, priority: 2, waitedSeconds: 60 });
    const both = ok(decide(queued, { kind: 'answer-targets-due' }, at(200)));
    expect(both.events.map((e) => e.data.targetSeconds)).toEqual([60, 180]);
    expect(decide({ ...queued, answerTargetMissed: 180 }, { kind: 'answer-targets-due' }, at(300)).ok).toBe(
      false,
    );
    expect(decide({ ...queued, priority: 3 }, { kind: 'answer-targets-due' }, at(300)).ok).toBe(false);
    expect(
      decide({ ...queued, acceptedAt: at(10), state: 'queued' }, { kind: 'answer-targets-due' }, at(300)).ok,
    ).toBe(false);
    expect(decide({ ...queued, testMode: true }, { kind: 'answer-targets-due' }, at(300)).ok).toBe(false);
  });

  it('whatever the ticks, every rung and every target is recorded once, in order, when it is due', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 20 }), (ticks) => {
        let c = caseOf();
        const escalated: number[] = [];
        const missed: number[] = [];
        for (const t of [...ticks].sort((a, b) => a - b)) {
          for (const input of [
            { kind: 'escalation-due', ladder } as const,
            { kind: 'answer-targets-due' } as const,
          ]) {
            const d = decide(c, input, at(t));
            if (!d.ok) continue;
            for (const e of d.events) {
              if (e.kind === 'escalated') {
                expect(t).toBeGreaterThanOrEqual(Number(e.data.afterSeconds));
                escalated.push(Number(e.data.step));
              } else {
                expect(t).toBeGreaterThanOrEqual(Number(e.data.targetSeconds));
                missed.push(Number(e.data.targetSeconds));
              }
            }
            c = { ...c, ...d.patch } as CaseSnapshot;
          }
        }
        const last = Math.max(-1, ...ticks);
        expect(escalated).toEqual(ladder.filter((r) => r.afterSeconds <= last).map((r) => r.step));
        expect(missed).toEqual([60, 180].filter((s) => s <= last));
      }),
    );
  });
});

describe('decide: the operator holding a case has gone', () => {
  const bounds = { goneSeconds: 90, requeueSeconds: 120 };
  const held = (over: Partial<CaseSnapshot> = {}) =>
    caseOf({ state: 'accepted', assignedTo: op.id, acceptedAt: at(20), holderPresent: false, ...over });
  const due = (c: CaseSnapshot, s: number) => decide(c, { kind: 'holder-due', bounds }, at(s));

  it('notes the absence without an event, flags it once past the bound, then requeues an alarm call', () => {
    expect(ok(due(held(), 100))).toEqual({ ok: true, patch: { holderGoneSince: at(100) }, events: [] });
    expect(due(held({ holderGoneSince: at(100) }), 189)).toMatchObject({ ok: false });
    const flagged = ok(due(held({ holderGoneSince: at(100) }), 190));
    expect(flagged.patch).toEqual({ operatorGoneAt: at(190) });
    expect(flagged.events).toEqual([
      {
        kind: 'operator-gone',
        actor: 'helpline',
        data: {
          operatorId: op.id,
          since: at(100).toISOString(),
          goneSeconds: 90,
          priority: 1,
          state: 'accepted',
        },
      },
    ]);
    const after = held({ holderGoneSince: at(100), operatorGoneAt: at(190) });
    expect(due(after, 309)).toMatchObject({ ok: false });
    const requeued = ok(due(after, 310));
    expect(requeued.patch).toMatchObject({
      state: 'queued',
      assignedTo: null,
      lastOfferedTo: op.id,
      holderGoneSince: null,
      operatorGoneAt: null,
    });
    // The first acceptance (the answer clock) is never touched.
    expect(requeued.patch.acceptedAt).toBeUndefined();
    expect(requeued.events.map((e) => [e.kind, e.data.reason])).toEqual([['requeued', 'operator gone']]);
  });

  it('requeues an accepted technical case past the bounds too: nobody is at it', () => {
    for (const priority of [3, 4, 5] as const) {
      const gone = held({ priority, holderGoneSince: at(100), operatorGoneAt: at(190) });
      expect(due(gone, 309)).toMatchObject({ ok: false });
      const d = ok(due(gone, 310));
      expect(d.patch).toMatchObject({ state: 'queued', assignedTo: null, lastOfferedTo: op.id });
      expect(d.events.map((e) => [e.kind, e.data.reason, e.data.priority])).toEqual([
        ['requeued', 'operator gone', priority],
      ]);
    }
  });

  it('flags but never requeues a held case; a supervisor reassigning clears it', () => {
    const gone = { ...held({ state: 'on_hold' }), holderGoneSince: at(0), operatorGoneAt: at(90) };
    expect(due(gone, 10_000)).toMatchObject({ ok: false });
    const moved = ok(
      decide(
        held({ holderGoneSince: at(0), operatorGoneAt: at(90) }),
        {
          kind: 'reassign',
          actor: sup,
          to: other.id,
          reason: 'gone home',
          offerSeconds: 20,
          toConsole: true,
          toAway: false,
        },
        at(100),
      ),
    );
    expect(moved.patch).toMatchObject({ assignedTo: other.id, holderGoneSince: null, operatorGoneAt: null });
  });

  it('clears the flag with an event when the operator is back, and an unflagged absence silently', () => {
    const back = ok(
      due(held({ holderPresent: true, holderGoneSince: at(100), operatorGoneAt: at(190) }), 200),
    );
    expect(back.patch).toEqual({ holderGoneSince: null, operatorGoneAt: null });
    expect(back.events).toEqual([
      {
        kind: 'operator-back',
        actor: 'helpline',
        data: { operatorId: op.id, since: at(100).toISOString(), goneSeconds: 100 },
      },
    ]);
    expect(ok(due(held({ holderPresent: true, holderGoneSince: at(100) }), 120)).events).toEqual([]);
    expect(due(held({ holderPresent: true }), 120)).toMatchObject({ ok: false });
    // Nobody with a console holds it (the admin token): nothing to watch.
    expect(due(held({ holderPresent: null }), 10_000)).toMatchObject({ ok: false });
  });
});

describe('decide: a P1 back in the queue unanswered climbs the ladder again', () => {
  const ladder = [
    { step: 1, to: 'all-operators', afterSeconds: 30 },
    { step: 2, to: 'supervisor', afterSeconds: 60 },
    { step: 3, to: 'overflow', afterSeconds: 90 },
  ] as const;
  const bounds = { goneSeconds: 90, requeueSeconds: 120 };
  const escalate = (c: CaseSnapshot, s: number) => decide(c, { kind: 'escalation-due', ladder }, at(s));
  const next = (c: CaseSnapshot, d: Decision) => applyPatch(c, ok(d).patch);

  it('an accepted P1 whose operator has gone: from the requeue, rung 1 after 30 s, the overflow only after 90 s', () => {
    // Answered in 12 s, before any rung; the operator gone from 100 s, requeued at 310 s.
    const accepted = caseOf({
      state: 'accepted',
      acceptedAt: at(12),
      assignedTo: op.id,
      holderPresent: false,
      holderGoneSince: at(100),
      operatorGoneAt: at(190),
    });
    const requeue = ok(decide(accepted, { kind: 'holder-due', bounds }, at(310)));
    expect(requeue.patch).toMatchObject({ state: 'queued', requeuedAt: at(310), escalationStep: 0 });
    const back = next(accepted, requeue);
    // Raised 310 s ago, but back in the queue just now: no rung yet, let alone the partner centre.
    expect(escalate(back, 310)).toMatchObject({ ok: false, reason: 'no rung is due' });
    expect(escalate(back, 339)).toMatchObject({ ok: false });
    const first = ok(escalate(back, 340));
    expect(first.patch).toEqual({ escalationStep: 1 });
    expect(first.events).toEqual([
      {
        kind: 'escalated',
        actor: 'helpline',
        data: {
          step: 1,
          to: 'all-operators',
          afterSeconds: 30,
          waitedSeconds: 30,
          requeuedAt: at(310).toISOString(),
        },
      },
    ]);
    const atOne = next(back, first);
    expect(ok(escalate(atOne, 370)).events.map((e) => e.data.to)).toEqual(['supervisor']);
    expect(escalate({ ...atOne, escalationStep: 2 }, 399)).toMatchObject({ ok: false });
    expect(ok(escalate({ ...atOne, escalationStep: 2 }, 400)).events.map((e) => e.data.to)).toEqual([
      'overflow',
    ]);
  });

  it('a P1 that climbed every rung before it was answered climbs them again after its call-back, once each', () => {
    let c = caseOf();
    c = next(c, escalate(c, 95));
    expect(c.escalationStep).toBe(3);
    c = next(c, decide(c, { kind: 'accept', actor: op }, at(100)));
    c = next(c, decide(c, { kind: 'hold', actor: op, until: at(700), reason: 'GP to call back' }, at(120)));
    // On hold, nothing climbs.
    expect(escalate(c, 650)).toMatchObject({ ok: false });
    const callBack = ok(decide(c, { kind: 'call-back-due' }, at(700)));
    expect(callBack.patch).toMatchObject({ state: 'queued', requeuedAt: at(700), escalationStep: 0 });
    c = next(c, callBack);
    expect(escalate(c, 729)).toMatchObject({ ok: false });
    const late = ok(escalate(c, 800));
    expect(late.events.map((e) => [e.data.step, e.data.waitedSeconds])).toEqual([
      [1, 100],
      [2, 100],
      [3, 100],
    ]);
    c = next(c, late);
    expect(escalate(c, 2000)).toMatchObject({ ok: false });
  });

  it('a held P1 brought back by a press climbs from the press that brought it back', () => {
    const held = caseOf({
      state: 'on_hold',
      acceptedAt: at(10),
      assignedTo: op.id,
      escalationStep: 1,
      hold: { until: at(3600), reason: 'ambulance on its way', returnPriority: null },
    });
    for (const kind of ['join', 'repeat'] as const) {
      const alert = press(400, kind === 'repeat' ? { repeats: { alertId: first.id } } : {});
      const d = ok(decide(held, { kind, alert }, at(401)));
      expect(d.patch).toMatchObject({ state: 'queued', requeuedAt: at(401), escalationStep: 0 });
      const back = next(held, d);
      expect(escalate(back, 430)).toMatchObject({ ok: false });
      expect(ok(escalate(back, 431)).events.map((e) => e.data.step)).toEqual([1]);
    }
  });

  it('an offer that lapses or is declined does not restart the ladder: only coming back from someone who had it does', () => {
    const back = caseOf({ acceptedAt: at(12), requeuedAt: at(310), escalationStep: 1 });
    const offered = { ...back, state: 'offered' as const, offeredTo: op.id, offerExpiresAt: at(360) };
    for (const d of [
      decide(offered, { kind: 'offer-due' }, at(360)),
      decide({ ...offered, offeredToPresent: true }, { kind: 'decline', actor: op }, at(350)),
    ])
      expect(ok(d).patch).toEqual({ state: 'queued', offeredTo: null, offerExpiresAt: null });
    // A new case's alert joining a waiting case does not restart it either.
    expect(ok(decide(back, { kind: 'join', alert: press(330) }, at(331))).patch.requeuedAt).toBeUndefined();
  });

  it('a requeued alarm call was answered: its answer clock and targets stay with the first answer', () => {
    const back = caseOf({ acceptedAt: at(12), requeuedAt: at(310) });
    for (const priority of [1, 2] as const)
      expect(decide({ ...back, priority }, { kind: 'answer-targets-due' }, at(310 + 600))).toMatchObject({
        ok: false,
      });
    expect(ok(decide(back, { kind: 'accept', actor: other }, at(400))).events[0]?.data).toEqual({
      answerSeconds: 12,
    });
  });

  it('whatever the ticks and wherever the requeue, each rung after it comes once, in order, never before it is due', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 400 }),
        fc.constantFrom('operator gone', 'call-back', 'press'),
        fc.array(fc.integer({ min: 0, max: 800 }), { maxLength: 25 }),
        (acceptAt, heldFor, how, ticks) => {
          let c = caseOf();
          const requeueAt = acceptAt + heldFor;
          let requeued = false;
          const after: number[] = [];
          const tick = (t: number) => {
            for (const input of [
              { kind: 'escalation-due', ladder } as const,
              { kind: 'answer-targets-due' } as const,
            ]) {
              const d = decide(c, input, at(t));
              if (!d.ok) continue;
              for (const e of d.events) {
                if (!requeued) continue;
                expect(e.kind).toBe('escalated');
                expect(t - requeueAt).toBeGreaterThanOrEqual(Number(e.data.afterSeconds));
                after.push(Number(e.data.step));
              }
              c = applyPatch(c, d.patch);
            }
          };
          const sorted = [...ticks].sort((a, b) => a - b);
          for (const t of sorted.filter((t) => t < acceptAt)) tick(t);
          c = applyPatch(c, ok(decide(c, { kind: 'accept', actor: op }, at(acceptAt))).patch);
          if (how === 'operator gone') {
            c = { ...c, holderPresent: false, holderGoneSince: at(acceptAt), operatorGoneAt: at(acceptAt) };
            const d = decide(
              c,
              { kind: 'holder-due', bounds: { goneSeconds: 0, requeueSeconds: heldFor } },
              at(requeueAt),
            );
            c = applyPatch(c, ok(d).patch);
          } else {
            const hold = { kind: 'hold', actor: op, until: at(requeueAt), reason: 'r' } as const;
            c = applyPatch(c, ok(decide(c, hold, at(acceptAt))).patch);
            const d =
              how === 'call-back'
                ? decide(c, { kind: 'call-back-due' }, at(requeueAt))
                : decide(c, { kind: 'join', alert: press(requeueAt) }, at(requeueAt));
            c = applyPatch(c, ok(d).patch);
          }
          expect(c.state).toBe('queued');
          requeued = true;
          for (const t of sorted.filter((t) => t >= requeueAt)) tick(t);
          const last = Math.max(-1, ...sorted.filter((t) => t >= requeueAt)) - requeueAt;
          expect(after).toEqual(ladder.filter((r) => r.afterSeconds <= last).map((r) => r.step));
        },
      ),
    );
  });
});

describe('decide: a case that becomes P1 climbs the ladder from then', () => {
  const ladder = [
    { step: 1, to: 'all-operators', afterSeconds: 30 },
    { step: 2, to: 'supervisor', afterSeconds: 60 },
    { step: 3, to: 'overflow', afterSeconds: 90 },
  ] as const;
  const escalate = (c: CaseSnapshot, s: number) => decide(c, { kind: 'escalation-due', ladder }, at(s));
  const next = (c: CaseSnapshot, d: Decision) => applyPatch(c, ok(d).patch);

  it('a waiting P2 that a P1 alert joins: no rung at once, rung 1 after 30 s, the partner centre only after 90 s', () => {
    for (const state of ['queued', 'offered'] as const) {
      // A P2 raised at 0 s, waiting 300 s when a P1 alarm of the same resident joins it.
      const p2 = caseOf({
        state,
        priority: 2,
        type: 'fall.detected',
        ...(state === 'offered' ? { offeredTo: op.id, offerExpiresAt: at(320), offeredToPresent: true } : {}),
      });
      const join = ok(decide(p2, { kind: 'join', alert: press(300) }, at(300)));
      expect(join.patch).toMatchObject({ priority: 1, escalationStep: 0 });
      const p1 = next(p2, join);
      expect(p1.priority).toBe(1);
      // Raised 300 s ago, but a P1 only now: not every rung in its first tick.
      expect(escalate(p1, 300)).toMatchObject({ ok: false, reason: 'no rung is due' });
      expect(escalate(p1, 329)).toMatchObject({ ok: false });
      const first = ok(escalate(p1, 330));
      expect(first.events).toEqual([
        {
          kind: 'escalated',
          actor: 'helpline',
          data: {
            step: 1,
            to: 'all-operators',
            afterSeconds: 30,
            waitedSeconds: 30,
            priorityRaisedAt: at(300).toISOString(),
          },
        },
      ]);
      const atOne = next(p1, first);
      expect(escalate(atOne, 359)).toMatchObject({ ok: false, reason: 'no rung is due' });
      expect(ok(escalate(atOne, 390)).events.map((e) => e.data.to)).toEqual(['supervisor', 'overflow']);
    }
  });

  it('a repeat press raising the case to P1 counts the same way; a P1 joining a P1 restarts nothing', () => {
    const p2 = caseOf({ priority: 2 });
    const repeat = press(200, { repeats: { alertId: first.id } });
    const p1 = next(p2, decide(p2, { kind: 'repeat', alert: repeat }, at(200)));
    expect(escalate(p1, 229)).toMatchObject({ ok: false });
    expect(ok(escalate(p1, 230)).events.map((e) => e.data.step)).toEqual([1]);

    const already = caseOf();
    const joined = ok(decide(already, { kind: 'join', alert: press(200) }, at(200)));
    expect(joined.patch).not.toHaveProperty('priorityRaisedAt');
    expect(ok(escalate(next(already, joined), 200)).events.map((e) => e.data.step)).toEqual([1, 2, 3]);
  });

  it('a held P2 that its operator returns at P1 climbs from its call-back', () => {
    let c = caseOf({ priority: 2 });
    c = next(c, decide(c, { kind: 'accept', actor: op }, at(20)));
    c = next(
      c,
      decide(c, { kind: 'hold', actor: op, until: at(600), reason: 'GP to call', returnPriority: 1 }, at(40)),
    );
    const callBack = ok(decide(c, { kind: 'call-back-due' }, at(600)));
    expect(callBack.patch).toMatchObject({ priority: 1, requeuedAt: at(600), priorityRaisedAt: at(600) });
    c = next(c, callBack);
    expect(escalate(c, 629)).toMatchObject({ ok: false });
    expect(ok(escalate(c, 630)).events.map((e) => e.data.step)).toEqual([1]);
  });

  it('the answer clock and targets of an alarm call stay with the raise', () => {
    const p2 = caseOf({ priority: 2 });
    const p1 = next(p2, decide(p2, { kind: 'join', alert: press(100) }, at(100)));
    expect(
      ok(decide(p1, { kind: 'answer-targets-due' }, at(100))).events.map((e) => e.data.targetSeconds),
    ).toEqual([60]);
    expect(ok(decide(p1, { kind: 'accept', actor: op }, at(110))).events[0]?.data).toEqual({
      answerSeconds: 110,
    });
  });

  it('whatever the ticks and whenever it becomes P1, each rung comes once, in order, never before it is due', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 600 }),
        fc.constantFrom(2, 3, 4) as fc.Arbitrary<Priority>,
        fc.constantFrom('join', 'repeat'),
        fc.array(fc.integer({ min: 0, max: 1200 }), { maxLength: 25 }),
        (raisedAfter, from, how, ticks) => {
          let c = caseOf({ priority: from });
          const steps: number[] = [];
          const sorted = [...ticks].sort((a, b) => a - b);
          const tick = (t: number) => {
            const d = decide(c, { kind: 'escalation-due', ladder }, at(t));
            if (!d.ok) return;
            for (const e of d.events) {
              expect(t - raisedAfter).toBeGreaterThanOrEqual(Number(e.data.afterSeconds));
              steps.push(Number(e.data.step));
            }
            c = applyPatch(c, d.patch);
          };
          for (const t of sorted.filter((t) => t < raisedAfter)) tick(t);
          expect(steps).toEqual([]);
          const alert = press(raisedAfter, how === 'repeat' ? { repeats: { alertId: first.id } } : {});
          c = applyPatch(c, ok(decide(c, { kind: how, alert }, at(raisedAfter))).patch, alert);
          for (const t of sorted.filter((t) => t >= raisedAfter)) tick(t);
          const last = Math.max(-1, ...sorted.filter((t) => t >= raisedAfter)) - raisedAfter;
          expect(steps).toEqual(ladder.filter((r) => r.afterSeconds <= last).map((r) => r.step));
        },
      ),
    );
  });
});

describe('decide: the operator working a case goes away', () => {
  const working = (over: Partial<CaseSnapshot> = {}) =>
    caseOf({
      state: 'accepted',
      assignedTo: op.id,
      acceptedAt: at(20),
      holderPresent: true,
      holderAway: true,
      ...over,
    });
  const away = (c: CaseSnapshot, s: number, by = op.id) => decide(c, { kind: 'holder-away', by }, at(s));

  it('puts an accepted case of any priority back in the queue at once, keeping its answer, its ladder from now', () => {
    for (const priority of [1, 2, 3, 4] as const) {
      const d = ok(away(working({ priority, escalationStep: 2 }), 300, 'usr_sup'));
      expect(d.patch).toMatchObject({
        state: 'queued',
        assignedTo: null,
        lastOfferedTo: op.id,
        requeuedAt: at(300),
        escalationStep: 0,
        holderGoneSince: null,
        operatorGoneAt: null,
      });
      expect(d.patch.acceptedAt).toBeUndefined();
      expect(d.events).toEqual([
        {
          kind: 'requeued',
          actor: 'helpline',
          data: { reason: 'operator away', operatorId: op.id, by: 'usr_sup', priority },
        },
      ]);
    }
  });

  it('refuses to give an accepted or waiting case to someone away; a held one may be', () => {
    const reassign = (c: CaseSnapshot) =>
      decide(
        c,
        {
          kind: 'reassign',
          actor: sup,
          to: 'usr_op9',
          reason: 'r',
          offerSeconds: 20,
          toConsole: true,
          toAway: true,
        },
        at(300),
      );
    expect(reassign(working())).toMatchObject({
      ok: false,
      refused: 'state',
      reason: 'they are away: an accepted case goes only to someone who is there',
    });
    for (const state of ['queued', 'offered'] as const)
      expect(reassign(caseOf({ state, offeredTo: state === 'offered' ? op.id : null }))).toMatchObject({
        ok: false,
        refused: 'state',
        reason: 'they are away: a waiting case is offered only to someone who is there',
      });
    expect(reassign(working({ state: 'on_hold' })).ok).toBe(true);
  });

  it('refuses to give any open case to someone with no console open, and changes nothing', () => {
    const reassign = (c: CaseSnapshot, toAway = false) =>
      decide(
        c,
        {
          kind: 'reassign',
          actor: sup,
          to: 'usr_op9',
          reason: 'r',
          offerSeconds: 20,
          toConsole: false,
          toAway,
        },
        at(300),
      );
    expect(reassign(working())).toEqual({
      ok: false,
      refused: 'state',
      action: 'reassign',
      reason: 'they have no console open: an accepted case goes only to someone who is there',
    });
    for (const state of ['queued', 'offered'] as const)
      expect(reassign(caseOf({ state, offeredTo: state === 'offered' ? op.id : null }))).toEqual({
        ok: false,
        refused: 'state',
        action: 'reassign',
        reason: 'they have no console open: a waiting case is offered only to someone who is there',
      });
    expect(reassign(working({ state: 'on_hold' }))).toMatchObject({
      ok: false,
      reason: 'they have no console open: a held case goes only to someone at a console',
    });
    // Away and no console: away is what they chose, and what the supervisor can ask them about.
    expect(reassign(working(), true)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^they are away/),
    });
    expect(reassign(caseOf({ state: 'resolved' }))).toMatchObject({ reason: 'the case is already resolved' });
  });

  it('leaves a held case (its call-back returns it), a holder not away, and a resolved case as they are', () => {
    expect(away(working({ state: 'on_hold' }), 300)).toMatchObject({ ok: false, refused: 'state' });
    expect(away(working({ holderAway: false }), 300)).toMatchObject({ ok: false });
    expect(away(working({ holderAway: null }), 300)).toMatchObject({ ok: false });
    expect(away(working({ state: 'resolved' }), 300)).toMatchObject({ ok: false });
    expect(away(working({ testMode: true }), 300)).toMatchObject({ ok: false });
  });
});

describe('decide: the operator holding a case signs out', () => {
  const holding = (over: Partial<CaseSnapshot> = {}) =>
    caseOf({
      state: 'accepted',
      assignedTo: op.id,
      acceptedAt: at(20),
      holderPresent: false,
      holderSignedIn: false,
      ...over,
    });
  const out = (c: CaseSnapshot, s: number) => decide(c, { kind: 'holder-signed-out' }, at(s));

  it('puts an accepted case of any priority back in the queue at once, keeping its answer, its ladder from now', () => {
    for (const priority of [1, 2, 3, 4, 5] as const) {
      const d = ok(out(holding({ priority, escalationStep: 1 }), 300));
      expect(d.patch).toMatchObject({
        state: 'queued',
        assignedTo: null,
        lastOfferedTo: op.id,
        requeuedAt: at(300),
        escalationStep: 0,
        holderGoneSince: null,
        operatorGoneAt: null,
      });
      expect(d.patch.acceptedAt).toBeUndefined();
      expect(d.events).toEqual([
        {
          kind: 'requeued',
          actor: 'helpline',
          data: { reason: 'signed out', operatorId: op.id, since: iso(300), goneSeconds: 0, priority },
        },
      ]);
    }
  });

  it('flags a held case at once and keeps its call-back; a holder with a console there keeps everything', () => {
    const hold = { until: at(900), reason: 'GP calling back', returnPriority: null };
    const held = ok(out(holding({ state: 'on_hold', priority: 3, hold }), 300));
    expect(held.patch).toEqual({ holderGoneSince: at(300), operatorGoneAt: at(300) });
    expect(held.events.map((e) => [e.kind, e.data.signedOut])).toEqual([['operator-gone', true]]);
    expect(out(holding({ holderPresent: true }), 300)).toMatchObject({ ok: false });
    expect(out(holding({ testMode: true }), 300)).toMatchObject({ ok: false });
  });
});

describe('decide: the timers find an accepted case whose holder is away or signed out', () => {
  const bounds = { goneSeconds: 90, requeueSeconds: 120 };
  const working = (over: Partial<CaseSnapshot> = {}) =>
    caseOf({
      state: 'accepted',
      assignedTo: op.id,
      acceptedAt: at(20),
      holderPresent: true,
      holderAway: true,
      holderSignedIn: true,
      ...over,
    });
  const due = (c: CaseSnapshot, s: number) => decide(c, { kind: 'holder-due', bounds }, at(s));

  it('away, console there or not: back in the queue at once, whatever the priority, with no bound waited', () => {
    for (const priority of [1, 3, 5] as const)
      for (const holderPresent of [true, false]) {
        const d = ok(due(working({ priority, holderPresent }), 300));
        expect(d.patch).toMatchObject({
          state: 'queued',
          assignedTo: null,
          lastOfferedTo: op.id,
          requeuedAt: at(300),
          escalationStep: 0,
          holderGoneSince: null,
          operatorGoneAt: null,
        });
        expect(d.patch.acceptedAt).toBeUndefined();
        expect(d.events).toEqual([
          {
            kind: 'requeued',
            actor: 'helpline',
            data: { reason: 'operator away', operatorId: op.id, priority, timer: true },
          },
        ]);
      }
  });

  it('signed out (away, no session, no console): back in the queue at once, saying so', () => {
    const d = ok(
      due(
        working({ holderPresent: false, holderSignedIn: false, holderGoneSince: at(250), priority: 2 }),
        300,
      ),
    );
    expect(d.patch).toMatchObject({ state: 'queued', assignedTo: null, lastOfferedTo: op.id });
    expect(d.events).toEqual([
      {
        kind: 'requeued',
        actor: 'helpline',
        data: {
          reason: 'signed out',
          operatorId: op.id,
          since: iso(250),
          goneSeconds: 50,
          priority: 2,
          timer: true,
        },
      },
    ]);
  });

  it('leaves a held case of someone away with its call-back, and a holder there and not away alone', () => {
    expect(due(working({ state: 'on_hold' }), 300)).toMatchObject({ ok: false });
    expect(due(working({ holderAway: false }), 300)).toMatchObject({ ok: false });
    expect(due(working({ testMode: true }), 300)).toMatchObject({ ok: false });
  });

  it('whatever the ticks, an accepted case of someone away is requeued once', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 600 }), { minLength: 1, maxLength: 20 }), (ticks) => {
        let c = working();
        let requeued = 0;
        for (const t of [...ticks].sort((a, b) => a - b)) {
          const d = decide(c, { kind: 'holder-due', bounds }, at(t));
          if (!d.ok) continue;
          requeued += d.events.filter((e) => e.kind === 'requeued').length;
          c = applyPatch(c, d.patch);
        }
        expect(requeued).toBe(1);
        expect(c.state).toBe('queued');
      }),
    );
  });
});

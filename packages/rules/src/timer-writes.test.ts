import type { Alert, EventType, TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState, type ResidentState, type RuleSet, type Timer, type TimerCommand } from './model.ts';
import { parseRuleSet } from './parse.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

/**
 * Each timer set or cancelled is a write the shell makes durable (one JetStream publish with ack).
 * A device's supervision check and the learned rhythm's silence check are one timer each, so that
 * the activity events that move them write once (a heartbeat) or not at all (most movement), and
 * every alert is still raised at the same moment, for the same reason.
 */
const RESIDENT = 'res_writes01';
/** November: Europe/London is UTC. 22 Nov 2026 is a Sunday. */
const T = (hhmm: string, day = 22) => Date.parse(`2026-11-${day}T${hhmm}:00.000Z`);
const GRACE = DEFAULT_RULE_SET.settings.reorderGraceS * 1000;
const SUPERVISION = `absence.supervision:${RESIDENT}:SM-9`;
const STRETCH = `rhythm.learned:${RESIDENT}:stretch`;

const KINDS: Partial<Record<EventType, [string, string]>> = {
  heartbeat: ['smoke-detector', 'SM-9'],
  'bed.occupied': ['bed-sensor', 'BS-1'],
  'chair.occupied': ['chair-sensor', 'CS-1'],
  'chair.vacated': ['chair-sensor', 'CS-1'],
};
let counter = 0;
function ev(type: EventType, at: number): TelecareEvent {
  const [devicekind, subject] = KINDS[type] ?? ['pir', 'PIR-1'];
  return makeEvent({
    type,
    time: new Date(at).toISOString(),
    residentid: RESIDENT,
    devicekind,
    subject,
    location: 'hall',
    deviceEventId: `w-${++counter}`,
  });
}

/** Evaluates events in order at their own time; the timer commands of each. */
function commandsOf(events: readonly TelecareEvent[], ruleSet: RuleSet = DEFAULT_RULE_SET, intervalS = 3600) {
  let state: ResidentState = initialState(RESIDENT);
  const each: TimerCommand[][] = [];
  for (const event of events) {
    const result = evaluate(
      state,
      { kind: 'event', event, now: Date.parse(event.time), device: { supervisionIntervalS: intervalS } },
      ruleSet,
    );
    state = result.state;
    each.push([...result.timers]);
  }
  return { each, state };
}

const of = (commands: readonly TimerCommand[], prefix: string) =>
  commands.filter((c) => (c.op === 'set' ? c.timer.id : c.id).startsWith(prefix));

function runAll(events: readonly TelecareEvent[], until: number, runner: RulesRunner) {
  const alerts: Alert[] = [];
  for (const event of events) alerts.push(...runner.event(event, Date.parse(event.time) + 1_000));
  alerts.push(...runner.advance(until));
  return alerts;
}

const withInterval = (intervalS: number, ruleSet = DEFAULT_RULE_SET) =>
  new RulesRunner(ruleSet, { device: () => ({ supervisionIntervalS: intervalS }) });

describe("a device's one supervision check", () => {
  it('each heartbeat in order moves it: one write, no cancel', () => {
    const beats = ['00:00', '00:20', '00:40', '01:00'].map((hhmm) => ev('heartbeat', T(hhmm)));
    const { each } = commandsOf(beats);
    for (const [i, commands] of each.entries()) {
      expect(of(commands, 'absence.supervision')).toEqual([
        {
          op: 'set',
          timer: expect.objectContaining({
            id: SUPERVISION,
            eventId: beats[i]?.id,
            checkAt: Date.parse(beats[i]?.time ?? '') + 3_600_000,
          }),
        },
      ]);
    }
  });

  it('a silent device is found with an interval over a day, in a home busy all the while', () => {
    // The device map gives no interval: the rule's 25 h. Movement every half hour meanwhile lets
    // the heartbeat age out of the events remembered (a day), as a busy home's count would.
    const events = [ev('heartbeat', T('00:00'))];
    for (let m = 30; m < 30 * 60; m += 30) events.push(ev('motion', T('00:00') + m * 60_000));
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const lost = runAll(events, T('00:00') + 30 * 3_600_000, runner).filter(
      (alert) => alert.type === 'supervision.lost',
    );
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatchObject({
      evidence: [events[0]?.id],
      deviceSerial: 'SM-9',
      thresholds: { intervalS: 25 * 3600 },
      raisedAt: new Date(T('00:00') + 25 * 3_600_000 + GRACE).toISOString(),
    });
  });

  it('a silent device is found when more events than the state keeps came within its interval', () => {
    const events = [ev('heartbeat', T('00:00'))];
    for (let s = 10; s < 3600; s += 10) events.push(ev('motion', T('00:00') + s * 1000));
    const lost = runAll(events, T('03:00'), withInterval(3600)).filter(
      (alert) => alert.type === 'supervision.lost',
    );
    expect(lost.map((alert) => [alert.evidence, alert.raisedAt])).toEqual([
      [[events[0]?.id], new Date(T('01:00') + GRACE).toISOString()],
    ]);
  });

  it("a heartbeat after the latest one's interval, before its check fired: that check still decides, under the heartbeat's own id", () => {
    const first = ev('heartbeat', T('00:00'));
    const late = ev('heartbeat', T('01:00') + 10_000);
    const { each } = commandsOf([first, late]);
    expect(of(each[1] ?? [], 'absence.supervision')).toEqual([
      {
        op: 'set',
        timer: expect.objectContaining({ id: `absence.supervision:SM-9:${first.id}`, checkAt: T('01:00') }),
      },
      { op: 'set', timer: expect.objectContaining({ id: SUPERVISION, eventId: late.id }) },
    ]);
    // Raised at its check's time, named by the heartbeat before the silence, and restored at the
    // late heartbeat's time plus the grace (the check, set again as that heartbeat came after it
    // had passed, fires the grace after that heartbeat: after 01:00:30, as it did, so the
    // restore's own time is before it).
    const runner = withInterval(3600);
    const alerts = [
      ...runner.event(first, T('00:00')),
      ...runner.event(late, T('01:00') + 20_000),
      ...runner.advance(T('01:30')),
    ].filter((alert) => alert.rule.id === 'absence.supervision');
    expect(alerts.map((alert) => [alert.type, alert.evidence, alert.raisedAt])).toEqual([
      ['supervision.lost', [first.id], new Date(T('01:00') + GRACE).toISOString()],
      ['supervision.restored', [late.id], new Date(T('01:00') + 10_000 + GRACE).toISOString()],
    ]);
  });

  it('a late heartbeat (older than the latest) has its own check and leaves the device supervised', () => {
    const first = ev('heartbeat', T('00:00'));
    const latest = ev('heartbeat', T('00:40'));
    const late = ev('heartbeat', T('00:20'));
    const { each } = commandsOf([first, latest, late]);
    expect(of(each[2] ?? [], 'absence.supervision')).toEqual([
      {
        op: 'set',
        timer: expect.objectContaining({ id: `absence.supervision:SM-9:${late.id}`, checkAt: T('01:20') }),
      },
    ]);
    // Silent after: lost at the latest heartbeat's check, once.
    const runner = withInterval(3600);
    const alerts = [
      ...runner.event(first, T('00:00')),
      ...runner.event(latest, T('00:40')),
      ...runner.event(late, T('00:41')),
      ...runner.advance(T('03:00')),
    ].filter((alert) => alert.rule.id === 'absence.supervision');
    expect(alerts.map((alert) => [alert.type, alert.evidence, alert.raisedAt])).toEqual([
      ['supervision.lost', [latest.id], new Date(T('01:40') + GRACE).toISOString()],
    ]);
  });

  it('checks stored per heartbeat by the version before still fire, once', () => {
    const beat = ev('heartbeat', T('00:00'));
    const { state } = commandsOf([beat]);
    // The record as the version before wrote it, and its check under the heartbeat's own id.
    const { checkAt: _, ...record } = state.devices['SM-9'] ?? { lastAt: 0, lastId: '', intervalS: 0 };
    const before: ResidentState = { ...state, devices: { 'SM-9': record } };
    const old: Timer = {
      id: `absence.supervision:SM-9:${beat.id}`,
      ruleId: 'absence.supervision',
      residentId: RESIDENT,
      checkAt: T('01:00'),
      dueAt: T('01:00') + GRACE,
      eventId: beat.id,
      eventAt: T('00:00'),
      key: 'SM-9',
    };
    const tick = evaluate(before, { kind: 'tick', timer: old, now: old.dueAt }, DEFAULT_RULE_SET);
    expect(tick.alerts.map((alert) => [alert.type, alert.evidence])).toEqual([
      ['supervision.lost', [beat.id]],
    ]);
    expect(
      evaluate(tick.state, { kind: 'tick', timer: old, now: old.dueAt }, DEFAULT_RULE_SET).alerts,
    ).toEqual([]);

    // A heartbeat within the interval: the old check is moot and goes; the device's one check starts.
    const next = ev('heartbeat', T('00:30'));
    const within = evaluate(
      before,
      { kind: 'event', event: next, now: T('00:30'), device: { supervisionIntervalS: 3600 } },
      DEFAULT_RULE_SET,
    );
    expect(of(within.timers, 'absence.supervision')).toEqual([
      { op: 'cancel', id: old.id },
      { op: 'set', timer: expect.objectContaining({ id: SUPERVISION, eventId: next.id }) },
    ]);
    // One after it: the old check stays, to decide the silence; nothing is written twice for it.
    const after = ev('heartbeat', T('01:00') + 10_000);
    const gap = evaluate(
      before,
      { kind: 'event', event: after, now: T('01:00') + 10_000, device: { supervisionIntervalS: 3600 } },
      DEFAULT_RULE_SET,
    );
    expect(of(gap.timers, 'absence.supervision')).toEqual([
      { op: 'set', timer: expect.objectContaining({ id: SUPERVISION, eventId: after.id }) },
    ]);
    const decided = evaluate(gap.state, { kind: 'tick', timer: old, now: old.dueAt }, DEFAULT_RULE_SET);
    expect(decided.alerts.map((alert) => alert.type)).toEqual(['supervision.lost', 'supervision.restored']);
  });
});

describe("the learned rhythm's stretch check", () => {
  /** The silence checks alone: the rules with the rhythm only. */
  const RHYTHM_ONLY = parseRuleSet({
    ...JSON.parse(JSON.stringify(DEFAULT_RULE_SET)),
    rules: DEFAULT_RULE_SET.rules.filter((rule) => rule.id === 'rhythm.learned'),
  });
  const silences = (alerts: readonly Alert[]) =>
    alerts
      .filter((alert) => alert.type === 'inactivity.unusual')
      .map((alert) => [alert.evidence, alert.raisedAt]);

  it('activities that only put the check later write nothing; it fires at the latest one’s check', () => {
    const moves = ['10:00', '10:05', '10:10', '10:30'].map((hhmm) => ev('motion', T(hhmm)));
    const { each, state } = commandsOf(moves, RHYTHM_ONLY);
    const silence = (commands: readonly TimerCommand[]) =>
      commands.filter((c) => c.op === 'cancel' || !c.timer.key?.startsWith('wake:'));
    expect(silence(each[0] ?? [])).toEqual([
      { op: 'set', timer: expect.objectContaining({ id: STRETCH, eventId: moves[0]?.id }) },
    ]);
    for (const commands of each.slice(1)) expect(silence(commands)).toEqual([]);
    const checkAt = state.rhythms?.['rhythm.learned']?.checkAt ?? 0;
    expect(checkAt).toBeGreaterThan(T('10:30'));
    expect(silences(runAll(moves, T('18:00'), new RulesRunner(RHYTHM_ONLY)))).toEqual([
      [[moves[3]?.id], new Date(checkAt + GRACE).toISOString()],
    ]);
  });

  it('a check that comes sooner is written at once', () => {
    // In the chair the prior is longer than about the house: getting up brings the check forward.
    const events = [ev('chair.occupied', T('10:00')), ev('chair.vacated', T('10:10'))];
    const { each, state } = commandsOf(events, RHYTHM_ONLY);
    const checkAt = state.rhythms?.['rhythm.learned']?.checkAt;
    expect(of(each[1] ?? [], STRETCH)).toEqual([
      { op: 'set', timer: expect.objectContaining({ id: STRETCH, eventId: events[1]?.id, checkAt }) },
    ]);
    expect(silences(runAll(events, T('23:59'), new RulesRunner(RHYTHM_ONLY)))).toEqual([
      [[events[1]?.id], new Date((checkAt ?? 0) + GRACE).toISOString()],
    ]);
  });

  it('in bed nothing is written, and the stored check finds nothing to check when it fires', () => {
    const events = [ev('motion', T('21:00')), ev('bed.occupied', T('21:30'))];
    const { each } = commandsOf(events, RHYTHM_ONLY);
    expect(of(each[1] ?? [], 'rhythm.learned')).toEqual([]);
    expect(silences(runAll(events, T('06:00', 23), new RulesRunner(RHYTHM_ONLY)))).toEqual([]);
  });

  it("a check that passed before the next activity arrived still decides, under its activity's own id", () => {
    const first = ev('motion', T('10:00'));
    const { state } = commandsOf([first], RHYTHM_ONLY);
    const checkAt = state.rhythms?.['rhythm.learned']?.checkAt ?? 0;
    const next = ev('motion', checkAt + 10_000);
    const arrived = evaluate(state, { kind: 'event', event: next, now: checkAt + 15_000 }, RHYTHM_ONLY);
    expect(of(arrived.timers, 'rhythm.learned')).toEqual([
      {
        op: 'set',
        timer: expect.objectContaining({ id: `rhythm.learned:${RESIDENT}:${first.id}`, checkAt }),
      },
    ]);
    const runner = new RulesRunner(RHYTHM_ONLY);
    const alerts = [
      ...runner.event(first, T('10:00')),
      ...runner.event(next, checkAt + 15_000),
      ...runner.advance(checkAt + 3_600_000),
    ];
    expect(silences(alerts)).toEqual([[[first.id], new Date(checkAt + GRACE).toISOString()]]);
  });

  it('a check stored per activity by the version before still fires once; the next activity moves to the one timer', () => {
    const first = ev('motion', T('10:00'));
    const { state } = commandsOf([first], RHYTHM_ONLY);
    const rhythm = state.rhythms?.['rhythm.learned'];
    if (!rhythm?.checkAt) throw new Error('no check');
    const { armedAt: _, ...old } = rhythm;
    const before: ResidentState = { ...state, rhythms: { 'rhythm.learned': old } };
    const timer: Timer = {
      id: `rhythm.learned:${RESIDENT}:${first.id}`,
      ruleId: 'rhythm.learned',
      residentId: RESIDENT,
      checkAt: rhythm.checkAt,
      dueAt: rhythm.checkAt + GRACE,
      eventId: first.id,
      key: 'home',
    };
    const fired = evaluate(before, { kind: 'tick', timer, now: timer.dueAt }, RHYTHM_ONLY);
    expect(fired.alerts.map((alert) => [alert.type, alert.evidence])).toEqual([
      ['inactivity.unusual', [first.id]],
    ]);
    // Before it fires, a movement makes it moot: it is cancelled, and the stretch timer set.
    const next = ev('motion', T('10:20'));
    const moved = evaluate(before, { kind: 'event', event: next, now: T('10:20') }, RHYTHM_ONLY);
    expect(
      of(moved.timers, 'rhythm.learned').filter((c) => c.op === 'cancel' || c.timer.key !== undefined),
    ).toEqual([
      { op: 'cancel', id: timer.id },
      { op: 'set', timer: expect.objectContaining({ id: STRETCH, eventId: next.id }) },
    ]);
  });
});

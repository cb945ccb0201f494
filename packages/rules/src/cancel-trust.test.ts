import { Alert, type EventType, type TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { ORPHANS_DISTRUSTED } from './kinds/cancel-trust.ts';
import { initialState, type ResidentState } from './model.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

/** November: Europe/London is UTC, so local times read as written. */
const T = (hhmm: string) => Date.parse(`2026-11-22T${hhmm}:00.000Z`);
const S = 1000;
const RESIDENT = 'res_cancel0001';
const PENDANT = { devicekind: 'pendant', subject: 'PD-1', location: 'hall' };

let counter = 0;
function ev(
  type: EventType,
  at: number,
  extra: Partial<Parameters<typeof makeEvent>[0]> = {},
): TelecareEvent {
  counter++;
  return makeEvent({
    type,
    time: new Date(at).toISOString(),
    residentid: RESIDENT,
    deviceEventId: `ct-${counter}`,
    ...PENDANT,
    ...extra,
  });
}
const press = (at: number, extra = {}) => ev('pendant.pressed', at, extra);
const cancel = (at: number, extra = {}) => ev('alarm.cancelled', at, extra);

/** Feeds events in order, each a second after its time, then runs the clock to `until`. */
function run(events: readonly TelecareEvent[], until: number, runner = new RulesRunner(DEFAULT_RULE_SET)) {
  const alerts: Alert[] = [];
  for (const event of events) alerts.push(...runner.event(event, Date.parse(event.time) + S));
  alerts.push(...runner.advance(until));
  for (const alert of alerts) Alert.parse(alert);
  return alerts;
}

const presses = (alerts: readonly Alert[]) =>
  alerts.filter((alert) => alert.rule.id === 'trigger.pendant' && !alert.repeats);
const closing = (alerts: readonly Alert[]) => alerts.filter((alert) => alert.closes !== undefined);
const notes = (alerts: readonly Alert[]) =>
  alerts.filter((alert) => alert.thresholds.orphanCancels !== undefined);

/** A cancel every `everyS` seconds from `from` to `to` (a stolen login's stream). */
const stream = (from: number, to: number, everyS: number) => {
  const cancels: TelecareEvent[] = [];
  for (let at = from; at <= to; at += everyS * S) cancels.push(cancel(at));
  return cancels;
};

const byTime = (events: readonly TelecareEvent[]) =>
  [...events].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));

describe('a cancel from a device that keeps sending cancels with nothing to cancel', () => {
  it('does not close the resident’s press: it stays for an operator, with one note saying why', () => {
    // A stolen login's cancel every 20 s for an hour and a half; the resident presses at 10:00:05.
    const real = press(T('10:00') + 5 * S);
    const alerts = run(byTime([...stream(T('09:00'), T('10:30'), 20), real]), T('10:40'));
    const [raised] = presses(alerts);
    expect(raised?.evidence).toEqual([real.id]);
    // Before: closed by the cancel at 10:00:20 as a false alarm, the case resolved unseen.
    expect(closing(alerts)).toEqual([]);
    // Three cancels of the stream follow the press within the window: one note, joining its case.
    const noted = notes(alerts);
    expect(new Set(noted.map((note) => note.id)).size).toBe(1);
    expect(noted[0]).toMatchObject({
      type: 'alarm.cancelled',
      priority: raised?.priority,
      deviceSerial: 'PD-1',
      evidence: [real.id, expect.any(String)],
      thresholds: { orphanCancelsWithinS: 3600, preAlarmCancelS: 60 },
    });
    expect(noted[0]?.reason).toMatch(
      /a cancel from PD-1 was not taken: the device sent \d+ cancels with no alarm to cancel in the hour before it/,
    );
    expect(noted[0]?.thresholds.orphanCancels).toBeGreaterThanOrEqual(ORPHANS_DISTRUSTED);
  });

  it('says so to the shell, once per cancel that paired with the press', () => {
    let state: ResidentState = initialState(RESIDENT);
    const real = press(T('10:00') + 5 * S);
    const refused = [];
    for (const event of byTime([...stream(T('09:50'), T('10:02'), 20), real])) {
      const result = evaluate(
        state,
        { kind: 'event', event, now: Date.parse(event.time) + S },
        DEFAULT_RULE_SET,
      );
      state = result.state;
      refused.push(...result.cancelsNotTaken);
    }
    expect(refused).toHaveLength(3);
    expect(refused[0]).toMatchObject({
      ruleId: 'correlation.pre-alarm-cancel',
      residentId: RESIDENT,
      deviceSerial: 'PD-1',
    });
  });

  it('keeps its evidence when the stream is one cancel a second in a busy home, `recent` full', () => {
    // Four rooms' PIRs fill most of `recent` (each within its quarter), then a cancel a second.
    const rooms = ['PIR-1', 'PIR-2', 'PIR-3', 'PIR-4'];
    const busy = rooms.flatMap((subject, r) =>
      Array.from({ length: 45 }, (_, i) =>
        ev('motion', T('08:00') + (i * 4 + r) * 60 * S, { devicekind: 'pir', subject, location: subject }),
      ),
    );
    const flood = stream(T('09:50'), T('10:00'), 1);
    const real = press(T('10:00') + 500);
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const alerts = run(byTime([...busy, ...flood, real, cancel(T('10:00') + 1500)]), T('10:10'), runner);
    expect(presses(alerts)).toHaveLength(1);
    expect(closing(alerts)).toEqual([]);
    expect(notes(alerts)).toHaveLength(1);
    // What `recent` holds: the list at its bound, the pendant held to its quarter, all its latest.
    const recent = runner.states.get(RESIDENT)?.recent ?? [];
    expect(recent).toHaveLength(DEFAULT_RULE_SET.settings.keepEvents);
    const cancels = recent.filter((seen) => seen.serial === 'PD-1' && seen.type === 'alarm.cancelled');
    expect(cancels.length).toBeGreaterThanOrEqual(ORPHANS_DISTRUSTED);
    expect(cancels.length).toBeLessThanOrEqual(DEFAULT_RULE_SET.settings.keepEvents / 4);
  });

  it('decides the same whenever it is replayed: the events decide, not the clock', () => {
    const events = byTime([...stream(T('09:00'), T('10:30'), 20), press(T('10:00') + 5 * S)]);
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    // Each read 20 minutes after its time (triage behind), rather than at once.
    const later: Alert[] = [];
    for (const event of events) later.push(...runner.event(event, Date.parse(event.time) + 20 * 60 * S));
    const now = run(events, T('10:40'));
    const decided = (alerts: Alert[]) =>
      [...closing(alerts), ...notes(alerts)].map((alert) => alert.id).sort();
    expect(decided(later)).toEqual(decided(now));
    expect(notes(later)).toHaveLength(3);
  });

  it('a cancel stream of a home unit leaves the home’s pull-cord open too', () => {
    const homeUnit = { devicekind: 'home-unit', subject: 'HU-1', location: 'hall' };
    const pull = ev('pullcord.pulled', T('10:00') + 5 * S, { devicekind: 'pullcord', subject: 'PC-1' });
    const cancels = [T('09:30'), T('09:40'), T('10:00') + 30 * S].map((at) => cancel(at, homeUnit));
    const alerts = run(byTime([...cancels, pull]), T('10:10'));
    expect(closing(alerts)).toEqual([]);
    expect(notes(alerts)[0]?.reason).toContain('a cancel from HU-1 was not taken: the device sent 2 cancels');
  });
});

describe('an honest resident’s cancels still close their presses', () => {
  it('a press cancelled 8 s later', () => {
    const first = press(T('10:00'));
    const alerts = run([first, cancel(T('10:00') + 8 * S)], T('10:10'));
    expect(closing(alerts)).toMatchObject([{ closes: { outcome: 'false-alarm' } }]);
    expect(notes(alerts)).toEqual([]);
  });

  it('press, cancel, press, cancel minutes apart, the cancel pressed twice each time', () => {
    const events = [
      press(T('10:00')),
      cancel(T('10:00') + 6 * S),
      cancel(T('10:00') + 9 * S),
      press(T('10:07')),
      cancel(T('10:07') + 4 * S),
      cancel(T('10:07') + 5 * S),
      press(T('10:21')),
      cancel(T('10:21') + 10 * S),
    ];
    const alerts = run(events, T('10:40'));
    expect(new Set(closing(alerts).map((alert) => alert.closes?.alertId)).size).toBe(3);
    expect(notes(alerts)).toEqual([]);
  });

  it('a cancel that arrives before its press (the press’s first sending lost, resent)', () => {
    const first = press(T('10:00'));
    const resent = { ...first, receivedat: new Date(T('10:00') + 30 * S).toISOString() };
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    // An earlier press's cancel arrived before its press too, and the press came after.
    const earlier = press(T('09:30'));
    const alerts = [
      ...runner.event(cancel(T('09:30') + 5 * S), T('09:30') + 6 * S),
      ...runner.event(
        { ...earlier, receivedat: new Date(T('09:30') + 20 * S).toISOString() },
        T('09:30') + 20 * S,
      ),
      ...runner.event(cancel(T('10:00') + 10 * S), T('10:00') + 11 * S),
      ...runner.event(resent, T('10:00') + 30 * S),
    ];
    expect(closing(alerts)).toHaveLength(2);
    expect(notes(alerts)).toEqual([]);
  });

  it('one cancel with nothing to cancel (a press lost for good), and an installer’s test-mode cancels', () => {
    const test = { testmode: true };
    const events = [
      cancel(T('09:20')),
      press(T('09:30'), test),
      cancel(T('09:30') + 5 * S, test),
      cancel(T('09:35'), test),
      cancel(T('09:36'), test),
      cancel(T('09:37'), test),
      press(T('10:00')),
      cancel(T('10:00') + 8 * S),
    ];
    const alerts = run(events, T('10:10')).filter((alert) => !alert.testMode);
    expect(closing(alerts)).toHaveLength(1);
    expect(notes(alerts)).toEqual([]);
  });

  it('cancels with nothing to cancel more than an hour before are forgotten', () => {
    const events = [cancel(T('08:00')), cancel(T('08:30')), press(T('09:40')), cancel(T('09:40') + 8 * S)];
    expect(closing(run(events, T('10:00')))).toHaveLength(1);
    // Within the hour, the same two send the press to an operator.
    const within = [cancel(T('09:00')), cancel(T('09:30')), press(T('09:40')), cancel(T('09:40') + 8 * S)];
    const alerts = run(within, T('10:00'));
    expect(closing(alerts)).toEqual([]);
    expect(notes(alerts)).toHaveLength(1);
  });
});

describe('a cancel whose alarm shares its alert with another device’s press', () => {
  // A second pendant of the home (a couple's, or a spare) whose login is stolen, and the home unit.
  const OTHER = { subject: 'PD-2' };
  const HUB = { devicekind: 'home-unit', subject: 'HU-1' };

  it('does not close the resident’s press that the stolen pendant’s own press joined', () => {
    const real = press(T('10:00'));
    const events = [real, press(T('10:00') + 10 * S, OTHER), cancel(T('10:00') + 12 * S, OTHER)];
    const alerts = run(events, T('10:10'));
    // Before: the cancel closed its own press, the group's repeat, and so the group's alert.
    expect(closing(alerts)).toEqual([]);
    const noted = notes(alerts);
    expect(noted).toHaveLength(1);
    expect(noted[0]?.reason).toMatch(
      /a cancel from PD-2 was not taken: the alarm's alert also holds a press from PD-1, which a cancel from PD-2 does not close/,
    );
    expect(noted[0]?.evidence).toContain(real.id);
  });

  it('does not close the resident’s press that joined the group the stolen pendant’s press opened', () => {
    const events = [press(T('10:00'), OTHER), press(T('10:00') + 20 * S), cancel(T('10:00') + 50 * S, OTHER)];
    const alerts = run(events, T('10:10'));
    expect(closing(alerts)).toEqual([]);
    expect(notes(alerts)).toHaveLength(1);
  });

  it('still closes a pendant’s press cancelled on the home unit, and each pendant’s own press and cancel', () => {
    const hub = run([press(T('10:00')), cancel(T('10:00') + 8 * S, HUB)], T('10:10'));
    expect(closing(hub)).toHaveLength(1);
    expect(notes(hub)).toEqual([]);
    // Two pendants' presses, a group each (the first cancelled before the second was pressed).
    const own = run(
      [
        press(T('10:00')),
        cancel(T('10:00') + 5 * S),
        press(T('10:01'), OTHER),
        cancel(T('10:01') + 5 * S, OTHER),
      ],
      T('10:10'),
    );
    expect(closing(own)).toHaveLength(2);
    expect(notes(own)).toEqual([]);
  });
});

describe('a home unit’s cancel, once it has cancelled its own alarms again and again', () => {
  const HUB = { devicekind: 'home-unit', subject: 'HU-1' };
  /** The stolen home unit's login: its own press and its cancel, `everyS` apart, from `from`. */
  const pairs = (from: number, count: number, everyS: number) =>
    Array.from({ length: count }, (_, k) => [
      press(from + k * everyS * S, HUB),
      cancel(from + k * everyS * S + 2 * S, HUB),
    ]).flat();

  it('closes only its own alarms: the resident’s pendant press stays for an operator', () => {
    // A pair a minute from 09:30; the resident presses at 10:00:30, between two pairs.
    const real = press(T('10:00') + 30 * S);
    const alerts = run(byTime([...pairs(T('09:30'), 40, 60), real]), T('10:20'));
    // Every pair of its own is closed; the resident's press is not.
    expect(closing(alerts).some((c) => c.evidence.includes(real.id))).toBe(false);
    const noted = alerts.filter((a) => a.reason.includes('was not taken') && a.evidence.includes(real.id));
    expect(noted).toHaveLength(1);
    expect(noted[0]?.reason).toMatch(
      /a cancel from HU-1 was not taken: it cancelled \d+ alarms of its own in the hour before it, so it no longer closes PD-1's/,
    );
  });

  it('still closes a pendant’s press after one of its own pressed and cancelled in the hour', () => {
    const real = press(T('10:00'));
    const alerts = run(
      byTime([...pairs(T('09:30'), 1, 60), real, cancel(T('10:00') + 5 * S, HUB)]),
      T('10:20'),
    );
    expect(closing(alerts).filter((c) => c.evidence.includes(real.id))).toHaveLength(1);
  });
});

describe("a cancel ends a fall's check for no movement only when it could close that fall", () => {
  const FALL = { devicekind: 'fall-detector', subject: 'FD-1', location: 'bedroom' };
  const PARTNER = { devicekind: 'pendant', subject: 'PD-2', location: 'lounge' };
  const HOME_UNIT = { devicekind: 'home-unit', subject: 'HU-1', location: 'hall' };
  const fall = (at: number) => ev('fall.detected', at, FALL);
  const stillLying = (alerts: readonly Alert[]) =>
    alerts.filter((alert) => alert.rule.id === 'correlation.fall-no-movement');

  it("another pendant's press and cancel of its own press: the fall then no movement is raised", () => {
    const fell = fall(T('10:00'));
    const alerts = run(
      [fell, press(T('10:00') + 30 * S, PARTNER), cancel(T('10:00') + 40 * S, PARTNER)],
      T('10:10'),
    );
    // Before: the partner's cancel ended the check, and the resident on the floor was never raised.
    expect(stillLying(alerts)).toMatchObject([{ priority: 1, evidence: [fell.id] }]);
    expect(stillLying(alerts)[0]?.rule.version).toBe(2);
    // The partner's cancel closed their own press only.
    expect(closing(alerts).map((alert) => alert.evidence[0])).not.toContain(fell.id);
  });

  it("the fall detector's own cancel or the home unit's ends it (the fall closed as a false alarm); movement from any device too", () => {
    for (const device of [FALL, HOME_UNIT]) {
      const fell = fall(T('11:00'));
      const alerts = run([fell, cancel(T('11:00') + 20 * S, device)], T('11:10'));
      expect(stillLying(alerts)).toEqual([]);
      expect(closing(alerts)).toMatchObject([
        { closes: { outcome: 'false-alarm' }, evidence: [fell.id, expect.any(String)] },
      ]);
    }
    const moved = run(
      [fall(T('12:00')), ev('motion', T('12:01'), { devicekind: 'pir', subject: 'PIR-1', location: 'hall' })],
      T('12:10'),
    );
    expect(stillLying(moved)).toEqual([]);
  });

  it('a cancel not taken (its device sent orphan cancels) ends nothing: the fall then no movement is raised', () => {
    const fell = fall(T('13:00'));
    const alerts = run(
      [
        cancel(T('12:10'), HOME_UNIT),
        cancel(T('12:30'), HOME_UNIT),
        fell,
        cancel(T('13:00') + 20 * S, HOME_UNIT),
      ],
      T('13:10'),
    );
    expect(closing(alerts)).toEqual([]);
    expect(stillLying(alerts)).toMatchObject([{ evidence: [fell.id] }]);
  });
});

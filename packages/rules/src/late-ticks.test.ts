import type { Alert, EventType, TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState, type ResidentState, type RuleSet, type Timer } from './model.ts';
import { parseRuleSet } from './parse.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

/**
 * Triage fires a partition's due timers in rounds between its events: a check due just before an
 * event may be decided after that event was evaluated (a lane busy, triage catching up after an
 * outage, a clock that jumped). What the check decides must not depend on it: it is the check of
 * its own moment. `RulesRunner` fires every timer due before an event first; this runs the same
 * events with each event evaluated before the timers due by its time.
 */
/**
 * Both run on past `until` and keep what was raised by it (`raisedAt` counts from the check): a
 * check the last tick moved on fires a reorder grace after that tick, later when it ran late.
 */
const SETTLE_MS = 6 * 3600_000;

/** Each timer fired after the event that follows it, or (`lagMs`) only once events that much later were taken. */
function ticksAfterEvents(
  events: readonly TelecareEvent[],
  ruleSet: RuleSet,
  until: number,
  lagMs = 0,
): Alert[] {
  let state: ResidentState = initialState(events[0]?.residentid ?? 'res_none');
  const timers = new Map<string, Timer>();
  const alerts: Alert[] = [];
  const apply = (result: ReturnType<typeof evaluate>) => {
    state = result.state;
    alerts.push(...result.alerts);
    for (const command of result.timers)
      if (command.op === 'cancel') timers.delete(command.id);
      else timers.set(command.timer.id, command.timer);
  };
  // The clock: the latest event's time, or a timer's due time once past it.
  let clock = Number.NEGATIVE_INFINITY;
  const fireBy = (by: number) => {
    for (;;) {
      const due = [...timers.values()].filter((t) => t.dueAt <= by).sort((a, b) => a.dueAt - b.dueAt)[0];
      if (!due) return;
      timers.delete(due.id);
      clock = Math.max(clock, due.dueAt);
      apply(evaluate(state, { kind: 'tick', timer: due, now: clock }, ruleSet));
    }
  };
  for (const event of events) {
    const at = Date.parse(event.time);
    clock = Math.max(clock, at);
    apply(evaluate(state, { kind: 'event', event, now: at }, ruleSet));
    fireBy(at - lagMs);
  }
  fireBy(until + SETTLE_MS);
  return alerts.filter((alert) => Date.parse(alert.raisedAt) <= until);
}

function inTimeOrder(events: readonly TelecareEvent[], ruleSet: RuleSet, until: number): Alert[] {
  const runner = new RulesRunner(ruleSet);
  const alerts: Alert[] = [];
  for (const event of events) alerts.push(...runner.event(event, Date.parse(event.time)));
  alerts.push(...runner.advance(until + SETTLE_MS));
  return alerts.filter((alert) => Date.parse(alert.raisedAt) <= until);
}

const RESIDENT = 'res_late0001';
const RULES = parseRuleSet(JSON.parse(JSON.stringify(DEFAULT_RULE_SET)));
const DEVICES: Partial<Record<EventType, [string, string]>> = {
  motion: ['PIR-1', 'pir'],
  'bed.occupied': ['BS-1', 'bed-sensor'],
  'bed.vacated': ['BS-1', 'bed-sensor'],
  'door.opened': ['DC-1', 'door-contact'],
  'door.closed': ['DC-1', 'door-contact'],
  'carer.arrived': ['CF-1', 'carer-fob'],
  'carer.left': ['CF-1', 'carer-fob'],
  'medication.due': ['MD-1', 'medication-dispenser'],
  'medication.taken': ['MD-1', 'medication-dispenser'],
  'chair.occupied': ['CH-1', 'chair-sensor'],
  'chair.vacated': ['CH-1', 'chair-sensor'],
  temperature: ['TS-1', 'temperature-sensor'],
};
const ev = (type: EventType, time: string, serial?: string) => {
  const [device, devicekind] = DEVICES[type] ?? ['PX-1', 'pendant'];
  const subject = serial ?? device;
  return makeEvent({
    type,
    time,
    subject,
    devicekind,
    residentid: RESIDENT,
    deviceEventId: `${subject}-${type}-${time}`,
  });
};
const types = (alerts: readonly Alert[]) => alerts.filter((a) => !a.closes).map((a) => `${a.type} ${a.id}`);

const day = (d: number, hhmm: string) => `2026-11-${String(10 + d).padStart(2, '0')}T${hhmm}:00.000Z`;
const hhmm = (minute: number) =>
  `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;

/** A week learned: to bed at 22:00, up at 07:00 (checked by 07:45), about the house through the day. */
function learnedWeek(): TelecareEvent[] {
  const events: TelecareEvent[] = [];
  for (let d = 0; d < 8; d++)
    events.push(
      ev('bed.vacated', day(d, '07:00')),
      ev('motion', day(d, '07:05')),
      ev('motion', day(d, '12:00')),
      ev('motion', day(d, '18:00')),
      ev('bed.occupied', day(d, '22:00')),
    );
  return events;
}

describe('a check decided after an event later than it', () => {
  it('out and not back: the door opening next morning, evaluated before the evening check fired, does not put the check off', () => {
    const events = [
      ev('motion', '2026-11-23T16:50:00.000Z'),
      ev('door.opened', '2026-11-23T17:00:00.000Z'),
      ev('door.closed', '2026-11-23T17:00:20.000Z'),
      // Brought home in the morning: the door, then someone inside.
      ev('door.opened', '2026-11-24T07:00:00.000Z'),
      ev('door.closed', '2026-11-24T07:00:20.000Z'),
      ev('motion', '2026-11-24T07:01:00.000Z'),
    ];
    const until = Date.parse('2026-11-24T12:00:00.000Z');
    const ordered = types(inTimeOrder(events, RULES, until));
    expect(ordered.some((a) => a.startsWith('outing.not-returned'))).toBe(true);
    expect(types(ticksAfterEvents(events, RULES, until))).toEqual(ordered);
  });

  it('not up: getting up late, evaluated before the morning check fired, does not hide that they were not up by it', () => {
    const events = learnedWeek();
    // Then a morning not up until one o'clock.
    events.push(ev('bed.vacated', day(8, '13:00')), ev('motion', day(8, '13:01')));
    const until = Date.parse(day(8, '16:00'));
    const ordered = types(inTimeOrder(events, RULES, until));
    expect(ordered.some((a) => a.startsWith('inactivity.no-wake'))).toBe(true);
    expect(types(ticksAfterEvents(events, RULES, until))).toEqual(ordered);
  });

  it('not up: getting up late, learned before the morning check fired, does not move the check past it', () => {
    const events = learnedWeek();
    // Up at nine, two hours past the latest morning learned, and about: learned as the day's get-up
    // 20 minutes on, before the 07:45 check fired (triage two hours behind). Were the day's own
    // morning one of those it is checked against, the check would move to 09:45 and find them up.
    events.push(
      ev('bed.vacated', day(8, '09:00')),
      ev('motion', day(8, '09:05')),
      ev('motion', day(8, '09:25')),
      ev('motion', day(8, '12:00')),
    );
    const until = Date.parse(day(8, '16:00'));
    const ordered = types(inTimeOrder(events, RULES, until));
    expect(ordered.some((a) => a.startsWith('inactivity.no-wake'))).toBe(true);
    expect(types(ticksAfterEvents(events, RULES, until, 2 * 3_600_000))).toEqual(ordered);
  });

  it('up on time, the check decided hours behind: the get-up aged out of what the state keeps still counts', () => {
    const events: TelecareEvent[] = [];
    // A busy home: up at 07:00 (checked by 07:45), movement in four rooms every two minutes until
    // bed at 22:00, so the state's last 200 events reach back under seven hours.
    for (let d = 0; d < 9; d++) {
      events.push(ev('bed.vacated', day(d, '07:00')));
      for (let minute = 7 * 60 + 2; minute < 22 * 60; minute += 2)
        events.push(ev('motion', day(d, hhmm(minute)), `PIR-${(minute / 2) % 4}`));
      events.push(ev('bed.occupied', day(d, '22:00')));
    }
    const until = Date.parse(day(8, '23:00'));
    const ordered = types(inTimeOrder(events, RULES, until));
    expect(ordered.filter((a) => a.startsWith('inactivity.no-wake'))).toEqual([]);
    // Triage ten hours behind (a backlog after an outage): 300 events taken before the morning's
    // check fired.
    expect(types(ticksAfterEvents(events, RULES, until, 10 * 3_600_000))).toEqual(ordered);
  });

  describe('hours behind, in a busy home whose state keeps under seven hours of events', () => {
    const busyDay = (): TelecareEvent[] => {
      // Up at 07:00 (the bed sensor says so: the morning's check reads the get-up learned).
      const events: TelecareEvent[] = [ev('bed.vacated', day(0, '07:00'))];
      for (let minute = 7 * 60 + 2; minute < 22 * 60; minute += 2)
        events.push(ev('motion', day(0, hhmm(minute)), `PIR-${(minute / 2) % 4}`));
      return events;
    };
    const byTime = (events: TelecareEvent[]) =>
      events.sort((a, b) => Date.parse(a.time) - Date.parse(b.time));

    it('a home with no bed sensor, about from 07:02 each day: not "not up"', () => {
      const events: TelecareEvent[] = [];
      for (let d = 0; d < 9; d++)
        for (let minute = 7 * 60 + 2; minute < 22 * 60; minute += 2)
          events.push(ev('motion', day(d, hhmm(minute)), `PIR-${(minute / 2) % 4}`));
      const until = Date.parse(day(8, '23:00'));
      const ordered = types(inTimeOrder(events, RULES, until));
      expect(ordered.filter((a) => a.startsWith('inactivity.no-wake'))).toEqual([]);
      expect(types(ticksAfterEvents(events, RULES, until, 10 * 3_600_000))).toEqual(ordered);
    });

    it('a carer who came on time is not reported a no-show', () => {
      const rules = parseRuleSet({
        ...JSON.parse(JSON.stringify(DEFAULT_RULE_SET)),
        residents: { [RESIDENT]: { visits: ['09:00', '13:00'] } },
      });
      const events = byTime([
        ...busyDay(),
        ev('carer.arrived', '2026-11-10T09:10:30.000Z'),
        ev('carer.left', '2026-11-10T09:40:30.000Z'),
      ]);
      const until = Date.parse(day(0, '23:00'));
      const ordered = types(inTimeOrder(events, rules, until));
      // 13:00 was missed; 09:00 was not.
      expect(ordered.filter((a) => a.startsWith('carer.no-show'))).toHaveLength(1);
      expect(types(ticksAfterEvents(events, rules, until, 10 * 3_600_000))).toEqual(ordered);
    });

    it('a dose taken is not missed, and a dose never taken still is', () => {
      const dose = (type: EventType, time: string, doseId: string) => ({
        ...ev(type, time),
        data: { doseId },
      });
      const events = byTime([
        ...busyDay(),
        dose('medication.due', '2026-11-10T08:00:30.000Z', 'morning'),
        dose('medication.taken', '2026-11-10T08:10:30.000Z', 'morning'),
        dose('medication.due', '2026-11-10T12:00:30.000Z', 'lunch'),
      ]);
      const until = Date.parse(day(0, '23:00'));
      const ordered = types(inTimeOrder(events, RULES, until));
      expect(ordered.filter((a) => a.startsWith('medication.missed'))).toHaveLength(1);
      expect(types(ticksAfterEvents(events, RULES, until, 10 * 3_600_000))).toEqual(ordered);
    });
    it('in the chair five hours is raised, two hours is not', () => {
      const events = byTime([
        ...busyDay(),
        ev('chair.occupied', '2026-11-10T09:00:30.000Z'),
        ev('chair.vacated', '2026-11-10T11:00:30.000Z'),
        ev('chair.occupied', '2026-11-10T12:00:30.000Z'),
        ev('chair.vacated', '2026-11-10T17:00:30.000Z'),
      ]);
      const until = Date.parse(day(0, '23:00'));
      const ordered = types(inTimeOrder(events, RULES, until));
      expect(ordered.filter((a) => a.startsWith('chair.too-long'))).toHaveLength(1);
      expect(types(ticksAfterEvents(events, RULES, until, 10 * 3_600_000))).toEqual(ordered);
    });

    it('a home cold for three hours is raised once, one cold for half an hour is not', () => {
      const reading = (time: string, celsius: number) => ({ ...ev('temperature', time), data: { celsius } });
      const events = byTime([
        ...busyDay(),
        ...[
          ['08:00', 18],
          ['08:30', 15],
          ['09:00', 18],
          ['12:00', 18],
          ['12:30', 15],
          ['13:00', 14.5],
          ['14:00', 15],
          ['15:00', 15.5],
          ['15:30', 18],
        ].map(([hhmm, celsius]) =>
          reading(day(0, hhmm as string).replace(':00.000Z', ':20.000Z'), celsius as number),
        ),
      ]);
      const until = Date.parse(day(0, '23:00'));
      const ordered = types(inTimeOrder(events, RULES, until));
      expect(ordered.filter((a) => a.startsWith('temperature.low'))).toHaveLength(1);
      expect(types(ticksAfterEvents(events, RULES, until, 10 * 3_600_000))).toEqual(ordered);
    });
  });

  it('out, the door opened a moment after it closed with nothing seen inside: movement just after the check does not make the check moot', () => {
    // Quiet hours from noon: "by 12:45 at night" is the outing's deadline.
    const rules = parseRuleSet({
      ...JSON.parse(JSON.stringify(DEFAULT_RULE_SET)),
      residents: { [RESIDENT]: { quietHours: { from: '12:00', to: '13:30' } } },
    });
    const events = [
      ev('motion', '2026-11-22T10:30:00.000Z'),
      ev('door.closed', '2026-11-22T10:30:01.000Z'),
      ev('door.opened', '2026-11-22T10:30:01.001Z'),
      ev('motion', '2026-11-22T12:45:08.010Z'),
    ];
    const until = Date.parse('2026-11-22T20:00:00.000Z');
    // The movement 8 s after the check, taken before its timer (due a grace after it) fired, and
    // taken after it (arriving 22 s late): the same outing raised.
    const before = types(inTimeOrder(events, rules, until));
    expect(before.some((a) => a.startsWith('outing.not-returned'))).toBe(true);
    const arrivals = events.map((event) => Date.parse(event.time));
    arrivals[3] = Date.parse('2026-11-22T12:45:30.000Z');
    const runner = new RulesRunner(rules);
    const after: Alert[] = [];
    events.forEach((event, i) => {
      after.push(...runner.event(event, arrivals[i] as number));
    });
    after.push(...runner.advance(until + SETTLE_MS));
    expect(types(after.filter((a) => Date.parse(a.raisedAt) <= until))).toEqual(before);
  });
});

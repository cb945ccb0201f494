import { Alert, type AwayPeriod, type EventType, type TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET, RHYTHM_RULE } from './default-rules.ts';
import type { RuleSet } from './model.ts';
import { RulesRunner } from './runner.ts';
import { handShell, makeEvent } from './testing.ts';

/** November 2026: Europe/London is UTC, so local times read as written; 9 Nov is a Monday. */
const at = (day: number, hhmm: string) =>
  Date.parse(`2026-11-${String(day).padStart(2, '0')}T${hhmm}:00.000Z`);
const iso = (ms: number) => new Date(ms).toISOString();
const RESIDENT = 'res_away00001';
const DEVICES: Partial<Record<EventType, [string, string, string]>> = {
  motion: ['pir', 'PIR-K', 'kitchen'],
  'bed.occupied': ['bed-sensor', 'BS-1', 'bedroom'],
  'bed.vacated': ['bed-sensor', 'BS-1', 'bedroom'],
  'chair.occupied': ['chair-sensor', 'CS-1', 'lounge'],
  'chair.vacated': ['chair-sensor', 'CS-1', 'lounge'],
  'door.opened': ['door-contact', 'DC-1', 'front door'],
  'door.closed': ['door-contact', 'DC-1', 'front door'],
  'pendant.pressed': ['pendant', 'PX-1', 'hall'],
  'fall.detected': ['fall-detector', 'FD-1', 'hall'],
};

let counter = 0;
function ev(type: EventType, time: number, device?: [string, string, string]): TelecareEvent {
  const [devicekind, subject, location] = device ?? DEVICES[type] ?? ['pir', 'PIR-K', 'kitchen'];
  counter++;
  return makeEvent({
    type,
    time: iso(time),
    residentid: RESIDENT,
    devicekind,
    subject,
    location,
    deviceEventId: `a-${counter}`,
  });
}

const about = (from: number, to: number): TelecareEvent[] => {
  const events: TelecareEvent[] = [];
  for (let t = from; t < to; t += 6 * 60_000) events.push(ev('motion', t));
  return events;
};
const leave = (t: number) => [ev('door.opened', t), ev('door.closed', t + 20_000)];
const comeBack = (t: number) => [
  ev('door.opened', t),
  ev('door.closed', t + 20_000),
  ev('motion', t + 60_000),
];

/** Up about 09:30, an outing of 90 min from 14:00, the chair 19:00–21:00, bed at 23:00. */
function ordinaryDay(day: number): TelecareEvent[] {
  return [
    ev('bed.vacated', at(day, '09:30')),
    ...about(at(day, '09:32'), at(day, '14:00')),
    ...leave(at(day, '14:00')),
    ...comeBack(at(day, '15:30')),
    ...about(at(day, '15:32'), at(day, '19:00')),
    ev('chair.occupied', at(day, '19:00')),
    ev('chair.vacated', at(day, '21:00')),
    ...about(at(day, '21:02'), at(day, '23:00')),
    ev('bed.occupied', at(day, '23:00')),
  ];
}

/** Eight ordinary days learned, then Monday 9 Nov: up at 09:30, out of the door at 11:00. */
const week = (): TelecareEvent[] => [
  ...Array.from({ length: 8 }, (_, i) => ordinaryDay(i + 1)).flat(),
  ev('bed.vacated', at(9, '09:30')),
  ...about(at(9, '09:32'), at(9, '11:00')),
  ...leave(at(9, '11:00')),
];

/** "At my daughter's from Monday morning to Wednesday 18:00." */
const WEEKEND: AwayPeriod = {
  id: 'awy_weekend01',
  from: iso(at(9, '10:00')),
  until: iso(at(11, '18:00')),
  reason: 'holiday',
};

const declared = (...away: AwayPeriod[]): RuleSet => ({
  ...DEFAULT_RULE_SET,
  residents: { [RESIDENT]: { away } },
});

function run(
  events: TelecareEvent[],
  until: number,
  ruleSet: RuleSet = DEFAULT_RULE_SET,
  away?: (residentId: string) => readonly AwayPeriod[] | undefined,
) {
  const runner = new RulesRunner(ruleSet, away ? { away } : {});
  const alerts: Alert[] = [];
  for (const event of [...events].sort((a, b) => Date.parse(a.time) - Date.parse(b.time)))
    alerts.push(...runner.event(event, Date.parse(event.time) + 1000));
  alerts.push(...runner.advance(until));
  for (const alert of alerts) Alert.parse(alert);
  return { alerts: alerts.filter((alert) => Date.parse(alert.raisedAt) >= at(9, '00:00')), runner };
}

const types = (alerts: readonly Alert[]) => alerts.map((alert) => `${alert.type} ${alert.raisedAt}`);

describe('declared time away', () => {
  it('raises "not back" for a weekend away when nothing is declared (the case it is for)', () => {
    const { alerts } = run([...week(), ...comeBack(at(11, '17:00'))], at(11, '23:59'));
    expect(alerts.some((alert) => alert.type === 'outing.not-returned')).toBe(true);
  });

  it('raises nothing while declared away, and nothing when they come home in time', () => {
    const events = [
      ...week(),
      ...comeBack(at(11, '17:00')),
      ...about(at(11, '17:06'), at(11, '22:00')),
      ev('bed.occupied', at(11, '22:00')),
    ];
    const { alerts } = run(events, at(11, '23:59'), declared(WEEKEND));
    expect(types(alerts)).toEqual([]);
  });

  it('catches someone who does not come back: "not back" from the declared return, with its grace', () => {
    const { alerts } = run(week(), at(12, '12:00'), declared(WEEKEND));
    expect(types(alerts)).toEqual([`outing.not-returned ${iso(at(11, '20:30') + 30_000)}`]);
    const [alert] = alerts;
    expect(alert?.reason).toContain('out of the front door at 11:00 on Mon 9 Nov');
    expect(alert?.reason).toContain(
      'back by 20:30 today (Wed 11 Nov): declared on holiday from Mon 9 Nov 10:00 until Wed 11 Nov 18:00, and 150 min grace',
    );
  });

  it('resumes the rules at a return seen during the period (door, then movement)', () => {
    // Home on Tuesday at 12:00, about for an hour, then nothing: a silence at home, period or not.
    const events = [...week(), ...comeBack(at(10, '12:00')), ...about(at(10, '12:06'), at(10, '13:00'))];
    const { alerts, runner } = run(events, at(10, '23:00'), declared(WEEKEND));
    expect(runner.states.get(RESIDENT)?.away).toEqual({
      id: WEEKEND.id,
      out: true,
      back: at(10, '12:00') + 60_000,
    });
    expect(alerts.map((alert) => alert.type)).toEqual(['inactivity.unusual']);
    expect(Date.parse(alerts[0]?.raisedAt ?? '')).toBeLessThan(at(10, '18:00'));
  });

  it('does not take movement at home before leaving for a return', () => {
    // Declared from 10:00, left at 11:00: the hour of packing is not them coming back.
    const { runner } = run(week(), at(9, '12:00'), declared(WEEKEND));
    expect(runner.states.get(RESIDENT)?.away).toEqual({ id: WEEKEND.id, out: true });
  });

  it('always raises alarms while away: a pendant, a fall, and the fall with no movement after it', () => {
    const events = [...week(), ev('pendant.pressed', at(10, '09:00')), ev('fall.detected', at(10, '09:05'))];
    const { alerts } = run(events, at(10, '09:30'), declared(WEEKEND));
    expect(alerts.map((alert) => alert.type).sort()).toEqual([
      'fall.detected',
      'fall.detected',
      'pendant.pressed',
    ]);
  });

  it('follows the registry’s periods given with each input: open-ended, then ended early', () => {
    let periods: AwayPeriod[] = [{ id: 'awy_hosp0001', from: iso(at(9, '10:30')), reason: 'hospital' }];
    const runner = new RulesRunner(DEFAULT_RULE_SET, { away: () => periods });
    const alerts: Alert[] = [];
    for (const event of week()) alerts.push(...runner.event(event, Date.parse(event.time) + 1000));
    alerts.push(...runner.advance(at(12, '09:00')));
    expect(alerts.filter((alert) => Date.parse(alert.raisedAt) >= at(9, '00:00'))).toEqual([]);
    // The operator ends the stay on Thursday 09:00: "not back" comes within the grace and the
    // hour the period is looked at again.
    periods = [{ ...periods[0], until: iso(at(12, '09:00')) } as AwayPeriod];
    alerts.push(...runner.advance(at(12, '14:00')));
    const raised = alerts.filter((alert) => Date.parse(alert.raisedAt) >= at(9, '00:00'));
    expect(raised.map((alert) => alert.type)).toEqual(['outing.not-returned']);
    const when = Date.parse(raised[0]?.raisedAt ?? '');
    expect(when).toBeGreaterThanOrEqual(at(12, '11:30'));
    expect(when).toBeLessThanOrEqual(at(12, '12:31'));
    expect(raised[0]?.reason).toContain('declared in hospital from Mon 9 Nov 10:30 until Thu 12 Nov 09:00');
  });

  it('learns nothing of the period: an outing after a weekend away is caught as it would be without it', () => {
    // Thursday 12 Nov: up at 09:30, out of the door at 11:00, as on the Monday, and not back.
    const thursday = [
      ev('bed.vacated', at(12, '09:30')),
      ...about(at(12, '09:32'), at(12, '11:00')),
      ...leave(at(12, '11:00')),
    ];
    const notBack = (alerts: readonly Alert[]) =>
      types(
        alerts.filter(
          (alert) => alert.type === 'outing.not-returned' && Date.parse(alert.raisedAt) >= at(12, '00:00'),
        ),
      );
    const without = run(
      [...Array.from({ length: 11 }, (_, i) => ordinaryDay(i + 1)).flat(), ...thursday],
      at(13, '06:00'),
    );
    const away = run(
      [
        ...week(),
        ...comeBack(at(11, '17:00')),
        ...about(at(11, '17:06'), at(11, '22:00')),
        ev('bed.occupied', at(11, '22:00')),
        ...thursday,
      ],
      at(13, '06:00'),
      declared(WEEKEND),
    );
    // Their longest outing (90 min) learned, no return learned from going out in the morning.
    expect(notBack(without.alerts)).toEqual([`outing.not-returned ${iso(at(12, '13:45') + 50_000)}`]);
    expect(notBack(away.alerts)).toEqual(notBack(without.alerts));
  });

  it('says what it held: the rule, the resident, the alert type and the period, nothing personal', () => {
    // Declared away from Monday 10:00, but still at home and still from 10:30: the silence is held.
    const events = [
      ...Array.from({ length: 8 }, (_, i) => ordinaryDay(i + 1)).flat(),
      ev('bed.vacated', at(9, '09:30')),
      ...about(at(9, '09:32'), at(9, '10:30')),
    ];
    const ruleSet = declared(WEEKEND);
    const shell = handShell(RESIDENT, ruleSet);
    for (const event of events) {
      shell.fire(Date.parse(event.time));
      shell.read(event);
    }
    shell.fire(at(9, '18:00'));
    expect(shell.raised.filter((alert) => Date.parse(alert.raisedAt) >= at(9, '10:00'))).toEqual([]);
    expect(shell.held).toEqual([
      { ruleId: RHYTHM_RULE.id, residentId: RESIDENT, type: 'inactivity.unusual', awayId: WEEKEND.id },
    ]);
  });

  it('raises a noisy movement sensor and its close all the same: a device fault, not the person', () => {
    // As above, and the lounge PIR in the sun every 5 s from 13:10 to 14:00.
    const events = [
      ...Array.from({ length: 8 }, (_, i) => ordinaryDay(i + 1)).flat(),
      ev('bed.vacated', at(9, '09:30')),
      ...about(at(9, '09:32'), at(9, '10:30')),
      ...Array.from({ length: 600 }, (_, i) =>
        ev('motion', at(9, '13:10') + i * 5_000, ['pir', 'PIR-L', 'lounge']),
      ),
    ];
    const shell = handShell(RESIDENT, declared(WEEKEND));
    for (const event of events) {
      shell.fire(Date.parse(event.time));
      shell.read(event);
    }
    shell.fire(at(9, '18:00'));
    const raised = shell.raised.filter((alert) => Date.parse(alert.raisedAt) >= at(9, '10:00'));
    expect(raised.map((alert) => alert.type)).toEqual(['sensor.noisy', 'sensor.quiet']);
    // The resident's silences are held as before.
    expect(shell.held.length).toBeGreaterThan(0);
    expect(new Set(shell.held.map((held) => held.type))).toEqual(new Set(['inactivity.unusual']));
  });

  it('drops what it remembers of a period once no period names it', () => {
    let periods: AwayPeriod[] | undefined = [WEEKEND];
    const runner = new RulesRunner(DEFAULT_RULE_SET, { away: () => periods });
    for (const event of week()) runner.event(event, Date.parse(event.time) + 1000);
    expect(runner.states.get(RESIDENT)?.away).toBeDefined();
    periods = undefined;
    for (const event of comeBack(at(10, '08:00'))) runner.event(event, Date.parse(event.time) + 1000);
    expect(runner.states.get(RESIDENT)?.away).toBeUndefined();
  });
});

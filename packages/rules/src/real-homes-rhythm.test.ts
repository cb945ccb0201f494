import { Alert, type EventType, type TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import type { ResidentState, Rhythm, RuleSet } from './model.ts';
import { parseRuleSet } from './parse.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

/**
 * What real homes do to the learned rhythm that simulated ones do not: a stay in hospital nobody
 * declared, a bed sensor that misses the resident getting up, the clocks going forward and back.
 * Each case here raised a false alert, or missed a real one, before its fix.
 */
const RESIDENT = 'res_realrhythm1';
const GRACE = DEFAULT_RULE_SET.settings.reorderGraceS * 1000;
const MIN = 60_000;
/** November: Europe/London is UTC. 1 Nov 2026 is a Sunday. */
const at = (day: number, hhmm: string) =>
  Date.parse(`2026-11-${String(day).padStart(2, '0')}T${hhmm}:00.000Z`);
const DEVICES: Partial<Record<EventType, [string, string, string]>> = {
  motion: ['pir', 'PIR-K', 'kitchen'],
  'bed.occupied': ['bed-sensor', 'BS-1', 'bedroom'],
  'bed.vacated': ['bed-sensor', 'BS-1', 'bedroom'],
  'chair.occupied': ['chair-sensor', 'CS-1', 'lounge'],
  'chair.vacated': ['chair-sensor', 'CS-1', 'lounge'],
  'door.opened': ['door-contact', 'DC-1', 'hall'],
  'door.closed': ['door-contact', 'DC-1', 'hall'],
};

let counter = 0;
function ev(type: EventType, time: number, device?: [string, string, string]): TelecareEvent {
  const [devicekind, subject, location] = device ?? DEVICES[type] ?? ['pir', 'PIR-K', 'kitchen'];
  return makeEvent({
    type,
    time: new Date(time).toISOString(),
    residentid: RESIDENT,
    devicekind,
    subject,
    location,
    deviceEventId: `rr-${++counter}`,
  });
}

const about = (from: number, to: number): TelecareEvent[] => {
  const events: TelecareEvent[] = [];
  for (let t = from; t < to; t += 6 * MIN) events.push(ev('motion', t));
  return events;
};

/** An ordinary day: up at `upAt`, about the house, out 14:00–15:30, the chair 19:00–21:00, bed 23:00. */
function ordinaryDay(day: (hhmm: string) => number, upAt: string): TelecareEvent[] {
  const out = day('14:00');
  const back = out + 90 * MIN;
  return [
    ev('bed.vacated', day(upAt)),
    ...about(day(upAt) + 2 * MIN, out),
    ev('door.opened', out),
    ev('door.closed', out + 20_000),
    ev('door.opened', back),
    ev('door.closed', back + 20_000),
    ...about(back + 30_000, day('19:00')),
    ev('chair.occupied', day('19:00')),
    ev('chair.vacated', day('21:00')),
    ...about(day('21:00'), day('23:00')),
    ev('bed.occupied', day('23:00')),
  ];
}

const UPS = ['09:30', '11:10', '10:05', '12:30', '09:50', '10:40', '11:55', '10:20'];

function run(events: TelecareEvent[], until: number, ruleSet: RuleSet = DEFAULT_RULE_SET) {
  const runner = new RulesRunner(ruleSet);
  const alerts: Alert[] = [];
  const sorted = [...events].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  for (const event of sorted) alerts.push(...runner.event(event, Date.parse(event.time) + 1000));
  alerts.push(...runner.advance(until));
  for (const alert of alerts) Alert.parse(alert);
  return alerts.filter((alert) => alert.rule.id === 'rhythm.learned');
}

const after = (alerts: readonly Alert[], from: number) =>
  alerts.filter((a) => Date.parse(a.raisedAt) >= from);

/** The rhythm's alerts raised on day 9, of `events` read in time order. */
const onDay9 = (events: TelecareEvent[]) => after(run(events, at(9, '23:59')), at(9, '00:00'));
/** What the operator is shown of each alert: what, on what evidence, when. */
const shown = (alerts: readonly Alert[]) => alerts.map((a) => [a.type, a.evidence, a.raisedAt]);

describe('a week in hospital, not declared', () => {
  // Days 1–8 ordinary; on day 9 at 10:00 the ambulance takes them; home on day 16 at 14:00; days
  // 17 and 18 ordinary.
  const learning = UPS.flatMap((up, i) => ordinaryDay((hhmm) => at(i + 1, hhmm), up));
  const taken = [
    ev('bed.vacated', at(9, '08:30')),
    ...about(at(9, '08:32'), at(9, '10:00')),
    ev('door.opened', at(9, '10:00')),
    ev('door.closed', at(9, '10:00') + 20_000),
  ];
  const home = [
    ev('door.opened', at(16, '14:00')),
    ev('door.closed', at(16, '14:00') + 20_000),
    ...about(at(16, '14:01'), at(16, '23:00')),
    ev('bed.occupied', at(16, '23:00')),
  ];
  const later = [17, 18].flatMap((d) => ordinaryDay((hhmm) => at(d, hhmm), '10:00'));

  it('raises "not back" once for the stay, not once a day', () => {
    const alerts = after(run([...learning, ...taken, ...home, ...later], at(18, '23:30')), at(9, '00:00'));
    expect(alerts.map((a) => a.type)).toEqual(['outing.not-returned']);
  });

  it('is not learned as an outing: a morning outing not come back afterwards is raised when it was before', () => {
    const morning = (day: number) => [
      ev('bed.vacated', at(day, '08:30')),
      ...about(at(day, '08:32'), at(day, '10:00')),
      ev('door.opened', at(day, '10:00')),
      ev('door.closed', at(day, '10:00') + 20_000),
    ];
    // Without the stay: out at 10:00 on day 9 and not back. Never out in the morning before,
    // so their longest outing (90 min) × 1.5 + 30 min after the door: 12:45.
    const before = after(run([...learning, ...morning(9)], at(9, '23:59')), at(9, '00:00'));
    expect(before.map((a) => a.type)).toEqual(['outing.not-returned']);
    const expected = at(9, '10:00') + 20_000 + 165 * MIN + GRACE;
    expect(Date.parse(before[0]?.raisedAt ?? '')).toBe(expected);
    // After the stay: the same on day 19, at the same time of day, not at night (22:45) because
    // the stay is a week-long outing that left at 10:00.
    const stayed = after(
      run([...learning, ...taken, ...home, ...later, ...morning(19)], at(19, '23:59')),
      at(19, '00:00'),
    );
    expect(stayed.map((a) => a.type)).toEqual(['outing.not-returned']);
    expect(Date.parse(stayed[0]?.raisedAt ?? '')).toBe(expected + 10 * 86_400_000);
    expect(stayed[0]?.reason).toContain('expected back within 90 min, the longest outing of the last');
  });
});

describe('a bed sensor that misses the resident getting up', () => {
  const learning = UPS.flatMap((up, i) => ordinaryDay((hhmm) => at(i + 1, hhmm), up));

  it('no "not up" while they are about the house, the bed still saying occupied', () => {
    // Day 9: no bed.vacated (the mat missed it), then about the kitchen from 09:40 all day.
    const day = [...about(at(9, '09:40'), at(9, '18:00'))];
    const alerts = after(run([...learning, ...day], at(9, '18:00')), at(9, '00:00'));
    expect(alerts.map((a) => a.type)).toEqual([]);
  });

  it('a collapse after getting up with the bed still saying occupied is raised', () => {
    // About the kitchen from 09:40, then nothing from 14:00 (collapsed on the kitchen floor).
    const day = [...about(at(9, '09:40'), at(9, '14:00'))];
    const alerts = after(run([...learning, ...day], at(9, '23:00')), at(9, '00:00'));
    expect(alerts.map((a) => a.type)).toEqual(['inactivity.unusual']);
    // Within the prior by day (3 h) of the last movement.
    expect(Date.parse(alerts[0]?.raisedAt ?? '')).toBeLessThanOrEqual(at(9, '13:54') + 3 * 3_600_000 + GRACE);
  });

  it('in a home shared with a partner, the partner about the kitchen is not the resident up', () => {
    // Day 9: the resident never leaves the bed; the partner is about the kitchen from 09:40.
    const shared = parseRuleSet({
      ...JSON.parse(JSON.stringify(DEFAULT_RULE_SET)),
      residents: { [RESIDENT]: { sharedHome: true } },
    });
    const day = [...about(at(9, '09:40'), at(9, '18:00'))];
    const alerts = after(run([...learning, ...day], at(9, '18:00'), shared), at(9, '00:00'));
    expect(alerts.map((a) => a.type)).toEqual(['inactivity.no-wake']);
    expect(alerts[0]?.reason).toContain('shared home');
  });

  it('in a home shared with a partner, the partner about the kitchen does not end the resident’s silence in the chair', () => {
    // Day 9: up, about the kitchen, in the lounge chair at 13:00 and never out of it again; the
    // partner is about the kitchen all afternoon and evening.
    const shared = parseRuleSet({
      ...JSON.parse(JSON.stringify(DEFAULT_RULE_SET)),
      residents: { [RESIDENT]: { sharedHome: true } },
    });
    const day = [
      ev('bed.vacated', at(9, '09:30')),
      ...about(at(9, '09:32'), at(9, '13:00')),
      ev('chair.occupied', at(9, '13:00')),
      ...about(at(9, '13:10'), at(9, '22:00')),
    ];
    const alerts = after(run([...learning, ...day], at(9, '22:00'), shared), at(9, '00:00'));
    expect(alerts.map((a) => a.type)).toEqual(['inactivity.unusual']);
    // Named by the chair, within the prior in the chair (6 h) of it.
    expect(alerts[0]?.evidence).toEqual([day.find((e) => e.type === 'chair.occupied')?.id]);
    expect(Date.parse(alerts[0]?.raisedAt ?? '')).toBeLessThanOrEqual(at(9, '19:00') + GRACE);
    expect(alerts[0]?.reason).toContain('shared home');
    // Alone at home, that movement is the resident, up from a chair that missed it: no alert.
    expect(after(run([...learning, ...day], at(9, '22:00')), at(9, '00:00'))).toEqual([]);
  });

  it('the bedroom’s own PIR seeing them turn over in bed is not getting up', () => {
    const bedroom: [string, string, string] = ['pir', 'PIR-B', 'bedroom'];
    // Day 9: still in bed, turning over all morning in view of the bedroom PIR: "not up" at the
    // latest get-up learned (12:30) + 45 min.
    const turning = Array.from({ length: 30 }, (_, i) =>
      ev('motion', at(9, '06:00') + i * 12 * MIN, bedroom),
    );
    const alerts = after(run([...learning, ...turning], at(9, '14:00')), at(9, '00:00'));
    expect(alerts.map((a) => a.type)).toEqual(['inactivity.no-wake']);
  });
});

describe('a home shared with a partner, and a bed the two share', () => {
  const learning = UPS.flatMap((up, i) => ordinaryDay((hhmm) => at(i + 1, hhmm), up));
  const shared = () =>
    parseRuleSet({
      ...JSON.parse(JSON.stringify(DEFAULT_RULE_SET)),
      residents: { [RESIDENT]: { sharedHome: true } },
    });
  /** Day 9: up, about, out of the front door at 16:00 and not back. */
  const goesOut = () => {
    const door = ev('door.closed', at(9, '16:00') + 20_000);
    return {
      door,
      events: [
        ev('bed.vacated', at(9, '09:30')),
        ...about(at(9, '09:32'), at(9, '15:58')),
        ev('door.opened', at(9, '16:00')),
        door,
      ],
    };
  };
  /** The partner, at home where no PIR sees them, lies down on the shared bed for an hour. */
  const partnersNap = () => [ev('bed.occupied', at(9, '17:00')), ev('bed.vacated', at(9, '18:00'))];
  /** Day 9's rhythm alerts: the resident out at 16:00, and `partner` meanwhile. */
  const outWith = (partner: TelecareEvent[], ruleSet: RuleSet = shared()) => {
    const { door, events } = goesOut();
    return {
      door,
      alerts: after(run([...learning, ...events, ...partner], at(9, '23:59'), ruleSet), at(9, '00:00')),
    };
  };
  /** One "not back", from the resident's door: their longest outing (90 min) × 1.5 + 30 min after it. */
  const notBackFromDoor = ({ door, alerts }: ReturnType<typeof outWith>) => {
    expect(alerts.map((a) => [a.type, a.evidence])).toEqual([['outing.not-returned', [door.id]]]);
    expect(Date.parse(alerts[0]?.raisedAt ?? '')).toBe(Date.parse(door.time) + 165 * MIN + GRACE);
    return alerts[0] as Alert;
  };

  it('the partner on the bed while the resident is out does not end the outing: "not back" from their door', () => {
    // Not ended by the bed.
    const alert = notBackFromDoor(outWith(partnersNap()));
    expect(alert.reason).toContain('the bed occupied at 17:00 with no door opened since they left');
    // Alone at home, the bed taken is the resident, come in where the door contact missed them.
    const alone = outWith(partnersNap(), DEFAULT_RULE_SET).alerts;
    expect(alone.map((a) => a.type)).not.toContain('outing.not-returned');
  });

  it('the check decided after the resident came home late (its timer fired after the return): as in time order', () => {
    const { door, events } = goesOut();
    const home = [
      ev('door.opened', at(9, '21:00')),
      ev('door.closed', at(9, '21:00') + 20_000),
      ...about(at(9, '21:01'), at(9, '23:00')),
      ev('bed.occupied', at(9, '23:00')),
    ];
    const runner = new RulesRunner(shared());
    const alerts: Alert[] = [];
    for (const event of [...learning, ...events, ...partnersNap()])
      alerts.push(...runner.event(event, Date.parse(event.time) + 1000));
    // The return taken before the check (18:45) fired: triage fires due timers between events.
    for (const event of home) alerts.push(...runner.event(event, at(9, '18:40')));
    alerts.push(...runner.advance(at(9, '23:59')));
    const late = after(
      alerts.filter((a) => a.rule.id === 'rhythm.learned'),
      at(9, '00:00'),
    );
    const inOrder = after(
      run([...learning, ...events, ...partnersNap(), ...home], at(9, '23:59'), shared()),
      at(9, '00:00'),
    );
    expect(shown(inOrder)).toEqual([['outing.not-returned', [door.id], inOrder[0]?.raisedAt]]);
    expect(shown(late)).toEqual(shown(inOrder));
  });

  it('the partner’s bed report taken after the door opening just after it: as in time order', () => {
    const { events } = goesOut();
    const lying = ev('bed.occupied', at(9, '17:00'));
    const after10s = [
      lying,
      ev('door.opened', at(9, '17:00') + 10_000),
      ev('door.closed', at(9, '17:00') + 30_000),
      ...about(at(9, '17:01'), at(9, '18:00')),
    ];
    const inOrder = run([...learning, ...events, ...after10s], at(9, '23:59'), shared());
    const runner = new RulesRunner(shared());
    const alerts: Alert[] = [];
    for (const event of [...learning, ...events])
      alerts.push(...runner.event(event, Date.parse(event.time) + 1000));
    // The bed sensor's report reaches the core after the door contact's two, 20 s late.
    for (const event of [...after10s.slice(1, 3), lying])
      alerts.push(...runner.event(event, at(9, '17:00') + 31_000));
    for (const event of after10s.slice(3)) alerts.push(...runner.event(event, Date.parse(event.time) + 1000));
    alerts.push(...runner.advance(at(9, '23:59')));
    const late = alerts.filter((a) => a.rule.id === 'rhythm.learned');
    // Home by the door at 17:00, the silence after 18:00 at home raised; no "not back".
    expect(after(inOrder, at(9, '00:00')).map((a) => a.type)).toEqual(['inactivity.unusual']);
    expect(shown(late)).toEqual(shown(inOrder));
    expect(runner.states.get(RESIDENT)?.rhythms?.['rhythm.learned']?.place).toBe('home');
  });

  it('the partner in the chair while the resident is out does not end the outing: "not back" from their door', () => {
    const partnerSits = [ev('chair.occupied', at(9, '17:00')), ev('chair.vacated', at(9, '18:00'))];
    const alert = notBackFromDoor(outWith(partnerSits));
    expect(alert.reason).toContain('the chair occupied at 17:00');
    expect(alert.thresholds).toMatchObject({ sharedChairOccupied: 1 });
    // Alone at home, the chair taken is the resident, come in where the door contact missed them.
    const alone = outWith(partnerSits, DEFAULT_RULE_SET).alerts;
    expect(alone.map((a) => a.type)).not.toContain('outing.not-returned');
  });

  it('the partner about the kitchen while the resident is out does not end the outing', () => {
    const partnerAbout = about(at(9, '16:30'), at(9, '18:30'));
    const alert = notBackFromDoor(outWith(partnerAbout));
    expect(alert.reason).toContain('movement 16:30');
    expect(alert.thresholds).toMatchObject({ sharedMovements: partnerAbout.length });
    const alone = outWith(partnerAbout, DEFAULT_RULE_SET).alerts;
    expect(alone.map((a) => a.type)).not.toContain('outing.not-returned');
  });

  /** The partner about the kitchen, out by the door at 17:00 and back at 18:00, about and to bed. */
  const partnersTrip = () => [
    ...about(at(9, '16:30'), at(9, '16:55')),
    ev('door.opened', at(9, '17:00')),
    ev('door.closed', at(9, '17:00') + 20_000),
    ev('door.opened', at(9, '18:00')),
    ev('door.closed', at(9, '18:00') + 20_000),
    ...about(at(9, '18:01'), at(9, '18:30')),
    ev('bed.occupied', at(9, '18:30')),
  ];

  it('the partner out and back while the resident is out: "not back" all the same, saying the door may have been theirs', () => {
    const alert = notBackFromDoor(outWith(partnersTrip()));
    expect(alert.reason).toContain('the door opened at 17:00, 18:00, then the bed occupied at 18:30');
    expect(alert.reason).toContain('maybe the other person back');
    expect(alert.thresholds).toMatchObject({ sharedDoorPassages: 2 });
  });

  it('the partner out and back, its check decided after the activity inside (late tick): as in time order', () => {
    const { events } = goesOut();
    const inOrder = after(
      run([...learning, ...events, ...partnersTrip()], at(9, '23:59'), shared()),
      at(9, '00:00'),
    );
    const runner = new RulesRunner(shared());
    const alerts: Alert[] = [];
    for (const event of [...learning, ...events])
      alerts.push(...runner.event(event, Date.parse(event.time) + 1000));
    for (const event of partnersTrip()) alerts.push(...runner.event(event, at(9, '18:40')));
    alerts.push(...runner.advance(at(9, '23:59')));
    const late = after(
      alerts.filter((a) => a.rule.id === 'rhythm.learned'),
      at(9, '00:00'),
    );
    expect(inOrder.map((a) => a.type)).toEqual(['outing.not-returned']);
    expect(shown(late)).toEqual(shown(inOrder));
  });

  it('the partner at home and the resident in by the door: home, no "not back"; and no alert after the check', () => {
    const { events } = goesOut();
    const back = [
      ...about(at(9, '16:30'), at(9, '17:30')),
      ev('door.opened', at(9, '17:40')),
      ev('door.closed', at(9, '17:40') + 20_000),
      ...about(at(9, '17:41'), at(9, '23:00')),
      ev('bed.occupied', at(9, '23:00')),
    ];
    const alerts = after(run([...learning, ...events, ...back], at(9, '23:59'), shared()), at(9, '00:00'));
    expect(alerts.map((a) => a.type)).toEqual([]);
    // The partner out and back, then the resident home at 20:00: one "not back", then home (the
    // silence at home checked again: nothing more raised while they move about).
    const both = [
      ...partnersTrip().slice(0, -1),
      ev('door.opened', at(9, '20:00')),
      ev('door.closed', at(9, '20:00') + 20_000),
      ...about(at(9, '20:01'), at(9, '23:00')),
      ev('bed.occupied', at(9, '23:00')),
    ];
    const runner = new RulesRunner(shared());
    for (const event of [...learning, ...events, ...both]) runner.event(event, Date.parse(event.time) + 1000);
    runner.advance(at(9, '23:59'));
    expect(runner.states.get(RESIDENT)?.rhythms?.['rhythm.learned']?.place).toBe('bed');
    const raised = after(run([...learning, ...events, ...both], at(9, '23:59'), shared()), at(9, '00:00'));
    expect(raised.map((a) => a.type)).toEqual(['outing.not-returned']);
  });

  it('the resident in by the door and to bed: home, in bed, no "not back"', () => {
    const { events } = goesOut();
    const back = [
      ev('door.opened', at(9, '17:00')),
      ev('door.closed', at(9, '17:00') + 20_000),
      ev('bed.occupied', at(9, '17:02')),
    ];
    const alerts = after(run([...learning, ...events, ...back], at(9, '21:00'), shared()), at(9, '00:00'));
    expect(alerts.map((a) => a.type)).toEqual([]);
  });
});

describe('the clocks going forward and back (Europe/London)', () => {
  /** A local time in London: British summer time (UTC+1) from 29 Mar to 24 Oct 2026 inclusive. */
  const london = (date: string) => (hhmm: string) => {
    const utc = Date.parse(`${date}T${hhmm}:00.000Z`);
    const summer = date >= '2026-03-29' && date < '2026-10-25';
    return utc - (summer ? 3_600_000 : 0);
  };
  const dates = (from: string, days: number) =>
    Array.from({ length: days }, (_, i) =>
      new Date(Date.parse(from) + i * 86_400_000).toISOString().slice(0, 10),
    );

  it.each([
    ['March', '2026-03-19'],
    ['October', '2026-10-15'],
  ])('a fortnight of the same local day across the change in %s raises nothing after learning', (_, from) => {
    const days = dates(from, 18);
    const ups = ['07:30', '08:10', '07:50', '08:30', '07:40', '08:00'];
    const events = days.flatMap((date, i) => ordinaryDay(london(date), ups[i % ups.length] as string));
    const alerts = run(events, london(days.at(-1) as string)('23:30'));
    expect(after(alerts, london(days[8] as string)('00:00')).map((a) => [a.type, a.raisedAt])).toEqual([]);
  });
});

describe('a front door contact that bounces', () => {
  const learning = UPS.flatMap((up, i) => ordinaryDay((hhmm) => at(i + 1, hhmm), up));
  /** Opened and closed twice within four seconds: the door settling, or the wind. */
  const bounce = (t: number) => [
    ev('door.opened', t),
    ev('door.closed', t + 1_000),
    ev('door.opened', t + 3_000),
    ev('door.closed', t + 4_000),
  ];
  const morning = [ev('bed.vacated', at(9, '09:30')), ...about(at(9, '09:32'), at(9, '11:00'))];
  const lastMove = morning.at(-1) as TelecareEvent;

  it('is not the resident going out: a collapse after it is a silence at home, named by the last movement', () => {
    const alerts = after(
      run([...learning, ...morning, ...bounce(at(9, '11:30'))], at(9, '20:00')),
      at(9, '00:00'),
    );
    expect(alerts.map((a) => [a.type, a.evidence])).toEqual([['inactivity.unusual', [lastMove.id]]]);
    expect(Date.parse(alerts[0]?.raisedAt ?? '')).toBeLessThanOrEqual(
      Date.parse(lastMove.time) + 3 * 3_600_000 + GRACE,
    );
    // What was ignored is counted where the operator reads it.
    expect(alerts[0]?.reason).toContain(
      '2 door openings of under 3 s since then ignored as bounces (door contact in hall)',
    );
    expect(alerts[0]?.thresholds).toMatchObject({ doorBouncesIgnored: 2 });
  });

  it('bouncing all afternoon in the wind does not hide a collapse', () => {
    const windy = Array.from({ length: 14 }, (_, i) => bounce(at(9, '11:30') + i * 25 * MIN)).flat();
    const alerts = after(run([...learning, ...morning, ...windy], at(9, '20:00')), at(9, '00:00'));
    expect(alerts.map((a) => [a.type, a.evidence])).toEqual([['inactivity.unusual', [lastMove.id]]]);
    expect(Date.parse(alerts[0]?.raisedAt ?? '')).toBeLessThanOrEqual(
      Date.parse(lastMove.time) + 3 * 3_600_000 + GRACE,
    );
  });

  it('a real way out, the door settling after it, is still an outing named by the door that stayed shut', () => {
    const shut = ev('door.closed', at(9, '11:00') + 8_000);
    const out = [ev('door.opened', at(9, '11:00')), shut, ...bounce(at(9, '11:00') + 9_000).slice(0, 2)];
    const alerts = after(run([...learning, ...morning, ...out], at(9, '20:00')), at(9, '00:00'));
    expect(alerts.map((a) => [a.type, a.evidence])).toEqual([['outing.not-returned', [shut.id]]]);
  });

  it('a bounce while out is not the resident coming home', () => {
    const shut = ev('door.closed', at(9, '11:00') + 8_000);
    const out = [ev('door.opened', at(9, '11:00')), shut];
    const alone = after(run([...learning, ...morning, ...out], at(9, '20:00')), at(9, '00:00'));
    const windy = after(
      run([...learning, ...morning, ...out, ...bounce(at(9, '12:00'))], at(9, '20:00')),
      at(9, '00:00'),
    );
    expect(windy.map((a) => [a.type, a.evidence, a.raisedAt])).toEqual(
      alone.map((a) => [a.type, a.evidence, a.raisedAt]),
    );
    expect(windy.map((a) => a.type)).toEqual(['outing.not-returned']);
  });
});

describe('someone else at the door while the resident is out', () => {
  const learning = UPS.flatMap((up, i) => ordinaryDay((hhmm) => at(i + 1, hhmm), up));
  const hub: [string, string, string] = ['home-unit', 'HU-1', 'hall'];
  const morning = [ev('bed.vacated', at(9, '09:30')), ...about(at(9, '09:32'), at(9, '13:59'))];
  const shut = ev('door.closed', at(9, '14:00') + 20_000);
  const leaves = [ev('door.opened', at(9, '14:00')), shut];
  /** A carer lets themselves in at 15:00, works about the kitchen, presses "left" and goes at 15:25. */
  const visit = [
    ev('door.opened', at(9, '15:00')),
    ev('door.closed', at(9, '15:00') + 15_000),
    ev('carer.arrived', at(9, '15:01'), hub),
    ...about(at(9, '15:02'), at(9, '15:24')),
    ev('carer.left', at(9, '15:24'), hub),
    ev('door.opened', at(9, '15:25')),
    ev('door.closed', at(9, '15:25') + 15_000),
  ];
  const notBack = () => after(run([...learning, ...morning, ...leaves], at(9, '23:59')), at(9, '00:00'));

  it('a carer’s visit is not the resident coming home: "not back" is raised as without it', () => {
    const alone = notBack();
    expect(alone.map((a) => a.type)).toEqual(['outing.not-returned']);
    const visited = onDay9([...learning, ...morning, ...leaves, ...visit]);
    expect(shown(visited)).toEqual(shown(alone));
    expect(visited[0]?.reason).toContain('a carer visit 15:01–15:24');
  });

  it('a door opened and closed with nothing inside after it is not the resident coming home', () => {
    const alone = notBack();
    const looked = [ev('door.opened', at(9, '15:00')), ev('door.closed', at(9, '15:00') + 30_000)];
    const alerts = after(
      run([...learning, ...morning, ...leaves, ...looked], at(9, '23:59')),
      at(9, '00:00'),
    );
    expect(alerts.map((a) => [a.type, a.evidence, a.raisedAt])).toEqual(
      alone.map((a) => [a.type, a.evidence, a.raisedAt]),
    );
    expect(alerts[0]?.reason).toContain('the door opened at 15:00 with nothing seen inside after it');
  });

  it('activity inside after the carer left is the resident home (they came back with the carer)', () => {
    const home = about(at(9, '15:40'), at(9, '22:00'));
    const alerts = after(
      run(
        [...learning, ...morning, ...leaves, ...visit, ...home, ev('bed.occupied', at(9, '22:30'))],
        at(9, '23:59'),
      ),
      at(9, '00:00'),
    );
    expect(alerts.map((a) => a.type)).toEqual([]);
  });
});

describe('a carer who comes in minutes after the resident went out', () => {
  const learning = UPS.flatMap((up, i) => ordinaryDay((hhmm) => at(i + 1, hhmm), up));
  const hub: [string, string, string] = ['home-unit', 'HU-1', 'hall'];
  const morning = [ev('bed.vacated', at(9, '08:30')), ...about(at(9, '08:32'), at(9, '09:59'))];
  /** The resident goes out of the front door at 10:00. */
  const leaves = [ev('door.opened', at(9, '10:00')), ev('door.closed', at(9, '10:00') + 15_000)];
  /**
   * The carer lets themselves in at 10:03 (the door opens and shuts again: a passage of its own),
   * presses "arrived", works about the kitchen, presses "left" at 10:40 and goes.
   */
  const visit = [
    ev('door.opened', at(9, '10:03')),
    ev('door.closed', at(9, '10:03') + 15_000),
    ev('carer.arrived', at(9, '10:03') + 30_000, hub),
    ...about(at(9, '10:04'), at(9, '10:39')),
    ev('carer.left', at(9, '10:40'), hub),
    ev('door.opened', at(9, '10:40') + 20_000),
    ev('door.closed', at(9, '10:40') + 35_000),
  ];

  it('took the resident’s leaving for neither their door nor the home in use: "not back" runs from 10:00, no silence at home', () => {
    const alone = onDay9([...learning, ...morning, ...leaves]);
    expect(alone.map((a) => a.type)).toEqual(['outing.not-returned']);
    const visited = onDay9([...learning, ...morning, ...leaves, ...visit]);
    expect(shown(visited)).toEqual(shown(alone));
    expect(visited[0]?.reason).toContain('a carer visit 10:03–10:40');
  });

  it('the resident back at 11:00: nothing is raised', () => {
    const home = [
      ev('door.opened', at(9, '11:00')),
      ev('door.closed', at(9, '11:00') + 20_000),
      ...about(at(9, '11:01'), at(9, '22:00')),
      ev('bed.occupied', at(9, '22:30')),
    ];
    expect(onDay9([...learning, ...morning, ...leaves, ...visit, ...home])).toEqual([]);
  });
});

describe('a movement sensor reporting far beyond a person', () => {
  const learning = UPS.flatMap((up, i) => ordinaryDay((hhmm) => at(i + 1, hhmm), up));
  const lounge: [string, string, string] = ['pir', 'PIR-L', 'lounge'];
  /** The lounge PIR blinded by the sun: movement every 5 s from 13:10 to 18:00. */
  const sun = Array.from({ length: (290 * 60) / 5 }, (_, i) =>
    ev('motion', at(9, '13:10') + i * 5_000, lounge),
  );
  const morning = [ev('bed.vacated', at(9, '09:30')), ...about(at(9, '09:32'), at(9, '13:00'))];
  const lastMove = morning.at(-1) as TelecareEvent;

  /** The resident's alerts, without what the rule tells of the sensor (below). */
  const residents = (alerts: readonly Alert[]) => alerts.filter((a) => !a.type.startsWith('sensor.'));
  const sensors = (alerts: readonly Alert[]) => alerts.filter((a) => a.type.startsWith('sensor.'));

  it('does not hide a collapse: the silence is named by the last movement of another sensor, and says why', () => {
    const alerts = residents(after(run([...learning, ...morning, ...sun], at(9, '20:00')), at(9, '00:00')));
    expect(alerts.map((a) => [a.type, a.evidence])).toEqual([['inactivity.unusual', [lastMove.id]]]);
    expect(Date.parse(alerts[0]?.raisedAt ?? '')).toBeLessThanOrEqual(
      Date.parse(lastMove.time) + 3 * 3_600_000 + GRACE,
    );
    expect(alerts[0]?.reason).toContain(
      'movement reported by movement sensor in lounge since 13:10 today (Mon 9 Nov) far beyond what a person makes (40 or more in 5 min): not taken as the resident on its own',
    );
    expect(alerts[0]?.thresholds).toMatchObject({ noisySensors: 'PIR-L' });
  });

  it('the resident about the house while it chatters is still seen', () => {
    const day = [...morning, ...about(at(9, '13:02'), at(9, '18:00')), ...sun];
    const alerts = after(run([...learning, ...day], at(9, '18:00')), at(9, '00:00'));
    expect(alerts.map((a) => a.type)).toEqual(['sensor.noisy']);
  });

  it('is raised once as a device fault naming the sensor and its reports, and closed once calm for an hour', () => {
    const alerts = sensors(after(run([...learning, ...morning, ...sun], at(9, '20:00')), at(9, '00:00')));
    expect(alerts.map((a) => [a.type, a.priority, a.deviceSerial, a.deviceKind])).toEqual([
      ['sensor.noisy', 4, 'PIR-L', 'pir'],
      ['sensor.quiet', 5, 'PIR-L', 'pir'],
    ]);
    const [noisy, quiet] = alerts as [Alert, Alert];
    // The 40th report in 5 min (13:13:15) found it: 40 reports, the first at 13:10.
    const first = sun[0] as TelecareEvent;
    const fortieth = sun[39] as TelecareEvent;
    expect(noisy.evidence).toEqual([first.id, fortieth.id]);
    expect(Date.parse(noisy.raisedAt)).toBeGreaterThanOrEqual(Date.parse(fortieth.time));
    expect(Date.parse(noisy.raisedAt)).toBeLessThanOrEqual(Date.parse(fortieth.time) + GRACE);
    expect(noisy.thresholds).toMatchObject({
      reports: 40,
      reportsOverS: 195,
      chatterReports: 40,
      chatterWithinS: 300,
    });
    expect(noisy.reason).toContain(
      'Movement sensor reports far beyond a person: movement sensor in lounge reported movement 40 times in 3 min (13:10–13:13), far beyond what a person makes',
    );
    expect(noisy.reason).toContain('expected fewer than 40 movement reports in 5 min, seen 40 in 3 min');
    // Calm an hour after its last report (17:59:55): closed, as a record.
    expect(quiet.closes).toEqual({ alertId: noisy.id, outcome: 'restored' });
    expect(quiet.raisedAt).toBe(
      new Date(Date.parse((sun.at(-1) as TelecareEvent).time) + 3_600_000).toISOString(),
    );
    expect(quiet.reason).toContain(
      'movement sensor in lounge, noisy from 13:10 today (Mon 9 Nov) to 17:59 today (Mon 9 Nov), has been calm since',
    );
  });

  it('a burst after an hour calm is a new fault, the one before closed first, whichever comes first', () => {
    // The sun again at 19:00:00, before the first fault's timer (due 18:59:55 and the grace) fired.
    const again = Array.from({ length: 120 }, (_, i) => ev('motion', at(9, '19:00') + i * 5_000, lounge));
    const alerts = sensors(
      after(run([...learning, ...morning, ...sun, ...again], at(9, '22:00')), at(9, '00:00')),
    );
    expect(alerts.map((a) => a.type)).toEqual([
      'sensor.noisy',
      'sensor.quiet',
      'sensor.noisy',
      'sensor.quiet',
    ]);
    const [first, closed, second, closedAgain] = alerts as [Alert, Alert, Alert, Alert];
    expect(second.id).not.toBe(first.id);
    expect(closed.closes?.alertId).toBe(first.id);
    expect(closedAgain.closes?.alertId).toBe(second.id);
    // Closed as of the hour after its last report, as its timer would have.
    expect(closed.raisedAt).toBe(
      new Date(Date.parse((sun.at(-1) as TelecareEvent).time) + 3_600_000).toISOString(),
    );
  });

  it('a sensor noisy in a state stored by the version before (no fault named) is raised at its next burst', () => {
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const sorted = [...learning, ...morning, ...sun.slice(0, 100)].sort(
      (a, b) => Date.parse(a.time) - Date.parse(b.time),
    );
    for (const event of sorted) runner.event(event, Date.parse(event.time) + 1000);
    const state = runner.states.get(RESIDENT) as ResidentState;
    const rhythm = state.rhythms?.['rhythm.learned'] as Rhythm;
    const { raised, ...record } = rhythm.noisy?.['PIR-L'] ?? { since: 0, until: 0, device: '' };
    expect(raised).toBeDefined();
    const before: ResidentState = {
      ...state,
      rhythms: { 'rhythm.learned': { ...rhythm, noisy: { 'PIR-L': record } } },
    };
    const next = sun[100] as TelecareEvent;
    const now = Date.parse(next.time) + 1000;
    const told = evaluate(before, { kind: 'event', event: next, now }, DEFAULT_RULE_SET).alerts;
    expect(told.map((a) => [a.type, a.evidence.at(-1)])).toEqual([['sensor.noisy', next.id]]);
    // With its fault named, the same report raises nothing.
    expect(evaluate(state, { kind: 'event', event: next, now }, DEFAULT_RULE_SET).alerts).toEqual([]);
  });

  it('a busy morning, many reports but fewer than 40 in 5 min, raises nothing', () => {
    // The kitchen PIR every 8 s for an hour (38 in any 5 min), the resident cooking and tidying.
    const busy = Array.from({ length: 450 }, (_, i) => ev('motion', at(9, '10:00') + i * 8_000));
    const day = [
      ...morning.filter((e) => Date.parse(e.time) < at(9, '10:00') || Date.parse(e.time) >= at(9, '11:00')),
      ...busy,
    ];
    expect(after(run([...learning, ...day], at(9, '13:00')), at(9, '00:00'))).toEqual([]);
  });
});

describe('a movement sensor dead while its heartbeats go on', () => {
  const lounge: [string, string, string] = ['pir', 'PIR-L', 'lounge'];
  /** An ordinary day with the lounge PIR seeing them from 16:00 to 18:00, and it beating hourly. */
  const day = (d: number, loungeSeen: boolean) => [
    ...ordinaryDay((hhmm) => at(d, hhmm), '09:30'),
    ...(loungeSeen
      ? Array.from({ length: 12 }, (_, i) => ev('motion', at(d, '16:00') + i * 10 * MIN, lounge))
      : []),
    ...Array.from({ length: 24 }, (_, h) =>
      ev('heartbeat', at(d, '00:00') + h * 3_600_000 + 5 * MIN, lounge),
    ),
  ];
  const learning = [1, 2, 3, 4, 5, 6, 7, 8].flatMap((d) => day(d, true));

  function faults(days: TelecareEvent[], until: number) {
    const runner = new RulesRunner(DEFAULT_RULE_SET, { device: () => ({ supervisionIntervalS: 7200 }) });
    const alerts: Alert[] = [];
    const sorted = [...days].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
    for (const event of sorted) alerts.push(...runner.event(event, Date.parse(event.time) + 1000));
    alerts.push(...runner.advance(until));
    for (const alert of alerts) Alert.parse(alert);
    return Object.assign(alerts, { runner });
  }

  it('is raised once as a device fault, while the resident goes on elsewhere; not as their rhythm', () => {
    const dead = [9, 10, 11].flatMap((d) => day(d, false));
    const alerts = faults([...learning, ...dead], at(11, '23:59'));
    const raised = alerts.filter((a) => a.type === 'sensor.no-activity');
    expect(raised.map((a) => [a.deviceSerial, a.priority])).toEqual([['PIR-L', 3]]);
    expect(raised[0]?.reason).toContain('movement sensor in lounge');
    expect(raised[0]?.reason).toContain('heartbeats');
    // Nothing else: no supervision loss (it beats), no silence of the resident.
    expect(alerts.filter((a) => a.type === 'supervision.lost' || a.type === 'inactivity.unusual')).toEqual(
      [],
    );
    // The silences of the days it was dead (from the day of its last report) are not learned: the
    // ring holds none for them, and still holds the days before.
    const rhythm = alerts.runner.states.get(RESIDENT)?.rhythms?.['rhythm.learned'];
    const ring = (d: number) => Math.floor(at(d, '00:00') / 86_400_000) % 14;
    const learnedOn = (d: number) => (rhythm?.gaps ?? []).filter((gap, i) => i % 14 === ring(d) && gap > 0);
    expect([8, 9, 10, 11].map((d) => learnedOn(d).length)).toEqual([0, 0, 0, 0]);
    expect(learnedOn(7).length).toBeGreaterThan(0);
  });

  it('a sensor that reports again closes its fault', () => {
    const dead = [9, 10].flatMap((d) => day(d, false));
    const alerts = faults([...learning, ...dead, ...day(11, true)], at(11, '23:59'));
    const raised = alerts.filter((a) => a.type === 'sensor.no-activity');
    expect(raised).toHaveLength(1);
    expect(alerts.filter((a) => a.closes?.alertId === raised[0]?.id).map((a) => a.type)).toEqual([
      'sensor.activity-restored',
    ]);
  });
});

import type { Alert, EventType, TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState, type ResidentState } from './model.ts';
import { RulesRunner } from './runner.ts';
import { encodeState } from './state-codec.ts';
import { makeEvent } from './testing.ts';

/**
 * Carers' visits as a real home's devices report them: the door contact shows every passage, the
 * hall's PIR sees a carer before they press "arrived", carers forget "left", and two carers may be
 * in the home at once. Each case here read the resident in the wrong place before its fix.
 */
const RESIDENT = 'res_carervisit1';
/** 22 Nov 2026, Europe/London (UTC in November). */
const T = (hhmmss: string) => Date.parse(`2026-11-22T${hhmmss}.000Z`);

type Device = readonly [kind: string, serial: string, location: string];
const HALL: Device = ['pir', 'PIR-H', 'hall'];
const KITCHEN: Device = ['pir', 'PIR-K', 'kitchen'];
const LOUNGE: Device = ['pir', 'PIR-L', 'lounge'];
const DEVICES: Partial<Record<EventType, Device>> = {
  'door.opened': ['door-contact', 'DC-1', 'hall'],
  'door.closed': ['door-contact', 'DC-1', 'hall'],
  'carer.arrived': ['carer-fob', 'CF-1', 'hall'],
  'carer.left': ['carer-fob', 'CF-1', 'hall'],
  'chair.occupied': ['chair-sensor', 'CS-1', 'lounge'],
  'chair.vacated': ['chair-sensor', 'CS-1', 'lounge'],
  'bed.occupied': ['bed-sensor', 'BS-1', 'bedroom'],
  'bed.vacated': ['bed-sensor', 'BS-1', 'bedroom'],
};

let counter = 0;
function ev(type: EventType, hhmmss: string, device?: Device): TelecareEvent {
  const [devicekind, subject, location] = device ?? DEVICES[type] ?? KITCHEN;
  return makeEvent({
    type,
    time: new Date(T(hhmmss)).toISOString(),
    residentid: RESIDENT,
    devicekind,
    subject,
    location,
    deviceEventId: `cv-${++counter}`,
  });
}
const move = (hhmmss: string, room: Device = KITCHEN) => ev('motion', hhmmss, room);
/** One passage of the front door: opened, closed. */
const passage = (opened: string, closed: string) => [ev('door.opened', opened), ev('door.closed', closed)];

/**
 * Each a second after it happened, in time order, but `late` (when given) read last, at
 * `arrives`: the door contact, the PIRs, the seats and the fobs are separate senders. The timers
 * fired up to `until`.
 */
function run(
  events: readonly TelecareEvent[],
  until = T('23:59:00'),
  late?: { event: TelecareEvent; arrives: number },
) {
  const runner = new RulesRunner(DEFAULT_RULE_SET);
  const alerts: Alert[] = [];
  const sorted = [...events]
    .filter((event) => event !== late?.event)
    .sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  for (const event of sorted) alerts.push(...runner.event(event, Date.parse(event.time) + 1000));
  if (late) alerts.push(...runner.event(late.event, late.arrives));
  alerts.push(...runner.advance(until));
  const state = runner.states.get(RESIDENT) ?? initialState(RESIDENT);
  const rhythm = state.rhythms?.['rhythm.learned'];
  return { alerts: alerts.filter((alert) => alert.rule.id === 'rhythm.learned'), rhythm };
}

/** The alerts as told: id, type, when. */
const told = (alerts: readonly Alert[]) =>
  alerts
    .map((alert) => [alert.id, alert.type, alert.raisedAt])
    .sort((a, b) => String(a).localeCompare(String(b)));

/** Each of `lates` read last, 20 s after it happened (within the reorder grace): as in time order. */
function sameWhenLate(events: readonly TelecareEvent[], lates: readonly TelecareEvent[], until: number) {
  const ordered = run(events, until);
  for (const event of lates) {
    const late = run(events, until, { event, arrives: Date.parse(event.time) + 20_000 });
    expect(told(late.alerts), event.type).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place, event.type).toBe(ordered.rhythm?.place);
  }
  return ordered;
}

const ofType = (alerts: readonly Alert[], type: string) => alerts.filter((alert) => alert.type === type);
/** The "not back" alerts: when each was raised (to the minute), and the door it names. */
const notBack = (alerts: readonly Alert[]) =>
  ofType(alerts, 'outing.not-returned').map((alert) => [
    new Date(alert.raisedAt).toISOString().slice(11, 16),
    alert.evidence,
  ]);
/** The longest outing learned today, minutes. */
const longestOuting = (rhythm: ReturnType<typeof run>['rhythm']) => Math.max(0, ...(rhythm?.outs ?? []));

/** About the house from 09:00, out of the front door at 10:30. */
const morning = () => {
  const door = ev('door.closed', '10:30:00');
  return {
    door,
    events: [
      move('09:00:00'),
      move('09:40:00', LOUNGE),
      move('10:29:00', HALL),
      ev('door.opened', '10:29:45'),
      door,
    ],
  };
};

/** The resident out of the front door at 10:30 (`morning`), then `visit`. */
const outThen = (visit: readonly TelecareEvent[]) => {
  const { events, door } = morning();
  return { door, events: [...events, ...visit] };
};

/**
 * One passage of the door for the resident and a carer together (opened, closed), the hall's PIR
 * seeing them in, the carer's "arrived" a minute later, the carer busy in the kitchen, "left",
 * the hall's PIR seeing them go, and the door behind them.
 */
const homeWithCarer = (during: readonly TelecareEvent[] = []) => [
  ...passage('12:00:00', '12:00:20'),
  move('12:00:25', HALL),
  ev('carer.arrived', '12:01:00'),
  move('12:05:00'),
  ...during,
  move('12:20:00'),
  ev('carer.left', '12:40:00'),
  move('12:40:20', HALL),
  ...passage('12:40:40', '12:40:50'),
];

describe('a resident who comes home with a carer, through one passage of the door', () => {
  it('sat in their chair during the visit: at home from that door, no "not back"', () => {
    const { events } = morning();
    const { alerts, rhythm } = run(
      [...events, ...homeWithCarer([ev('chair.occupied', '12:10:00')])],
      T('17:30:00'),
    );
    expect(notBack(alerts)).toEqual([]);
    expect(rhythm?.place).toBe('chair');
    // Out from 10:30 to the door at 12:00, not to the chair at 12:10.
    expect(longestOuting(rhythm)).toBe(90);
  });

  it('put to bed by the evening carer: in bed, no "not back" at night', () => {
    const door = ev('door.closed', '17:00:00');
    const { alerts, rhythm } = run(
      [
        move('16:50:00', HALL),
        ev('door.opened', '16:59:45'),
        door,
        ...passage('20:00:00', '20:00:20'),
        move('20:00:25', HALL),
        ev('carer.arrived', '20:01:00'),
        move('20:10:00'),
        ev('bed.occupied', '20:30:00'),
        ev('carer.left', '20:45:00'),
        move('20:45:20', HALL),
        ...passage('20:45:40', '20:45:50'),
      ],
      T('23:59:00'),
    );
    expect(notBack(alerts)).toEqual([]);
    expect(rhythm?.place).toBe('bed');
  });

  it('first seen after the carer has gone, with no door passage since: at home from the door they came in by', () => {
    const { events } = morning();
    const { alerts, rhythm } = run([...events, ...homeWithCarer(), move('13:30:00', LOUNGE)], T('15:00:00'));
    expect(rhythm?.place).toBe('home');
    expect(notBack(alerts)).toEqual([]);
    // Back at 12:00, not at 13:30: a 90-minute outing, not one of three hours.
    expect(longestOuting(rhythm)).toBe(90);
    // Still from the carer's "left" at 12:40 (50 min), not from the door they came in by.
    expect(Math.max(...(rhythm?.gaps ?? []))).toBe(50);
  });

  it('a lone carer’s visit (the hall’s PIR after "left" as they go) leaves the resident out: "not back" from their own door', () => {
    const { events, door } = morning();
    const { alerts, rhythm } = run([...events, ...homeWithCarer()], T('18:00:00'));
    expect(rhythm?.place).toBe('out');
    // Six hours (the prior) from the resident's door at 10:30, not from the carer's at 12:40.
    expect(notBack(alerts)).toEqual([['16:30', [door.id]]]);
  });
});

describe('the resident home on their own just after a lone carer went', () => {
  it('their door within five minutes of "left", after the carer’s: a passage of its own, home from it', () => {
    const { events } = morning();
    const { alerts, rhythm } = run(
      [...events, ...homeWithCarer(), ...passage('12:43:00', '12:43:20'), move('12:43:30', HALL)],
      T('18:00:00'),
    );
    expect(rhythm?.place).toBe('home');
    expect(notBack(alerts)).toEqual([]);
    // Out from 10:30 to their door at 12:43.
    expect(longestOuting(rhythm)).toBe(133);
  });

  it('the same with the hall’s PIR seeing them before the door closes behind them', () => {
    const { events } = morning();
    const { alerts, rhythm } = run(
      [
        ...events,
        ...homeWithCarer(),
        ev('door.opened', '12:43:00'),
        move('12:43:10', HALL),
        ev('door.closed', '12:43:20'),
      ],
      T('18:00:00'),
    );
    expect(rhythm?.place).toBe('home');
    expect(notBack(alerts)).toEqual([]);
  });
});

describe('a carer who opens the door again before "arrived"', () => {
  /** At home, in the lounge; the carer comes in, goes back to the car, comes in again, then "arrived". */
  const carerBackToTheCar = (hall2 = true) => [
    move('09:00:00'),
    move('09:50:00', LOUNGE),
    ...passage('10:00:00', '10:00:10'),
    move('10:00:15', HALL),
    ...passage('10:00:40', '10:00:50'),
    ...passage('10:02:00', '10:02:10'),
    ...(hall2 ? [move('10:02:15', HALL)] : []),
    ev('carer.arrived', '10:03:00'),
    move('10:10:00'),
  ];

  for (const hall2 of [true, false])
    it(`leaves the resident at home${hall2 ? '' : ' (no PIR between the second passage and "arrived")'}`, () => {
      const { rhythm } = run(carerBackToTheCar(hall2), T('10:20:00'));
      expect(rhythm?.place).toBe('home');
    });

  it('the carer goes without pressing "left": the silence after is checked at home, not as an outing', () => {
    const { alerts } = run(
      [...carerBackToTheCar(), ev('door.opened', '10:30:20'), ev('door.closed', '10:30:30')],
      T('23:59:00'),
    );
    expect(notBack(alerts)).toEqual([]);
    expect(ofType(alerts, 'inactivity.unusual')).toHaveLength(1);
  });
});

describe('two carers in the home at once (double-handed care)', () => {
  const A = 'CF-1';
  const B = 'CF-2';
  const fob = (serial: string): Device => ['carer-fob', serial, 'hall'];

  it('the first "left" does not end the visit: the other’s movement is theirs, "not back" from the resident’s door', () => {
    const { events, door } = morning();
    const { alerts, rhythm } = run(
      [
        ...events,
        ...passage('12:00:00', '12:00:20'),
        move('12:00:25', HALL),
        ev('carer.arrived', '12:01:00', fob(A)),
        ...passage('12:01:30', '12:01:45'),
        ev('carer.arrived', '12:02:00', fob(B)),
        move('12:10:00'),
        ev('carer.left', '12:20:00', fob(A)),
        ...passage('12:20:30', '12:20:40'),
        move('12:25:00'),
        move('12:35:00', LOUNGE),
        ev('carer.left', '12:40:00', fob(B)),
        ...passage('12:40:30', '12:40:40'),
      ],
      T('18:00:00'),
    );
    expect(rhythm?.place).toBe('out');
    expect(notBack(alerts)).toEqual([['16:30', [door.id]]]);
  });

  it('once both have gone, activity without a door passage is the resident, home from the door they came in by', () => {
    const { events } = morning();
    const { rhythm } = run(
      [
        ...events,
        ...passage('12:00:00', '12:00:20'),
        ev('carer.arrived', '12:01:00', fob(A)),
        ev('carer.arrived', '12:01:10', fob(B)),
        move('12:10:00'),
        ev('carer.left', '12:20:00', fob(A)),
        // The first out of the door before the other's "left": two carers, not one pressing it again.
        ...passage('12:20:30', '12:20:40'),
        ev('carer.left', '12:21:00', fob(B)),
        ...passage('12:21:30', '12:21:40'),
        move('13:30:00', LOUNGE),
      ],
      T('15:00:00'),
    );
    expect(rhythm?.place).toBe('home');
    expect(longestOuting(rhythm)).toBe(90);
  });
});

describe('a carer who forgets "left", and the next carer', () => {
  it('the next carer’s "arrived" an hour and a half on begins a visit of its own, and their "left" ends it', () => {
    const { events } = morning();
    const { rhythm } = run(
      [
        ...events,
        ...passage('11:00:00', '11:00:15'),
        ev('carer.arrived', '11:01:00'),
        move('11:10:00'),
        // Gone without pressing "left".
        ...passage('11:20:00', '11:20:15'),
        ...passage('12:30:00', '12:30:15'),
        ev('carer.arrived', '12:31:00', ['carer-fob', 'CF-2', 'hall']),
        move('12:40:00'),
        ev('carer.left', '12:50:00', ['carer-fob', 'CF-2', 'hall']),
        ...passage('12:50:30', '12:50:45'),
        // The resident home on their own.
        ...passage('12:58:00', '12:58:20'),
        move('12:58:30', HALL),
      ],
      T('14:00:00'),
    );
    expect(rhythm?.place).toBe('home');
    // Back at their own door at 12:58: an outing of 148 min.
    expect(longestOuting(rhythm)).toBe(148);
  });
});

describe('the same visits with a report taken late, after the next one', () => {
  it('home with a carer, sat in the chair: the chair, the carer’s hall movement or "left" taken late', () => {
    const { events } = morning();
    const chair = ev('chair.occupied', '12:10:00');
    const all = [...events, ...homeWithCarer([chair, move('12:10:10', LOUNGE)])];
    const going = all.filter((event) => event.time.includes('T12:40:'));
    const ordered = sameWhenLate(all, [chair, ...going], T('17:30:00'));
    expect(ordered.rhythm?.place).toBe('chair');
  });

  it('a lone carer’s visit: their hall movement after "left", "left" or the door taken late', () => {
    const { events } = morning();
    const all = [...events, ...homeWithCarer()];
    const going = all.filter((event) => event.time.includes('T12:40:'));
    const ordered = sameWhenLate(all, going, T('18:00:00'));
    expect(ofType(ordered.alerts, 'outing.not-returned')).toHaveLength(1);
  });
});

/** Each event in time order, on a copy and on the state given up to the core: what each stores. */
function bothWays(events: readonly TelecareEvent[]) {
  let kept: ResidentState = initialState(RESIDENT);
  let given: ResidentState = initialState(RESIDENT);
  const sorted = [...events].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  for (const event of sorted) {
    const input = { kind: 'event', event, now: Date.parse(event.time) + 1000 } as const;
    const pure = evaluate(kept, input, DEFAULT_RULE_SET);
    const reused = evaluate(given, input, DEFAULT_RULE_SET, { reuse: true });
    expect(told(reused.alerts)).toEqual(told(pure.alerts));
    expect(reused.timers).toEqual(pure.timers);
    expect(encodeState(reused.state)).toBe(encodeState(pure.state));
    kept = pure.state;
    given = reused.state;
  }
  return kept.rhythms?.['rhythm.learned'];
}

describe('learned in place (reuse) as on a copy', () => {
  it('home with a carer and to the chair, a lone carer going, two carers at once', () => {
    const { events } = morning();
    expect(bothWays([...events, ...homeWithCarer([ev('chair.occupied', '12:10:00')])])?.place).toBe('chair');
    expect(bothWays([...events, ...homeWithCarer()])?.place).toBe('out');
    const fob = (serial: string): Device => ['carer-fob', serial, 'hall'];
    const double = [
      ...events,
      ...passage('12:00:00', '12:00:20'),
      ev('carer.arrived', '12:01:00', fob('CF-1')),
      ev('carer.arrived', '12:01:10', fob('CF-2')),
      move('12:10:00'),
      ev('carer.left', '12:20:00', fob('CF-1')),
      move('12:25:00'),
      ev('carer.left', '12:21:00', fob('CF-2')),
      ...passage('12:21:30', '12:21:40'),
      move('13:30:00', LOUNGE),
    ];
    expect(bothWays(double)?.visitors).toBeUndefined();
  });
});

describe('the resident going out just after a carer came in, before "arrived"', () => {
  /** At home; the carer lets themselves in at 10:00 and is seen in the hall; the resident goes at 10:02. */
  const residentGoes = () => {
    const door = ev('door.closed', '10:02:10');
    return {
      door,
      events: [
        move('09:00:00'),
        move('09:50:00', LOUNGE),
        ...passage('10:00:00', '10:00:10'),
        move('10:00:15', HALL),
        ev('door.opened', '10:02:00'),
        door,
        ev('carer.arrived', '10:03:00'),
        move('10:10:00'),
        ev('carer.left', '10:40:00'),
        move('10:40:20', HALL),
        ...passage('10:40:40', '10:40:50'),
      ],
    };
  };

  it('one passage after the carer’s is someone going out: the resident, "not back" from their door', () => {
    const { events, door } = residentGoes();
    const { alerts, rhythm } = run(events, T('18:00:00'));
    expect(rhythm?.place).toBe('out');
    expect(notBack(alerts)).toEqual([['16:02', [door.id]]]);
    expect(ofType(alerts, 'inactivity.unusual')).toEqual([]);
  });

  it('the same with the carer seen in the hall after the resident’s door, before "arrived"', () => {
    const { events, door } = residentGoes();
    const { alerts, rhythm } = run([...events, move('10:02:30', HALL)], T('18:00:00'));
    expect(rhythm?.place).toBe('out');
    expect(notBack(alerts)).toEqual([['16:02', [door.id]]]);
  });
});

describe('the hall’s PIR seeing a lone carer go through the open door', () => {
  it('movement between the opening and the closing of the carer’s going is the carer: the resident still out', () => {
    const { events, door } = morning();
    const visit = homeWithCarer().filter((event) => !event.time.includes('T12:40:'));
    const { alerts, rhythm } = run(
      [
        ...events,
        ...visit,
        ev('carer.left', '12:40:00'),
        ev('door.opened', '12:40:30'),
        move('12:40:35', HALL),
        ev('door.closed', '12:40:45'),
      ],
      T('18:00:00'),
    );
    expect(rhythm?.place).toBe('out');
    expect(notBack(alerts)).toEqual([['16:30', [door.id]]]);
  });
});

describe('a carer who presses "arrived" again', () => {
  it('ten minutes on, nobody come in since: one carer, whose "left" ends the visit; the resident home at their own door', () => {
    const { events } = morning();
    const { alerts, rhythm } = run(
      [
        ...events,
        ...passage('12:00:00', '12:00:20'),
        move('12:00:25', HALL),
        ev('carer.arrived', '12:01:00'),
        move('12:05:00'),
        ev('carer.arrived', '12:10:00'),
        move('12:20:00'),
        ev('carer.left', '12:40:00'),
        move('12:40:20', HALL),
        ...passage('12:40:40', '12:40:50'),
        // The resident home on their own at 13:00.
        ...passage('13:00:00', '13:00:20'),
        move('13:00:30', HALL),
        move('13:05:00', LOUNGE),
      ],
      T('13:30:00'),
    );
    expect(rhythm?.place).toBe('home');
    expect(rhythm?.visitors).toBeUndefined();
    expect(notBack(alerts)).toEqual([]);
    // Out from 10:30 to their door at 13:00.
    expect(longestOuting(rhythm)).toBe(150);
  });
});

describe('a carer who sits in the resident’s chair while the resident is out', () => {
  it('the chair left again before "left": the carer’s, the resident still out, "not back" from their door', () => {
    const { events, door } = morning();
    const { alerts, rhythm } = run(
      [...events, ...homeWithCarer([ev('chair.occupied', '12:10:00'), ev('chair.vacated', '12:18:00')])],
      T('18:00:00'),
    );
    expect(rhythm?.place).toBe('out');
    expect(notBack(alerts)).toEqual([['16:30', [door.id]]]);
  });
});

describe('the carers’ leftovers with a report taken late, and learned in place', () => {
  /** The resident goes at 10:02, after the carer came in at 10:00 and before their "arrived". */
  const residentGoes = () => [
    move('09:00:00'),
    move('09:50:00', LOUNGE),
    ...passage('10:00:00', '10:00:10'),
    move('10:00:15', HALL),
    ...passage('10:02:00', '10:02:10'),
    ev('carer.arrived', '10:03:00'),
    move('10:03:30'),
  ];
  /** A lone carer going, the hall’s PIR seeing them through the open door. */
  const seenGoing = () => [
    ...morning().events,
    ...homeWithCarer().filter((event) => !event.time.includes('T12:40:')),
    ev('carer.left', '12:40:00'),
    ev('door.opened', '12:40:30'),
    move('12:40:35', HALL),
    ev('door.closed', '12:40:45'),
  ];
  /** "arrived" pressed again ten minutes on. */
  const pressedTwice = () => [
    ...morning().events,
    ...passage('12:00:00', '12:00:20'),
    move('12:00:25', HALL),
    ev('carer.arrived', '12:01:00'),
    move('12:05:00'),
    ev('carer.arrived', '12:10:00'),
    move('12:10:30'),
  ];
  /** The carer sits in the chair a while during a visit while the resident is out. */
  const carerSits = () => [
    ...morning().events,
    ...homeWithCarer([
      ev('chair.occupied', '12:10:00'),
      ev('chair.vacated', '12:18:00'),
      move('12:18:10', LOUNGE),
    ]),
  ];
  const last = (events: readonly TelecareEvent[], n: number) =>
    [...events].sort((a, b) => Date.parse(a.time) - Date.parse(b.time)).slice(-n);

  it('the resident going out after the carer came in: their door’s closing or "arrived" taken late', () => {
    // The door contact sends its opening before its closing; the fob and the PIRs are senders of their own.
    const events = residentGoes();
    const ordered = sameWhenLate(events, last(events, 3).slice(0, 2), T('18:00:00'));
    expect(ordered.rhythm?.place).toBe('out');
    const seen = [...events, move('10:02:30', HALL)];
    expect(sameWhenLate(seen, last(seen, 4).slice(1, 3), T('18:00:00')).rhythm?.place).toBe('out');
  });

  it('the carer seen through the open door: "left", the opening or the movement taken late', () => {
    const events = seenGoing();
    const ordered = sameWhenLate(events, last(events, 4).slice(0, 3), T('18:00:00'));
    expect(ordered.rhythm?.place).toBe('out');
  });

  it('"arrived" pressed again, taken late', () => {
    const events = pressedTwice();
    const ordered = sameWhenLate(events, last(events, 2).slice(0, 1), T('18:00:00'));
    expect(ordered.rhythm?.visitors).toBeUndefined();
  });

  it('the carer up from the chair: the vacating, "left" or the carer’s going taken late', () => {
    const events = carerSits();
    const late = events.filter((event) => event.type === 'chair.vacated' || event.time.includes('T12:40:'));
    const ordered = sameWhenLate(events, late, T('18:00:00'));
    expect(ordered.rhythm?.place).toBe('out');
  });

  it('learned in place as on a copy', () => {
    expect(bothWays(residentGoes())?.place).toBe('out');
    expect(bothWays([...residentGoes(), move('10:02:30', HALL)])?.place).toBe('out');
    expect(bothWays(seenGoing())?.place).toBe('out');
    expect(bothWays(pressedTwice())?.visitors).toBeUndefined();
    expect(bothWays(carerSits())?.place).toBe('out');
  });
});

describe('one of two carers who presses "left" again', () => {
  /**
   * The resident out since 10:30; two carers in by a passage each, both pressing "arrived" on the
   * home unit (a press names no carer). One presses "left" at 12:20 and again at `again`, goes
   * out at 12:21:30; the other stays, moves about, presses "left" at 12:40 and goes.
   */
  const pressedLeftTwice = (again: string) =>
    outThen([
      ...passage('12:00:00', '12:00:20'),
      move('12:00:25', HALL),
      ev('carer.arrived', '12:01:00'),
      ...passage('12:01:30', '12:01:45'),
      ev('carer.arrived', '12:02:00'),
      move('12:10:00'),
      ev('carer.left', '12:20:00'),
      ev('carer.left', again),
      ...passage('12:21:30', '12:21:40'),
      move('12:25:00'),
      move('12:35:00', LOUNGE),
      ev('carer.left', '12:40:00'),
      move('12:40:20', HALL),
      ...passage('12:40:40', '12:40:50'),
    ]);

  for (const again of ['12:20:02', '12:21:00'])
    it(`at ${again}, no door opened since the first: the same carer, the other’s movement theirs, "not back" from the resident’s door`, () => {
      const { events, door } = pressedLeftTwice(again);
      const { alerts, rhythm } = run(events, T('18:00:00'));
      expect(rhythm?.place).toBe('out');
      expect(notBack(alerts)).toEqual([['16:30', [door.id]]]);
    });

  it('the "left" pressed again, the first carer’s door or the other’s movement taken late: as in time order', () => {
    const { events } = pressedLeftTwice('12:21:00');
    const late = events.filter((event) => /T12:(21|25):/.test(event.time));
    expect(sameWhenLate(events, late, T('18:00:00')).rhythm?.place).toBe('out');
  });

  it('learned in place as on a copy', () => {
    expect(bothWays(pressedLeftTwice('12:21:00').events)?.place).toBe('out');
  });
});

describe('what the "not back" alert says of the carers’ visits', () => {
  const reasonOf = (alerts: readonly Alert[]) =>
    ofType(alerts, 'outing.not-returned').map((alert) => alert.reason);
  /** One "not back" alert, telling one carer visit from 12:01 to 12:40 and no press at `pressedAt`. */
  const oneVisit = (alerts: readonly Alert[], pressedAt: string) => {
    const [reason] = reasonOf(alerts);
    expect(reason).toContain('since then a carer visit 12:01–12:40;');
    expect(reason).not.toContain(pressedAt);
    expect(ofType(alerts, 'outing.not-returned')[0]?.thresholds.carerVisits).toBe(1);
    return reason;
  };

  it('a two-carer visit is one visit, from its first "arrived" to the last "left"; also with a report taken late', () => {
    const { events } = morning();
    const all = [
      ...events,
      ...passage('12:00:00', '12:00:20'),
      ev('carer.arrived', '12:01:00'),
      ...passage('12:01:30', '12:01:45'),
      ev('carer.arrived', '12:02:00'),
      move('12:10:00'),
      ev('carer.left', '12:20:00'),
      ...passage('12:20:30', '12:20:40'),
      ev('carer.left', '12:40:00'),
      ...passage('12:40:30', '12:40:40'),
    ];
    const reason = oneVisit(run(all, T('18:00:00')).alerts, '12:20');
    for (const late of all.filter((event) => /T12:(02|20|40):/.test(event.time)))
      expect(
        reasonOf(run(all, T('18:00:00'), { event: late, arrives: Date.parse(late.time) + 20_000 }).alerts),
      ).toEqual([reason]);
  });

  it('"arrived" and "left" each pressed again: one visit', () => {
    const { events } = morning();
    const { alerts } = run(
      [
        ...events,
        ...passage('12:00:00', '12:00:20'),
        ev('carer.arrived', '12:01:00'),
        move('12:05:00'),
        ev('carer.arrived', '12:10:00'),
        move('12:20:00'),
        ev('carer.left', '12:40:00'),
        ev('carer.left', '12:40:03'),
        ...passage('12:41:00', '12:41:10'),
      ],
      T('18:00:00'),
    );
    oneVisit(alerts, '12:10');
  });
});

describe('a carer still seated in the resident’s chair as they press "left"', () => {
  /**
   * The resident out since 10:30; a lone carer in by the door at 12:00, sits in the chair to write
   * their notes at 12:10, presses "left" from it at 12:40 (the fob in their hand), gets up, is seen
   * in the hall and goes.
   */
  const chairVisit = (going: readonly TelecareEvent[]) =>
    outThen([
      ...passage('12:00:00', '12:00:20'),
      move('12:00:25', HALL),
      ev('carer.arrived', '12:01:00'),
      move('12:05:00'),
      ev('chair.occupied', '12:10:00'),
      ev('carer.left', '12:40:00'),
      ...going,
    ]);
  const seatedAtLeft = (up = '12:40:10') =>
    chairVisit([ev('chair.vacated', up), move('12:40:20', HALL), ...passage('12:40:40', '12:40:50')]);

  for (const up of ['12:40:10', '12:40:35', '12:40:45', '12:41:30'])
    it(`up from the chair at ${up}, as they go: the carer, the resident still out, "not back" from their door`, () => {
      const { events, door } = seatedAtLeft(up);
      const { alerts, rhythm } = run(events, T('18:00:00'));
      expect(rhythm?.place).toBe('out');
      expect(notBack(alerts)).toEqual([['16:30', [door.id]]]);
    });

  for (const up of [undefined, '12:42:00'])
    it(`the resident in the chair, ${up ? `up at ${up}, after the carer has gone` : 'still in it once the carer has gone'}: home from the door they came in by`, () => {
      const { events } = chairVisit([
        move('12:40:20', HALL),
        ...passage('12:40:40', '12:40:50'),
        ...(up ? [ev('chair.vacated', up), move('12:45:00', LOUNGE)] : []),
      ]);
      const { alerts, rhythm } = run(events, T('17:30:00'));
      expect(notBack(alerts)).toEqual([]);
      expect(rhythm?.place).toBe(up ? 'home' : 'chair');
      expect(longestOuting(rhythm)).toBe(90);
    });

  it('a pad slower than a minute (the seat left reported 75 s after the door closed), nothing inside since: the carer, "not back" from the resident’s door', () => {
    const { events, door } = seatedAtLeft('12:42:05');
    const { alerts, rhythm } = run(events, T('18:00:00'));
    expect(rhythm?.place).toBe('out');
    expect(notBack(alerts)).toEqual([['16:30', [door.id]]]);
    expect(ofType(alerts, 'inactivity.unusual')).toEqual([]);
  });

  /**
   * The resident home with the carer and sat in their chair at 12:10 while the carer made tea in
   * the kitchen; the carer, standing, presses "left" and goes; the resident gets up `up`, with the
   * lounge's PIR (the chair's room, in its lockout since the carer passed) seeing nothing after.
   */
  const residentSeated = (up: string, after: readonly TelecareEvent[] = []) =>
    outThen([
      ...passage('12:00:00', '12:00:20'),
      move('12:00:25', HALL),
      ev('carer.arrived', '12:01:00'),
      ev('chair.occupied', '12:10:00'),
      move('12:14:30'),
      move('12:31:10'),
      ev('carer.left', '12:40:00'),
      move('12:40:20', HALL),
      ...passage('12:40:40', '12:40:50'),
      ev('chair.vacated', up),
      ...after,
    ]);

  for (const up of ['12:41:05', '12:41:35', '12:42:30'])
    it(`the resident in the chair while the carer moved about the kitchen, up at ${up}, within a minute or two of the door: home, a silence at home, no "not back"`, () => {
      const { events } = residentSeated(up);
      const { alerts, rhythm } = run(events, T('18:00:00'));
      expect(rhythm?.place).toBe('home');
      expect(notBack(alerts)).toEqual([]);
      expect(ofType(alerts, 'inactivity.unusual')).toHaveLength(1);
      expect(longestOuting(rhythm)).toBe(90);
    });

  it('the resident seen in the hall after the door closed, before the pad reports the seat left: home', () => {
    const { events } = chairVisit([
      move('12:40:20', HALL),
      ...passage('12:40:40', '12:40:50'),
      move('12:41:50', HALL),
      ev('chair.vacated', '12:42:20'),
    ]);
    const { alerts, rhythm } = run(events, T('18:00:00'));
    expect(rhythm?.place).toBe('home');
    expect(notBack(alerts)).toEqual([]);
  });

  it('the resident’s seat, up within a minute of the door: the vacating, "left" or the carer’s going taken late, as in time order; learned in place as on a copy', () => {
    const { events } = residentSeated('12:41:05');
    const late = events.filter((event) => event.time.includes('T12:4'));
    expect(sameWhenLate(events, late, T('18:00:00')).rhythm?.place).toBe('home');
    expect(bothWays(events)?.place).toBe('home');
  });

  it('the vacating, "left" or the carer’s going taken late: as in time order', () => {
    const { events } = seatedAtLeft();
    const late = events.filter((event) => event.time.includes('T12:40:'));
    expect(sameWhenLate(events, late, T('18:00:00')).rhythm?.place).toBe('out');
  });

  it('learned in place as on a copy', () => {
    expect(bothWays(seatedAtLeft().events)?.place).toBe('out');
  });
});

describe('two carers who go together, each pressing "left" before the door opens', () => {
  /**
   * The resident home with two carers through one passage of the door at 12:00, both pressing
   * "arrived" (`a`, `b`: the device each press came from); both press "left" at 12:40 and go out
   * together; the resident about the lounge at 13:00.
   */
  const goTogether = (a: Device = DEVICES['carer.arrived'] as Device, b = a) => [
    ...morning().events,
    ...passage('12:00:00', '12:00:20'),
    move('12:00:25', HALL),
    ev('carer.arrived', '12:01:00', a),
    ev('carer.arrived', '12:01:10', b),
    move('12:10:00'),
    ev('carer.left', '12:40:00', a),
    ev('carer.left', '12:40:15', b),
    move('12:40:20', HALL),
    ...passage('12:40:40', '12:40:50'),
    move('13:00:00', LOUNGE),
  ];

  for (const [name, events] of [
    ['on the home unit', goTogether()],
    ['each on their own fob', goTogether(['carer-fob', 'CF-1', 'hall'], ['carer-fob', 'CF-2', 'hall'])],
  ] as const)
    it(`${name}: two "arrived", two "left": the visit ends, the resident home from the door they came in by`, () => {
      const { alerts, rhythm } = run(events, T('13:30:00'));
      expect(rhythm?.place).toBe('home');
      expect(rhythm?.visitEnd).toBe(T('12:40:15'));
      expect(notBack(alerts)).toEqual([]);
      // Back at 12:00, not when the visit's two hours ran out.
      expect(longestOuting(rhythm)).toBe(90);
    });

  it('a report taken late: as in time order', () => {
    const events = goTogether();
    const late = events.filter((event) => /T12:40:(00|15|20)/.test(event.time));
    expect(sameWhenLate(events, late, T('13:30:00')).rhythm?.place).toBe('home');
  });

  it('learned in place as on a copy', () => {
    expect(bothWays(goTogether())?.place).toBe('home');
  });

  it('"left" pressed again by one of two carers from their own fob, the other still in: the visit goes on', () => {
    const A: Device = ['carer-fob', 'CF-1', 'hall'];
    const B: Device = ['carer-fob', 'CF-2', 'hall'];
    const { events, door } = morning();
    const { alerts, rhythm } = run(
      [
        ...events,
        ...passage('12:00:00', '12:00:20'),
        ev('carer.arrived', '12:01:00', A),
        ev('carer.arrived', '12:01:10', B),
        move('12:10:00'),
        ev('carer.left', '12:20:00', A),
        ev('carer.left', '12:20:30', A),
        ...passage('12:21:30', '12:21:40'),
        move('12:25:00'),
        move('12:35:00', LOUNGE),
        ev('carer.left', '12:40:00', B),
        ...passage('12:40:30', '12:40:40'),
      ],
      T('18:00:00'),
    );
    expect(rhythm?.place).toBe('out');
    expect(notBack(alerts)).toEqual([['16:30', [door.id]]]);
  });
});

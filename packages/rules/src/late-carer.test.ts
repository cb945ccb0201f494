import type { Alert, EventType, TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState, type ResidentState } from './model.ts';
import { RulesRunner } from './runner.ts';
import { encodeState } from './state-codec.ts';
import { makeEvent } from './testing.ts';

/**
 * A carer's "arrived" (their fob) and the movement they make coming in (a PIR) are two senders:
 * they reach the core in either order within the reorder bound. Out, whatever moves during a
 * carer's visit is someone else; taken in either order, the same.
 */
const RESIDENT = 'res_latecarer1';
const GRACE = DEFAULT_RULE_SET.settings.reorderGraceS * 1000;
const MIN = 60_000;
const T = (hhmmss: string, ms = 0) => Date.parse(`2026-11-22T${hhmmss}.000Z`) + ms;
const UNTIL = T('23:59:00');

const DEVICES: Partial<Record<EventType, [string, string]>> = {
  motion: ['pir', 'PIR-1'],
  'door.opened': ['door-contact', 'DC-1'],
  'door.closed': ['door-contact', 'DC-1'],
  'carer.arrived': ['carer-fob', 'CF-1'],
  'carer.left': ['carer-fob', 'CF-1'],
  'bed.occupied': ['bed-sensor', 'BS-1'],
};

let counter = 0;
function ev(type: EventType, time: number): TelecareEvent {
  const [devicekind, subject] = DEVICES[type] ?? ['pir', 'PIR-1'];
  return makeEvent({
    type,
    time: new Date(time).toISOString(),
    residentid: RESIDENT,
    devicekind,
    subject,
    deviceEventId: `lc-${++counter}`,
  });
}

/** Each event read when it arrives: `[event, arrival]`, in the order given. */
function run(arrivals: ReadonlyArray<readonly [TelecareEvent, number]>) {
  const runner = new RulesRunner(DEFAULT_RULE_SET);
  const alerts: Alert[] = [];
  for (const [event, at] of arrivals) alerts.push(...runner.event(event, at));
  alerts.push(...runner.advance(UNTIL));
  const rhythm = runner.states.get(RESIDENT)?.rhythms?.['rhythm.learned'];
  return { alerts, rhythm, state: runner.states.get(RESIDENT) ?? initialState(RESIDENT) };
}

/** In time order, each a second after it happened. */
const inOrder = (events: readonly TelecareEvent[]) =>
  run(
    [...events]
      .sort((a, b) => Date.parse(a.time) - Date.parse(b.time))
      .map((event) => [event, Date.parse(event.time) + 1000] as const),
  );

/** The same events, `late` read last (at `arrives`), the others a second after they happened. */
const withLate = (events: readonly TelecareEvent[], late: TelecareEvent, arrives: number) =>
  run([
    ...[...events]
      .filter((event) => event !== late)
      .sort((a, b) => Date.parse(a.time) - Date.parse(b.time))
      .map((event) => [event, Date.parse(event.time) + 1000] as const),
    [late, arrives] as const,
  ]);

const told = (alerts: readonly Alert[]) =>
  alerts
    .map((alert) => [alert.id, alert.type, alert.raisedAt])
    .sort((a, b) => String(a).localeCompare(String(b)));
const types = (alerts: readonly Alert[]) => alerts.map((alert) => alert.type);

/**
 * Each arrival evaluated on a copy and on a state given up to the core (reuse): the same
 * evaluations and stored states. The state in the end.
 */
function inPlaceAsCopy(arrivals: ReadonlyArray<readonly [TelecareEvent, number]>): ResidentState {
  let kept: ResidentState = initialState(RESIDENT);
  let given: ResidentState = initialState(RESIDENT);
  for (const [event, now] of arrivals) {
    const input = { kind: 'event', event, now } as const;
    const { state: pureState, ...pure } = evaluate(kept, input, DEFAULT_RULE_SET);
    const { state: reusedState, ...reused } = evaluate(given, input, DEFAULT_RULE_SET, { reuse: true });
    expect(reused).toEqual(pure);
    expect(encodeState(reusedState)).toBe(encodeState(pureState));
    expect(JSON.stringify(reusedState.rhythms)).toBe(JSON.stringify(pureState.rhythms));
    kept = pureState;
    given = reusedState;
  }
  return kept;
}

/** At home from 10:00, out of the front door at 10:30. */
const morning = () => [
  ev('motion', T('10:00:00')),
  ev('motion', T('10:29:00')),
  ev('door.opened', T('10:29:50')),
  ev('door.closed', T('10:30:01', 1)),
];

/** A carer letting themselves in: the door opened and shut, then their fob's "arrived". */
const carerIn = (opened: string, shut: string, arrived: string) => [
  ev('door.opened', T(opened)),
  ev('door.closed', T(shut)),
  ev('carer.arrived', T(arrived)),
];
/** A carer going: their fob's "left", then the door opened and shut behind them. */
const carerOut = (left: string, opened: string, shut: string) => [
  ev('carer.left', T(left)),
  ev('door.opened', T(opened)),
  ev('door.closed', T(shut)),
];

describe('a carer’s arrival reported after the movement it explains', () => {
  it('out, the carer’s movement is theirs in either order: "not back" is raised as in time order', () => {
    const carer = ev('carer.arrived', T('10:35:01', 2));
    const events = [...morning(), carer, ev('motion', T('10:35:01', 3))];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).toContain('outing.not-returned');
    const late = withLate(events, carer, T('10:35:01', 3) + 1500);
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe('out');
    expect(late.rhythm?.visit).toBe(ordered.rhythm?.visit);
    expect(late.rhythm?.last?.id).toBe(ordered.rhythm?.last?.id);
    expect(late.rhythm?.checkAt).toBe(ordered.rhythm?.checkAt);
  });

  it('the same with several movements after it before the carer’s report comes, within the reorder grace', () => {
    const carer = ev('carer.arrived', T('10:35:01', 2));
    const moves = [3, 8_000, 15_000, 22_000].map((ms) => ev('motion', T('10:35:01', ms)));
    const events = [...morning(), carer, ...moves];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).toContain('outing.not-returned');
    const late = withLate(events, carer, T('10:35:01', 2) + GRACE - 1000);
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe('out');
  });

  it('the same with the carer’s report older than the movement by more than the visit’s door window', () => {
    const carer = ev('carer.arrived', T('10:50:00'));
    const moves = [ev('motion', T('10:56:00')), ev('motion', T('10:57:00'))];
    const events = [...morning(), carer, ...moves];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).toContain('outing.not-returned');
    const late = withLate(events, carer, T('10:57:00') + 1500);
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe('out');
  });

  it('a door opened while out and not the carer’s still dates a return after it, in either order', () => {
    // The door at 10:40 is no carer's (they came at 10:50): "not back" waits for a silence from it.
    const carer = ev('carer.arrived', T('10:50:00'));
    const events = [
      ...morning(),
      ev('door.opened', T('10:40:00')),
      ev('door.closed', T('10:40:20')),
      carer,
      ev('motion', T('10:50:00', 5)),
    ];
    const ordered = inOrder(events);
    const late = withLate(events, carer, T('10:50:01'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.returning).toBe(ordered.rhythm?.returning);
    expect(late.rhythm?.checkAt).toBe(ordered.rhythm?.checkAt);
  });

  it('a carer who came after the resident was back leaves them at home, in either order', () => {
    const carer = ev('carer.arrived', T('11:09:50'));
    const events = [
      ...morning(),
      ev('motion', T('11:00:00')),
      carer,
      ev('motion', T('11:10:00')),
      ...Array.from({ length: 20 }, (_, i) => ev('motion', T('11:20:00') + i * 20 * MIN)),
    ];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).not.toContain('outing.not-returned');
    const late = withLate(events, carer, T('11:10:01'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe('home');
    expect(late.rhythm?.visit).toBe(ordered.rhythm?.visit);
  });

  it('a carer who came in just after the resident went out took that door: at home either way, and their visit known', () => {
    // The carer leaves at 10:50 without pressing "left": that door is the carer's too.
    const carer = ev('carer.arrived', T('10:32:00'));
    const events = [
      ...morning(),
      carer,
      ev('motion', T('10:32:00', 5)),
      ev('door.opened', T('10:50:00')),
      ev('door.closed', T('10:50:20')),
    ];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).not.toContain('outing.not-returned');
    const late = withLate(events, carer, T('10:32:01'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe(ordered.rhythm?.place);
  });

  it('at home, a carer’s arrival reported after their movement still makes the door during the visit theirs', () => {
    const carer = ev('carer.arrived', T('10:00:00'));
    const events = [
      ev('motion', T('09:00:00')),
      carer,
      ev('motion', T('10:00:00', 500)),
      ev('door.opened', T('10:30:00')),
      ev('door.closed', T('10:30:20')),
    ];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).not.toContain('outing.not-returned');
    const late = withLate(events, carer, T('10:00:01'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.visit).toBe(ordered.rhythm?.visit);
  });

  it('a door closed behind the resident during a visit the late report tells of is the carer’s: at home either way', () => {
    const carer = ev('carer.arrived', T('10:29:55'));
    const events = [...morning(), carer];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).not.toContain('outing.not-returned');
    const late = withLate(events, carer, T('10:30:02'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe('home');
  });

  it('learned in place (reuse) into the same evaluations and stored states as a copy', () => {
    const carer = ev('carer.arrived', T('10:35:01', 2));
    const moves = [3, 8_000, 15_000].map((ms) => ev('motion', T('10:35:01', ms)));
    const arrivals = [
      ...[...morning(), ...moves].map((event) => [event, Date.parse(event.time) + 1000] as const),
      [carer, T('10:35:25')] as const,
      // Read again: a redelivery changes nothing.
      [carer, T('10:35:40')] as const,
    ];
    expect(inPlaceAsCopy(arrivals).rhythms?.['rhythm.learned']?.place).toBe('out');
  });
});

describe('a carer’s “left” reported after what came in after it', () => {
  it('out, the resident back minutes after the carer left, the “left” taken after their movement: at home, as in time order', () => {
    const left = ev('carer.left', T('11:33:00'));
    const events = [
      ...morning(),
      ev('carer.arrived', T('11:00:00')),
      ev('motion', T('11:05:00')),
      left,
      // The carer's door, then the resident's own return, and nothing more for hours (sitting still).
      ev('door.opened', T('11:33:30')),
      ev('door.closed', T('11:33:50')),
      ev('door.opened', T('11:36:00')),
      ev('door.closed', T('11:36:20')),
      ev('motion', T('11:37:00')),
      ev('motion', T('19:00:00')),
    ];
    const ordered = inOrder(events);
    // At home from 11:37: the silence there is raised, not "not back".
    expect(types(ordered.alerts)).toContain('inactivity.unusual');
    expect(types(ordered.alerts)).not.toContain('outing.not-returned');
    // The fob's "left" reaches the core 4.5 min late, after the resident's movement at 11:37.
    const late = run([
      ...events
        .slice(0, -1)
        .flatMap((event) => (event === left ? [] : [[event, Date.parse(event.time) + 1000] as const])),
      [left, T('11:37:30')] as const,
      [events.at(-1) as TelecareEvent, T('19:00:01')] as const,
    ]);
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.visitEnd).toBe(ordered.rhythm?.visitEnd);
  });
});

/** The same events, each a second after it happened but `late`, read at `arrives`: all in arrival order. */
const arrivingLate = (events: readonly TelecareEvent[], late: TelecareEvent, arrives: number) =>
  run(
    events
      .map((event) => [event, event === late ? arrives : Date.parse(event.time) + 1000] as const)
      .sort((a, b) => a[1] - b[1]),
  );

describe('a door closing taken after the carer’s arrival that followed it', () => {
  it('at home, the door the carer came in by, its closing taken after "arrived": the silence after it is named as in time order', () => {
    // The resident at home; the carer lets themselves in and presses the fob 19 s after the door
    // closed. Then nothing moves until the evening: the silence is raised once, under one id.
    const closed = ev('door.closed', T('10:30:01'));
    const events = [
      ev('motion', T('10:00:00')),
      ev('motion', T('10:29:00')),
      ev('door.opened', T('10:29:50')),
      closed,
      ev('carer.arrived', T('10:30:20')),
      ev('motion', T('19:00:00')),
    ];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).toContain('inactivity.unusual');
    expect(types(ordered.alerts)).not.toContain('outing.not-returned');
    const late = arrivingLate(events, closed, T('10:30:25'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe(ordered.rhythm?.place);
  });

  it('the same when the carer then moves about, and when something moved between the door and "arrived"', () => {
    const closed = ev('door.closed', T('10:30:01'));
    const base = [ev('motion', T('10:00:00')), ev('door.opened', T('10:29:50')), closed];
    for (const events of [
      [...base, ev('carer.arrived', T('10:30:20')), ev('motion', T('10:30:21')), ev('motion', T('19:00:00'))],
      [...base, ev('motion', T('10:30:10')), ev('carer.arrived', T('10:30:20')), ev('motion', T('19:00:00'))],
    ]) {
      const ordered = inOrder(events);
      const late = arrivingLate(events, closed, T('10:30:25'));
      expect(told(late.alerts)).toEqual(told(ordered.alerts));
    }
  });
});

/** Home through the front door at 14:00, `bed` (in bed at 14:00:10), and a carer in behind them. */
const homeToBed = (bed: TelecareEvent) => [
  ev('door.opened', T('14:00:00')),
  bed,
  ev('carer.arrived', T('14:00:20')),
  ev('door.closed', T('14:00:25')),
];

/** In bed and no "not back", in time order and with the bed's report taken after the carer's. */
function inBedEitherWay(events: readonly TelecareEvent[], bed: TelecareEvent) {
  const ordered = inOrder(events);
  expect(types(ordered.alerts)).not.toContain('outing.not-returned');
  expect(ordered.rhythm?.place).toBe('bed');
  const late = arrivingLate(events, bed, T('14:00:30'));
  expect(told(late.alerts)).toEqual(told(ordered.alerts));
  expect(late.rhythm?.place).toBe('bed');
  expect(late.rhythm?.last?.id).toBe(ordered.rhythm?.last?.id);
  return { ordered, late };
}

describe('a bed report taken after the carer’s arrival that followed it', () => {
  it('out, the resident home and straight to bed before the carer came: in bed, as in time order, and no "not back"', () => {
    // Home through the front door at 14:00, in bed at 14:00:10; the carer's fob at 14:00:20 reaches
    // the core before the bed sensor's report.
    const bed = ev('bed.occupied', T('14:00:10'));
    const { ordered, late } = inBedEitherWay([...morning(), ...homeToBed(bed)], bed);
    expect(late.rhythm?.returning).toBe(ordered.rhythm?.returning);
    expect(late.rhythm?.visit).toBe(ordered.rhythm?.visit);
  });

  it('the hall’s PIR instead of the bed, before "arrived" within five minutes of the door: the carer coming in, out as in time order', () => {
    // One passage through the door and the carer's "arrived" 20 s after it: the movement is the
    // carer's (the resident may have come in with them, but nothing says so until the visit ends).
    const moved = ev('motion', T('14:00:10'));
    const events = [
      ...morning(),
      ev('door.opened', T('14:00:00')),
      moved,
      ev('carer.arrived', T('14:00:20')),
      ev('door.closed', T('14:00:25')),
      ev('motion', T('21:00:00')),
    ];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).toContain('outing.not-returned');
    expect(types(ordered.alerts)).not.toContain('inactivity.unusual');
    const late = arrivingLate(events, moved, T('14:00:30'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe(ordered.rhythm?.place);
  });
});

describe('both, learned in place (reuse)', () => {
  it('give the same evaluations and stored states as a copy', () => {
    const closed = ev('door.closed', T('10:30:01'));
    const bed = ev('bed.occupied', T('14:00:10'));
    const arrivals = [
      [ev('motion', T('10:00:00')), T('10:00:01')],
      [ev('door.opened', T('10:29:50')), T('10:29:51')],
      [ev('carer.arrived', T('10:30:20')), T('10:30:21')],
      [closed, T('10:30:25')],
      [ev('carer.left', T('11:00:00')), T('11:00:01')],
      [ev('door.opened', T('11:10:00')), T('11:10:01')],
      [ev('door.closed', T('11:10:20')), T('11:10:21')],
      [ev('door.opened', T('14:00:00')), T('14:00:01')],
      [ev('carer.arrived', T('14:00:20')), T('14:00:21')],
      [bed, T('14:00:30')],
      [bed, T('14:00:40')],
    ] as const;
    expect(inPlaceAsCopy(arrivals).rhythms?.['rhythm.learned']?.place).toBe('bed');
  });
});

describe('a carer who comes in by a door of their own minutes after the resident went out', () => {
  /** Out at 10:30; the carer opens and shuts the door at 10:33, presses "arrived", and works. */
  const visit = () => [
    ...carerIn('10:33:00', '10:33:15', '10:33:30'),
    ev('motion', T('10:34:00')),
    ev('motion', T('10:36:00')),
  ];

  it('the resident is out, "not back" from their own door, whether "arrived" is taken before or after the carer’s movement', () => {
    const events = [...morning(), ...visit()];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).toContain('outing.not-returned');
    expect(types(ordered.alerts)).not.toContain('inactivity.unusual');
    expect(ordered.rhythm?.place).toBe('out');
    const carer = events.find((event) => event.type === 'carer.arrived') as TelecareEvent;
    const late = arrivingLate(events, carer, T('10:34:10'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe('out');
  });
});

describe('activity inside older than a carer’s report taken after it', () => {
  it('another carer visit between the outing’s door and it: the resident home and to bed, as in time order', () => {
    // Out at 10:30; a carer calls at 11:00 and goes at 11:30; the resident comes home at 14:00 and
    // lies down, the next carer comes in behind them; the bed's report reaches the core last.
    const bed = ev('bed.occupied', T('14:00:10'));
    const events = [
      ...morning(),
      ...carerIn('11:00:00', '11:00:15', '11:00:30'),
      ev('motion', T('11:05:00')),
      ...carerOut('11:30:00', '11:30:20', '11:30:35'),
      ...homeToBed(bed),
    ];
    inBedEitherWay(events, bed);
  });

  it('the carer’s own movement taken after their "left": still theirs, the resident out, as in time order', () => {
    // Out at 10:30; a carer drops the shopping in at 12:00: in, "arrived", the kitchen PIR,
    // "left", out again within a minute. The PIR's report reaches the core 28 s late, after "left".
    const moved = ev('motion', T('12:00:20'));
    const events = [
      ...morning(),
      ...carerIn('12:00:00', '12:00:10', '12:00:15'),
      moved,
      ...carerOut('12:00:40', '12:00:45', '12:00:50'),
    ];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).toContain('outing.not-returned');
    expect(ordered.rhythm?.place).toBe('out');
    const late = arrivingLate(events, moved, T('12:00:48'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe('out');
  });

  it('the resident’s own return before the visit, taken after the carer’s "left": at home, the silence named as in time order', () => {
    // Home at 14:00 with a carer who sees them in and goes: the hall PIR's report comes last.
    const moved = ev('motion', T('14:00:10'));
    const events = [
      ...morning(),
      ev('door.opened', T('14:00:00')),
      moved,
      ev('carer.arrived', T('14:00:20')),
      ev('carer.left', T('14:00:30')),
      ev('door.closed', T('14:00:35')),
      ev('motion', T('14:02:00')),
      ev('motion', T('21:00:00')),
    ];
    const ordered = inOrder(events);
    const late = arrivingLate(events, moved, T('14:00:38'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe(ordered.rhythm?.place);
  });
});

describe('a door closing taken after the carer’s "arrived": nothing learned from the door to the report', () => {
  it('the minutes from the carer’s door to their report are no silence at home, in either order', () => {
    // About every minute until 23:50; the night carer lets themselves in at 23:52 and presses the
    // fob at 23:56, once their coat is off; the next movement is after midnight. The door's closing
    // reaches the core after "arrived". The day's longest silence at home in the evening is a
    // minute, in either order: the four from the door to the report are the carer coming in.
    const D = (hhmm: string) => Date.parse(`2026-11-22T${hhmm}:00.000Z`);
    const closed = ev('door.closed', D('23:52') + 20_000);
    const events = [
      ...Array.from({ length: 51 }, (_, i) => ev('motion', D('23:00') + i * MIN)),
      ev('door.opened', D('23:52')),
      closed,
      ev('carer.arrived', D('23:56')),
      ev('motion', Date.parse('2026-11-23T00:20:00.000Z')),
    ];
    const ordered = inOrder(events);
    const late = arrivingLate(events, closed, D('23:56') + 5_000);
    expect(late.rhythm?.gaps).toEqual(ordered.rhythm?.gaps);
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
  });
});

describe('a visit learned again from the outing’s door, in place (reuse)', () => {
  it('gives the same evaluations and stored states as a copy', () => {
    const arrivals = [
      [ev('motion', T('10:00:00')), T('10:00:01')],
      [ev('door.opened', T('10:29:50')), T('10:29:51')],
      [ev('door.closed', T('10:30:01')), T('10:30:02')],
      // A carer by a door of their own, their movement taken after their "left".
      ...carerIn('12:00:00', '12:00:10', '12:00:15').map(
        (event) => [event, Date.parse(event.time) + 1000] as const,
      ),
      [ev('carer.left', T('12:00:40')), T('12:00:41')],
      [ev('motion', T('12:00:20')), T('12:00:45')],
      // The next carer in by the door, their hall movement taken after their report and the door.
      [ev('door.opened', T('14:00:00')), T('14:00:01')],
      [ev('carer.arrived', T('14:00:20')), T('14:00:21')],
      [ev('door.closed', T('14:00:25')), T('14:00:26')],
      [ev('motion', T('14:00:10')), T('14:00:30')],
      [ev('carer.left', T('14:20:00')), T('14:20:01')],
      // The resident home by a door of their own, and about.
      [ev('door.opened', T('15:00:00')), T('15:00:01')],
      [ev('door.closed', T('15:00:10')), T('15:00:11')],
      [ev('motion', T('15:00:20')), T('15:00:21')],
    ] as const;
    expect(inPlaceAsCopy(arrivals).rhythms?.['rhythm.learned']?.place).toBe('home');
  });
});

describe('a carer whose "arrived" takes the door closing just before it for theirs, on a state given up to the core', () => {
  it('keeps the visit as it stood before the "arrived" in the return it keeps, as on a copy', () => {
    // Out of the front door at 10:30:01, the carer's "arrived" a millisecond after: their coming in.
    const arrivals = [
      [ev('motion', T('10:30:00')), T('10:30:00')],
      [ev('door.closed', T('10:30:01')), T('10:30:01')],
      [ev('carer.arrived', T('10:30:01', 1)), T('10:30:01', 9)],
      [ev('pendant.pressed', T('11:30:00')), T('11:30:00')],
    ] as const;
    const state = inPlaceAsCopy(arrivals);
    expect(state.rhythms?.['rhythm.learned']?.beforeReturn?.visit).toBeUndefined();
  });
});

/** Each report of `lates` read late (at its time given) raises the alerts of `ordered`, the resident `place` in the end. */
function sameTaken(
  events: readonly TelecareEvent[],
  ordered: ReturnType<typeof run>,
  lates: ReadonlyArray<readonly [TelecareEvent, number]>,
  place: string,
) {
  for (const [late, arrives] of lates) {
    const read = arrivingLate(events, late, arrives);
    expect(told(read.alerts)).toEqual(told(ordered.alerts));
    expect(read.rhythm?.place).toBe(place);
  }
}

/** The resident's "not back" alerts, and on what evidence. */
const notBack = (alerts: readonly Alert[]) =>
  alerts.filter((alert) => alert.type === 'outing.not-returned').map((alert) => alert.evidence);

describe('a carer seen by the hall’s PIR before their "arrived", the resident out', () => {
  /** Out at 10:30 (its door closing, the evidence "not back" names). */
  const outAt = () => {
    const events = morning();
    return { events, door: (events.at(-1) as TelecareEvent).id };
  };
  /**
   * The carer lets themselves in at 12:00, the hall's PIR sees them at `hall`, the door shuts
   * behind them, "arrived" at `arrived`; they work in the kitchen, press "left" at 12:30 and go.
   */
  const visit = (hall: string, arrived: string) => [
    ev('door.opened', T('12:00:00')),
    ev('motion', T(hall)),
    ev('door.closed', T('12:00:15')),
    ev('carer.arrived', T(arrived)),
    ev('motion', T('12:10:00')),
    ev('motion', T('12:20:00')),
    ...carerOut('12:30:00', '12:30:20', '12:30:35'),
  ];

  it('the PIR before "arrived" is the carer coming in: still out, "not back" from the resident’s door, in either order', () => {
    const { events: before, door } = outAt();
    const events = [...before, ...visit('12:00:08', '12:00:30')];
    const ordered = inOrder(events);
    expect(notBack(ordered.alerts)).toEqual([[door]]);
    expect(types(ordered.alerts)).not.toContain('inactivity.unusual');
    expect(ordered.rhythm?.place).toBe('out');
    // The visit dated from the door that let the carer in.
    expect(ordered.rhythm?.visit).toBe(T('12:00:00'));
    // The fob's "arrived" taken first, the hall's PIR 25 s late after it.
    const hall = events.find(
      (event) => event.time === new Date(T('12:00:08')).toISOString(),
    ) as TelecareEvent;
    const late = arrivingLate(events, hall, T('12:00:33'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
    expect(late.rhythm?.place).toBe('out');
    expect(late.rhythm?.visit).toBe(ordered.rhythm?.visit);
  });

  it('learned again in place (reuse) into the same evaluations and stored states as a copy', () => {
    const { events: before } = outAt();
    const arrivals = [...before, ...visit('12:00:08', '12:00:30')].map(
      (event) => [event, Date.parse(event.time) + 1000] as const,
    );
    expect(inPlaceAsCopy(arrivals).rhythms?.['rhythm.learned']?.place).toBe('out');
  });

  it('the same with "arrived" pressed two minutes after the door, once the coat is off', () => {
    const { events: before, door } = outAt();
    const ordered = inOrder([...before, ...visit('12:00:08', '12:02:00')]);
    expect(notBack(ordered.alerts)).toEqual([[door]]);
    expect(ordered.rhythm?.place).toBe('out');
  });

  it('a carer who never presses "left" and goes: still out, "not back" from the resident’s door', () => {
    const { events: before, door } = outAt();
    const events = [
      ...before,
      ev('door.opened', T('12:00:00')),
      ev('motion', T('12:00:08')),
      ev('door.closed', T('12:00:15')),
      ev('carer.arrived', T('12:00:30')),
      ev('door.opened', T('12:20:00')),
      ev('door.closed', T('12:20:15')),
    ];
    const ordered = inOrder(events);
    expect(ordered.rhythm?.place).toBe('out');
    expect(notBack(ordered.alerts)).toEqual([[door]]);
  });

  it('a carer coming in as another goes (the door opened during the first visit, "left", the hall’s PIR, "arrived"): still out', () => {
    const { events: before, door } = outAt();
    const hall = ev('motion', T('12:30:05'));
    const events = [
      ...before,
      ...carerIn('12:00:00', '12:00:15', '12:00:30'),
      // The second carer opens the door as the first is about to go.
      ev('door.opened', T('12:30:00')),
      ev('carer.left', T('12:30:02')),
      hall,
      ev('carer.arrived', T('12:30:10')),
      ev('door.closed', T('12:30:20')),
      ...carerOut('13:00:00', '13:00:20', '13:00:35'),
    ];
    const ordered = inOrder(events);
    expect(notBack(ordered.alerts)).toEqual([[door]]);
    expect(ordered.rhythm?.place).toBe('out');
    const late = arrivingLate(events, hall, T('12:30:12'));
    expect(told(late.alerts)).toEqual(told(ordered.alerts));
  });

  it('the resident home first and the carer minutes later by a door of their own: at home, in either order', () => {
    // Home at 14:00 (the door, then the hall's PIR); the carer lets themselves in at 14:03, the
    // hall's PIR sees them, "arrived" at 14:03:30, and stays. Then nothing moves until the evening.
    const carerHall = ev('motion', T('14:03:08'));
    const events = [
      ...morning(),
      ev('door.opened', T('14:00:00')),
      ev('motion', T('14:00:10')),
      ev('door.closed', T('14:00:20')),
      ev('door.opened', T('14:03:00')),
      carerHall,
      ev('door.closed', T('14:03:15')),
      ev('carer.arrived', T('14:03:30')),
      ev('motion', T('21:00:00')),
    ];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).not.toContain('outing.not-returned');
    expect(types(ordered.alerts)).toContain('inactivity.unusual');
    expect(ordered.rhythm?.place).toBe('home');
    const arrived = events.find((event) => event.type === 'carer.arrived') as TelecareEvent;
    sameTaken(
      events,
      ordered,
      [
        [carerHall, T('14:03:35')],
        [arrived, T('14:03:40')],
      ],
      'home',
    );
  });

  it('the resident home first and the carer by the same door’s next passage within five minutes, no PIR between: at home', () => {
    // Home at 14:00 and seen in the hall; the carer opens the door at 14:01 (a passage of its own,
    // within the resident's door's two minutes) and presses "arrived" at 14:01:20.
    const events = [
      ...morning(),
      ev('door.opened', T('14:00:00')),
      ev('motion', T('14:00:10')),
      ev('door.closed', T('14:00:20')),
      ev('door.opened', T('14:01:00')),
      ev('door.closed', T('14:01:10')),
      ev('carer.arrived', T('14:01:20')),
      ev('motion', T('21:00:00')),
    ];
    const ordered = inOrder(events);
    expect(types(ordered.alerts)).not.toContain('outing.not-returned');
    expect(ordered.rhythm?.place).toBe('home');
  });
});

describe('a carer who comes in within two minutes of the resident going out', () => {
  it('the resident went out: the carer’s "arrived" does not bring them home, in either order', () => {
    // Out at 10:30:01; the carer opens the door at 10:31:00 (a minute later, within a door's
    // passage of the resident's), shuts it, and presses "arrived" at 10:31:30.
    const events = [
      ...morning(),
      ...carerIn('10:31:00', '10:31:10', '10:31:30'),
      ev('motion', T('10:35:00')),
      ...carerOut('11:00:00', '11:00:20', '11:00:35'),
    ];
    const door = events[3]?.id;
    const ordered = inOrder(events);
    expect(notBack(ordered.alerts)).toEqual([[door]]);
    expect(types(ordered.alerts)).not.toContain('inactivity.unusual');
    expect(ordered.rhythm?.place).toBe('out');
    const arrived = events.find((event) => event.type === 'carer.arrived') as TelecareEvent;
    sameTaken(
      events,
      ordered,
      [
        [arrived, T('10:31:50')],
        [events[5] as TelecareEvent, T('10:31:35')],
      ],
      'out',
    );
  });

  it('the same with the carer’s hall movement before "arrived"', () => {
    const events = [
      ...morning(),
      ev('door.opened', T('10:31:00')),
      ev('motion', T('10:31:05')),
      ev('door.closed', T('10:31:10')),
      ev('carer.arrived', T('10:31:30')),
      ...carerOut('11:00:00', '11:00:20', '11:00:35'),
    ];
    const ordered = inOrder(events);
    expect(notBack(ordered.alerts)).toEqual([[events[3]?.id]]);
    expect(ordered.rhythm?.place).toBe('out');
  });
});

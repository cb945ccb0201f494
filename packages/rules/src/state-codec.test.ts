import type { EventType } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState, type ResidentState, type RuleSet, type Timer } from './model.ts';
import { initialRhythm } from './rhythm.ts';
import { RulesRunner } from './runner.ts';
import {
  decodeState,
  decodeStateList,
  encodeState,
  encodeStateChange,
  encodeStateList,
  StateDecodeError,
  type StoredLayout,
} from './state-codec.ts';
import { makeEvent } from './testing.ts';

const RESIDENT = 'res_codec0001';
const RHYTHM_KEYS = Object.keys(initialRhythm('2026-11-22'));
const STATE_KEYS = Object.keys(initialState(RESIDENT));
const START = Date.parse('2026-11-22T06:00:00.000Z');

/**
 * Type, kind, serial, location, whether its kind does not report it (`unexpectedkind`), and whether
 * it came in a frame whose pad broke its panel's style (`data.padBroken`).
 */
const DEVICES: ReadonlyArray<[EventType, string, string, string | undefined, boolean?, boolean?]> = [
  ['motion', 'pir', 'PIR-1', 'kitchen'],
  ['motion', 'pir', 'PIR-2', undefined],
  ['bed.vacated', 'bed-sensor', 'BS-1', 'bedroom'],
  ['bed.occupied', 'bed-sensor', 'BS-1', 'bedroom'],
  ['chair.occupied', 'chair-sensor', 'CS-1', 'lounge'],
  ['chair.vacated', 'chair-sensor', 'CS-1', 'lounge'],
  ['door.opened', 'door-contact', 'DC-1', 'front door'],
  ['door.closed', 'door-contact', 'DC-1', 'front door'],
  ['temperature', 'temperature-sensor', 'TS-1', 'lounge'],
  ['medication.due', 'medication-dispenser', 'MD-1', 'kitchen'],
  ['medication.taken', 'medication-dispenser', 'MD-1', 'kitchen'],
  ['heartbeat', 'home-unit', 'HU-1', 'hall'],
  ['pendant.pressed', 'pendant', 'PX-1', undefined],
  ['alarm.cancelled', 'pendant', 'PX-1', undefined],
  // A pull-cord pull from the pendant's login: the same device, another sender when stored.
  ['pullcord.pulled', 'pendant', 'PX-1', undefined, true],
  // Alarms from frames whose pad broke the panel's style: the same devices, other senders when stored.
  ['fall.detected', 'home-unit', 'HU-1', 'hall', false, true],
  ['pullcord.pulled', 'pendant', 'PX-1', undefined, true, true],
];

/** The event of `spec`'s device at `time`, a temperature reading from `celsius`. */
function deviceEvent(
  spec: { kind: number; offsetMs: number; test: boolean; id: string; alt?: boolean },
  time: string,
  celsius: number,
) {
  const [type, devicekind, subject, location, unexpected, padBroken] = DEVICES[
    spec.kind % DEVICES.length
  ] as (typeof DEVICES)[number];
  return makeEvent({
    type,
    time,
    subject,
    devicekind,
    residentid: RESIDENT,
    deviceEventId: spec.id,
    testmode: spec.test,
    ...(location ? { location } : {}),
    ...(unexpected ? { unexpectedkind: true as const } : {}),
    ...(spec.alt ? { alttime: uncertain(spec.offsetMs) } : {}),
    data:
      type === 'temperature'
        ? { celsius: celsius + (spec.offsetMs % 20) }
        : type.startsWith('medication.')
          ? { doseId: spec.offsetMs % 2 ? 'am' : 'pm' }
          : padBroken
            ? { padBroken: 'an 8-bit byte in the pad' }
            : {},
  });
}

/** The other instant an event's time could mean: an hour before, as in the hour repeated in autumn. */
const uncertain = (offsetMs: number) => new Date(START + offsetMs - 3600_000).toISOString();

/** The default rules with the resident declared away from 02:00 to 20:00 after the start. */
const AWAY_SET: RuleSet = {
  ...DEFAULT_RULE_SET,
  residents: {
    [RESIDENT]: {
      away: [
        {
          id: 'awy_codec',
          from: new Date(START + 2 * 3600_000).toISOString(),
          until: new Date(START + 20 * 3600_000).toISOString(),
          reason: 'holiday',
        },
      ],
    },
  },
};

/** The state the default rules leave after a day of the given events (in order). */
function stateAfter(
  specs: ReadonlyArray<{ kind: number; offsetMs: number; test: boolean; id: string; alt?: boolean }>,
  ruleSet: RuleSet = DEFAULT_RULE_SET,
) {
  const runner = new RulesRunner(ruleSet, { device: () => ({ supervisionIntervalS: 3600 }) });
  const sorted = [...specs].sort((a, b) => a.offsetMs - b.offsetMs);
  for (const spec of sorted) {
    const time = new Date(START + spec.offsetMs).toISOString();
    const event = deviceEvent(spec, time, 12);
    runner.event(event, Date.parse(time));
  }
  return runner.states.get(RESIDENT) ?? initialState(RESIDENT);
}

describe('stored resident state', () => {
  it('reads back every state the rules leave, field for field', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.nat(),
            offsetMs: fc.integer({ min: 0, max: 26 * 3600_000 }),
            test: fc.boolean(),
            id: fc.stringMatching(/^[a-z0-9]{6,12}$/),
            alt: fc.boolean(),
          }),
          { maxLength: 120 },
        ),
        fc.boolean(),
        (specs, declared) => {
          const state = stateAfter(specs, declared ? AWAY_SET : DEFAULT_RULE_SET);
          const decoded = decodeState(encodeState(state));
          expect(decoded).toEqual(state);
          // One shape for every state and every rhythm, built by the rules or read back.
          for (const whole of [state, decoded]) expect(Object.keys(whole)).toEqual(STATE_KEYS);
          for (const rhythms of [state.rhythms, decoded.rhythms])
            for (const rhythm of Object.values(rhythms ?? {}))
              expect(Object.keys(rhythm)).toEqual(RHYTHM_KEYS);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reads back a declared period followed through (out, then back)', () => {
    const state = stateAfter(
      [
        { kind: 0, offsetMs: 3 * 3600_000, test: false, id: 'mov1' },
        { kind: 6, offsetMs: 3 * 3600_000 + 60_000, test: false, id: 'open1' },
        { kind: 7, offsetMs: 3 * 3600_000 + 90_000, test: false, id: 'shut1' },
        { kind: 0, offsetMs: 9 * 3600_000, test: false, id: 'mov2' },
      ],
      AWAY_SET,
    );
    expect(state.away).toEqual({ id: 'awy_codec', out: true, back: START + 9 * 3600_000 });
    expect(decodeState(encodeState(state))).toEqual(state);
  });

  it('reads a rhythm stored with its keys in any order back in the one shape', () => {
    const state = stateAfter(
      Array.from({ length: 60 }, (_, i) => ({
        kind: i % 8,
        offsetMs: i * 900_000,
        test: false,
        id: `r${i}`,
      })),
    );
    expect(Object.keys(state.rhythms ?? {})).toHaveLength(1);
    const stored = JSON.parse(encodeState(state));
    // An earlier version wrote each rhythm's keys in the order the resident's rhythm gained them.
    for (const id of Object.keys(stored.rhythms))
      stored.rhythms[id] = Object.fromEntries(Object.entries(stored.rhythms[id]).reverse());
    for (const text of [JSON.stringify(stored), JSON.stringify({ ...state, rhythms: stored.rhythms })]) {
      const decoded = decodeState(text);
      expect(decoded).toEqual(state);
      expect(Object.keys(decoded)).toEqual(STATE_KEYS);
      for (const rhythm of Object.values(decoded.rhythms ?? {}))
        expect(Object.keys(rhythm)).toEqual(RHYTHM_KEYS);
    }
  });

  it('reads a noisy sensor stored by the version before (no fault named), and one with its open fault', () => {
    const before = { since: START, until: START + 3_600_000, device: 'pir in kitchen' };
    for (const record of [before, { ...before, raised: `alt_${'0'.repeat(32)}` }]) {
      const state: ResidentState = {
        ...initialState(RESIDENT),
        rhythms: { 'rhythm.learned': { ...initialRhythm('2026-11-22'), noisy: { 'PIR-1': record } } },
      };
      expect(decodeState(encodeState(state)).rhythms?.['rhythm.learned']?.noisy).toEqual({ 'PIR-1': record });
      const listed = decodeStateList(encodeStateList(state).elements).state;
      expect(listed.rhythms?.['rhythm.learned']?.noisy).toEqual({ 'PIR-1': record });
    }
  });

  it('reads back a return kept to be undone by a carer’s late report, and a rhythm stored before it had one', () => {
    // Out of the front door, then movement inside: the return is kept (`beforeReturn`).
    const state = stateAfter([
      { kind: 0, offsetMs: 0, test: false, id: 'mov1' },
      { kind: 6, offsetMs: 60_000, test: false, id: 'open1' },
      { kind: 7, offsetMs: 90_000, test: false, id: 'shut1' },
      { kind: 0, offsetMs: 600_000, test: false, id: 'mov2' },
    ]);
    const kept = state.rhythms?.['rhythm.learned']?.beforeReturn;
    expect(kept?.at).toBe(START + 600_000);
    expect(kept?.last.type).toBe('door.closed');
    expect(decodeState(encodeState(state))).toEqual(state);
    expect(decodeStateList(encodeStateList(state).elements).state).toEqual(state);
    // Stored by the version before: no such field, read back without one, in the one shape.
    const stored = JSON.parse(encodeState(state));
    for (const id of Object.keys(stored.rhythms)) delete stored.rhythms[id].beforeReturn;
    const decoded = decodeState(JSON.stringify(stored));
    expect(decoded.rhythms?.['rhythm.learned']?.beforeReturn).toBeUndefined();
    for (const rhythm of Object.values(decoded.rhythms ?? {}))
      expect(Object.keys(rhythm)).toEqual(RHYTHM_KEYS);
  });

  it('keeps ids that are not event ids of the gateways as they are', () => {
    const state: ResidentState = {
      ...initialState(RESIDENT),
      recent: [
        { id: 'e1', type: 'motion', at: 5, serial: 'P', deviceKind: 'pir', testMode: false },
        { id: '~odd', type: 'motion', at: 5, serial: 'P', deviceKind: 'pir', testMode: true },
        {
          id: 'evt_~x',
          type: 'temperature',
          at: 9,
          serial: 'T',
          deviceKind: 't',
          testMode: false,
          celsius: 0,
        },
        {
          id: 'evt_abc',
          type: 'medication.due',
          at: 9,
          serial: 'M',
          deviceKind: 'm',
          testMode: false,
          doseId: 'am',
        },
      ],
      seen: ['e1', 'evt_abc', '~odd'],
      forgottenUntil: 3,
    };
    expect(decodeState(encodeState(state))).toEqual(state);
  });

  it('keeps an event’s uncertain time, and a row without one is no longer for it', () => {
    const specs = [
      { kind: 0, offsetMs: 0, test: false, id: 'plain1' },
      { kind: 8, offsetMs: 1000, test: false, id: 'plain2' },
      { kind: 0, offsetMs: 2000, test: false, id: 'unsure', alt: true },
    ];
    const state = stateAfter(specs);
    expect(state.recent.map((entry) => entry.alttime)).toEqual([undefined, undefined, uncertain(2000)]);
    const stored = JSON.parse(encodeState(state)) as { recent: unknown[][] };
    expect(stored.recent.map((row) => row.length)).toEqual([4, 5, 8]);
    expect(stored.recent[2]?.[7]).toBe(uncertain(2000));
    expect(decodeState(encodeState(state))).toEqual(state);
    const list = encodeStateList(state);
    expect(list.elements.slice(2).map((row) => (JSON.parse(row) as unknown[]).length)).toEqual([4, 5, 8]);
    expect(decodeStateList(list.elements).state).toEqual(state);
  });

  it('keeps how far a cancel was timed ahead of its arrival, and nothing of it for events on time', () => {
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const pendant = { subject: 'PX-AHEAD', devicekind: 'pendant', residentid: RESIDENT } as const;
    const at = (ms: number) => new Date(START + ms).toISOString();
    runner.event(makeEvent({ ...pendant, type: 'pendant.pressed', time: at(0), deviceEventId: 'p1' }), START);
    const ahead = {
      ...makeEvent({ ...pendant, type: 'alarm.cancelled', time: at(40_000), deviceEventId: 'c1' }),
    };
    runner.event({ ...ahead, receivedat: at(10_000) }, START + 10_000);
    const state = runner.states.get(RESIDENT) ?? initialState(RESIDENT);
    expect(state.recent.map((entry) => entry.aheadMs)).toEqual([undefined, 30_000]);
    const stored = JSON.parse(encodeState(state)) as { recent: unknown[][] };
    expect(stored.recent.map((row) => row.length)).toEqual([4, 9]);
    expect(decodeState(encodeState(state))).toEqual(state);
    const list = encodeStateList(state);
    expect(decodeStateList(list.elements).state).toEqual(state);
  });

  it("keeps a restore's or cancel's source code (and no other event's), and reads rows stored before it", () => {
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const panel = { subject: 'PX-CODE', devicekind: 'pendant', residentid: RESIDENT } as const;
    const at = (ms: number) => new Date(START + ms).toISOString();
    const sent = (type: 'pendant.pressed' | 'alarm.restored' | 'alarm.cancelled', ms: number, code: string) =>
      runner.event(
        makeEvent({ ...panel, type, time: at(ms), deviceEventId: `${type}-${ms}`, sourcecode: code }),
        START + ms,
      );
    sent('pendant.pressed', 0, 'CID 1101');
    sent('alarm.restored', 2_000, 'CID 3101');
    sent('alarm.cancelled', 30_000, 'SIA OC');
    const state = runner.states.get(RESIDENT) ?? initialState(RESIDENT);
    expect(state.recent.map((entry) => entry.sourceCode)).toEqual([undefined, 'CID 3101', 'SIA OC']);
    const stored = JSON.parse(encodeState(state)) as { recent: unknown[][] };
    expect(stored.recent.map((row) => row.length)).toEqual([4, 10, 10]);
    expect(decodeState(encodeState(state))).toEqual(state);
    const list = encodeStateList(state);
    expect(decodeStateList(list.elements).state).toEqual(state);
    // A state stored before rows kept a code: its rows read back with none.
    const before = JSON.parse(encodeState(state)) as { recent: unknown[][] };
    before.recent = before.recent.map((row) => row.slice(0, 4));
    expect(decodeState(JSON.stringify(before)).recent.map((entry) => entry.sourceCode)).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('is under half the size of the state as plain JSON after a busy day', () => {
    const specs = Array.from({ length: 400 }, (_, i) => ({
      kind: (i * 7) % DEVICES.length,
      offsetMs: i * 200_000,
      test: false,
      id: `b${i}`,
    }));
    const state = stateAfter(specs);
    expect(state.recent.length).toBeGreaterThan(100);
    expect(encodeState(state).length).toBeLessThan(JSON.stringify(state).length / 2);
  });

  it('still reads a state stored whole by the version before', () => {
    const state = stateAfter([{ kind: 0, offsetMs: 0, test: false, id: 'first' }]);
    expect(decodeState(JSON.stringify(state))).toEqual(state);
  });

  it('refuses what is not a state, saying why', () => {
    expect(() => decodeState('{')).toThrow(StateDecodeError);
    expect(() => decodeState('{"v":3,"residentId":"r"}')).toThrow(/types/);
    const bad = JSON.parse(encodeState(stateAfter([{ kind: 0, offsetMs: 0, test: false, id: 'x1' }])));
    bad.recent[0][3] = 9;
    expect(() => decodeState(JSON.stringify(bad))).toThrow(/sender/);
  });
});

/**
 * A stored list as Redis keeps it, changed as the shell changes it: the head and rhythms set in
 * place, each row that went removed by its text (the first found), each new row pushed at the end.
 */
class StoredListModel {
  elements: string[] = [];
  layout: StoredLayout | undefined;
  wholeWrites = 0;
  changes = 0;

  save(before: ResidentState | undefined, after: ResidentState): void {
    const change = before && this.layout ? encodeStateChange(this.layout, before, after) : undefined;
    if (!change) {
      const whole = encodeStateList(after);
      this.elements = whole.elements;
      this.layout = whole.layout;
      this.wholeWrites++;
      return;
    }
    // Encoded part by part, the rhythms are the JSON they are.
    if (change.rhythms !== undefined) expect(change.rhythms).toBe(JSON.stringify(after.rhythms ?? null));
    if (change.head !== undefined) this.elements[0] = change.head;
    if (change.rhythms !== undefined) this.elements[1] = change.rhythms;
    for (const row of change.removed) {
      const at = this.elements.indexOf(row, 2);
      if (at < 0) throw new Error(`row to remove not stored: ${row}`);
      this.elements.splice(at, 1);
    }
    this.elements.push(...change.added);
    this.layout = change.layout;
    this.changes++;
  }
}

/** A day of one home's events from the specs, in arrival order (`lateMs` delays some), with its timers fired. */
function throughList(
  specs: ReadonlyArray<{
    kind: number;
    offsetMs: number;
    lateMs: number;
    test: boolean;
    id: string;
    alt?: boolean;
  }>,
  ruleSet: RuleSet,
  check: (stored: StoredListModel, state: ResidentState) => void,
  options: { held?: boolean } = {},
): StoredListModel {
  const stored = new StoredListModel();
  let state = initialState(RESIDENT);
  let saved: ResidentState | undefined;
  let timers: Timer[] = [];
  const step = (next: ResidentState) => {
    if (next === state) return;
    stored.save(saved, next);
    const read = decodeStateList(stored.elements);
    expect(read.state).toEqual(next);
    check(stored, read.state);
    if (options.held) {
      // The next step starts from the state as the core left it, with the layout the save gave,
      // as the shell's does with the states it holds in memory.
      saved = next;
      state = next;
      return;
    }
    // The next step starts from the state read back, as the shell's does after a restart.
    saved = read.state;
    stored.layout = read.layout;
    state = read.state;
  };
  const arrivals = [...specs].sort((a, b) => a.offsetMs + a.lateMs - (b.offsetMs + b.lateMs));
  for (const spec of arrivals) {
    const now = START + spec.offsetMs + spec.lateMs;
    for (const timer of [...timers].sort((a, b) => a.dueAt - b.dueAt)) {
      if (timer.dueAt > now) break;
      timers = timers.filter((t) => t !== timer);
      const ticked = evaluate(state, { kind: 'tick', timer, now: timer.dueAt }, ruleSet);
      timers = applyTimers(timers, ticked.timers);
      step(ticked.state);
    }
    const time = new Date(START + spec.offsetMs).toISOString();
    const event = deviceEvent(spec, time, 12.5);
    const result = evaluate(
      state,
      { kind: 'event', event, now, device: { supervisionIntervalS: 3600 } },
      ruleSet,
    );
    timers = applyTimers(timers, result.timers);
    step(result.state);
  }
  return stored;
}

function applyTimers(timers: Timer[], commands: ReturnType<typeof evaluate>['timers']): Timer[] {
  let out = timers;
  for (const command of commands) {
    const id = command.op === 'set' ? command.timer.id : command.id;
    out = out.filter((t) => t.id !== id);
    if (command.op === 'set') out.push(command.timer);
  }
  return out;
}

describe('resident state stored as a list of changes', () => {
  it('reads back every state after each change, whatever the order the events came in', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            kind: fc.nat(),
            offsetMs: fc.integer({ min: 0, max: 26 * 3600_000 }),
            lateMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 600_000 })),
            test: fc.boolean(),
            id: fc.stringMatching(/^[a-z0-9]{6,12}$/),
            alt: fc.boolean(),
          }),
          { maxLength: 150 },
        ),
        fc.boolean(),
        fc.integer({ min: 3, max: 40 }),
        fc.boolean(),
        (specs, declared, keepEvents, held) => {
          const base = declared ? AWAY_SET : DEFAULT_RULE_SET;
          const ruleSet = { ...base, settings: { ...base.settings, keepEvents } };
          throughList(
            specs,
            ruleSet,
            (stored, state) => {
              expect(stored.elements.length - 2).toBe(state.recent.length);
              expect(Object.keys(state)).toEqual(STATE_KEYS);
              for (const rhythm of Object.values(state.rhythms ?? {}))
                expect(Object.keys(rhythm)).toEqual(RHYTHM_KEYS);
            },
            { held },
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('writes a change, not the whole list, for an event in order once the list is full', () => {
    const specs = Array.from({ length: 400 }, (_, i) => ({
      kind: (i * 7) % DEVICES.length,
      offsetMs: i * 200_000,
      lateMs: i % 10 === 0 ? 300_000 : 0,
      test: false,
      id: `b${i}`,
    }));
    let states = 0;
    let last: ResidentState | undefined;
    const stored = throughList(specs, DEFAULT_RULE_SET, (_stored, state) => {
      states++;
      last = state;
    });
    expect(last?.recent.length).toBeGreaterThan(100);
    expect(stored.wholeWrites).toBe(1);
    expect(stored.changes).toBe(states - 1);
    // What a change writes is a small part of the whole.
    const whole = encodeStateList(last as ResidentState).elements.join('').length;
    const change = encodeStateChange(stored.layout as StoredLayout, last as ResidentState, {
      ...(last as ResidentState),
      seen: [...(last as ResidentState).seen, 'evt_next'],
      recent: [
        ...(last as ResidentState).recent.slice(1),
        { ...(last as ResidentState).recent[0]!, at: 9e15 },
      ],
    });
    expect(change?.removed).toHaveLength(1);
    expect(change?.added).toHaveLength(1);
    expect(change?.rhythms).toBeUndefined();
    expect((change?.head ?? '').length + (change?.added[0] ?? '').length).toBeLessThan(whole / 4);
  });

  it('encodes only the parts of the head and rhythms that changed since the state was stored', () => {
    const specs = Array.from({ length: 200 }, (_, i) => ({
      kind: (i * 7) % DEVICES.length,
      offsetMs: i * 200_000,
      lateMs: 0,
      test: false,
      id: `p${i}`,
    }));
    let last: ResidentState | undefined;
    throughList(specs, DEFAULT_RULE_SET, (_stored, state) => {
      last = state;
    });
    const before = last as ResidentState;
    const rhythm = before.rhythms?.['rhythm.learned'];
    const lastActivity = rhythm?.last;
    expect(lastActivity).toBeDefined();
    const { elements, layout } = encodeStateList(before);
    // The next activity moves the rhythm's latest activity and the ids seen; the learned days and
    // the devices stay as they were (the same objects: the core copies only what it changes).
    const after: ResidentState = {
      ...before,
      seen: [...before.seen, 'evt_next'],
      rhythms: {
        ...before.rhythms,
        'rhythm.learned': {
          ...(rhythm as NonNullable<typeof rhythm>),
          last: { ...(lastActivity as NonNullable<typeof lastActivity>), at: 9e15 },
        },
      },
    };
    const stringify = vi.spyOn(JSON, 'stringify');
    let change: ReturnType<typeof encodeStateChange>;
    let encoded = 0;
    try {
      change = encodeStateChange(layout, before, after);
      for (const { value } of stringify.mock.results) encoded += String(value ?? '').length;
    } finally {
      stringify.mockRestore();
    }
    // The whole rhythms and head are well over this: only `last` and `seen` were encoded again.
    expect((elements[0] as string).length + (elements[1] as string).length).toBeGreaterThan(2_000);
    expect(encoded).toBeLessThan(800);
    const read = decodeStateList([change?.head as string, change?.rhythms as string, ...elements.slice(2)]);
    expect(read.state).toEqual(after);
  });

  it('writes the whole list when a change would name a sender its tables never held', () => {
    const state = stateAfter([{ kind: 0, offsetMs: 0, test: false, id: 'one' }]);
    const { layout } = encodeStateList(initialState(RESIDENT));
    expect(encodeStateChange(layout, state, { ...state, recent: [] })).toBeUndefined();
  });

  it('refuses a list that is not a state, saying why', () => {
    expect(() => decodeStateList([])).toThrow(StateDecodeError);
    const { elements } = encodeStateList(stateAfter([{ kind: 0, offsetMs: 0, test: false, id: 'x1' }]));
    expect(() => decodeStateList([elements[0] as string, '{', ...elements.slice(2)])).toThrow(/JSON/);
    expect(() => decodeStateList([elements[0] as string, 'null', '["a",0,0,9]'])).toThrow(/sender/);
    expect(() => decodeStateList(['{"v":3}', 'null'])).toThrow(StateDecodeError);
  });
});

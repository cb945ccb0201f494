import { type Alert, ambiguousTimeReason, type EventType, PAD_BROKEN_REASON } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState, type ResidentState, Timer } from './model.ts';
import { decodeState, decodeStateList, encodeState, encodeStateList } from './state-codec.ts';
import { makeEvent } from './testing.ts';

/**
 * An event whose time could mean another instant too (`alttime`: a panel clock in the hour
 * repeated when the clocks go back) says so in the alerts it raises on arrival, and in those a
 * timed rule decides from it later, after the state and the timers were stored and read back.
 */
const RESIDENT = 'res_alttime01';
/** 01:10 on the night the clocks go back: the panel's 01:10 may be the first pass, an hour earlier. */
const NIGHT = Date.parse('2026-10-25T01:10:00.000Z');
const ALTTIME = new Date(NIGHT - 3_600_000).toISOString();
const NOTE = ambiguousTimeReason(ALTTIME);

type Store = (state: ResidentState) => ResidentState;
const STORES: ReadonlyArray<[string, Store]> = [
  ['stored whole', (state) => decodeState(encodeState(state))],
  ['stored as a list', (state) => decodeStateList(encodeStateList(state).elements).state],
];

/**
 * A shell that stores the state and the timers between every input, as triage does in Redis and
 * the timer bucket, then fires every timer due within the next `hours`.
 */
function run(
  store: Store,
  events: ReadonlyArray<{
    type: EventType;
    kind: string;
    data?: Record<string, unknown>;
    alttime?: boolean;
    /** Received this long after its time (a buffered frame sent late); at once by default. */
    receivedAfterMs?: number;
  }>,
  hours = 3,
): Alert[] {
  let state = initialState(RESIDENT);
  const timers = new Map<string, string>();
  const alerts: Alert[] = [];
  const take = (result: ReturnType<typeof evaluate>) => {
    state = store(result.state);
    alerts.push(...result.alerts);
    for (const command of result.timers)
      if (command.op === 'set') timers.set(command.timer.id, JSON.stringify(command.timer));
      else timers.delete(command.id);
  };
  events.forEach((spec, i) => {
    const time = new Date(NIGHT + i * 1000).toISOString();
    const received = Date.parse(time) + (spec.receivedAfterMs ?? 0);
    const event = makeEvent({
      receivedat: new Date(received).toISOString(),
      type: spec.type,
      time,
      residentid: RESIDENT,
      subject: `DEV-${spec.kind}`,
      devicekind: spec.kind,
      location: 'hallway',
      deviceEventId: `alt-${i}`,
      data: spec.data ?? {},
      ...(spec.alttime ? { alttime: new Date(Date.parse(ALTTIME) + i * 1000).toISOString() } : {}),
    });
    take(evaluate(state, { kind: 'event', event, now: received + 1000 }, DEFAULT_RULE_SET));
  });
  const until = NIGHT + hours * 3_600_000;
  for (;;) {
    const due = [...timers.values()]
      .map((json) => Timer.parse(JSON.parse(json)))
      .filter((timer) => timer.dueAt <= until)
      .sort((a, b) => a.dueAt - b.dueAt)[0];
    if (!due) return alerts;
    timers.delete(due.id);
    take(evaluate(state, { kind: 'tick', timer: due, now: due.dueAt }, DEFAULT_RULE_SET));
  }
}

const decided = (alerts: readonly Alert[], ruleId: string) =>
  alerts.filter((alert) => alert.rule.id === ruleId);
const notes = (alert: Alert | undefined) => alert?.reason.split(NOTE).length ?? 0;

describe.each(STORES)('an event whose time is uncertain, the state %s between inputs', (_, store) => {
  it('a fall then no movement: the trigger on arrival and the correlation decided later both say so, once', () => {
    const alerts = run(store, [{ type: 'fall.detected', kind: 'fall-detector', alttime: true }]);
    const [fall] = decided(alerts, 'trigger.fall');
    const [still] = decided(alerts, 'correlation.fall-no-movement');
    expect(fall?.reason).toMatch(/; time uncertain: the device's clock could mean .* as well$/);
    expect(notes(fall)).toBe(2);
    expect(still?.reason).toContain(NOTE);
    expect(notes(still)).toBe(2);
  });

  it('a door left open at night and a bed left at night, each decided by its timer, say so', () => {
    const alerts = run(store, [
      { type: 'door.opened', kind: 'door-contact', alttime: true },
      { type: 'bed.vacated', kind: 'bed-sensor', alttime: true },
    ]);
    const [door] = decided(alerts, 'sustained.door-open-at-night');
    const [bed] = decided(alerts, 'sustained.out-of-bed-at-night');
    expect(door?.reason).toContain(NOTE);
    expect(bed?.reason).toContain(ambiguousTimeReason(new Date(Date.parse(ALTTIME) + 1000).toISOString()));
  });

  it('a cold home, decided an hour after its first reading, says so; a medication dose not taken too', () => {
    const alerts = run(store, [
      { type: 'temperature', kind: 'temperature-sensor', data: { celsius: 12 }, alttime: true },
      { type: 'medication.due', kind: 'medication-dispenser', data: { doseId: 'am' }, alttime: true },
    ]);
    const [cold] = decided(alerts, 'sustained.cold-home');
    const [missed] = decided(alerts, 'absence.medication');
    expect(cold?.reason).toContain(NOTE);
    expect(missed?.reason).toContain(ambiguousTimeReason(new Date(Date.parse(ALTTIME) + 1000).toISOString()));
  });

  it('a device silent after a heartbeat of uncertain time heard later: the loss is timed by when it was heard, and says nothing of the clock', () => {
    // A panel's heartbeat stamped 01:10 in the repeated hour (00:10 UTC as well), received at 01:50.
    const alerts = run(
      store,
      [{ type: 'heartbeat', kind: 'home-unit', alttime: true, receivedAfterMs: 40 * 60_000 }],
      27,
    );
    const [lost] = decided(alerts, 'absence.supervision');
    expect(lost?.reason).toContain('silent since 01:50');
    expect(lost?.reason).not.toContain('time uncertain');
  });

  it('the same events with a certain time say nothing of it', () => {
    const fall = run(store, [{ type: 'fall.detected', kind: 'fall-detector' }]);
    const cold = run(store, [{ type: 'temperature', kind: 'temperature-sensor', data: { celsius: 12 } }]);
    expect(decided(fall, 'correlation.fall-no-movement')).toHaveLength(1);
    expect(decided(cold, 'sustained.cold-home')).toHaveLength(1);
    expect([...fall, ...cold].filter((alert) => alert.reason.includes('time uncertain'))).toEqual([]);
  });
});

/** What the DC-09 gateway marks on a life-critical alarm taken from a frame whose pad broke its panel's style. */
const PAD_BROKEN = { padBroken: 'an 8-bit byte in the pad, where 32 pad bytes were seen and none was 8-bit' };
const padNotes = (alert: Alert | undefined) => alert?.reason.split(PAD_BROKEN_REASON).length ?? 0;

describe.each(STORES)(
  "an alarm from a frame that broke its panel's padding, the state %s between inputs",
  (_, store) => {
    it('a fall then no movement: the trigger on arrival and the correlation decided later both say so, once', () => {
      const alerts = run(store, [{ type: 'fall.detected', kind: 'home-unit', data: PAD_BROKEN }]);
      const [fall] = decided(alerts, 'trigger.fall');
      const [still] = decided(alerts, 'correlation.fall-no-movement');
      expect(fall?.reason).toMatch(
        /; came in a frame that broke its panel's usual padding .*: handle it as a real alarm$/,
      );
      expect(padNotes(fall)).toBe(2);
      expect(padNotes(still)).toBe(2);
    });

    it('a press says so with its time uncertain too; a press of a frame padded as usual says nothing of it', () => {
      const alerts = run(store, [
        { type: 'pendant.pressed', kind: 'home-unit', data: PAD_BROKEN, alttime: true },
        { type: 'pendant.pressed', kind: 'pendant' },
      ]);
      const [broken, usual] = decided(alerts, 'trigger.pendant');
      expect(padNotes(broken)).toBe(2);
      expect(notes(broken)).toBe(2);
      expect(usual?.reason).not.toContain('padding');
    });
  },
);

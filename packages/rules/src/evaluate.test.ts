import { Alert, deviceKindLabel, type EventType, TAXONOMY } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate, ResidentMismatchError } from './evaluate.ts';
import { initialState, type RuleSet } from './model.ts';
import { parseRuleSet } from './parse.ts';
import { decodeState, encodeState } from './state-codec.ts';
import { makeEvent } from './testing.ts';

const NOW = Date.parse('2026-11-22T10:00:00.000Z');
const at = (msBeforeNow: number) => new Date(NOW - msBeforeNow).toISOString();
const RESIDENT = 'res_test0001';

/** Every P1–P4 type a device can send, with the device kind that sends it. */
const TRIGGERS: ReadonlyArray<[EventType, 1 | 2 | 3 | 4, string, string]> = [
  ['pendant.pressed', 1, 'trigger.pendant', 'pendant'],
  ['pullcord.pulled', 1, 'trigger.pullcord', 'pullcord'],
  ['fall.detected', 1, 'trigger.fall', 'fall-detector'],
  ['smoke.detected', 1, 'trigger.smoke', 'smoke-detector'],
  ['heat.detected', 1, 'trigger.heat', 'heat-detector'],
  ['co.detected', 1, 'trigger.co', 'co-detector'],
  ['gas.detected', 1, 'trigger.gas', 'gas-detector'],
  ['epilepsy.seizure', 1, 'trigger.epilepsy', 'epilepsy-sensor'],
  ['flood.detected', 2, 'trigger.flood', 'flood-detector'],
  ['bogus-caller.pressed', 2, 'trigger.bogus-caller', 'bogus-caller-button'],
  ['enuresis.detected', 2, 'trigger.enuresis', 'enuresis-sensor'],
  ['medication.missed', 2, 'trigger.medication-missed', 'medication-dispenser'],
  ['mains.lost', 3, 'trigger.mains-lost', 'home-unit'],
  ['line.fault', 3, 'trigger.line-fault', 'home-unit'],
  ['rf.jammed', 3, 'trigger.rf-jammed', 'home-unit'],
  ['device.tamper', 3, 'trigger.tamper', 'smoke-detector'],
  ['device.fault', 3, 'trigger.device-fault', 'smoke-detector'],
  ['device.login-contested', 3, 'trigger.login-contested', 'pendant'],
  ['battery.low', 4, 'trigger.battery-low', 'pendant'],
];

describe('default trigger rules', () => {
  it('cover exactly the P1–P4 types a device can send, and what a gateway raises about a device', () => {
    const covered = DEFAULT_RULE_SET.rules.flatMap((rule) => (rule.kind === 'trigger' ? rule.on : [])).sort();
    const expected = (Object.keys(TAXONOMY) as EventType[])
      .filter((type) => TAXONOMY[type].priority <= 4 && !TAXONOMY[type].derived)
      .concat(['device.login-contested'])
      .sort();
    expect(covered).toEqual(expected);
    expect(TRIGGERS.map(([type]) => type).sort()).toEqual(expected);
  });

  it.each(TRIGGERS)('%s raises one P%i alert by %s', (type, priority, ruleId, deviceKind) => {
    const event = makeEvent({
      type,
      time: at(2_000),
      devicekind: deviceKind,
      location: 'kitchen',
      subject: 'SER-42',
    });
    const result = evaluate(initialState(RESIDENT), { kind: 'event', event, now: NOW }, DEFAULT_RULE_SET);

    expect(result.alerts).toHaveLength(1);
    const alert = Alert.parse(result.alerts[0]);
    // Pendant and pull-cord are at version 2 since their presses merge into the open alert; the
    // rules below P1 but the bogus-caller button and medication since they are limited (a
    // flapping sensor's alerts are bounded).
    const limited = DEFAULT_RULE_SET.rules.some(
      (rule) => rule.id === ruleId && rule.kind === 'trigger' && rule.limit,
    );
    // A contested login's rule and a device's own fault's were made with their limit: their first version.
    const version =
      ruleId === 'trigger.pendant' ||
      ruleId === 'trigger.pullcord' ||
      (limited && ruleId !== 'trigger.login-contested' && ruleId !== 'trigger.device-fault')
        ? 2
        : 1;
    expect(alert).toMatchObject({
      residentId: RESIDENT,
      priority,
      type,
      raisedAt: '2026-11-22T10:00:00.000Z',
      rule: { id: ruleId, version },
      evidence: [event.id],
      thresholds: { lateAfterS: 300 },
      late: false,
      testMode: false,
      deviceSerial: 'SER-42',
      deviceKind,
    });
    // The kind in words ("smoke detector in kitchen"), not its id.
    expect(alert.reason).toBe(
      `${TAXONOMY[type].description}: ${deviceKindLabel(deviceKind)} in kitchen (rule ${ruleId} v${version})`,
    );
    // Trigger rules set no timer; the recurring checks (wake-up, routine) start with a first event.
    expect(
      result.timers.every((command) => command.op === 'set' && !command.timer.ruleId.startsWith('trigger.')),
    ).toBe(true);
    expect(result.state.recent.map((seen) => seen.id)).toEqual([event.id]);
  });

  it.each([
    'heartbeat',
    'motion',
    'door.opened',
    'medication.taken',
    'mains.restored',
    'alarm.cancelled',
  ] as const)('record-only %s raises nothing but is remembered', (type) => {
    const event = makeEvent({ type, time: at(1_000) });
    const result = evaluate(initialState(RESIDENT), { kind: 'event', event, now: NOW }, DEFAULT_RULE_SET);
    expect(result.alerts).toEqual([]);
    expect(result.state.recent).toHaveLength(1);
  });
});

describe('an alert explains itself', () => {
  const press = (overrides: Partial<Parameters<typeof makeEvent>[0]> = {}) =>
    makeEvent({ type: 'pendant.pressed', time: at(1_000), location: 'hallway', ...overrides });

  it('is late when the event time is older than the bound, and still alerts', () => {
    const onTime = evaluate(
      initialState(RESIDENT),
      { kind: 'event', event: press({ time: at(300_000) }), now: NOW },
      DEFAULT_RULE_SET,
    );
    expect(onTime.alerts[0]?.late).toBe(false);

    const late = evaluate(
      initialState(RESIDENT),
      { kind: 'event', event: press({ time: at(12 * 60_000) }), now: NOW },
      DEFAULT_RULE_SET,
    );
    expect(late.alerts).toHaveLength(1);
    expect(late.alerts[0]?.late).toBe(true);
    expect(late.alerts[0]?.priority).toBe(1);
    expect(late.alerts[0]?.reason).toBe(
      'Lifeline pendant pressed: pendant in hallway (rule trigger.pendant v2); late: event time 12 min before triage',
    );
  });

  it('says when its event happened at the previous home of a device since moved', () => {
    const movedat = at(3 * 3_600_000);
    const fall = evaluate(
      initialState(RESIDENT),
      {
        kind: 'event',
        event: press({
          type: 'fall.detected',
          devicekind: 'fall-detector',
          time: at(9 * 3_600_000),
          movedat,
        }),
        now: NOW,
      },
      DEFAULT_RULE_SET,
    );
    expect(fall.alerts).toHaveLength(1);
    expect(fall.alerts[0]).toMatchObject({
      residentId: RESIDENT,
      priority: 1,
      late: true,
      deviceMovedAt: movedat,
    });
    expect(fall.alerts[0]?.reason).toMatch(
      /late: event time 9 h before triage; sent after the device was moved: happened at the previous home$/,
    );
    // An event of the home the device is in says nothing of the kind.
    const here = evaluate(
      initialState(RESIDENT),
      { kind: 'event', event: press(), now: NOW },
      DEFAULT_RULE_SET,
    );
    expect(here.alerts[0]).not.toHaveProperty('deviceMovedAt');
    expect(here.alerts[0]?.reason).not.toMatch(/moved/);
  });

  it('says when its event’s time could mean another instant too (a panel clock in the hour repeated in autumn)', () => {
    const alttime = at(61 * 60_000);
    const press1 = evaluate(
      initialState(RESIDENT),
      { kind: 'event', event: press({ time: at(60_000), alttime }), now: NOW },
      DEFAULT_RULE_SET,
    );
    expect(press1.alerts).toHaveLength(1);
    expect(press1.alerts[0]?.reason).toMatch(
      new RegExp(`; time uncertain: the device's clock could mean ${alttime} as well$`),
    );
    const plain = evaluate(
      initialState(RESIDENT),
      { kind: 'event', event: press(), now: NOW },
      DEFAULT_RULE_SET,
    );
    expect(plain.alerts[0]?.reason).not.toMatch(/uncertain/);
  });

  it('an alert a timed rule decides later from such an event says so too, the state stored and read back between', () => {
    const movedat = at(3 * 3_600_000);
    const fallAt = NOW - 9 * 3_600_000;
    const first = evaluate(
      initialState(RESIDENT),
      {
        kind: 'event',
        event: press({
          type: 'fall.detected',
          devicekind: 'fall-detector',
          time: at(9 * 3_600_000),
          movedat,
        }),
        now: NOW,
      },
      DEFAULT_RULE_SET,
    );
    const timer = first.timers.find(
      (t) => t.op === 'set' && t.timer.ruleId === 'correlation.fall-no-movement',
    );
    expect(timer?.op).toBe('set');
    if (timer?.op !== 'set') return;
    const stored = decodeState(encodeState(first.state));
    const tick = evaluate(
      stored,
      { kind: 'tick', timer: timer.timer, now: fallAt + 10 * 60_000 },
      DEFAULT_RULE_SET,
    );
    expect(tick.alerts.map((a) => [a.rule.id, a.deviceMovedAt])).toEqual([
      ['correlation.fall-no-movement', movedat],
    ]);
    expect(tick.alerts[0]?.reason).toMatch(
      /; sent after the device was moved: happened at the previous home$/,
    );
  });

  it('takes the lateness bound from the rule over the rule set', () => {
    const rules = parseRuleSet({
      version: 1,
      settings: { lateAfterS: 600 },
      rules: [
        { id: 'p', version: 2, kind: 'trigger', on: ['pendant.pressed'], reason: '{what}', lateAfterS: 60 },
      ],
    });
    const result = evaluate(
      initialState(RESIDENT),
      { kind: 'event', event: press({ time: at(120_000) }), now: NOW },
      rules,
    );
    expect(result.alerts[0]).toMatchObject({
      late: true,
      thresholds: { lateAfterS: 60 },
      rule: { id: 'p', version: 2 },
    });
  });

  it('carries test mode from the event', () => {
    const result = evaluate(
      initialState(RESIDENT),
      { kind: 'event', event: press({ testmode: true }), now: NOW },
      DEFAULT_RULE_SET,
    );
    expect(result.alerts[0]?.testMode).toBe(true);
  });

  it('says when the location is not recorded, and uses a configured priority', () => {
    const rules = parseRuleSet({
      version: 1,
      rules: [
        {
          id: 'door-at-p2',
          version: 1,
          kind: 'trigger',
          on: ['door.opened'],
          priority: 2,
          reason: '{what} ({type}, {kind}, {location}, {serial}) at {priority} by {rule}',
        },
      ],
    });
    const event = makeEvent({
      type: 'door.opened',
      time: at(0),
      devicekind: 'door-contact',
      subject: 'DC-7',
    });
    const [alert] = evaluate(initialState(RESIDENT), { kind: 'event', event, now: NOW }, rules).alerts;
    expect(alert?.priority).toBe(2);
    expect(alert?.reason).toBe(
      'Door opened (door.opened, door contact, location not recorded, DC-7) at P2 by door-at-p2 v1',
    );
  });

  it('raises one alert per matching rule, each with its own id', () => {
    const rules = parseRuleSet({
      version: 1,
      rules: [
        { id: 'a', version: 1, kind: 'trigger', on: ['fall.detected', 'pendant.pressed'], reason: '{what}' },
        { id: 'b', version: 1, kind: 'trigger', on: ['pendant.pressed'], reason: '{what}' },
      ],
    });
    const { alerts } = evaluate(initialState(RESIDENT), { kind: 'event', event: press(), now: NOW }, rules);
    expect(alerts.map((alert) => alert.rule.id)).toEqual(['a', 'b']);
    expect(new Set(alerts.map((alert) => alert.id)).size).toBe(2);
  });
});

describe('determinism and duplicates', () => {
  const event = makeEvent({ type: 'fall.detected', time: at(5_000), devicekind: 'fall-detector' });
  const input = { kind: 'event', event, now: NOW } as const;

  it('gives the same output for the same input, and never mutates its arguments', () => {
    const state = initialState(RESIDENT);
    const frozen = structuredClone(state);
    const rulesBefore = structuredClone(DEFAULT_RULE_SET);
    const first = evaluate(state, input, DEFAULT_RULE_SET);
    const second = evaluate(state, input, DEFAULT_RULE_SET);
    expect(second).toEqual(first);
    expect(state).toEqual(frozen);
    expect(DEFAULT_RULE_SET).toEqual(rulesBefore);
  });

  it('same event twice: the same alert id, then nothing new and the state unchanged', () => {
    const first = evaluate(initialState(RESIDENT), input, DEFAULT_RULE_SET);
    const again = evaluate(first.state, { ...input, now: NOW + 60_000 }, DEFAULT_RULE_SET);
    expect(again.alerts).toEqual([]);
    expect(again.state).toBe(first.state);

    // With the cache lost, the event alerts again under the same id, so downstream collapses it.
    const rebuilt = evaluate(initialState(RESIDENT), { ...input, now: NOW + 60_000 }, DEFAULT_RULE_SET);
    expect(rebuilt.alerts.map((alert) => alert.id)).toEqual(first.alerts.map((alert) => alert.id));
    expect(first.alerts[0]?.id).toMatch(/^alt_[0-9a-f]{32}$/);
  });

  it('says an event is a duplicate only when it was already taken, not when it changes nothing', () => {
    const triggersOnly = parseRuleSet({
      version: 1,
      rules: DEFAULT_RULE_SET.rules.filter((rule) => rule.kind === 'trigger'),
    });
    const press = makeEvent({ type: 'pendant.pressed', time: at(5_000) });
    const beat = makeEvent({ type: 'heartbeat', time: at(4_000) });
    const first = evaluate(initialState(RESIDENT), { kind: 'event', event: press, now: NOW }, triggersOnly);
    expect(first.duplicate).toBe(false);
    expect(first.alerts).toHaveLength(1);
    // A heartbeat no rule reads leaves the state as it was, every time: not a duplicate.
    for (const now of [NOW, NOW + 1_000]) {
      const quiet = evaluate(first.state, { kind: 'event', event: beat, now }, triggersOnly);
      expect(quiet.state).toBe(first.state);
      expect(quiet.duplicate).toBe(false);
    }
    const again = evaluate(first.state, { kind: 'event', event: press, now: NOW + 1_000 }, triggersOnly);
    expect(again).toMatchObject({ duplicate: true, alerts: [] });
    expect(again.state).toBe(first.state);

    // Under the default rules a heartbeat is read back (supervision): its redelivery is found in `recent`.
    const kept = evaluate(first.state, { kind: 'event', event: beat, now: NOW }, DEFAULT_RULE_SET);
    expect(kept.duplicate).toBe(false);
    expect(evaluate(kept.state, { kind: 'event', event: beat, now: NOW }, DEFAULT_RULE_SET).duplicate).toBe(
      true,
    );
  });

  it('round-trips the state through JSON', () => {
    const { state } = evaluate(initialState(RESIDENT), input, DEFAULT_RULE_SET);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });

  it('refuses a state that belongs to another resident', () => {
    expect(() => evaluate(initialState('res_other'), input, DEFAULT_RULE_SET)).toThrow(ResidentMismatchError);
  });
});

describe('state stays bounded', () => {
  const small: RuleSet = {
    ...DEFAULT_RULE_SET,
    settings: { lateAfterS: 300, keepEvents: 3, keepSeen: 32, keepEventsForS: 3600, reorderGraceS: 30 },
  };

  it('keeps the newest events by event time, up to the count', () => {
    let state = initialState(RESIDENT);
    for (let i = 0; i < 10; i++) {
      const event = makeEvent({
        type: 'motion',
        devicekind: 'pir',
        time: at((10 - i) * 1000),
        deviceEventId: `mo-${i}`,
      });
      state = evaluate(state, { kind: 'event', event, now: NOW }, small).state;
    }
    expect(state.recent.map((seen) => seen.at)).toEqual([NOW - 3000, NOW - 2000, NOW - 1000]);
  });

  it('keeps a device’s last two heartbeats, in event time, whatever the order they came in', () => {
    let state = initialState(RESIDENT);
    const order = [3, 1, 4, 0, 2];
    for (const i of order) {
      const event = makeEvent({ type: 'heartbeat', time: at((10 - i) * 1000), deviceEventId: `hb-${i}` });
      state = evaluate(state, { kind: 'event', event, now: NOW }, DEFAULT_RULE_SET).state;
    }
    const other = makeEvent({ type: 'heartbeat', subject: 'HUB-2', time: at(20_000), deviceEventId: 'hb-x' });
    state = evaluate(state, { kind: 'event', event: other, now: NOW }, DEFAULT_RULE_SET).state;
    expect(state.recent.map((seen) => [seen.serial, seen.at])).toEqual([
      ['HUB-2', NOW - 20_000],
      [state.recent[1]?.serial, NOW - 7000],
      [state.recent[1]?.serial, NOW - 6000],
    ]);
  });

  it('drops events older than the horizon, but an old alarm still alerts', () => {
    const event = makeEvent({ type: 'smoke.detected', time: at(2 * 3600_000), devicekind: 'smoke-detector' });
    const result = evaluate(initialState(RESIDENT), { kind: 'event', event, now: NOW }, small);
    expect(result.alerts).toHaveLength(1);
    expect(result.alerts[0]?.late).toBe(true);
    expect(result.alerts[0]?.reason).toContain('late: event time 2 h before triage');
    expect(result.state.recent).toEqual([]);
  });
});

describe('events that change nothing', () => {
  // The triggers alone, as the benchmark runs them: heartbeats and movement concern no rule.
  const triggers = parseRuleSet({
    version: 1,
    rules: DEFAULT_RULE_SET.rules
      .filter((rule) => rule.kind === 'trigger')
      .map(({ mergeWithinS: _merge, ...rule }) => rule),
    settings: { ...DEFAULT_RULE_SET.settings, keepSeen: 4 },
  });
  const deepFreeze = <T>(value: T): T => {
    if (value && typeof value === 'object' && !Object.isFrozen(value)) {
      Object.freeze(value);
      for (const inner of Object.values(value)) deepFreeze(inner);
    }
    return value;
  };
  const heartbeat = (i: number) =>
    makeEvent({ type: 'heartbeat', devicekind: 'home-unit', time: at(60_000 - i), deviceEventId: `hb-${i}` });
  const press = makeEvent({ type: 'pendant.pressed', time: at(70_000), deviceEventId: 'press-1' });

  it('give back the state they were given, untouched, and raise nothing', () => {
    const state = deepFreeze(
      evaluate(initialState(RESIDENT), { kind: 'event', event: press, now: NOW }, triggers).state,
    );
    const copy = structuredClone(state);
    const result = evaluate(state, { kind: 'event', event: heartbeat(0), now: NOW }, triggers);
    expect(result.state).toBe(state);
    expect(state).toEqual(copy);
    expect(result.alerts).toEqual([]);
    expect(result.timers).toEqual([]);
    // Redelivered, a heartbeat takes the same path: still nothing.
    expect(evaluate(result.state, { kind: 'event', event: heartbeat(0), now: NOW }, triggers).alerts).toEqual(
      [],
    );
  });

  it('never mutate a state they were given, over a stream (every state deep-frozen)', () => {
    let state = deepFreeze(initialState(RESIDENT));
    const stream = [press, ...Array.from({ length: 20 }, (_, i) => heartbeat(i)), press];
    let alerts = 0;
    for (const event of stream) {
      const result = evaluate(state, { kind: 'event', event, now: NOW }, triggers);
      alerts += result.alerts.length;
      state = deepFreeze(result.state);
    }
    // The alarm's redelivery after twenty heartbeats is still known: they took no `seen` slot.
    expect(alerts).toBe(1);
    expect(state.seen).toEqual([press.id]);
  });

  it('find a redelivery whatever the id string is made of (concatenated or parsed)', () => {
    const { state } = evaluate(initialState(RESIDENT), { kind: 'event', event: press, now: NOW }, triggers);
    const parsed = JSON.parse(JSON.stringify(press)) as typeof press;
    const again = evaluate(state, { kind: 'event', event: parsed, now: NOW }, triggers);
    expect(again.alerts).toEqual([]);
    expect(again.state).toBe(state);
  });
});

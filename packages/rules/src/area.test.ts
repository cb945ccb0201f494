import type { Alert, TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { decideAreaHold, evaluateArea, holdForArea, initialAreaState } from './area.ts';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState } from './model.ts';

const T = Date.parse('2026-11-22T10:00:00.000Z');

function mainsLost(
  residentId: string,
  district: string | undefined,
  at: number,
  type: 'mains.lost' | 'mains.restored' = 'mains.lost',
): TelecareEvent {
  return {
    specversion: '1.0',
    id: `evt_${type === 'mains.lost' ? '' : 'r_'}${residentId}`,
    source: '/test',
    type,
    subject: `HUB-${residentId}`,
    time: new Date(at).toISOString(),
    datacontenttype: 'application/json',
    residentid: residentId,
    devicekind: 'hub',
    deviceeventid: `${type}-${residentId}`,
    partition: 0,
    receivedat: new Date(at).toISOString(),
    testmode: false,
    ...(district ? { postcodedistrict: district } : {}),
    data: {},
  } as TelecareEvent;
}

const homeAlerts = (event: TelecareEvent): Alert[] => [
  ...evaluate(initialState(event.residentid), { kind: 'event', event, now: T + 60_000 }, DEFAULT_RULE_SET)
    .alerts,
];

describe('area holds', () => {
  it('holds a home mains.lost with a district until the end of its aligned window plus the grace', () => {
    const event = mainsLost('res_a', 'GL1', T + 10_000);
    const { pass, held } = holdForArea(event, homeAlerts(event), DEFAULT_RULE_SET);
    expect(pass).toEqual([]);
    expect(held).toHaveLength(1);
    expect(held[0]?.timer).toMatchObject({ checkAt: T + 300_000, dueAt: T + 330_000, key: 'GL1' });
  });

  it('never holds an event with no district', () => {
    const event = mainsLost('res_b', undefined, T);
    const { pass, held } = holdForArea(event, homeAlerts(event), DEFAULT_RULE_SET);
    expect(held).toEqual([]);
    expect(pass).toHaveLength(1);
  });

  it('withholds when the district raised an incident for the window, whatever the order; releases a lone home', () => {
    const events = Array.from({ length: 12 }, (_, i) => mainsLost(`res_${i}`, 'GL1', T + i * 1_000));
    const timers = events.map(
      (event) => holdForArea(event, homeAlerts(event), DEFAULT_RULE_SET).held[0]?.timer,
    );
    for (const order of [events, [...events].reverse()]) {
      let state = initialAreaState('GL1');
      for (const event of order) state = evaluateArea(state, event, T + 60_000, DEFAULT_RULE_SET).state;
      for (const timer of timers) {
        if (!timer) throw new Error('not held');
        expect(decideAreaHold(state, timer, DEFAULT_RULE_SET).decision).toBe('withhold');
      }
    }
    const lone = mainsLost('res_lone', 'GL9', T);
    const timer = holdForArea(lone, homeAlerts(lone), DEFAULT_RULE_SET).held[0]?.timer;
    if (!timer) throw new Error('not held');
    const state = evaluateArea(initialAreaState('GL9'), lone, T + 60_000, DEFAULT_RULE_SET).state;
    expect(decideAreaHold(state, timer, DEFAULT_RULE_SET).decision).toBe('release');
  });

  it('holds the restore of a held mains.lost too, in either order: withheld with it in an incident, released for a lone home', () => {
    const lostAt = T + 10_000;
    const restoredAt = T + 70_000;
    const evaluated = (residentId: string, district: string, order: 'lost-first' | 'restore-first') => {
      const lost = mainsLost(residentId, district, lostAt);
      const restored = mainsLost(residentId, district, restoredAt, 'mains.restored');
      // Restore first: the lost report's first sending was lost, its resend received after.
      const resent = { ...lost, receivedat: new Date(restoredAt + 5_000).toISOString() };
      const [first, second] = order === 'lost-first' ? [lost, restored] : [restored, resent];
      const one = evaluate(
        initialState(residentId),
        { kind: 'event', event: first, now: T + 80_000 },
        DEFAULT_RULE_SET,
      );
      const two = evaluate(one.state, { kind: 'event', event: second, now: T + 80_000 }, DEFAULT_RULE_SET);
      return [
        holdForArea(first, one.alerts, DEFAULT_RULE_SET),
        holdForArea(second, two.alerts, DEFAULT_RULE_SET),
      ];
    };
    const incident = Array.from({ length: 12 }, (_, i) => mainsLost(`res_${i}`, 'GL1', T + i * 1_000));
    let state = initialAreaState('GL1');
    for (const event of incident) state = evaluateArea(state, event, T + 60_000, DEFAULT_RULE_SET).state;
    for (const order of ['lost-first', 'restore-first'] as const) {
      const holds = evaluated('res_0', 'GL1', order);
      // Nothing goes out at once: the lost alert and the restore closing it are both held.
      expect(holds.flatMap((h) => h.pass)).toEqual([]);
      const held = holds.flatMap((h) => h.held);
      expect(held.map((h) => h.alert.type).sort()).toEqual(['mains.lost', 'mains.restored']);
      expect(held.find((h) => h.alert.type === 'mains.restored')?.alert.closes).toBeDefined();
      for (const hold of held)
        expect(decideAreaHold(state, hold.timer, DEFAULT_RULE_SET).decision).toBe('withhold');
    }
    // A lone home's restore is released after its window, as its lost alert is.
    const lone = evaluated('res_lone', 'GL9', 'lost-first');
    const loneState = evaluateArea(
      initialAreaState('GL9'),
      mainsLost('res_lone', 'GL9', lostAt),
      T + 60_000,
      DEFAULT_RULE_SET,
    ).state;
    for (const hold of lone.flatMap((h) => h.held))
      expect(decideAreaHold(loneState, hold.timer, DEFAULT_RULE_SET).decision).toBe('release');
  });
});

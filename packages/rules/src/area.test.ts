import type { Alert, TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { decideAreaHold, evaluateArea, holdForArea, initialAreaState } from './area.ts';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState } from './model.ts';

const T = Date.parse('2026-11-22T10:00:00.000Z');

function mainsLost(residentId: string, district: string | undefined, at: number): TelecareEvent {
  return {
    specversion: '1.0',
    id: `evt_${residentId}`,
    source: '/test',
    type: 'mains.lost',
    subject: `HUB-${residentId}`,
    time: new Date(at).toISOString(),
    datacontenttype: 'application/json',
    residentid: residentId,
    devicekind: 'hub',
    deviceeventid: `ml-${residentId}`,
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
});

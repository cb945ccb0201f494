import type { Alert, TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { parseRuleSet } from './parse.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

const RESIDENT = 'res_latedoor1';
const RULES = parseRuleSet({
  ...JSON.parse(JSON.stringify(DEFAULT_RULE_SET)),
  residents: { [RESIDENT]: { quietHours: { from: '12:00', to: '13:30' } } },
});

const event = (type: TelecareEvent['type'], time: string, subject: string, devicekind: string) =>
  makeEvent({ type, time, residentid: RESIDENT, subject, devicekind, deviceEventId: `${subject}-${time}` });

/**
 * Out of the front door at 12:45; the outing's check is due at 13:30 (the prior, nothing learned).
 * Back through the door at `doorAt`, the hall PIR `pirAfterMs` later: the door contact and the PIR
 * are separate senders, so the PIR's report may come first.
 */
function outing(doorAt: string, pirAfterMs: number) {
  const door = event('door.opened', doorAt, 'DC-1', 'door-contact');
  const pir = event('motion', new Date(Date.parse(doorAt) + pirAfterMs).toISOString(), 'PIR-1', 'pir');
  return {
    before: [
      event('motion', '2026-11-22T10:30:00.000Z', 'PIR-1', 'pir'),
      event('door.closed', '2026-11-22T12:45:00.000Z', 'DC-1', 'door-contact'),
    ],
    door,
    pir,
  };
}

function run(events: ReadonlyArray<{ event: TelecareEvent; at: number }>): Alert[] {
  const runner = new RulesRunner(RULES);
  const alerts: Alert[] = [];
  for (const { event, at } of events) alerts.push(...runner.event(event, at));
  alerts.push(...runner.advance(Date.parse('2026-11-22T23:00:00Z')));
  return alerts.filter((alert) => alert.type === 'outing.not-returned');
}

const at = (event: TelecareEvent, lagMs = 0) => ({ event, at: Date.parse(event.time) + lagMs });

/** The learned rhythm's alerts (ids and types) of a run, and where the resident is at its end. */
function rhythmRun(events: ReadonlyArray<{ event: TelecareEvent; at: number }>) {
  const runner = new RulesRunner(RULES);
  const alerts: Alert[] = [];
  for (const { event, at } of events) alerts.push(...runner.event(event, at));
  alerts.push(...runner.advance(Date.parse('2026-11-22T23:00:00Z')));
  return {
    place: runner.states.get(RESIDENT)?.rhythms?.['rhythm.learned']?.place,
    alerts: alerts.filter((a) => a.rule.id === 'rhythm.learned').map((a) => ({ id: a.id, type: a.type })),
  };
}

describe("a door opening reported after the PIR's movement just behind it", () => {
  it('back through the door at the check: nothing, as in time order', () => {
    const { before, door, pir } = outing('2026-11-22T13:30:00.000Z', 1);
    const inOrder = run([...before.map((e) => at(e)), at(door), at(pir)]);
    expect(inOrder).toEqual([]);
    // The door's report 767 ms late, after the PIR's.
    expect(run([...before.map((e) => at(e)), at(pir), at(door, 767)])).toEqual([]);
  });

  it('the door opened before the check, but nothing inside until after a passage: not back, in either order', () => {
    const { before, door, pir } = outing('2026-11-22T13:29:00.000Z', 3 * 60_000);
    const inOrder = run([...before.map((e) => at(e)), at(door), at(pir)]);
    expect(inOrder).toHaveLength(1);
    expect(inOrder[0]?.reason).toContain('the door opened at 13:29 with nothing seen inside after it');
    expect(
      run([...before.map((e) => at(e)), at(pir), at(door, 3 * 60_000 + 5_000)]).map((a) => a.id),
    ).toEqual(inOrder.map((a) => a.id));
  });
});

describe('a door bounce (opened and closed within seconds) with movement between, the opening reported after it', () => {
  /**
   * At home, the hall PIR sees someone by the door as it opens and shuts again within the bounce
   * window: in time order nobody went out (the closing is not a passage), and the silence after it
   * is watched at home. The PIR's report may come before the door contact's opening.
   */
  function bounce() {
    return {
      before: [
        event('motion', '2026-11-22T10:30:00.000Z', 'PIR-1', 'pir'),
        event('bed.vacated', '2026-11-22T12:39:00.000Z', 'BS-1', 'bed-sensor'),
      ],
      opened: event('door.opened', '2026-11-22T14:29:59.982Z', 'DC-1', 'door-contact'),
      pir: event('motion', '2026-11-22T14:29:59.988Z', 'PIR-1', 'pir'),
      closed: event('door.closed', '2026-11-22T14:29:59.995Z', 'DC-1', 'door-contact'),
    };
  }

  it('raises what time order raises: a silence at home, not an outing', () => {
    const { before, opened, pir, closed } = bounce();
    const inOrder = rhythmRun([...before.map((e) => at(e)), at(opened), at(pir), at(closed)]);
    expect(inOrder.alerts.map((alert) => alert.type)).toEqual(['inactivity.unusual']);
    expect(inOrder.place).toBe('home');
    // The door contact's two reports 20 s late, after the PIR's.
    expect(
      rhythmRun([...before.map((e) => at(e)), at(pir, 17_000), at(opened, 20_000), at(closed, 20_000)]),
    ).toEqual(inOrder);
  });
});

describe('the door closing long after a closing that was a carer coming in', () => {
  /**
   * A carer's visit (no "left" pressed) with its door closing at 11:55; hours later the resident gets
   * up and goes out (the bed's report, then the door's). The bed sensor and the door contact are
   * separate senders, so the bed's report may come second.
   */
  function events() {
    return {
      before: [
        event('motion', '2026-11-22T10:30:00.000Z', 'PIR-1', 'pir'),
        event('carer.arrived', '2026-11-22T10:33:40.000Z', 'CF-1', 'carer-fob'),
        event('door.closed', '2026-11-22T11:55:09.000Z', 'DC-1', 'door-contact'),
      ],
      up: event('bed.vacated', '2026-11-22T14:29:59.981Z', 'BS-1', 'bed-sensor'),
      out: event('door.closed', '2026-11-22T14:29:59.996Z', 'DC-1', 'door-contact'),
    };
  }

  it('is the resident going out, in either order: no silence at home from the door', () => {
    const { before, up, out } = events();
    const inOrder = rhythmRun([...before.map((e) => at(e)), at(up), at(out)]);
    expect(inOrder.place).toBe('out');
    expect(rhythmRun([...before.map((e) => at(e)), at(out, 20_000), at(up, 24_000)])).toEqual(inOrder);
    // And with no report between the two closings: the second is a passage of its own.
    expect(rhythmRun([...before.map((e) => at(e)), at(out)]).place).toBe('out');
  });
});

import { Alert, type TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import type { RuleSet } from './model.ts';
import { parseRuleSet } from './parse.ts';
import { RulesRunner } from './runner.ts';
import { deviceEvents } from './testing.ts';

/**
 * A night exit (`correlation.night-exit`) in a home shared with a partner (`sharedHome`), as a
 * couple's devices report it: one mat under the bed the two share (or on the resident's side), a
 * PIR in the bedroom that sees the partner turn over, the hall's PIR behind its lockout, the
 * bathroom's, and the front door's contact. Each case here raised nothing, or a false exit, before
 * its fix.
 */
const RESIDENT = 'res_realnight1';
const GRACE = DEFAULT_RULE_SET.settings.reorderGraceS * 1000;
const S = 1000;
const MIN = 60 * S;
/** November: Europe/London is UTC. 9 Nov 2026 is a Monday. */
const at = (day: number, hhmm: string, plusS = 0) =>
  Date.parse(`2026-11-${String(day).padStart(2, '0')}T${hhmm}:00.000Z`) + plusS * S;

const BED: [string, string, string] = ['bed-sensor', 'BS-1', 'bedroom'];
const BEDROOM: [string, string, string] = ['pir', 'PIR-B', 'bedroom'];
const HALL: [string, string, string] = ['pir', 'PIR-H', 'hall'];
const BATHROOM: [string, string, string] = ['pir', 'PIR-W', 'bathroom'];
const LOUNGE: [string, string, string] = ['pir', 'PIR-L', 'lounge'];
const CHAIR: [string, string, string] = ['chair-sensor', 'CS-1', 'lounge'];
const DOOR: [string, string, string] = ['door-contact', 'DC-1', 'front door'];

const ev = deviceEvents(RESIDENT, 'rn');

const shared = (): RuleSet =>
  parseRuleSet({
    ...JSON.parse(JSON.stringify(DEFAULT_RULE_SET)),
    residents: { [RESIDENT]: { sharedHome: true } },
  });

/** The night exits raised, the events fed in time order at their own time (plus a second). */
function exits(events: TelecareEvent[], until: number, ruleSet: RuleSet) {
  const runner = new RulesRunner(ruleSet);
  const alerts: Alert[] = [];
  const sorted = [...events].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
  for (const event of sorted) alerts.push(...runner.event(event, Date.parse(event.time) + S));
  alerts.push(...runner.advance(until));
  for (const alert of alerts) Alert.parse(alert);
  return alerts.filter((alert) => alert.rule.id === 'correlation.night-exit');
}

/** The evening: about the lounge, both to bed at 23:04 on the mat they share (one report). */
const evening = () => [
  ev('motion', at(8, '21:12'), LOUNGE),
  ev('motion', at(8, '22:31', 14), LOUNGE),
  ev('motion', at(8, '22:58', 40), HALL),
  ev('motion', at(8, '23:01', 3), BEDROOM),
  ev('bed.occupied', at(8, '23:04', 27), BED),
];

/**
 * 02:31, the resident gets up (the partner still on the mat: no report), through the bedroom and
 * the hall, and out of the front door, pulled shut at 02:33:24.
 */
const resident = () => {
  const closed = ev('door.closed', at(9, '02:33', 24), DOOR);
  return {
    closed,
    events: [
      ev('motion', at(9, '02:31', 41), BEDROOM),
      ev('motion', at(9, '02:32', 55), HALL),
      ev('door.opened', at(9, '02:33', 10), DOOR),
      closed,
    ],
  };
};

/** The partner turns over (the bedroom's PIR); or, at 02:36, is up to the bathroom and back to bed. */
const partnerAsleep = () => [
  ev('motion', at(9, '02:38', 12), BEDROOM),
  ev('motion', at(9, '02:51', 3), BEDROOM),
];
const partnerToTheToilet = () => [
  ev('bed.vacated', at(9, '02:36', 31), BED),
  ev('motion', at(9, '02:36', 50), BEDROOM),
  ev('motion', at(9, '02:37', 22), BATHROOM),
  ev('motion', at(9, '02:40', 9), BEDROOM),
  ev('bed.occupied', at(9, '02:40', 37), BED),
];

describe('a night exit in a home shared with a partner', () => {
  it('the resident out while the partner sleeps on the bed they share and turns over: raised, asking who is home', () => {
    const { closed, events } = resident();
    const raised = exits([...evening(), ...events, ...partnerAsleep()], at(9, '06:00'), shared());
    expect(raised).toHaveLength(1);
    const exit = raised[0] as Alert;
    expect(exit).toMatchObject({
      type: 'door.exit-at-night',
      priority: 3,
      deviceSerial: 'DC-1',
      thresholds: { withinS: 600, atNight: true, sharedHome: true, sharedMovements: 1, sharedBedOccupied: 1 },
      raisedAt: new Date(Date.parse(closed.time) + 10 * MIN + GRACE).toISOString(),
    });
    expect(exit.evidence[0]).toBe(closed.id);
    expect(exit.reason).toBe(
      'Property exit at night: door closed at 02:33 today (Mon 9 Nov), then no chair.occupied or door.opened for 10 min; a shared home: before it bed occupied at 23:04 yesterday (Sun 8 Nov); after it movement 02:38 (1 report): may be the other person’s, not taken as the resident in; ask who is home (rule correlation.night-exit v3)',
    );
    // Alone at home, the bed occupied is the resident in it, and the movement someone in: nothing.
    expect(exits([...evening(), ...events, ...partnerAsleep()], at(9, '06:00'), DEFAULT_RULE_SET)).toEqual(
      [],
    );
  });

  it('the partner up to the toilet and back to bed within the ten minutes: raised all the same, saying so', () => {
    const { closed, events } = resident();
    const raised = exits([...evening(), ...events, ...partnerToTheToilet()], at(9, '06:00'), shared());
    expect(raised.map((a) => [a.evidence[0], a.priority])).toEqual([[closed.id, 3]]);
    expect(raised[0]?.reason).toContain(
      'before it bed occupied at 23:04 yesterday (Sun 8 Nov); after it the bed occupied at 02:40, movement 02:36–02:40 (3 reports): may be',
    );
  });

  it('a mat on the resident’s side: up from it, and out with the home silent after, is the exit as alone (P2)', () => {
    const { closed, events } = resident();
    const up = ev('bed.vacated', at(9, '02:31', 9), BED);
    const silent = exits([...evening(), up, ...events], at(9, '06:00'), shared());
    expect(silent.map((a) => [a.evidence, a.priority, a.thresholds])).toEqual([
      [[closed.id, up.id], 2, { withinS: 600, atNight: true }],
    ]);
    // The partner turning over after it: raised, at P3, asking who is home.
    const turning = exits([...evening(), up, ...events, ...partnerAsleep()], at(9, '06:00'), shared());
    expect(turning.map((a) => [a.evidence, a.priority])).toEqual([[[closed.id, up.id], 3]]);
    expect(turning[0]?.reason).toContain(
      'before it: bed vacated at 02:31; a shared home: after it movement 02:38 (1 report): may be',
    );
  });

  it('the resident’s own chair taken after the door is them in: nothing', () => {
    const { events } = resident();
    const sits = [ev('motion', at(9, '02:35', 2), LOUNGE), ev('chair.occupied', at(9, '02:35', 30), CHAIR)];
    expect(exits([...evening(), ...events, ...partnerAsleep(), ...sits], at(9, '06:00'), shared())).toEqual(
      [],
    );
  });

  /** The partner out to the bins at 22:40 (no bed report: they had not gone to bed) and back. */
  const bins = (backAfterS: number) => {
    const out = at(8, '22:40', 5);
    const back = out + backAfterS * S;
    return [
      ev('motion', at(8, '21:12'), LOUNGE),
      ev('motion', at(8, '22:20', 40), BEDROOM),
      ev('bed.occupied', at(8, '22:21', 30), BED),
      ev('motion', at(8, '22:39', 31), HALL),
      ev('door.opened', out, DOOR),
      ev('door.closed', out + 7 * S, DOOR),
      ev('door.opened', back, DOOR),
      ev('motion', back + 3 * S, HALL),
      ev('door.closed', back + 11 * S, DOOR),
      // The hall's PIR in its lockout as they walk back; the lounge's sees them.
      ev('motion', back + 95 * S, LOUNGE),
    ];
  };

  it('the partner out to the bins and back while the resident is in bed: no exit, quick or slow', () => {
    for (const backAfterS of [75, 145, 400])
      expect(exits(bins(backAfterS), at(9, '06:00'), shared()), `back after ${backAfterS} s`).toEqual([]);
  });

  it('the other person home late from the pub while the resident sleeps: no exit', () => {
    // Nobody inside came to the door: the hall's PIR sees them only as it opens.
    const late = [
      ev('door.opened', at(8, '23:41', 2), DOOR),
      ev('motion', at(8, '23:41', 4), HALL),
      ev('door.closed', at(8, '23:41', 12), DOOR),
      ev('motion', at(8, '23:43', 50), LOUNGE),
      ev('motion', at(8, '23:49', 31), BEDROOM),
    ];
    expect(exits([...evening(), ...late], at(9, '06:00'), shared())).toEqual([]);
  });

  it('the resident back at 03:10 after the exit was raised: no second exit for their return', () => {
    const { closed, events } = resident();
    const back = [
      ev('door.opened', at(9, '03:10', 44), DOOR),
      ev('motion', at(9, '03:10', 47), HALL),
      ev('door.closed', at(9, '03:10', 58), DOOR),
      ev('motion', at(9, '03:12', 30), BEDROOM),
    ];
    const raised = exits([...evening(), ...events, ...partnerAsleep(), ...back], at(9, '06:00'), shared());
    expect(raised.map((a) => a.evidence[0])).toEqual([closed.id]);
  });

  it('the door shut twice on the way out, the home silent after: still an exit', () => {
    const { closed, events } = resident();
    const again = ev('door.closed', Date.parse(closed.time) + 21 * S, DOOR);
    const twice = [...events, ev('door.opened', Date.parse(closed.time) + 9 * S, DOOR), again];
    const raised = exits([...evening(), ...twice], at(9, '06:00'), shared());
    expect(raised.map((a) => [a.evidence[0], a.priority])).toEqual([[again.id, 3]]);
  });
});

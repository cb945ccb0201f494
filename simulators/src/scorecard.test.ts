import { describe, expect, it } from 'vitest';
import type { Expectation } from './resident/events.ts';
import { formatScorecard, lifeCriticalFailures, type RaisedAlert, score } from './scorecard.ts';

const T = Date.parse('2025-01-13T10:00:00Z');
const exp = (over: Partial<Expectation> & Pick<Expectation, 'incidentId' | 'kind'>): Expectation => ({
  homes: ['H1'],
  at: T,
  expect: ['pendant.pressed'],
  related: [],
  priority: 1,
  deadlineS: 60,
  lifeCritical: true,
  note: '',
  ...over,
});
let n = 0;
const alert = (over: Partial<RaisedAlert> & Pick<RaisedAlert, 'type'>): RaisedAlert => ({
  id: `alt_${n++}`,
  residentId: 'res_1',
  priority: 1,
  raisedAt: T + 1_000,
  ...over,
});
const residentOf = new Map([
  ['H1', 'res_1'],
  ['H2', 'res_2'],
  ['H3', 'res_3'],
]);

describe('score', () => {
  it('detects within the deadline, measures time to alert and counts nothing false', () => {
    const card = score({
      expectations: [exp({ incidentId: 'a', kind: 'pendant.true' })],
      alerts: [alert({ type: 'pendant.pressed', raisedAt: T + 2_500, caseId: 'case_1' })],
      residentOf,
      residentDays: 3,
    });
    expect(card.incidents[0]?.status).toBe('detected');
    expect(card.incidents[0]?.timeToAlertS).toBe(2.5);
    expect(card.falseAlerts).toEqual([]);
    expect(lifeCriticalFailures(card)).toEqual([]);
  });

  it('calls an alert after the deadline late, and none at all missed; both fail the gate', () => {
    const card = score({
      expectations: [
        exp({ incidentId: 'a', kind: 'smoke', expect: ['smoke.detected'] }),
        exp({ incidentId: 'b', kind: 'pendant.true', homes: ['H2'] }),
      ],
      alerts: [alert({ type: 'smoke.detected', raisedAt: T + 90_000 })],
      residentOf,
      residentDays: 3,
    });
    expect(card.incidents.map((s) => s.status)).toEqual(['late', 'missed']);
    expect(card.totals).toMatchObject({ late: 1, missed: 1, detected: 0 });
    expect(lifeCriticalFailures(card)).toHaveLength(2);
  });

  it('counts a second alert of the same type as a duplicate, another type as extra, and separate cases', () => {
    const card = score({
      expectations: [
        exp({
          incidentId: 'a',
          kind: 'fall.detector-and-press',
          expect: ['fall.detected', 'pendant.pressed'],
        }),
      ],
      alerts: [
        alert({ type: 'fall.detected', raisedAt: T + 5_000, caseId: 'case_1' }),
        alert({ type: 'pendant.pressed', raisedAt: T + 75_000, caseId: 'case_1' }),
        alert({ type: 'pendant.pressed', raisedAt: T + 100_000, caseId: 'case_2' }),
      ],
      residentOf,
      residentDays: 1,
    });
    const s = card.incidents[0];
    expect(s).toMatchObject({
      status: 'detected',
      timeToAlertS: 5,
      duplicateAlerts: 1,
      extraAlerts: 1,
      duplicateCases: 1,
    });
    expect(lifeCriticalFailures(card)).toEqual(['a: 1 duplicate alert(s)', 'a: alerts in 2 cases']);
  });

  it("counts another rule's escalation of the same alert as extra, not as a duplicate", () => {
    const card = score({
      expectations: [exp({ incidentId: 'a', kind: 'fall.detector', expect: ['fall.detected'] })],
      alerts: [
        alert({ type: 'fall.detected', ruleId: 'trigger.fall', raisedAt: T + 5_000, caseId: 'case_1' }),
        alert({
          type: 'fall.detected',
          ruleId: 'correlation.fall-no-movement',
          raisedAt: T + 335_000,
          caseId: 'case_1',
        }),
      ],
      residentOf,
      residentDays: 1,
    });
    expect(card.incidents[0]).toMatchObject({
      status: 'detected',
      duplicateAlerts: 0,
      extraAlerts: 1,
      duplicateCases: 0,
    });
    expect(lifeCriticalFailures(card)).toEqual([]);
  });

  it('counts alerts that match no incident as false, per resident-day', () => {
    const card = score({
      expectations: [exp({ incidentId: 'a', kind: 'pendant.true' })],
      alerts: [
        alert({ type: 'pendant.pressed', raisedAt: T + 1_000 }),
        alert({ type: 'inactivity.unusual', raisedAt: T + 10_000, priority: 2 }),
        alert({ type: 'pendant.pressed', residentId: 'res_2', raisedAt: T + 1_000 }),
        alert({ type: 'pendant.pressed', raisedAt: T + 3 * 3_600_000 }),
      ],
      residentOf,
      residentDays: 4,
    });
    expect(card.falseAlerts).toHaveLength(3);
    expect(card.falseAlertsPerResidentDay).toBe(0.75);
  });

  it('counts the false alerts after learning over the resident-days after learning', () => {
    const card = score({
      expectations: [],
      alerts: [
        alert({ type: 'inactivity.no-wake', raisedAt: T - 1_000, priority: 2 }),
        alert({ type: 'inactivity.unusual', raisedAt: T, priority: 2 }),
        alert({ type: 'outing.not-returned', raisedAt: T + 3_600_000, priority: 2 }),
      ],
      residentOf,
      residentDays: 10,
      learnedFrom: T,
      learnedResidentDays: 4,
    });
    expect(card.falseAlertsPerResidentDay).toBe(0.3);
    expect(card.learned).toEqual({ from: T, residentDays: 4, falseAlerts: 2, perResidentDay: 0.5 });
    expect(formatScorecard(card)).toContain('false alerts 2 over 4 resident-days = 0.500 per resident-day');
  });

  it('an incident that should raise nothing is quiet without alerts and alerted with one', () => {
    const quiet = exp({
      incidentId: 'c',
      kind: 'pendant.cancelled',
      expect: [],
      related: ['pendant.pressed'],
      lifeCritical: false,
    });
    expect(
      score({ expectations: [quiet], alerts: [], residentOf, residentDays: 1 }).incidents[0]?.status,
    ).toBe('quiet');
    const card = score({
      expectations: [quiet],
      alerts: [alert({ type: 'pendant.pressed' })],
      residentOf,
      residentDays: 1,
    });
    expect(card.incidents[0]?.status).toBe('alerted');
    expect(card.byKind[0]?.alertedWhenQuiet).toBe(1);
    expect(card.falseAlerts).toEqual([]);
  });

  it('matches an area incident by type across residents; a home raising its own alert is no duplicate of another home', () => {
    const area = exp({
      incidentId: 'm',
      kind: 'area.mains-lost',
      homes: ['H1', 'H2'],
      expect: ['area.mains-lost'],
      related: ['mains.lost'],
      priority: 3,
      deadlineS: 600,
      lifeCritical: false,
      area: true,
    });
    const card = score({
      expectations: [area],
      alerts: [
        alert({ type: 'mains.lost', priority: 3 }),
        alert({ type: 'mains.lost', residentId: 'res_2', priority: 3 }),
        alert({ type: 'mains.lost', residentId: 'res_3', priority: 3 }),
        alert({ type: 'mains.lost', residentId: 'res_2', priority: 3, raisedAt: T + 5_000 }),
        alert({ type: 'area.mains-lost', residentId: 'area_GL4', priority: 3, raisedAt: T + 180_000 }),
      ],
      residentOf,
      residentDays: 3,
    });
    // res_2 raising mains.lost twice is a duplicate; res_1's and res_2's first ones are not.
    expect(card.incidents[0]).toMatchObject({
      status: 'detected',
      timeToAlertS: 180,
      duplicateAlerts: 1,
      extraAlerts: 1,
    });
    expect(card.falseAlerts.map((a) => a.residentId)).toEqual(['res_3']);
  });

  it('scores a cancelled press as detected and closed, and unclosed when nothing closes it', () => {
    const cancelled = (incidentId: string, at: number) =>
      exp({ incidentId, kind: 'pendant.cancelled', at, lifeCritical: false, closedAs: 'false-alarm' });
    const a = cancelled('c1', T);
    const b = cancelled('c2', T + 3_600_000);
    const card = score({
      expectations: [a, b],
      alerts: [
        alert({ id: 'alt_press1', type: 'pendant.pressed' }),
        alert({
          type: 'alarm.cancelled',
          priority: 5,
          raisedAt: T + 13_000,
          closes: { alertId: 'alt_press1', outcome: 'false-alarm' },
        }),
        alert({ id: 'alt_press2', type: 'pendant.pressed', raisedAt: T + 3_601_000 }),
      ],
      residentOf,
      residentDays: 1,
    });
    expect(card.incidents.map((s) => [s.status, s.closedAs, s.closers.length])).toEqual([
      ['detected', 'false-alarm', 1],
      ['unclosed', undefined, 0],
    ]);
    // The closer is not an alert of its own: no extra, no false alert.
    expect(card.incidents[0]?.extraAlerts).toBe(0);
    expect(card.falseAlerts).toEqual([]);
    expect(card.byKind[0]).toMatchObject({ detected: 1, missed: 1, closed: 1 });
    expect(card.totals.missed).toBe(1);
    expect(formatScorecard(card)).toContain('1/2');
  });

  it('a restore goes with the alarm it closes, and a closer of a false alert adds no second one', () => {
    const card = score({
      expectations: [exp({ incidentId: 's', kind: 'smoke', expect: ['smoke.detected'] })],
      alerts: [
        alert({ id: 'alt_smoke', type: 'smoke.detected' }),
        alert({
          type: 'smoke.restored',
          priority: 5,
          raisedAt: T + 540_000,
          closes: { alertId: 'alt_smoke', outcome: 'restored' },
        }),
        alert({ id: 'alt_stray', type: 'co.detected', raisedAt: T + 7_200_000 }),
        alert({
          type: 'co.restored',
          priority: 5,
          raisedAt: T + 7_300_000,
          closes: { alertId: 'alt_stray', outcome: 'restored' },
        }),
      ],
      residentOf,
      residentDays: 1,
    });
    expect(card.incidents[0]).toMatchObject({ status: 'detected', closedAs: 'restored', extraAlerts: 0 });
    expect(card.falseAlerts.map((a) => a.type)).toEqual(['co.detected']);
  });

  it('scores a cancelled press by its cancel, whatever its restore before it says', () => {
    const card = score({
      expectations: [
        exp({ incidentId: 'c', kind: 'pendant.cancelled', lifeCritical: false, closedAs: 'false-alarm' }),
      ],
      alerts: [
        alert({ id: 'alt_press', type: 'pendant.pressed' }),
        alert({
          type: 'alarm.restored',
          priority: 5,
          raisedAt: T + 3_000,
          closes: { alertId: 'alt_press', outcome: 'restored' },
        }),
        alert({
          type: 'alarm.cancelled',
          priority: 5,
          raisedAt: T + 12_000,
          closes: { alertId: 'alt_press', outcome: 'false-alarm' },
        }),
      ],
      residentOf,
      residentDays: 1,
    });
    expect(card.incidents[0]).toMatchObject({ status: 'detected', closedAs: 'false-alarm', extraAlerts: 0 });
    expect(card.falseAlerts).toEqual([]);
  });

  it('scores a real press closed as a false alarm (a restore taken for a cancel) as dismissed, and missed', () => {
    const card = score({
      expectations: [exp({ incidentId: 'p', kind: 'pendant.true' })],
      alerts: [
        alert({ id: 'alt_real', type: 'pendant.pressed' }),
        alert({
          type: 'alarm.cancelled',
          priority: 5,
          raisedAt: T + 2_000,
          closes: { alertId: 'alt_real', outcome: 'false-alarm' },
        }),
      ],
      residentOf,
      residentDays: 1,
    });
    expect(card.incidents[0]).toMatchObject({ status: 'dismissed', closedAs: 'false-alarm' });
    expect(card.byKind[0]).toMatchObject({ detected: 0, missed: 1 });
    expect(card.totals.missed).toBe(1);
  });

  it('related alerts belong to an incident until an hour after its effects end', () => {
    const fall = exp({
      incidentId: 'f',
      kind: 'fall.silent-day',
      expect: ['inactivity.unusual'],
      related: ['medication.missed'],
      deadlineS: 4 * 3600,
      until: T + 20 * 3_600_000,
    });
    const card = score({
      expectations: [fall],
      alerts: [
        alert({ type: 'inactivity.unusual', raisedAt: T + 3_600_000 }),
        alert({ type: 'medication.missed', raisedAt: T + 19 * 3_600_000 }),
        alert({ type: 'medication.missed', raisedAt: T + 22 * 3_600_000 }),
        // An expected type is still held to the deadline's window.
        alert({ type: 'inactivity.unusual', raisedAt: T + 19 * 3_600_000 }),
      ],
      residentOf,
      residentDays: 1,
    });
    expect(card.incidents[0]?.alerts).toHaveLength(2);
    expect(card.falseAlerts.map((a) => a.raisedAt - T)).toEqual([19 * 3_600_000, 22 * 3_600_000]);
  });

  it('gives an alert to the incident that expects its type before one that only relates it', () => {
    const fall = exp({
      incidentId: 'f',
      kind: 'fall.detector',
      expect: ['fall.detected'],
      related: ['pendant.pressed'],
    });
    const press = exp({ incidentId: 'p', kind: 'pendant.true', at: T + 30_000 });
    const card = score({
      expectations: [fall, press],
      alerts: [
        alert({ type: 'fall.detected', raisedAt: T + 5_000 }),
        alert({ type: 'pendant.pressed', raisedAt: T + 31_000 }),
      ],
      residentOf,
      residentDays: 1,
    });
    expect(card.incidents.map((s) => [s.status, s.alerts.length])).toEqual([
      ['detected', 1],
      ['detected', 1],
    ]);
    expect(formatScorecard(card)).toMatch(/fall\.detector\s+yes\s+1\s+1/);
  });
});

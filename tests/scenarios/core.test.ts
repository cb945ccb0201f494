import { lifeCriticalFailures, SCENARIOS } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { alertsOnCoreBehind, runScenarioOnCore } from './core.ts';

/**
 * The corpus against the rules core alone (no services, under a second a scenario): the ground
 * truth and the default rules with each resident's care plan agree. The platform runs of the same
 * scenarios (`pnpm scenario`) must then match this; where they do not, the platform is at fault.
 */
describe('the scenario corpus through the rules core', () => {
  it.each(['life-critical', 'pendant'])(
    '%s: every life-critical incident detected once, presses cancelled in time closed as false alarms',
    (name) => {
      const { card } = runScenarioOnCore(SCENARIOS[name] as NonNullable<(typeof SCENARIOS)[string]>);
      expect(lifeCriticalFailures(card)).toEqual([]);
      expect(card.totals.missed).toBe(0);
      expect(card.falseAlerts).toEqual([]);
    },
  );

  it.each(['wellbeing', 'routine'])('%s: every wellbeing incident detected within its window', (name) => {
    const { card } = runScenarioOnCore(SCENARIOS[name] as NonNullable<(typeof SCENARIOS)[string]>);
    expect(card.incidents.map((s) => [s.expectation.incidentId, s.status])).toEqual(
      card.incidents.map((s) => [s.expectation.incidentId, 'detected']),
    );
    expect(card.falseAlerts).toEqual([]);
  });

  it('technical and daily: supervision, the area incident and low batteries; an ordinary week raises nothing', () => {
    const technical = runScenarioOnCore(SCENARIOS.technical as NonNullable<(typeof SCENARIOS)[string]>);
    expect(technical.card.incidents.map((s) => [s.expectation.kind, s.status])).toEqual(
      technical.card.incidents.map((s) => [s.expectation.kind, 'detected']),
    );
    const daily = runScenarioOnCore(SCENARIOS.daily as NonNullable<(typeof SCENARIOS)[string]>);
    expect(daily.card.totals.missed).toBe(0);
    expect(daily.card.falseAlerts).toEqual([]);
  });

  it('irregular: over 224 resident-days after learning, under 0.05 false alerts a day; every incident in its deadline', {
    timeout: 120_000,
  }, () => {
    const { card } = runScenarioOnCore(SCENARIOS.irregular as NonNullable<(typeof SCENARIOS)[string]>);
    expect(card.incidents.map((s) => [s.expectation.incidentId, s.status])).toEqual(
      card.incidents.map((s) => [s.expectation.incidentId, 'detected']),
    );
    expect(card.learned?.residentDays).toBe(224);
    expect(card.learned?.perResidentDay).toBeLessThan(0.05);
    // Collapse after getting up: median within 2 h (the deadline is 2 h for each).
    const collapse = card.byKind.find((k) => k.kind === 'collapse.after-getup');
    expect(collapse?.timeToAlertP50S).toBeLessThanOrEqual(2 * 3600);
  });

  it('irregular-ci: every incident in its deadline, no false alert after learning', () => {
    const { card } = runScenarioOnCore(SCENARIOS['irregular-ci'] as NonNullable<(typeof SCENARIOS)[string]>);
    expect(card.totals).toMatchObject({ incidents: 6, detected: 6, late: 0, missed: 0 });
    expect(card.learned).toMatchObject({ residentDays: 14, falseAlerts: 0 });
  });

  it.each(['irregular-ci', 'wellbeing', 'daily'])(
    '%s with triage an hour, then eight hours behind: the alerts of time order, no more, no fewer',
    (name) => {
      const spec = SCENARIOS[name] as NonNullable<(typeof SCENARIOS)[string]>;
      const raised = (alerts: readonly { id: string; closes?: unknown }[]) =>
        alerts
          .filter((a) => !a.closes)
          .map((a) => a.id)
          .sort();
      const inOrder = raised(alertsOnCoreBehind(spec, 0));
      expect(inOrder.length).toBeGreaterThan(0);
      expect(raised(alertsOnCoreBehind(spec, 3_600_000))).toEqual(inOrder);
      expect(raised(alertsOnCoreBehind(spec, 8 * 3_600_000))).toEqual(inOrder);
    },
  );
});

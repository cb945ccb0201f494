import { SCENARIOS } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { formatRun, runScenario } from './harness.ts';

/**
 * Two real-like homes for two weeks through the real stack: a learning week, then a collapse
 * after getting up, a night never got up and an evening out and not back in each. Every one must
 * be alerted within its deadline; after learning, the budget of 0.05 false alerts per
 * resident-day allows none over these 14 resident-days.
 */
describe('scenario: irregular-ci', () => {
  it('alerts every collapse, never-up and outing in its deadline, and nothing false after learning', {
    timeout: 20 * 60_000,
  }, async () => {
    const spec = SCENARIOS['irregular-ci'];
    if (!spec) throw new Error('no irregular-ci scenario');
    const result = await runScenario(spec);
    console.log(formatRun(result));
    expect(result.drive.rejected).toBe(0);
    expect(result.card.incidents.map((s) => [s.expectation.kind, s.status])).toEqual(
      result.card.incidents.map((s) => [s.expectation.kind, 'detected']),
    );
    expect(result.card.learned?.residentDays).toBe(14);
    expect(result.card.learned?.falseAlerts).toBe(0);
  });
});

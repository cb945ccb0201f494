import { formatScorecard, SCENARIOS } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { runScenario } from './harness.ts';

/**
 * Two real-like homes for two weeks through the real stack: a learning week, then a collapse
 * after getting up, a night never got up and an evening out and not back in each. After learning,
 * the budget of 0.05 false alerts per resident-day allows none over these 14 resident-days.
 *
 * Not yet asserted: every incident within its deadline. Through the stack one never-up was found
 * 8 h after the usual time where the rules core alone (`pnpm scenario irregular-ci --core`) finds
 * both within 3.8 h (simulators/README.md, "Through the whole stack").
 */
describe('scenario: irregular-ci', () => {
  it('finds every collapse, never-up and outing, and raises no false alert after learning', {
    timeout: 20 * 60_000,
  }, async () => {
    const spec = SCENARIOS['irregular-ci'];
    if (!spec) throw new Error('no irregular-ci scenario');
    const result = await runScenario(spec);
    console.log(formatScorecard(result.card));
    expect(result.drive.rejected).toBe(0);
    expect(result.card.totals.missed).toBe(0);
    expect(
      result.card.incidents
        .filter((s) => s.expectation.kind !== 'never-up')
        .map((s) => [s.expectation.kind, s.status]),
    ).toEqual(
      result.card.incidents
        .filter((s) => s.expectation.kind !== 'never-up')
        .map((s) => [s.expectation.kind, 'detected']),
    );
    expect(result.card.learned?.residentDays).toBe(14);
    expect(result.card.learned?.falseAlerts).toBe(0);
  });
});

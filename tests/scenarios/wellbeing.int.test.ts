import { formatScorecard, SCENARIOS } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { runScenario } from './harness.ts';

/**
 * Wellbeing incidents through the real stack: not getting up, night exits, a cold home, a missed
 * dose, a carer who does not come and a silent fall at night, over two accelerated days in five
 * homes. Every one must be alerted; only the night exit through a door pulled shut may be late
 * (no rule sees it before "out of bed and not back" at 45 min: simulators/README.md).
 */
describe('scenario: wellbeing', () => {
  it('alerts every wellbeing incident, each within its window', { timeout: 90_000 }, async () => {
    const spec = SCENARIOS.wellbeing;
    if (!spec) throw new Error('no wellbeing scenario');
    const result = await runScenario(spec);
    console.log(formatScorecard(result.card));
    expect(result.drive.rejected).toBe(0);
    expect(result.card.incidents.filter((s) => s.status === 'missed').map((s) => s.expectation.kind)).toEqual(
      [],
    );
    const late = result.card.incidents.filter((s) => s.status === 'late').map((s) => s.expectation.kind);
    expect(late.filter((kind) => kind !== 'night-exit')).toEqual([]);
    expect(result.card.falseAlerts).toEqual([]);
  });
});

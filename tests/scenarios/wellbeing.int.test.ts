import { SCENARIOS } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { formatRun, runScenario } from './harness.ts';

/**
 * Wellbeing incidents through the real stack: not getting up, night exits (the door pulled shut,
 * the door left open), a cold home, a missed dose, a carer who does not come and a silent fall at
 * night, over two accelerated days in five homes. Every one must be alerted within its window.
 */
describe('scenario: wellbeing', () => {
  it('alerts every wellbeing incident, each within its window', { timeout: 240_000 }, async () => {
    const spec = SCENARIOS.wellbeing;
    if (!spec) throw new Error('no wellbeing scenario');
    const result = await runScenario(spec);
    console.log(formatRun(result));
    expect(result.drive.rejected).toBe(0);
    expect(result.card.incidents.map((s) => [s.expectation.kind, s.status])).toEqual(
      result.card.incidents.map((s) => [s.expectation.kind, 'detected']),
    );
    expect(result.card.falseAlerts).toEqual([]);
  });
});

import { lifeCriticalFailures, SCENARIOS } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { formatRun, runScenario } from './harness.ts';

/**
 * The CI gate of the scenario corpus: a simulated day in five homes (one per profile) with falls,
 * presses, smoke, heat and CO injected, run through the real stack in accelerated time (two homes'
 * alarms through a DC-09 disperser and the DC-09 gateway, the rest over MQTT). It fails
 * when any life-critical incident is missed, late, alerted twice or split over two cases.
 */
describe('scenario: life-critical', () => {
  it('detects every life-critical incident once, within its deadline', { timeout: 180_000 }, async () => {
    const spec = SCENARIOS['life-critical'];
    if (!spec) throw new Error('no life-critical scenario');
    const result = await runScenario(spec);
    console.log(formatRun(result));
    expect(result.drive.rejected).toBe(0);
    // Both ingest paths are scored: some homes' alarms come through a DC-09 disperser.
    expect(spec.homes.some((h) => h.via === 'dc09')).toBe(true);
    expect(result.card.totals.lifeCritical).toBeGreaterThanOrEqual(8);
    expect(lifeCriticalFailures(result.card)).toEqual([]);
    // Ordinary days raise no P1: any false alarm at that priority is a platform or model bug.
    expect(result.card.falseAlerts.filter((a) => a.priority === 1)).toEqual([]);
  });
});

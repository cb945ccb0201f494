import { describe, expect, it } from 'vitest';
import { runStorm } from './storm.ts';

/**
 * The storm scenario at CI size (`pnpm scenario storm` runs it at any size): the hubs of two
 * districts lose and regain mains while a pendant is pressed every 200 ms, 40 background homes'
 * pendants in turn, so most presses during the storm are repeats of a press whose case is still
 * queued (nobody takes cases here), and every timer tick walks that queue. Every press must raise
 * its alert and reach the consoles as a case event that holds it, within a bound. At this size the
 * queue is too short for the timer-lock stall the 40,000-hub run showed (it passes on the old
 * timers too, p99 5.4 s against 4.3 s): `services/helpline/test/timer-locks.int.test.ts` is the
 * test of that cause; this one guards the end-to-end promise.
 */
// Beside another heavy test file it once failed (presses taken up by the helpline 46–67 s late)
// while each storm home's `mains.restored` still went to the helpline as a record, ahead of the
// presses; triage now withholds those restores with the alerts they close (area holds).
describe('scenario: storm', () => {
  it('every press during the storm reaches the consoles as a case event', { timeout: 240_000 }, async () => {
    const figures = await runStorm('storm', (line) => console.log(line), {
      STORM_HOMES: '3000',
      STORM_DISTRICTS: '2',
      STORM_IMPORT_MAX: '0',
      LOAD_HOMES: '40',
      LOAD_RATE: '50',
      LOAD_SECONDS: '10',
      CEILING_MESSAGES: '500',
      // In this process: five more Node processes are too heavy beside the rest of the suite.
      STORM_PROCESSES: '0',
    });
    expect(figures.area_incidents).toBe(2);
    expect(figures.home_mains_alerts).toBe(0);
    expect(figures.presses_storm).toBeGreaterThan(0);
    expect(figures.presses_repeat).toBeGreaterThan(0);
    expect(figures.presses_never_alerted).toBe(0);
    expect(figures.presses_no_case).toBe(0);
    // Well inside the minute the scenario waits: a press is an alarm call.
    expect(figures.press_to_case_storm_max_ms).toBeLessThan(15_000);
  });
});

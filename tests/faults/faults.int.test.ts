import { afterAll, describe, expect, it } from 'vitest';
import type { FaultKind } from './faults.ts';
import type { FaultStack } from './stack.ts';
import { runSuite, type SuiteResult } from './suite.ts';

/**
 * The fault suite at CI size: the code of `pnpm faults`, with one fault of each kind the issue
 * names at the least, under a steady load with presses, on servers and services of its own.
 */
const KINDS: FaultKind[] = [
  'sigkill-helpline',
  'sigkill-gateway-mqtt',
  'sigkill-gateway-dc09',
  'restart-nats',
  'restart-postgres',
  'redis-flushall',
  'proxy-blackhole',
  'triage-instance-down',
];

describe('fault suite (CI size)', () => {
  let stack: FaultStack | undefined;
  afterAll(async () => {
    // The suite ends what it started; this is for a run cut short by the test's timeout.
    await stack?.stop();
  }, 60_000);

  it('loses no acked life-critical event, makes no duplicate case, and every service recovers by itself', async () => {
    const lines: string[] = [];
    let result: SuiteResult;
    try {
      result = await runSuite({
        faults: KINDS.length,
        kinds: KINDS,
        seed: 15,
        rate: 20,
        pressesPerS: 1,
        homes: 30,
        panels: 12,
        panelPressesPerS: 0.5,
        panelPollMs: 5_000,
        holdMs: 3_000,
        // The quiet time after each recovery, before the next fault: every service is ready by then
        // (the suite waits for it), and the load goes on through it; a second is enough for that at
        // this size (`pnpm faults` keeps its own, longer settle).
        settleMs: 1_000,
        recoveryTimeoutMs: 60_000,
        log: (line) => lines.push(line),
        onStack: (s) => {
          stack = s;
        },
      });
    } catch (err) {
      throw new Error(`fault run failed after:\n${lines.join('\n')}`, { cause: err });
    }
    const { counts, violations } = result.reconciliation;
    const context = `${lines.join('\n')}\n${JSON.stringify(result.summary)}`;
    expect(result.faults.map((f) => f.kind).sort(), context).toEqual([...KINDS].sort());
    // Every press was ACKed in the end, by both gateways: a gateway that never came back acks
    // nothing more, and its presses would prove nothing lost.
    expect(counts.lifeCriticalAcked, context).toBe(counts.lifeCriticalSent);
    expect(result.summary.dc09_presses_acked, context).toBeGreaterThan(0);
    expect(result.summary.dc09_presses_acked, context).toBe(result.summary.dc09_presses_sent);
    expect(counts.lostLifeCritical, context).toBe(0);
    expect(counts.duplicateCases, context).toBe(0);
    // Among them a panel's second press answered as a copy of its first, stamped the same second
    // (`dc09-same-second-copy`): the gateway NAKs it now, and the panel sends it again stamped anew.
    expect(
      violations.filter((v) => v.kind !== 'acked-event-lost'),
      context,
    ).toEqual([]);
    expect(result.summary.not_recovered, context).toEqual([]);
    // About 80 s alone on 2 cores (with the DC-09 panels, 2026-12-07); the bound leaves room for
    // the other test files running beside it on the same cores.
  }, 360_000);
});

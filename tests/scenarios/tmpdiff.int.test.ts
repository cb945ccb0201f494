import { SCENARIOS } from '@telecare/simulators';
import { it } from 'vitest';
import { runScenarioOnCore } from './core.ts';
import { runScenario } from './harness.ts';
it('diff', { timeout: 20 * 60_000 }, async () => {
  const spec = SCENARIOS['irregular-ci'] as NonNullable<(typeof SCENARIOS)[string]>;
  const fmt = (a: { type: string; residentId: string; raisedAt: number }) => `${new Date(a.raisedAt).toISOString()} ${a.residentId} ${a.type}`;
  const core = runScenarioOnCore(spec).alerts.map(fmt).sort();
  const stack = (await runScenario(spec)).alerts.map(fmt).sort();
  console.log('CORE\n' + core.join('\n'));
  console.log('STACK\n' + stack.join('\n'));
});

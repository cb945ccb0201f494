/**
 * One triage instance in a process of its own, for the test that kills one (SIGKILL: nothing drains,
 * no lease is given back). The environment is the service's; the clock stands at TRIAGE_TEST_CLOCK.
 * Prints the instance's URL once it runs.
 */
import { ManualClock } from '@telecare/platform';
import { loadTriageConfig, startTriage } from '../src/index.ts';
import { LEASE_RULES } from './support.ts';

const triage = await startTriage(loadTriageConfig(), {
  clock: new ManualClock(Number(process.env.TRIAGE_TEST_CLOCK)),
  ruleSet: LEASE_RULES,
});
process.stdout.write(`${triage.url}\n`);

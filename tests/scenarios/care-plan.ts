import { DEFAULT_RULE_SET, type RuleSetInput } from '@telecare/rules';
import { carePlanOf, type HomeSpec } from '@telecare/simulators';

/**
 * The default rules with each simulated resident's care plan as their per-resident settings
 * (quiet hours, wake-up window, carer visits), keyed by the resident id the registry issued.
 * The rules themselves and their thresholds are the defaults: only what a care plan says differs.
 */
export function carePlanRuleSet(
  homes: readonly HomeSpec[],
  residentOf: ReadonlyMap<string, string>,
): RuleSetInput {
  const residents: Record<string, ReturnType<typeof carePlanOf> & { visits: string[] }> = {};
  for (const home of homes) {
    const id = residentOf.get(home.key);
    if (!id) continue;
    const plan = carePlanOf(home.profile);
    residents[id] = { ...plan, visits: [...plan.visits] };
  }
  // One version above the defaults: triage refuses a put whose version does not grow.
  return {
    ...DEFAULT_RULE_SET,
    version: DEFAULT_RULE_SET.version + 1,
    residents: { ...DEFAULT_RULE_SET.residents, ...residents },
  };
}

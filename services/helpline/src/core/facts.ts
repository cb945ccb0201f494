import type { CaseFact } from '@telecare/contracts';

/**
 * How far ahead of the helpline's clock a fact's time may be: a console's clock a little fast is
 * not a fact from the future.
 */
export const FACT_CLOCK_SKEW_MS = 60_000;

/**
 * Why a fact's time cannot be right, in words for the operator, or undefined when it can: a fact
 * cannot happen after it is recorded, nor before the alarm that raised the case.
 */
export function factTimeProblem(fact: CaseFact, raisedAt: Date, now: Date): string | undefined {
  const at = Date.parse(fact.at);
  if (at > now.getTime() + FACT_CLOCK_SKEW_MS) return `${fact.fact}: the time ${fact.at} is in the future`;
  if (at < raisedAt.getTime())
    return `${fact.fact}: the time ${fact.at} is before the case was raised (${raisedAt.toISOString()})`;
  return undefined;
}

/** The `fact-recorded` step's data is exactly the fact, so readers of CASES parse it with `CaseFact`. */
export const factData = (fact: CaseFact): Record<string, unknown> => ({ ...fact });

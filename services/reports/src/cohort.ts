import { random } from './seed.ts';
import { type Count, protectCount } from './suppress.ts';

const DAY_MS = 86_400_000;

export interface CohortResident {
  readonly residentId: string;
  /** When telecare started: the first event the service saw from any of the resident's devices. */
  readonly startedAt: Date;
}

export interface StayDays {
  readonly residentId: string;
  readonly admitted: string;
  readonly discharged: string;
}

const addMonths = (d: Date, months: number): Date => {
  const out = new Date(d);
  out.setUTCMonth(out.getUTCMonth() + months);
  return out;
};

/** Bed days (nights) of the stays inside [from, to): each stay clipped to the window. */
export function bedDaysIn(stays: readonly StayDays[], from: Date, to: Date): number {
  let nights = 0;
  for (const s of stays) {
    const start = Math.max(Date.parse(`${s.admitted}T00:00:00Z`), from.getTime());
    const end = Math.min(Date.parse(`${s.discharged}T00:00:00Z`), to.getTime());
    if (end > start) nights += Math.round((end - start) / DAY_MS);
  }
  return nights;
}

/** The mean of `values`, and its bootstrap 95 % interval (percentile, seeded: deterministic). */
export function bootstrapMean(
  values: readonly number[],
  options: { resamples?: number; seed?: number } = {},
): { mean: number; low: number; high: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const rand = random(options.seed ?? 20_130_101);
  const resamples = options.resamples ?? 2000;
  const means: number[] = [];
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[Math.floor(rand() * n)] as number;
    means.push(sum / n);
  }
  means.sort((a, b) => a - b);
  const at = (q: number) => means[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))] as number;
  const round = (x: number) => Math.round(x * 100) / 100;
  return { mean: round(mean), low: round(at(0.025)), high: round(at(0.975)) };
}

export const OBSERVATIONAL_CAVEAT =
  'Observational: the same people before and after telecare started, with no comparison group. ' +
  'Changes may come from ageing, recovery after the crisis that led to telecare (regression to the ' +
  'mean), other services or chance; no causal claim holds. The Whole System Demonstrator trial ' +
  '(Steventon et al., 2013) found no significant effect of telecare on bed days.';

export interface BedDaysFigure {
  readonly evidence: 'observational';
  readonly months: number;
  /** Residents whose whole window after the start is in the past. */
  readonly residents: Count;
  readonly bedDaysBefore: Count;
  readonly bedDaysAfter: Count;
  /** Per resident: mean bed days before, after, and the mean change (after − before) with its 95 % interval. */
  readonly meanBefore: number | null;
  readonly meanAfter: number | null;
  readonly meanChange: { readonly mean: number; readonly low: number; readonly high: number } | null;
  readonly comparison: null;
  readonly comparisonWhy: string;
  readonly caveat: string;
}

/**
 * Bed days in the `months` before and after each resident's telecare started, for residents whose
 * after-window has ended by `now`. Fewer than five residents: nothing is shown.
 */
export function bedDaysBeforeAfter(
  cohort: readonly CohortResident[],
  stays: readonly StayDays[],
  months: number,
  now: Date,
): BedDaysFigure {
  const byResident = new Map<string, StayDays[]>();
  for (const s of stays) byResident.set(s.residentId, [...(byResident.get(s.residentId) ?? []), s]);
  const eligible = cohort.filter((r) => addMonths(r.startedAt, months) <= now);
  const pairs = eligible.map((r) => {
    const own = byResident.get(r.residentId) ?? [];
    return {
      before: bedDaysIn(own, addMonths(r.startedAt, -months), r.startedAt),
      after: bedDaysIn(own, r.startedAt, addMonths(r.startedAt, months)),
    };
  });
  const total = (pick: (p: { before: number; after: number }) => number) =>
    pairs.reduce((s, p) => s + pick(p), 0);
  // A mean times the residents gives back its total: means and the change are shown only when
  // both totals are.
  const shown =
    protectCount(pairs.length) !== null &&
    pairs.length > 0 &&
    protectCount(total((p) => p.before)) !== null &&
    protectCount(total((p) => p.after)) !== null;
  return {
    evidence: 'observational',
    months,
    residents: protectCount(pairs.length),
    bedDaysBefore: pairs.length >= 5 ? protectCount(total((p) => p.before)) : null,
    bedDaysAfter: pairs.length >= 5 ? protectCount(total((p) => p.after)) : null,
    meanBefore: shown ? Math.round((total((p) => p.before) / pairs.length) * 100) / 100 : null,
    meanAfter: shown ? Math.round((total((p) => p.after) / pairs.length) * 100) / 100 : null,
    meanChange: shown ? bootstrapMean(pairs.map((p) => p.after - p.before)) : null,
    comparison: null,
    comparisonWhy:
      'no comparison group in the data yet (residents referred but not yet installed, or a matched cohort): the change is not an effect of telecare',
    caveat: OBSERVATIONAL_CAVEAT,
  };
}

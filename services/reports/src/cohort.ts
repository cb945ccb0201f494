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

/** The mean change (after − before) per resident with its bootstrap 95 % interval. */
export interface MeanChange {
  readonly mean: number;
  readonly low: number;
  readonly high: number;
}

/** One quantity in the `months` before and after each resident's telecare started. */
interface BeforeAfter {
  /** Residents whose whole window after the start is in the past, or null when under five. */
  readonly residents: Count;
  readonly before: number | null;
  readonly after: number | null;
  readonly meanBefore: number | null;
  readonly meanAfter: number | null;
  readonly meanChange: MeanChange | null;
}

type Pair = { before: number; after: number };
const round2 = (x: number) => Math.round(x * 100) / 100;

/** The pairs (before, after) of the residents whose after-window has ended by `now`. */
function pairsOf(
  cohort: readonly CohortResident[],
  measure: (residentId: string, from: Date, to: Date) => number,
  months: number,
  now: Date,
): Pair[] {
  return cohort
    .filter((r) => addMonths(r.startedAt, months) <= now)
    .map((r) => ({
      before: measure(r.residentId, addMonths(r.startedAt, -months), r.startedAt),
      after: measure(r.residentId, r.startedAt, addMonths(r.startedAt, months)),
    }));
}

/**
 * Totals, means and the mean change of the pairs. `protect` says whether a total may be shown
 * (a count of bed days is suppressed under five; hours are not counts of people). A mean times
 * the residents gives back its total: means and the change are shown only when both totals are.
 */
function beforeAfter(pairs: readonly Pair[], protect: (total: number) => number | null): BeforeAfter {
  const total = (pick: (p: Pair) => number) => round2(pairs.reduce((s, p) => s + pick(p), 0));
  const enough = protectCount(pairs.length) !== null && pairs.length > 0;
  const before = enough ? protect(total((p) => p.before)) : null;
  const after = enough ? protect(total((p) => p.after)) : null;
  const shown = enough && before !== null && after !== null;
  return {
    residents: protectCount(pairs.length),
    before,
    after,
    meanBefore: shown ? round2(total((p) => p.before) / pairs.length) : null,
    meanAfter: shown ? round2(total((p) => p.after) / pairs.length) : null,
    meanChange: shown ? bootstrapMean(pairs.map((p) => round2(p.after - p.before))) : null,
  };
}

/**
 * Why there is no comparison group. Residents referred but not yet installed would be one, but the
 * registry records no referral (a resident is entered when telecare is arranged, with no referral
 * date), and no matched cohort is loaded.
 */
const NO_COMPARISON =
  'no comparison group: the registry records no referral state or date, so residents referred but not yet installed cannot be told apart, and no matched cohort is loaded; the change is not an effect of telecare';

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
  readonly meanChange: MeanChange | null;
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
  const byResident = groupBy(stays);
  const pairs = pairsOf(cohort, (id, from, to) => bedDaysIn(byResident.get(id) ?? [], from, to), months, now);
  const f = beforeAfter(pairs, protectCount);
  return {
    evidence: 'observational',
    months,
    residents: f.residents,
    bedDaysBefore: f.before,
    bedDaysAfter: f.after,
    meanBefore: f.meanBefore,
    meanAfter: f.meanAfter,
    meanChange: f.meanChange,
    comparison: null,
    comparisonWhy: NO_COMPARISON,
    caveat: OBSERVATIONAL_CAVEAT,
  };
}

function groupBy<T extends { residentId: string }>(rows: readonly T[]): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const row of rows) out.set(row.residentId, [...(out.get(row.residentId) ?? []), row]);
  return out;
}

/** A care package: hours per week from `from` to `to` (days, both inclusive; null: still running). */
export interface CarePackageDays {
  readonly residentId: string;
  readonly hoursPerWeek: number;
  readonly from: string;
  readonly to: string | null;
}

/** Hours of care inside [from, to): each package's weekly hours over the days it overlaps. */
export function careHoursIn(packages: readonly CarePackageDays[], from: Date, to: Date): number {
  let hours = 0;
  for (const p of packages) {
    const start = Math.max(Date.parse(`${p.from}T00:00:00Z`), from.getTime());
    const end = Math.min(p.to === null ? Infinity : Date.parse(`${p.to}T00:00:00Z`) + DAY_MS, to.getTime());
    if (end > start) hours += (p.hoursPerWeek * Math.round((end - start) / DAY_MS)) / 7;
  }
  return round2(hours);
}

export interface CareHoursFigure {
  readonly evidence: 'observational';
  readonly months: number;
  readonly residents: Count;
  readonly careHoursBefore: number | null;
  readonly careHoursAfter: number | null;
  /** Per resident: mean hours before, after, and the mean change with its 95 % interval. */
  readonly meanBefore: number | null;
  readonly meanAfter: number | null;
  readonly meanChange: MeanChange | null;
  readonly comparison: null;
  readonly comparisonWhy: string;
  readonly caveat: string;
}

/** Care hours in the `months` before and after each resident's telecare started; as bed days. */
export function careHoursBeforeAfter(
  cohort: readonly CohortResident[],
  packages: readonly CarePackageDays[],
  months: number,
  now: Date,
): CareHoursFigure {
  const byResident = groupBy(packages);
  const pairs = pairsOf(
    cohort,
    (id, from, to) => careHoursIn(byResident.get(id) ?? [], from, to),
    months,
    now,
  );
  const f = beforeAfter(pairs, (total) => total);
  return {
    evidence: 'observational',
    months,
    residents: f.residents,
    careHoursBefore: f.before,
    careHoursAfter: f.after,
    meanBefore: f.meanBefore,
    meanAfter: f.meanAfter,
    meanChange: f.meanChange,
    comparison: null,
    comparisonWhy: NO_COMPARISON,
    caveat: OBSERVATIONAL_CAVEAT.replace('on bed days', 'on the use of hospital or social care'),
  };
}

import { random } from './seed.ts';
import { type Count, protectCount } from './suppress.ts';

const DAY_MS = 86_400_000;
const round2 = (x: number) => Math.round(x * 100) / 100;

export interface CohortResident {
  readonly residentId: string;
  /**
   * When telecare started: the registry's first install, or the first event the service saw from
   * any of the resident's devices. For a resident still waiting, the day they were referred.
   */
  readonly startedAt: Date;
  /** When they were referred for telecare, when the registry records it. */
  readonly referredAt?: Date;
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

/**
 * A statistic and its bootstrap 95 % interval: `resample(rand)` computes the statistic on one
 * resample; the interval is the 2.5th and 97.5th centiles of `resamples` of them (percentile
 * method, seeded: deterministic).
 */
function bootstrap(
  estimate: number,
  resample: (rand: () => number) => number,
  options: { resamples?: number; seed?: number },
): { mean: number; low: number; high: number } {
  const rand = random(options.seed ?? 20_130_101);
  const resamples = options.resamples ?? 2000;
  const stats: number[] = [];
  for (let r = 0; r < resamples; r++) stats.push(resample(rand));
  stats.sort((x, y) => x - y);
  const at = (q: number) => stats[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))] as number;
  return { mean: round2(estimate), low: round2(at(0.025)), high: round2(at(0.975)) };
}

const meanOf = (values: readonly number[]) => values.reduce((s, v) => s + v, 0) / values.length;

/** The mean of one resample of `values` (drawn with replacement, as many as there are). */
const resampledMean = (values: readonly number[], rand: () => number): number => {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[Math.floor(rand() * values.length)] as number;
  return sum / values.length;
};

/** The mean of `values`, and its bootstrap 95 % interval (percentile, seeded: deterministic). */
export function bootstrapMean(
  values: readonly number[],
  options: { resamples?: number; seed?: number } = {},
): { mean: number; low: number; high: number } {
  return bootstrap(meanOf(values), (rand) => resampledMean(values, rand), options);
}

/**
 * The difference of two groups' means (a − b) and its bootstrap 95 % interval: each resample
 * draws each group from itself, with replacement (percentile, seeded: deterministic).
 */
export function bootstrapDifference(
  a: readonly number[],
  b: readonly number[],
  options: { resamples?: number; seed?: number } = {},
): { mean: number; low: number; high: number } {
  return bootstrap(meanOf(a) - meanOf(b), (rand) => resampledMean(a, rand) - resampledMean(b, rand), options);
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
export interface BeforeAfter {
  /** Residents whose whole window after the start is in the past, or null when under five. */
  readonly residents: Count;
  readonly before: number | null;
  readonly after: number | null;
  readonly meanBefore: number | null;
  readonly meanAfter: number | null;
  readonly meanChange: MeanChange | null;
}

type Pair = { before: number; after: number };

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
 * The residents referred for telecare and not yet installed, each with their referral as the day
 * their window turns (`startedAt`); or, when there are none to compare with, why.
 */
export type Waiting = { readonly referred: readonly CohortResident[] } | { readonly why: string };

/**
 * Residents referred and still waiting: the comparison group, when the registry records referrals.
 * The before/after fields are theirs, over the windows around their referral.
 */
export interface ComparisonFigure extends BeforeAfter {
  readonly group: 'referred-not-yet-installed';
  /** The installed residents with a referral date whose window after it has passed, or null under five. */
  readonly installedResidents: Count;
  /** Their mean change over the same windows around their referral, with its 95 % interval. */
  readonly installedMeanChange: MeanChange | null;
  /** Installed residents of the main figure left out of this comparison: no referral date recorded. */
  readonly installedWithoutReferral: Count;
  /**
   * The difference in differences: the installed residents' mean change around their referral
   * minus this group's, per resident, with its bootstrap 95 % interval (each group resampled from
   * itself).
   */
  readonly difference: MeanChange | null;
  readonly method: string;
}

export const COMPARISON_METHOD =
  'Residents referred for telecare and not installed yet, compared over the same-length windows ' +
  "before and after their referral; the difference in differences is the installed residents' mean " +
  "change minus the waiting residents' mean change, with a bootstrap 95 % interval (2,000 resamples " +
  'of each group, percentile method, fixed seed).';

export const COMPARISON_CAVEAT =
  'Observational, not randomised: the comparison group is residents referred and still waiting, ' +
  'not a control group. Those installed first may have been judged at higher risk, and those still ' +
  'waiting may have lower needs, have declined, or have moved into care; the difference in ' +
  'differences assumes both groups would have changed alike without telecare, which these data ' +
  'cannot show. An interval that includes zero means no difference was found. The Whole System ' +
  'Demonstrator trial (Steventon et al., 2013) found no significant effect of telecare on bed days.';

/** Why there is no comparison group when the registry records no referral in scope. */
export const NO_REFERRALS =
  "no comparison group: no resident in these districts is recorded as referred and not yet installed (the registry's referral date), and no matched cohort is loaded; the change is not an effect of telecare";

/** Why there is no comparison group without the registry (referral dates live there). */
export const NO_REGISTRY_COMPARISON =
  'no comparison group: referral dates come from the registry, which is not configured; the change is not an effect of telecare';

/**
 * The comparison with the residents still waiting, or why there is none: fewer than five whose
 * whole window after the referral has passed, and the difference is not shown.
 */
function compare(
  cohort: readonly CohortResident[],
  waiting: Waiting,
  measure: (residentId: string, from: Date, to: Date) => number,
  months: number,
  now: Date,
  protect: (total: number) => number | null,
): { comparison: ComparisonFigure | null; comparisonWhy: string | null } {
  if ('why' in waiting) return { comparison: null, comparisonWhy: waiting.why };
  const pairs = pairsOf(waiting.referred, measure, months, now);
  if (pairs.length === 0)
    return {
      comparison: null,
      comparisonWhy: `no comparison group: no resident referred ${months} months ago or more is still waiting for an install; the change is not an effect of telecare`,
    };
  // Both groups from the same event, their referral: the installed (a few weeks later, as usual)
  // and those still waiting. An installed resident with no referral date is left out of it.
  const referred = cohort.flatMap((r) => (r.referredAt ? [{ ...r, startedAt: r.referredAt }] : []));
  const unreferred = cohort.filter((r) => !r.referredAt && addMonths(r.startedAt, months) <= now).length;
  const installedPairs = pairsOf(referred, measure, months, now);
  const f = beforeAfter(pairs, protect);
  const treated = beforeAfter(installedPairs, protect);
  const changes = (ps: readonly Pair[]) => ps.map((p) => round2(p.after - p.before));
  return {
    comparison: {
      group: 'referred-not-yet-installed',
      residents: f.residents,
      before: f.before,
      after: f.after,
      meanBefore: f.meanBefore,
      meanAfter: f.meanAfter,
      meanChange: f.meanChange,
      installedResidents: treated.residents,
      installedMeanChange: treated.meanChange,
      installedWithoutReferral: protectCount(unreferred),
      difference:
        f.meanChange && treated.meanChange
          ? bootstrapDifference(changes(installedPairs), changes(pairs))
          : null,
      method: COMPARISON_METHOD,
    },
    comparisonWhy: null,
  };
}

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
  /** Residents referred and still waiting, over the same windows around their referral; or null. */
  readonly comparison: ComparisonFigure | null;
  /** Why there is no comparison (null when there is one). */
  readonly comparisonWhy: string | null;
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
  waiting: Waiting = { why: NO_REFERRALS },
): BedDaysFigure {
  const byResident = groupBy(stays);
  const measure = (id: string, from: Date, to: Date) => bedDaysIn(byResident.get(id) ?? [], from, to);
  const pairs = pairsOf(cohort, measure, months, now);
  const f = beforeAfter(pairs, protectCount);
  const c = compare(cohort, waiting, measure, months, now, protectCount);
  return {
    evidence: 'observational',
    months,
    residents: f.residents,
    bedDaysBefore: f.before,
    bedDaysAfter: f.after,
    meanBefore: f.meanBefore,
    meanAfter: f.meanAfter,
    meanChange: f.meanChange,
    ...c,
    caveat: c.comparison ? COMPARISON_CAVEAT : OBSERVATIONAL_CAVEAT,
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
  readonly comparison: ComparisonFigure | null;
  readonly comparisonWhy: string | null;
  readonly caveat: string;
}

/** Care hours in the `months` before and after each resident's telecare started; as bed days. */
export function careHoursBeforeAfter(
  cohort: readonly CohortResident[],
  packages: readonly CarePackageDays[],
  months: number,
  now: Date,
  waiting: Waiting = { why: NO_REFERRALS },
): CareHoursFigure {
  const byResident = groupBy(packages);
  const measure = (id: string, from: Date, to: Date) => careHoursIn(byResident.get(id) ?? [], from, to);
  const pairs = pairsOf(cohort, measure, months, now);
  const hours = (total: number) => total;
  const f = beforeAfter(pairs, hours);
  const c = compare(cohort, waiting, measure, months, now, hours);
  const caveat = c.comparison ? COMPARISON_CAVEAT : OBSERVATIONAL_CAVEAT;
  return {
    evidence: 'observational',
    months,
    residents: f.residents,
    careHoursBefore: f.before,
    careHoursAfter: f.after,
    meanBefore: f.meanBefore,
    meanAfter: f.meanAfter,
    meanChange: f.meanChange,
    ...c,
    caveat: caveat.replace('on bed days', 'on the use of hospital or social care'),
  };
}

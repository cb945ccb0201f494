import { random } from './seed.ts';
import { type Count, publishCount, ROUND_TO, SUPPRESS_BELOW } from './suppress.ts';

const DAY_MS = 86_400_000;
const round2 = (x: number) => Math.round(x * 100) / 100;
const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * The steps the before/after totals are published to (residents are rounded to 5 as every count
 * is). One resident joining the cohort moves a total by their own bed days or hours: a step about
 * one usual contribution (a stay of a week or so; a package of about ten hours a week over six
 * months) leaves the difference of two answers a range that holds both none and that much
 * (docs/reports.md, "Asked again over time").
 */
export const BED_DAYS_ROUND_TO = 10;
export const CARE_HOURS_ROUND_TO = 250;

/**
 * A before/after total as published: rounded to `step`; one that is not zero but rounds to zero
 * (bed days 1–4, a few hours) is suppressed rather than shown as none.
 */
export const publishTotal = (total: number, step: number): Count => {
  const rounded = Math.round(total / step) * step;
  return total !== 0 && rounded === 0 ? null : rounded;
};

/**
 * The first of the month (UTC) of `now`: the cohort is taken as at it, so a figure changes once a
 * month, not each day a resident's window ends.
 */
export const cohortAsOf = (now: Date): Date => new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));

export interface CohortResident {
  readonly residentId: string;
  /**
   * When telecare started: the registry's first install, or the first event the service saw from
   * any of the resident's devices. For a resident still waiting, the day they were referred.
   */
  readonly startedAt: Date;
  /** When they were referred for telecare, when the registry records it. */
  readonly referredAt?: Date;
  /** Their postcode district: a district with under five residents in a window is left out of it. */
  readonly district?: string;
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
/** The pairs of a window, and how many residents of districts too small to show were left out. */
type Pairs = Pair[] & { readonly leftOut: number };

/** Whether a resident's district is one of those asked for (all when none are named). */
const askedFor = (districts: readonly string[] | null, district: string | undefined): boolean =>
  districts === null || (district !== undefined && districts.includes(district));

/**
 * The residents of `districts` (all: null) whose after-window has ended by `asOf` (the first of
 * the month: `cohortAsOf`). `group` is every district's, so that a district with fewer than five such
 * residents is judged the same whatever is asked: those small districts count as one pool, in a
 * figure only when the figure covers every one of them and they hold five residents together, and
 * else left out of it. Figures for two sets of districts, one inside the other, would otherwise
 * give back by subtraction the residents of a district too small to be shown alone (their number
 * and their bed days); now every difference between two figures is a district of five or more, or
 * the whole pool (docs/reports.md, "Small districts").
 */
function membersOf(
  group: readonly CohortResident[],
  months: number,
  asOf: Date,
  districts: readonly string[] | null,
): CohortResident[] & { readonly leftOut: number } {
  const ended = group.filter((r) => addMonths(r.startedAt, months) <= asOf);
  const inDistrict = new Map<string | undefined, number>();
  for (const r of ended) inDistrict.set(r.district, (inDistrict.get(r.district) ?? 0) + 1);
  const small = [...inDistrict].filter(([, n]) => n < SUPPRESS_BELOW);
  const pool =
    small.reduce((sum, [, n]) => sum + n, 0) >= SUPPRESS_BELOW &&
    small.every(([district]) => askedFor(districts, district));
  const inScope = ended.filter((r) => askedFor(districts, r.district));
  const members = inScope.filter((r) => pool || (inDistrict.get(r.district) ?? 0) >= SUPPRESS_BELOW);
  return Object.assign(members, { leftOut: inScope.length - members.length });
}

/** The pairs (before, after) of `membersOf` the group. */
function pairsOf(
  cohort: readonly CohortResident[],
  measure: (residentId: string, from: Date, to: Date) => number,
  months: number,
  asOf: Date,
  districts: readonly string[] | null,
): Pairs {
  const members = membersOf(cohort, months, asOf, districts);
  const pairs: Pair[] = members.map((r) => ({
    before: measure(r.residentId, addMonths(r.startedAt, -months), r.startedAt),
    after: measure(r.residentId, r.startedAt, addMonths(r.startedAt, months)),
  }));
  return Object.assign(pairs, { leftOut: members.leftOut });
}

/** A residents count as published: as few as those left out when none is shown, else rounded. */
const residentsOf = (shown: number, leftOut: number): Count =>
  shown === 0 && leftOut > 0 ? null : publishCount(shown);

/** Up to one significant figure (0.34 → 0.4, 1.2 → 2, 13 → 20): coarse, and never narrower. */
const upToOneFigure = (x: number): number => {
  if (x <= 0) return 0;
  const unit = 10 ** Math.floor(Math.log10(x));
  // Through a thousandth of the unit first, so that 0.3 is not taken for 0.30000000000000004.
  return Math.ceil(Math.round((x / unit) * 1000) / 1000) * unit;
};

/**
 * The most the rounding can have moved a mean change worked from rounded figures, from those
 * figures alone: each total is within half a step of its true value (so their difference within a
 * step), the residents within 2 of theirs, and at least five; and the mean is shown to tenths.
 */
const roundingSlack = (mean: number, residents: number, step: number): number => {
  const fewest = Math.max(SUPPRESS_BELOW, residents - 2);
  return step / fewest + (Math.abs(mean) * 2) / fewest + 0.05;
};

/**
 * An interval shown with a mean worked from the rounded totals. Its ends come from the exact
 * changes, which move when one resident joins: so only its distances below and above the exact
 * mean are kept, each rounded up to one significant figure, and set about the published mean,
 * widened by the most the rounding can have moved that mean (`slack`), its ends to tenths, outward.
 * One resident moves it only across a step, and it is never narrower than the exact one.
 */
const around = (mean: number, exact: MeanChange, slack: number): MeanChange => ({
  mean,
  low: Math.floor((mean - upToOneFigure(round2(exact.mean - exact.low)) - slack) * 10) / 10,
  high: Math.ceil((mean + upToOneFigure(round2(exact.high - exact.mean)) + slack) * 10) / 10,
});

/**
 * Totals, means and the mean change of the pairs, as published: residents rounded to 5 (none under
 * five), each total rounded to `step` (`publishTotal`), and the means worked from those rounded
 * figures, so that they tell nothing the figures do not (a mean times the residents gives back a
 * total). The mean change is the rounded after less the rounded before per rounded resident, and
 * its interval, from the exact changes, is widened to hold it. Means and the change are shown only
 * when both totals are.
 */
function beforeAfter(pairs: Pairs, step: number): BeforeAfter & { readonly slack: number } {
  const total = (pick: (p: Pair) => number) => round2(pairs.reduce((s, p) => s + pick(p), 0));
  const residents = residentsOf(pairs.length, pairs.leftOut);
  const enough = residents !== null && residents > 0;
  const before = enough
    ? publishTotal(
        total((p) => p.before),
        step,
      )
    : null;
  const after = enough
    ? publishTotal(
        total((p) => p.after),
        step,
      )
    : null;
  if (!enough || before === null || after === null)
    return { residents, before, after, meanBefore: null, meanAfter: null, meanChange: null, slack: 0 };
  const mean = round1((after - before) / residents);
  const slack = roundingSlack(mean, residents, step);
  return {
    residents,
    before,
    after,
    meanBefore: round1(before / residents),
    meanAfter: round1(after / residents),
    meanChange: around(mean, bootstrapMean(pairs.map((p) => round2(p.after - p.before))), slack),
    slack,
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
  /**
   * Installed residents of the main figure left out of this comparison (no referral date recorded),
   * counted as the cohort is: small districts pooled, rounded to 5, null under five.
   */
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
  asOf: Date,
  step: number,
  districts: readonly string[] | null,
): { comparison: ComparisonFigure | null; comparisonWhy: string | null } {
  if ('why' in waiting) return { comparison: null, comparisonWhy: waiting.why };
  if (!waiting.referred.some((r) => askedFor(districts, r.district)))
    return { comparison: null, comparisonWhy: NO_REFERRALS };
  const pairs = pairsOf(waiting.referred, measure, months, asOf, districts);
  if (pairs.length === 0 && pairs.leftOut === 0)
    return {
      comparison: null,
      comparisonWhy: `no comparison group: no resident referred ${months} months ago or more is still waiting for an install; the change is not an effect of telecare`,
    };
  // Both groups from the same event, their referral: the installed (a few weeks later, as usual)
  // and those still waiting. An installed resident with no referral date is left out of it.
  const referred = cohort.flatMap((r) => (r.referredAt ? [{ ...r, startedAt: r.referredAt }] : []));
  // Counted as the cohort is: small districts pooled or left out, then rounded.
  const unreferred = membersOf(
    cohort.filter((r) => !r.referredAt),
    months,
    asOf,
    districts,
  );
  const installedPairs = pairsOf(referred, measure, months, asOf, districts);
  const f = beforeAfter(pairs, step);
  const treated = beforeAfter(installedPairs, step);
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
      installedWithoutReferral: residentsOf(unreferred.length, unreferred.leftOut),
      difference:
        f.meanChange && treated.meanChange
          ? around(
              round1(treated.meanChange.mean - f.meanChange.mean),
              bootstrapDifference(changes(installedPairs), changes(pairs)),
              treated.slack + f.slack,
            )
          : null,
      method: COMPARISON_METHOD,
    },
    comparisonWhy: null,
  };
}

export interface BedDaysFigure {
  readonly evidence: 'observational';
  readonly months: number;
  /** The day (the first of this month, UTC) by which a resident's window must have ended to count. */
  readonly asOf: string;
  /** The bases residents and the totals are rounded to. */
  readonly roundedTo: { readonly residents: number; readonly total: number };
  /** Residents whose whole window after the start ended by `asOf`, rounded to 5; null under five. */
  readonly residents: Count;
  /** Rounded to `BED_DAYS_ROUND_TO`. */
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
 * after-window ended by the first of `now`'s month. Fewer than five residents: nothing is shown.
 */
export function bedDaysBeforeAfter(
  cohort: readonly CohortResident[],
  stays: readonly StayDays[],
  months: number,
  now: Date,
  waiting: Waiting = { why: NO_REFERRALS },
  /** The districts asked for (null: all); `cohort` and `waiting` are every district's. */
  districts: readonly string[] | null = null,
): BedDaysFigure {
  const byResident = groupBy(stays);
  const measure = (id: string, from: Date, to: Date) => bedDaysIn(byResident.get(id) ?? [], from, to);
  const asOf = cohortAsOf(now);
  const f = beforeAfter(pairsOf(cohort, measure, months, asOf, districts), BED_DAYS_ROUND_TO);
  const c = compare(cohort, waiting, measure, months, asOf, BED_DAYS_ROUND_TO, districts);
  return {
    evidence: 'observational',
    months,
    asOf: asOf.toISOString().slice(0, 10),
    roundedTo: { residents: ROUND_TO, total: BED_DAYS_ROUND_TO },
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
  readonly asOf: string;
  readonly roundedTo: { readonly residents: number; readonly total: number };
  readonly residents: Count;
  /** Rounded to `CARE_HOURS_ROUND_TO`; null when hours there were round to none. */
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
  /** The districts asked for (null: all); `cohort` and `waiting` are every district's. */
  districts: readonly string[] | null = null,
): CareHoursFigure {
  const byResident = groupBy(packages);
  const measure = (id: string, from: Date, to: Date) => careHoursIn(byResident.get(id) ?? [], from, to);
  const asOf = cohortAsOf(now);
  const f = beforeAfter(pairsOf(cohort, measure, months, asOf, districts), CARE_HOURS_ROUND_TO);
  const c = compare(cohort, waiting, measure, months, asOf, CARE_HOURS_ROUND_TO, districts);
  const caveat = c.comparison ? COMPARISON_CAVEAT : OBSERVATIONAL_CAVEAT;
  return {
    evidence: 'observational',
    months,
    asOf: asOf.toISOString().slice(0, 10),
    roundedTo: { residents: ROUND_TO, total: CARE_HOURS_ROUND_TO },
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

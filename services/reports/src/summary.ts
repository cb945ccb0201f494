import { deviceKindLabel } from '@telecare/contracts';
import { type DemandReport, type DistrictDemand, demandByDistrict, demandReport } from './demand.ts';
import {
  ALARM_PRIORITIES,
  ANSWER_TARGETS,
  ATTENDANCE_TARGETS,
  LONG_LIE_MINUTES,
  type MeasuredCounts,
  measure,
  median,
  monthsOf,
  type Rows,
  rowsByMonth,
  type TargetCount,
} from './figures.ts';
import { type ModelledSavings, modelledSavings, type SavingsAssumptions } from './modelled.ts';
import {
  type Count,
  type Group,
  MEDIAN_AT_LEAST,
  per1000,
  percent,
  publishCount,
  publishGroup,
  ROUND_TO,
  SUPPRESS_BELOW,
} from './suppress.ts';

/** One target as shown: met and missed (suppressed together when either is small), the share, the verdict. */
export interface TargetFigure {
  readonly target: number;
  readonly of: Count;
  readonly met: Count;
  readonly missed: Count;
  readonly percent: number | null;
  /** Whether the share met the target; null when there is nothing to judge or the base is hidden. */
  readonly achieved: boolean | null;
}

const plus = (a: Count, b: Count): Count => (a === null || b === null ? null : a + b);

/** The share shown for a target: one decimal place, so just under the target is a tenth below it. */
const JUST_UNDER = 0.1;

export function targetFigure(count: TargetCount, target: number): TargetFigure {
  const group = publishGroup({ met: count.met, missed: count.missed });
  const of = group.total;
  const raw = count.met + count.missed;
  const achieved = of === null || raw === 0 ? null : (count.met / raw) * 100 >= target;
  // Of the published cells, so it gives away nothing they do not (and, both rounded, is at most
  // 100). Rounding moves it by up to a few points, across the target either way: a missed target
  // (388 of 400, 97.0 %, read as 390 of 400, 97.5 %) would read as met, in the monthly trend with
  // no verdict beside it. So it never crosses the target against the verdict, which tells no more
  // than the verdict does.
  const share = percent(group.cells.met ?? null, plus(group.cells.met ?? null, group.cells.missed ?? null));
  const shown =
    share === null || achieved === null
      ? share
      : achieved
        ? Math.max(share, target)
        : Math.min(share, Math.round((target - JUST_UNDER) * 10) / 10);
  return {
    target,
    of,
    met: group.cells.met ?? null,
    missed: group.cells.missed ?? null,
    percent: shown,
    achieved,
  };
}

/** A median and how many values it is of. */
export interface Median {
  readonly count: number;
  readonly value: number | null;
}

export const medianOf = (values: readonly number[]): Median => ({
  count: values.length,
  value: median(values),
});

/** A median shown only over at least `MEDIAN_AT_LEAST` values: over fewer it is someone's own. */
const protectedMedian = (m: Median): number | null => (m.count >= MEDIAN_AT_LEAST ? m.value : null);

/**
 * What a summary is made from: the period's counts, each month's, each district's. Counted from
 * rows (`countsOf`) or read already counted from the database (`ReportsStore.counts`): the same.
 */
export interface SummaryCounts {
  readonly total: Omit<MeasuredCounts, 'answer' | 'attendance' | 'falls'> & {
    readonly answer: Omit<MeasuredCounts['answer'], 'answerSeconds'> & { readonly seconds: Median };
    readonly attendance: Omit<MeasuredCounts['attendance'], 'minutes'> & { readonly minutes: Median };
    readonly falls: Omit<MeasuredCounts['falls'], 'onFloorMinutes'> & { readonly onFloorMinutes: Median };
  };
  /** Every month of the period (`YYYY-MM`), in order, a month without activity zero. */
  readonly months: ReadonlyMap<string, MonthCounts>;
  readonly districts: readonly DistrictDemand[];
}

/** What the monthly trend shows of a month. */
export interface MonthCounts {
  readonly activeResidents: number;
  readonly alerts: number;
  readonly within60s: TargetCount;
  readonly falls: number;
  readonly ambulances: number;
}

export const emptyMonth = (): MonthCounts => ({
  activeResidents: 0,
  alerts: 0,
  within60s: { met: 0, missed: 0 },
  falls: 0,
  ambulances: 0,
});

/** The counts of a summary from its rows (the pure path: the tests and the benchmark's baseline). */
export function countsOf(rows: Rows, months: readonly string[], now: Date): SummaryCounts {
  const c = measure(rows, now);
  const byMonth = rowsByMonth(rows, months);
  const { answerSeconds, ...answer } = c.answer;
  const { minutes, ...attendance } = c.attendance;
  const { onFloorMinutes, ...falls } = c.falls;
  return {
    total: {
      ...c,
      answer: { ...answer, seconds: medianOf(answerSeconds) },
      attendance: { ...attendance, minutes: medianOf(minutes) },
      falls: { ...falls, onFloorMinutes: medianOf(onFloorMinutes) },
    },
    months: new Map(
      months.map((m) => {
        const mc = measure(byMonth.get(m) as Rows, now);
        return [
          m,
          {
            activeResidents: mc.activeResidents,
            alerts: sum(mc.alertsByType),
            within60s: mc.answer.within60s,
            falls: mc.falls.falls,
            ambulances: mc.ambulances,
          },
        ];
      }),
    ),
    districts: demandByDistrict(rows),
  };
}

/** Why a figure leaves something out: every report says what it did not count. */
export interface Note {
  readonly what: string;
  readonly count: Count;
  readonly why: string;
}

export interface Summary {
  readonly period: { readonly from: string; readonly to: string };
  readonly districts: readonly string[] | null;
  readonly evidence: 'measured';
  readonly residents: { readonly active: Count; readonly devices: Count; readonly technology: Group };
  readonly alerts: { readonly byType: Group; readonly byPriority: Group; readonly per1000: number | null };
  readonly answer: {
    readonly priorities: readonly number[];
    readonly within60s: TargetFigure;
    readonly within180s: TargetFigure;
    readonly medianSeconds: number | null;
  };
  readonly attendance: {
    readonly visits: Count;
    readonly within45m: TargetFigure;
    readonly within60m: TargetFigure;
    readonly medianMinutes: number | null;
  };
  readonly outcomes: Group;
  readonly ambulances: { readonly count: Count; readonly per1000: number | null };
  readonly admissions: { readonly count: Count; readonly per1000: number | null };
  readonly falls: {
    readonly byAmbulance: Group;
    readonly per1000: number | null;
    readonly timeOnFloor: Group;
    readonly medianMinutesOnFloor: number | null;
    readonly longLieMinutes: number;
  };
  readonly faults: {
    readonly byType: Group;
    readonly per1000Devices: number | null;
    readonly supervisionLosses: Count;
    /** Supervision losses by the kind of device gone silent ('not recorded' when its alert did not say). */
    readonly supervisionLossesByKind: Group;
    readonly lateDeliveries: Count;
  };
  /**
   * Each device kind the summary counts by (`technology`, `supervisionLossesByKind`) in words, as
   * people read them ("movement sensor" for `pir`): the counts stay keyed by the kinds' ids.
   */
  readonly deviceKinds: Readonly<Record<string, string>>;
  readonly trend: {
    readonly months: readonly string[];
    readonly activeResidents: readonly Count[];
    readonly alerts: Group;
    readonly alertsPer1000: readonly (number | null)[];
    readonly within60sPercent: readonly (number | null)[];
    readonly falls: Group;
    readonly ambulances: Group;
  };
  readonly demand: DemandReport;
  /** Null when modelled figures are switched off (the default). */
  readonly modelled: ModelledSavings | null;
  readonly notes: readonly Note[];
  readonly suppression: string;
  /** The base every count shown is rounded to (percentages and rates are of the rounded counts). */
  readonly roundedTo: number;
  /** The fewest values a median or centile is shown over. */
  readonly medianAtLeast: number;
}

const sum = (values: Record<string, number>): number => Object.values(values).reduce((a, b) => a + b, 0);

function monthlyTrend(
  byMonth: ReadonlyMap<string, MonthCounts>,
  months: readonly string[],
): Summary['trend'] {
  const per = months.map((m) => byMonth.get(m) ?? emptyMonth());
  const series = (pick: (c: MonthCounts) => number) =>
    publishGroup(Object.fromEntries(months.map((m, i) => [m, pick(per[i] as MonthCounts)])));
  const alerts = series((c) => c.alerts);
  const residents = per.map((c) => publishCount(c.activeResidents));
  return {
    months,
    activeResidents: residents,
    alerts,
    alertsPer1000: months.map((m, i) => per1000(alerts.cells[m] ?? null, residents[i] ?? null)),
    within60sPercent: per.map((c) => targetFigure(c.within60s, 97.5).percent),
    falls: series((c) => c.falls),
    ambulances: series((c) => c.ambulances),
  };
}

/**
 * The measured facts for a period, small numbers suppressed. `rows` are the period's (and
 * districts') rows; `leftOut` counts what the store could not place (cases without a district when
 * districts are asked for).
 */
export function summarise(rows: Rows, options: SummaryOptions): Summary {
  return summariseCounts(countsOf(rows, monthsOf(options.from, options.to), options.now), options);
}

export interface SummaryOptions {
  from: Date;
  to: Date;
  districts: readonly string[] | null;
  now: Date;
  unplaced?: number;
  /** Districts that touch (see demand.ts); the default links consecutive districts of one area. */
  adjacency?: string;
  /** Alerts one provider can take per 30 days, for the suggested clusters. */
  clusterAlertsPer30Days?: number;
  /** Set: the modelled what-if is shown with these assumptions. */
  savings?: SavingsAssumptions;
}

/** The measured facts for a period from its counts, small numbers suppressed. */
export function summariseCounts(counts: SummaryCounts, options: SummaryOptions): Summary {
  const c = counts.total;
  const residents = publishCount(c.activeResidents);
  const devices = publishCount(c.activeDevices);
  const ambulances = publishCount(c.ambulances);
  const admissions = publishCount(c.admissions);
  const byAmbulance = publishGroup({
    withAmbulance: c.falls.withAmbulance,
    withoutAmbulance: c.falls.withoutAmbulance,
  });
  const faults = publishGroup(c.faultsByType);
  const technology = publishGroup(c.technology);
  const supervisionLossesByKind = publishGroup(c.supervisionLossesByKind);
  const deviceKinds = Object.fromEntries(
    [...Object.keys(technology.cells), ...Object.keys(supervisionLossesByKind.cells)].map((kind) => [
      kind,
      deviceKindLabel(kind),
    ]),
  );
  const alertsByType = publishGroup(c.alertsByType);
  const [t60, t180] = ANSWER_TARGETS;
  const [a45, a60] = ATTENDANCE_TARGETS;
  const notes: Note[] = [
    {
      what: 'alarm calls neither answered nor waiting over 60 s',
      count: publishCount(c.answer.undecided60),
      why: 'still waiting under 60 s, or ended (cancelled) within 60 s unanswered: neither met nor missed',
    },
    {
      what: 'alarm calls neither answered nor waiting over 180 s',
      count: publishCount(c.answer.undecided180),
      why: 'still waiting under 180 s, or ended unanswered within 180 s',
    },
  ];
  if (options.unplaced)
    notes.push({
      what: 'cases whose resident has no known postcode district',
      count: publishCount(options.unplaced),
      why: 'districts were chosen, and these cannot be placed in any',
    });
  return {
    period: { from: options.from.toISOString(), to: options.to.toISOString() },
    districts: options.districts,
    evidence: 'measured',
    residents: { active: residents, devices, technology },
    alerts: {
      byType: alertsByType,
      byPriority: publishGroup(c.alertsByPriority),
      per1000: per1000(alertsByType.total, residents),
    },
    answer: {
      priorities: ALARM_PRIORITIES,
      within60s: targetFigure(c.answer.within60s, t60.percent),
      within180s: targetFigure(c.answer.within180s, t180.percent),
      medianSeconds: protectedMedian(c.answer.seconds),
    },
    attendance: {
      visits: publishCount(c.attendance.visits),
      within45m: targetFigure(c.attendance.within45m, a45.percent),
      within60m: targetFigure(c.attendance.within60m, a60.percent),
      medianMinutes: protectedMedian(c.attendance.minutes),
    },
    outcomes: publishGroup(c.outcomes),
    ambulances: { count: ambulances, per1000: per1000(ambulances, residents) },
    admissions: { count: admissions, per1000: per1000(admissions, residents) },
    falls: {
      byAmbulance,
      per1000: per1000(byAmbulance.total, residents),
      timeOnFloor: publishGroup({ upToAnHour: c.falls.shortLies, overAnHour: c.falls.longLies }),
      medianMinutesOnFloor: protectedMedian(c.falls.onFloorMinutes),
      longLieMinutes: LONG_LIE_MINUTES,
    },
    faults: {
      byType: faults,
      per1000Devices: per1000(faults.total, devices),
      supervisionLosses: publishCount(c.supervisionLosses),
      supervisionLossesByKind,
      lateDeliveries: publishCount(c.lateAlerts),
    },
    deviceKinds,
    trend: monthlyTrend(counts.months, monthsOf(options.from, options.to)),
    demand: demandReport(counts.districts, {
      ...(options.adjacency ? { adjacency: options.adjacency } : {}),
      capacity: Math.round(
        ((options.clusterAlertsPer30Days ?? 300) * (options.to.getTime() - options.from.getTime())) /
          (30 * 86_400_000),
      ),
    }),
    modelled: options.savings ? modelledSavings(c.falls.longLies, LONG_LIE_MINUTES, options.savings) : null,
    notes,
    suppression: `counts from 1 to ${SUPPRESS_BELOW - 1} are null, and so is any count or total that would give one back; every other count is rounded to the nearest ${ROUND_TO}, each total on its own (so cells need not add up to it), and percentages and rates are of the rounded counts (a target's share never across the target against the verdict on the true counts), so that two reports subtracted cannot give a hidden count back; periods are whole calendar months; a median or centile is null over fewer than ${MEDIAN_AT_LEAST} values`,
    roundedTo: ROUND_TO,
    medianAtLeast: MEDIAN_AT_LEAST,
  };
}

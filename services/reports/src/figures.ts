/**
 * The measured facts, computed from read-model rows by pure functions (no I/O, no clock): the
 * store selects the rows for a period and set of districts, these count them, `protect.ts` hides
 * small numbers. Definitions are in docs/reports.md.
 */
import { DEVICE_HEALTH_ALERTS } from './records.ts';

/** Alarm calls: the priorities answer targets count (DESIGN §6, TSA; as the helpline counts them). */
export const ALARM_PRIORITIES: readonly number[] = [1, 2];
export const ANSWER_TARGETS = [
  { seconds: 60, percent: 97.5 },
  { seconds: 180, percent: 99 },
] as const;
export const ATTENDANCE_TARGETS = [
  { minutes: 45, percent: 90 },
  { minutes: 60, percent: 100 },
] as const;
/** A fall with longer than this on the floor is a "long lie" (an hour, as the falls literature uses). */
export const LONG_LIE_MINUTES = 60;

export interface FactRow {
  readonly fact: string;
  readonly at: Date;
  readonly onFloorMinutes: number | null;
}

export interface CaseRow {
  readonly caseId: string;
  /** For the pseudonymised episode export only; no figure counts by it. */
  readonly residentId: string | null;
  readonly district: string | null;
  readonly priority: number | null;
  readonly type: string | null;
  /** The raise of the alert that opened it (or, failing that, when the case opened). */
  readonly raisedAt: Date;
  readonly acceptedAt: Date | null;
  readonly responderCalledAt: Date | null;
  readonly resolvedAt: Date | null;
  readonly closedAt: Date | null;
  readonly outcome: string | null;
  readonly facts: readonly FactRow[];
}

export interface AlertRow {
  readonly type: string;
  readonly priority: number;
  readonly district: string | null;
  readonly raisedAt: Date;
  readonly late: boolean;
  /** The kind of device the alert is about (a supervision loss: the pendant, the smoke detector), when it says. */
  readonly deviceKind: string | null;
}

/** A device heard in a month of the period (one row per device, district and month). */
export interface ActivityRow {
  readonly serial: string;
  readonly residentId: string;
  readonly deviceKind: string;
  readonly district: string | null;
  /** The first day (UTC, `YYYY-MM-DD`) it was heard in that month. */
  readonly day: string;
}

export interface FaultRow {
  readonly type: string;
  readonly district: string | null;
  readonly at: Date;
}

export interface Rows {
  readonly cases: readonly CaseRow[];
  readonly alerts: readonly AlertRow[];
  readonly activity: readonly ActivityRow[];
  readonly faults: readonly FaultRow[];
}

/** Counts met and missed for one target; `of` is their sum (the denominator). */
export interface TargetCount {
  readonly met: number;
  readonly missed: number;
}

export interface AnswerCount {
  readonly within60s: TargetCount;
  readonly within180s: TargetCount;
  /** Answered calls, for the median. */
  readonly answerSeconds: readonly number[];
  /** Left out of the 60 s denominator: still waiting under 60 s, or ended unanswered within it. */
  readonly undecided60: number;
  readonly undecided180: number;
}

const tally = (values: Iterable<string>): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
};

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const value =
    sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return Math.round(value * 10) / 10;
}

const seconds = (from: Date, to: Date): number => (to.getTime() - from.getTime()) / 1000;

/**
 * Answer times of alarm calls against 60 s and 180 s. An answered call counts in both
 * denominators. An unanswered one counts as a miss of a target once it waited longer than it
 * (until it ended, or until `now` while still open); before that it is neither met nor missed.
 */
export function answerCount(cases: readonly CaseRow[], now: Date): AnswerCount {
  const counts = { m60: 0, x60: 0, m180: 0, x180: 0, u60: 0, u180: 0 };
  const answerSeconds: number[] = [];
  for (const c of cases) {
    if (c.priority === null || !ALARM_PRIORITIES.includes(c.priority)) continue;
    if (c.acceptedAt) {
      const wait = seconds(c.raisedAt, c.acceptedAt);
      answerSeconds.push(wait);
      if (wait <= 60) counts.m60++;
      else counts.x60++;
      if (wait <= 180) counts.m180++;
      else counts.x180++;
      continue;
    }
    const end = c.resolvedAt ?? c.closedAt ?? now;
    const wait = seconds(c.raisedAt, end);
    if (wait > 60) counts.x60++;
    else counts.u60++;
    if (wait > 180) counts.x180++;
    else counts.u180++;
  }
  return {
    within60s: { met: counts.m60, missed: counts.x60 },
    within180s: { met: counts.m180, missed: counts.x180 },
    answerSeconds,
    undecided60: counts.u60,
    undecided180: counts.u180,
  };
}

const firstFact = (c: CaseRow, fact: string): FactRow | undefined =>
  c.facts.filter((f) => f.fact === fact).sort((a, b) => a.at.getTime() - b.at.getTime())[0];

export interface AttendanceCount {
  readonly visits: number;
  readonly within45m: TargetCount;
  readonly within60m: TargetCount;
  readonly minutes: readonly number[];
}

/**
 * Responder attendance: from the first responder call on the case (or, when none was recorded, the
 * alarm's raise) to the first `responder-arrived` fact.
 */
export function attendanceCount(cases: readonly CaseRow[]): AttendanceCount {
  const minutes: number[] = [];
  for (const c of cases) {
    const arrived = firstFact(c, 'responder-arrived');
    if (!arrived) continue;
    const from = c.responderCalledAt ?? c.raisedAt;
    minutes.push(Math.max(0, seconds(from, arrived.at) / 60));
  }
  const within = (limit: number) => minutes.filter((m) => m <= limit).length;
  return {
    visits: minutes.length,
    within45m: { met: within(45), missed: minutes.length - within(45) },
    within60m: { met: within(60), missed: minutes.length - within(60) },
    minutes,
  };
}

const hasFact = (c: CaseRow, fact: string): boolean => c.facts.some((f) => f.fact === fact);
export const hadAmbulance = (c: CaseRow): boolean =>
  c.outcome === 'ambulance' ||
  hasFact(c, 'ambulance-requested') ||
  hasFact(c, 'ambulance-attended') ||
  hasFact(c, 'ambulance-conveyed');
export const wasAdmitted = (c: CaseRow): boolean =>
  c.outcome === 'admitted-to-hospital' || hasFact(c, 'admitted');
/**
 * A fall: the resident was found on the floor, or a fall detector raised it and it was not closed as
 * a false alarm (a detector set off by a dropped pendant is not a fall, and counting it would swell
 * the falls closed without an ambulance).
 */
export const isFall = (c: CaseRow): boolean =>
  hasFact(c, 'found-on-floor') || (c.type === 'fall.detected' && c.outcome !== 'false-alarm');

export interface FallsCount {
  readonly falls: number;
  readonly withAmbulance: number;
  readonly withoutAmbulance: number;
  /** Falls with a recorded time on the floor. */
  readonly onFloorMinutes: readonly number[];
  readonly longLies: number;
  readonly shortLies: number;
}

export function fallsCount(cases: readonly CaseRow[]): FallsCount {
  const falls = cases.filter(isFall);
  const withAmbulance = falls.filter(hadAmbulance).length;
  const onFloorMinutes = falls.flatMap((c) => {
    const found = firstFact(c, 'found-on-floor');
    return found?.onFloorMinutes == null ? [] : [found.onFloorMinutes];
  });
  const longLies = onFloorMinutes.filter((m) => m > LONG_LIE_MINUTES).length;
  return {
    falls: falls.length,
    withAmbulance,
    withoutAmbulance: falls.length - withAmbulance,
    onFloorMinutes,
    longLies,
    shortLies: onFloorMinutes.length - longLies,
  };
}

export interface MeasuredCounts {
  readonly activeResidents: number;
  readonly activeDevices: number;
  readonly technology: Record<string, number>;
  readonly alertsByType: Record<string, number>;
  readonly alertsByPriority: Record<string, number>;
  readonly lateAlerts: number;
  readonly answer: AnswerCount;
  readonly attendance: AttendanceCount;
  /** Resolved cases by outcome code; open ones under `open`. */
  readonly outcomes: Record<string, number>;
  readonly ambulances: number;
  readonly admissions: number;
  readonly falls: FallsCount;
  readonly faultsByType: Record<string, number>;
  readonly supervisionLosses: number;
  /** Supervision losses by the kind of device gone silent (`NO_DEVICE_KIND` when the alert did not say). */
  readonly supervisionLossesByKind: Record<string, number>;
}

/** The kind a supervision loss is counted under when its alert named none (raised before alerts did). */
export const NO_DEVICE_KIND = 'not recorded';

/** Every measured count for one set of rows (a period and its districts, or one month of it). */
export function measure(rows: Rows, now: Date): MeasuredCounts {
  const residents = new Set(rows.activity.map((a) => a.residentId));
  const devices = new Map(rows.activity.map((a) => [a.serial, a.deviceKind]));
  return {
    activeResidents: residents.size,
    activeDevices: devices.size,
    technology: tally(devices.values()),
    alertsByType: tally(rows.alerts.map((a) => a.type)),
    alertsByPriority: tally(rows.alerts.map((a) => `P${a.priority}`)),
    lateAlerts: rows.alerts.filter((a) => a.late).length,
    answer: answerCount(rows.cases, now),
    attendance: attendanceCount(rows.cases),
    outcomes: tally(rows.cases.map((c) => c.outcome ?? 'open')),
    ambulances: rows.cases.filter(hadAmbulance).length,
    admissions: rows.cases.filter(wasAdmitted).length,
    falls: fallsCount(rows.cases),
    faultsByType: tally([
      ...rows.faults.map((f) => f.type),
      ...rows.alerts.filter((a) => DEVICE_HEALTH_ALERTS.has(a.type)).map((a) => a.type),
    ]),
    supervisionLosses: rows.alerts.filter((a) => a.type === 'supervision.lost').length,
    supervisionLossesByKind: tally(
      rows.alerts.filter((a) => a.type === 'supervision.lost').map((a) => a.deviceKind ?? NO_DEVICE_KIND),
    ),
  };
}

/** The calendar months (UTC, `YYYY-MM`) a period [from, to) touches. */
export function monthsOf(from: Date, to: Date): string[] {
  const months: string[] = [];
  const d = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), 1));
  while (d < to) {
    months.push(d.toISOString().slice(0, 7));
    d.setUTCMonth(d.getUTCMonth() + 1);
  }
  return months;
}

const monthOf = (d: Date | string): string =>
  typeof d === 'string' ? d.slice(0, 7) : d.toISOString().slice(0, 7);

/**
 * The rows of each month of the period, in one pass over them (not one per month: five years are
 * 60 months, and a read model of a few hundred thousand rows). A row of a month not listed is left out.
 */
export function rowsByMonth(rows: Rows, months: readonly string[]): Map<string, Rows> {
  const split = new Map(
    months.map((m) => [
      m,
      { cases: [], alerts: [], activity: [], faults: [] } as { [K in keyof Rows]: Rows[K][number][] },
    ]),
  );
  for (const c of rows.cases) split.get(monthOf(c.raisedAt))?.cases.push(c);
  for (const a of rows.alerts) split.get(monthOf(a.raisedAt))?.alerts.push(a);
  for (const a of rows.activity) split.get(monthOf(a.day))?.activity.push(a);
  for (const f of rows.faults) split.get(monthOf(f.at))?.faults.push(f);
  return split;
}

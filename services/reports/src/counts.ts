import { type DistrictDemand, UNPLACED } from './demand.ts';
import { median, NO_DEVICE_KIND } from './figures.ts';
import { DEVICE_HEALTH_ALERT_TYPES } from './records.ts';
import { emptyMonth, type Median, type MonthCounts, type SummaryCounts } from './summary.ts';

/**
 * A summary's counts as PostgreSQL returns them (`ReportsStore.counts`): groups of calls, alerts
 * and activity with how many each holds, and the middle values of each median. Assembled here,
 * without I/O, into the `SummaryCounts` that `countsOf` gives from rows.
 */

/** Calls grouped by month, district, outcome and the bucket of each target they fall in. */
export interface CaseGroup {
  readonly month: string;
  readonly district: string | null;
  readonly outcome: string | null;
  /**
   * Alarm calls: answered within 60 s (`a60`), within 180 s (`a180`), later (`alate`); unanswered
   * and waiting over 180 s (`ulate`), over 60 s (`umid`), not yet (`uearly`). Null: not an alarm call.
   */
  readonly answer: 'a60' | 'a180' | 'alate' | 'ulate' | 'umid' | 'uearly' | null;
  /** A responder visit within 45 min (`w45`), within 60 (`w60`), later (`late`); null: no visit. */
  readonly attend: 'w45' | 'w60' | 'late' | null;
  readonly ambulance: boolean;
  readonly admitted: boolean;
  readonly fall: boolean;
  /** A fall's time on the floor: over an hour (`long`), up to one (`short`), not recorded (null). */
  readonly lie: 'long' | 'short' | null;
  readonly n: number;
}

/** The one or two middle values of some values (ordered), and how many there are. */
export interface Middle {
  readonly count: number;
  readonly middle: readonly number[];
}

export interface CaseCounts {
  readonly groups: readonly CaseGroup[];
  /** Ms from raise to answer of answered alarm calls. */
  readonly answerMs: Middle;
  /** Ms from responder call to arrival (0 when recorded before it). */
  readonly attendMs: Middle;
  readonly onFloorMinutes: Middle;
  /** Per district, the nearest-rank 90th centile of attendance, in ms. */
  readonly attendP90Ms: readonly { readonly district: string | null; readonly v: number }[];
}

export interface AlertGroup {
  readonly month: string;
  readonly district: string | null;
  readonly type: string;
  readonly priority: number;
  readonly late: boolean;
  /** The kind of device the alerts are about, when they say (supervision losses). */
  readonly deviceKind: string | null;
  readonly n: number;
}

export interface ActivityCounts {
  /** Distinct residents: in the period (`month` and `district` null), a month, a district. */
  readonly residents: readonly {
    readonly by: 'all' | 'month' | 'district';
    readonly month: string | null;
    readonly district: string | null;
    readonly n: number;
  }[];
  /** Distinct devices by kind. */
  readonly devices: readonly { readonly kind: string; readonly n: number }[];
}

const medianFrom = (m: Middle, unit: (v: number) => number): Median => ({
  count: m.count,
  value: median(m.middle.map(unit)),
});

/** As `seconds()` and `attendanceCount` compute them from times. */
export const msToSeconds = (ms: number): number => ms / 1000;
export const msToMinutes = (ms: number): number => Math.max(0, ms / 1000 / 60);

const add = (record: Record<string, number>, key: string, n: number) => {
  record[key] = (record[key] ?? 0) + n;
};

export function assembleCounts(
  months: readonly string[],
  cases: CaseCounts,
  alerts: readonly AlertGroup[],
  activity: ActivityCounts,
  faults: readonly { readonly type: string; readonly n: number }[],
): SummaryCounts {
  const month = new Map<string, MonthCounts>(months.map((m) => [m, emptyMonth()]));
  const bump = (m: string, change: (c: MonthCounts) => Partial<MonthCounts>) => {
    const c = month.get(m);
    if (c) month.set(m, { ...c, ...change(c) });
  };
  const districts = new Map<
    string,
    { residents: number; alerts: number; visits: number; ambulances: number }
  >();
  const district = (d: string | null) => {
    const k = d ?? UNPLACED;
    const its = districts.get(k) ?? { residents: 0, alerts: 0, visits: 0, ambulances: 0 };
    districts.set(k, its);
    return its;
  };

  let activeResidents = 0;
  for (const r of activity.residents) {
    if (r.by === 'all') activeResidents = r.n;
    else if (r.by === 'month') bump(r.month as string, () => ({ activeResidents: r.n }));
    else district(r.district).residents = r.n;
  }
  const technology: Record<string, number> = {};
  for (const d of activity.devices) add(technology, d.kind, d.n);

  const alertsByType: Record<string, number> = {};
  const alertsByPriority: Record<string, number> = {};
  const supervisionLossesByKind: Record<string, number> = {};
  let lateAlerts = 0;
  for (const a of alerts) {
    add(alertsByType, a.type, a.n);
    if (a.type === 'supervision.lost') add(supervisionLossesByKind, a.deviceKind ?? NO_DEVICE_KIND, a.n);
    add(alertsByPriority, `P${a.priority}`, a.n);
    if (a.late) lateAlerts += a.n;
    bump(a.month, (c) => ({ alerts: c.alerts + a.n }));
    district(a.district).alerts += a.n;
  }

  const answer = { m60: 0, x60: 0, m180: 0, x180: 0, u60: 0, u180: 0 };
  const attendance = { visits: 0, w45: 0, w60: 0 };
  const outcomes: Record<string, number> = {};
  const falls = { falls: 0, withAmbulance: 0, longLies: 0, shortLies: 0 };
  let ambulances = 0;
  let admissions = 0;
  for (const g of cases.groups) {
    const { n } = g;
    const its = district(g.district);
    add(outcomes, g.outcome ?? 'open', n);
    const met60 = g.answer === 'a60';
    const missed60 =
      g.answer === 'a180' || g.answer === 'alate' || g.answer === 'ulate' || g.answer === 'umid';
    if (met60) answer.m60 += n;
    if (missed60) answer.x60 += n;
    if (g.answer === 'uearly') answer.u60 += n;
    if (g.answer === 'a60' || g.answer === 'a180') answer.m180 += n;
    if (g.answer === 'alate' || g.answer === 'ulate') answer.x180 += n;
    if (g.answer === 'umid' || g.answer === 'uearly') answer.u180 += n;
    if (g.attend) {
      attendance.visits += n;
      its.visits += n;
      if (g.attend === 'w45') attendance.w45 += n;
      if (g.attend === 'w60') attendance.w60 += n;
    }
    if (g.ambulance) {
      ambulances += n;
      its.ambulances += n;
    }
    if (g.admitted) admissions += n;
    if (g.fall) {
      falls.falls += n;
      if (g.ambulance) falls.withAmbulance += n;
      if (g.lie === 'long') falls.longLies += n;
      if (g.lie === 'short') falls.shortLies += n;
    }
    bump(g.month, (c) => ({
      within60s: { met: c.within60s.met + (met60 ? n : 0), missed: c.within60s.missed + (missed60 ? n : 0) },
      falls: c.falls + (g.fall ? n : 0),
      ambulances: c.ambulances + (g.ambulance ? n : 0),
    }));
  }

  // Device events, then the alerts of a device's health (`DEVICE_HEALTH_ALERT_TYPES`).
  const faultsByType: Record<string, number> = {};
  for (const f of faults) add(faultsByType, f.type, f.n);
  for (const type of DEVICE_HEALTH_ALERT_TYPES) {
    const n = alertsByType[type];
    if (n !== undefined) add(faultsByType, type, n);
  }
  const p90 = new Map(cases.attendP90Ms.map((p) => [p.district ?? UNPLACED, p.v]));
  const demand: DistrictDemand[] = [...districts.keys()].sort().map((d) => {
    const its = districts.get(d) as { residents: number; alerts: number; visits: number; ambulances: number };
    const ms = p90.get(d);
    return {
      district: d,
      ...its,
      attendanceP90: ms === undefined ? null : Math.round(msToMinutes(ms) * 10) / 10,
    };
  });

  return {
    total: {
      activeResidents,
      activeDevices: Object.values(technology).reduce((a, b) => a + b, 0),
      technology,
      alertsByType,
      alertsByPriority,
      lateAlerts,
      answer: {
        within60s: { met: answer.m60, missed: answer.x60 },
        within180s: { met: answer.m180, missed: answer.x180 },
        seconds: medianFrom(cases.answerMs, msToSeconds),
        undecided60: answer.u60,
        undecided180: answer.u180,
      },
      attendance: {
        visits: attendance.visits,
        within45m: { met: attendance.w45, missed: attendance.visits - attendance.w45 },
        within60m: {
          met: attendance.w45 + attendance.w60,
          missed: attendance.visits - attendance.w45 - attendance.w60,
        },
        minutes: medianFrom(cases.attendMs, msToMinutes),
      },
      outcomes,
      ambulances,
      admissions,
      falls: {
        falls: falls.falls,
        withAmbulance: falls.withAmbulance,
        withoutAmbulance: falls.falls - falls.withAmbulance,
        onFloorMinutes: medianFrom(cases.onFloorMinutes, (v) => v),
        longLies: falls.longLies,
        shortLies: falls.shortLies,
      },
      faultsByType,
      supervisionLosses: alertsByType['supervision.lost'] ?? 0,
      supervisionLossesByKind,
    },
    months: month,
    districts: demand,
  };
}

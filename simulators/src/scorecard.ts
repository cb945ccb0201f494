import type { EventType, Priority } from '@telecare/contracts';
import type { Expectation } from './resident/events.ts';

/** An alert as the scorecard needs it: read from ALERTS, with the case it joined if known. */
export interface RaisedAlert {
  readonly id: string;
  readonly residentId: string;
  readonly type: EventType;
  readonly priority: Priority;
  /** The rule that raised it: another rule's alert about the same incident is an escalation, not a repeat. */
  readonly ruleId?: string;
  /** Simulated epoch ms (triage raises alerts at its clock's time). */
  readonly raisedAt: number;
  readonly caseId?: string;
  /** A closing alert (a resident's cancel, a restore): the alert it closes and how. */
  readonly closes?: { readonly alertId: string; readonly outcome: string };
  /** A repeat press merged into an alert already raised: the resident pressing again, not a new alert. */
  readonly repeats?: { readonly alertId: string };
}

/**
 * `unclosed`: detected in time, but the alert was not closed as the incident requires (a
 * cancelled press left open as an alarm); counted as missed. `dismissed`: detected, but its alert
 * closed as a false alarm though the incident was real (a panel's restore taken for the
 * resident's cancel): nobody was asked to answer it, so counted as missed.
 */
export type IncidentStatus = 'detected' | 'late' | 'missed' | 'unclosed' | 'dismissed' | 'quiet' | 'alerted';

/** The statuses that count as missed: no operator was asked to answer the incident as it was. */
export const MISSED_STATUSES: readonly IncidentStatus[] = ['missed', 'unclosed', 'dismissed', 'alerted'];

export interface IncidentScore {
  readonly expectation: Expectation;
  readonly status: IncidentStatus;
  /** Seconds from the incident to its first expected alert, when there was one. */
  readonly timeToAlertS?: number;
  readonly alerts: readonly RaisedAlert[];
  /** Closing alerts for its alerts (cancels, restores): not alerts to handle, so not counted below. */
  readonly closers: readonly RaisedAlert[];
  /** How the detecting alert was closed, when it was. */
  readonly closedAs?: string;
  /** Alerts of one type from one rule beyond the first, summed (the same thing raised again). */
  readonly duplicateAlerts: number;
  /** Attributed alerts of a second or further type or rule (a fall alert, then a press alert or a no-movement escalation). */
  readonly extraAlerts: number;
  /** Distinct helpline cases holding its alerts, beyond the first. */
  readonly duplicateCases: number;
}

export interface KindRow {
  readonly kind: string;
  readonly lifeCritical: boolean;
  readonly incidents: number;
  readonly detected: number;
  readonly late: number;
  readonly missed: number;
  /** For incidents that should raise nothing: how many raised something anyway. */
  readonly alertedWhenQuiet: number;
  /** For kinds whose alert must be closed: how many were closed as required. */
  readonly closed?: number;
  readonly timeToAlertP50S?: number;
  readonly timeToAlertMaxS?: number;
  readonly duplicateAlerts: number;
  readonly extraAlerts: number;
  readonly duplicateCases: number;
}

export interface Scorecard {
  readonly incidents: readonly IncidentScore[];
  readonly byKind: readonly KindRow[];
  readonly falseAlerts: readonly RaisedAlert[];
  readonly residentDays: number;
  readonly falseAlertsPerResidentDay: number;
  /** False alerts raised after each home's learning days (`ScoreInput.learnedFrom`). */
  readonly learned?: {
    readonly from: number;
    readonly residentDays: number;
    readonly falseAlerts: number;
    readonly perResidentDay: number;
  };
  readonly totals: {
    readonly incidents: number;
    readonly detected: number;
    readonly late: number;
    readonly missed: number;
    readonly alerts: number;
    readonly lifeCritical: number;
    readonly lifeCriticalDetected: number;
  };
}

export interface ScoreInput {
  readonly expectations: readonly Expectation[];
  readonly alerts: readonly RaisedAlert[];
  /** Home key → resident id, as the registry issued them. */
  readonly residentOf: ReadonlyMap<string, string>;
  readonly residentDays: number;
  /**
   * The moment the homes' rhythms have learned (every home started at the same origin): false
   * alerts from then on are also counted over the resident-days from then on, `learnedResidentDays`.
   */
  readonly learnedFrom?: number;
  readonly learnedResidentDays?: number;
}

/** An alert this long before its incident can still belong to it (clock granularity). */
export const EARLY_S = 120;
/** After its deadline an incident keeps collecting alerts for as long again, at least an hour: they count as late. */
export const lateWindowS = (e: Expectation): number => e.deadlineS + Math.max(e.deadlineS, 3600);
/** Related alerts belong to an incident until an hour after its effects end, if that is later. */
const relatedWindowS = (e: Expectation): number =>
  Math.max(lateWindowS(e), e.until === undefined ? 0 : (e.until - e.at) / 1000 + 3600);

/**
 * Scores the alerts a run raised against its ground truth. Pure; see simulators/README.md.
 *
 * Each alert is attributed to at most one incident: one whose homes include the alert's
 * resident (any resident for an area incident), whose expected or related types include the
 * alert's type, and whose window [at − 120 s, at + deadline + max(deadline, 1 h)] holds the
 * alert's time (for a related type, until an hour after the incident's effects end if that is
 * later). Where several could take it, an incident that expects the type wins over one that
 * merely relates it, then the latest incident that started before the alert. A closing alert
 * (`closes`) goes with the alert it closes and is not counted as an alert of its own; nor is a repeat
 * press (`repeats`), which the helpline counts on the case of the alert it repeats.
 */
export function score(input: ScoreInput): Scorecard {
  const residentsOf = (e: Expectation) => new Set(e.homes.map((h) => input.residentOf.get(h)));
  const candidates = input.expectations.map((e) => ({ e, residents: residentsOf(e) }));
  const attributed = new Map<Expectation, RaisedAlert[]>();
  const falseAlerts: RaisedAlert[] = [];
  const sorted = [...input.alerts].sort((a, b) => a.raisedAt - b.raisedAt || (a.id < b.id ? -1 : 1));
  const incidentOf = new Map<string, Expectation>();
  for (const alert of sorted) {
    // A repeat is counted on the case it repeats (the helpline's press count), not as an alert.
    if (alert.closes || alert.repeats) continue;
    const fits = candidates.filter(({ e, residents }) => {
      const expected = e.expect.includes(alert.type);
      const typeFits = expected || e.related.includes(alert.type);
      const whoFits = (e.area && expected) || residents.has(alert.residentId);
      const offsetS = (alert.raisedAt - e.at) / 1000;
      return (
        typeFits &&
        whoFits &&
        offsetS >= -EARLY_S &&
        offsetS <= (expected ? lateWindowS(e) : relatedWindowS(e))
      );
    });
    fits.sort(
      (a, b) =>
        Number(b.e.expect.includes(alert.type)) - Number(a.e.expect.includes(alert.type)) ||
        Number(b.e.at <= alert.raisedAt) - Number(a.e.at <= alert.raisedAt) ||
        b.e.at - a.e.at,
    );
    const chosen = fits[0]?.e;
    if (!chosen) falseAlerts.push(alert);
    else {
      attributed.set(chosen, [...(attributed.get(chosen) ?? []), alert]);
      incidentOf.set(alert.id, chosen);
    }
  }
  // Closers follow the alert they close; one that closes a false alert adds nothing to the count.
  const closersOf = new Map<Expectation, RaisedAlert[]>();
  for (const alert of sorted) {
    const owner = alert.closes && incidentOf.get(alert.closes.alertId);
    if (owner) closersOf.set(owner, [...(closersOf.get(owner) ?? []), alert]);
  }

  const incidents = input.expectations.map((e): IncidentScore => {
    const alerts = attributed.get(e) ?? [];
    const closers = closersOf.get(e) ?? [];
    // An area incident's homes each raise their own alert into their own case: a repeat is the
    // same home raising the same thing again, so duplicates and cases are counted per home.
    const who = (a: RaisedAlert) => (e.area && !e.expect.includes(a.type) ? a.residentId : '');
    const counts = new Map<string, number>();
    const kinds = new Set<string>();
    for (const a of alerts) {
      const key = `${a.type}\u0000${a.ruleId ?? ''}\u0000${who(a)}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      kinds.add(`${a.type}\u0000${a.ruleId ?? ''}`);
    }
    const duplicateAlerts = [...counts.values()].reduce((sum, n) => sum + n - 1, 0);
    const extraAlerts = Math.max(0, kinds.size - 1);
    // Cases of the alerts raised while the incident is on (its late window): a dose missed hours
    // after a fall fairly opens a case of its own.
    const casesOf = new Map<string, Set<string>>();
    for (const a of alerts)
      if (a.caseId && a.raisedAt - e.at <= lateWindowS(e) * 1000)
        casesOf.set(who(a), (casesOf.get(who(a)) ?? new Set()).add(a.caseId));
    const duplicateCases = [...casesOf.values()].reduce((sum, c) => sum + c.size - 1, 0);
    const common = { expectation: e, alerts, closers, duplicateAlerts, extraAlerts, duplicateCases };
    if (e.expect.length === 0) return { ...common, status: alerts.length === 0 ? 'quiet' : 'alerted' };
    const first = alerts.find((a) => e.expect.includes(a.type));
    const timeToAlertS = first ? (first.raisedAt - e.at) / 1000 : undefined;
    // The resident's cancel decides how a press closed: its restore (the button let go, which
    // comes first) closes nothing, and only shows on the case.
    const closing = first ? closers.filter((c) => c.closes?.alertId === first.id) : [];
    const closedAs = (closing.find((c) => c.closes?.outcome === 'false-alarm') ?? closing[0])?.closes
      ?.outcome;
    let status: IncidentStatus =
      timeToAlertS === undefined ? 'missed' : timeToAlertS <= e.deadlineS ? 'detected' : 'late';
    if (status === 'detected' && e.closedAs && closedAs !== e.closedAs) status = 'unclosed';
    if (status === 'detected' && !e.closedAs && closedAs === 'false-alarm') status = 'dismissed';
    return {
      ...common,
      status,
      ...(timeToAlertS === undefined ? {} : { timeToAlertS }),
      ...(closedAs ? { closedAs } : {}),
    };
  });

  const kinds = [...new Set(input.expectations.map((e) => e.kind))];
  const byKind = kinds.map((kind): KindRow => {
    const rows = incidents.filter((s) => s.expectation.kind === kind);
    const times = rows
      .flatMap((s) => (s.timeToAlertS === undefined ? [] : [s.timeToAlertS]))
      .sort((a, b) => a - b);
    const sum = (f: (s: IncidentScore) => number) => rows.reduce((n, s) => n + f(s), 0);
    return {
      kind,
      lifeCritical: rows.some((s) => s.expectation.lifeCritical),
      incidents: rows.length,
      detected: rows.filter((s) => s.status === 'detected' || s.status === 'quiet').length,
      late: rows.filter((s) => s.status === 'late').length,
      missed: rows.filter((s) => s.status !== 'alerted' && MISSED_STATUSES.includes(s.status)).length,
      alertedWhenQuiet: rows.filter((s) => s.status === 'alerted').length,
      ...(rows.some((s) => s.expectation.closedAs)
        ? { closed: rows.filter((s) => s.closedAs && s.closedAs === s.expectation.closedAs).length }
        : {}),
      ...(times.length ? { timeToAlertP50S: median(times), timeToAlertMaxS: times.at(-1) } : {}),
      duplicateAlerts: sum((s) => s.duplicateAlerts),
      extraAlerts: sum((s) => s.extraAlerts),
      duplicateCases: sum((s) => s.duplicateCases),
    };
  });
  const lifeCritical = incidents.filter((s) => s.expectation.lifeCritical);
  return {
    incidents,
    byKind,
    falseAlerts,
    residentDays: input.residentDays,
    falseAlertsPerResidentDay: input.residentDays > 0 ? falseAlerts.length / input.residentDays : 0,
    ...(input.learnedFrom !== undefined && input.learnedResidentDays
      ? {
          learned: learnedFigures(
            input.learnedFrom,
            input.learnedResidentDays,
            falseAlerts.filter((a) => a.raisedAt >= (input.learnedFrom as number)).length,
          ),
        }
      : {}),
    totals: {
      incidents: incidents.length,
      detected: incidents.filter((s) => s.status === 'detected' || s.status === 'quiet').length,
      late: incidents.filter((s) => s.status === 'late').length,
      missed: incidents.filter((s) => MISSED_STATUSES.includes(s.status)).length,
      alerts: input.alerts.length,
      lifeCritical: lifeCritical.length,
      lifeCriticalDetected: lifeCritical.filter((s) => s.status === 'detected').length,
    },
  };
}

/** The after-learning line of a scorecard, from its counts. */
export function learnedFigures(
  from: number,
  residentDays: number,
  falseAlerts: number,
): NonNullable<Scorecard['learned']> {
  return {
    from,
    residentDays,
    falseAlerts,
    perResidentDay: residentDays > 0 ? falseAlerts / residentDays : 0,
  };
}

function median(sorted: readonly number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/**
 * The CI gate: every life-critical incident detected within its deadline, by exactly one alert
 * of each type and one case. Returns what failed, empty when the gate passes.
 */
export function lifeCriticalFailures(card: Scorecard): string[] {
  return card.incidents
    .filter((s) => s.expectation.lifeCritical)
    .flatMap((s) => {
      const id = s.expectation.incidentId;
      const problems: string[] = [];
      if (s.status !== 'detected')
        problems.push(
          `${id}: ${s.status}${s.timeToAlertS === undefined ? '' : ` after ${s.timeToAlertS} s`}`,
        );
      if (s.duplicateAlerts > 0) problems.push(`${id}: ${s.duplicateAlerts} duplicate alert(s)`);
      if (s.duplicateCases > 0) problems.push(`${id}: alerts in ${s.duplicateCases + 1} cases`);
      return problems;
    });
}

const fmtS = (s: number | undefined) =>
  s === undefined
    ? '–'
    : s < 120
      ? `${Math.round(s)} s`
      : s < 7200
        ? `${Math.round(s / 60)} min`
        : `${(s / 3600).toFixed(1)} h`;

/** The scorecard as a fixed-width table for a terminal. */
export function formatScorecard(card: Scorecard): string {
  const header = [
    'incident type',
    'LC',
    'n',
    'detected',
    'late',
    'missed',
    'closed',
    'to alert p50',
    'max',
    'dup alerts',
    'extra',
    'dup cases',
  ];
  const rows = card.byKind.map((r) => [
    r.kind,
    r.lifeCritical ? 'yes' : '',
    String(r.incidents),
    r.alertedWhenQuiet ? `${r.detected} (${r.alertedWhenQuiet} alerted)` : String(r.detected),
    String(r.late),
    String(r.missed),
    r.closed === undefined ? '' : `${r.closed}/${r.incidents}`,
    fmtS(r.timeToAlertP50S),
    fmtS(r.timeToAlertMaxS),
    String(r.duplicateAlerts),
    String(r.extraAlerts),
    String(r.duplicateCases),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  const t = card.totals;
  const byType = new Map<string, number>();
  for (const a of card.falseAlerts) byType.set(a.type, (byType.get(a.type) ?? 0) + 1);
  return [
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `incidents ${t.incidents}: ${t.detected} detected, ${t.late} late, ${t.missed} missed; life-critical ${t.lifeCriticalDetected}/${t.lifeCritical} detected`,
    `alerts ${t.alerts}; false alerts ${card.falseAlerts.length} over ${card.residentDays} resident-days = ${card.falseAlertsPerResidentDay.toFixed(3)} per resident-day${
      byType.size ? ` (${[...byType].map(([k, n]) => `${k} ${n}`).join(', ')})` : ''
    }`,
    ...(card.learned
      ? [
          `after learning (from ${new Date(card.learned.from).toISOString().slice(0, 10)}): false alerts ${card.learned.falseAlerts} over ${card.learned.residentDays} resident-days = ${card.learned.perResidentDay.toFixed(3)} per resident-day`,
        ]
      : []),
  ].join('\n');
}

/** The figures for the final JSON line. */
export function scorecardFigures(card: Scorecard): Record<string, unknown> {
  return {
    incidents: card.totals.incidents,
    detected: card.totals.detected,
    late: card.totals.late,
    missed: card.totals.missed,
    lifeCritical: card.totals.lifeCritical,
    lifeCriticalDetected: card.totals.lifeCriticalDetected,
    alerts: card.totals.alerts,
    falseAlerts: card.falseAlerts.length,
    residentDays: card.residentDays,
    falseAlertsPerResidentDay: Number(card.falseAlertsPerResidentDay.toFixed(4)),
    ...(card.learned
      ? {
          learnedResidentDays: card.learned.residentDays,
          learnedFalseAlerts: card.learned.falseAlerts,
          learnedFalseAlertsPerResidentDay: Number(card.learned.perResidentDay.toFixed(4)),
        }
      : {}),
    byKind: Object.fromEntries(
      card.byKind.map((r) => [
        r.kind,
        {
          n: r.incidents,
          detected: r.detected,
          late: r.late,
          missed: r.missed,
          ...(r.alertedWhenQuiet ? { alertedWhenQuiet: r.alertedWhenQuiet } : {}),
          ...(r.closed === undefined ? {} : { closed: r.closed }),
          ...(r.timeToAlertP50S === undefined ? {} : { timeToAlertP50S: r.timeToAlertP50S }),
          duplicateAlerts: r.duplicateAlerts,
          duplicateCases: r.duplicateCases,
        },
      ]),
    ),
  };
}

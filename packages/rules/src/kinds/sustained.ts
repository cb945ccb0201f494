/**
 * Sustained rules: a condition that holds for `forS` (in the chair, a cold home), checked by a tick.
 */
import { TAXONOMY } from '@telecare/contracts';
import type { RecentEvent, SustainedRule, Timer } from '../model.ts';
import { formatWhen } from '../time.ts';
import { checkDue, derivedAlert, minutes, type Output } from './output.ts';
import { findEvent, firstAtOrAfter, indexOf } from './recent.ts';
import { atNight } from './settings.ts';

/** A sustained rule's limits for the resident: `below` and `above` only for a reading's rule. */
export interface Threshold {
  readonly forS: number;
  readonly below: number | undefined;
  readonly above: number | undefined;
}

/**
 * One literal with every field, those the rule lacks `undefined`: each temperature, chair, bed and
 * door event and each sustained tick asks, and a literal spread with optional parts was built in
 * three objects, of a shape per combination.
 */
export function threshold(rule: SustainedRule, out: Output): Threshold {
  const o = out.settings.thresholds[rule.id];
  const c = rule.condition;
  const reading = 'reading' in c;
  return {
    forS: o?.forS ?? rule.forS,
    below: reading ? (o?.below ?? c.below) : undefined,
    above: reading ? (o?.above ?? c.above) : undefined,
  };
}

export const beyond = (
  t: { below?: number | undefined; above?: number | undefined },
  celsius: number,
): boolean => (t.below !== undefined ? celsius < t.below : t.above !== undefined && celsius > t.above);

/** The previous temperature reading by event time, from the same device. */
export function previousReading(recent: readonly RecentEvent[], entry: RecentEvent): RecentEvent | undefined {
  for (let i = indexOf(recent, entry) - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.celsius !== undefined && seen.serial === entry.serial) return seen;
  }
  return undefined;
}

export function nextReading(recent: readonly RecentEvent[], entry: RecentEvent): RecentEvent | undefined {
  for (let i = indexOf(recent, entry) + 1; i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (seen.celsius !== undefined && seen.serial === entry.serial) return seen;
  }
  return undefined;
}

/** A reading that begins a run of readings beyond the threshold. */
export function startsRun(recent: readonly RecentEvent[], entry: RecentEvent, t: Threshold) {
  if (entry.celsius === undefined || !beyond(t, entry.celsius)) return false;
  const previous = previousReading(recent, entry);
  return previous?.celsius === undefined || !beyond(t, previous.celsius);
}

export function sustainedOnEvent(
  rule: SustainedRule,
  entry: RecentEvent,
  recent: readonly RecentEvent[],
  out: Output,
) {
  const condition = rule.condition;
  if (!('reading' in condition)) {
    // A state's start or end: the threshold object only for a reading's rule (this runs on every
    // chair, bed and door report).
    const forS = out.settings.thresholds[rule.id]?.forS ?? rule.forS;
    if (condition.starts.includes(entry.type)) startSustained(rule, entry, forS, out);
    else endedState(rule, condition, entry, recent, forS, out);
    return;
  }
  if (entry.celsius === undefined) return;
  const t = threshold(rule, out);
  if (startsRun(recent, entry, t)) startSustained(rule, entry, t.forS, out);
  else if (!beyond(t, entry.celsius)) {
    // Back in range: it ends the run it follows within the run's time (`endedRun`).
    endedRun(rule, entry, recent, t, out);
    // A late reading back in range can make the next reading the start of a new run.
    const following = nextReading(recent, entry);
    if (following && startsRun(recent, following, t)) startSustained(rule, following, t.forS, out);
  }
}

/**
 * An end (a reading back in range, the chair left) cancels the check of the start it ends within
 * its time: in time order that check finds it and raises nothing; decided hours behind (triage
 * catching up), `recent` may have let the start go, and the check reads the start it carries, not
 * the end. Read back from the end to the end before it (which cancelled what came before), within
 * `forS`: a start older than that was checked before this end came.
 */
function endedRun(
  rule: SustainedRule,
  entry: RecentEvent,
  recent: readonly RecentEvent[],
  t: Threshold,
  out: Output,
): void {
  const from = entry.at - t.forS * 1000;
  // The run's first reading beyond (the one its check is stored under).
  let start: RecentEvent | undefined;
  for (let i = indexOf(recent, entry) - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at < from) return;
    if (seen.serial !== entry.serial || seen.celsius === undefined || seen.at === entry.at) continue;
    if (!beyond(t, seen.celsius)) break;
    start = seen;
  }
  if (start) out.timer({ op: 'cancel', id: `${rule.id}:${start.id}` });
}

/** `endedRun` for a state's rule (in the chair, out of bed at night): its starts since the end before. */
function endedState(
  rule: SustainedRule,
  condition: { readonly starts: readonly string[]; readonly ends: readonly string[] },
  entry: RecentEvent,
  recent: readonly RecentEvent[],
  forS: number,
  out: Output,
): void {
  const from = entry.at - forS * 1000;
  for (let i = indexOf(recent, entry) - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at < from || condition.ends.includes(seen.type)) return;
    if (
      seen.at < entry.at &&
      condition.starts.includes(seen.type) &&
      (!rule.atNight || atNight(seen.at, out.settings))
    )
      out.timer({ op: 'cancel', id: `${rule.id}:${seen.id}` });
  }
}

export function startSustained(rule: SustainedRule, candidate: RecentEvent, forS: number, out: Output): void {
  if (rule.atNight && !atNight(candidate.at, out.settings)) return;
  // The check carries its start: decided hours behind, `recent` may have let it go.
  out.setTimer(rule, candidate.at + forS * 1000, {
    id: `${rule.id}:${candidate.id}`,
    eventId: candidate.id,
    event: candidate,
  });
}

export function sustainedOnTick(
  rule: SustainedRule,
  timer: Timer,
  recent: readonly RecentEvent[],
  out: Output,
) {
  const t = threshold(rule, out);
  const found = findEvent(recent, timer.eventId, timer.checkAt - t.forS * 1000);
  const startEvent = found >= 0 ? (recent[found] as RecentEvent) : timer.event;
  if (startEvent === undefined) return;
  // Where what came after it begins (gone from `recent` itself, its place among what is kept).
  const start = found >= 0 ? found : firstAtOrAfter(recent, startEvent.at) - 1;
  const until = startEvent.at + t.forS * 1000;
  const condition = rule.condition;
  // What came after it until the check: the list is sorted, so it follows the start. A state's
  // end among them decides at once (no alert), with nothing collected; a reading's rule keeps the
  // device's readings, and one back in range decides the same.
  let readings: RecentEvent[] | undefined;
  for (let i = start + 1; i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (seen.at > until) break;
    if (seen.at <= startEvent.at) continue;
    if ('reading' in condition) {
      if (seen.celsius === undefined || seen.serial !== startEvent.serial) continue;
      if (!beyond(t, seen.celsius)) return;
      if (readings === undefined) readings = [seen];
      else readings.push(seen);
    } else if (condition.ends.includes(seen.type)) return;
  }
  let detail: string;
  if ('reading' in condition) {
    if (!startsRun(recent, startEvent, t)) return;
    const last = readings?.at(-1) ?? startEvent;
    const bound = t.below !== undefined ? `below ${t.below} °C` : `above ${t.above} °C`;
    detail = `${bound} since ${formatWhen(startEvent.at, out.settings.timeZone, timer.checkAt)} for ${minutes(until - startEvent.at)}; last reading ${last.celsius} °C`;
    out.alert(
      derivedAlert(rule, out, {
        key: startEvent.id,
        evidence: readings ? [startEvent, ...readings.slice(-4)] : [startEvent],
        thresholds: {
          forS: t.forS,
          ...(t.below === undefined ? {} : { below: t.below }),
          ...(t.above === undefined ? {} : { above: t.above }),
        },
        detail,
        decidedAt: checkDue(timer, out),
        byTimer: true,
      }),
    );
    return;
  }
  const { ends } = condition;
  detail = `${TAXONOMY[startEvent.type].description.toLowerCase()} at ${formatWhen(startEvent.at, out.settings.timeZone, timer.checkAt)} and no ${ends.join(' or ')} within ${minutes(t.forS * 1000)}`;
  out.alert(
    derivedAlert(rule, out, {
      key: startEvent.id,
      evidence: [startEvent],
      thresholds: { forS: t.forS, atNight: rule.atNight },
      detail,
      decidedAt: checkDue(timer, out),
      byTimer: true,
    }),
  );
}

/**
 * Recurring checks (wake-up windows, carer visits, the routine's hours, the rhythm's mornings):
 * each tick schedules the next.
 */
import type { AbsenceRule, ResidentState, RhythmRule, RoutineRule, Rule } from '../model.ts';
import { addDays, localTime, minuteOf, zonedInstant } from '../time.ts';
import { type Output, withField } from './output.ts';
import { planOf } from './plan.ts';
import { wakeCheckMinute } from './rhythm.ts';

export type Recurring = AbsenceRule | RoutineRule | RhythmRule;

export function isRecurring(rule: Rule): rule is Recurring {
  return (
    rule.kind === 'routine' ||
    rule.kind === 'rhythm' ||
    (rule.kind === 'absence' && (rule.window.kind === 'wake-up' || rule.window.kind === 'visit'))
  );
}

/** The first check of a recurring rule after `after`: when, and its schedule key. */
export function nextCheck(
  rule: Recurring,
  out: Output,
  after: number,
  state: ResidentState,
): { checkAt: number; key: string } | undefined {
  const s = out.settings;
  if (rule.kind === 'routine') {
    const checkAt = (Math.floor(after / 3_600_000) + 1) * 3_600_000;
    return { checkAt, key: String(checkAt) };
  }
  const today = localTime(after, s.timeZone).date;
  if (rule.kind === 'rhythm') {
    const minute = wakeCheckMinute(rule, state.rhythms?.[rule.id], s);
    for (const date of [today, addDays(today, 1)]) {
      const checkAt = zonedInstant(date, minute, s.timeZone);
      if (checkAt > after) return { checkAt, key: `wake:${date}` };
    }
    return undefined;
  }
  if (rule.window.kind === 'wake-up') {
    for (const date of [today, addDays(today, 1)]) {
      const checkAt = zonedInstant(date, s.wakeTo, s.timeZone);
      if (checkAt > after) return { checkAt, key: date };
    }
    return undefined;
  }
  if (rule.window.kind === 'visit') {
    const toleranceS = s.thresholds[rule.id]?.withinS ?? rule.window.toleranceS;
    for (const date of [today, addDays(today, 1)]) {
      for (const visit of s.visits) {
        const visitAt = zonedInstant(date, minuteOf(visit), s.timeZone);
        const checkAt = visitAt + toleranceS * 1000;
        if (checkAt > after) return { checkAt, key: `${date}T${visit}@${visitAt}` };
      }
    }
  }
  return undefined;
}

/**
 * A recurring check's timer id. Schedule keys (a date, an hour, a visit) are the same for every
 * resident: the id names the resident so that one resident's check never replaces another's in the
 * timer store.
 */
export const scheduledTimerId = (rule: Recurring, residentId: string, key: string): string =>
  `${rule.id}:${residentId}:${key}`;

export function reschedule(rule: Recurring, state: ResidentState, out: Output, after: number): ResidentState {
  const next = nextCheck(rule, out, after, state);
  if (!next) return state;
  out.setTimer(rule, next.checkAt, { id: scheduledTimerId(rule, out.residentId, next.key), key: next.key });
  return withField(undefined, state, 'scheduled', { ...state.scheduled, [rule.id]: next.checkAt });
}

/** Starts each recurring rule's chain of checks once; each tick schedules the next. */
export function ensureSchedules(state: ResidentState, out: Output, now: number): ResidentState {
  let next = state;
  for (const rule of planOf(out.ruleSet).recurring) {
    // A resident with no visits in their care package has nothing to check (the cheapest test
    // first: this runs on every event).
    if (rule.kind === 'absence' && rule.window.kind === 'visit' && out.settings.visits.length === 0) continue;
    if (next.scheduled[rule.id] !== undefined || out.settings.disabled.has(rule.id)) continue;
    next = reschedule(rule, next, out, now);
  }
  return next;
}

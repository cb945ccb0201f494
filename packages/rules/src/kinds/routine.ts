/**
 * The hourly-share routine: per local hour, the share of learned days with activity then.
 */
import { TAXONOMY } from '@telecare/contracts';
import type { RecentEvent, ResidentState, Routine, RoutineRule, Timer } from '../model.ts';
import { formatHhmm, formatWhen, inSpan, localTime } from '../time.ts';
import { lastOf } from './absence.ts';
import { checkDue, derivedAlert, deviceValues, type Output, withField } from './output.ts';
import { byTimeThenId } from './recent.ts';
import { reschedule } from './schedule.ts';
import type { ResidentSettings } from './settings.ts';

/** Days the baseline remembers: older days fade so the routine follows the person. */
export const ROUTINE_DAYS = 28;

export function learn(
  rule: RoutineRule,
  state: ResidentState,
  entry: RecentEvent,
  s: ResidentSettings,
  out?: Output,
): ResidentState {
  const local = localTime(entry.at, s.timeZone);
  const bit = 1 << Math.floor(local.minute / 60);
  let routine: Routine = state.routines[rule.id] ?? {
    day: local.date,
    today: 0,
    days: 0,
    active: new Array(24).fill(0),
  };
  const latest = withLatest(routine, entry);
  if (local.date < routine.day) return latest === routine ? state : withRoutine(state, rule, latest, out);
  routine = latest;
  if (local.date > routine.day) routine = rollOver(routine, local.date);
  if (routine.today & bit)
    return routine === state.routines[rule.id] ? state : withRoutine(state, rule, routine, out);
  return withRoutine(state, rule, { ...routine, today: routine.today | bit }, out);
}

/** The routine with the activity among its latest two, if it is one of them. */
export function withLatest(routine: Routine, entry: RecentEvent): Routine {
  const { last, prior } = routine;
  if (!last || byTimeThenId(last, entry) < 0) {
    const next: Routine = { ...routine, last: entry };
    if (last) next.prior = last;
    return next;
  }
  if (last.id !== entry.id && (!prior || byTimeThenId(prior, entry) < 0)) return { ...routine, prior: entry };
  return routine;
}

/**
 * The last activity at or before `at`: from `recent` when it still holds one, else the latest
 * two the routine keeps, whichever is later — never a stretch named by an activity it forgot.
 */
export function lastActivity(rule: RoutineRule, state: ResidentState, routine: Routine, at: number) {
  let last = lastOf(state.recent, rule.activity, at);
  for (const kept of [routine.last, routine.prior])
    if (kept && kept.at <= at && (!last || byTimeThenId(last, kept) < 0)) last = kept;
  return last;
}

export function rollOver(routine: Routine, day: string): Routine {
  const fade = routine.days >= ROUTINE_DAYS ? (ROUTINE_DAYS - 1) / ROUTINE_DAYS : 1;
  const active = routine.active.map((count, hour) => count * fade + ((routine.today >> hour) & 1));
  const next: Routine = { day, today: 0, days: Math.min(ROUTINE_DAYS, routine.days + 1), active };
  // A stretch of inactivity goes on across midnight.
  if (routine.raised !== undefined) next.raised = routine.raised;
  if (routine.last) next.last = routine.last;
  if (routine.prior) next.prior = routine.prior;
  return next;
}

export function withRoutine(
  state: ResidentState,
  rule: RoutineRule,
  routine: Routine,
  out?: Output,
): ResidentState {
  return withField(out, state, 'routines', { ...state.routines, [rule.id]: routine });
}

export function routineOnTick(
  rule: RoutineRule,
  timer: Timer,
  state: ResidentState,
  out: Output,
): ResidentState {
  let next = state;
  const s = out.settings;
  const hourEnd = timer.checkAt;
  const hourStart = hourEnd - 3_600_000;
  const local = localTime(hourStart, s.timeZone);
  const hour = Math.floor(local.minute / 60);
  const routine = state.routines[rule.id];
  const quiet = inSpan(local.minute, s.quietFrom, s.quietTo);
  if (routine && !quiet && routine.days >= rule.minDays) {
    const share = (routine.active[hour] ?? 0) / routine.days;
    // The latest activity before the hour's end: in the hour, or the last of the stretch that
    // missed it. Not from `recent` alone, which heartbeats can flood.
    const latest = share >= rule.expectShare ? lastActivity(rule, state, routine, hourEnd - 1) : undefined;
    const seenInHour = latest !== undefined && latest.at >= hourStart;
    const last = seenInHour ? undefined : latest;
    // One alert per stretch of inactivity, however many usual and unusual hours (or nights) it
    // crosses: the stretch is named by its last activity, and the state remembers the one raised.
    // The routine keeps its latest activities itself, so a stretch is never mistaken for an older
    // one because heartbeats or age pushed its last activity out of `recent`.
    const stretch = last?.id ?? '';
    if (share >= rule.expectShare && !seenInHour && stretch !== routine.raised) {
      const span = `${formatHhmm(hourStart, s.timeZone)}–${formatHhmm(hourEnd, s.timeZone)}`;
      out.alert(
        derivedAlert(rule, out, {
          // Keyed on the stretch (the last activity), so a re-check can only repeat the same alert.
          key: last ? `since:${last.id}` : `${local.date}:${hour}`,
          evidence: last ? [last] : [],
          thresholds: {
            expectShare: rule.expectShare,
            minDays: rule.minDays,
            share: Math.round(share * 100) / 100,
          },
          detail: last
            ? `no activity since ${formatWhen(last.at, s.timeZone, hourEnd)}, ${TAXONOMY[last.type].description.toLowerCase()} (${deviceValues(last).device})`
            : 'no activity recorded',
          expected: `activity ${span}: the resident was active then on ${Math.round(share * routine.days)} of the last ${routine.days} days`,
          seen: 'none',
          decidedAt: checkDue(timer, out),
          byTimer: true,
        }),
      );
      next = withRoutine(state, rule, { ...routine, raised: stretch });
    }
  }
  return reschedule(rule, next, out, hourEnd);
}

/**
 * The learned rhythm rule: silences, getting up and outings, against the person's own figures
 * (what it learns is in `../rhythm.ts`).
 */
import { TAXONOMY } from '@telecare/contracts';
import type { RecentEvent, ResidentState, Rhythm, RhythmRule, Timer } from '../model.ts';
import {
  gapLimit,
  getUps,
  learnRhythm,
  learnRhythmInPlace,
  MIN_SEEN_DAYS,
  nightReturns,
  outLimit,
  rhythmChecked,
  usualBedMinute,
} from '../rhythm.ts';
import { addDays, formatHhmm, formatWhen, inSpan, localTime, zonedInstant } from '../time.ts';
import { lastOf } from './absence.ts';
import { type AwayWindow, describeAway } from './away.ts';
import { checkDue, derivedAlert, deviceValues, minutes, type Output, withField } from './output.ts';
import { reschedule } from './schedule.ts';
import { atNight, type ResidentSettings } from './settings.ts';

export const PLACE_TEXT = {
  home: 'at home, up and about',
  chair: 'in the chair',
  bed: 'in bed',
  out: 'out',
} as const;

export const hhmmOf = (minute: number): string =>
  `${String(Math.floor(minute / 60) % 24).padStart(2, '0')}:${String(Math.round(minute) % 60).padStart(2, '0')}`;

/**
 * When the wake-up check for `date` runs: the latest learned get-up plus the margin, else the care
 * plan's window; after a night later than usual (bed after the median bedtime learned), later by
 * half of how late, up to 90 min; never after the care plan's hard latest time.
 */
export function wakeCheckMinute(
  rule: RhythmRule,
  rhythm: Rhythm | undefined,
  s: ResidentSettings,
  date?: string,
): number {
  const ups = getUps(rule, rhythm);
  const known = rhythm?.up.filter((m) => m >= 0) ?? [];
  const learned = known.length > 0 ? Math.round(Math.max(...known) + rule.wakeMarginS / 60) : 0;
  // While learning, the care plan's window stands, moved later by any later morning seen.
  let minute = ups ? learned : Math.max(s.wakeTo, learned);
  if (ups && date !== undefined && rhythm) minute += lateNightMinutes(rule, rhythm, date, s.timeZone);
  return Math.min(23 * 60, s.wakeLatest ?? 23 * 60, minute);
}

/** How much later the morning of `date` may be after the night before it was a late one. */
export function lateNightMinutes(rule: RhythmRule, rhythm: Rhythm, date: string, timeZone: string): number {
  const bedAt = rhythm.bedAt;
  const usual = usualBedMinute(rule, rhythm);
  if (bedAt === undefined || usual === undefined) return 0;
  const night = localTime(bedAt, timeZone);
  const fromNoon = (night.minute + 720) % 1440;
  // Only the night before this morning: in bed from the evening before until 04:00.
  const evening = night.date === addDays(date, -1) && night.minute >= 12 * 60;
  const small = night.date === date && night.minute < 4 * 60;
  if (!evening && !small) return 0;
  return Math.round(Math.min(90, Math.max(0, (fromNoon - usual) / 2)));
}

/** The false silence alerts allowed per day for this resident: their own, else the rule's. */
export const budgetOf = (rule: RhythmRule, s: ResidentSettings): number | null =>
  s.thresholds[rule.id]?.falseAlertBudget ?? rule.falseAlertBudget;

/** "fewer than 1 in 40 days expected this long", from the fitted chance of a day's longest. */
export function chanceText(chance: number): string {
  if (chance >= 0.5) return 'expected this long on about half of their days or more';
  const n = Math.floor(1 / chance);
  return n >= 1000
    ? 'fewer than 1 in 1000 days expected this long'
    : `fewer than 1 in ${n} days expected this long`;
}

/** "1 in 20 days" for 0.05 false alerts a day. */
export const budgetText = (budget: number): string =>
  budget >= 1 ? `${budget} a day` : `1 in ${Math.round(1 / budget)} days`;

export function withRhythm(
  state: ResidentState,
  rule: RhythmRule,
  rhythm: Rhythm,
  out?: Output,
): ResidentState {
  return withField(out, state, 'rhythms', { ...state.rhythms, [rule.id]: rhythm });
}

/** The start of the resident's next night (or now, when it is night already). */
export function nightFrom(at: number, s: ResidentSettings): number {
  const local = localTime(at, s.timeZone);
  if (inSpan(local.minute, s.quietFrom, s.quietTo)) return at;
  const today = zonedInstant(local.date, s.quietFrom, s.timeZone);
  return today >= at ? today : zonedInstant(addDays(local.date, 1), s.quietFrom, s.timeZone);
}

/**
 * When an outing that left at `leftAt` is late at night: `nightReturnS` after the start of the
 * quiet hours, or, for someone who came home later in the night on the days learned, after the
 * latest they did: `nightReturnS` after it once they came home at night on `MIN_SEEN_DAYS` days or
 * more, `returnMarginS` (the grace of a usual return by day) while on a night or two only, since
 * the latest of so few is no measure of how late they come home. None for someone who spent two
 * or more of those nights out (their usual return and longest outing still hold). Never sooner
 * than 30 min after the door.
 */
export function nightDeadline(
  rule: RhythmRule,
  rhythm: Rhythm,
  leftAt: number,
  s: ResidentSettings,
): { at: number; overnights: number; latestAt?: number } {
  const base = Math.max(nightFrom(leftAt, s) + rule.nightReturnS * 1000, leftAt + 1_800_000);
  if (rhythm.days < rule.minDays) return { at: base, overnights: 0 };
  const nights = nightReturns(rhythm, s.quietFrom, s.quietTo);
  if (nights.overnights >= 2) return { at: Number.POSITIVE_INFINITY, overnights: nights.overnights };
  if (nights.latestMinute === undefined) return { at: base, overnights: nights.overnights };
  // The evening the outing belongs to: the day before when it left in the small hours.
  const local = localTime(leftAt, s.timeZone);
  const evening = local.minute < s.quietTo ? addDays(local.date, -1) : local.date;
  const latestAt = zonedInstant(evening, nights.latestMinute, s.timeZone);
  const graceS = nights.nights < MIN_SEEN_DAYS ? rule.returnMarginS : rule.nightReturnS;
  return { at: Math.max(base, latestAt + graceS * 1000), overnights: nights.overnights, latestAt };
}

/**
 * When an outing that left at `leftAt` is "not back": by its usual return from that time of day
 * (`outLimit`) or the night deadline, whichever is first; but a usual return's check that falls in
 * the night before the latest this person came home at night is no reason for alarm (someone back
 * at 01:00 from their evenings is not missing at 23:00 because they went out in the morning): the
 * night deadline decides then.
 */
export function outingCheckAt(rule: RhythmRule, rhythm: Rhythm, leftAt: number, s: ResidentSettings): number {
  const usual = leftAt + outLimit(rule, rhythm, leftAt, s.timeZone).ms;
  const night = nightDeadline(rule, rhythm, leftAt, s);
  const homeLaterAtNight =
    night.latestAt !== undefined && usual >= nightFrom(leftAt, s) && usual < night.latestAt;
  return homeLaterAtNight ? night.at : Math.min(usual, night.at);
}

/**
 * A home whose bed sensor never reported, before this time of the evening or night is learned: a
 * silence that reaches the quiet hours within the prior is the person asleep as far as anyone can
 * tell, and the morning's wake-up check covers it, as it does a night in bed.
 */
function asleepUnseen(rule: RhythmRule, rhythm: Rhythm, last: RecentEvent, s: ResidentSettings): boolean {
  if (rhythm.place !== 'home' || rhythm.bedTs !== undefined) return false;
  const limit = gapLimit(rule, rhythm, 'home', last.at, s.timeZone, budgetOf(rule, s), !atNight(last.at, s));
  return !limit.learned && nightFrom(last.at, s) < last.at + limit.ms;
}

/** The id of one activity's own silence check: those the version before stored, and a passed one. */
export const rhythmTimerId = (rule: RhythmRule, out: Output, event: RecentEvent): string =>
  `${rule.id}:${out.residentId}:${event.id}`;

/**
 * The id of the rule's one stretch timer per resident: the silence check of the stretch now
 * running, whichever activity names it.
 */
export const stretchTimerId = (ruleId: string, residentId: string): string =>
  `${ruleId}:${residentId}:stretch`;

/**
 * One silence check per stretch (from the latest activity): a newer activity before that check
 * makes it moot, one after it leaves it to decide, so the alert never depends on whether the newer
 * event came before the tick.
 *
 * The check is stored as one timer per resident (`stretchTimerId`), written only when the check
 * comes sooner than the one stored: an activity that only puts the check later (most do: a
 * movement every few minutes moves a three-hour check a few minutes on) writes nothing, and the
 * stored timer, when it fires, sees the stretch now running in the state and is set again for its
 * check. So the alert is raised at the same moment for the same stretch, with one write per
 * silence limit instead of two per activity. A check that passed before the activity after it
 * arrived (the lane behind) must still decide: it is stored under its activity's own id.
 */
export function rhythmOnEvent(
  rule: RhythmRule,
  entry: RecentEvent,
  state: ResidentState,
  out: Output,
): ResidentState {
  const before = state.rhythms?.[rule.id];
  // Read before learning: learned in place, `before` is the rhythm learned.
  const previous = before?.last;
  const previousCheckAt = before?.checkAt;
  const previousPlace = before?.place;
  // A rhythm of the version before: its checks are stored per activity.
  const legacy = before !== undefined && before.armedAt === undefined;
  const armedAt = before?.armedAt ?? 0;
  const from = previous?.at ?? entry.at;
  const observe = out.away.length === 0 || !duringAway(out.away, from, entry.at);
  const inPlace = out.reuse && state === out.owned;
  const learnt = inPlace
    ? learnRhythmInPlace(before, entry, out.settings.timeZone, observe)
    : learnRhythm(before, entry, out.settings.timeZone, observe);
  if (learnt === undefined || (!inPlace && learnt === before)) return state;
  const rhythm = learnt;
  const last = rhythm.last as RecentEvent;
  if (previous && previous.id !== last.id && previousCheckAt !== undefined) {
    if (last.at <= previousCheckAt) {
      if (legacy) out.timer({ op: 'cancel', id: rhythmTimerId(rule, out, previous) });
    } else if (!legacy)
      out.setTimer(rule, previousCheckAt, {
        id: rhythmTimerId(rule, out, previous),
        eventId: previous.id,
        key: previousPlace ?? 'home',
      });
  }
  // `rhythm` is the object learnt for this event, which nothing else holds (a new one, or the
  // state's own given up): it takes its check in place.
  if (rhythm.place === 'bed' || asleepUnseen(rule, rhythm, last, out.settings)) {
    if (legacy) out.timer({ op: 'cancel', id: rhythmTimerId(rule, out, last) });
    // Set to nothing rather than deleted: a delete would turn the rhythm into a dictionary. A
    // stretch timer stored finds no check when it fires.
    rhythm.checkAt = undefined;
  } else {
    let checkAt: number;
    if (rhythm.place === 'out') {
      checkAt = outingCheckAt(rule, rhythm, last.at, out.settings);
    } else {
      const s = out.settings;
      const limit = gapLimit(
        rule,
        rhythm,
        rhythm.place,
        last.at,
        s.timeZone,
        budgetOf(rule, s),
        !atNight(last.at, s),
      );
      checkAt = last.at + limit.ms;
    }
    rhythm.checkAt = checkAt;
    if (legacy || armedAt === 0 || checkAt < armedAt) {
      out.setTimer(rule, checkAt, {
        id: stretchTimerId(rule.id, out.residentId),
        eventId: last.id,
        key: rhythm.place,
      });
      rhythm.armedAt = checkAt;
    }
  }
  // Learnt in place, the state holds it already.
  if (rhythm === before) return state;
  return withRhythm(state, rule, rhythm, out);
}

/**
 * The stretch timer come due (`stretchTimerId`): the check of the stretch the state says is
 * running, when it is due now; else the timer is set again for it (or, with none, stays unset).
 */
function stretchTick(rule: RhythmRule, timer: Timer, state: ResidentState, out: Output): ResidentState {
  const rhythm = state.rhythms?.[rule.id];
  // The state was lost: as any check of the version before, nothing is known to decide.
  if (!rhythm?.last) return state;
  const checkAt = rhythm.checkAt;
  if (checkAt === undefined) return withRhythm(state, rule, rhythmChecked(rhythm, rhythm.checkAt, 0));
  if (checkAt > timer.checkAt) {
    out.setTimer(rule, checkAt, { id: timer.id, eventId: rhythm.last.id, key: rhythm.place });
    return withRhythm(state, rule, rhythmChecked(rhythm, rhythm.checkAt, checkAt));
  }
  // Due: decided as its own timer would have been, once (the check is then no more).
  const own: Timer = {
    id: timer.id,
    ruleId: timer.ruleId,
    residentId: timer.residentId,
    checkAt,
    dueAt: checkAt + out.ruleSet.settings.reorderGraceS * 1000,
    eventId: rhythm.last.id,
    eventAt: undefined,
    key: rhythm.place,
  };
  const decided = withRhythm(state, rule, rhythmChecked(rhythm, undefined, 0));
  return silenceCheck(rule, own, decided, out);
}

export function rhythmOnTick(
  rule: RhythmRule,
  timer: Timer,
  state: ResidentState,
  out: Output,
): ResidentState {
  const rhythm = state.rhythms?.[rule.id];
  const tz = out.settings.timeZone;
  if (timer.key?.startsWith('wake:')) {
    // Set a day ahead: a later morning learned since then moves today's check later.
    const date = timer.key.slice(5);
    const due = zonedInstant(date, wakeCheckMinute(rule, rhythm, out.settings, date), tz);
    if (due > timer.checkAt) {
      out.setTimer(rule, due, { id: timer.id, key: timer.key });
      return withField(undefined, state, 'scheduled', { ...state.scheduled, [rule.id]: due });
    }
    wakeUpCheck(rule, timer, state, rhythm, out);
    return reschedule(rule, state, out, timer.checkAt);
  }
  if (timer.id === stretchTimerId(rule.id, timer.residentId)) return stretchTick(rule, timer, state, out);
  return silenceCheck(rule, timer, state, out);
}

/** A silence check of the activity `timer` names: alerts when it is still the latest by the check. */
function silenceCheck(rule: RhythmRule, timer: Timer, state: ResidentState, out: Output): ResidentState {
  const rhythm = state.rhythms?.[rule.id];
  const tz = out.settings.timeZone;
  if (!rhythm?.last) return state;
  // The latest activity by the check: still the one the check follows, or the silence ended.
  const last =
    rhythm.last.at <= timer.checkAt ? rhythm.last : lastOf(state.recent, rule.activity, timer.checkAt);
  if (!last || last.id !== timer.eventId) return state;
  const place = timer.key === 'out' ? 'out' : timer.key === 'chair' ? 'chair' : 'home';
  const silentFor = minutes(timer.checkAt - last.at);
  if (place === 'out') {
    // An outing a declared away period covers is checked from the declared return, with the
    // person's grace (`returnMarginS`); an open-ended one is looked at again every hour, so a
    // period ended early is followed within the hour.
    const away = outingAway(out.away, state, last.at, timer.checkAt);
    const dueBack = away ? away.until + rule.returnMarginS * 1000 : undefined;
    if (dueBack !== undefined && timer.checkAt < dueBack) {
      const recheck = Math.min(dueBack, timer.checkAt + AWAY_RECHECK_MS);
      out.setTimer(rule, recheck, { id: timer.id, eventId: last.id, key: 'out' });
      // The stretch timer is the check of the stretch now running: stored again for the re-check.
      if (timer.id === stretchTimerId(rule.id, timer.residentId))
        return withRhythm(state, rule, rhythmChecked(rhythm, recheck, recheck));
      // An activity's own timer (stored by the version before) of the stretch now running.
      if (last.id === rhythm.last.id)
        return withRhythm(state, rule, rhythmChecked(rhythm, recheck, rhythm.armedAt));
      return state;
    }
    const limit = outLimit(rule, rhythm, last.at, tz);
    const deadline = nightDeadline(rule, rhythm, last.at, out.settings);
    const night = Number.isFinite(deadline.at)
      ? `or by ${formatHhmm(deadline.at, tz)} at night`
      : `no night deadline (out overnight on ${deadline.overnights} of the last ${rhythm.days} days)`;
    out.alert(
      derivedAlert(rule, out, {
        key: `out:${last.id}`,
        evidence: [last],
        thresholds: { outForS: Math.round((timer.checkAt - last.at) / 1000), learned: limit.learned },
        detail: `out of the front door at ${formatWhen(last.at, tz, timer.checkAt)} (${deviceValues(last).device}) and nothing at home since`,
        expected: away
          ? `back by ${formatWhen(dueBack ?? 0, tz, timer.checkAt)}: ${describeAway(away, tz)}, and ${minutes(rule.returnMarginS * 1000)} grace`
          : limit.usualBackMinute !== undefined
            ? `back by ${hhmmOf(limit.usualBackMinute)}, the latest they came home from going out at this time of day on the last ${rhythm.days} days (their longest outing ${limit.longestMin} min), ${night}`
            : limit.learned
              ? `back within ${limit.longestMin} min, the longest outing of the last ${rhythm.days} days, ${night}`
              : `back within ${minutes(limit.ms)} ${night}`,
        seen: `not back after ${silentFor}`,
        decidedAt: checkDue(timer, out),
        byTimer: true,
        type: 'outing.not-returned',
      }),
    );
    return state;
  }
  const budget = budgetOf(rule, out.settings);
  const limit = gapLimit(rule, rhythm, place, last.at, tz, budget, !atNight(last.at, out.settings));
  out.alert(
    derivedAlert(rule, out, {
      key: `since:${last.id}`,
      evidence: [last],
      thresholds: { silentForS: Math.round((timer.checkAt - last.at) / 1000), learned: limit.learned },
      detail: `no movement since ${formatWhen(last.at, tz, timer.checkAt)}, ${TAXONOMY[last.type].description.toLowerCase()} (${deviceValues(last).device}); ${PLACE_TEXT[place]}`,
      expected:
        limit.longestMin !== undefined && limit.ms < limit.longestMin * 60_000
          ? `active again within ${minutes(limit.ms)}, the most a silence is left: longer at this time on ${limit.longDays ?? 0} of the last ${limit.days} days only (their longest ${limit.longestMin} min)`
          : limit.seenDays !== undefined && limit.seenDays < MIN_SEEN_DAYS
            ? `active again within ${minutes(limit.ms)} (seen ${PLACE_TEXT[place]} at this time on ${limit.seenDays} of the last ${limit.days} days only, at most ${limit.longestMin} min still)`
            : limit.learned
              ? `active again within ${limit.longestMin} min, as on each of the last ${limit.days} days at this time ${PLACE_TEXT[place]}${budget === null ? '' : `; unusual for them at this time: ${chanceText(limit.chance ?? 0)} (false-alert budget ${budgetText(budget)})`}`
              : `active again within ${minutes(limit.ms)} (${limit.days} of ${rule.minDays} days learned)`,
      seen: `nothing for ${silentFor}`,
      decidedAt: checkDue(timer, out),
      byTimer: true,
      type: 'inactivity.unusual',
    }),
  );
  return state;
}

/**
 * Whether the stretch from `from` to `to` (the latest activity learned, then this one) touches a
 * declared away period: what it shows (an outing of the whole weekend, a silence, a get-up) is
 * not the person's rhythm, and is not learned. A return seen in the period does not change that:
 * a neighbour looking in looks like one, and the "outing" after them would be the weekend's.
 */
export function duringAway(away: readonly AwayWindow[], from: number, to: number): boolean {
  for (const w of away) if (w.from <= to && from < w.until) return true;
  return false;
}

/** How often an outing in an open-ended (or not yet ended) away period is looked at again. */
export const AWAY_RECHECK_MS = 3_600_000;

/**
 * The declared period an outing (out since `leftAt`, nothing at home since) falls in: one that
 * began by the check and had not ended when they left, unless they were already seen back in it
 * (then the rules resumed, and this is an outing like any other). The latest-ending one.
 */
export function outingAway(
  away: readonly AwayWindow[],
  state: ResidentState,
  leftAt: number,
  checkAt: number,
): AwayWindow | undefined {
  let found: AwayWindow | undefined;
  for (const w of away) {
    if (w.from > checkAt || w.until <= leftAt) continue;
    if (state.away?.id === w.id && state.away.back !== undefined) continue;
    if (!found || w.until > found.until) found = w;
  }
  return found;
}

export function wakeUpCheck(
  rule: RhythmRule,
  timer: Timer,
  state: ResidentState,
  rhythm: Rhythm | undefined,
  out: Output,
): void {
  const s = out.settings;
  const tz = s.timeZone;
  const date = timer.key?.slice(5) ?? '';
  const ups = getUps(rule, rhythm);
  const last = rhythm?.last;
  // Out of the front door and not back: nothing at home could move, and the outing's own check
  // says so ("not back"); "not up" would tell the operator the wrong story.
  if (rhythm?.place === 'out') return;
  let up: boolean;
  if (ups) {
    // Seen getting up today, or about (or out) since early morning and not back in bed.
    const dayStart = zonedInstant(date, 4 * 60, tz);
    up = rhythm?.upOn === date || (rhythm?.place !== 'bed' && last !== undefined && last.at >= dayStart);
  } else {
    const from = zonedInstant(date, s.wakeFrom, tz);
    up = state.recent.some(
      (seen) =>
        rule.activity.includes(seen.type) &&
        seen.type !== 'bed.occupied' &&
        seen.at >= from &&
        seen.at <= timer.checkAt,
    );
  }
  if (up) return;
  const inBed = rhythm?.place === 'bed' && rhythm.bedAt !== undefined;
  const bedAt = rhythm?.bedAt ?? 0;
  const detail = inBed
    ? rhythm?.upInNight
      ? `in bed since ${formatWhen(bedAt, tz, timer.checkAt)}, up in the night only: not up by ${formatHhmm(timer.checkAt, tz)}`
      : `went to bed at ${formatWhen(bedAt, tz, timer.checkAt)} and nothing has moved since: not up by ${formatHhmm(timer.checkAt, tz)}`
    : last
      ? `no movement since ${formatWhen(last.at, tz, timer.checkAt)}: not up by ${formatHhmm(timer.checkAt, tz)}`
      : `no movement recorded: not up by ${formatHhmm(timer.checkAt, tz)}`;
  const sorted = ups ? [...ups].sort((a, b) => a - b) : [];
  out.alert(
    derivedAlert(rule, out, {
      key: `wake-up:${date}`,
      evidence: last ? [last] : [],
      fallbackEvidence: `wake-up:${date}`,
      thresholds: ups
        ? {
            wakeUpBy: formatHhmm(timer.checkAt, tz),
            learnedLatest: hhmmOf(sorted.at(-1) ?? 0),
            mornings: ups.length,
            inBed,
          }
        : { wakeUpFrom: hhmmOf(s.wakeFrom), wakeUpTo: hhmmOf(s.wakeTo), inBed },
      detail,
      expected: ups
        ? `up by ${hhmmOf(sorted.at(-1) ?? 0)}, as on each of the ${ups.length} mornings learned (usually ${hhmmOf(sorted[Math.floor(sorted.length / 2)] ?? 0)})`
        : `movement by ${formatHhmm(timer.checkAt, tz)} (care plan ${hhmmOf(s.wakeFrom)}–${hhmmOf(s.wakeTo)}, later by any later morning seen; ${rhythm?.up.filter((m) => m >= 0).length ?? 0} of ${rule.minDays} mornings learned)`,
      seen: inBed ? 'still in bed' : 'none',
      decidedAt: checkDue(timer, out),
      byTimer: true,
      type: 'inactivity.no-wake',
    }),
  );
}

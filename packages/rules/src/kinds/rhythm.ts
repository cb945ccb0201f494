/**
 * The learned rhythm rule: silences, getting up and outings, against the person's own figures
 * (what it learns is in `../rhythm.ts`).
 */
import { defaultPriority, TAXONOMY } from '@telecare/contracts';
import type { RecentEvent, ResidentState, Rhythm, RhythmRule, Timer } from '../model.ts';
import {
  DOOR_PASSAGE_MS,
  forgetDays,
  gapLimit,
  getUps,
  homeDay,
  joins,
  learnRhythm,
  learnRhythmInPlace,
  MIN_SEEN_DAYS,
  NOTHING_TOLD,
  nightReturns,
  outLimit,
  placeOf,
  returnUndone,
  rhythmChecked,
  ringIndexOf,
  SEAT_LAG_MS,
  SLOW_SEAT_MS,
  type Told,
  upMinuteOn,
  usualBedMinute,
  VISIT_MAX_MS,
  type Visit,
  visitAfter,
  visitOpen,
  wokeOn,
} from '../rhythm.ts';
import { addDays, epochDay, formatHhmm, formatWhen, inSpan, localTime, zonedInstant } from '../time.ts';
import { lastOf } from './absence.ts';
import { type AwayWindow, describeAway } from './away.ts';
import { bounceOpening, bouncesBetween, openingsText } from './door.ts';
import { checkDue, derivedAlert, deviceValues, minutes, type Output, withField } from './output.ts';
import { byTimeThenId, findEvent, firstAtOrAfter, indexOf } from './recent.ts';
import { reschedule } from './schedule.ts';
import { atNight, type ResidentSettings } from './settings.ts';
import { reportsCounts, reportsText } from './shared.ts';

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
 *
 * The morning of `date` itself is not one of the mornings it is checked against: getting up late
 * that day, learned before the check's timer fired (triage behind), would move the check past it
 * and the check would find them up; in time order it had found them not up.
 */
export function wakeCheckMinute(
  rule: RhythmRule,
  rhythm: Rhythm | undefined,
  s: ResidentSettings,
  date?: string,
): number {
  const ups = getUps(rule, rhythm);
  const own = date === undefined || !rhythm ? -1 : ringIndexOf(rhythm, date);
  let latest = -1;
  if (rhythm)
    for (let i = 0; i < rhythm.up.length; i++)
      if (i !== own) latest = Math.max(latest, rhythm.up[i] as number);
  const learned = latest >= 0 ? Math.round(latest + rule.wakeMarginS / 60) : 0;
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
 * Out, the door opened since (not a carer's) with nothing seen inside after it: a neighbour
 * looking in, or the person home and sitting where no sensor sees. "Not back" waits until a
 * silence at home from that door would be unusual too (a home without a bed sensor, at night
 * before it is learned: the morning's wake-up check time), so neither story is raised while the
 * other still holds; the outing is not ended by the door.
 */
export function doorCheckAt(rule: RhythmRule, rhythm: Rhythm, s: ResidentSettings): number {
  const door = rhythm.returning;
  if (door === undefined) return Number.NEGATIVE_INFINITY;
  const limit = gapLimit(rule, rhythm, 'home', door, s.timeZone, budgetOf(rule, s), !atNight(door, s));
  if (rhythm.bedTs === undefined && !limit.learned && nightFrom(door, s) < door + limit.ms) {
    const local = localTime(door, s.timeZone);
    const morning = local.minute < s.quietTo ? local.date : addDays(local.date, 1);
    return zonedInstant(morning, wakeCheckMinute(rule, rhythm, s, morning), s.timeZone);
  }
  return door + limit.ms;
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
  // Read before learning: learned in place, the rhythm is changed.
  const was = state.rhythms?.[rule.id];
  // Out of order (a report older than one taken), around a carer's visit: learned again from the
  // outing's door. On the common path (in order), one comparison.
  const newest = state.recent[state.recent.length - 1];
  if (
    was?.last !== undefined &&
    newest !== undefined &&
    byTimeThenId(newest, entry) > 0 &&
    rule.activity.includes(entry.type) &&
    // Movements, the bed and the chair taken out of order among themselves read the same.
    (OUTING_KEEPS.includes(entry.type) || doorOrCarerAfter(state.recent, entry))
  ) {
    const left = was.last;
    const carer = entry.type === 'carer.arrived' || entry.type === 'carer.left';
    // Out since the door (or at home only by a carer's report taking it for their coming in).
    // In a shared home, the bed, the chair or a movement is the partner's or not by the door's
    // passages before it.
    const bed = out.settings.sharedHome && PARTNER_REPORTS.includes(entry.type);
    if (
      left.type === 'door.closed' &&
      byTimeThenId(entry, left) > 0 &&
      (carer || bed || visitSince(was, left))
    ) {
      const again = outingAgain(rule, state, was, left, out);
      if (again) return again;
    }
    // At home since a return by activity inside, kept (`beforeReturn`) up to a visit's longest: a
    // door or a carer's report taken late, or a report taken after one of a visit since the door.
    const back = was.beforeReturn;
    if (
      back !== undefined &&
      byTimeThenId(entry, back.last) > 0 &&
      (OUTING_KEEPS.includes(entry.type) || visitSince(was, back.last))
    ) {
      const again = outingAgain(rule, state, returnUndone(was) as Rhythm, back.last, out);
      if (again) return again;
    }
  }
  // The chair left as the carer goes, by the carer who pressed "left" from it: the seat was theirs,
  // not the resident come in with them (`seatedAtLeft` reads it ahead when learned again).
  if (entry.type === 'chair.vacated' && was?.chair === true && was.beforeReturn !== undefined) {
    const back = was.beforeReturn;
    if (
      state.recent[findEvent(state.recent, back.id, back.at)]?.type === 'carer.left' &&
      upAsTheyGo(state.recent, back.at, entry)
    ) {
      const again = outingAgain(rule, state, returnUndone(was) as Rhythm, back.last, out);
      if (again) return again;
    }
  }
  // A carer's "left" after the visit had ended, by a "left" that was one of two carers pressing it
  // again: the other was still in, and what they did since is theirs, learned again from the door.
  if (
    entry.type === 'carer.left' &&
    was?.beforeReturn !== undefined &&
    was.visit !== undefined &&
    was.visit > was.beforeReturn.last.at &&
    was.visitEnd !== undefined &&
    was.beforeReturn.at >= was.visitEnd &&
    endedByPressAgain(was, state.recent, entry)
  ) {
    const again = outingAgain(rule, state, returnUndone(was) as Rhythm, was.beforeReturn.last, out);
    if (again) return again;
  }
  // A carer's "arrived" within five minutes of a door opened while out, the movement that ended the
  // outing (the return kept) coming between: that was the carer coming in (`carerComingIn`), and
  // the outing stands, learned again from its door.
  if (entry.type === 'carer.arrived' && was?.beforeReturn !== undefined) {
    const back = was.beforeReturn;
    const at = findEvent(state.recent, back.id, back.at);
    if (at >= 0 && byTimeThenId(entry, back.last) > 0 && carerComingIn(rule, state.recent, at, back.last)) {
      const again = outingAgain(rule, state, returnUndone(was) as Rhythm, back.last, out);
      if (again) return again;
    }
  }
  return learnActivity(rule, entry, state, out);
}

/**
 * Whether the movement `recent[i]`, out since the door closing `left`, is a carer coming in: the
 * door opened since (the latest opening before the movement, not a bounce), and the next report
 * after the movement other than movement, the door closing or a bounce is a carer's "arrived",
 * within `VISIT_DOOR_MS` of that opening. The hall's PIR sees the carer before they press
 * "arrived" on their fob or the home unit (also when the door opened during another carer's
 * visit, who has left since); the door opened again between (shut since: a passage of its own) is
 * the carer coming in behind a resident who came home by the first. With no door opened since, the
 * carer who was in already (`carerStayedIn`).
 */
function carerComingIn(
  rule: RhythmRule,
  recent: readonly RecentEvent[],
  i: number,
  left: RecentEvent,
): boolean {
  if (recent[i]?.type !== 'motion') return false;
  const bounceMs = (rule.doorBounceS ?? 0) * 1000;
  let opened: number | undefined;
  // Whether the door is shut at the movement (closed since that opening).
  let shut = false;
  for (let j = i - 1; j >= 0 && opened === undefined; j--) {
    const seen = recent[j] as RecentEvent;
    if (byTimeThenId(seen, left) <= 0) break;
    if (seen.type === 'door.closed') shut = true;
    else if (seen.type === 'door.opened' && !bounceOpening(recent, j, bounceMs)) opened = seen.at;
  }
  if (opened === undefined) return carerStayedIn(rule, recent, i, left);
  for (let j = i + 1; j < recent.length; j++) {
    const seen = recent[j] as RecentEvent;
    if (seen.at - opened > VISIT_DOOR_MS) return false;
    if (seen.type === 'carer.arrived') return !backOutBefore(rule, recent, left, seen.at);
    if (seen.type === 'door.closed') shut = true;
    else if (seen.type === 'door.opened') {
      // The door settling behind them (a bounce), or reported open again while open, is no passage.
      if (shut && !bounceOpening(recent, j, bounceMs)) return false;
    } else if (seen.type !== 'motion' && rule.activity.includes(seen.type)) return false;
  }
  return false;
}

/**
 * Whether the movement `recent[i]`, out since the door closing `left` with no door opened since, is
 * the carer who came in before `left` closed (`cameInBefore`), about the home before they press
 * "arrived": the next report after it other than movement is that "arrived", within
 * `VISIT_DOOR_MS` of `left`. The door took the resident out, and the carer stayed in.
 */
function carerStayedIn(
  rule: RhythmRule,
  recent: readonly RecentEvent[],
  i: number,
  left: RecentEvent,
): boolean {
  for (let j = i + 1; j < recent.length; j++) {
    const seen = recent[j] as RecentEvent;
    if (seen.at - left.at > VISIT_DOOR_MS) return false;
    if (seen.type === 'carer.arrived') return cameInBefore(rule, recent, left, seen.at);
    if (seen.type !== 'motion' && rule.activity.includes(seen.type)) return false;
  }
  return false;
}

/**
 * Whether the door closing `left` was a carer going back out (to the car for their bag) before
 * pressing "arrived" at `arrivedAt`: before its passage, movement inside after an earlier door
 * closing, all within `VISIT_DOOR_MS` before the "arrived", with no other report between (a
 * carer's "left", a bed or chair). Someone came in by that passage and went out by this one: the
 * carer, who came in again; the resident was where they were before the first.
 */
function backOutBefore(
  rule: RhythmRule,
  recent: readonly RecentEvent[],
  left: RecentEvent,
  arrivedAt: number,
): boolean {
  let moved = false;
  for (let j = indexOf(recent, left) - 1; j >= 0; j--) {
    const seen = recent[j] as RecentEvent;
    if (arrivedAt - seen.at > VISIT_DOOR_MS) return false;
    if (seen.type === 'motion') moved = true;
    else if (seen.type === 'door.closed') return moved;
    else if (seen.type !== 'door.opened' && rule.activity.includes(seen.type)) return false;
  }
  return false;
}

/**
 * Whether someone came in before a carer's "arrived" at `arrivedAt`, out since the door closing
 * `left`: by an earlier passage, within `VISIT_DOOR_MS` before the "arrived", and seen inside
 * before the door opened for `left` (movement during that passage is whoever goes through it),
 * with no other report between; the carer. Not when that earlier closing was a carer going (within
 * `VISIT_DOOR_MS` after a "left"): who was seen inside after it is someone else. Read from
 * `recent`, so a report taken late and learned again from the door (`outingAgain`) reads the same.
 */
function cameInBefore(
  rule: RhythmRule,
  recent: readonly RecentEvent[],
  left: RecentEvent,
  arrivedAt: number,
): boolean {
  let opened = false;
  let moved = false;
  for (let j = indexOf(recent, left) - 1; j >= 0; j--) {
    const seen = recent[j] as RecentEvent;
    if (arrivedAt - seen.at > VISIT_DOOR_MS) return false;
    if (seen.type === 'door.opened') opened = true;
    else if (seen.type === 'motion') moved ||= opened;
    else if (seen.type === 'door.closed') return moved && !leftBefore(recent, j);
    else if (rule.activity.includes(seen.type)) return false;
  }
  return false;
}

/** Whether a carer's "left" came within `VISIT_DOOR_MS` before the door closing `recent[at]`. */
function leftBefore(recent: readonly RecentEvent[], at: number): boolean {
  const closed = recent[at] as RecentEvent;
  for (let j = at - 1; j >= 0; j--) {
    const seen = recent[j] as RecentEvent;
    if (closed.at - seen.at > VISIT_DOOR_MS) return false;
    if (seen.type === 'carer.left') return true;
  }
  return false;
}

/**
 * Whether a door or a carer's report newer than `entry` was taken before it: `recent` read back from
 * its end to `entry` (within the reorder bound of the newest, a few reports).
 */
function doorOrCarerAfter(recent: readonly RecentEvent[], entry: RecentEvent): boolean {
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (byTimeThenId(seen, entry) <= 0) return false;
    if (OUTING_KEEPS.includes(seen.type)) return true;
  }
  return false;
}

/** Whether a carer's report was learned since `from` (the visit begun or ended since). */
const visitSince = (rhythm: Rhythm, from: RecentEvent): boolean =>
  rhythm.visit !== undefined && Math.max(rhythm.visit, rhythm.visitEnd ?? rhythm.visit) >= from.at;

/**
 * The outing since the door closing `left` learned again, in time order: a report taken after one
 * newer than it (the fob, the door contact, the PIRs and the bed are separate senders, within the
 * reorder bound), where a carer's report came since the door, or is the one taken late. The reading
 * of a visit depends on the order of its reports: a movement during it is the carer's, one before
 * it or after their "left" the resident's coming home; a door within five minutes of either is
 * the carer's; a door closing during it is the carer's, after "left" the person going out. `base`
 * is the rhythm as it was at the door (the return since undone, `returnUndone`), or the rhythm
 * itself while nothing since the door has moved it (out, or at home only by a carer's report);
 * it is put back as at the door (out, no door opened since, the visit as it stood then: a "left"
 * just before the door makes a door after it the carer's going) and every report since, in
 * `recent`, learned again as it came. Nothing when `recent` has let the door go.
 */
function outingAgain(
  rule: RhythmRule,
  state: ResidentState,
  base: Rhythm,
  left: RecentEvent,
  out: Output,
): ResidentState | undefined {
  const recent = state.recent;
  const at = indexOf(recent, left);
  if (recent[at]?.id !== left.id || placeOf(base.bed, base.chair, left) !== 'out') return undefined;
  let visitEnd: number | undefined;
  for (let i = at - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (left.at - seen.at > VISIT_DOOR_MS || seen.type === 'carer.arrived') break;
    if (seen.type === 'carer.left') {
      visitEnd = seen.at;
      break;
    }
  }
  const copy = rhythmChecked(base, base.checkAt, base.armedAt);
  copy.last = left;
  copy.place = 'out';
  copy.returning = undefined;
  copy.visit = visitEnd;
  copy.visitEnd = visitEnd;
  copy.visitors = undefined;
  copy.beforeReturn = undefined;
  copy.beforeDoor = undefined;
  let next = withRhythm(state, rule, copy, out);
  for (let i = at + 1; i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (!rule.activity.includes(seen.type)) continue;
    // Out, the door opened since: movement before a carer's "arrived" within five minutes of it is
    // the carer coming in, and leaves the outing as it was.
    const now = next.rhythms?.[rule.id];
    if (
      seen.type === 'motion' &&
      now?.place === 'out' &&
      now.last !== undefined &&
      carerComingIn(rule, recent, i, now.last)
    )
      continue;
    next = learnActivity(rule, seen, next, out);
  }
  return next;
}

function learnActivity(
  rule: RhythmRule,
  entry: RecentEvent,
  state: ResidentState,
  out: Output,
): ResidentState {
  const before = state.rhythms?.[rule.id];
  let noisy = before?.noisy;
  if (rule.chatter !== undefined && entry.type === 'motion' && before !== undefined) {
    // A fault calm for its quiet time is closed before a burst after it (a new one) is looked at.
    const known =
      before.noisy === undefined ? undefined : calmed(rule, rule.chatter, before.noisy, entry.at, out);
    const chatter = chatterOf(rule, rule.chatter, state.recent, entry, known);
    noisy = chatter.noisy;
    if (chatter.burst && noisy) toldNoisy(rule, rule.chatter, noisy, entry, chatter.burst, out);
    if (chatter.ignore) {
      if (noisy === before.noisy) return state;
      const copy = rhythmChecked(before, before.checkAt, before.armedAt);
      copy.noisy = noisy;
      // Found noisy now: its reports before the bound (the stretch it started) were not the person
      // either. The stretch runs from the latest activity another device saw.
      const seen = before.last;
      if (seen?.serial === entry.serial && !((before.noisy?.[entry.serial]?.until ?? 0) > entry.at)) {
        const prior = lastOther(rule, state.recent, entry.serial, seen.at);
        if (prior) {
          copy.last = prior;
          copy.place = placeOf(copy.bed, copy.chair, prior, copy.returning !== undefined);
          if (copy.place !== 'bed') armStretch(rule, copy, prior, copy.place, out, true);
        }
      }
      return withRhythm(state, rule, copy, out);
    }
  }
  // The movement sensors' days; one dead while the resident is about elsewhere is a fault, and
  // nothing is learned of the rhythm while one is.
  const inOrder = before?.last === undefined || entry.at >= before.last.at;
  const sensors =
    rule.deadSensor !== undefined && inOrder
      ? sensorsAfter(rule, rule.deadSensor, state, before, entry, out)
      : undefined;
  // Read before learning: learned in place, `before` is the rhythm learned.
  const previous = before?.last;
  const previousCheckAt = before?.checkAt;
  const previousPlace = before?.place;
  // A rhythm of the version before: its checks are stored per activity.
  const legacy = before !== undefined && before.armedAt === undefined;
  const armedAt = before?.armedAt ?? 0;
  const from = previous?.at ?? entry.at;
  const observe =
    (out.away.length === 0 || !duringAway(out.away, from, entry.at)) &&
    !anyRaised(sensors?.sensors ?? before?.sensors);
  const inPlace = out.reuse && state === out.owned;
  const bounceMs = (rule.doorBounceS ?? 0) * 1000;
  const tz = out.settings.timeZone;
  const wakeFrom = out.settings.wakeFrom;
  const told = toldOf(rule, before, state.recent, entry, bounceMs);
  const learnt = someoneElses(rule, out.settings, before, state.recent, entry)
    ? undefined
    : inPlace
      ? learnRhythmInPlace(before, entry, tz, observe, bounceMs, wakeFrom, told)
      : learnRhythm(before, entry, tz, observe, bounceMs, wakeFrom, told);
  if (learnt === undefined || (!inPlace && learnt === before)) {
    if (!before || (!sensors && noisy === before.noisy)) return state;
    const copy = rhythmChecked(before, before.checkAt, before.armedAt);
    if (noisy !== before.noisy) copy.noisy = noisy;
    if (sensors) {
      copy.sensors = sensors.sensors;
      if (sensors.forget) forgetDays(copy, sensors.forget[0], sensors.forget[1]);
    }
    return withRhythm(state, rule, copy, out);
  }
  const rhythm = learnt;
  if (noisy !== rhythm.noisy) rhythm.noisy = noisy;
  if (sensors) {
    rhythm.sensors = sensors.sensors;
    if (sensors.forget) forgetDays(rhythm, sensors.forget[0], sensors.forget[1]);
  }
  const last = rhythm.last as RecentEvent;
  if (previous && previous.id !== last.id && previousCheckAt !== undefined) {
    if (last.at <= previousCheckAt) {
      if (legacy) out.timer({ op: 'cancel', id: rhythmTimerId(rule, out, previous) });
    } else if (!legacy)
      // The check of the stretch before came due with nothing since: decided on its own timer, which
      // carries the activity it follows, since by then `recent` may have let it go.
      out.setTimer(rule, previousCheckAt, {
        id: rhythmTimerId(rule, out, previous),
        eventId: previous.id,
        key: previousPlace ?? 'home',
        event: previous,
      });
  }
  // `rhythm` is the object learnt for this event, which nothing else holds (a new one, or the
  // state's own given up): it takes its check in place.
  // An event that left the stretch as it was (a door or a carer while out, a bounce undone, a
  // carer's late report that only dates their visit) with its check already decided, or none (in
  // bed): nothing to check again.
  const unmoved =
    entry.at >= last.at ||
    (entry.type === 'carer.arrived' && last.id === previous?.id && rhythm.place === previousPlace);
  if (last.id !== entry.id && unmoved && rhythm.checkAt === undefined) {
    if (legacy) out.timer({ op: 'cancel', id: rhythmTimerId(rule, out, last) });
  } else if (rhythm.place === 'bed' || asleepUnseen(rule, rhythm, last, out.settings)) {
    if (legacy) out.timer({ op: 'cancel', id: rhythmTimerId(rule, out, last) });
    // Set to nothing rather than deleted: a delete would turn the rhythm into a dictionary. A
    // stretch timer stored finds no check when it fires.
    rhythm.checkAt = undefined;
  } else armStretch(rule, rhythm, last, rhythm.place, out, legacy || armedAt === 0);
  if (
    previous &&
    previous.id === last.id &&
    previousCheckAt !== undefined &&
    !legacy &&
    entry.at > previousCheckAt &&
    rhythm.checkAt !== previousCheckAt
  )
    // An event that left the stretch as it was but moved its check (the door, or a carer, while the
    // person is out), later than the check was due: the check's timer has not fired yet (triage
    // fires due timers in rounds between events, and may be behind). In time order the check was
    // decided at its moment, before this event: so it is here, on a timer of its own, as of then.
    out.setTimer(rule, previousCheckAt, {
      id: rhythmTimerId(rule, out, previous),
      eventId: previous.id,
      key: previousPlace ?? 'home',
      event: previous,
    });
  // Learnt in place, the state holds it already.
  if (rhythm === before) return state;
  return withRhythm(state, rule, rhythm, out);
}

/**
 * What `recent` says of `entry` that the rhythm alone does not know (`Told`), each for its type of
 * report; `NOTHING_TOLD` (no object built) for every other event, and when it says nothing.
 */
function toldOf(
  rule: RhythmRule,
  before: Rhythm | undefined,
  recent: readonly RecentEvent[],
  entry: RecentEvent,
  bounceMs: number,
): Told {
  const previous = before?.last;
  switch (entry.type) {
    case 'door.closed':
      return previous?.type === 'carer.arrived' &&
        byTimeThenId(entry, previous) < 0 &&
        previous.at - entry.at <= VISIT_DOOR_MS &&
        carerCameInBy(rule, recent, entry, previous, bounceMs)
        ? { carersDoor: true }
        : NOTHING_TOLD;
    case 'door.opened':
      return before?.place === 'out' &&
        before.visitEnd !== undefined &&
        entry.at - before.visitEnd <= VISIT_DOOR_MS &&
        closedSince(recent, before.visitEnd, entry)
        ? { passage: true }
        : NOTHING_TOLD;
    case 'carer.left': {
      const seatedAt = seatedAtLeft(before, recent, entry);
      return seatedAt === undefined ? NOTHING_TOLD : { seatedAt };
    }
    case 'carer.arrived':
      return before?.place === 'out' &&
        previous?.type === 'door.closed' &&
        cameInBefore(rule, recent, previous, entry.at)
        ? { cameIn: true }
        : NOTHING_TOLD;
    default:
      return NOTHING_TOLD;
  }
}

/**
 * Whether the door closed after `from` (a carer's "left") and before `entry`: the carer's going
 * passage done, so the door opened again at `entry` is someone else's.
 */
function closedSince(recent: readonly RecentEvent[], from: number, entry: RecentEvent): boolean {
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at < from) return false;
    if (seen.type === 'door.closed' && byTimeThenId(seen, entry) < 0) return true;
  }
  return false;
}

const CHAIR_REPORTS: readonly RecentEvent['type'][] = ['chair.occupied', 'chair.vacated'];

/**
 * Whether a movement is the other person's in a home shared with them (`sharedHome`): the resident
 * in their chair, and the movement from a room other than the chair's (by the latest chair
 * report's `location`). It dates its sensor, and leaves the resident's silence in the chair
 * running. Alone at home, that movement is the resident, up from a chair that missed it.
 */
function partnersMove(
  s: ResidentSettings,
  rhythm: Rhythm | undefined,
  recent: readonly RecentEvent[],
  entry: RecentEvent,
): boolean {
  if (!s.sharedHome || entry.type !== 'motion' || rhythm?.place !== 'chair' || entry.location === undefined)
    return false;
  const chair = lastOf(recent, CHAIR_REPORTS, entry.at);
  return (
    chair?.type === 'chair.occupied' && chair.location !== undefined && chair.location !== entry.location
  );
}

const BED_REPORTS: readonly RecentEvent['type'][] = ['bed.occupied', 'bed.vacated'];

/** What the other person in a shared home makes too, and the rhythm reads as the resident home. */
const PARTNER_REPORTS: readonly RecentEvent['type'][] = [...BED_REPORTS, ...CHAIR_REPORTS, 'motion'];

/**
 * Whether the bed, the chair or a movement is the other person's in a home shared with them
 * (`sharedHome`), the resident out since the door closing `rhythm.last`, no carer's visit since:
 * with no door opened since, whoever lies down, sits or moves was in the home already. With the
 * door opened twice or more since (`partnersDoors`), someone went out and someone came in: the
 * other person out and back as likely as the resident home, so until the outing's check (its
 * "not back" says so) the activity is taken as the other person's; after it, as the resident's.
 * With one opening, the activity after it is the resident come in, as in any home.
 */
function partnersWhileOut(
  rule: RhythmRule,
  s: ResidentSettings,
  rhythm: Rhythm | undefined,
  recent: readonly RecentEvent[],
  entry: RecentEvent,
): boolean {
  const left = rhythm?.last;
  if (
    !s.sharedHome ||
    rhythm?.place !== 'out' ||
    left === undefined ||
    !PARTNER_REPORTS.includes(entry.type) ||
    (rhythm.visit !== undefined && rhythm.visit > left.at) ||
    byTimeThenId(entry, left) <= 0
  )
    return false;
  if (rhythm.returning === undefined) return true;
  // Until the outing's check (the door's and a declared away period's wait included); once decided,
  // its "not back" has told the operator, and activity is the resident's again.
  const checkAt = rhythm.checkAt;
  return checkAt !== undefined && entry.at < checkAt && partnersDoors(rule, recent, left, entry) >= 2;
}

/**
 * Whether `recent[i]` begins a passage through the door: an opening, not a bounce, more than a
 * passage (`DOOR_PASSAGE_MS`) after the opening before (`since`).
 */
const passageAt = (recent: readonly RecentEvent[], i: number, since: number, bounceMs: number): boolean => {
  const seen = recent[i] as RecentEvent;
  return (
    seen.type === 'door.opened' && seen.at - since > DOOR_PASSAGE_MS && !bounceOpening(recent, i, bounceMs)
  );
};

/**
 * The door's passages (`passageAt`) since the door closing `left`, before `entry`; none once a
 * carer's report came (their visit is read as such).
 */
function partnersDoors(
  rule: RhythmRule,
  recent: readonly RecentEvent[],
  left: RecentEvent,
  entry: RecentEvent,
): number {
  const bounceMs = (rule.doorBounceS ?? 0) * 1000;
  let passages = 0;
  let openedAt = -Infinity;
  for (let i = indexOf(recent, left) + 1; i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (byTimeThenId(seen, entry) >= 0) break;
    if (seen.type === 'carer.arrived' || seen.type === 'carer.left') return 0;
    if (passageAt(recent, i, openedAt, bounceMs)) {
      passages++;
      openedAt = seen.at;
    }
  }
  return passages;
}

/**
 * The other person's reports while the resident is out since `left` (`partnersWhileOut`), up to
 * `until` (the outing's check): those before the door opened or a carer's report, and those after
 * its second passage. Read from `recent`, for a check decided after them and for what the "not
 * back" alert says (`doors`: the passages when some came after two).
 */
function partnersSince(
  rule: RhythmRule,
  recent: readonly RecentEvent[],
  left: RecentEvent,
  until: number,
): { found: RecentEvent[]; doors: number[] } {
  const bounceMs = (rule.doorBounceS ?? 0) * 1000;
  const found: RecentEvent[] = [];
  const doors: number[] = [];
  let afterDoors = false;
  for (let i = indexOf(recent, left) + 1; i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (seen.at > until || seen.type === 'carer.arrived' || seen.type === 'carer.left') break;
    if (seen.type === 'door.opened') {
      if (passageAt(recent, i, doors[doors.length - 1] ?? -Infinity, bounceMs)) doors.push(seen.at);
    } else if (PARTNER_REPORTS.includes(seen.type) && rule.activity.includes(seen.type)) {
      if (doors.length === 1) break;
      if (doors.length >= 2) afterDoors = true;
      found.push(seen);
    }
  }
  return { found, doors: afterDoors ? doors : [] };
}

/**
 * Whether an activity is known to be someone else's, and teaches nothing of the resident: the
 * partner's movement in a shared home (`partnersMove`), the partner on a shared bed or chair, or
 * moving, while the resident is out (`partnersWhileOut`), a carer pressing "arrived" or "left" again
 * (`pressedAgain`, `leftAgain`), a carer going seen through the open door (`carerGoing`), a carer
 * up from the resident's chair as they go (`carerUp`).
 */
const someoneElses = (
  rule: RhythmRule,
  s: ResidentSettings,
  rhythm: Rhythm | undefined,
  recent: readonly RecentEvent[],
  entry: RecentEvent,
): boolean =>
  partnersMove(s, rhythm, recent, entry) ||
  partnersWhileOut(rule, s, rhythm, recent, entry) ||
  pressedAgain(rhythm, recent, entry) ||
  leftAgain(rhythm, recent, entry) ||
  carerGoing(rhythm, recent, entry) ||
  carerUp(rhythm, recent, entry);

/**
 * The time of the chair report that took the chair during the carer's visit, when it is still
 * occupied at `entry`, the last carer's "left", the resident out before the visit: the carer is
 * going, and who sits in it is the resident, come in with them. A carer may sit in the resident's
 * chair while they write their notes: the chair taken and left again during the visit, taken while
 * another carer is still in, or left as the carer goes (`upAsTheyGo`: they pressed "left" from the
 * chair; read ahead in `recent`, so a replay from the outing's door reads it), is no return.
 */
function seatedAtLeft(
  rhythm: Rhythm | undefined,
  recent: readonly RecentEvent[],
  entry: RecentEvent,
): number | undefined {
  const visit = rhythm?.visit;
  if (rhythm?.place !== 'out' || visit === undefined || rhythm.visitEnd !== undefined) return undefined;
  if ((rhythm.visitors ?? 1) > 1 || entry.at - visit >= VISIT_MAX_MS) return undefined;
  let seated: number | undefined;
  let up: RecentEvent | undefined;
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at < visit) return undefined;
    if (byTimeThenId(seen, entry) >= 0) {
      if (seen.type === 'chair.vacated' || seen.type === 'chair.occupied') up = seen;
      continue;
    }
    if (seen.type === 'chair.vacated') return undefined;
    if (seen.type === 'chair.occupied') {
      seated = seen.at;
      break;
    }
  }
  if (seated === undefined) return undefined;
  return up?.type === 'chair.vacated' && upAsTheyGo(recent, entry.at, up) ? undefined : seated;
}

/**
 * Whether the chair left at `vacated` is the carer whose "left" came at `leftAt` getting up as they
 * go: before the door closes behind them (the first closing within `VISIT_DOOR_MS` of "left"), or
 * within `SEAT_LAG_MS` after it (the pad's vacate delay), or, with nothing moving inside since the
 * door closed, within `SLOW_SEAT_MS` (a pad slower than its minute); with no closing, within
 * `VISIT_DOOR_MS` of "left". Later, or with movement inside after the door closed before it, it is
 * the resident getting up after the carer went. Never while someone moved in another room than the
 * chair's while it was taken during the visit (`movedBeside`): the one in it was not the carer.
 */
function upAsTheyGo(recent: readonly RecentEvent[], leftAt: number, vacated: RecentEvent): boolean {
  if (vacated.at < leftAt || movedBeside(recent, leftAt, vacated)) return false;
  for (let i = firstAtOrAfter(recent, leftAt); i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (seen.at - leftAt > VISIT_DOOR_MS) break;
    if (seen.type !== 'door.closed') continue;
    // Within the pad's minute, or slower with nothing moving inside since the door closed.
    if (vacated.at - seen.at > SLOW_SEAT_MS) return false;
    for (let j = i + 1; j < recent.length; j++) {
      const inside = recent[j] as RecentEvent;
      if (byTimeThenId(inside, vacated) >= 0) break;
      if (inside.type === 'motion' && inside.at > seen.at) return false;
    }
    return true;
  }
  return vacated.at - leftAt <= VISIT_DOOR_MS;
}

/**
 * Whether someone moved in another room than the chair's while the chair was taken, before the
 * carer's "left" at `leftAt` and the chair's `vacated`: a movement more than `SEAT_LAG_MS` after the
 * chair's report that took it (its own room's PIR sees the one sitting in it shift; a pad reports the
 * seat taken a little late), and more than `SEAT_LAG_MS` before it was reported left (the one who
 * got up, walking off before the pad said so). A carer sat writing their notes, the resident out,
 * leaves nobody else to move; the resident sat while the carer makes tea in the kitchen does.
 */
function movedBeside(recent: readonly RecentEvent[], leftAt: number, vacated: RecentEvent): boolean {
  const seat = lastOf(recent, CHAIR_REPORTS, vacated.at - 1);
  if (seat?.type !== 'chair.occupied') return false;
  for (let i = firstAtOrAfter(recent, seat.at + SEAT_LAG_MS); i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (seen.at >= leftAt || seen.at >= vacated.at - SEAT_LAG_MS) return false;
    if (seen.type === 'motion' && seen.location !== undefined && seen.location !== seat.location) return true;
  }
  return false;
}

/**
 * Whether the chair left is the carer of the visit that just ended getting up as they go
 * (`upAsTheyGo`): taken during the visit and not left before its "left", the resident out before
 * it (out, or at home only by activity since "left", undone when the door closes behind the carer).
 * Learned, it was the resident up from their chair: at home, and the carer's closing an outing
 * from then.
 */
function carerUp(rhythm: Rhythm | undefined, recent: readonly RecentEvent[], entry: RecentEvent): boolean {
  const left = rhythm?.visitEnd;
  const visit = rhythm?.visit;
  if (entry.type !== 'chair.vacated' || left === undefined || visit === undefined || entry.at < left)
    return false;
  const back = rhythm?.beforeReturn;
  const outBefore =
    rhythm?.place === 'out' || (back !== undefined && back.at >= left && visit > back.last.at);
  if (!outBefore) return false;
  const seat = lastOf(recent, CHAIR_REPORTS, left);
  return seat?.type === 'chair.occupied' && seat.at >= visit && upAsTheyGo(recent, left, entry);
}

/**
 * Whether a movement is a lone carer going, seen through the open door (the hall's PIR as they step
 * out): within `VISIT_DOOR_MS` of their "left", the door opened since it and not closed since, and
 * the resident out before the visit (out, or at home only by movement since "left": the carer on
 * their way to the door, undone when it closes behind them). Learned, it was someone coming in by
 * that door: the resident home, and the carer's closing an outing of its own from then, so "not
 * back" came hours late. Who opens the door again after it closed is someone coming in.
 */
function carerGoing(rhythm: Rhythm | undefined, recent: readonly RecentEvent[], entry: RecentEvent): boolean {
  const left = rhythm?.visitEnd;
  if (entry.type !== 'motion' || left === undefined || entry.at - left > VISIT_DOOR_MS) return false;
  const back = rhythm?.beforeReturn;
  const outBefore =
    rhythm?.place === 'out' ||
    (back !== undefined && back.at >= left && rhythm?.visit !== undefined && rhythm.visit > back.last.at);
  if (!outBefore) return false;
  let opened = false;
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at < left) break;
    if (byTimeThenId(seen, entry) >= 0) continue;
    if (seen.type === 'door.closed') return false;
    if (seen.type === 'door.opened') opened = true;
  }
  return opened;
}

/**
 * Whether a carer's "arrived" is the carer of the visit open pressing it again (the home unit gave
 * no sign it was taken, or they forgot): more than `VISIT_DOOR_MS` after the visit began, with no
 * door opened since it began. Every carer's key reports through the home unit, so a press names no
 * carer: a second carer is told only by coming in, with the first (within `VISIT_DOOR_MS` of the
 * visit's start) or by a door opened since. Nothing is learned from a press again: counted as a
 * second carer, it kept the visit open after the one "left" until its two hours, and the resident
 * coming home meanwhile was taken for the carer. Unknown (`recent` no longer reaches the visit's
 * start): learned as before.
 */
function pressedAgain(
  rhythm: Visit | undefined,
  recent: readonly RecentEvent[],
  entry: RecentEvent,
): boolean {
  const start = rhythm?.visit;
  if (entry.type !== 'carer.arrived' || start === undefined || rhythm?.visitEnd !== undefined) return false;
  if (entry.at - start <= VISIT_DOOR_MS || entry.at - start >= VISIT_MAX_MS) return false;
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at < start) return true;
    if (seen.type === 'door.opened' && seen.at > start && byTimeThenId(seen, entry) < 0) return false;
  }
  return false;
}

/**
 * Whether a carer's "left" is one of the carers of the visit open pressing it again (a double
 * press, or the home unit gave no sign it was taken): a "left" of this visit before it from the
 * same device, which did not end it (another carer still in), and no door opened since that
 * "left". As for "arrived" (`pressedAgain`), only the door tells carers apart on the home unit,
 * which every carer's key reports through: the one going opens it. Counted as the other carer's,
 * it ended the visit while that carer was still in, and their movement was the resident home: no
 * "not back" for a resident still out. But two carers who go together each press "left" before
 * the door opens: a press again only when the visit's "left" presses from it on outnumber the
 * carers still in (`laterLefts`: a "left" after it, taken already, tells that one carer stayed).
 * Two devices (each carer's own fob) are two carers. Read back only to the visit's start.
 */
function leftAgain(rhythm: Visit | undefined, recent: readonly RecentEvent[], entry: RecentEvent): boolean {
  const start = rhythm?.visit;
  if (entry.type !== 'carer.left' || rhythm === undefined || start === undefined) return false;
  if (!visitOpen(rhythm, entry.at)) return false;
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at < start) return false;
    if (byTimeThenId(seen, entry) >= 0) continue;
    if (seen.type === 'door.opened') return false;
    if (seen.type === 'carer.left')
      return seen.serial === entry.serial && 1 + laterLefts(recent, entry, start) > (rhythm.visitors ?? 1);
  }
  return false;
}

/**
 * The "left" presses of the visit begun at `start` after `entry` (taken already: a replay from the
 * outing's door reads them), up to the next "arrived" or the visit's longest.
 */
function laterLefts(recent: readonly RecentEvent[], entry: RecentEvent, start: number): number {
  let count = 0;
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (byTimeThenId(seen, entry) <= 0) break;
    if (seen.type === 'carer.arrived' || seen.at - start >= VISIT_MAX_MS) count = 0;
    else if (seen.type === 'carer.left') count++;
  }
  return count;
}

/**
 * Whether a carer's "left", taken in time order after the visit had ended, shows that the "left"
 * which ended it (at `visitEnd`) was a carer pressing it again, not the last carer going: within
 * the visit's longest, with a "left" of the visit before that one from the same device and no door
 * opened between them (`leftAgain` did not know this one yet). The outing is then read again from
 * its door (`outingAgain`), and the other carer's movement meanwhile is theirs.
 */
function endedByPressAgain(rhythm: Rhythm, recent: readonly RecentEvent[], entry: RecentEvent): boolean {
  const start = rhythm.visit;
  const end = rhythm.visitEnd;
  if (start === undefined || end === undefined || entry.at - start >= VISIT_MAX_MS) return false;
  let ending: RecentEvent | undefined;
  for (let i = indexOf(recent, entry) - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at < start || seen.type === 'carer.arrived') return false;
    if (ending === undefined) {
      if (seen.type === 'carer.left' && seen.at === end) ending = seen;
    } else if (seen.type === 'door.opened') return false;
    else if (seen.type === 'carer.left') return seen.serial === ending.serial;
  }
  return false;
}

/**
 * Whether a door closing taken after the carer's "arrived" that followed it (within
 * `VISIT_DOOR_MS`) was, in time order, the carer coming in behind a resident at home: nothing
 * the rhythm reads came between them, no visit was open at the door (a door closing during one is
 * the carer's already), and it was no bounce (closed within `bounceMs` of its opening). Read only
 * for such a late door closing.
 */
function carerCameInBy(
  rule: RhythmRule,
  recent: readonly RecentEvent[],
  closed: RecentEvent,
  arrived: RecentEvent,
  bounceMs: number,
): boolean {
  const at = indexOf(recent, closed);
  for (let i = at; i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (byTimeThenId(seen, arrived) >= 0) break;
    if (seen.id !== closed.id && rule.activity.includes(seen.type)) return false;
  }
  let first = true;
  for (let i = at - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (closed.at - seen.at >= VISIT_MAX_MS) break;
    if (!rule.activity.includes(seen.type)) continue;
    if (
      first &&
      seen.type === 'door.opened' &&
      seen.serial === closed.serial &&
      closed.at - seen.at < bounceMs
    )
      return false;
    first = false;
    if (seen.type === 'carer.arrived') return false;
    if (seen.type === 'carer.left') break;
  }
  return true;
}

/**
 * Sets the silence check of the stretch running from `last` on `rhythm` (a copy nothing else
 * holds), and writes the stretch timer when it comes sooner than the one stored (or `always`).
 */
function armStretch(
  rule: RhythmRule,
  rhythm: Rhythm,
  last: RecentEvent,
  place: 'home' | 'chair' | 'out',
  out: Output,
  always: boolean,
): void {
  let checkAt: number;
  if (place === 'out') {
    checkAt = Math.max(
      outingCheckAt(rule, rhythm, last.at, out.settings),
      doorCheckAt(rule, rhythm, out.settings),
    );
  } else {
    const s = out.settings;
    const limit = gapLimit(rule, rhythm, place, last.at, s.timeZone, budgetOf(rule, s), !atNight(last.at, s));
    checkAt = last.at + limit.ms;
  }
  rhythm.checkAt = checkAt;
  if (always || checkAt < (rhythm.armedAt ?? 0)) {
    out.setTimer(rule, checkAt, {
      id: stretchTimerId(rule.id, out.residentId),
      eventId: last.id,
      key: place,
    });
    rhythm.armedAt = checkAt;
  }
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
    event: undefined,
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
    return reschedule(rule, wakeUpCheck(rule, timer, state, rhythm, out), out, timer.checkAt);
  }
  if (timer.key?.startsWith(NOISY_KEY)) return noisyTick(rule, timer, state, out);
  if (timer.id === stretchTimerId(rule.id, timer.residentId)) return stretchTick(rule, timer, state, out);
  return silenceCheck(rule, timer, state, out);
}

/** Reports that leave an outing as it was (`learnRhythm`): the door, and a carer coming or going. */
const OUTING_KEEPS: readonly RecentEvent['type'][] = [
  'door.opened',
  'door.closed',
  'carer.arrived',
  'carer.left',
];

/**
 * The activity the stretch running at the check follows, from `recent`, for a check decided after
 * later activity: the latest activity by the check, except that while out the door and a carer's
 * reports after the door that took the person out leave the outing as it was, as the rhythm does
 * in time order (the door opened a moment after closing, with nothing seen inside, is no return).
 */
function stretchLastBy(
  rule: RhythmRule,
  state: ResidentState,
  timer: Timer,
  s: ResidentSettings,
): RecentEvent | undefined {
  const own = timer.event;
  // In a shared home, the partner's reports while out leave the outing as it was (`partnersWhileOut`).
  const partners =
    s.sharedHome && timer.key === 'out' && own !== undefined
      ? partnersSince(rule, state.recent, own, timer.checkAt).found
      : [];
  const found =
    partners.length === 0
      ? lastOf(state.recent, rule.activity, timer.checkAt)
      : state.recent.findLast(
          (seen) => seen.at <= timer.checkAt && rule.activity.includes(seen.type) && !partners.includes(seen),
        );
  if (
    timer.key !== 'out' ||
    own === undefined ||
    found === undefined ||
    found.id === own.id ||
    found.at < own.at
  )
    return found;
  const since = state.recent.filter(
    (seen) =>
      seen.id !== own.id &&
      !partners.includes(seen) &&
      seen.at >= own.at &&
      seen.at <= timer.checkAt &&
      rule.activity.includes(seen.type),
  );
  if (!since.every((seen) => OUTING_KEEPS.includes(seen.type))) return found;
  // The door opened by the check and activity inside within a passage of it, after the check: in
  // time order the return, dated at the door (`returning`), so the check had nothing to decide.
  // Taken the other way round (the door contact and the PIR are separate senders), the activity
  // came first and dated the return after the check.
  const opened = since.findLast((seen) => seen.type === 'door.opened');
  if (
    opened === undefined ||
    since.some((seen) => seen.type === 'carer.arrived' || seen.type === 'carer.left')
  )
    return own;
  const inside = state.recent.some(
    (seen) =>
      seen.at > timer.checkAt &&
      seen.at - opened.at <= DOOR_PASSAGE_MS &&
      rule.activity.includes(seen.type) &&
      !OUTING_KEEPS.includes(seen.type),
  );
  return inside ? opened : own;
}

/** A silence check of the activity `timer` names: alerts when it is still the latest by the check. */
function silenceCheck(rule: RhythmRule, timer: Timer, state: ResidentState, out: Output): ResidentState {
  const rhythm = state.rhythms?.[rule.id];
  const tz = out.settings.timeZone;
  if (!rhythm?.last) return state;
  // The latest activity by the check: still the one the check follows, or the silence ended. A check
  // found past due by a later activity carries the one it follows: `recent` keeps a day, and a
  // check decided after that (the person found the next day, triage behind) would find nothing.
  const last =
    rhythm.last.at <= timer.checkAt
      ? rhythm.last
      : (stretchLastBy(rule, state, timer, out.settings) ?? timer.event);
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
    const since = sinceLeaving(rule, state.recent, last, timer.checkAt, tz, out.settings.sharedHome);
    out.alert(
      derivedAlert(rule, out, {
        key: `out:${last.id}`,
        evidence: [last],
        thresholds: {
          outForS: Math.round((timer.checkAt - last.at) / 1000),
          learned: limit.learned,
          ...since.thresholds,
        },
        detail: `out of the front door at ${formatWhen(last.at, tz, timer.checkAt)} (${deviceValues(last).device}) and nothing at home since${since.text}`,
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
  const bounceMs = (rule.doorBounceS ?? 0) * 1000;
  const bounces = bouncesBetween(state.recent, last.at, timer.checkAt, bounceMs);
  const noisy = noisySince(rule, rhythm, last.at, timer.checkAt, tz);
  out.alert(
    derivedAlert(rule, out, {
      key: `since:${last.id}`,
      evidence: [last],
      thresholds: {
        silentForS: Math.round((timer.checkAt - last.at) / 1000),
        learned: limit.learned,
        ...(bounces.count > 0 ? { doorBouncesIgnored: bounces.count } : {}),
        ...noisy.thresholds,
      },
      detail: `no movement since ${formatWhen(last.at, tz, timer.checkAt)}, ${TAXONOMY[last.type].description.toLowerCase()} (${deviceValues(last).device}); ${PLACE_TEXT[place]}${bounces.first ? `; ${openingsText(bounces.count, bounceMs)} since then ignored as bounce${bounces.count === 1 ? '' : 's'} (${deviceValues(bounces.first).device})` : ''}${noisy.text}${place === 'chair' && out.settings.sharedHome ? '; a shared home: movement in other rooms than the chair’s is taken as the other person’s' : ''}`,
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
 * What the door and a carer did while the person was out (since they left at `left`, by the check):
 * nothing of it ended the outing, but the operator sees those reports and is told why. A carer's
 * visits (`carerVisits`, the door within five minutes of either end is theirs), the door opened
 * with nothing seen inside after it, bounces (`doorBounceS`), and in a shared home the other
 * person's reports (`partnersWhileOut`).
 */
function sinceLeaving(
  rule: RhythmRule,
  recent: readonly RecentEvent[],
  left: RecentEvent,
  checkAt: number,
  tz: string,
  sharedHome: boolean,
): { text: string; thresholds: Record<string, number> } {
  const bounceMs = (rule.doorBounceS ?? 0) * 1000;
  const visits = carerVisits(recent);
  const openings: number[] = [];
  let bounces = 0;
  for (let i = firstAtOrAfter(recent, left.at); i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (seen.at > checkAt) break;
    if (seen.at <= left.at && seen.id <= left.id) continue;
    if (seen.type === 'carer.arrived' || seen.type === 'carer.left') visits.add(seen);
    else if (seen.type === 'door.opened') {
      if (bounceOpening(recent, i, bounceMs)) bounces++;
      else openings.push(seen.at);
    }
  }
  const carers = (at: number) =>
    visits.list.some(
      ([from, to]) => at >= from - VISIT_DOOR_MS && at <= (to ?? from + VISIT_MAX_MS) + VISIT_DOOR_MS,
    );
  // In a shared home, the doors activity inside came after are told with it (`partnersText`).
  const shared = sharedHome ? partnersSince(rule, recent, left, checkAt) : undefined;
  const others = openings.filter((at) => !carers(at) && !(shared?.doors.includes(at) ?? false));
  const notes: string[] = [];
  for (const [from, to] of visits.list)
    notes.push(
      `a carer visit ${formatHhmm(from, tz)}–${to === undefined ? '(no "left")' : formatHhmm(to, tz)}`,
    );
  if (others.length > 0)
    notes.push(
      `the door opened at ${others.map((at) => formatHhmm(at, tz)).join(', ')} with nothing seen inside after it`,
    );
  if (bounces > 0)
    notes.push(`${openingsText(bounces, bounceMs)} ignored as bounce${bounces === 1 ? '' : 's'}`);
  if (shared !== undefined && shared.found.length > 0) notes.push(...partnersText(shared, tz));
  const thresholds: Record<string, number> = shared === undefined ? {} : partnersThresholds(shared);
  if (visits.list.length > 0) thresholds.carerVisits = visits.list.length;
  if (others.length > 0) thresholds.doorOpenedSince = others.length;
  if (bounces > 0) thresholds.doorBouncesIgnored = bounces;
  return { text: notes.length > 0 ? `; since then ${notes.join('; ')}` : '', thresholds };
}

/**
 * What the "not back" alert says of the other person's reports in a shared home (`partnersSince`):
 * those with no door opened since the resident left, and those after the door's second passage,
 * which may be the other person back (or the resident: the operator asks who is home).
 */
function partnersText(shared: { found: RecentEvent[]; doors: number[] }, tz: string): string[] {
  const firstDoor = shared.doors[0] ?? Infinity;
  const before = shared.found.filter((seen) => seen.at < firstDoor);
  const after = shared.found.filter((seen) => seen.at > firstDoor);
  const notes: string[] = [];
  if (before.length > 0)
    notes.push(
      `${reportsText(before, tz)} with no door opened since they left (a shared home: taken as the other person's)`,
    );
  if (after.length > 0)
    notes.push(
      `the door opened at ${shared.doors.map((at) => formatHhmm(at, tz)).join(', ')}, then ${reportsText(after, tz)}: someone went out and someone came in, maybe the other person back (a shared home: taken as theirs; ask whether the resident is home)`,
    );
  return notes;
}

/** The counts the "not back" alert carries of the other person's reports (`partnersSince`). */
function partnersThresholds(shared: { found: RecentEvent[]; doors: number[] }): Record<string, number> {
  const thresholds = reportsCounts(shared.found);
  if (shared.doors.length > 0) thresholds.sharedDoorPassages = shared.doors.length;
  return thresholds;
}

/**
 * The carers' visits told from their reports in time order (`add`), counted as the rhythm counts
 * them: one visit from its first "arrived" to the "left" that ends it (`visitAfter`), a second
 * carer's "arrived" joining it and a press again (`pressedAgain`, `leftAgain`) adding nothing.
 * Paired naively, a double-handed visit or a press again read as several visits. A "left" whose
 * visit began before the first report added is a visit of its own, ended then.
 */
function carerVisits(recent: readonly RecentEvent[]) {
  const list: Array<[from: number, to: number | undefined]> = [];
  const visit: { -readonly [K in keyof Visit]: Visit[K] } = {
    visit: undefined,
    visitEnd: undefined,
    visitors: undefined,
  };
  const add = (entry: RecentEvent): void => {
    // A visit ended longer ago than a visit's longest is one the rhythm has let go.
    if (visit.visit !== undefined && entry.at - (visit.visitEnd ?? visit.visit) > VISIT_MAX_MS)
      visit.visit = visit.visitEnd = visit.visitors = undefined;
    if (pressedAgain(visit, recent, entry) || leftAgain(visit, recent, entry)) return;
    const open = visitOpen(visit, entry.at);
    if (entry.type === 'carer.arrived' && !joins(visit, entry, open)) list.push([entry.at, undefined]);
    visitAfter(visit, visit, entry, open);
    const last = list.at(-1);
    if (entry.type !== 'carer.left' || visit.visitEnd !== entry.at) return;
    if (last !== undefined && last[0] === visit.visit) last[1] = entry.at;
    else list.push([entry.at - 1, entry.at]);
  };
  return { list, add };
}

/**
 * Whether a movement report is a noisy sensor's and not the person on its own (`RhythmRule.chatter`):
 * its sensor reported `reports` times or more within `withinS` (now, or it did within `quietS`), and
 * no other device saw activity within `withinS` before it. And the noisy sensors as they are now.
 */
function chatterOf(
  rule: RhythmRule,
  chatter: NonNullable<RhythmRule['chatter']>,
  recent: readonly RecentEvent[],
  entry: RecentEvent,
  known: Rhythm['noisy'],
): { ignore: boolean; noisy: Rhythm['noisy']; burst?: Burst } {
  const withinMs = chatter.withinS * 1000;
  let count = 0;
  let first = entry;
  let others = false;
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at <= entry.at - withinMs) break;
    if (seen.at > entry.at) continue;
    if (seen.serial === entry.serial) {
      if (seen.type === 'motion') {
        count++;
        first = seen;
      }
    } else if (rule.activity.includes(seen.type) && !((known?.[seen.serial]?.until ?? 0) > seen.at))
      others = true;
  }
  const was = known?.[entry.serial];
  const still = was !== undefined && entry.at < was.until;
  if (count < chatter.reports) return { ignore: still && !others, noisy: known };
  const noisy: NonNullable<Rhythm['noisy']> = {};
  // The sensors still noisy, and those whose fault is still open (a bounded record: those past
  // their quiet time go).
  for (const serial in known) {
    const record = known[serial];
    if (record && (record.until > entry.at || record.raised !== undefined)) noisy[serial] = record;
  }
  noisy[entry.serial] = {
    since: still ? was.since : first.at,
    until: entry.at + chatter.quietS * 1000,
    device: deviceValues(entry).device,
    kind: entry.deviceKind,
    raised: still ? was.raised : undefined,
  };
  return { ignore: !others, noisy, burst: { first, count } };
}

/** The reports that found a sensor noisy: the first of those within `withinS`, and how many. */
interface Burst {
  readonly first: RecentEvent;
  readonly count: number;
}

/** The noisy-sensor timers' key: `noisy:` and the sensor's serial. */
const NOISY_KEY = 'noisy:';

/** The id of the timer that closes a sensor's `sensor.noisy` once it has been calm for `quietS`. */
export const noisyTimerId = (ruleId: string, residentId: string, serial: string): string =>
  `${ruleId}:${residentId}:${NOISY_KEY}${serial}`;

/** "40 movement reports in 3 min", "40 in 50 s": a span under two minutes in seconds. */
const spanText = (ms: number): string => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : minutes(ms));

/**
 * A sensor found noisy (its record in `noisy`, new from `chatterOf`) that no open fault names yet
 * is raised as one: `sensor.noisy` (P4 technical), once while it stays noisy, evidence the first
 * and the latest report of the burst (id by the sensor and the report that found it). Its timer
 * closes it once the sensor has been calm for `quietS` (`noisyTick`); set once, it is set again
 * for the record's `until` while later bursts keep moving that on.
 */
function toldNoisy(
  rule: RhythmRule,
  chatter: NonNullable<RhythmRule['chatter']>,
  noisy: NonNullable<Rhythm['noisy']>,
  entry: RecentEvent,
  burst: Burst,
  out: Output,
): void {
  const record = noisy[entry.serial];
  if (!record || record.raised !== undefined) return;
  const tz = out.settings.timeZone;
  const span = entry.at - burst.first.at;
  const within = minutes(chatter.withinS * 1000);
  const alert = derivedAlert(rule, out, {
    key: `sensor-noisy:${entry.serial}:${entry.id}`,
    evidence: burst.first.id === entry.id ? [entry] : [burst.first, entry],
    thresholds: {
      reports: burst.count,
      reportsOverS: Math.round(span / 1000),
      chatterReports: chatter.reports,
      chatterWithinS: chatter.withinS,
      quietS: chatter.quietS,
    },
    detail: `${record.device} reported movement ${burst.count} times in ${spanText(span)} (${formatHhmm(burst.first.at, tz)}–${formatHhmm(entry.at, tz)}), far beyond what a person makes: a heater, a curtain or the sun in its view, or a fault; its movement is not taken as the resident on its own until it has been calm for ${minutes(chatter.quietS * 1000)}, and a silence in its room is seen later: have it moved, turned or replaced`,
    expected: `fewer than ${chatter.reports} movement reports in ${within}`,
    seen: `${burst.count} in ${spanText(span)}`,
    decidedAt: entry.at,
    type: 'sensor.noisy',
    priority: defaultPriority('sensor.noisy'),
  });
  out.alert(alert);
  record.raised = alert.id;
  out.setTimer(rule, record.until, {
    id: noisyTimerId(rule.id, out.residentId, entry.serial),
    key: `${NOISY_KEY}${entry.serial}`,
  });
}

/**
 * The noisy sensors with every open fault calm by `at` (its latest burst `quietS` or more before)
 * closed: `sensor.quiet` (P5) that `closes` its `sensor.noisy`, decided as of the moment it became
 * calm, whichever input found it (the sensor's timer, or a burst after it that starts anew). The
 * same object when none is.
 */
function calmed(
  rule: RhythmRule,
  chatter: NonNullable<RhythmRule['chatter']>,
  noisy: NonNullable<Rhythm['noisy']>,
  at: number,
  out: Output,
): NonNullable<Rhythm['noisy']> {
  let next: NonNullable<Rhythm['noisy']> | undefined;
  const tz = out.settings.timeZone;
  for (const serial in noisy) {
    const record = noisy[serial];
    if (record?.raised === undefined || record.until > at) continue;
    const lastAt = record.until - chatter.quietS * 1000;
    const calm = minutes(chatter.quietS * 1000);
    out.alert({
      ...derivedAlert(rule, out, {
        key: `sensor-quiet:${record.raised}`,
        evidence: [],
        fallbackEvidence: `sensor-quiet:${serial}:${record.raised}`,
        thresholds: { quietS: chatter.quietS, noisyForS: Math.round((lastAt - record.since) / 1000) },
        detail: `${record.device}, noisy from ${formatWhen(record.since, tz, record.until)} to ${formatWhen(lastAt, tz, record.until)}, has been calm since: its movement is taken as the resident again`,
        expected: `calm for ${calm}`,
        seen: `no burst of ${chatter.reports} or more reports in ${minutes(chatter.withinS * 1000)} for ${calm}`,
        decidedAt: record.until,
        byTimer: true,
        type: 'sensor.quiet',
        priority: defaultPriority('sensor.quiet'),
        closes: { alertId: record.raised, outcome: 'restored' },
      }),
      deviceSerial: serial,
      ...(record.kind === undefined ? {} : { deviceKind: record.kind }),
    });
    next ??= { ...noisy };
    next[serial] = {
      since: record.since,
      until: record.until,
      device: record.device,
      kind: record.kind,
      raised: undefined,
    };
  }
  return next ?? noisy;
}

/**
 * A noisy sensor's timer come due (`noisyTimerId`): its fault closed when the sensor has been calm
 * for `quietS` by now; else set again for when it will have been, the bursts since having moved
 * that on (or nothing, with no fault open).
 */
function noisyTick(rule: RhythmRule, timer: Timer, state: ResidentState, out: Output): ResidentState {
  const chatter = rule.chatter;
  const rhythm = state.rhythms?.[rule.id];
  const record = rhythm?.noisy?.[(timer.key as string).slice(NOISY_KEY.length)];
  if (!chatter || !rhythm?.noisy || record?.raised === undefined) return state;
  if (record.until > timer.checkAt) {
    out.setTimer(rule, record.until, { id: timer.id, key: timer.key });
    return state;
  }
  const copy = rhythmChecked(rhythm, rhythm.checkAt, rhythm.armedAt);
  copy.noisy = calmed(rule, chatter, rhythm.noisy, timer.checkAt, out);
  return withRhythm(state, rule, copy);
}

type Sensors = NonNullable<Rhythm['sensors']>;

const anyRaised = (sensors: Rhythm['sensors']): boolean => {
  for (const serial in sensors) if (sensors[serial]?.raised !== undefined) return true;
  return false;
};

/**
 * Whole days at home and about, with the sensor silent, before it is raised as dead: a day ill in
 * bed, seen by the bedroom's PIR alone, leaves the kitchen's silent, and is no fault of it.
 */
const DEAD_HOME_DAYS = 2;

/** A movement sensor's days and latest report are written at most this often. */
const SENSOR_WRITE_MS = 10 * 60_000;

/**
 * The movement sensors after this activity (`RhythmRule.deadSensor`), when they changed: a motion
 * report dates its sensor's day and closes its fault; any activity finds a sensor seen every day
 * of the `days` before its silence, silent for `silentS` while its heartbeats go on, and raises
 * it as a device fault (with the days it was silent to forget from the rhythm).
 */
function sensorsAfter(
  rule: RhythmRule,
  dead: NonNullable<RhythmRule['deadSensor']>,
  state: ResidentState,
  rhythm: Rhythm | undefined,
  entry: RecentEvent,
  out: Output,
): { sensors: Sensors; forget?: [number, number] } | undefined {
  const tz = out.settings.timeZone;
  const known = rhythm?.sensors;
  let sensors: Sensors | undefined;
  let forget: [number, number] | undefined;
  const today = epochDay(localTime(entry.at, tz).date);
  if (entry.type === 'motion' && !((rhythm?.noisy?.[entry.serial]?.until ?? 0) > entry.at)) {
    const seen = known?.[entry.serial];
    if (!seen || entry.at - seen.lastAt >= SENSOR_WRITE_MS || !seen.days.includes(today) || seen.raised) {
      if (seen?.raised)
        out.alert(
          derivedAlert(rule, out, {
            key: `sensor-restored:${seen.raised}:${entry.id}`,
            evidence: [entry],
            thresholds: {},
            detail: `${deviceValues(entry).device} reported movement at ${formatHhmm(entry.at, tz)}, first since ${formatWhen(seen.lastAt, tz, entry.at)}`,
            decidedAt: entry.at,
            type: 'sensor.activity-restored',
            priority: 5,
            closes: { alertId: seen.raised, outcome: 'restored' },
          }),
        );
      sensors = { ...known };
      sensors[entry.serial] = {
        days: seen?.days.includes(today) ? seen.days : [...(seen?.days ?? []), today].slice(-14),
        lastAt: entry.at,
        lastId: entry.id,
        kind: entry.deviceKind,
        location: entry.location,
        raised: undefined,
      };
    }
  }
  // Seen elsewhere: movement from another sensor (a door is no proof the person is in and about).
  if (entry.type !== 'motion') return sensors ? { sensors } : undefined;
  const now = sensors ?? known;
  for (const serial in known) {
    const sensor = known[serial];
    if (!sensor || serial === entry.serial || sensor.raised !== undefined) continue;
    if (entry.at - sensor.lastAt < dead.silentS * 1000) continue;
    // It beats (a silent device is supervision's), and has since its latest movement.
    const beats = state.devices[serial];
    if (!beats || beats.lost !== undefined || beats.lastAt <= sensor.lastAt) continue;
    const lastDay = epochDay(localTime(sensor.lastAt, tz).date);
    let everyDay = true;
    for (let d = lastDay - dead.days + 1; d <= lastDay; d++) if (!sensor.days.includes(d)) everyDay = false;
    if (!everyDay) continue;
    // The resident at home and about every whole day since, two at least (silences learned at home
    // through half the day or more), and moving elsewhere today: not away, in hospital or in bed.
    let about = 0;
    for (let d = lastDay + 1; d < today; d++) if (rhythm && homeDay(rhythm, d)) about++;
    if (about < DEAD_HOME_DAYS || about < today - lastDay - 1) continue;
    if (!Object.keys(now ?? {}).some((other) => other !== serial && now?.[other]?.days.includes(today)))
      continue;
    const last: RecentEvent = {
      id: sensor.lastId,
      type: 'motion',
      at: sensor.lastAt,
      serial,
      deviceKind: sensor.kind,
      location: sensor.location,
      testMode: false,
      celsius: undefined,
      doseId: undefined,
      unexpectedKind: undefined,
      padBroken: undefined,
      stillPresent: undefined,
      movedAt: undefined,
      alttime: undefined,
      aheadMs: undefined,
      sourceCode: undefined,
    };
    const alert = derivedAlert(rule, out, {
      key: `sensor-dead:${serial}:${sensor.lastId}`,
      evidence: [last, entry],
      thresholds: { silentForS: Math.round((entry.at - sensor.lastAt) / 1000), daysSeenBefore: dead.days },
      detail: `${deviceValues(last).device} has seen no movement since ${formatWhen(sensor.lastAt, tz, entry.at)}, though the resident passed it on each of the ${dead.days} days before and its heartbeats go on (latest ${formatWhen(beats.lastAt, tz, entry.at)}); the resident was at home and about on the ${about} day${about === 1 ? '' : 's'} since and is seen moving elsewhere (${deviceValues(entry).device} at ${formatHhmm(entry.at, tz)}): the sensor may be dead, covered or turned away`,
      expected: `movement every day, as on each of the ${dead.days} days before`,
      seen: `none for ${minutes(entry.at - sensor.lastAt)}`,
      decidedAt: entry.at,
      type: 'sensor.no-activity',
    });
    out.alert(alert);
    sensors ??= { ...known };
    sensors[serial] = { ...sensor, raised: alert.id };
    // What the rhythm learned while it was dead is not the person's.
    forget = [lastDay, today];
  }
  return sensors ? (forget ? { sensors, forget } : { sensors }) : undefined;
}

/** The latest activity before `before` from a device other than `serial`. */
function lastOther(
  rule: RhythmRule,
  recent: readonly RecentEvent[],
  serial: string,
  before: number,
): RecentEvent | undefined {
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at < before && seen.serial !== serial && rule.activity.includes(seen.type)) return seen;
  }
  return undefined;
}

/** What the reason says of the sensors noisy during a silence from `from` to the check. */
function noisySince(
  rule: RhythmRule,
  rhythm: Rhythm,
  from: number,
  checkAt: number,
  tz: string,
): { text: string; thresholds: Record<string, string> } {
  const chatter = rule.chatter;
  if (!chatter || !rhythm.noisy) return { text: '', thresholds: {} };
  const serials: string[] = [];
  const said: string[] = [];
  for (const serial in rhythm.noisy) {
    const record = rhythm.noisy[serial];
    if (!record || record.until <= from || record.since > checkAt) continue;
    serials.push(serial);
    said.push(`${record.device} since ${formatWhen(record.since, tz, checkAt)}`);
  }
  if (serials.length === 0) return { text: '', thresholds: {} };
  return {
    text: `; movement reported by ${said.join(', ')} far beyond what a person makes (${chatter.reports} or more in ${minutes(chatter.withinS * 1000)}): not taken as the resident on its own`,
    thresholds: { noisySensors: serials.join(',') },
  };
}

/** A door report this close to a carer's "arrived" or "left" is the carer's. */
const VISIT_DOOR_MS = 5 * 60_000;

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
): ResidentState {
  const s = out.settings;
  const tz = s.timeZone;
  const date = timer.key?.slice(5) ?? '';
  const ups = getUps(rule, rhythm);
  const latest = rhythm?.last;
  // Decided after activity later than the check (triage fires due timers in rounds between events,
  // and may be behind): what the person was doing by the check, from what had been seen by then,
  // as in time order. Getting up at one o'clock does not make them up by ten.
  const behind = latest !== undefined && latest.at > timer.checkAt;
  const last = behind ? lastOf(state.recent, rule.activity, timer.checkAt) : latest;
  const bedThen = behind ? lastOf(state.recent, BED_REPORTS, timer.checkAt) : undefined;
  const inBedThen = behind ? bedThen?.type === 'bed.occupied' : rhythm?.place === 'bed';
  // Out of the front door and not back: nothing at home could move, and the outing's own check
  // says so ("not back"); "not up" would tell the operator the wrong story.
  if (behind ? last?.type === 'door.closed' : rhythm?.place === 'out') return state;
  let up: boolean;
  let elsewhere = false;
  if (ups) {
    // Seen getting up today, or about (or out) since early morning and not back in bed.
    const dayStart = zonedInstant(date, 4 * 60, tz);
    // Behind by hours, `recent` (a bounded list) may have let the morning go: the get-up the rhythm
    // learned for the day says it too.
    const upMinute = behind && rhythm ? upMinuteOn(rhythm, date) : undefined;
    up = behind
      ? (upMinute !== undefined && zonedInstant(date, upMinute, tz) <= timer.checkAt) ||
        state.recent.some(
          (seen) => seen.type === 'bed.vacated' && seen.at >= dayStart && seen.at <= timer.checkAt,
        ) ||
        (!inBedThen && last !== undefined && last.at >= dayStart)
      : rhythm?.upOn === date || (!inBedThen && last !== undefined && last.at >= dayStart);
    // The bed still says occupied, yet someone has been about in another room since early morning:
    // the bed sensor missed them getting up (a mat that misses a `bed.vacated` is common). They
    // are up; from now on they are at home, and their silences are checked as any day's.
    // In a home shared with a partner, that someone is the partner: the bed is believed.
    elsewhere = !up && inBedThen && last !== undefined && upElsewhere(rule, state, dayStart, timer.checkAt);
    // Behind, the rhythm has followed them since: up by the check, nothing more to do.
    if (elsewhere && !s.sharedHome && behind) return state;
    if (elsewhere && !s.sharedHome && rhythm && last) return upAfterAll(rule, state, rhythm, last, date, out);
  } else {
    const from = zonedInstant(date, s.wakeFrom, tz);
    up = state.recent.some(
      (seen) =>
        rule.activity.includes(seen.type) &&
        seen.type !== 'bed.occupied' &&
        seen.at >= from &&
        seen.at <= timer.checkAt,
    );
    // Behind by hours, `recent` may have let the window's activity go: the day's first activity
    // from the window's start (`woke`), or the get-up learned that day, says it too.
    if (!up && behind && rhythm && (state.forgottenUntil ?? Number.NEGATIVE_INFINITY) >= from) {
      const woke = wokeOn(rhythm, date);
      const upMinute = upMinuteOn(rhythm, date);
      up =
        (woke !== undefined &&
          zonedInstant(date, Math.floor(woke / 60_000), tz) + (woke % 60_000) <= timer.checkAt) ||
        (upMinute !== undefined && zonedInstant(date, upMinute, tz) <= timer.checkAt);
    }
  }
  if (up) return state;
  const inBed = inBedThen && rhythm?.bedAt !== undefined;
  const bedAt = rhythm?.bedAt ?? 0;
  const detail = inBed
    ? elsewhere
      ? `in bed since ${formatWhen(bedAt, tz, timer.checkAt)}, the bed still occupied: not up by ${formatHhmm(timer.checkAt, tz)} (a shared home: the movement in other rooms since is taken as the other person's)`
      : rhythm?.upInNight
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
  return state;
}

/**
 * Whether an activity came, since `from`, from a room other than the bed's (by the latest bed
 * report's location) after that report: someone up and about while the bed says occupied. The
 * bedroom's own sensors (a PIR that sees the person turn over) are not counted, nor a bed whose
 * room is not known.
 */
function upElsewhere(rule: RhythmRule, state: ResidentState, from: number, by: number): boolean {
  const bed = lastOf(state.recent, BED_REPORTS, by);
  if (bed?.location === undefined) return false;
  const since = Math.max(from, bed.at);
  for (let i = state.recent.length - 1; i >= 0; i--) {
    const seen = state.recent[i] as RecentEvent;
    if (seen.at < since) break;
    if (
      seen.at <= by &&
      rule.activity.includes(seen.type) &&
      !BED_REPORTS.includes(seen.type) &&
      seen.location !== undefined &&
      seen.location !== bed.location
    )
      return true;
  }
  return false;
}

/**
 * The person is up though the bed sensor never said so: the rhythm takes them out of bed (the
 * morning is theirs: a `bed.vacated` later today is not learned as a get-up) and checks the
 * silence since their latest activity, as if the bed had reported them leaving it.
 */
function upAfterAll(
  rule: RhythmRule,
  state: ResidentState,
  rhythm: Rhythm,
  last: RecentEvent,
  date: string,
  out: Output,
): ResidentState {
  const copy = rhythmChecked(rhythm, undefined, rhythm.armedAt);
  copy.bed = false;
  copy.upOn = date;
  copy.leftBed = undefined;
  const place = placeOf(false, copy.chair, last, copy.returning !== undefined);
  copy.place = place;
  if (place !== 'bed') armStretch(rule, copy, last, place, out, (copy.armedAt ?? 0) === 0);
  return withRhythm(state, rule, copy);
}

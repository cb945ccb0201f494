/**
 * Correlation rules: a first event not followed by another (fall then no movement, night exit),
 * and the cancels and restores that close an alarm.
 */
import { type Alert, type EventType, TAXONOMY } from '@telecare/contracts';
import { alertId as alertIdFor } from '../ids.ts';
import { anchorOf, cancelCloses, groupPresses, groupsOf, mayCancel } from '../merge.ts';
import type { CorrelationRule, RecentEvent, Timer } from '../model.ts';
import { formatAlso, formatHhmm, formatWhen } from '../time.ts';
import { cancelNotTakenNote, ORPHANS_DISTRUSTED, orphanCancels, ownAlarmsCancelled } from './cancel-trust.ts';
import { bounceClosing, bounceOpening, inBounce, isDoor, openingsText } from './door.ts';
import { assertNever, checkDue, derivedAlert, minutes, type Output } from './output.ts';
import { findEvent, firstAtOrAfter, indexOf } from './recent.ts';
import { atNight } from './settings.ts';
import { reportsCounts, reportsText } from './shared.ts';
import { groupAlertId, overLimit, pressGroups, reportHead } from './trigger.ts';

export function cancelWindowS(rule: CorrelationRule, out: Output): number {
  const pattern = rule.pattern;
  const own = out.settings.thresholds[rule.id]?.withinS;
  if (pattern.kind !== 'cancel') return own ?? 0;
  return own ?? out.settings.preAlarmCancelS ?? pattern.withinS;
}

/** The trigger alert ids an alarm event belongs to (to close them): a merged press, its group's. */
export function alarmAlertIds(
  out: Output,
  recent: readonly RecentEvent[],
  alarm: RecentEvent,
  closing?: RecentEvent,
): string[] {
  const ids: string[] = [];
  for (const rule of out.ruleSet.rules) {
    if (rule.kind !== 'trigger' || !rule.on.includes(alarm.type)) continue;
    if (rule.limit !== undefined) {
      // A status report shown on a report's alert (`reportHead`) stands as that alert does.
      const raiser = (alarm.stillPresent ? reportHead(out, recent, alarm) : undefined) ?? alarm;
      // A suppressed report's alert is raised only by its settle check, and not when this closing
      // event came within the rule's window after it: there is then no alert to close.
      const i = indexOf(recent, raiser);
      const suppressed = recent[i]?.id === raiser.id && overLimit(rule, recent, i, out);
      if (suppressed && (closing === undefined || closing.at <= raiser.at + rule.limit.withinS * 1000))
        continue;
      ids.push(alertIdFor(rule.id, out.residentId, raiser.id));
      continue;
    }
    if (rule.mergeWithinS === undefined) {
      // A status report shown on an alarm's alert (`reportHead`) stands as that alert does.
      const head = alarm.stillPresent ? reportHead(out, recent, alarm) : undefined;
      ids.push(alertIdFor(rule.id, out.residentId, (head ?? alarm).id));
      continue;
    }
    const i = indexOf(recent, alarm);
    const anchor =
      recent[i]?.id === alarm.id
        ? anchorOf(groupsOf(pressGroups(rule, alarm.testMode, out), alarm), recent, i).anchor
        : alarm;
    ids.push(groupAlertId(rule, out.residentId, anchor));
  }
  return ids;
}

export function closeAlarm(
  rule: CorrelationRule,
  out: Output,
  recent: readonly RecentEvent[],
  alarm: RecentEvent,
  closing: RecentEvent,
  outcome: 'false-alarm' | 'restored',
  thresholds: Alert['thresholds'],
) {
  for (const alertId of alarmAlertIds(out, recent, alarm, closing)) {
    const key = `${alertId}:${closing.id}`;
    // Two presses of one group closed by one cancel close its alert once.
    if (out.alerts.some((alert) => alert.closes?.alertId === alertId && alert.evidence.includes(closing.id)))
      continue;
    out.alert(
      derivedAlert(rule, out, {
        key,
        evidence: [alarm, closing],
        thresholds,
        detail: `${
          outcome === 'false-alarm'
            ? `cancelled by the resident ${Math.round((closing.at - alarm.at) / 1000)} s after the alarm: recorded as a false alarm`
            : `${TAXONOMY[closing.type].description.toLowerCase()} at ${formatHhmm(closing.at, out.settings.timeZone)}`
        }${closing.sourceCode === undefined ? '' : `, sent as ${closing.sourceCode}`}`,
        decidedAt: Math.max(alarm.at, closing.at),
        type: closing.type,
        priority: 5,
        closes: { alertId, outcome },
      }),
    );
  }
}

/**
 * A cancel paired with an alarm it may close: closed as a false alarm, unless its device sent
 * `ORPHANS_DISTRUSTED` or more cancels with nothing to cancel in the hour before it (`orphans`,
 * see `cancel-trust.ts`), or the alarm or its alert holds a press of another device the cancel may
 * not close (`otherPress`): another trigger's, or any but its own once a home unit has cancelled
 * `ORPHANS_DISTRUSTED` or more of its own alarms in the hour (`ownAlarmsCancelled`). Then the alarm
 * stays for an operator, and a note joins its case saying
 * why: one per alarm alert (its id does not name the cancel), however many cancels of the stream
 * follow the press within the window. The shell counts each cancel not taken (`cancelsNotTaken`).
 */
function cancelAlarm(
  rule: CorrelationRule,
  out: Output,
  recent: readonly RecentEvent[],
  alarm: RecentEvent,
  cancel: RecentEvent,
  orphans: number,
  thresholds: Alert['thresholds'],
) {
  // Counted only when the cancel would close another device's alarm: a home unit's.
  let ownCancelled: number | undefined;
  const closes = (press: RecentEvent): boolean => {
    if (!cancelCloses(cancel, press)) return false;
    if (press.serial === cancel.serial || rule.pattern.kind !== 'cancel') return true;
    ownCancelled ??= ownAlarmsCancelled(recent, cancel, {
      ...rule.pattern,
      windowMs: cancelWindowS(rule, out) * 1000,
    });
    return ownCancelled < ORPHANS_DISTRUSTED;
  };
  const other = orphans < ORPHANS_DISTRUSTED ? otherPress(out, recent, alarm, cancel, closes) : undefined;
  if (orphans < ORPHANS_DISTRUSTED && other === undefined) {
    closeAlarm(rule, out, recent, alarm, cancel, 'false-alarm', thresholds);
    return;
  }
  for (const alertId of alarmAlertIds(out, recent, alarm, cancel)) {
    out.refuseCancel({
      ruleId: rule.id,
      residentId: out.residentId,
      alertId,
      eventId: cancel.id,
      deviceSerial: cancel.serial,
      orphans,
      ...(other === undefined ? {} : { otherDevice: other.serial }),
    });
    const note = cancelNotTakenNote(
      rule,
      out,
      alarm,
      cancel,
      alertId,
      orphans,
      thresholds,
      other,
      ownCancelled,
    );
    if (!out.alerts.some((raised) => raised.id === note.id)) out.alert(note);
  }
}

/**
 * `alarm`, or a press in its group (a merging trigger rule's: one alert for the home's presses
 * within its window, whichever device pressed), that the cancel may not close (`closes`: another
 * trigger's). Closing the group's alert would close that press too: a stolen pendant's
 * login pressing and cancelling its own presses, each pair no orphan, closed the resident's press
 * on their other pendant (or the home unit's button) that its press had joined, or that had joined
 * the group its press opened, as a false alarm before an operator saw it.
 */
function otherPress(
  out: Output,
  recent: readonly RecentEvent[],
  alarm: RecentEvent,
  cancel: RecentEvent,
  closes: (press: RecentEvent) => boolean,
): RecentEvent | undefined {
  if (!closes(alarm)) return alarm;
  const i = indexOf(recent, alarm);
  if (recent[i]?.id !== alarm.id) return undefined;
  const to = Math.max(i, Math.min(indexOf(recent, cancel), recent.length - 1));
  for (const rule of out.ruleSet.rules) {
    if (rule.kind !== 'trigger' || rule.mergeWithinS === undefined || !rule.on.includes(alarm.type)) continue;
    const g = groupsOf(pressGroups(rule, alarm.testMode, out), alarm);
    const { anchor, start } = anchorOf(g, recent, i);
    const other = groupPresses(g, recent, start, anchor, Math.max(to, indexOf(recent, anchor))).find(
      (press) => !closes(press),
    );
    if (other) return other;
  }
  return undefined;
}

export function correlationOnEvent(
  rule: CorrelationRule,
  entry: RecentEvent,
  recent: readonly RecentEvent[],
  out: Output,
  /** When the event's gateway received it (`receivedat`), epoch ms. */
  receivedAt: number,
) {
  const pattern = rule.pattern;
  switch (pattern.kind) {
    case 'then-absent':
      // A status report shown on its alarm's alert (`reportHead`) is no new first: the alarm has its check.
      if (
        pattern.first.includes(entry.type) &&
        (!pattern.atNight || atNight(entry.at, out.settings)) &&
        !(entry.stillPresent && reportHead(out, recent, entry))
      ) {
        const withinS = out.settings.thresholds[rule.id]?.withinS ?? pattern.withinS;
        out.setTimer(rule, entry.at + withinS * 1000, { id: `${rule.id}:${entry.id}`, eventId: entry.id });
      }
      return;
    case 'cancel': {
      // Symmetric on purpose: whichever of alarm and cancel arrives second closes the pair.
      const windowMs = cancelWindowS(rule, out) * 1000;
      const thresholds = { preAlarmCancelS: windowMs / 1000 };
      // `recent` is sorted by time: only the events within the window are read.
      if (pattern.cancel.includes(entry.type)) {
        if (!mayCancel(entry)) return;
        // Its orphans are counted once, when it first pairs with an alarm (`cancelAlarm`).
        let orphans: number | undefined;
        for (let i = firstAtOrAfter(recent, entry.at - windowMs); i < recent.length; i++) {
          const alarm = recent[i] as RecentEvent;
          if (alarm.at > entry.at) break;
          if (
            pattern.alarm.includes(alarm.type) &&
            cancelCloses(entry, alarm) &&
            alarm.at <= entry.at &&
            entry.at - alarm.at <= windowMs
          ) {
            orphans ??= orphanCancels(recent, entry, { ...pattern, windowMs });
            cancelAlarm(rule, out, recent, alarm, entry, orphans, thresholds);
          }
        }
      } else if (pattern.alarm.includes(entry.type)) {
        // A cancel that arrived before the alarm closes it only when the alarm was made before the
        // cancel arrived (its first sending lost, or relayed slower than the cancel): the cancel is
        // timed no later than the alarm's arrival, and the alarm no later than the cancel's. A
        // cancel dated ahead of its own arrival (a device's time up to 5 minutes ahead is kept)
        // used to close every press of its device made in the minutes after it, each resolved as a
        // false alarm before anyone saw it: what a stolen login sending a few such cancels every
        // few minutes did to a resident's real presses.
        const latest = Math.min(entry.at + windowMs, receivedAt);
        for (let i = firstAtOrAfter(recent, entry.at); i < recent.length; i++) {
          const cancel = recent[i] as RecentEvent;
          if (cancel.at > latest) break;
          if (
            pattern.cancel.includes(cancel.type) &&
            cancelCloses(cancel, entry) &&
            cancel.at >= entry.at &&
            entry.at <= arrivalOf(cancel)
          )
            cancelAlarm(
              rule,
              out,
              recent,
              entry,
              cancel,
              orphanCancels(recent, cancel, { ...pattern, windowMs }),
              thresholds,
            );
        }
      }
      return;
    }
    case 'restore': {
      // Each restore clears the latest alarm of its type from the same device before it; checked
      // from both sides so that the pair is found whichever arrives second. An alarm's restore
      // (`alarm`: the button or cord let go) closes its alert as restored all the same: the
      // helpline shows it on the case and changes nothing else (an alarm is no fault that clears).
      if (pattern.on.includes(entry.type)) {
        const alarm = pairedAlarm(recent, entry, pattern.alarm);
        if (alarm) closeAlarm(rule, out, recent, alarm, entry, 'restored', {});
      } else {
        // A restore pairs only with an alarm before it (`pairedAlarm`): the list is sorted, so
        // only what follows the alarm's place is read, the cheapest test first. One that arrived
        // before the alarm clears it only when the alarm was raised before it arrived, as the
        // cancel above: a restore dated ahead of its arrival clears no fault raised after it.
        // A restore at the alarm's very instant may sort before it (`pairedAlarm`).
        let from = indexOf(recent, entry);
        while (from > 0 && (recent[from - 1] as RecentEvent).at === entry.at) from--;
        for (let i = from; i < recent.length; i++) {
          const restore = recent[i] as RecentEvent;
          if (restore.at > receivedAt) break;
          if (
            entry.at <= arrivalOf(restore) &&
            restore.serial === entry.serial &&
            (pattern.alarm ?? [restoredType(restore.type)]).includes(entry.type) &&
            pattern.on.includes(restore.type) &&
            pairedAlarm(recent, restore, pattern.alarm) === entry
          )
            closeAlarm(rule, out, recent, entry, restore, 'restored', {});
        }
      }
      return;
    }
    default:
      assertNever(pattern);
  }
}

/** When a cancel or restore arrived, where it was timed ahead of that (`aheadMs`); else its time. */
const arrivalOf = (closing: RecentEvent): number => closing.at - (closing.aheadMs ?? 0);

export const restoredType = (type: EventType): string | undefined =>
  (TAXONOMY[type] as { restores?: string }).restores;

/**
 * The alarm a restore clears: the latest one of its type from the same device, not after it; of
 * `alarms`, when given (an alarm button's restore names no one type). A restore at the alarm's very
 * instant comes after it, whichever id sorts first: a panel stamps its reports to the second, so a
 * button tapped and let go, a detector's self-test failing and passing, mains dropping for a moment,
 * all carry one time, and a fault restored within its second stayed open for an operator whenever
 * the restore's id sorted first. Of a fault and a restore of one instant, the restore is taken as
 * the later: with a second fault of that instant, it clears that one, and the earlier stays open.
 */
export function pairedAlarm(
  recent: readonly RecentEvent[],
  restore: RecentEvent,
  alarms?: readonly EventType[],
): RecentEvent | undefined {
  const type = restoredType(restore.type);
  // What comes after the restore's instant is not before it: the search starts at the last event of
  // that instant.
  let from = Math.min(indexOf(recent, restore), recent.length - 1);
  while (from + 1 < recent.length && (recent[from + 1] as RecentEvent).at === restore.at) from++;
  for (let i = from; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (
      (alarms ? alarms.includes(seen.type) : seen.type === type) &&
      seen.serial === restore.serial &&
      seen.at <= restore.at
    )
      return seen;
  }
  return undefined;
}

export function correlationOnTick(
  rule: CorrelationRule,
  timer: Timer,
  recent: readonly RecentEvent[],
  out: Output,
) {
  const pattern = rule.pattern;
  if (pattern.kind !== 'then-absent') return;
  const windowS = out.settings.thresholds[rule.id]?.withinS ?? pattern.withinS;
  const at = findEvent(recent, timer.eventId, timer.checkAt - windowS * 1000);
  if (at < 0) return;
  const first = recent[at] as RecentEvent;
  // Its alarm came at its very instant after it was read: that alarm's own check decides.
  if (first.stillPresent && reportHead(out, recent, first)) return;
  const bounceMs = (pattern.doorBounceS ?? 0) * 1000;
  // The closing of a bounce is no passage: nobody went through the door.
  if (bounceClosing(recent, at, bounceMs)) return;
  // In a home shared with another person, what they may have done is not the resident (`shared`).
  const shared = out.settings.sharedHome ? pattern.shared : undefined;
  // Anything absent that came after it by the check: the list is sorted, so it follows it. A
  // bounce's opening (the door settling behind someone) is not someone coming in: counted, not taken.
  let bounces = 0;
  const others: RecentEvent[] = [];
  for (let i = at + 1; i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (seen.at > timer.checkAt) break;
    if (seen.at > first.at && pattern.absent.includes(seen.type)) {
      if (bounceOpening(recent, i, bounceMs)) {
        bounces++;
        continue;
      }
      if (shared?.reports.includes(seen.type)) {
        others.push(seen);
        continue;
      }
      if (!endsCheck(out, recent, first, seen)) continue;
      return;
    }
  }
  if (pattern.notReturn && isReturn(recent, first, pattern, bounceMs)) return;
  // A shared home is never empty: a closing behind someone come in is told by the door and who moved.
  if (
    shared &&
    first.type === 'door.closed' &&
    (cameIn(recent, first, pattern, bounceMs) ||
      (others.length > 0 && backIn(recent, first, pattern, shared.reports, bounceMs, windowS * 1000)))
  )
    return;
  // Each state must have ended before the first event (or never be seen): its ending is evidence.
  // In a shared home, a state the other person may hold (the bed the two share) holds nothing off.
  const ended: RecentEvent[] = [];
  const held: RecentEvent[] = [];
  for (const state of pattern.notDuring) {
    const latest = latestOf(recent, [...state.starts, ...state.ends], first);
    if (latest && state.starts.includes(latest.type)) {
      if (!shared?.reports.includes(latest.type)) return;
      held.push(latest);
    } else if (latest) ended.push(latest);
  }
  const tz = out.settings.timeZone;
  const withinS = Math.round((timer.checkAt - first.at) / 1000);
  const told = (seen: RecentEvent) =>
    `${TAXONOMY[seen.type].description.toLowerCase()} at ${formatAlso(seen.at, tz, first.at, timer.checkAt)}`;
  const before = ended.map(told);
  const absent =
    others.length > 0 ? pattern.absent.filter((type) => !shared?.reports.includes(type)) : pattern.absent;
  const partners: string[] = [];
  if (held.length > 0) partners.push(`before it ${held.map(told).join(', ')}`);
  if (others.length > 0) partners.push(`after it ${reportsText(others, tz)}`);
  out.alert(
    derivedAlert(rule, out, {
      key: first.id,
      evidence: [first, ...ended, ...held],
      thresholds: {
        withinS,
        ...(pattern.atNight ? { atNight: true } : {}),
        ...(bounces > 0 ? { doorBouncesIgnored: bounces } : {}),
        ...(partners.length > 0 ? { sharedHome: true, ...reportsCounts([...held, ...others]) } : {}),
      },
      detail: `${TAXONOMY[first.type].description.toLowerCase()} at ${formatWhen(first.at, tz, timer.checkAt)}, then no ${absent.join(' or ')} for ${minutes(withinS * 1000)}${bounces > 0 ? `; ${openingsText(bounces, bounceMs)} after it ignored as a bounce${bounces === 1 ? '' : 's'}` : ''}${before.length > 0 ? `; before it: ${before.join(', ')}` : ''}${partners.length > 0 ? `; a shared home: ${partners.join('; ')}: may be the other person’s, not taken as the resident in; ask who is home` : ''}`,
      decidedAt: checkDue(timer, out),
      byTimer: true,
      ...(partners.length > 0 ? { priority: shared?.priority } : {}),
    }),
  );
}

/**
 * Whether `seen`, an absent type that came after `first`, ends `first`'s check. A cancel (a type
 * some cancel rule takes) ends it only where it could close `first` (`cancelMayClose`): a second
 * pendant in the home cancelling its own press ended the check of the resident's fall, and "fall
 * then no movement" was never raised. Anything else the rule lists (movement, from any device) is
 * the resident about.
 */
function endsCheck(
  out: Output,
  recent: readonly RecentEvent[],
  first: RecentEvent,
  seen: RecentEvent,
): boolean {
  for (const rule of out.ruleSet.rules)
    if (
      rule.kind === 'correlation' &&
      rule.pattern.kind === 'cancel' &&
      rule.pattern.cancel.includes(seen.type)
    )
      return cancelMayClose(out, recent, seen, first);
  return true;
}

/**
 * Whether `cancel` could close `alarm` as the resident's enabled cancel rules close one: it may close
 * it (`cancelCloses`), and it is taken (cancel-trust.ts: its device sent fewer than
 * `ORPHANS_DISTRUSTED` orphan cancels, and a home unit closing another device's alarm cancelled
 * fewer of its own) — whether or not it came within the pre-alarm window.
 */
export function cancelMayClose(
  out: Output,
  recent: readonly RecentEvent[],
  cancel: RecentEvent,
  alarm: RecentEvent,
): boolean {
  if (!cancelCloses(cancel, alarm)) return false;
  for (const rule of out.ruleSet.rules) {
    const pattern = rule.kind === 'correlation' ? rule.pattern : undefined;
    if (
      pattern?.kind !== 'cancel' ||
      out.settings.disabled.has(rule.id) ||
      !pattern.alarm.includes(alarm.type) ||
      !pattern.cancel.includes(cancel.type)
    )
      continue;
    const pairing = { ...pattern, windowMs: cancelWindowS(rule as CorrelationRule, out) * 1000 };
    if (orphanCancels(recent, cancel, pairing) >= ORPHANS_DISTRUSTED) continue;
    if (cancel.serial !== alarm.serial && ownAlarmsCancelled(recent, cancel, pairing) >= ORPHANS_DISTRUSTED)
      continue;
    return true;
  }
  return false;
}

/** Door reports this close together are one passage through the door. */
const PASSAGE_MS = 2 * 60_000;

/**
 * Whether `first` (a door closing) ends a passage into an empty home: the passage is the door
 * reports chained back from it, each within two minutes of the next; what came at its first
 * instant (the hall's PIR as the door opened) is part of it. The activity before the passage was
 * the door closing, with nothing since. Only the rule's own types count as activity (not
 * heartbeats or readings); a history that no longer reaches that far says nothing. A bounce
 * (`doorBounceS`) is nobody at the door: it neither joins the passage nor is the activity before it.
 */
function isReturn(
  recent: readonly RecentEvent[],
  first: RecentEvent,
  pattern: ThenAbsent,
  bounceMs: number,
): boolean {
  return beforePassage(recent, first, pattern, bounceMs, true).seen?.type === 'door.closed';
}

type ThenAbsent = {
  first?: readonly EventType[];
  absent: readonly EventType[];
  notDuring: readonly { starts: readonly EventType[]; ends: readonly EventType[] }[];
};

/** Only the rule's own types are activity (not heartbeats or readings). */
const counts = (pattern: ThenAbsent, type: EventType) =>
  (pattern.first?.includes(type) ?? false) ||
  pattern.absent.includes(type) ||
  pattern.notDuring.some((state) => state.starts.includes(type) || state.ends.includes(type));

/**
 * When the passage through the door that `recent[at]` (a door closing) ends began: its door reports
 * chained back, each within `PASSAGE_MS` of the next, bounces left out.
 */
function passageFrom(recent: readonly RecentEvent[], at: number, bounceMs: number): number {
  let from = (recent[at] as RecentEvent).at;
  for (let i = at - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at < from - PASSAGE_MS) break;
    if (isDoor(seen.type) && !inBounce(recent, i, bounceMs)) from = Math.min(from, seen.at);
  }
  return from;
}

/**
 * Whether `first` (a door closing) ends a passage that nobody inside walked up to, in a shared
 * home: no activity but the door's in the `PASSAGE_MS` before the passage began (what came at its
 * first instant, the hall's PIR as the door opened, is the passage's). Someone came in from outside
 * (the other person home late, the resident back): the home was not empty, so `isReturn` cannot say.
 * Leaving, the resident passes the bedroom's or the hall's PIR on their way to the door.
 */
function cameIn(
  recent: readonly RecentEvent[],
  first: RecentEvent,
  pattern: ThenAbsent,
  bounceMs: number,
): boolean {
  const { from, seen } = beforePassage(recent, first, pattern, bounceMs, false);
  return seen === undefined || seen.at < from - PASSAGE_MS;
}

/**
 * When the passage `first` (a door closing) ends began (`passageFrom`), and the latest activity
 * before it (`seen`): the rule's own types, the door's reports too when `doors` (bounces never).
 */
function beforePassage(
  recent: readonly RecentEvent[],
  first: RecentEvent,
  pattern: ThenAbsent,
  bounceMs: number,
  doors: boolean,
): { from: number; seen?: RecentEvent } {
  const at = indexOf(recent, first);
  const from = passageFrom(recent, at, bounceMs);
  for (let i = at - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (
      seen.at < from &&
      counts(pattern, seen.type) &&
      !(isDoor(seen.type) && (!doors || inBounce(recent, i, bounceMs)))
    )
      return { from, seen };
  }
  return { from };
}

/**
 * Whether `first` (a door closing) is someone back in, in a shared home: the door's opening before
 * it came within `windowMs` of a closing before that (the door's own, not a bounce), with nothing
 * but `reports` (the other person's, maybe) between. Whoever went out then came back: the other
 * person out to the bins and back, or the resident back, the earlier closing's check told of it.
 * Only called with activity after `first`: a door shut twice with the home silent after is still
 * an exit.
 */
function backIn(
  recent: readonly RecentEvent[],
  first: RecentEvent,
  pattern: ThenAbsent,
  reports: readonly EventType[],
  bounceMs: number,
  windowMs: number,
): boolean {
  let opened: RecentEvent | undefined;
  for (let i = indexOf(recent, first) - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.serial !== first.serial || !isDoor(seen.type) || inBounce(recent, i, bounceMs)) {
      if (opened === undefined || reports.includes(seen.type) || !counts(pattern, seen.type)) continue;
      return false;
    }
    if (opened === undefined) {
      if (seen.type !== 'door.opened') return false;
      opened = seen;
      continue;
    }
    return seen.type === 'door.closed' && opened.at - seen.at <= windowMs;
  }
  return false;
}

/** The latest event of these types not after `event` (by time, then id), other than itself. */
export function latestOf(
  recent: readonly RecentEvent[],
  types: readonly EventType[],
  event: RecentEvent,
): RecentEvent | undefined {
  for (let i = indexOf(recent, event) - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (types.includes(seen.type)) return seen;
  }
  return undefined;
}

/**
 * Whether a resident's cancel is taken: a cancel closes an alarm as a false alarm only when its
 * device has not been sending cancels with nothing to cancel.
 *
 * A real cancel button follows a press within seconds; it does not send cancels minute after
 * minute with no alarm before them. A stolen login (a pendant's MQTT secret, a panel's DC-09 key)
 * that cannot see the resident's presses must do just that to close them: one cancel at least
 * every pre-alarm window (60 s), each closing whatever press of its device came in the window
 * before it. Every one of those cancels that finds no alarm is an orphan, and the login cannot
 * avoid sending them. So a cancel from a device with `ORPHANS_DISTRUSTED` or more orphan cancels in
 * the hour before it closes nothing: the alarm stays for an operator, with a note that says why.
 *
 * Only what a stream cannot avoid counts. An orphan is a cancel with no alarm of the resident (of
 * the rule's alarm types, any device, any test mode) in the pre-alarm window up to it, by event
 * time: a second or third cancel after a press is no orphan, nor is a cancel whose press arrived
 * after it (a lost first sending, resent), since the count is made when a cancel pairs with an
 * alarm, from what `recent` holds then. A cancel sent in test mode (an installer trying the button,
 * set by the device map, not by the device) is never an orphan. One cancel with no press (a press
 * lost for good, a button tried) costs the resident nothing; a second within the hour sends their
 * next cancelled press to an operator, who calls, as with any alarm.
 *
 * `recent` is bounded (`keepEvents`, and a device holding more than a quarter of it gives up its
 * own oldest: `remember`), but the evidence is the device's own newest entries: a stream of
 * cancels, one a second or one a minute, keeps its latest cancels in `recent`, at least a quarter
 * of it, and a stream too slow to fill that much is kept whole.
 *
 * Read only when a cancel pairs with an alarm: no other event pays for it.
 */
import { type Alert, defaultPriority, type EventType, type Priority } from '@telecare/contracts';
import type { CorrelationRule, RecentEvent } from '../model.ts';
import { derivedAlert, type Output } from './output.ts';
import { byTimeThenId, firstAtOrAfter } from './recent.ts';

/** How far back a device's orphan cancels are counted, before the cancel in question. */
export const ORPHANS_WITHIN_MS = 3_600_000;

/** A device with this many orphan cancels within `ORPHANS_WITHIN_MS` before a cancel: not taken. */
export const ORPHANS_DISTRUSTED = 2;

/** What the cancel rule pairs: its alarm and cancel types, and its window. */
export interface CancelPairing {
  readonly alarm: readonly EventType[];
  readonly cancel: readonly EventType[];
  readonly windowMs: number;
}

/**
 * How many cancels of `cancel`'s device, within `ORPHANS_WITHIN_MS` before it (by time, then id),
 * had no alarm of the resident in the pre-alarm window up to them: the orphans. Not test mode.
 */
export function orphanCancels(
  recent: readonly RecentEvent[],
  cancel: RecentEvent,
  pairing: CancelPairing,
): number {
  const from = cancel.at - ORPHANS_WITHIN_MS;
  let orphans = 0;
  // The latest alarm seen so far in the walk: the list is sorted, so one pass tells each cancel.
  let alarmAt = Number.NEGATIVE_INFINITY;
  for (let i = firstAtOrAfter(recent, from - pairing.windowMs); i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (byTimeThenId(seen, cancel) >= 0) break;
    if (pairing.alarm.includes(seen.type)) {
      alarmAt = seen.at;
      continue;
    }
    if (
      seen.at < from ||
      seen.serial !== cancel.serial ||
      seen.testMode ||
      !pairing.cancel.includes(seen.type) ||
      seen.at - alarmAt <= pairing.windowMs ||
      alarmAtSameInstant(recent, i, pairing)
    )
      continue;
    orphans++;
  }
  return orphans;
}

/**
 * How many alarms of `cancel`'s own device, within `ORPHANS_WITHIN_MS` before it (by time, then id),
 * that device cancelled within the pre-alarm window: its presses it cancelled itself. Not test mode.
 *
 * The home unit's cancel button closes any alarm of the home (`cancelCloses`), and a stolen home
 * unit's login need make no orphans to use it: it presses its own button before each cancel, a
 * pair a minute, and each cancel closed the presses of the home's pendants made in the minute
 * before it as false alarms. A resident's home unit cancels its own press by mistake once or twice
 * an hour, not every minute: from `ORPHANS_DISTRUSTED` such presses in the hour, its cancels close
 * its own alarms only (the cancel rule's `cancelAlarm`). Read only for a cancel that would close
 * another device's alarm.
 */
export function ownAlarmsCancelled(
  recent: readonly RecentEvent[],
  cancel: RecentEvent,
  pairing: CancelPairing,
): number {
  const from = cancel.at - ORPHANS_WITHIN_MS;
  const alarms: number[] = [];
  const cancels: number[] = [];
  for (let i = firstAtOrAfter(recent, from); i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (byTimeThenId(seen, cancel) >= 0) break;
    if (seen.serial !== cancel.serial || seen.testMode) continue;
    if (pairing.alarm.includes(seen.type)) alarms.push(seen.at);
    else if (pairing.cancel.includes(seen.type)) cancels.push(seen.at);
  }
  // An alarm is cancelled by the first of the device's cancels at or after it within the window
  // (one at its very instant included, whichever id sorts first); both lists are sorted.
  let cancelled = 0;
  let c = 0;
  for (const at of alarms) {
    while (c < cancels.length && (cancels[c] as number) < at) c++;
    if (c < cancels.length && (cancels[c] as number) - at <= pairing.windowMs) cancelled++;
  }
  return cancelled;
}

/** Whether an alarm sorts after `recent[i]` (a cancel) at its very instant: the rule pairs them. */
function alarmAtSameInstant(recent: readonly RecentEvent[], i: number, pairing: CancelPairing): boolean {
  const at = (recent[i] as RecentEvent).at;
  for (let j = i + 1; j < recent.length; j++) {
    const seen = recent[j] as RecentEvent;
    if (seen.at !== at) return false;
    if (pairing.alarm.includes(seen.type)) return true;
  }
  return false;
}

/**
 * The note a cancel not taken puts on its alarm's case (`alertId`): of the cancel's type, at the
 * alarm's priority (it joins that case, and never opens a record-only one), saying why: its
 * device's orphans, or `other`, another device's press in the alarm's alert that the cancel may
 * not close. Its id names the alarm's alert, not the cancel: the stream's other cancels within the
 * window of the same alarm raise it again, and ALERTS and the helpline take it once.
 */
export function cancelNotTakenNote(
  rule: CorrelationRule,
  out: Output,
  alarm: RecentEvent,
  cancel: RecentEvent,
  alertId: string,
  orphans: number,
  thresholds: Alert['thresholds'],
  other?: RecentEvent,
  ownCancelled?: number,
): Alert {
  const why =
    other === undefined
      ? `the device sent ${orphans} cancels with no alarm to cancel in the hour before it (a stolen login sends them to close presses it cannot see)`
      : ownCancelled !== undefined && ownCancelled >= ORPHANS_DISTRUSTED
        ? `it cancelled ${ownCancelled} alarms of its own in the hour before it, so it no longer closes ${other.serial}'s (a stolen login presses and cancels to close the presses of the home's other devices)`
        : `the alarm's alert also holds a press from ${other.serial}, which a cancel from ${cancel.serial} does not close (a stolen login presses and cancels to close the presses of the home's other devices that joined its own)`;
  return derivedAlert(rule, out, {
    key: `${alertId}:cancel-not-taken`,
    evidence: other === undefined ? [alarm, cancel] : [alarm, cancel, other],
    thresholds: { ...thresholds, orphanCancels: orphans, orphanCancelsWithinS: ORPHANS_WITHIN_MS / 1000 },
    detail: `a cancel from ${cancel.serial} was not taken: ${why}; the alarm stays for an operator`,
    decidedAt: Math.max(alarm.at, cancel.at),
    type: cancel.type,
    priority: alarmPriority(out, alarm),
  });
}

/** The priority the alarm's trigger rule raises it at. */
function alarmPriority(out: Output, alarm: RecentEvent): Priority {
  for (const rule of out.ruleSet.rules)
    if (rule.kind === 'trigger' && rule.on.includes(alarm.type))
      return rule.priority ?? defaultPriority(alarm.type);
  return defaultPriority(alarm.type);
}

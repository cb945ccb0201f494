import { DEVICE_KINDS, type EventType, mayReport } from '@telecare/contracts';
import type { RecentEvent } from './model.ts';

/**
 * Repeated presses of one merging trigger rule (`mergeWithinS`) form groups by event time: the
 * first press anchors a group and raises its alert; a later press within the window of its
 * group's anchor merges into that alert; the first press beyond the window anchors a new group. A
 * panel's status report that the alarm is still present (`stillPresent`) is no press: it anchors
 * only a group no press joins, and the first press within the window of such a report anchors the
 * group instead, the reports before it merged into its alert, whatever their stamps and arrival. A
 * cancel that closes one of a group's presses ends the group, so the next press always raises a
 * new alert: a press is never merged into an alert the resident has already cancelled.
 *
 * Everything here reads a resident's `recent` events (sorted by time, then id) and only around
 * one press or cancel: it walks back to a press that anchors whatever came before it, then
 * forward. Presses are rare, so only they (and cancels) pay for the walk.
 */
export interface PressGroups {
  /** The rule's event types. */
  readonly on: readonly EventType[];
  /** A test press and a real one never share a group. */
  readonly testMode: boolean;
  /**
   * The serial whose alarms of a type its kind does not report (`unexpectedKind`) are grouped, or
   * undefined for every other press: such an alarm (a pull-cord pull from a pendant's login) never
   * joins the home's presses of that type, nor they its group.
   */
  readonly unexpectedFrom?: string | undefined;
  readonly windowMs: number;
  /** The cancel pairings that close the rule's alert (the resident's enabled `cancel` rules). */
  readonly enders: readonly Ender[];
}

/** A `cancel` correlation: a `cancel` event within `windowMs` after an `alarm` event closes it. */
export interface Ender {
  readonly alarm: readonly EventType[];
  readonly cancel: readonly EventType[];
  readonly windowMs: number;
}

const isPress = (g: PressGroups, e: RecentEvent): boolean =>
  e.testMode === g.testMode &&
  g.on.includes(e.type) &&
  (e.unexpectedKind === true ? e.serial === g.unexpectedFrom : g.unexpectedFrom === undefined);

/** The groups a press belongs to: its rule's, in its test mode, and its own device's when unexpected. */
export const groupsOf = (g: PressGroups, press: RecentEvent): PressGroups =>
  press.unexpectedKind === true ? { ...g, unexpectedFrom: press.serial } : g;

function isEnder(g: PressGroups, e: RecentEvent): boolean {
  for (const ender of g.enders) if (ender.cancel.includes(e.type)) return true;
  return false;
}

/**
 * The device kinds a resident cancels an alarm on: the triggers they work (pendant, pull-cord, the
 * fall detector's own button) and the home unit's cancel button. A sensor (movement, door, bed,
 * smoke, temperature…) has no cancel, so a cancel in its name, from its stolen login or a hub that
 * forwards what it should not, closes nothing: else any one device of a home could close the
 * resident's press or fall as a false alarm before an operator saw it. The kinds that report
 * `alarm.cancelled` in the contracts' table (`KIND_REPORTS`): the gateways refuse it from any other,
 * and this is the second line, for events stored before they did.
 */
export const CANCELLING_KINDS: readonly string[] = DEVICE_KINDS.filter((kind) =>
  mayReport(kind, 'alarm.cancelled'),
);

/** Whether `cancel` came from a device a resident cancels on (`CANCELLING_KINDS`). */
export const mayCancel = (cancel: RecentEvent): boolean => CANCELLING_KINDS.includes(cancel.deviceKind);

/**
 * Whether `cancel` may close `alarm`: a trigger's cancel (a pendant's, a pull-cord's, the fall
 * detector's own button) closes its own device's alarms, the home unit's cancel button any of the
 * home's. A cancel from one trigger used to close every alarm of the home in its window, so a
 * stolen pendant's login sending a cancel every few seconds closed the resident's falls and
 * pull-cords as false alarms before an operator saw them, and showed nothing of itself. An alarm
 * its device's kind does not report (`unexpectedKind`) no cancel closes: it reaches an operator, who
 * finds out which device sent it (a pendant's login sending a pull-cord pull, then its own cancel,
 * must not close what it raised as a false alarm either).
 */
export const cancelCloses = (cancel: RecentEvent, alarm: RecentEvent): boolean =>
  mayCancel(cancel) &&
  alarm.unexpectedKind !== true &&
  (cancel.serial === alarm.serial || cancel.deviceKind === 'home-unit');

/** Whether a cancel closes a press, as the cancel rule pairs them (the press at or before it). */
function closes(g: PressGroups, cancel: RecentEvent, press: RecentEvent): boolean {
  if (!cancelCloses(cancel, press)) return false;
  for (const ender of g.enders)
    if (
      ender.cancel.includes(cancel.type) &&
      ender.alarm.includes(press.type) &&
      cancel.at - press.at <= ender.windowMs
    )
      return true;
  return false;
}

/**
 * The latest press at or before `recent[i]` that anchors a group whatever else came before it, so
 * the grouping can be walked forward from it: the press before it is more than the window
 * earlier, or a cancel between them closes that press. `proven` is false when the walk ran out of
 * `recent` instead (the start may continue a group no longer remembered). -1: no press.
 */
function chainStart(
  g: PressGroups,
  recent: readonly RecentEvent[],
  i: number,
): { start: number; proven: boolean } {
  let start = -1;
  // Cancels since the press before the start; one at the start's own instant closes the start.
  const cancels: RecentEvent[] = [];
  for (let j = i; j >= 0; j--) {
    const e = recent[j] as RecentEvent;
    if (start < 0) {
      if (isPress(g, e)) start = j;
      continue;
    }
    const startAt = (recent[start] as RecentEvent).at;
    if (e.at < startAt - g.windowMs) return { start, proven: true };
    if (isPress(g, e)) {
      for (const cancel of cancels) if (closes(g, cancel, e)) return { start, proven: true };
      start = j;
      cancels.length = 0;
    } else if (e.at < startAt && isEnder(g, e)) cancels.push(e);
  }
  return { start, proven: false };
}

/**
 * Groups the presses of `recent[from..to]` (`recent[from]` starts a group), leaving `skip` out.
 * Group order is time, with a press before a cancel at the same instant: the cancel rule pairs an
 * alarm with a cancel at or after it, so that cancel closes the press and ends its group. A group a
 * status report opened is anchored by the first press that joins it (see above).
 */
function walk(
  g: PressGroups,
  recent: readonly RecentEvent[],
  from: number,
  to: number,
  skip?: RecentEvent,
): { anchors: RecentEvent[]; members: Map<RecentEvent, RecentEvent> } {
  // A cancel at the first press's instant sorts before it by id, but comes after it.
  let first = from;
  while (first > 0 && (recent[first - 1] as RecentEvent).at === (recent[from] as RecentEvent).at) first--;
  const order: RecentEvent[] = [];
  for (let j = first; j <= to; j++) {
    const e = recent[j] as RecentEvent;
    if (e === skip) continue;
    if (isPress(g, e)) {
      let k = order.length;
      while (k > 0 && (order[k - 1] as RecentEvent).at === e.at && !isPress(g, order[k - 1] as RecentEvent))
        k--;
      order.splice(k, 0, e);
    } else if (isEnder(g, e)) order.push(e);
  }
  const anchors: RecentEvent[] = [];
  // Each merged press (not an anchor) and the anchor of its group.
  const merged = new Map<RecentEvent, RecentEvent>();
  let anchor: RecentEvent | undefined;
  let members: RecentEvent[] = [];
  for (const e of order) {
    if (isPress(g, e)) {
      if (anchor && e.at - anchor.at <= g.windowMs) {
        members.push(e);
        if (anchor.stillPresent && !e.stillPresent) {
          // The group's first press anchors it, not the status reports before it.
          anchors[anchors.length - 1] = e;
          for (const member of members) if (member !== e) merged.set(member, e);
          anchor = e;
        } else merged.set(e, anchor);
      } else {
        anchor = e;
        members = [e];
        anchors.push(e);
      }
    } else if (anchor && members.some((press) => closes(g, e, press))) anchor = undefined;
  }
  return { anchors, members: merged };
}

/**
 * The anchor of the press at `recent[i]`, and where its group's walk starts (`start`). `known` is
 * false when its group may have begun with a press no longer remembered (`forgottenUntil`: the
 * latest event time `recent` has dropped): the alert of the remembered start may never have been
 * raised, so the press raises it rather than merge. A status report's anchor may be a press after
 * it, within the window.
 */
export function anchorOf(
  g: PressGroups,
  recent: readonly RecentEvent[],
  i: number,
  forgottenUntil?: number,
): { anchor: RecentEvent; start: number; known: boolean } {
  const { start, proven } = chainStart(g, recent, i);
  const first = recent[start] as RecentEvent;
  const press = recent[i] as RecentEvent;
  let to = i;
  if (press.stillPresent)
    while (to + 1 < recent.length && (recent[to + 1] as RecentEvent).at <= press.at + g.windowMs) to++;
  const anchor = walk(g, recent, start, to).members.get(press) ?? press;
  const known =
    proven || anchor !== first || forgottenUntil === undefined || forgottenUntil < first.at - g.windowMs;
  return { anchor, start, known };
}

/**
 * The presses of the group `anchor` anchors (`anchorOf`, whose walk starts at `recent[start]`), up
 * to `recent[to]`: the anchor and each press merged into its alert, whichever device pressed.
 */
export function groupPresses(
  g: PressGroups,
  recent: readonly RecentEvent[],
  start: number,
  anchor: RecentEvent,
  to: number,
): RecentEvent[] {
  const presses = [anchor];
  for (const [press, anchoredBy] of walk(g, recent, start, to).members)
    if (anchoredBy === anchor) presses.push(press);
  return presses;
}

/** What an arrival out of order changed in the grouping of the presses after it. */
export interface Regrouping {
  /** Presses that anchor a group now and did not before: their alerts were never raised. */
  readonly anchors: readonly RecentEvent[];
  /**
   * Presses that anchored a group before and now merge into an earlier one (`anchor`): they
   * raised an alert of their own, but never a repeat of the group they now belong to.
   */
  readonly repeats: ReadonlyArray<{ readonly press: RecentEvent; readonly anchor: RecentEvent }>;
}

const UNCHANGED: Regrouping = Object.freeze({ anchors: [], repeats: [] });

/** Whether `recent[i]`, a press, may take the anchor of a group a status report before it opened. */
function anchorsReports(g: PressGroups, recent: readonly RecentEvent[], i: number): boolean {
  const arrived = recent[i] as RecentEvent;
  if (!isPress(g, arrived) || arrived.stillPresent) return false;
  for (let j = i - 1; j >= 0; j--) {
    const e = recent[j] as RecentEvent;
    if (e.at < arrived.at - g.windowMs) return false;
    if (e.stillPresent && isPress(g, e)) return true;
  }
  return false;
}

/**
 * What changes now that `recent[i]` (a press or a cancel) has arrived: an arrival out of order can
 * split a group (a cancel that closes it, a press that a later cancel now closes) or move its
 * anchor earlier. The caller raises the new anchors' alerts and the new members' repeats; an
 * anchor that stops being one keeps its alert (nothing is unraised), so the set of ids raised is
 * always a superset of what the same events raise in order. Nothing at once for an arrival in
 * order (nothing of the rule after it), but for a press that takes the anchor of a group status
 * reports opened (`anchorsReports`).
 */
export function regroup(g: PressGroups, recent: readonly RecentEvent[], i: number): Regrouping {
  const arrived = recent[i] as RecentEvent;
  let after = i + 1;
  while (after < recent.length && !isPress(g, recent[after] as RecentEvent)) after++;
  if (after === recent.length && !anchorsReports(g, recent, i)) return UNCHANGED;
  const { start } = chainStart(g, recent, i - 1);
  const from = start >= 0 ? start : i;
  // The first press after the arrival that is more than the window after the press before it
  // anchors a group either way, and so everything from it on is grouped the same.
  let to = recent.length - 1;
  let previous: number | undefined;
  for (let j = from; j < recent.length; j++) {
    const e = recent[j] as RecentEvent;
    if (!isPress(g, e)) continue;
    if (j > i && previous !== undefined && e.at - previous > g.windowMs) {
      to = j - 1;
      break;
    }
    previous = e.at;
  }
  const before = walk(g, recent, from, to, arrived).anchors;
  const now = walk(g, recent, from, to);
  const repeats: Array<{ press: RecentEvent; anchor: RecentEvent }> = [];
  for (const [press, anchor] of now.members)
    if (press !== arrived && before.includes(press)) repeats.push({ press, anchor });
  return {
    anchors: now.anchors.filter((anchor) => anchor !== arrived && !before.includes(anchor)),
    repeats,
  };
}

/**
 * Trigger rules: an event raises its alert at once; repeated presses merge into their group's alert.
 */
import { type Alert, defaultPriority, TAXONOMY } from '@telecare/contracts';
import { alertId as alertIdFor } from '../ids.ts';
import { anchorOf, cancelCloses, type Ender, groupsOf, type PressGroups, regroup } from '../merge.ts';
import type { RecentEvent, ResidentState, Timer, TriggerRule } from '../model.ts';
import { renderReason } from '../reason.ts';
import { formatHhmm, formatIso } from '../time.ts';
import { cancelWindowS, restoredType } from './correlation.ts';
import {
  checkDue,
  describeAge,
  deviceValues,
  type Output,
  withSenderDoubts,
  withUncertainTime,
} from './output.ts';
import { planOf } from './plan.ts';
import { findEvent, indexOf } from './recent.ts';

// A test press and a real one never merge: an installer's test must not absorb a real alarm.
export function pressGroups(rule: TriggerRule, testMode: boolean, out: Output): PressGroups {
  const enders: Ender[] = [];
  for (const cancel of planOf(out.ruleSet).cancels.get(rule) ?? [])
    if (cancel.pattern.kind === 'cancel' && !out.settings.disabled.has(cancel.id))
      enders.push({
        alarm: cancel.pattern.alarm,
        cancel: cancel.pattern.cancel,
        windowMs: cancelWindowS(cancel, out) * 1000,
      });
  return { on: rule.on, testMode, windowMs: (rule.mergeWithinS ?? 0) * 1000, enders };
}

/** A merged group's alert is named by its anchor, so reprocessing gives the same id. */
export const groupAlertId = (rule: TriggerRule, residentId: string, anchor: RecentEvent): string =>
  alertIdFor(rule.id, residentId, `merge:${anchor.testMode ? 'test:' : ''}${anchor.id}`);

/** A press of a merging rule: it anchors a group (an alert) or merges into its group's alert. */
export function pressed(rule: TriggerRule, entry: RecentEvent, state: ResidentState, out: Output): void {
  const recent = state.recent;
  const i = indexOf(recent, entry);
  // Too old to be remembered: nothing to merge with that is known, so it alerts.
  if (recent[i]?.id !== entry.id) {
    out.alert(triggerAlert(rule, entry, groupAlertId(rule, out.residentId, entry), out));
    return;
  }
  const groups = groupsOf(pressGroups(rule, entry.testMode, out), entry);
  const { anchor, known } = anchorOf(groups, recent, i, state.forgottenUntil);
  const alertId = groupAlertId(rule, out.residentId, anchor);
  if (anchor === entry || !known) out.alert(triggerAlert(rule, entry, alertId, out));
  else {
    out.merge({ alertId, eventId: entry.id });
    out.alert(repeatAlert(rule, entry, anchor, alertId, out));
  }
  raiseNewAnchors(rule, groups, recent, i, out);
}

/**
 * A press that merged into its group's alert still reaches the helpline, as a repeat that names
 * that alert: the helpline counts it on the case while the case is open, and opens a new case when
 * an operator has already resolved it (which triage cannot know). The id is the repeat press's own,
 * not its group's, so reprocessing raises the same repeat and a regrouping never makes a second one.
 */
export function repeatAlert(
  rule: TriggerRule,
  press: RecentEvent,
  anchor: RecentEvent,
  alertId: string,
  out: Output,
): Alert {
  const id = alertIdFor(rule.id, out.residentId, `repeat:${press.testMode ? 'test:' : ''}${press.id}`);
  const alert = triggerAlert(rule, press, id, out);
  const after = describeGap(press.at - anchor.at);
  const first = formatHhmmss(anchor.at, out.settings.timeZone);
  if (press.stillPresent)
    return stillPresentAlert(
      rule,
      press,
      alert,
      // A report stamped before the press that anchors its group (`anchorOf`).
      press.at < anchor.at
        ? `${describeGap(anchor.at - press.at)} before the press at ${first}`
        : `${after} after the first press at ${first}`,
      alertId,
    );
  return {
    ...alert,
    reason: `${alert.reason}; pressed again ${after} after the first press at ${first}`,
    repeats: { alertId },
  };
}

/**
 * A panel's status report that the alarm is still present (`stillPresent`, a Contact ID Q=6) in a
 * group: no press, so not the group's repeat press. It repeats the group's alert so that the helpline
 * shows it on that alert's case and it stands as that alert does (a cancel of the group closes it
 * too), and, as a record of its own type (`alarm.still-present`), it counts no press and raises
 * nothing. The id is the one its repeat would have, so a regrouping never raises both.
 */
function stillPresentAlert(
  rule: TriggerRule,
  report: RecentEvent,
  alert: Alert,
  when: string,
  alertId: string,
): Alert {
  const type = 'alarm.still-present';
  const reason = `${TAXONOMY[type].description}: ${deviceValues(report).device}, ${when} (rule ${rule.id} v${rule.version})`;
  return {
    ...alert,
    type,
    priority: defaultPriority(type),
    reason: withUncertainTime(withSenderDoubts(reason, report), report),
    repeats: { alertId },
  };
}

/**
 * A report of a rule that neither merges nor is limited (a fall, smoke, CO…): its own alert, or, for
 * a panel's status report (`stillPresent`) that follows an alarm it can show on (`reportHead`), a
 * record on that alarm's alert, as a press's report shows on its group's: no second alarm.
 */
export function reported(rule: TriggerRule, entry: RecentEvent, state: ResidentState, out: Output): void {
  const head = entry.stillPresent ? reportHead(out, state.recent, entry) : undefined;
  if (head === undefined)
    out.alert(triggerAlert(rule, entry, alertIdFor(rule.id, out.residentId, entry.id), out));
  else shownOnHead(rule, entry, head, out);
}

/** A status report (`stillPresent`) of a rule that does not merge, as a record on its head's alert. */
function shownOnHead(rule: TriggerRule, report: RecentEvent, head: RecentEvent, out: Output): void {
  const alertId = alertIdFor(rule.id, out.residentId, head.id);
  const id = alertIdFor(rule.id, out.residentId, `repeat:${report.testMode ? 'test:' : ''}${report.id}`);
  const when = `${describeGap(report.at - head.at)} after the alarm at ${formatHhmmss(head.at, out.settings.timeZone)}`;
  out.merge({ alertId, eventId: report.id });
  out.alert(stillPresentAlert(rule, report, triggerAlert(rule, report, id, out), when, alertId));
}

/** How long after an alarm (or a report of it) a panel's next status report still follows it. */
export const STATUS_WITHIN_MS = 300_000;

/**
 * The report whose alert a status report (`report`, `stillPresent`) of a rule that does not merge
 * shows on: walking back over its device's reports of its type, each within `STATUS_WITHIN_MS` of
 * the next, the first alarm met (at the report's very instant too, whichever id sorts first), or
 * with none the earliest report of the chain, which raised the alarm itself. None when nothing
 * comes before it, or the chain is ended by a restore of the alarm from its device or by a cancel
 * that closes it (within its cancel rule's window): the alarm came back, and the report raises it.
 */
export function reportHead(
  out: Output,
  recent: readonly RecentEvent[],
  report: RecentEvent,
): RecentEvent | undefined {
  const i = indexOf(recent, report);
  if (recent[i]?.id !== report.id) return undefined;
  let j = i;
  while (j + 1 < recent.length && (recent[j + 1] as RecentEvent).at === report.at) j++;
  let link = report;
  let head: RecentEvent | undefined;
  // Cancels after the reports still to be walked, with their windows.
  const cancels: Array<{ at: number; windowMs: number }> = [];
  for (let k = j; k >= 0; k--) {
    const e = recent[k] as RecentEvent;
    if (k === i) continue;
    if (e.at < link.at - STATUS_WITHIN_MS) break;
    if (k < i && e.serial === report.serial && restoredType(e.type) === report.type) break;
    const windowMs = k < i ? closingWindowMs(out, report, e) : undefined;
    if (windowMs !== undefined) cancels.push({ at: e.at, windowMs });
    if (e.type !== report.type || e.serial !== report.serial || e.testMode !== report.testMode) continue;
    if (cancels.some((cancel) => cancel.at - e.at <= cancel.windowMs)) break;
    if (!e.stillPresent) return e;
    link = e;
    head = e;
  }
  return head;
}

/** The window of the enabled cancel rule by which `cancel` closes alarms like `alarm`, if any. */
function closingWindowMs(out: Output, alarm: RecentEvent, cancel: RecentEvent): number | undefined {
  if (!cancelCloses(cancel, alarm)) return undefined;
  for (const rule of out.ruleSet.rules)
    if (
      rule.kind === 'correlation' &&
      rule.pattern.kind === 'cancel' &&
      !out.settings.disabled.has(rule.id) &&
      rule.pattern.alarm.includes(alarm.type) &&
      rule.pattern.cancel.includes(cancel.type)
    )
      return cancelWindowS(rule, out) * 1000;
  return undefined;
}

/** What an alarm raised from a status report (`stillPresent`: no group to show it on) says of it. */
export const STILL_PRESENT_REASON =
  'reported by the panel as still present (a status report, not a new press): its first report may have been lost';

/** `40 s`, `3 min 15 s`: a repeat press comes seconds or minutes after the first. */
export function describeGap(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
}

export function formatHhmmss(ms: number, timeZone: string): string {
  const seconds = String(Math.floor(ms / 1000) % 60).padStart(2, '0');
  return `${formatHhmm(ms, timeZone)}:${seconds}`;
}

/** A cancel of a merging rule's alarm: later presses of a group it now closes anchor their own. */
export function cancelled(
  rule: TriggerRule,
  entry: RecentEvent,
  recent: readonly RecentEvent[],
  out: Output,
): void {
  if (out.settings.disabled.has(rule.id)) return;
  const i = indexOf(recent, entry);
  if (recent[i]?.id !== entry.id) return;
  for (const testMode of [false, true])
    raiseNewAnchors(rule, pressGroups(rule, testMode, out), recent, i, out);
}

/**
 * Never unraise, never lose: a press an arrival made an anchor raises the alert it never had, and a
 * press it made a member of an earlier group raises the repeat it never had.
 */
export function raiseNewAnchors(
  rule: TriggerRule,
  groups: PressGroups,
  recent: readonly RecentEvent[],
  i: number,
  out: Output,
): void {
  const { anchors, repeats } = regroup(groups, recent, i);
  for (const anchor of anchors)
    out.alert(triggerAlert(rule, anchor, groupAlertId(rule, out.residentId, anchor), out));
  for (const { press, anchor } of repeats)
    out.alert(repeatAlert(rule, press, anchor, groupAlertId(rule, out.residentId, anchor), out));
}

export function triggerAlert(rule: TriggerRule, entry: RecentEvent, id: string, out: Output): Alert {
  const lateAfterS = rule.lateAfterS ?? out.ruleSet.settings.lateAfterS;
  const ageMs = out.now - entry.at;
  const late = ageMs > lateAfterS * 1000;
  const priority = rule.priority ?? defaultPriority(entry.type);
  const reason = renderReason(rule.reason, {
    what: TAXONOMY[entry.type].description,
    type: entry.type,
    ...deviceValues(entry),
    rule: `${rule.id} v${rule.version}`,
    priority: `P${priority}`,
    detail: '',
    expected: '',
    seen: '',
  });
  return {
    id,
    residentId: out.residentId,
    priority,
    type: entry.type,
    raisedAt: formatIso(out.now),
    rule: { id: rule.id, version: rule.version },
    evidence: [entry.id],
    thresholds:
      rule.mergeWithinS !== undefined
        ? { lateAfterS, mergeWithinS: rule.mergeWithinS }
        : rule.limit !== undefined
          ? { lateAfterS, limitMax: rule.limit.max, limitWithinS: rule.limit.withinS }
          : { lateAfterS },
    reason: withUncertainTime(
      withSenderDoubts(
        `${entry.stillPresent ? `${reason}; ${STILL_PRESENT_REASON}` : reason}${late ? `; late: event time ${describeAge(ageMs)} before triage` : ''}`,
        entry,
      ),
      entry,
    ),
    late,
    testMode: entry.testMode,
    deviceSerial: entry.serial,
    deviceKind: entry.deviceKind,
  };
}

/**
 * One of the limited rule's reports from this device (in the same test mode). A status report shown
 * on an alarm's alert (`reportHead`) is none: the panel repeating that the fault is still there is
 * not the sensor reporting it again, so it neither counts towards the limit nor moves the settle check.
 */
const reportOf = (
  rule: TriggerRule,
  device: RecentEvent,
  seen: RecentEvent,
  out: Output,
  recent: readonly RecentEvent[],
): boolean =>
  seen.serial === device.serial &&
  seen.testMode === device.testMode &&
  rule.on.includes(seen.type) &&
  !(seen.stillPresent && reportHead(out, recent, seen) !== undefined);

/**
 * Whether the report at `recent[i]` of a limited rule is over its limit: `max` of the rule's
 * reports from the same device came in the `withinS` before it (by event time, then id, so the
 * answer does not depend on arrival order once they are all in).
 */
export function overLimit(
  rule: TriggerRule,
  recent: readonly RecentEvent[],
  i: number,
  out: Output,
): boolean {
  const limit = rule.limit;
  if (limit === undefined) return false;
  const entry = recent[i] as RecentEvent;
  const from = entry.at - limit.withinS * 1000;
  let count = 0;
  for (let j = i - 1; j >= 0; j--) {
    const seen = recent[j] as RecentEvent;
    if (seen.at < from) break;
    if (reportOf(rule, entry, seen, out, recent) && ++count >= limit.max) return true;
  }
  return false;
}

/** The one settle check of a limited rule per device (and test mode): moved by each suppressed report. */
export const settleTimerId = (rule: TriggerRule, residentId: string, entry: RecentEvent): string =>
  `${rule.id}:${residentId}:${entry.serial}:settle${entry.testMode ? ':test' : ''}`;

/**
 * A report of a limited rule (`limit`): raised as any trigger's, unless the device sent `max` of
 * them in the `withinS` before it (a flapping sensor). A suppressed report is counted
 * (`Output.suppress`) and moves the device's settle check to `withinS` after it (`settles`: not for
 * a report an area rule counts from a home in a district). A panel's status report (`stillPresent`)
 * that follows a report of the fault (`reportHead`) is a record on that report's alert, as for a
 * rule that is not limited: neither a fresh report nor a flap.
 */
export function limitedTrigger(
  rule: TriggerRule,
  entry: RecentEvent,
  state: ResidentState,
  out: Output,
  settles: boolean,
): void {
  const recent = state.recent;
  const head = entry.stillPresent ? reportHead(out, recent, entry) : undefined;
  if (head !== undefined) {
    shownOnHead(rule, entry, head, out);
    return;
  }
  const i = indexOf(recent, entry);
  const id = alertIdFor(rule.id, out.residentId, entry.id);
  if (recent[i]?.id !== entry.id || !overLimit(rule, recent, i, out)) {
    out.alert(triggerAlert(rule, entry, id, out));
    return;
  }
  out.suppress({
    ruleId: rule.id,
    residentId: out.residentId,
    type: entry.type,
    eventId: entry.id,
    deviceSerial: entry.serial,
  });
  // Not for a report an area rule counts from a home in a district (mains lost): the settle
  // check's alert would reach the queue past the district's hold, one per home of a district-wide
  // brownout that ends in an outage; the area incident covers those homes.
  if (!settles) return;
  const withinMs = (rule.limit?.withinS ?? 0) * 1000;
  out.setTimer(rule, entry.at + withinMs, {
    id: settleTimerId(rule, out.residentId, entry),
    key: entry.serial,
    eventId: entry.id,
    eventAt: entry.at,
  });
}

/**
 * The settle check of a limited rule: the device has sent none of the rule's reports for `withinS`
 * since its latest. When that latest was suppressed and nothing restored it by the check, the fault
 * stands: it is raised after all, under the id its own alert would have had, saying how often the
 * device reported. A flapping sensor that settled restored raises nothing more.
 */
export function limitTick(rule: TriggerRule, timer: Timer, state: ResidentState, out: Output): void {
  const limit = rule.limit;
  if (limit === undefined) return;
  const withinMs = limit.withinS * 1000;
  const recent = state.recent;
  const at = findEvent(recent, timer.eventId, timer.eventAt ?? timer.checkAt - withinMs);
  if (at < 0) return;
  const device = recent[at] as RecentEvent;
  let latest = at;
  for (let j = at + 1; j < recent.length; j++)
    if (reportOf(rule, device, recent[j] as RecentEvent, out, recent)) latest = j;
  const last = recent[latest] as RecentEvent;
  if (last.at + withinMs > timer.checkAt) {
    // A later report came (the check was not moved with it): the check moves to it.
    out.setTimer(rule, last.at + withinMs, {
      id: timer.id,
      key: timer.key,
      eventId: last.id,
      eventAt: last.at,
    });
    return;
  }
  if (!overLimit(rule, recent, latest, out)) return; // it raised its own alert
  for (let j = latest + 1; j < recent.length; j++) {
    const seen = recent[j] as RecentEvent;
    if (seen.at > timer.checkAt) break;
    const restores = restoredType(seen.type);
    if (
      seen.serial === last.serial &&
      restores !== undefined &&
      (rule.on as readonly string[]).includes(restores)
    )
      return;
  }
  // The run of reports the latest ends: each within `withinS` of the one after it.
  let reports = 1;
  let suppressed = 1;
  let runStart = last.at;
  for (let j = latest - 1; j >= 0; j--) {
    const seen = recent[j] as RecentEvent;
    if (seen.at < runStart - withinMs) break;
    if (!reportOf(rule, last, seen, out, recent)) continue;
    reports++;
    if (overLimit(rule, recent, j, out)) suppressed++;
    runStart = seen.at;
  }
  const alert = triggerAlert(rule, last, alertIdFor(rule.id, out.residentId, last.id), out);
  const lateAfterS = rule.lateAfterS ?? out.ruleSet.settings.lateAfterS;
  const due = checkDue(timer, out);
  const ageMs = out.now - due;
  const late = ageMs > lateAfterS * 1000;
  const tz = out.settings.timeZone;
  const base = renderReason(rule.reason, {
    what: TAXONOMY[last.type].description,
    type: last.type,
    ...deviceValues(last),
    rule: `${rule.id} v${rule.version}`,
    priority: `P${alert.priority}`,
    detail: '',
    expected: '',
    seen: '',
  });
  const flapping = `; reported ${reports} times since ${formatHhmm(runStart, tz)}, ${suppressed} not raised (flapping); not restored since ${formatHhmm(last.at, tz)}`;
  out.alert({
    ...alert,
    raisedAt: formatIso(Math.min(out.now, due)),
    thresholds: { lateAfterS, limitMax: limit.max, limitWithinS: limit.withinS },
    reason: withUncertainTime(
      `${base}${flapping}${late ? `; late: decided ${describeAge(ageMs)} before triage` : ''}`,
      last,
    ),
    late,
  });
}

/**
 * Trigger rules: an event raises its alert at once; repeated presses merge into their group's alert.
 */
import { type Alert, defaultPriority, TAXONOMY } from '@telecare/contracts';
import { alertId as alertIdFor } from '../ids.ts';
import { anchorOf, type Ender, type PressGroups, regroup } from '../merge.ts';
import type { RecentEvent, ResidentState, TriggerRule } from '../model.ts';
import { renderReason } from '../reason.ts';
import { formatHhmm, formatIso } from '../time.ts';
import { cancelWindowS } from './correlation.ts';
import { describeAge, deviceValues, type Output } from './output.ts';
import { planOf } from './plan.ts';
import { indexOf } from './recent.ts';

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
  const groups = pressGroups(rule, entry.testMode, out);
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
  return {
    ...alert,
    reason: `${alert.reason}; pressed again ${after} after the first press at ${first}`,
    repeats: { alertId },
  };
}

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
      rule.mergeWithinS === undefined ? { lateAfterS } : { lateAfterS, mergeWithinS: rule.mergeWithinS },
    reason: late ? `${reason}; late: event time ${describeAge(ageMs)} before triage` : reason,
    late,
    testMode: entry.testMode,
    deviceSerial: entry.serial,
  };
}

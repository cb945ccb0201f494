import type { Alert, CaseState, EventType, Priority } from '@telecare/contracts';
import { decide } from './decide.ts';
import type { CasePatch, CaseSnapshot, ClosedAlerts, EventDraft } from './model.ts';
import { SYSTEM_ACTOR } from './model.ts';
import { sourceOf } from './source.ts';
import { joins, tallyWith } from './transitions.ts';

/** The resident's cases an alert may concern, loaded and locked by the shell. */
export interface AlertContext {
  /** The case holding the alert this one closes (`closes`), when it is this resident's. */
  readonly closesCase?: CaseSnapshot | undefined;
  /** What the closing alert closes in that case (read by index, whatever the case holds). */
  readonly closed?: ClosedAlerts | undefined;
  /** The case holding the alert this one repeats (`repeats`), when it is this resident's. */
  readonly repeatsCase?: CaseSnapshot | undefined;
  /** Whether the press this repeat reports is already counted on that case. */
  readonly repeatCounted?: boolean | undefined;
  /** The resident's newest open case (never a test-mode one). */
  readonly openCase?: CaseSnapshot | undefined;
}

/** The columns of a case an alert opens. */
export interface NewCase {
  readonly priority: Priority;
  readonly type: EventType;
  readonly state: CaseState;
  readonly raisedAt: Date;
  readonly testMode: boolean;
}

/** Where an alert goes: into a case that exists (with its patch), or into a new case. */
export type AlertDecision =
  | {
      readonly into: 'existing';
      readonly caseId: string;
      /**
       * `closing`: an alert that closes an earlier one joined that alert's case (and may have
       * resolved it); `repeat`: a repeat press counted on the open case of the alert it repeats.
       */
      readonly outcome: 'joined' | 'repeat' | 'test' | 'closing';
      readonly patch: CasePatch;
      readonly events: readonly EventDraft[];
      readonly autoResolved?: 'false-alarm' | 'technical-resolved';
    }
  | {
      readonly into: 'new';
      /** `record`: a record-only (P5) alert with nothing to close, kept in a closed case. */
      readonly outcome: 'opened' | 'test' | 'record';
      readonly newCase: NewCase;
      readonly events: readonly EventDraft[];
    };

const matches = (c: CaseSnapshot | undefined, alert: Alert): c is CaseSnapshot =>
  c !== undefined && c.testMode === alert.testMode;

/**
 * Decides where a new alert (not a known alert id: the shell answers those) goes. A closing alert
 * joins the case of the alert it closes; a repeat press joins the open case of the alert it
 * repeats; otherwise an alert joins the resident's open case within the join window, or opens a
 * new case. Test-mode and record-only alerts get a case of their own, closed at once.
 */
export function decideAlert(
  ctx: AlertContext,
  received: Alert,
  now: Date,
  joinWindowSeconds: number,
): AlertDecision {
  // An alert raised "later" than now (a device or triage clock running fast) is taken as raised
  // now: a future raise would sort the case behind every press of the meantime, hold back its
  // ladder and answer targets, and slide the join window ahead. The alert itself keeps its time.
  const aheadMs = Date.parse(received.raisedAt) - now.getTime();
  const alert = aheadMs > 0 ? { ...received, raisedAt: now.toISOString() } : received;
  const ahead = aheadMs >= 1000 ? { raisedAtAheadSeconds: Math.round(aheadMs / 1000) } : {};
  const flagged = (events: readonly EventDraft[]): EventDraft[] =>
    events.map((e, i) => (i === 0 ? { ...e, data: { ...e.data, ...ahead } } : e));
  if (alert.closes && matches(ctx.closesCase, alert)) {
    const d = decide(ctx.closesCase, { kind: 'closing', alert, closed: ctx.closed ?? { raisers: [] } }, now);
    if (d.ok)
      return {
        into: 'existing',
        caseId: ctx.closesCase.id,
        outcome: 'closing',
        patch: d.patch,
        events: d.events,
        ...(d.autoResolved ? { autoResolved: d.autoResolved } : {}),
      };
  }
  // The alert it closes is not here (never reached this helpline): a record like any P5.

  let after: { readonly caseId: string; readonly state: CaseState } | undefined;
  if (alert.repeats && matches(ctx.repeatsCase, alert)) {
    const target = ctx.repeatsCase;
    const d = decide(target, { kind: 'repeat', alert, counted: ctx.repeatCounted }, now);
    if (d.ok)
      return {
        into: 'existing',
        caseId: target.id,
        outcome: target.testMode ? 'test' : 'repeat',
        patch: d.patch,
        events: flagged(d.events),
      };
    // Resolved or closed: the resident is pressing for help now, so the press is a new alarm.
    after = { caseId: target.id, state: target.state };
  }
  const follows = alert.repeats
    ? {
        repeats: alert.repeats.alertId,
        ...(after ? { afterCase: after.caseId, afterState: after.state } : {}),
      }
    : {};

  // Record-only alerts never join or ring: they are kept in a case of their own, closed at once.
  const recordOnly = alert.priority === 5 && !alert.testMode;
  const open = alert.testMode || recordOnly ? undefined : ctx.openCase;
  if (open && joins(open, alert, joinWindowSeconds)) {
    const d = decide(open, { kind: 'join', alert }, now);
    if (d.ok) {
      const [event] = d.events;
      return {
        into: 'existing',
        caseId: open.id,
        outcome: 'joined',
        patch: d.patch,
        events: event ? flagged([{ ...event, data: { ...event.data, ...follows } }]) : [],
      };
    }
  }

  const events: EventDraft[] = [
    {
      kind: 'opened',
      actor: SYSTEM_ACTOR,
      data: {
        alertId: alert.id,
        priority: alert.priority,
        type: alert.type,
        ...sourceOf(alert),
        ...(alert.testMode ? { testMode: true } : {}),
        ...(recordOnly ? { recordOnly: true, ...(alert.closes ? { closes: alert.closes } : {}) } : {}),
        ...follows,
        ...ahead,
      },
    },
  ];
  if (alert.testMode) events.push({ kind: 'closed', actor: SYSTEM_ACTOR, data: { reason: 'test-mode' } });
  else if (recordOnly) events.push({ kind: 'closed', actor: SYSTEM_ACTOR, data: { reason: 'record-only' } });
  return {
    into: 'new',
    outcome: alert.testMode ? 'test' : recordOnly ? 'record' : 'opened',
    newCase: {
      priority: alert.priority,
      type: alert.type,
      state: alert.testMode || recordOnly ? 'closed' : 'queued',
      raisedAt: new Date(alert.raisedAt),
      testMode: alert.testMode,
    },
    events,
  };
}

/**
 * A case as it is after a patch (and the alert that joined it, a press not counted before): the
 * core's own view, for replaying decisions in tests and checks.
 */
export function applyPatch(c: CaseSnapshot, patch: CasePatch, alert?: Alert): CaseSnapshot {
  return {
    ...c,
    ...(patch.state !== undefined ? { state: patch.state } : {}),
    ...(patch.priority !== undefined ? { priority: patch.priority } : {}),
    ...(patch.type !== undefined ? { type: patch.type } : {}),
    ...(patch.lastAlertAt !== undefined ? { lastAlertAt: patch.lastAlertAt } : {}),
    ...(patch.acceptedAt !== undefined ? { acceptedAt: patch.acceptedAt } : {}),
    ...(patch.offeredTo !== undefined ? { offeredTo: patch.offeredTo } : {}),
    ...(patch.assignedTo !== undefined ? { assignedTo: patch.assignedTo } : {}),
    ...(patch.offerExpiresAt !== undefined ? { offerExpiresAt: patch.offerExpiresAt } : {}),
    ...(patch.escalationStep !== undefined ? { escalationStep: patch.escalationStep } : {}),
    ...(patch.requeuedAt !== undefined ? { requeuedAt: patch.requeuedAt } : {}),
    ...(patch.priorityRaisedAt !== undefined ? { priorityRaisedAt: patch.priorityRaisedAt } : {}),
    ...(patch.answerTargetMissed !== undefined ? { answerTargetMissed: patch.answerTargetMissed } : {}),
    ...(patch.holderGoneSince !== undefined ? { holderGoneSince: patch.holderGoneSince } : {}),
    ...(patch.operatorGoneAt !== undefined ? { operatorGoneAt: patch.operatorGoneAt } : {}),
    ...(patch.faultRepeats !== undefined ? { faultRepeats: patch.faultRepeats } : {}),
    ...(patch.holdUntil === null ? { hold: null } : {}),
    ...(patch.holdUntil
      ? {
          hold: {
            until: patch.holdUntil,
            reason: patch.holdReason ?? '',
            returnPriority: patch.holdReturnPriority ?? null,
          },
        }
      : {}),
    alerts: alert ? tallyWith(c.alerts, alert, false) : c.alerts,
  };
}

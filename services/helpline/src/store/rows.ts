import type { Because, HelplineCase } from '@telecare/contracts';
import { Alert, CaseEvent, CaseState, EventTypeSchema, Outcome, Priority } from '@telecare/contracts';
import { traceIdOf } from '@telecare/platform';
import { z } from 'zod';
import type { CaseSnapshot } from '../core/model.ts';
import { sourceOf } from '../core/source.ts';

export const CaseRow = z.object({
  id: z.string(),
  resident_id: z.string(),
  priority: Priority,
  type: EventTypeSchema,
  state: CaseState,
  raised_at: z.date(),
  accepted_at: z.date().nullable(),
  resolved_at: z.date().nullable(),
  outcome: Outcome.nullable(),
  test_mode: z.boolean(),
  offered_to: z.string().nullable(),
  offer_expires_at: z.date().nullable(),
  assigned_to: z.string().nullable(),
  escalation_step: z.number().int(),
  requeued_at: z.date().nullable(),
  priority_raised_at: z.date().nullable(),
  hold_until: z.date().nullable(),
  hold_reason: z.string().nullable(),
  hold_return_priority: Priority.nullable(),
  answer_target_missed: z.number().int().nullable(),
  holder_gone_since: z.date().nullable(),
  operator_gone_at: z.date().nullable(),
  /** The case's window of its alerts (`alert-window.ts`), oldest first: the first is always there. */
  alerts: z.array(Alert).min(1),
  alert_count: z.number().int().min(1),
  presses: z.number().int().min(0),
  last_press_at: z.date().nullable(),
  device_serials: z.array(z.string()),
});
export type CaseRow = z.infer<typeof CaseRow>;

const EventRow = z.object({
  id: z.string(),
  case_id: z.string(),
  at: z.date(),
  actor: z.string(),
  kind: CaseEvent.shape.kind,
  data: z.record(z.string(), z.unknown()),
});

/** Why an alert was raised, as a case shows it. */
export const becauseOf = (a: Alert): Because => ({
  alertId: a.id,
  priority: a.priority,
  raisedAt: a.raisedAt,
  rule: a.rule,
  reason: a.reason,
  evidence: a.evidence,
  thresholds: a.thresholds,
  late: a.late,
  ...(a.deviceMovedAt === undefined ? {} : { deviceMovedAt: a.deviceMovedAt }),
  ...sourceOf(a),
});

export const toCase = (row: CaseRow): HelplineCase => ({
  id: row.id,
  residentId: row.resident_id,
  priority: row.priority,
  type: row.type,
  state: row.state,
  raisedAt: row.raised_at.toISOString(),
  acceptedAt: row.accepted_at?.toISOString() ?? null,
  resolvedAt: row.resolved_at?.toISOString() ?? null,
  outcome: row.outcome,
  alertIds: row.alerts.map((a) => a.id),
  alertCount: row.alert_count,
  because: row.alerts.map(becauseOf),
  offeredTo: row.offered_to,
  offerExpiresAt: row.offer_expires_at?.toISOString() ?? null,
  assignedTo: row.assigned_to,
  escalationStep: row.escalation_step,
  requeuedAt: row.requeued_at?.toISOString() ?? null,
  priorityRaisedAt: row.priority_raised_at?.toISOString() ?? null,
  answerTargetMissed:
    row.answer_target_missed === 60 || row.answer_target_missed === 180 ? row.answer_target_missed : null,
  operatorGone:
    row.operator_gone_at && row.assigned_to && (row.state === 'accepted' || row.state === 'on_hold')
      ? {
          operatorId: row.assigned_to,
          since: (row.holder_gone_since ?? row.operator_gone_at).toISOString(),
          flaggedAt: row.operator_gone_at.toISOString(),
        }
      : null,
  presses: row.presses,
  lastPressAt: row.last_press_at?.toISOString() ?? null,
  deviceSerials: row.device_serials,
  traceId: traceIdOf(row.alerts[0]?.traceparent),
  hold: row.hold_until
    ? {
        until: row.hold_until.toISOString(),
        reason: row.hold_reason ?? '',
        returnPriority: row.hold_return_priority,
      }
    : null,
});

export const toEvent = (row: unknown): CaseEvent => {
  const r = EventRow.parse(row);
  return { id: r.id, caseId: r.case_id, at: r.at.toISOString(), actor: r.actor, kind: r.kind, data: r.data };
};

/** A case as stored: the API view plus what the API does not show. */
export interface StoredCase {
  readonly case: HelplineCase;
  readonly testMode: boolean;
  /** The trace context its first alert was committed in: offers and accepts join that trace. */
  readonly traceparent: string | undefined;
}

const SnapshotRow = CaseRow.omit({ alerts: true, device_serials: true }).extend({
  last_alert_at: z.date(),
  last_press_position: z.number().int().nullable(),
  offered_to_present: z.boolean(),
  offered_to_away: z.boolean(),
  offered_to_busy: z.boolean(),
  holder_present: z.boolean().nullable(),
  holder_away: z.boolean().nullable(),
  holder_signed_in: z.boolean().nullable(),
  fault_repeats: z
    .object({
      type: EventTypeSchema,
      deviceSerial: z.string(),
      times: z.number().int(),
      days: z.number().int(),
    })
    .nullable(),
  raisers: z.partialRecord(
    EventTypeSchema,
    z.object({ open: z.number().int(), 'false-alarm': z.number().int(), restored: z.number().int() }),
  ),
});

/** What a snapshot reads of the case's own row (the rest, `offered_to_present` and on, is worked out). */
export const SNAPSHOT_COLUMNS = Object.keys(SnapshotRow.shape).filter(
  (k) => !/^(offered_to|holder)_(present|away|busy|signed_in)$/.test(k),
);

/** A locked case row as the core sees it. */
export function toSnapshot(row: unknown): CaseSnapshot {
  const r = SnapshotRow.parse(row);
  return {
    id: r.id,
    residentId: r.resident_id,
    state: r.state,
    priority: r.priority,
    type: r.type,
    raisedAt: r.raised_at,
    lastAlertAt: r.last_alert_at,
    acceptedAt: r.accepted_at,
    testMode: r.test_mode,
    offeredTo: r.offered_to,
    offerExpiresAt: r.offer_expires_at,
    offeredToPresent: r.offered_to_present,
    offeredToAway: r.offered_to_away,
    offeredToBusy: r.offered_to_busy,
    escalationStep: r.escalation_step,
    requeuedAt: r.requeued_at,
    priorityRaisedAt: r.priority_raised_at,
    answerTargetMissed: r.answer_target_missed,
    assignedTo: r.assigned_to,
    holderPresent: r.holder_present,
    holderAway: r.holder_away,
    holderSignedIn: r.holder_signed_in,
    holderGoneSince: r.holder_gone_since,
    operatorGoneAt: r.operator_gone_at,
    faultRepeats: r.fault_repeats,
    hold: r.hold_until
      ? { until: r.hold_until, reason: r.hold_reason ?? '', returnPriority: r.hold_return_priority }
      : null,
    alerts: {
      count: r.alert_count,
      presses: r.presses,
      lastPressAt: r.last_press_at?.toISOString() ?? null,
      lastPressIndex: r.last_press_position,
      raisers: r.raisers,
    },
  };
}

import { z } from 'zod';
import { EventTypeSchema, Priority } from './taxonomy.ts';

export const RuleRef = z.object({ id: z.string().min(1), version: z.number().int().positive() });
export type RuleRef = z.infer<typeof RuleRef>;

/** An alert raised by triage. Every alert explains itself (DESIGN §3.4). */
export const Alert = z.object({
  id: z.string().regex(/^alt_[0-9a-f]{32}$/),
  residentId: z.string().min(1),
  priority: Priority,
  type: EventTypeSchema,
  raisedAt: z.iso.datetime({ offset: true }),
  rule: RuleRef,
  /** Event ids that caused it. */
  evidence: z.array(z.string()).min(1),
  thresholds: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  /** One line an operator can read. */
  reason: z.string().min(1),
  /** The evidence arrived later than the rule's lateness bound. */
  late: z.boolean(),
  testMode: z.boolean(),
  /**
   * The device of the alert's first evidence: the one that raised it, or for an alert about the
   * home as a whole (`TAXONOMY[type].about`: a silence, a morning not up) the one that saw the
   * person last. Absent when no device's event is evidence (a carer not come, an area incident).
   */
  deviceSerial: z.string().optional(),
  /**
   * That device's kind (the event's `devicekind`: `pendant`, `smoke-detector`, …; for a silent
   * device whose state was lost, the device map's), so that the case names "smoke detector SD-123"
   * for a raise and for its restore, and the reports count supervision losses by kind. Absent when
   * not known: with no `deviceSerial`, and on alerts raised before every alert carried it (only a
   * supervision loss or restore did).
   */
  deviceKind: z.string().min(1).max(64).optional(),
  /**
   * Set when the evidence was sent after its device was moved to another home and happened at
   * this resident's, the device's previous home (the event's `movedat`: when the device left it).
   * The reason says so too.
   */
  deviceMovedAt: z.iso.datetime({ offset: true }).optional(),
  /**
   * Set on a record-only alert that closes an earlier one: a resident's cancel within the
   * pre-alarm window (`false-alarm`) or a restore from the device (`restored`).
   */
  closes: z
    .object({ alertId: z.string().regex(/^alt_[0-9a-f]{32}$/), outcome: z.enum(['false-alarm', 'restored']) })
    .optional(),
  /**
   * Set on a repeat: a press that merged into the open alert of its group (`alertId`, the alert
   * its group's first press raised). The id comes from the repeat press itself, so every press
   * reaches the helpline once; the helpline counts it on the case that holds `alertId` while
   * that case is open, and opens a new case when it is resolved, closed or unknown.
   */
  repeats: z.object({ alertId: z.string().regex(/^alt_[0-9a-f]{32}$/) }).optional(),
  /**
   * W3C trace context of the alert's trace, set by the helpline from the message's headers when it
   * commits the alert (and kept with it), so the case's later steps join the same trace.
   */
  traceparent: z.string().max(256).optional(),
});
export type Alert = z.infer<typeof Alert>;

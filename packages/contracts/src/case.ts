import { z } from 'zod';
import { RuleRef } from './alert.ts';
import { EventTypeSchema, Priority } from './taxonomy.ts';

export const CaseState = z.enum(['queued', 'offered', 'accepted', 'on_hold', 'resolved', 'closed']);
export type CaseState = z.infer<typeof CaseState>;

export const OUTCOMES = [
  'false-alarm',
  'reassurance-given',
  'responder-visit',
  'ambulance',
  'fire-service',
  'admitted-to-hospital',
  'technical-resolved',
  'no-action-needed',
] as const;
export const Outcome = z.enum(OUTCOMES);
export type Outcome = z.infer<typeof Outcome>;

const Time = z.iso.datetime({ offset: true });

/** Why a case exists: one entry per alert that opened or joined it. */
export const Because = z.object({
  alertId: z.string(),
  /** The alert's own priority and raise time (the case takes the most urgent of its alerts). */
  priority: Priority,
  raisedAt: Time,
  rule: RuleRef,
  reason: z.string(),
  evidence: z.array(z.string()),
  thresholds: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
  late: z.boolean(),
  /** The alert's `deviceMovedAt`: its evidence happened at this resident's home, the device's previous one. */
  deviceMovedAt: Time.optional(),
  /**
   * The one device the alert is from, its serial and kind (`pendant`, `smoke-detector`…: the
   * console says "smoke detector SD-123"). An alert raised before alerts named their kind has the
   * serial only; one about no single device has neither, and `about` instead.
   */
  deviceSerial: z.string().optional(),
  deviceKind: z.string().optional(),
  /**
   * Set when the alert is about no one device (`TAXONOMY[type].about`): the home as a whole (a
   * silence, a morning not up, an outing not back, a carer not come), or an area (many homes of a
   * postcode district, `thresholds.district`).
   */
  about: z.enum(['home', 'area']).optional(),
});
export type Because = z.infer<typeof Because>;

/** A helpline case as the API lists it (DESIGN §4). */
export const Case = z.object({
  id: z.string().regex(/^case_/),
  residentId: z.string(),
  priority: Priority,
  type: EventTypeSchema,
  state: CaseState,
  raisedAt: Time,
  acceptedAt: Time.nullable(),
  resolvedAt: Time.nullable(),
  outcome: Outcome.nullable(),
  alertIds: z.array(z.string()).min(1),
  because: z.array(Because).min(1),
});
export type Case = z.infer<typeof Case>;

/** One append-only change to a case, published to CASES. */
export const CaseEvent = z.object({
  id: z.string(),
  caseId: z.string(),
  at: Time,
  actor: z.string(),
  kind: z.enum([
    'opened',
    'alert-joined',
    'offered',
    'accepted',
    'held',
    'resolved',
    'closed',
    'note',
    // The helpline's queue, escalation ladder, responder cascade and audited reveals.
    'offer-expired',
    'requeued',
    'reassigned',
    'escalated',
    'responder-called',
    'emergency-called',
    'revealed',
    // An alarm call still unanswered at 60 s or 180 s (TSA's two answer targets).
    'answer-target-missed',
    // Voice calls placed from the case: who called whom, through what, how long, how it ended.
    'call-started',
    'call-ended',
    // A fact the operator recorded for the reports (data is a `CaseFact`).
    'fact-recorded',
    // The operator holding the case has had no console there for too long, and came back.
    'operator-gone',
    'operator-back',
  ]),
  data: z.record(z.string(), z.unknown()),
});
export type CaseEvent = z.infer<typeof CaseEvent>;

/** Where an estimate of time on the floor came from. */
export const FLOOR_TIME_SOURCES = ['resident', 'responder', 'sensor', 'operator-estimate'] as const;
export const FloorTimeSource = z.enum(FLOOR_TIME_SOURCES);
export type FloorTimeSource = z.infer<typeof FloorTimeSource>;

/**
 * A fact an operator records on a case, as a `fact-recorded` step (with audit), which the
 * commissioners' reports count (DESIGN §7): when the responder arrived, whether the resident was
 * found on the floor and for how long (estimated, with its source), the ambulance's three stages,
 * and a hospital admission. `at` is when it happened, which may be before it was recorded.
 */
export const CaseFact = z.discriminatedUnion('fact', [
  z.object({ fact: z.literal('responder-arrived'), at: Time, responderId: z.string().max(64).optional() }),
  z.object({
    fact: z.literal('found-on-floor'),
    at: Time,
    onFloorMinutes: z.number().int().min(0).max(10_080),
    source: FloorTimeSource,
  }),
  z.object({ fact: z.literal('ambulance-requested'), at: Time }),
  z.object({ fact: z.literal('ambulance-attended'), at: Time }),
  z.object({ fact: z.literal('ambulance-conveyed'), at: Time }),
  z.object({ fact: z.literal('admitted'), at: Time }),
]);
export type CaseFact = z.infer<typeof CaseFact>;
export const CASE_FACTS = CaseFact.options.map((o) => o.shape.fact.value);

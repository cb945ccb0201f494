import {
  type EventType,
  EventTypeSchema,
  isEventType,
  Priority,
  type TelecareEvent,
} from '@telecare/contracts';
import { z } from 'zod';
import { templateIssues } from './reason.ts';

/**
 * Rule ids are stable, readable keys: they appear in alert ids, reasons and metrics, so a rule
 * keeps its id across versions and a changed meaning bumps `version` instead.
 */
export const RuleId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{0,63}$/, 'rule id must be 1–64 lower-case letters, digits, "." or "-"');

const ReasonTemplate = z
  .string()
  .min(1)
  .max(200)
  .superRefine((template, ctx) => {
    for (const message of templateIssues(template)) ctx.addIssue({ code: 'custom', message });
  });

/** An event type from the taxonomy, with a short message instead of the whole list when it is not. */
const RuleEventType = z.custom<EventType>((value) => typeof value === 'string' && isEventType(value), {
  error: (issue) => `unknown event type ${JSON.stringify(issue.input)} (see TAXONOMY in @telecare/contracts)`,
});

const ruleBase = {
  id: RuleId,
  version: z.number().int().positive(),
  description: z.string().max(200).optional(),
};

/** An event type raises an alert at a priority (pendant, fall, smoke…). DESIGN §5. */
export const TriggerRule = z.strictObject({
  ...ruleBase,
  kind: z.literal('trigger'),
  on: z.array(RuleEventType).min(1),
  /** Defaults to the taxonomy priority of the event type. */
  priority: Priority.optional(),
  /** One line for the operator; see RULES placeholders in reason.ts. */
  reason: ReasonTemplate,
  /** Overrides the rule set's `settings.lateAfterS` for this rule. */
  lateAfterS: z.number().int().positive().optional(),
});
export type TriggerRule = z.infer<typeof TriggerRule>;

/**
 * Every rule kind. Sustained, absence, correlation and learned-routine rules join this union;
 * `evaluate` switches on `kind`, so a new kind is one more member and one more case.
 */
export const Rule = z.discriminatedUnion('kind', [TriggerRule]);
export type Rule = z.infer<typeof Rule>;
export type RuleInput = z.input<typeof Rule>;

export const RuleSetSettings = z.strictObject({
  /** An event older than this when triage sees it still alerts, flagged late. */
  lateAfterS: z.number().int().positive().default(300),
  /** How many recent events a resident's state keeps (the bound on state size). */
  keepEvents: z.number().int().min(1).max(10_000).default(200),
  /** How far back (from `now`) a resident's state keeps events. */
  keepEventsForS: z
    .number()
    .int()
    .positive()
    .default(24 * 60 * 60),
});
export type RuleSetSettings = z.infer<typeof RuleSetSettings>;

/**
 * Duplicate rule ids, found on the raw input so they are reported alongside every other problem
 * (zod skips whole-object refinements once a field has failed).
 */
export function duplicateRuleIds(rules: unknown): Array<{ index: number; message: string }> {
  if (!Array.isArray(rules)) return [];
  const seen = new Map<string, number>();
  const duplicates: Array<{ index: number; message: string }> = [];
  rules.forEach((rule: unknown, index) => {
    const id = typeof rule === 'object' && rule !== null ? (rule as { id?: unknown }).id : undefined;
    if (typeof id !== 'string') return;
    const first = seen.get(id);
    if (first === undefined) seen.set(id, index);
    else
      duplicates.push({
        index,
        message: `duplicate rule id ${JSON.stringify(id)} (first at rules.${first})`,
      });
  });
  return duplicates;
}

export const RuleSet = z
  .strictObject({
    version: z.number().int().positive(),
    settings: RuleSetSettings.default(RuleSetSettings.parse({})),
    rules: z.array(Rule).min(1),
  })
  .superRefine((set, ctx) => {
    for (const { index, message } of duplicateRuleIds(set.rules)) {
      ctx.addIssue({ code: 'custom', path: ['rules', index, 'id'], message });
    }
  });
export type RuleSet = z.infer<typeof RuleSet>;
export type RuleSetInput = z.input<typeof RuleSet>;

/** What a resident's state remembers of one event: ids and places only, never names. */
export const RecentEvent = z.object({
  id: z.string(),
  type: EventTypeSchema,
  /** Event time, epoch ms. */
  at: z.number(),
  serial: z.string(),
  deviceKind: z.string(),
  location: z.string().optional(),
  testMode: z.boolean(),
});
export type RecentEvent = z.infer<typeof RecentEvent>;

/**
 * Per-resident state: plain JSON, so the shell can keep it anywhere (Redis now) and rebuild it
 * by replaying EVENTS. `v` lets a later shape migrate or discard an old one.
 */
export const ResidentState = z.object({
  v: z.literal(1),
  residentId: z.string().min(1),
  /** Sorted by (at, id); bounded by settings.keepEvents and settings.keepEventsForS. */
  recent: z.array(RecentEvent),
});
export type ResidentState = z.infer<typeof ResidentState>;

export function initialState(residentId: string): ResidentState {
  return { v: 1, residentId, recent: [] };
}

/**
 * A timer is data: the shell stores it durably and feeds it back as a tick when due. The trigger
 * kind never sets one; sustained and absence rules will. Ids are deterministic so setting the
 * same timer twice is harmless.
 */
export const Timer = z.object({
  id: z.string().min(1),
  ruleId: RuleId,
  residentId: z.string().min(1),
  /** Epoch ms. */
  dueAt: z.number(),
  data: z.record(z.string(), z.unknown()).default({}),
});
export type Timer = z.infer<typeof Timer>;

export type TimerCommand = { op: 'set'; timer: Timer } | { op: 'cancel'; id: string };

/** `now` is epoch ms from the shell's clock: the core never reads one. */
export interface EventInput {
  readonly kind: 'event';
  readonly event: TelecareEvent;
  readonly now: number;
}

export type RulesInput = EventInput;

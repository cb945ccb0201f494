import { z } from 'zod';
import { defineRoute } from './route.ts';

/** A rule set is checked by the rules core (`parseRuleSet`), which names each error by its path. */
const RuleSet = z.unknown().describe('a rule set: { version, rules: [...] }, checked by @telecare/rules');

export const RulesInForceView = z.looseObject({
  source: z.enum(['stored', 'default']),
  revision: z.number(),
  version: z.number(),
  putAt: z.string().optional(),
  putBy: z.string().optional(),
  /** The stored rule set no longer validates: the default rules are in force. */
  refused: z
    .looseObject({
      version: z.number().nullable(),
      issues: z.array(z.object({ path: z.string(), message: z.string() })),
    })
    .optional(),
  ruleSet: z.looseObject({
    version: z.number(),
    rules: z.array(z.looseObject({ id: z.string(), version: z.number(), kind: z.string() })),
  }),
});
export type RulesInForceView = z.infer<typeof RulesInForceView>;

/** Sequences triage keeps per resident: the timeline shows at most 500, the rest cover duplicates. */
export const EVENT_INDEX_CAP = 600;

/**
 * A resident's newest events as triage indexed them: their EVENTS stream sequences, with how far
 * the index is whole (`since`) and how far triage has read the resident's partition (`through`).
 */
export const EventIndexView = z.looseObject({
  residentId: z.string(),
  /** The resident's partition of EVENTS (`<ns>.events.<partition>.<type>`). */
  partition: z.number().int(),
  /** EVENTS stream sequences of the resident's newest events (at most EVENT_INDEX_CAP), oldest first. */
  seqs: z.array(z.number().int().positive()),
  /**
   * The first sequence of the partition that triage indexed: every event of the partition from
   * there on is in its resident's index once triage has read it. Null: nothing indexed yet.
   */
  since: z.number().int().positive().nullable(),
  /**
   * The newest of the resident's events whose indexing was skipped (Redis did not take the write in
   * time) and is lost, or not yet known to have landed: the resident's index is whole only past
   * it. Null: none in the last 25 hours. Absent from a triage older than gaps.
   */
  gap: z.number().int().positive().nullable().optional(),
  /**
   * Triage has read every event of the partition up to this sequence, and indexed it or claimed
   * it as its resident's `gap`.
   */
  through: z.number().int().nonnegative(),
});
export type EventIndexView = z.infer<typeof EventIndexView>;

/** Triage's rules API: the rule set in force, a new version, the versions stored. */
export const TRIAGE_ROUTES = {
  getRules: defineRoute({
    method: 'GET',
    path: '/api/rules',
    summary: 'The rule set in force, its version and stored revision (ETag: the revision)',
    roles: ['admin'],
    response: RulesInForceView,
  }),
  putRules: defineRoute({
    method: 'PUT',
    path: '/api/rules',
    summary:
      'Put a new rule set in force on every instance; If-Match: the revision it is based on (0: nothing stored yet)',
    roles: ['admin'],
    body: RuleSet,
    response: z.looseObject({ version: z.number(), rules: z.number(), revision: z.number() }),
    errors: [409, 503],
  }),
  rulesHistory: defineRoute({
    method: 'GET',
    path: '/api/rules/history',
    summary: 'The rule set versions stored, newest first',
    roles: ['admin'],
    response: z.looseObject({
      versions: z.array(
        z.looseObject({
          revision: z.number(),
          version: z.number().nullable(),
          rules: z.number().nullable(),
          putAt: z.string(),
          putBy: z.string().optional(),
        }),
      ),
    }),
  }),
  eventIndex: defineRoute({
    method: 'GET',
    path: '/api/residents/{id}/event-index',
    summary: "The EVENTS sequences of a resident's newest events (the helpline's case timeline reads them)",
    roles: ['admin', 'helpline-service'],
    params: z.object({ id: z.string().min(1).max(64) }),
    response: EventIndexView,
    errors: [503],
  }),
};
export type TriageRoutes = typeof TRIAGE_ROUTES;

export const TRIAGE_API = {
  title: 'telecare triage',
  version: '1',
  description:
    "Triage's rule set in force: read it, put a new version, list the versions; and a resident's newest events by stream sequence.",
};

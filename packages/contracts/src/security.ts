import { z } from 'zod';

/** What a service refused as misuse; stable strings used in logs, the API and subjects. */
export const SECURITY_EVENT_KINDS = ['reveal-rate-limited', 'reveal-refused'] as const;
export const SecurityEventKind = z.enum(SECURITY_EVENT_KINDS);
export type SecurityEventKind = z.infer<typeof SecurityEventKind>;

/**
 * A security event as published on `<namespace>.security.events` (core NATS, at most once: the
 * raising service keeps the record, the helpline in PostgreSQL behind `GET /api/security-events`),
 * so other services and supervisors' tools can follow misuse as it happens. Ids only, no names.
 */
export const SecurityEvent = z.object({
  /** The stored record's id, or null when it could not be stored (the event still stands). */
  id: z.string().nullable(),
  at: z.iso.datetime({ offset: true }),
  /** The service that raised it. */
  service: z.string(),
  kind: SecurityEventKind,
  userId: z.string().nullable(),
  caseId: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
});
export type SecurityEvent = z.infer<typeof SecurityEvent>;

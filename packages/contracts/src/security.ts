import { z } from 'zod';

/** What a service refused as misuse; stable strings used in logs, the API and subjects. */
export const SECURITY_EVENT_KINDS = [
  'reveal-rate-limited',
  'reveal-refused',
  'context-reads-rate-limited',
  'queue-names-rate-limited',
  /** helpline: one person asked the staff list (`GET /api/users`) past STAFF_LIST_PER_MINUTE. */
  'staff-list-rate-limited',
  /** helpline: one person asked the supervisor's overview past OVERVIEW_PER_MINUTE. */
  'overview-rate-limited',
  /** helpline: one person wrote notes or call records on cases past NOTES_PER_MINUTE. */
  'notes-rate-limited',
  /** helpline: one person recorded facts on cases past FACTS_PER_MINUTE. */
  'facts-rate-limited',
  /** helpline: one person's reads, every instance together, past REQUESTS_PER_MINUTE (once per window). */
  'requests-rate-limited',
  /**
   * helpline: one person's reads of a case in their hand (held or offered), every instance
   * together, past CASE_IN_HAND_READS_PER_MINUTE, far above a console: a script reading it in a loop (once per window).
   */
  'case-in-hand-reads-rate-limited',
  /**
   * helpline: one person's writes on cases (accept, decline, hold, resolve, notes, calls… any
   * `POST /api/cases/{id}/…`), every instance together, past CASE_WRITES_PER_MINUTE, far above anyone at a
   * console: a script writing in a loop (once per window).
   */
  'case-writes-rate-limited',
  /**
   * helpline: one supervisor set others' presence or signed others out past
   * SUPERVISOR_CONTROLS_PER_HOUR.
   */
  'supervisor-controls-rate-limited',
  /** gateway-dc09: an encrypted DC-09 frame changed without its account's key (spliced, bit-flipped, re-headered). */
  'dc09-frame-forged',
  /**
   * A gateway: a life-critical alarm from a device whose registered kind does not report it (a
   * pull-cord pull from a pendant's login), stored as `unexpectedkind`.
   */
  'device-kind-unexpected',
  /**
   * triage: a cancel that paired with an alarm and was not taken (the alarm left for an operator):
   * its device had sent cancels with nothing to cancel in the hour before (`orphanCancels`, a stolen
   * login sending cancels blind), or the alarm's alert holds another device's press it may not close
   * (`otherDevice`). One per alert and cancel; detail: `serial`, `residentId`, `alertId`, `eventId`
   * (the cancel), `ruleId`, `orphanCancels`, `otherDevice`.
   */
  'cancel-not-taken',
] as const;
export const SecurityEventKind = z.enum(SECURITY_EVENT_KINDS);
export type SecurityEventKind = z.infer<typeof SecurityEventKind>;

/**
 * A security event as published on `<namespace>.security.events`, stored by the SECURITY stream
 * (bounded by age and size). The gateways and triage publish theirs to the stream with a
 * `Nats-Msg-Id` of their own (`sec_…`; triage's made from the alert and the cancel,
 * `securityEventIdFor`), and the helpline stores each once, whichever of its instances reads it, in
 * PostgreSQL behind `GET /api/security-events`; the helpline's own events are stored as raised and
 * published after. Other services and supervisors' tools can follow misuse as it happens. Ids
 * only, no names. A helpline that does not know a kind dead-letters that event and stores the
 * others: a new kind needs the helpline upgraded before the service that raises it.
 */
export const SecurityEvent = z.object({
  /**
   * The helpline's stored record's id, or null: another service's event (the helpline stores it
   * from the stream) or one the helpline could not store (the event still stands).
   */
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

import { z } from 'zod';
import { Because, Case, CaseEvent, CaseFact, Outcome } from '../case.ts';
import { idPattern } from '../ids.ts';
import { SECURITY_EVENT_KINDS } from '../security.ts';
import { Priority } from '../taxonomy.ts';

// What the helpline's routes take and answer. Answers are loose objects: a field added to an
// answer is not a break for an older client. What they take is strict: a field a body or query
// does not have (a misspelt `outcome`, `reason`, `returnPriority`) is refused with 400 naming it
// rather than dropped, so what a client meant is never lost unnoticed.

export const HELPLINE_ROLES = ['operator', 'supervisor', 'installer', 'commissioner', 'admin'] as const;
export const HelplineRole = z.enum(HELPLINE_ROLES);
export type HelplineRole = z.infer<typeof HelplineRole>;

/**
 * What each kind of helpline action needs, by role. Supervisors and admins may also act on
 * someone else's case. The routes' roles are these lists; the service checks them too (who is
 * offered cases, who is set away at sign-out).
 */
export const HELPLINE_PERMISSIONS = {
  'signed-in': HELPLINE_ROLES,
  view: ['operator', 'supervisor', 'admin'],
  work: ['operator', 'supervisor', 'admin'],
  reassign: ['supervisor', 'admin'],
  presence: ['operator', 'supervisor'],
  /** Set someone else's presence, sign someone out. */
  'manage-presence': ['supervisor', 'admin'],
  stats: ['operator', 'supervisor', 'commissioner', 'admin'],
  'manage-users': ['admin'],
  /** Security events (refused and rate-limited reveals). */
  security: ['supervisor', 'admin'],
  /** The supervisor's overview: people, queue, figures, breaches, security events, unmapped codes. */
  supervise: ['supervisor', 'admin'],
} as const satisfies Record<string, readonly HelplineRole[]>;
export type HelplinePermission = keyof typeof HELPLINE_PERMISSIONS;

export const PRESENCE = ['available', 'busy', 'away'] as const;
export const Presence = z.enum(PRESENCE);
export type Presence = z.infer<typeof Presence>;

/** The parties an operator calls from a case (the protocol: the home unit first, then the resident). */
export const CALL_PARTIES = ['home-unit', 'resident', 'responder', 'emergency'] as const;
export type CallParty = (typeof CALL_PARTIES)[number];

export const TELEPHONY_MODES = ['none', 'sip-click-to-call'] as const;
export type TelephonyMode = (typeof TELEPHONY_MODES)[number];

const CASE_ID = /^case_[0-9a-z]{8,64}$/;
const USER_ID = /^usr_[0-9a-z]{8,64}$/;
const CallId = z.string().regex(/^call_[0-9a-z]{8,64}$/, 'not a call id');

/** The client's key for an action: a retry or double click with the same key writes one case event. */
export const IdempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{8,100}$/, 'Idempotency-Key: 8–100 letters, digits or _.:-')
    .optional()
    .describe(
      "A retry or double click with the same key records one case event: the same person's same action again is answered with the event written first; the key of another person's request or another action on the case is refused (422 idempotency-key-reused).",
    ),
});

const RaisedAtBound = z.iso.datetime({ offset: true });

/**
 * The list of cases, a page at a time. `open` is the queue, in queue order (priority, then wait);
 * `all` is every case, newest first (`raisedAt`, then id, descending), for looking back. A page
 * that is not the last names the next in a `Link: <…>; rel="next"` header (`nextPageOf`); its
 * `cursor` is the sort key of the page's last case, so cases that arrive meanwhile neither repeat
 * a case nor push one off the pages still to read.
 */
export const ListCasesQuery = z.strictObject({
  state: z.enum(['open', 'all']).default('open'),
  /**
   * The most cases on a page. A night shift's open cases are tens; the default leaves room for a
   * storm's hundreds, each case with at most its window of alerts.
   */
  limit: z.coerce.number().int().min(1).max(1000).default(500),
  cursor: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,400}$/, 'not a cursor of this list: take the next page from the Link header')
    .optional()
    .describe("Where the previous page ended: the `cursor` of its Link header's next page (opaque)"),
  from: RaisedAtBound.optional().describe('Only cases raised at or after this time'),
  to: RaisedAtBound.optional().describe('Only cases raised before this time'),
});

export const CaseIdParams = z.object({ id: z.string().regex(CASE_ID, 'not a case id') });

/**
 * How many alerts the case had on the operator's screen when they decided. A case that has had
 * more since (the resident pressed again while the outcome was typed) is not held or resolved: 409.
 */
const SeenAlerts = z.number().int().min(1).max(100_000);

/** The body of an action that takes none (accept, decline): absent or `{}`; a field sent is refused by name. */
export const NoBody = z
  .strictObject({})
  .describe('Nothing to send: leave the body out, or send {}. A field sent is refused by name.');

/**
 * A fact as an operator records it (`POST /facts`, a resolution's `facts`): the contracts
 * `CaseFact`, but a field the fact does not have is refused by name. Readers of CASES parse the
 * step's data with the tolerant `CaseFact`.
 */
const [arrived, floor, requested, attended, conveyed, admitted] = CaseFact.options;
export const CaseFactBody = z.discriminatedUnion('fact', [
  arrived.strict(),
  floor.strict(),
  requested.strict(),
  attended.strict(),
  conveyed.strict(),
  admitted.strict(),
]);

export const HoldBody = z.strictObject({
  /** The call-back time: in the future and at most `HELPLINE_HOLD_MAX_S` ahead (the helpline checks). */
  until: z.iso
    .datetime({ offset: true })
    .describe(
      'The call-back time: in the future and at most HELPLINE_HOLD_MAX_S ahead (24 h by default); otherwise 400 naming until and the limit.',
    ),
  reason: z.string().trim().min(1).max(500),
  /** The priority the case returns to the queue with when the call-back is due. */
  returnPriority: Priority.optional(),
  seenAlerts: SeenAlerts.optional(),
});

export const ResolveBody = z.strictObject({
  outcome: Outcome,
  reason: z.string().trim().min(1, 'say why the case is resolved').max(2000),
  /** Outcome detail not recorded yet (time on the floor, conveyed, admitted): `fact-recorded` steps before the resolution. */
  facts: z.array(CaseFactBody).max(12).optional(),
  seenAlerts: SeenAlerts.optional(),
});

export const ReassignBody = z.strictObject({
  to: z.string().regex(USER_ID, 'not a user id'),
  reason: z.string().trim().min(1).max(500).default('reassigned by a supervisor'),
});

export const NoteBody = z.strictObject({ text: z.string().trim().min(1).max(4000) });

export const CallIdParams = z.object({
  id: z.string().regex(CASE_ID, 'not a case id'),
  callId: CallId,
});

export const RESPONDER_RESULTS = ['accepted', 'declined', 'no-answer'] as const;
export const ResponderCallBody = z.strictObject({
  responderId: z.string().min(1).max(100),
  name: z.string().trim().min(1).max(200),
  result: z.enum(RESPONDER_RESULTS),
  note: z.string().trim().max(1000).optional(),
  /** The call started from the case (`POST /calls`) this result ends: its duration is recorded with it. */
  callId: CallId.optional(),
});

export const EmergencyCallBody = z.strictObject({
  service: z.enum(['ambulance', 'fire', 'police']),
  reference: z.string().trim().max(100).optional(),
  note: z.string().trim().max(1000).optional(),
  /** The 999 call started from the case (`POST /calls`) this record ends. */
  callId: CallId.optional(),
});

/**
 * A call to start from the case. The number is never sent: the helpline looks it up in the
 * registry for the party named (the case's resident, one of their responders, a device of theirs).
 */
export const StartCallBody = z.strictObject({
  party: z.enum(CALL_PARTIES),
  /** With `responder`: which one. */
  responderId: z.string().min(1).max(100).optional(),
  /** With `home-unit`: which device (default: the first with a speech line). */
  deviceSerial: z.string().min(1).max(64).optional(),
});

export const CALL_OUTCOMES = ['answered', 'no-answer', 'busy', 'failed', 'cancelled'] as const;
export const EndCallBody = z.strictObject({
  outcome: z.enum(CALL_OUTCOMES),
  note: z.string().trim().max(1000).optional(),
});

export const CallTarget = z.looseObject({
  party: z.enum(CALL_PARTIES),
  /** What the console shows on the button ("Sam Son (son)"). Names go to the browser only. */
  label: z.string(),
  /** `tel:` or `sip:`; null when the registry has no number for it (`why` says so). */
  uri: z.string().nullable(),
  responderId: z.string().optional(),
  deviceSerial: z.string().optional(),
  why: z.string().optional(),
});
export type CallTarget = z.infer<typeof CallTarget>;

export const CallTargetsView = z.looseObject({
  telephony: z.enum(TELEPHONY_MODES),
  targets: z.array(CallTarget),
  /** Set when the registry could not be read: only 999 can be offered. */
  message: z.string().optional(),
});

export const StartedCallView = z.looseObject({
  callId: z.string(),
  party: z.enum(CALL_PARTIES),
  /** The console opens it when `via` is `browser`; shown in every case so the operator can dial by hand. */
  uri: z.string(),
  via: z.enum(['browser', 'pbx']),
  pbxReference: z.string().nullable(),
  startedAt: z.string().optional(),
  /** Why the phone system did not place it (the operator dials the URI instead). */
  message: z.string().optional(),
  eventId: z.string(),
});

export const CallView = z.looseObject({
  id: z.string(),
  caseId: z.string(),
  party: z.enum(CALL_PARTIES),
  responderId: z.string().nullable(),
  deviceSerial: z.string().nullable(),
  scheme: z.enum(['tel', 'sip']),
  via: z.enum(['browser', 'pbx']),
  pbxReference: z.string().nullable(),
  startedBy: z.string(),
  startedAt: z.string(),
  endedBy: z.string().nullable(),
  endedAt: z.string().nullable(),
  outcome: z.enum(CALL_OUTCOMES).nullable(),
  durationSeconds: z.number().int().nullable(),
});

export const ExtensionBody = z.strictObject({
  extension: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9+*#._@:-]{1,64}$/, 'an extension: digits, letters or + * # . _ @ : -')
    .nullable(),
});

/** What an operator asks to see of a case's resident (the registry reveals and audits it). */
export const CaseRevealBody = z.strictObject({
  field: z.enum(['keySafe', 'medical']),
  /** Why the operator needs it; recorded in the registry's audit with the case and operator. */
  reason: z.string().trim().min(1).max(300).optional(),
});

export const RevealedView = z.looseObject({
  field: CaseRevealBody.shape.field,
  value: z.string().nullable(),
  message: z.string().optional(),
  eventId: z.string(),
});

export const LoginBody = z.strictObject({
  username: z.string().trim().toLowerCase().min(1).max(64),
  password: z.string().min(1).max(200),
});

/**
 * A new user. The password is also checked against common and repetitive passwords (400 naming `password`).
 * A field that is not one is refused by name, not ignored.
 */
export const NewUserBody = z.strictObject({
  username: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9._@+-]{2,64}$/, 'letters, digits and . _ - @ + (an email address will do), 2–64'),
  name: z.string().trim().min(1).max(200),
  role: HelplineRole,
  password: z.string().min(10, 'at least 10 characters').max(200),
});

/** A field that is not one (a misspelt `expiresInDays`) is refused by name: the token is not made longer-lived than asked. */
export const NewTokenBody = z.strictObject({
  userId: z.string().regex(USER_ID, 'not a user id'),
  label: z.string().trim().min(1).max(200),
  /** The token stops working after this many days (it can be revoked before). */
  expiresInDays: z.number().int().min(1).max(365).default(90),
});

export const IssuedTokenView = z.looseObject({
  token: z.string(),
  id: z.string(),
  expiresAt: z.string(),
  userId: z.string(),
  label: z.string(),
});

export const UserIdParams = z.object({ id: z.string().regex(USER_ID, 'not a user id') });
export const TokenIdParams = z.object({ id: z.string().regex(/^tkn_[0-9a-f]{8,64}$/, 'not a token id') });

/** An admin sets a user's password (the user's sessions end). */
export const SetPasswordBody = z.strictObject({ password: z.string().min(1).max(200) });

/** A person changes their own password: the current one, then the new one. */
export const ChangePasswordBody = z.strictObject({
  current: z.string().min(1).max(200),
  password: z.string().min(1).max(200),
});

export const PresenceBody = z.strictObject({ status: Presence });
export const PresenceView = z.looseObject({
  userId: z.string(),
  status: Presence,
  /**
   * The accepted cases that went back to the queue because their holder went away (empty for any
   * other presence): an accepted case never stays with someone on a break.
   */
  returned: z.array(z.string()),
});

export const HeartbeatBody = z.strictObject({
  console: z.string().regex(/^con_[0-9a-z]{8,64}$/, 'not a console id'),
});

/**
 * When a console session ends. Unused until `expiresAt`, it ends; each request and console
 * heartbeat moves that on by SESSION_TTL_S, never past `endsAt` (SESSION_MAX_S after sign-in),
 * before which the console asks its person to sign in again.
 */
export const SessionView = z.looseObject({
  signedInAt: z.iso.datetime({ offset: true }).nullable(),
  expiresAt: z.iso.datetime({ offset: true }),
  endsAt: z.iso.datetime({ offset: true }),
});
export type SessionView = z.infer<typeof SessionView>;

export const HeartbeatView = z.looseObject({
  console: z.string(),
  presence: Presence.nullable(),
  chosenPresence: Presence.nullable(),
  /** The session the heartbeat came with (null for a token), renewed by it. */
  session: SessionView.nullable().optional(),
});

export const SignOutView = z.looseObject({
  userId: z.string(),
  sessionsEnded: z.number().int(),
  consolesEnded: z.number().int(),
});

export const SecurityEventsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});

/** A security event as the helpline lists it (newest stored first; `at` as its service gave it). */
export const SecurityEventView = z.looseObject({
  id: z.string(),
  at: z.iso.datetime({ offset: true }),
  /** The service that raised it (`helpline`, `gateway-mqtt`, `gateway-dc09`, `triage`). */
  service: z.string(),
  kind: z.enum(SECURITY_EVENT_KINDS),
  userId: z.string().nullable(),
  caseId: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
});
export type SecurityEventView = z.infer<typeof SecurityEventView>;

const Hours = z.coerce
  .number()
  .int()
  .min(1)
  .max(24 * 92)
  .default(24);

export const StatsQuery = z.strictObject({ hours: Hours });

/**
 * A case as the helpline API and stream show it: the contracts `Case` plus who has it and its timers.
 * The list (`GET /api/cases`), the live stream and the case view give a window of a case's alerts
 * (`alertCount` says how many there are, `GET /api/cases/{id}/alerts` pages through all).
 */
export const HelplineCase = Case.extend({
  /**
   * How many alerts opened or joined the case. `alertIds` and `because` may hold fewer (a window:
   * the first, the most urgent, the latest, in the order they came); this is the number to send as
   * `seenAlerts`.
   */
  alertCount: z.number().int().min(1),
  offeredTo: z.string().nullable(),
  offerExpiresAt: z.iso.datetime({ offset: true }).nullable(),
  assignedTo: z.string().nullable(),
  /**
   * 0 none; 1 all operators alerted; 2 supervisor alerted; 3 overflow called: the rung reached in
   * the case's present time in the queue (back to 0 when it comes back unanswered, `requeuedAt`).
   */
  escalationStep: z.number().int().min(0),
  /**
   * When the case last came back to the queue unanswered after someone had it (accepted or on
   * hold: its operator gone, its call-back due, a press bringing it back from hold); null while it
   * never has. An unaccepted P1 climbs the escalation ladder from this time (or from
   * `priorityRaisedAt`, the later), else from the raise.
   * The answer clock stays with the first answer (`acceptedAt`).
   */
  requeuedAt: z.iso.datetime({ offset: true }).nullable(),
  /**
   * When the case last took a more urgent priority than it had (a more urgent alert joined it, or
   * its call-back returned it more urgent); null while it keeps the priority it was raised with. A
   * case that became P1 climbs the escalation ladder from then (or from `requeuedAt`, the later);
   * its answer clock and targets stay with the raise.
   */
  priorityRaisedAt: z.iso.datetime({ offset: true }).nullable(),
  /** An alarm call still unanswered past an answer target: 60, then 180 (seconds); null otherwise. */
  answerTargetMissed: z.union([z.literal(60), z.literal(180)]).nullable(),
  /**
   * The operator holding the case (accepted or on hold) has had no console there for longer than
   * HELPLINE_OPERATOR_GONE_S: nobody may be on it. `since` is when the helpline found them gone.
   */
  operatorGone: z
    .object({
      operatorId: z.string(),
      since: z.iso.datetime({ offset: true }),
      flaggedAt: z.iso.datetime({ offset: true }),
    })
    .nullable(),
  /** Presses (pendant, pull-cord, bogus-caller button) for this case, repeats included, one per press. */
  presses: z.number().int().min(0),
  /** When the latest of them was raised; null when no press raised the case. */
  lastPressAt: z.iso.datetime({ offset: true }).nullable(),
  /** Serials of the devices whose alerts the case holds, so the queue can be searched by serial. */
  deviceSerials: z.array(z.string()),
  /**
   * The W3C trace id of the alarm that raised the case (device press to case commit, offer and
   * accept), to look up in the tracing backend; null when no trace reached the helpline.
   */
  traceId: z
    .string()
    .regex(/^[0-9a-f]{32}$/)
    .nullable(),
  hold: z
    .object({
      until: z.iso.datetime({ offset: true }),
      reason: z
        .string()
        .optional()
        .describe(
          "the holder's words: in the case view only, not on the live stream, in the case list or in a write's answer",
        ),
      returnPriority: Priority.nullable(),
    })
    .nullable(),
}).loose();
export type HelplineCase = z.infer<typeof HelplineCase>;

/** A page of a case's alerts, newest first: `before` is where the previous page ended (its `next`). */
export const CaseAlertsQuery = z.strictObject({
  before: z.coerce.number().int().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const CaseAlertsView = z.looseObject({
  /** Every alert of the case. */
  total: z.number().int().min(0),
  /** The page, newest first. */
  alerts: z.array(Because),
  /** `before` for the next (older) page; null on the last. */
  next: z.number().int().min(1).nullable(),
});
export type CaseAlertsView = z.infer<typeof CaseAlertsView>;

/** The latest `alert-joined` steps the case view carries; `joinsLeftOut` counts the older ones. */
export const CASE_VIEW_JOINS = 20;

/** A page of a case's `alert-joined` steps, newest first: `before` is the last page's `next`. */
export const CaseJoinsQuery = z.strictObject({
  before: z.string().regex(idPattern('cev'), 'not a case event id').optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const CaseJoinsView = z.looseObject({
  /** Every `alert-joined` step of the case. */
  total: z.number().int().min(0),
  /** The page, newest first. */
  events: z.array(CaseEvent),
  /** `before` for the next (older) page: the id of this page's oldest step; null on the last. */
  next: z.string().nullable(),
});
export type CaseJoinsView = z.infer<typeof CaseJoinsView>;

/** A page of a case's notes, newest first: `before` is the view's `olderNotes` or the last page's `next`. */
export const CaseNotesQuery = z.strictObject({
  before: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const CaseNotesView = z.looseObject({
  /** Every note of the case. */
  total: z.number().int().min(0),
  /** The page, newest first. */
  events: z.array(CaseEvent),
  /** `before` for the next (older) page; null on the last. */
  next: z.string().nullable(),
});
export type CaseNotesView = z.infer<typeof CaseNotesView>;

export const CaseDetail = HelplineCase.extend({
  /**
   * The audit trail, oldest first: every step an operator needs (opened, offers, accepts, holds,
   * calls, facts, reveals, escalations, resolution), the latest `CASE_VIEW_JOINS` `alert-joined`
   * steps and the latest notes (the helpline's CASE_VIEW_NOTES). A storm joins thousands of alerts
   * to a case, one step each, a long night gathers notes, and the console reads the view again on
   * every change of the case on screen.
   */
  events: z.array(CaseEvent),
  /** The `alert-joined` steps older than those in `events` (GET /api/cases/{id}/joins pages through all). */
  joinsLeftOut: z.number().int().min(0),
  /** The notes older than those in `events`. */
  notesLeftOut: z.number().int().min(0),
  /** `before` for GET /api/cases/{id}/notes: the notes older than those in `events`; null when none. */
  olderNotes: z.string().nullable(),
  /** The scripted protocol for the case's alert type. */
  protocol: z.object({ title: z.string(), steps: z.array(z.string()) }),
});

export const UserView = z.looseObject({
  id: z.string(),
  username: z.string(),
  name: z.string(),
  role: HelplineRole,
  /** As it is: what they chose, but `away` while none of their consoles is connected. */
  presence: Presence.nullable(),
  /** What they (or a supervisor) chose. */
  chosenPresence: Presence.nullable(),
  /** Consoles heard from within PRESENCE_TIMEOUT_S. */
  consoles: z.number().int().min(0),
  lastSeenAt: z.iso.datetime({ offset: true }).nullable(),
  /** Their phone or softphone extension, which click-to-call rings first. */
  extension: z.string().nullable(),
});
export type UserView = z.infer<typeof UserView>;

/** A responder of the case's resident, as the case's context shows them. */
export const ContextResponder = z.looseObject({
  id: z.string(),
  name: z.string(),
  relationship: z.string().nullable().optional(),
  phone: z.string().nullable().optional(),
  order: z.number().int(),
});
export type ContextResponder = z.infer<typeof ContextResponder>;

export const ResidentContext = z.looseObject({
  available: z.boolean(),
  message: z.string().optional(),
  resident: z.record(z.string(), z.unknown()).nullable(),
  devices: z.array(z.record(z.string(), z.unknown())),
  responders: z.array(ContextResponder),
});

/** Display names of the residents of the open cases, for the queue (from the registry, cached briefly). */
export const QueueNamesView = z.looseObject({
  names: z.record(z.string(), z.string()),
  /** Postcode districts (outward codes, "GL1") of the same residents, to group and filter the queue. */
  districts: z.record(z.string(), z.string()),
  /** False when no registry is configured or it did not answer for some residents. */
  complete: z.boolean(),
});

export const TimelineQuery = z.strictObject({
  hours: z.coerce.number().min(1).max(24).default(24),
});

export const DeviceEventView = z.looseObject({
  id: z.string(),
  type: z.string(),
  serial: z.string(),
  deviceKind: z.string(),
  at: z.string(),
  receivedAt: z.string(),
  location: z.string().optional(),
  testMode: z.boolean(),
  data: z.record(z.string(), z.unknown()),
});

export const TimelineView = z.looseObject({
  residentId: z.string(),
  from: z.string(),
  to: z.string(),
  /** The resident's device events, oldest first (at most `limit`, the newest kept). */
  events: z.array(DeviceEventView),
  /**
   * False when not every event of the window could be read: the partition held more than a scan
   * reads (`from` was moved later to fit), or triage is that far behind.
   */
  complete: z.boolean(),
  /**
   * `index`: the resident's own events, found by triage's per-resident index; `scan`: the
   * resident's partition read through from `from` (triage not configured or not answering, or its
   * index began inside the window).
   */
  source: z.enum(['index', 'scan']),
  /** With `source: "scan"`: why the index was not read, in words. */
  reason: z.string().optional(),
  /** Messages of the partition read through (by a scan, or past where triage has read). */
  scanned: z.number().int(),
  message: z.string().optional(),
});

const TargetFigure = z.looseObject({
  count: z.number().int(),
  /** Calls the target is decided for: answered, or still waiting past it. */
  of: z.number().int(),
  percent: z.number().nullable(),
  target: z.number(),
  met: z.boolean(),
});

const AnswerFigures = z.looseObject({
  /** Alarm calls decided for the 60 s target: answered, or waiting over 60 s. */
  total: z.number().int(),
  answered: z.number().int(),
  waiting: z.number().int(),
  waitingOver60: z.number().int(),
  waitingOver180: z.number().int(),
  within60s: TargetFigure,
  within180s: TargetFigure,
  medianAnswerSeconds: z.number().nullable(),
  maxAnswerSeconds: z.number().nullable(),
});

export const AnswerStatsView = AnswerFigures.extend({
  from: z.string(),
  to: z.string(),
  /** Alarm calls only (P1, P2). */
  priorities: z.array(z.number().int()),
  byPriority: z.record(z.string(), AnswerFigures),
  byOperator: z.array(AnswerFigures.extend({ userId: z.string(), name: z.string() })),
});
export type AnswerStatsView = z.infer<typeof AnswerStatsView>;

const QueueFigures = z.looseObject({
  waiting: z.number().int(),
  unanswered: z.number().int(),
  longestWaitSeconds: z.number().int().nullable(),
  oldestCaseId: z.string().nullable(),
  offered: z.number().int(),
  accepted: z.number().int(),
  onHold: z.number().int(),
  /** Accepted or on hold by an operator with no console there for longer than HELPLINE_OPERATOR_GONE_S. */
  operatorGone: z.number().int(),
});

/** The window of the supervisor's answer figures and unmapped codes. */
export const SupervisorOverviewQuery = z.strictObject({ hours: Hours });

export const UnmappedCodeView = z.looseObject({
  eventId: z.string(),
  at: z.string(),
  serial: z.string(),
  residentId: z.string(),
  sourceCode: z.string().nullable(),
  note: z.string().nullable(),
});

export const SupervisorOverview = z.looseObject({
  at: z.string(),
  operators: z.array(
    UserView.extend({
      /** Cases offered to them now. */
      offered: z.array(z.string()),
      /** Cases they have accepted or put on hold. */
      working: z.array(z.string()),
    }),
  ),
  queue: z.looseObject({
    waitingNow: z.number().int(),
    longestWaitSeconds: z.number().int().nullable(),
    alarmsWaiting: z.number().int(),
    alarmLongestWaitSeconds: z.number().int().nullable(),
    byPriority: z.record(z.string(), QueueFigures),
  }),
  answer: AnswerStatsView,
  /** Alarm calls unanswered past 60 s or 180 s, oldest first. */
  breaches: z.array(
    z.looseObject({
      caseId: z.string(),
      residentId: z.string(),
      priority: z.number().int(),
      type: z.string(),
      state: z.string(),
      raisedAt: z.string(),
      waitedSeconds: z.number().int(),
      targetSeconds: z.number().int(),
    }),
  ),
  /** Cases whose operator has gone (no console there past HELPLINE_OPERATOR_GONE_S): nobody may be on them. */
  operatorGone: z.array(
    z.looseObject({
      caseId: z.string(),
      residentId: z.string(),
      priority: z.number().int(),
      type: z.string(),
      state: z.string(),
      operatorId: z.string(),
      since: z.string(),
    }),
  ),
  /** The latest security events of every service (refusals, rate limits, forged frames, unexpected kinds), newest first. */
  securityEvents: z.array(SecurityEventView),
  unmappedCodes: z.looseObject({
    /** Newest first, at most 100. */
    events: z.array(UnmappedCodeView),
    byCode: z.array(
      z.looseObject({ sourceCode: z.string(), count: z.number().int(), serials: z.array(z.string()) }),
    ),
    complete: z.boolean(),
    message: z.string().optional(),
  }),
});

/** Where the console points people whose work is elsewhere (a commissioner: the reports dashboard). */
export const ConsoleLinks = z.looseObject({ reportsUrl: z.url().nullable() });
export type ConsoleLinks = z.infer<typeof ConsoleLinks>;

/**
 * The live stream. EventSource sets no headers: a page or program that signs in with a token asks
 * for a ticket (`POST /api/stream/ticket`) and passes it as `?ticket=`. A token in the URL
 * (`?access_token=`) is refused: URLs are kept in proxy logs, browser history and Referer.
 */
export const StreamQuery = z.strictObject({
  ticket: z.string().max(200).optional().describe('a stream ticket from POST /api/stream/ticket (one use)'),
});

/** A stream ticket: opens one stream, once, before `expiresAt`, as the credential that asked. */
export const StreamTicketView = z.looseObject({ ticket: z.string(), expiresAt: z.string() });
export type StreamTicketView = z.infer<typeof StreamTicketView>;
export const StreamHeaders = z.looseObject({
  'last-event-id': z.string().optional().describe('resume after this event (the `id:` of the last one seen)'),
});

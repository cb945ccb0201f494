import { Case, CaseEvent, CaseFact, Outcome, Priority } from '@telecare/contracts';
import { z } from 'zod';
import { passwordProblem } from './password-rule.ts';
import { Presence, Role } from './people.ts';
import { SecurityEvent } from './security.ts';
import { CALL_PARTIES, TELEPHONY_MODES } from './telephony.ts';

/** Request and response shapes of the helpline API, as zod so the OpenAPI document is generated from them. */
export const ListCasesQuery = z.object({
  state: z.enum(['open', 'all']).default('open'),
  limit: z.coerce.number().int().min(1).max(1000).default(500),
});

export const CaseIdParams = z.object({ id: z.string().regex(/^case_[0-9a-z]{8,64}$/, 'not a case id') });

export const HoldBody = z.object({
  /** The call-back time. */
  until: z.iso.datetime({ offset: true }),
  reason: z.string().trim().min(1).max(500),
  /** The priority the case returns to the queue with when the call-back is due. */
  returnPriority: Priority.optional(),
});

export const ResolveBody = z.object({
  outcome: Outcome,
  reason: z.string().trim().min(1, 'say why the case is resolved').max(2000),
  /** Outcome detail not recorded yet (time on the floor, conveyed, admitted): `fact-recorded` steps before the resolution. */
  facts: z.array(CaseFact).max(12).optional(),
});

export const ReassignBody = z.object({
  to: z.string().regex(/^usr_[0-9a-z]{8,64}$/, 'not a user id'),
  reason: z.string().trim().min(1).max(500).default('reassigned by a supervisor'),
});

export const NoteBody = z.object({ text: z.string().trim().min(1).max(4000) });

export const CallIdParams = z.object({
  id: z.string().regex(/^case_[0-9a-z]{8,64}$/, 'not a case id'),
  callId: z.string().regex(/^call_[0-9a-z]{8,64}$/, 'not a call id'),
});
const CallId = z.string().regex(/^call_[0-9a-z]{8,64}$/, 'not a call id');

export const RESPONDER_RESULTS = ['accepted', 'declined', 'no-answer'] as const;
export const ResponderCallBody = z.object({
  responderId: z.string().min(1).max(100),
  name: z.string().trim().min(1).max(200),
  result: z.enum(RESPONDER_RESULTS),
  note: z.string().trim().max(1000).optional(),
  /** The call started from the case (`POST /calls`) this result ends: its duration is recorded with it. */
  callId: CallId.optional(),
});

export const EmergencyCallBody = z.object({
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

export const CallTarget = z.object({
  party: z.enum(CALL_PARTIES),
  /** What the console shows on the button ("Sam Son (son)"). Names go to the browser only. */
  label: z.string(),
  /** `tel:` or `sip:`; null when the registry has no number for it (`why` says so). */
  uri: z.string().nullable(),
  responderId: z.string().optional(),
  deviceSerial: z.string().optional(),
  why: z.string().optional(),
});

export const CallTargetsView = z.object({
  telephony: z.enum(TELEPHONY_MODES),
  targets: z.array(CallTarget),
  /** Set when the registry could not be read: only 999 can be offered. */
  message: z.string().optional(),
});

export const StartedCallView = z.object({
  callId: z.string(),
  party: z.enum(CALL_PARTIES),
  /** The console opens it when `via` is `browser`; shown in every case so the operator can dial by hand. */
  uri: z.string(),
  via: z.enum(['browser', 'pbx']),
  pbxReference: z.string().nullable(),
  startedAt: z.string(),
  /** Why the phone system did not place it (the operator dials the URI instead). */
  message: z.string().optional(),
  eventId: z.string(),
});

export const CallView = z.object({
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

export const RevealBody = z.object({
  field: z.enum(['keySafe', 'medical']),
  /** Why the operator needs it; recorded in the registry's audit with the case and operator. */
  reason: z.string().trim().min(1).max(300).optional(),
});

export const LoginBody = z.object({
  username: z.string().trim().toLowerCase().min(1).max(64),
  password: z.string().min(1).max(200),
});

export const NewUserBody = z
  .object({
    username: z
      .string()
      .trim()
      .toLowerCase()
      .regex(/^[a-z0-9._@+-]{2,64}$/, 'letters, digits and . _ - @ + (an email address will do), 2–64'),
    name: z.string().trim().min(1).max(200),
    role: Role,
    password: z.string().min(10, 'at least 10 characters').max(200),
  })
  .superRefine((body, ctx) => {
    const problem = passwordProblem(body.password, [body.username, body.name]);
    if (problem) ctx.addIssue({ code: 'custom', path: ['password'], message: problem });
  });

export const NewTokenBody = z.object({
  userId: z.string().regex(/^usr_[0-9a-z]{8,64}$/, 'not a user id'),
  label: z.string().trim().min(1).max(200),
  /** The token stops working after this many days (it can be revoked before). */
  expiresInDays: z.number().int().min(1).max(365).default(90),
});

export const UserIdParams = z.object({ id: z.string().regex(/^usr_[0-9a-z]{8,64}$/, 'not a user id') });
export const TokenIdParams = z.object({ id: z.string().regex(/^tkn_[0-9a-f]{8,64}$/, 'not a token id') });

/** An admin sets a user's password (the user's sessions end). */
export const SetPasswordBody = z.object({ password: z.string().min(1).max(200) });

/** A person changes their own password: the current one, then the new one. */
export const ChangePasswordBody = z.object({
  current: z.string().min(1).max(200),
  password: z.string().min(1).max(200),
});

export const PresenceBody = z.object({ status: Presence });

export const HeartbeatBody = z.object({
  console: z.string().regex(/^con_[0-9a-z]{8,64}$/, 'not a console id'),
});

export const HeartbeatView = z.object({
  console: z.string(),
  presence: Presence.nullable(),
  chosenPresence: Presence.nullable(),
});

export const SignOutView = z.object({
  userId: z.string(),
  sessionsEnded: z.number().int(),
  consolesEnded: z.number().int(),
});

export const SecurityEventsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});

export const StatsQuery = z.object({
  hours: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 92)
    .default(24),
});

/** A case as the helpline API and stream show it: the contracts `Case` plus who has it and its timers. */
export const HelplineCase = Case.extend({
  offeredTo: z.string().nullable(),
  offerExpiresAt: z.iso.datetime({ offset: true }).nullable(),
  assignedTo: z.string().nullable(),
  /** 0 none; 1 all operators alerted; 2 supervisor alerted; 3 overflow called. */
  escalationStep: z.number().int().min(0),
  /** An alarm call still unanswered past an answer target: 60, then 180 (seconds); null otherwise. */
  answerTargetMissed: z.union([z.literal(60), z.literal(180)]).nullable(),
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
      reason: z.string(),
      returnPriority: Priority.nullable(),
    })
    .nullable(),
});
export type HelplineCase = z.infer<typeof HelplineCase>;

export const CaseDetail = HelplineCase.extend({
  events: z.array(CaseEvent),
  /** The scripted protocol for the case's alert type. */
  protocol: z.object({ title: z.string(), steps: z.array(z.string()) }),
});

export const UserView = z.object({
  id: z.string(),
  username: z.string(),
  name: z.string(),
  role: Role,
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

export const Responder = z.object({
  id: z.string(),
  name: z.string(),
  relationship: z.string().nullable().optional(),
  phone: z.string().nullable().optional(),
  order: z.number().int(),
});
export type Responder = z.infer<typeof Responder>;

export const ResidentContext = z.object({
  available: z.boolean(),
  message: z.string().optional(),
  resident: z.record(z.string(), z.unknown()).nullable(),
  devices: z.array(z.record(z.string(), z.unknown())),
  responders: z.array(Responder),
});

/** Display names of the residents of the open cases, for the queue (from the registry, cached briefly). */
export const QueueNamesView = z.object({
  names: z.record(z.string(), z.string()),
  /** Postcode districts (outward codes, "GL1") of the same residents, to group and filter the queue. */
  districts: z.record(z.string(), z.string()),
  /** False when no registry is configured or it did not answer for some residents. */
  complete: z.boolean(),
});

export const TimelineQuery = z.object({
  hours: z.coerce.number().min(1).max(24).default(24),
});

export const DeviceEventView = z.object({
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

export const TimelineView = z.object({
  residentId: z.string(),
  from: z.string(),
  to: z.string(),
  /** The resident's device events, oldest first (at most `limit`, the newest kept). */
  events: z.array(DeviceEventView),
  /** False when the partition held more than could be read: `from` was moved later to fit. */
  complete: z.boolean(),
  scanned: z.number().int(),
  message: z.string().optional(),
});

const TargetFigure = z.object({
  count: z.number().int(),
  /** Calls the target is decided for: answered, or still waiting past it. */
  of: z.number().int(),
  percent: z.number().nullable(),
  target: z.number(),
  met: z.boolean(),
});

const AnswerFigures = z.object({
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

const QueueFigures = z.object({
  waiting: z.number().int(),
  unanswered: z.number().int(),
  longestWaitSeconds: z.number().int().nullable(),
  oldestCaseId: z.string().nullable(),
  offered: z.number().int(),
  accepted: z.number().int(),
  onHold: z.number().int(),
});

export const SupervisorOverviewQuery = z.object({
  /** The window of the answer figures and unmapped codes. */
  hours: z.coerce
    .number()
    .int()
    .min(1)
    .max(24 * 92)
    .default(24),
});

export const UnmappedCodeView = z.object({
  eventId: z.string(),
  at: z.string(),
  serial: z.string(),
  residentId: z.string(),
  sourceCode: z.string().nullable(),
  note: z.string().nullable(),
});

export const SupervisorOverview = z.object({
  at: z.string(),
  operators: z.array(
    UserView.extend({
      /** Cases offered to them now. */
      offered: z.array(z.string()),
      /** Cases they have accepted or put on hold. */
      working: z.array(z.string()),
    }),
  ),
  queue: z.object({
    waitingNow: z.number().int(),
    longestWaitSeconds: z.number().int().nullable(),
    alarmsWaiting: z.number().int(),
    alarmLongestWaitSeconds: z.number().int().nullable(),
    byPriority: z.record(z.string(), QueueFigures),
  }),
  answer: AnswerStatsView,
  /** Alarm calls unanswered past 60 s or 180 s, oldest first. */
  breaches: z.array(
    z.object({
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
  /** The latest security events (refused and rate-limited reveals), newest first. */
  securityEvents: z.array(SecurityEvent),
  unmappedCodes: z.object({
    /** Newest first, at most 100. */
    events: z.array(UnmappedCodeView),
    byCode: z.array(
      z.object({ sourceCode: z.string(), count: z.number().int(), serials: z.array(z.string()) }),
    ),
    complete: z.boolean(),
    message: z.string().optional(),
  }),
});

/** Error bodies: `error` is a stable code, `message` a sentence an operator can read. */
export const ApiErrorBody = z.object({
  error: z.enum([
    'invalid-request',
    'not-found',
    'refused',
    'unauthorized',
    'forbidden',
    'conflict',
    'too-many-requests',
    'rate-limited',
    'internal',
  ]),
  message: z.string(),
  state: z.string().optional(),
  holder: z.string().optional(),
  /** The fields at fault (400). */
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ApiError = z.infer<typeof ApiErrorBody>;

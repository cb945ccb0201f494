import { Case, CaseEvent, Outcome, Priority } from '@telecare/contracts';
import { z } from 'zod';
import { passwordProblem } from './password-rule.ts';
import { Presence, Role } from './people.ts';

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
});

export const ReassignBody = z.object({
  to: z.string().regex(/^usr_[0-9a-z]{8,64}$/, 'not a user id'),
  reason: z.string().trim().min(1).max(500).default('reassigned by a supervisor'),
});

export const NoteBody = z.object({ text: z.string().trim().min(1).max(4000) });

export const RESPONDER_RESULTS = ['accepted', 'declined', 'no-answer'] as const;
export const ResponderCallBody = z.object({
  responderId: z.string().min(1).max(100),
  name: z.string().trim().min(1).max(200),
  result: z.enum(RESPONDER_RESULTS),
  note: z.string().trim().max(1000).optional(),
});

export const EmergencyCallBody = z.object({
  service: z.enum(['ambulance', 'fire', 'police']),
  reference: z.string().trim().max(100).optional(),
  note: z.string().trim().max(1000).optional(),
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
  /** Presses (pendant, pull-cord, bogus-caller button) for this case, repeats included, one per press. */
  presses: z.number().int().min(0),
  /** When the latest of them was raised; null when no press raised the case. */
  lastPressAt: z.iso.datetime({ offset: true }).nullable(),
  /** Serials of the devices whose alerts the case holds, so the queue can be searched by serial. */
  deviceSerials: z.array(z.string()),
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

export const AnswerStatsView = z.object({
  from: z.string(),
  to: z.string(),
  total: z.number().int(),
  answered: z.number().int(),
  waitingOver60: z.number().int(),
  within60s: z.object({
    count: z.number().int(),
    percent: z.number().nullable(),
    target: z.number(),
    met: z.boolean(),
  }),
  within180s: z.object({
    count: z.number().int(),
    percent: z.number().nullable(),
    target: z.number(),
    met: z.boolean(),
  }),
  medianAnswerSeconds: z.number().nullable(),
  maxAnswerSeconds: z.number().nullable(),
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
  issues: z.array(z.string()).optional(),
});
export type ApiError = z.infer<typeof ApiErrorBody>;

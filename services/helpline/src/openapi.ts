import { CaseEvent, CaseFact } from '@telecare/contracts';
import { z } from 'zod';
import {
  AnswerStatsView,
  ApiErrorBody,
  CallIdParams,
  CallTargetsView,
  CallView,
  CaseDetail,
  CaseIdParams,
  ChangePasswordBody,
  EmergencyCallBody,
  EndCallBody,
  ExtensionBody,
  HeartbeatBody,
  HeartbeatView,
  HelplineCase,
  HoldBody,
  ListCasesQuery,
  LoginBody,
  NewTokenBody,
  NewUserBody,
  NoteBody,
  PresenceBody,
  QueueNamesView,
  ReassignBody,
  ResidentContext,
  ResolveBody,
  ResponderCallBody,
  RevealBody,
  SecurityEventsQuery,
  SetPasswordBody,
  SignOutView,
  StartCallBody,
  StartedCallView,
  StatsQuery,
  SupervisorOverview,
  SupervisorOverviewQuery,
  TimelineQuery,
  TimelineView,
  TokenIdParams,
  UserIdParams,
  UserView,
} from './api.ts';
import { ConsoleLinks } from './console-links.ts';
import { SecurityEvent } from './security.ts';

interface Operation {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  summary: string;
  roles: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  response: z.ZodType;
  status?: number;
  idempotent?: boolean;
  /** What a 404 means, when it is not "no such case". */
  notFound?: string;
  /** Answers 429 with Retry-After when one principal tries too often. */
  rateLimited?: boolean;
}

const Ok = z.object({});

/** Every route of the helpline API, with the zod schemas the handlers parse with. */
const OPERATIONS: Operation[] = [
  {
    method: 'post',
    path: '/api/login',
    summary: 'Sign in; sets the session cookie',
    roles: 'anyone',
    body: LoginBody,
    response: z.object({ user: UserView }),
  },
  { method: 'post', path: '/api/logout', summary: 'Sign out', roles: 'anyone', response: Ok },
  { method: 'get', path: '/api/me', summary: 'The signed-in user', roles: 'any role', response: UserView },
  {
    method: 'get',
    path: '/api/users',
    summary: 'Users and their presence',
    roles: 'operator, supervisor, admin',
    response: z.object({ users: z.array(UserView) }),
  },
  {
    method: 'post',
    path: '/api/users',
    summary: 'Create a user',
    roles: 'admin',
    body: NewUserBody,
    response: UserView,
    status: 201,
  },
  {
    method: 'post',
    path: '/api/tokens',
    summary:
      'Issue a bearer token for a program acting as a user (shown once); it expires after expiresInDays (default 90)',
    roles: 'admin',
    body: NewTokenBody,
    response: z.object({
      token: z.string(),
      id: z.string(),
      expiresAt: z.string(),
      userId: z.string(),
      label: z.string(),
    }),
    status: 201,
  },
  {
    method: 'delete',
    path: '/api/tokens/{id}',
    summary: 'Revoke a personal token at once',
    roles: 'admin',
    params: TokenIdParams,
    response: z.object({ id: z.string(), revoked: z.literal(true) }),
  },
  {
    method: 'post',
    path: '/api/users/{id}/disable',
    summary: 'Disable a user: no sign-in, sessions ended, tokens stop working, presence away',
    roles: 'admin',
    params: UserIdParams,
    response: z.object({ userId: z.string(), disabled: z.boolean() }),
  },
  {
    method: 'post',
    path: '/api/users/{id}/enable',
    summary: 'Enable a disabled user',
    roles: 'admin',
    params: UserIdParams,
    response: z.object({ userId: z.string(), disabled: z.boolean() }),
  },
  {
    method: 'post',
    path: '/api/users/{id}/end-sessions',
    summary: 'End every console session of a user',
    roles: 'admin',
    params: UserIdParams,
    response: z.object({ userId: z.string(), sessionsEnded: z.number().int() }),
  },
  {
    method: 'post',
    path: '/api/users/{id}/password',
    summary: "Set a user's password (checked against common and repetitive passwords); their sessions end",
    roles: 'admin',
    params: UserIdParams,
    body: SetPasswordBody,
    response: z.object({ userId: z.string(), passwordChanged: z.literal(true) }),
  },
  {
    method: 'put',
    path: '/api/me/password',
    summary: 'Change your own password (the current one first); your other sessions end',
    roles: 'any role',
    body: ChangePasswordBody,
    response: z.object({ userId: z.string(), passwordChanged: z.literal(true) }),
  },
  {
    method: 'put',
    path: '/api/presence',
    summary: 'Set your presence; available operators are offered the next case',
    roles: 'operator, supervisor',
    body: PresenceBody,
    response: z.object({ userId: z.string(), status: PresenceBody.shape.status }),
  },
  {
    method: 'post',
    path: '/api/presence/heartbeat',
    summary:
      "A console's answer to its stream's ping: keeps its person present (PRESENCE_TIMEOUT_S); says their presence now",
    roles: 'any role',
    body: HeartbeatBody,
    response: HeartbeatView,
    notFound: 'No such console of yours (signed out, or the stream closed): reconnect the stream',
  },
  {
    method: 'put',
    path: '/api/users/{id}/presence',
    summary: "Set someone else's presence (an offer to someone set away moves on at once)",
    roles: 'supervisor, admin',
    params: UserIdParams,
    body: PresenceBody,
    response: z.object({ userId: z.string(), status: PresenceBody.shape.status }),
    notFound: 'No operator or supervisor with that id',
  },
  {
    method: 'post',
    path: '/api/users/{id}/logout',
    summary: 'Sign someone out everywhere: ends their sessions and consoles, sets them away',
    roles: 'supervisor, admin',
    params: UserIdParams,
    response: SignOutView,
    notFound: 'No operator or supervisor with that id',
  },
  {
    method: 'get',
    path: '/api/cases',
    summary: 'Cases, ordered by priority then wait',
    roles: 'operator, supervisor, admin',
    query: ListCasesQuery,
    response: z.array(HelplineCase),
  },
  {
    method: 'get',
    path: '/api/queue/names',
    summary:
      "Display names and postcode districts of the open cases' residents, for the queue (registry, cached 60 s; never logged)",
    roles: 'operator, supervisor, admin',
    response: QueueNamesView,
  },
  {
    method: 'get',
    path: '/api/cases/{id}',
    summary: 'A case with its audit trail and protocol',
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    response: CaseDetail,
  },
  {
    method: 'get',
    path: '/api/cases/{id}/context',
    summary: 'The resident, devices with their health, and responders from the registry',
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    response: ResidentContext,
  },
  {
    method: 'get',
    path: '/api/cases/{id}/timeline',
    summary: "The resident's device events of the last hours (at most 24), read from EVENTS",
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    query: TimelineQuery,
    response: TimelineView,
  },
  {
    method: 'post',
    path: '/api/cases/{id}/accept',
    summary: 'Accept the case (queued, offered to you, or on hold)',
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    response: HelplineCase,
    idempotent: true,
  },
  {
    method: 'post',
    path: '/api/cases/{id}/hold',
    summary: 'Put on hold with a call-back time',
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    body: HoldBody,
    response: HelplineCase,
    idempotent: true,
  },
  {
    method: 'post',
    path: '/api/cases/{id}/resolve',
    summary: 'Resolve with an outcome and a reason',
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    body: ResolveBody,
    response: HelplineCase,
    idempotent: true,
  },
  {
    method: 'post',
    path: '/api/cases/{id}/decline',
    summary: 'Decline a case offered to you; it returns to the queue',
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    response: HelplineCase,
  },
  {
    method: 'post',
    path: '/api/cases/{id}/reassign',
    summary: 'Give the case to another operator',
    roles: 'supervisor, admin',
    params: CaseIdParams,
    body: ReassignBody,
    response: HelplineCase,
    idempotent: true,
  },
  {
    method: 'get',
    path: '/api/console/links',
    summary:
      'Where the console points people whose work is not in it: the reports dashboard (TELECARE_REPORTS_URL)',
    roles: 'anyone signed in',
    response: ConsoleLinks,
  },
  {
    method: 'post',
    path: '/api/cases/{id}/facts',
    summary:
      'Record a fact for the reports (responder arrived, found on the floor, ambulance requested / attended / conveyed, admitted) as a `fact-recorded` step; a time in the future or before the case was raised is 400',
    roles: 'operator holding the case, supervisor, admin',
    params: CaseIdParams,
    body: CaseFact,
    response: CaseEvent,
    status: 201,
    idempotent: true,
  },
  {
    method: 'post',
    path: '/api/cases/{id}/notes',
    summary: 'Add a note',
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    body: NoteBody,
    response: CaseEvent,
    status: 201,
    idempotent: true,
  },
  {
    method: 'post',
    path: '/api/cases/{id}/responder-calls',
    summary:
      "Record a responder's answer; with `callId`, the call started from the case ends with it (call-ended, then responder-called with its duration)",
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    body: ResponderCallBody,
    response: CaseEvent,
    status: 201,
    idempotent: true,
  },
  {
    method: 'post',
    path: '/api/cases/{id}/emergency-calls',
    summary:
      'Record a call to emergency services; with `callId`, the call started from the case ends with it',
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    body: EmergencyCallBody,
    response: CaseEvent,
    status: 201,
    idempotent: true,
  },
  {
    method: 'post',
    path: '/api/cases/{id}/reveal',
    summary:
      'Reveal the key-safe code or medical notes (audited): only on an open case the operator holds (a supervisor or admin: any open case); 403 otherwise, 429 past the per-person limit (both raise a security event)',
    roles: 'operator, supervisor, admin',
    rateLimited: true,
    params: CaseIdParams,
    body: RevealBody,
    response: z.object({
      field: RevealBody.shape.field,
      value: z.string().nullable(),
      message: z.string().optional(),
      eventId: z.string(),
    }),
  },
  {
    method: 'get',
    path: '/api/security-events',
    summary: 'Security events, newest first: reveals refused by the case check or the rate limit',
    roles: 'supervisor, admin',
    query: SecurityEventsQuery,
    response: z.object({ events: z.array(SecurityEvent) }),
  },
  {
    method: 'get',
    path: '/api/stats/answer',
    summary:
      'Answer times of alarm calls (P1, P2) against 97.5 % in 60 s and 99 % in 180 s, overall, per priority and per operator; a call still waiting counts only once past a target',
    roles: 'operator, supervisor, commissioner, admin',
    query: StatsQuery,
    response: AnswerStatsView,
  },
  {
    method: 'get',
    path: '/api/supervisor/overview',
    summary:
      'Operators and their states, the queue by priority (waiting now, longest wait), answer figures, alarm calls past 60 s or 180 s, security events and unmapped DC-09 codes',
    roles: 'supervisor, admin',
    query: SupervisorOverviewQuery,
    response: SupervisorOverview,
  },
  {
    method: 'get',
    path: '/api/cases/{id}/call-targets',
    summary:
      "The case's call actions: the home unit, the resident, each responder and 999, as tel:/sip: URIs from the registry",
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    response: CallTargetsView,
  },
  {
    method: 'post',
    path: '/api/cases/{id}/calls',
    summary:
      'Start a call (case accepted by you): the number comes from the registry; placed by the PBX (sip-click-to-call) or left to the browser to open (`via: browser`); recorded as call-started',
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    body: StartCallBody,
    response: StartedCallView,
    status: 201,
    idempotent: true,
    notFound: 'No such case, or the registry names no such party (or no number for it)',
  },
  {
    method: 'post',
    path: '/api/cases/{id}/calls/{callId}/end',
    summary: 'End a call: outcome and duration recorded as call-ended; once, by whoever started it',
    roles: 'operator, supervisor, admin',
    params: CallIdParams,
    body: EndCallBody,
    response: CaseEvent,
    status: 201,
    idempotent: true,
    notFound: 'No such case or call',
  },
  {
    method: 'get',
    path: '/api/cases/{id}/calls',
    summary: 'The calls made from the case: who, whom, through what, when, how long, outcome',
    roles: 'operator, supervisor, admin',
    params: CaseIdParams,
    response: z.object({ calls: z.array(CallView) }),
  },
  {
    method: 'put',
    path: '/api/users/{id}/extension',
    summary: "Set your phone extension (an admin: anyone's); click-to-call rings it first",
    roles: 'yourself, admin',
    params: UserIdParams,
    body: ExtensionBody,
    response: z.object({ userId: z.string(), extension: z.string().nullable() }),
    notFound: 'No such user',
  },
];

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'output', unrepresentable: 'any' });
const input = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });

/** The OpenAPI 3.1 document of the helpline API, generated from the zod schemas. */
export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const parameters: unknown[] = [];
    for (const [where, schema] of [
      ['path', op.params],
      ['query', op.query],
    ] as const) {
      if (!schema) continue;
      for (const [name, field] of Object.entries(schema.shape))
        parameters.push({ name, in: where, required: where === 'path', schema: input(field as z.ZodType) });
    }
    if (op.idempotent)
      parameters.push({
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: 'A retry or double click with the same key records one case event.',
        schema: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{8,100}$' },
      });
    const error = { content: { 'application/json': { schema: json(ApiErrorBody) } } };
    paths[op.path] ??= {};
    (paths[op.path] as Record<string, unknown>)[op.method] = {
      summary: op.summary,
      description: `Roles: ${op.roles}.`,
      ...(parameters.length ? { parameters } : {}),
      ...(op.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: input(op.body) } } } }
        : {}),
      responses: {
        [String(op.status ?? 200)]: {
          description: 'OK',
          content: { 'application/json': { schema: json(op.response) } },
        },
        '400': { description: 'Invalid request', ...error },
        '401': { description: 'Not signed in', ...error },
        '403': { description: 'The role does not allow it', ...error },
        ...(op.params || op.notFound
          ? { '404': { description: op.notFound ?? 'No such case', ...error } }
          : {}),
        ...(op.params && op.path.startsWith('/api/cases/')
          ? {
              '409': {
                description: 'Refused: the case state or owner does not allow it; nothing changed',
                ...error,
              },
            }
          : {}),
        ...(op.rateLimited
          ? { '429': { description: 'Too many attempts by this person; see Retry-After', ...error } }
          : {}),
      },
    };
  }
  paths['/api/stream'] = {
    get: {
      summary:
        'Server-sent events: `snapshot`, then `case` (a HelplineCase with lastEvent) on every change; resume with Last-Event-ID',
      description:
        "Roles: operator, supervisor, admin. Programs may pass ?access_token=. First `hello` ({console, pingMs, timeoutMs}: a signed-in person's stream is one of their consoles), then `ping` every pingMs, answered with POST /api/presence/heartbeat. At most STREAMS_PER_PRINCIPAL open streams per user on one instance.",
      responses: {
        '200': {
          description: 'text/event-stream',
          content: { 'text/event-stream': { schema: { type: 'string' } } },
        },
        '429': {
          description: 'Too many open streams for this user',
          content: { 'application/json': { schema: json(ApiErrorBody) } },
        },
      },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Telecare helpline API',
      version: '1.0.0',
      description:
        'Cases from alerts, the live queue, answer clocks, escalation and responder cascades. People sign in (session cookie); programs send Authorization: Bearer <token> (a tok_ token issued by an admin, or TELECARE_ADMIN_TOKEN).',
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer' },
        session: { type: 'apiKey', in: 'cookie', name: 'helpline_session' },
      },
    },
    security: [{ bearer: [] }, { session: [] }],
    paths,
  };
}

import { z } from 'zod';
import { CaseEvent } from '../case.ts';
import {
  AnswerStatsView,
  HELPLINE_PERMISSIONS as CAN,
  CallIdParams,
  CallTargetsView,
  CallView,
  CaseAlertsQuery,
  CaseAlertsView,
  CaseDetail,
  CaseFactBody,
  CaseIdParams,
  CaseJoinsQuery,
  CaseJoinsView,
  CaseNotesQuery,
  CaseNotesView,
  CaseRevealBody,
  ChangePasswordBody,
  ConsoleLinks,
  EmergencyCallBody,
  EndCallBody,
  ExtensionBody,
  HeartbeatBody,
  HeartbeatView,
  HelplineCase,
  HoldBody,
  IdempotencyHeaders,
  IssuedTokenView,
  ListCasesQuery,
  LoginBody,
  NewTokenBody,
  NewUserBody,
  NoBody,
  NoteBody,
  PresenceBody,
  PresenceView,
  QueueNamesView,
  ReassignBody,
  ResidentContext,
  ResolveBody,
  ResponderCallBody,
  RevealedView,
  SecurityEventsQuery,
  SecurityEventView,
  SessionView,
  SetPasswordBody,
  SignOutView,
  StartCallBody,
  StartedCallView,
  StatsQuery,
  StreamHeaders,
  StreamQuery,
  StreamTicketView,
  SupervisorOverview,
  SupervisorOverviewQuery,
  TimelineQuery,
  TimelineView,
  TokenIdParams,
  UserIdParams,
  UserView,
} from './helpline-schemas.ts';
import { defineRoute, Empty, type RouteTable } from './route.ts';

/**
 * A case action: the case by id, a key against double clicks, 404 for no such case, 409 when its
 * state refuses, 422 for a key used on the case by another person or for another action.
 */
const onCase = { params: CaseIdParams, headers: IdempotencyHeaders, errors: [404, 409, 422] } as const;

/** Signing in and out, the people of the helpline and their tokens (admin). */
export const HELPLINE_PEOPLE_ROUTES = {
  login: defineRoute({
    method: 'POST',
    path: '/api/login',
    summary:
      'Sign in; sets the session cookie. Sent with the cookie of a live session of the same person (the console signing in again before it ends), that session is replaced and its consoles carry on under the new one. 401 for a wrong username or password; 429 with Retry-After after too many failures for the name or address',
    roles: 'anyone',
    body: LoginBody,
    response: z.looseObject({ user: UserView, session: SessionView }),
    errors: [429],
  }),
  logout: defineRoute({
    method: 'POST',
    path: '/api/logout',
    summary: "Sign out: this session's consoles end at once; someone with no console left is away",
    roles: 'anyone',
    body: NoBody,
    response: Empty,
  }),
  me: defineRoute({
    method: 'GET',
    path: '/api/me',
    summary: 'The signed-in user, and when their session ends (null for a token)',
    roles: 'signed-in',
    response: UserView.extend({ session: SessionView.nullable() }),
  }),
  consoleLinks: defineRoute({
    method: 'GET',
    path: '/api/console/links',
    summary:
      'Where the console points people whose work is not in it: the reports dashboard (TELECARE_REPORTS_URL)',
    roles: 'signed-in',
    response: ConsoleLinks,
  }),
  listUsers: defineRoute({
    method: 'GET',
    path: '/api/users',
    summary: 'Users and their presence',
    roles: CAN.view,
    response: z.looseObject({ users: z.array(UserView) }),
  }),
  createUser: defineRoute({
    method: 'POST',
    path: '/api/users',
    summary: 'Create a user (the password is checked against common and repetitive passwords)',
    roles: CAN['manage-users'],
    body: NewUserBody,
    response: UserView,
    status: 201,
    errors: [409],
  }),
  issueToken: defineRoute({
    method: 'POST',
    path: '/api/tokens',
    summary:
      'Issue a bearer token for a program acting as a user (shown once); it expires after expiresInDays (default 90)',
    roles: CAN['manage-users'],
    body: NewTokenBody,
    response: IssuedTokenView,
    status: 201,
  }),
  revokeToken: defineRoute({
    method: 'DELETE',
    path: '/api/tokens/{id}',
    summary: 'Revoke a personal token at once',
    roles: CAN['manage-users'],
    params: TokenIdParams,
    response: z.looseObject({ id: z.string(), revoked: z.literal(true) }),
  }),
  disableUser: defineRoute({
    method: 'POST',
    path: '/api/users/{id}/disable',
    summary: 'Disable a user: no sign-in, sessions and consoles ended, tokens stop working, presence away',
    roles: CAN['manage-users'],
    params: UserIdParams,
    body: NoBody,
    response: z.looseObject({ userId: z.string(), disabled: z.boolean(), consolesEnded: z.number().int() }),
  }),
  enableUser: defineRoute({
    method: 'POST',
    path: '/api/users/{id}/enable',
    summary: 'Enable a disabled user',
    roles: CAN['manage-users'],
    params: UserIdParams,
    body: NoBody,
    response: z.looseObject({ userId: z.string(), disabled: z.boolean() }),
  }),
  endSessions: defineRoute({
    method: 'POST',
    path: '/api/users/{id}/end-sessions',
    summary: 'End every session and console of a user',
    roles: CAN['manage-users'],
    params: UserIdParams,
    body: NoBody,
    response: z.looseObject({
      userId: z.string(),
      sessionsEnded: z.number().int(),
      consolesEnded: z.number().int(),
    }),
  }),
  setPassword: defineRoute({
    method: 'POST',
    path: '/api/users/{id}/password',
    summary: "Set a user's password (checked against common and repetitive passwords); their sessions end",
    roles: CAN['manage-users'],
    params: UserIdParams,
    body: SetPasswordBody,
    response: z.looseObject({
      userId: z.string(),
      passwordChanged: z.literal(true),
      consolesEnded: z.number().int(),
    }),
  }),
  changePassword: defineRoute({
    method: 'PUT',
    path: '/api/me/password',
    summary:
      'Change your own password (the current one first); your other sessions end. A wrong current password counts as a failed sign-in for your username (429 with Retry-After once locked)',
    roles: 'signed-in',
    body: ChangePasswordBody,
    response: z.looseObject({ userId: z.string(), passwordChanged: z.literal(true) }),
    errors: [429],
  }),
  setExtension: defineRoute({
    method: 'PUT',
    path: '/api/users/{id}/extension',
    summary: "Set your phone extension (an admin: anyone's); click-to-call rings it first",
    roles: 'signed-in',
    params: UserIdParams,
    body: ExtensionBody,
    response: z.looseObject({ userId: z.string(), extension: z.string().nullable() }),
  }),
};

/** Presence: a person's own, their console's heartbeat, and a supervisor's controls over someone else's. */
export const HELPLINE_PRESENCE_ROUTES = {
  setPresence: defineRoute({
    method: 'PUT',
    path: '/api/presence',
    summary:
      'Set your presence; available operators are offered the next case. Away, every case you have accepted goes back to the queue at once (`returned`); a held case keeps its call-back',
    roles: CAN.presence,
    body: PresenceBody,
    response: PresenceView,
  }),
  heartbeat: defineRoute({
    method: 'POST',
    path: '/api/presence/heartbeat',
    summary:
      "A console's answer to its stream's ping: keeps its person present (PRESENCE_TIMEOUT_S); says their presence now. 404: no such console of yours (signed out, or the stream closed): reconnect the stream",
    roles: 'signed-in',
    body: HeartbeatBody,
    response: HeartbeatView,
    errors: [404],
  }),
  setUserPresence: defineRoute({
    method: 'PUT',
    path: '/api/users/{id}/presence',
    summary:
      "Set someone else's presence (an offer to someone set away moves on at once, and the cases they have accepted go back to the queue, `returned`); 404: no operator or supervisor with that id; 429 with Retry-After past SUPERVISOR_CONTROLS_PER_HOUR sets and sign-outs of others by one person (a security event at the first refusal of a burst)",
    roles: CAN['manage-presence'],
    params: UserIdParams,
    body: PresenceBody,
    response: PresenceView,
    errors: [404, 429],
  }),
  signOutUser: defineRoute({
    method: 'POST',
    path: '/api/users/{id}/logout',
    summary:
      'Sign someone out everywhere: ends their sessions and consoles, sets them away; 404: no operator or supervisor with that id; 429 with Retry-After past SUPERVISOR_CONTROLS_PER_HOUR sets and sign-outs of others by one person',
    roles: CAN['manage-presence'],
    params: UserIdParams,
    body: NoBody,
    response: SignOutView,
    errors: [404, 429],
  }),
};

/** The queue and a case's life: read it, accept, hold, resolve, decline, reassign, record what was done. */
export const HELPLINE_CASE_ROUTES = {
  listCases: defineRoute({
    method: 'GET',
    path: '/api/cases',
    summary:
      'Cases a page at a time (limit 500 by default, at most 1000): `open` in queue order (priority, then wait), `all` newest first (raisedAt, then id, descending), `from`/`to` bounding raisedAt; a page that is not the last names the next in its `Link` header (rel="next"). Each case with its alerts as a window (the first, the most urgent, the latest) with `alertCount` (all of them: GET /api/cases/{id}/alerts)',
    roles: CAN.view,
    query: ListCasesQuery,
    response: z.array(HelplineCase),
    responseHeaders: {
      Link: 'The next page, `</api/cases?…&cursor=…>; rel="next"`; absent on the last page. Cases raised meanwhile never repeat a case or push one off the pages still to read',
    },
  }),
  queueNames: defineRoute({
    method: 'GET',
    path: '/api/queue/names',
    summary:
      "Display names and postcode districts of the open cases' residents, for the queue (registry, cached 60 s; never logged). 429 with Retry-After past QUEUE_NAMES_PER_MINUTE calls by one person (a security event at the first refusal of a burst)",
    roles: CAN.view,
    response: QueueNamesView,
    errors: [429],
  }),
  getCase: defineRoute({
    method: 'GET',
    path: '/api/cases/{id}',
    summary:
      "A case with its audit trail and protocol; its alerts as a window (the first, the most urgent, the latest) with `alertCount` (all of them: GET /api/cases/{id}/alerts); its steps all but the older `alert-joined` ones, counted in `joinsLeftOut` (all of them: GET /api/cases/{id}/joins), and the older notes past the latest CASE_VIEW_NOTES, counted in `notesLeftOut` (from the cursor `olderNotes`: GET /api/cases/{id}/notes). A case outside the reader's own work (resolved or closed; for an operator, one a colleague holds or is offered) counts as a read of its resident, as its context does: 429 with Retry-After past CONTEXT_READS_PER_HOUR residents",
    roles: CAN.view,
    params: CaseIdParams,
    response: CaseDetail,
    errors: [404, 429],
  }),
  caseAlerts: defineRoute({
    method: 'GET',
    path: '/api/cases/{id}/alerts',
    summary:
      "Every alert of the case, newest first, a page at a time (limit at most 500; `before` is the last page's `next`): the list, the stream and the case view carry a window of them with `alertCount`",
    roles: CAN.view,
    params: CaseIdParams,
    query: CaseAlertsQuery,
    response: CaseAlertsView,
    errors: [404],
  }),
  caseJoins: defineRoute({
    method: 'GET',
    path: '/api/cases/{id}/joins',
    summary:
      "Every `alert-joined` step of the case, newest first, a page at a time (limit at most 500; `before` is the last page's `next`): the case view carries the latest of them with `joinsLeftOut`",
    roles: CAN.view,
    params: CaseIdParams,
    query: CaseJoinsQuery,
    response: CaseJoinsView,
    errors: [404],
  }),
  caseNotes: defineRoute({
    method: 'GET',
    path: '/api/cases/{id}/notes',
    summary:
      "The case's notes, newest first, a page at a time (limit at most 500; `before` is the view's `olderNotes` or the last page's `next`, 400 for one this case did not give): the case view carries the latest CASE_VIEW_NOTES of them with `notesLeftOut`. Outside the reader's own work a read of the resident, as the case view: 429 with Retry-After past CONTEXT_READS_PER_HOUR",
    roles: CAN.view,
    params: CaseIdParams,
    query: CaseNotesQuery,
    response: CaseNotesView,
    errors: [404, 429],
  }),
  caseContext: defineRoute({
    method: 'GET',
    path: '/api/cases/{id}/context',
    summary:
      "The resident, devices with their health, and responders from the registry. 429 with Retry-After past CONTEXT_READS_PER_HOUR residents read outside the reader's own work",
    roles: CAN.view,
    params: CaseIdParams,
    response: ResidentContext,
    errors: [404, 429],
  }),
  caseTimeline: defineRoute({
    method: 'GET',
    path: '/api/cases/{id}/timeline',
    summary:
      "The resident's device events of the last hours (at most 24), read from EVENTS. A case outside the reader's own work counts as a read of its resident, as its context does: 429 with Retry-After past CONTEXT_READS_PER_HOUR residents, or with TIMELINE_READS_AT_ONCE reads of the person's still running",
    roles: CAN.view,
    params: CaseIdParams,
    query: TimelineQuery,
    response: TimelineView,
    errors: [404, 429],
  }),
  accept: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/accept',
    summary:
      "Accept the case (queued, offered to you, or on hold). Answers the case's summary, as the list gives it (a hold without its reason): the console reads the case view after",
    roles: CAN.work,
    ...onCase,
    body: NoBody,
    response: HelplineCase,
  }),
  hold: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/hold',
    summary:
      "Put on hold with a call-back time: in the future and at most HELPLINE_HOLD_MAX_S ahead (24 h by default, 7 days at most), else 400 naming `until` and the limit. Answers the case's summary (the hold without its reason: the case view has it)",
    roles: CAN.work,
    ...onCase,
    body: HoldBody,
    response: HelplineCase,
  }),
  resolve: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/resolve',
    summary: "Resolve with an outcome and a reason. Answers the case's summary",
    roles: CAN.work,
    ...onCase,
    body: ResolveBody,
    response: HelplineCase,
  }),
  decline: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/decline',
    summary: "Decline a case offered to you; it returns to the queue. Answers the case's summary",
    roles: CAN.work,
    params: CaseIdParams,
    body: NoBody,
    response: HelplineCase,
    errors: [404, 409],
  }),
  reassign: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/reassign',
    summary:
      "Give the case to another operator or supervisor: an accepted or held case moves to them, a waiting one is offered to them. 409 with the reason, nothing changed, when they have no console open (a held case too) or are away (a held case may go to someone away). Answers the case's summary (a hold without its reason)",
    roles: CAN.reassign,
    ...onCase,
    body: ReassignBody,
    response: HelplineCase,
  }),
  addNote: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/notes',
    summary:
      'Add a note (201; 200 with the same event for a repeated Idempotency-Key). 429 with Retry-After past NOTES_PER_MINUTE notes and call records by one person (a security event at the first refusal of a burst)',
    roles: CAN.work,
    ...onCase,
    errors: [...onCase.errors, 429],
    body: NoteBody,
    response: CaseEvent,
    status: 201,
  }),
  recordResponderCall: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/responder-calls',
    summary:
      "Record a responder's answer; with `callId`, the call started from the case ends with it (call-ended, then responder-called with its duration). 429 with Retry-After past NOTES_PER_MINUTE notes and call records by one person",
    roles: CAN.work,
    ...onCase,
    errors: [...onCase.errors, 429],
    body: ResponderCallBody,
    response: CaseEvent,
    status: 201,
  }),
  recordEmergencyCall: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/emergency-calls',
    summary:
      'Record a call to emergency services; with `callId`, the call started from the case ends with it. 429 with Retry-After past NOTES_PER_MINUTE notes and call records by one person',
    roles: CAN.work,
    ...onCase,
    errors: [...onCase.errors, 429],
    body: EmergencyCallBody,
    response: CaseEvent,
    status: 201,
  }),
  recordFact: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/facts',
    summary:
      'Record a fact for the reports (responder arrived, found on the floor, ambulance requested / attended / conveyed, admitted) as a `fact-recorded` step, by the operator holding the case, a supervisor or admin; a time in the future or before the case was raised is 400. 429 with Retry-After past FACTS_PER_MINUTE facts by one person (a security event at the first refusal of a burst)',
    roles: CAN.work,
    ...onCase,
    errors: [...onCase.errors, 429],
    body: CaseFactBody,
    response: CaseEvent,
    status: 201,
  }),
  reveal: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/reveal',
    summary:
      'Reveal the key-safe code or medical notes (audited): only on an open case the operator holds (a supervisor or admin: any open case); 403 otherwise, 429 with Retry-After past the per-person limit (both raise a security event)',
    roles: CAN.work,
    params: CaseIdParams,
    body: CaseRevealBody,
    response: RevealedView,
    errors: [404, 429],
  }),
};

/** Voice: the case's call actions, starting and ending a call, the calls made. */
export const HELPLINE_CALL_ROUTES = {
  callTargets: defineRoute({
    method: 'GET',
    path: '/api/cases/{id}/call-targets',
    summary:
      "The case's call actions: the home unit, the resident, each responder and 999, as tel:/sip: URIs from the registry. 429 with Retry-After past CONTEXT_READS_PER_HOUR residents read outside the reader's own work",
    roles: CAN.view,
    params: CaseIdParams,
    response: CallTargetsView,
    errors: [404, 429],
  }),
  startCall: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/calls',
    summary:
      'Start a call (case accepted by you): the number comes from the registry; placed by the PBX (sip-click-to-call) or left to the browser to open (`via: browser`); recorded as call-started. Under an Idempotency-Key already used for a call, that call (200), never a second one: a start while the first is still being placed waits for it, or past HELPLINE_PBX_TIMEOUT_MS + 2 s is 409 `call-in-progress`. 429 with Retry-After: two starts of yours are still being placed. 404: no such case, or the registry names no such party (or no number for it)',
    roles: CAN.work,
    ...onCase,
    errors: [...onCase.errors, 429],
    body: StartCallBody,
    response: StartedCallView,
    status: 201,
  }),
  endCall: defineRoute({
    method: 'POST',
    path: '/api/cases/{id}/calls/{callId}/end',
    summary: 'End a call: outcome and duration recorded as call-ended; once, by whoever started it',
    roles: CAN.work,
    ...onCase,
    params: CallIdParams,
    body: EndCallBody,
    response: CaseEvent,
    status: 201,
  }),
  listCalls: defineRoute({
    method: 'GET',
    path: '/api/cases/{id}/calls',
    summary: 'The calls made from the case: who, whom, through what, when, how long, outcome',
    roles: CAN.view,
    params: CaseIdParams,
    response: z.looseObject({ calls: z.array(CallView) }),
    errors: [404],
  }),
};

/** What supervisors watch: the overview, the answer figures, misuse. */
export const HELPLINE_SUPERVISOR_ROUTES = {
  securityEvents: defineRoute({
    method: 'GET',
    path: '/api/security-events',
    summary: 'Security events, newest stored first: reveals refused by the case check or the rate limit',
    roles: CAN.security,
    query: SecurityEventsQuery,
    response: z.looseObject({ events: z.array(SecurityEventView) }),
  }),
  answerStats: defineRoute({
    method: 'GET',
    path: '/api/stats/answer',
    summary:
      'Answer times of alarm calls (P1, P2) against 97.5 % in 60 s and 99 % in 180 s, overall, per priority and per operator; a call still waiting counts only once past a target',
    roles: CAN.stats,
    query: StatsQuery,
    response: AnswerStatsView,
  }),
  supervisorOverview: defineRoute({
    method: 'GET',
    path: '/api/supervisor/overview',
    summary:
      'Operators and their states, the queue by priority (waiting now, longest wait), answer figures, alarm calls past 60 s or 180 s, security events and unmapped DC-09 codes',
    roles: CAN.supervise,
    query: SupervisorOverviewQuery,
    response: SupervisorOverview,
  }),
};

/** The console's live stream. */
export const HELPLINE_STREAM_ROUTES = {
  stream: defineRoute({
    method: 'GET',
    path: '/api/stream',
    summary:
      "Server-sent events (text/event-stream): `hello` ({console, pingMs, timeoutMs}: a signed-in person's stream is one of their consoles), `held` ({alerts, total}: the alarms, P1 and P2, this instance holds uncommitted while PostgreSQL is down or refuses writes, newest 200, each {alertId, priority, type, residentId, deviceSerial?, deviceKind?, raisedAt, testMode}; on connect and on every change, empty once committed), `snapshot`, then `case` (a HelplineCase with lastEvent; its alerts as a window, the first, the most urgent and the latest, with alertCount; a hold without its reason, and lastEvent's data {} for a step people write (a note, a call record, a hold, a resolution, a reassignment, a reveal, a fact, a call-back due): read those in the case view) on every change, and `ping` every pingMs, answered with POST /api/presence/heartbeat; resume with Last-Event-ID. Signed in with the session cookie, Authorization: Bearer, or ?ticket= (POST /api/stream/ticket) where no header can be set; ?access_token= is refused (400): a token in a URL is kept in logs and history. 401: a ticket unknown, used, expired, or of a credential no longer valid. 429: more than STREAMS_PER_PRINCIPAL open streams for this user on one instance",
    roles: CAN.view,
    query: StreamQuery,
    headers: StreamHeaders,
    response: z.string(),
    raw: true,
    errors: [429],
  }),
  streamTicket: defineRoute({
    method: 'POST',
    path: '/api/stream/ticket',
    summary:
      'A stream ticket, for a client that cannot send Authorization (EventSource): opens GET /api/stream?ticket= once, within STREAM_TICKET_TTL_S (30 s), as the person, token or session that asked; refused once that credential is revoked, expired or signed out',
    roles: CAN.view,
    body: NoBody,
    response: StreamTicketView,
    status: 201,
  }),
};

/** Every route of the helpline API. */
/**
 * Every read by a signed-in person (a GET but the live stream) counts against their
 * REQUESTS_PER_MINUTE (every helpline instance counts in one place), and a read of a case in their hand (held or
 * offered) against CASE_IN_HAND_READS_PER_MINUTE instead; every write on a case (a POST under
 * /api/cases/{id}/) against CASE_WRITES_PER_MINUTE: 429 with Retry-After past any.
 */
/** A write on one case (a POST under /api/cases/{id}/), counted against CASE_WRITES_PER_MINUTE. */
export const isCaseWrite = (route: { readonly method: string; readonly path: string }): boolean =>
  route.method !== 'GET' && route.path.startsWith('/api/cases/{id}/');

const withinBudgets = <T extends RouteTable>(routes: T): T =>
  Object.fromEntries(
    Object.entries(routes).map(([name, route]) => [
      name,
      (route.method === 'GET' && route.roles !== 'anyone' && name !== 'stream') || isCaseWrite(route)
        ? { ...route, errors: [...new Set([...(route.errors ?? []), 429])] }
        : route,
    ]),
  ) as T;

export const HELPLINE_ROUTES = withinBudgets({
  ...HELPLINE_PEOPLE_ROUTES,
  ...HELPLINE_PRESENCE_ROUTES,
  ...HELPLINE_CASE_ROUTES,
  ...HELPLINE_CALL_ROUTES,
  ...HELPLINE_SUPERVISOR_ROUTES,
  ...HELPLINE_STREAM_ROUTES,
});
export type HelplineRoutes = typeof HELPLINE_ROUTES;

export const HELPLINE_API = {
  title: 'telecare helpline',
  version: '1',
  description:
    'Cases from alerts, the live queue, answer clocks, escalation and responder cascades. People sign in (session cookie); programs send Authorization: Bearer <token> (a tok_ token issued by an admin, or TELECARE_ADMIN_TOKEN).',
  path: '/api/openapi.json',
  sessionCookie: 'helpline_session',
};

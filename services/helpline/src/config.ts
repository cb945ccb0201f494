import { ConfigError, commonEnv, loadConfig, port } from '@telecare/platform';
import { z } from 'zod';
import { passwordProblem } from './password-rule.ts';
import { TELEPHONY_MODES } from './telephony.ts';

const seconds = (fallback: number, max = 24 * 3600) =>
  z.coerce.number().int().min(1).max(max).default(fallback);

/** An https URL, or any URL to this machine (a partner's relay on loopback, tests). */
function secureOrLoopback(raw: string): boolean {
  const url = new URL(raw);
  if (url.protocol === 'https:') return true;
  const host = url.hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export const helplineEnv = {
  ...commonEnv,
  HELPLINE_PORT: port(7010),
  HTTP_HOST: z.string().default('127.0.0.1'),
  /** Further alerts for a resident within this many seconds of the case's latest alert join its open case. */
  CASE_JOIN_WINDOW_S: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .default(900),
  /** An offered case not accepted within this many seconds returns to the queue. */
  OFFER_TIMEOUT_S: seconds(20, 600),
  /** The escalation ladder for an unaccepted P1, in seconds after it was raised (DESIGN §6). */
  ESCALATE_ALL_OPERATORS_S: seconds(30),
  ESCALATE_SUPERVISOR_S: seconds(60),
  ESCALATE_OVERFLOW_S: seconds(90),
  /** Where the overflow step POSTs the case (for example a partner centre). Unset: the step is recorded only. */
  OVERFLOW_WEBHOOK_URL: z.url().optional(),
  /**
   * The secret shared with the partner centre: each handover is signed with it
   * (`X-Telecare-Signature`, see overflow.ts). Required with OVERFLOW_WEBHOOK_URL.
   */
  HELPLINE_PARTNER_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** How often offers, call-backs and the escalation ladder are checked against PostgreSQL. */
  TIMER_TICK_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  /** The registry's base URL, for residents, devices and responders. Unset: the case view says so. */
  REGISTRY_URL: z.url().optional(),
  /**
   * Triage's base URL: a case's device events timeline reads the resident's event index there.
   * Unset (or triage not answering): the timeline scans the resident's partition instead.
   */
  TRIAGE_URL: z.url().optional(),
  /**
   * The helpline's token for triage, the same value triage is given: it reads a resident's event
   * index and nothing else. Required with TRIAGE_URL; never the admin token.
   */
  HELPLINE_TRIAGE_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  /**
   * The most EVENTS messages of a partition one timeline scans when it cannot use the index (or
   * for the events triage has not read yet); past it the window is shortened and says so.
   */
  HELPLINE_TIMELINE_SCAN: z.coerce.number().int().min(100).max(1_000_000).default(20_000),
  /** The commissioners' reports dashboard: where the console sends a commissioner who signs in here. */
  TELECARE_REPORTS_URL: z.url().optional(),
  /**
   * The helpline's own registry token (role `helpline-service`): reads residents, devices and
   * responders and reveals naming the case and the operator. Required with REGISTRY_URL; never
   * the admin token. The stack generates one and gives the registry the same value.
   */
  HELPLINE_REGISTRY_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  /**
   * The longest one registry lookup may take (a case view's resident, devices, health and
   * responders together; a queue's names; a call's numbers; a reveal): past it the helpline answers
   * with what the case carries. A registry that accepts and never answers holds nobody up longer.
   */
  HELPLINE_REGISTRY_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(2000),
  /**
   * Calls to the registry in flight at once (more wait their turn, within HELPLINE_REGISTRY_TIMEOUT_MS),
   * which bounds the sockets the helpline holds open to it: the registry caps the sockets of one
   * address (its HTTP_CONNECTIONS_PER_ADDRESS, 256), and every case view of every operator comes
   * from the helpline's. Keep it under that cap.
   */
  HELPLINE_REGISTRY_CONNECTIONS: z.coerce.number().int().min(1).max(10_000).default(64),
  /** Reveals one person may make in HELPLINE_REVEAL_WINDOW_S before 429 and a security event. */
  HELPLINE_REVEAL_LIMIT: z.coerce.number().int().min(1).max(10_000).default(10),
  HELPLINE_REVEAL_WINDOW_S: seconds(600),
  /**
   * Residents one person may read (context, numbers to call) in an hour outside their own work:
   * resolved cases, and an operator's look at cases colleagues hold. Their own, the queue's and a
   * supervisor's open cases are never counted (life safety). One a minute is several times what
   * the busiest operator looks up beside their own calls; a bulk read of the register is not.
   */
  CONTEXT_READS_PER_HOUR: z.coerce.number().int().min(1).max(100_000).default(60),
  /**
   * Calls of GET /api/queue/names one person may make in a minute. The console asks only when its
   * queue shows a resident it has no name for, at most once a second: 60 a minute for one console
   * through a storm of new cases, so the default leaves room for a second one.
   */
  QUEUE_NAMES_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(120),
  /**
   * Calls of GET /api/users (the staff list: everyone's presence, consoles, last heartbeat) one
   * person may make in a minute. A supervisor's or admin's console asks every 3 s (20 a minute)
   * and after each set-away or sign-out, anyone else's once as it starts: the default leaves room
   * for several tabs.
   */
  STAFF_LIST_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(120),
  /**
   * Calls of GET /api/supervisor/overview one person may make in a minute. A supervisor's console
   * asks every 5 s (12 a minute): the default leaves room for a wallboard and two more screens.
   */
  OVERVIEW_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(60),
  /**
   * Device events timelines one person may have read at once on an instance: a scan reads up to
   * HELPLINE_TIMELINE_SCAN EVENTS messages (seconds on a busy partition). The console reads one per
   * case opened.
   */
  TIMELINE_READS_AT_ONCE: z.coerce.number().int().min(1).max(100).default(2),
  /**
   * Steps one person may write by hand on cases in a minute: notes, responders' answers and 999
   * calls recorded. Typed by an operator, a few a minute at the busiest; past it, 429 and a
   * `notes-rate-limited` security event.
   */
  NOTES_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(30),
  /**
   * The newest notes the case view carries (`GET /api/cases/{id}`); the older are counted in
   * `notesLeftOut` and read a page at a time from `GET /api/cases/{id}/notes`. The console reads the
   * view again on every change of the case, and a note is up to 4,000 characters.
   */
  CASE_VIEW_NOTES: z.coerce.number().int().min(1).max(5000).default(200),
  /**
   * Reads (GET requests) one person may make in a minute, every instance together (counted in
   * PostgreSQL, `request_budgets`; in an instance's memory while that does not answer): past it,
   * 429 and a `requests-rate-limited` security event once per window. A console reads a few dozen
   * times a minute (a supervisor's people and overview every few seconds, the answer
   * figures, the case on screen again on each of its changes); the stream, sign-in, writes (each
   * bounded by its own limit or the case's state) and reads of a case in one's hand (held or
   * offered: CASE_IN_HAND_READS_PER_MINUTE) are never refused by it.
   */
  REQUESTS_PER_MINUTE: z.coerce.number().int().min(10).max(1_000_000).default(1200),
  /**
   * Reads of the cases in one person's hand (the case they hold or are offered: its view, alerts,
   * joins, calls, numbers to call, context, device events, notes) they may make in a minute, every
   * instance together, counted apart from REQUESTS_PER_MINUTE and as it is: past it, 429 and a
   * `case-in-hand-reads-rate-limited` security event naming the case, once per window. The console
   * reads the case on screen again on each change of it, one read at a time, two or three requests
   * each: 6,000 is a change every 30 ms for a whole minute, far above a person at a console, and
   * still a bound on a script reading its case in a loop. Kept at least 100 (never near a console).
   */
  CASE_IN_HAND_READS_PER_MINUTE: z.coerce.number().int().min(100).max(1_000_000).default(6000),
  /**
   * Writes on cases (every `POST /api/cases/{id}/…`: accept, decline, hold, resolve, reassign,
   * notes, call records, calls, facts, reveals) one person may make in a minute, every instance
   * together (counted as REQUESTS_PER_MINUTE is) before the case is looked up: past it, 429
   * whatever the id (an id no case has included) and a `case-writes-rate-limited` security event once per window. An operator in a
   * storm accepts, notes, calls and resolves a case every few seconds, a few writes each: 300 is a
   * write every 200 ms for a whole minute, far above anyone at a console, and still a bound on a
   * stolen session writing in a loop. The admin token is not counted. Kept at least 30.
   */
  CASE_WRITES_PER_MINUTE: z.coerce.number().int().min(30).max(1_000_000).default(300),
  /**
   * Facts one person may record on cases in a minute (`POST /api/cases/{id}/facts`). A case has a
   * handful (the responder there, the ambulance's three stages, an admission); past it, 429 and a
   * `facts-rate-limited` security event.
   */
  FACTS_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(30),
  /**
   * Changes one supervisor may make to other people in an hour: presences set and sign-outs
   * everywhere. A shift change takes a handful; past it, 429 and a
   * `supervisor-controls-rate-limited` security event. Each sign-out puts the person's cases back in
   * the queue and their console out: unbounded, one stolen supervisor session kept a whole shift
   * signed out.
   */
  SUPERVISOR_CONTROLS_PER_HOUR: z.coerce.number().int().min(1).max(100_000).default(30),
  /**
   * Security events of one other service (a gateway) stored in an hour, by the database's clock
   * when stored (not the `at` the publisher wrote); past it they are counted
   * (`helpline_security_events_read_total{outcome="capped"}`) and left on the SECURITY stream. The
   * gateways budget theirs to about one a second in a flood; the list stays readable.
   */
  HELPLINE_SECURITY_EVENTS_PER_HOUR: z.coerce.number().int().min(1).max(1_000_000).default(600),
  /**
   * Alerts handled at once per alarm priority (P1 and P2 each; P3–P5 half of it each):
   * different residents in parallel, one resident's alerts of a priority in order.
   */
  INGEST_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(8),
  /** What an operator's presence becomes when they sign in (`keep`: leave it as it was). */
  PRESENCE_ON_LOGIN: z.enum(['available', 'away', 'keep']).default('available'),
  /**
   * A console not heard from for this long no longer makes its person present: offers to them
   * move on. Each stream is pinged every third of it, and the console answers each ping.
   */
  PRESENCE_TIMEOUT_S: seconds(15, 300),
  /**
   * The operator holding an accepted or held case with no console there for this long: the case is
   * flagged `operator-gone` on every console, the supervisor's overview and the metrics.
   */
  HELPLINE_OPERATOR_GONE_S: seconds(90, 3600),
  /** Still gone this much longer: an accepted alarm call (P1, P2) goes back to the queue. */
  HELPLINE_OPERATOR_GONE_REQUEUE_S: seconds(120, 3600),
  /**
   * The longest a case may be put on hold: a call-back further ahead is refused (400), so a mistyped
   * date cannot park an alarm case for years. At most 7 days.
   */
  HELPLINE_HOLD_MAX_S: seconds(24 * 3600, 7 * 24 * 3600),
  /**
   * How long a stream ticket (`POST /api/stream/ticket`) may wait for its one use: long enough for
   * a console to open its stream on a slow link, short enough that one seen in a log is spent.
   */
  STREAM_TICKET_TTL_S: seconds(30, 300),
  /** Live streams one user (or token) may hold open on one instance; more answer 429. */
  STREAMS_PER_PRINCIPAL: z.coerce.number().int().min(1).max(1000).default(8),
  /** A first admin user, created at start-up when no user has this username (the password is never changed later). */
  HELPLINE_ADMIN_EMAIL: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9._+-]+@[a-z0-9.-]+$/, 'must be an email address')
    .max(64)
    .optional(),
  HELPLINE_ADMIN_PASSWORD: z.string().min(10, 'must be at least 10 characters').max(200).optional(),
  /** Failed sign-ins for one username, and from one address, within LOGIN_LOCKOUT_WINDOW_S before 429. */
  LOGIN_FAILURES_PER_USER: z.coerce.number().int().min(1).max(1000).default(5),
  LOGIN_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).max(100_000).default(20),
  LOGIN_LOCKOUT_WINDOW_S: seconds(900),
  /**
   * The console's address as browsers see it (`https://helpline.example.org`): state-changing
   * requests from a page with another Origin are refused. Unset: the request's own Host.
   */
  HELPLINE_PUBLIC_ORIGIN: z.url().optional(),
  /**
   * The TLS-terminating proxies in front of the console (comma-separated addresses or CIDRs):
   * their X-Forwarded-For gives the client address that sign-in limits count per address.
   */
  HELPLINE_TRUST_PROXY: z
    .string()
    .optional()
    .transform((value) =>
      value
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  /** `auto`: the session cookie is `Secure` when the request came over TLS (or X-Forwarded-Proto: https); `always`: always. */
  HELPLINE_COOKIE_SECURE: z.enum(['auto', 'always']).default('auto'),
  /**
   * How calls from a case are placed: `none`, the console opens the tel:/sip: URI and the
   * operator's softphone or desk phone dials; `sip-click-to-call`, the helpline asks a PBX's HTTP
   * API (HELPLINE_PBX_URL) to ring the operator's extension and then the party.
   */
  HELPLINE_TELEPHONY: z.enum(TELEPHONY_MODES).default('none'),
  HELPLINE_PBX_URL: z.url().optional(),
  /** Sent to the PBX as `Authorization: Bearer`. */
  HELPLINE_PBX_TOKEN: z.string().min(1).optional(),
  HELPLINE_PBX_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(3000),
  /** The emergency number the 999 call action dials. */
  HELPLINE_EMERGENCY_NUMBER: z
    .string()
    .regex(/^\+?[0-9]{2,15}$/, 'digits, with a leading + if needed')
    .default('999'),
  /**
   * A console session not used for this long ends. Every request and every heartbeat of its
   * console moves its end this far on (sliding), up to SESSION_MAX_S from sign-in.
   */
  SESSION_TTL_S: seconds(3600, 7 * 24 * 3600),
  /** No console session lasts longer than this from sign-in, however busy (the console warns first). */
  SESSION_MAX_S: seconds(24 * 3600, 7 * 24 * 3600),
} as const;

export type HelplineConfig = ReturnType<typeof loadHelplineConfig>;

/** The services the helpline calls with a token of its own: their URL, the token, what it is. */
const SERVICE_TOKENS = [
  ['REGISTRY_URL', 'HELPLINE_REGISTRY_TOKEN', 'a registry token of role helpline-service'],
  ['TRIAGE_URL', 'HELPLINE_TRIAGE_TOKEN', 'the token triage is given for the helpline'],
] as const;

export function loadHelplineConfig(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig('helpline', helplineEnv, env);
  // The helpline's own token for each service it calls: required with its URL, never the admin token.
  for (const [url, token, what] of SERVICE_TOKENS) {
    if (config[url] && !config[token])
      throw new ConfigError('helpline', [`${token}: required with ${url} (${what})`]);
    if (config[token] && config[token] === config.TELECARE_ADMIN_TOKEN)
      throw new ConfigError('helpline', [
        `${token}: must not be the admin token (the helpline gets only the role it needs)`,
      ]);
  }
  const adminPasswordProblem = config.HELPLINE_ADMIN_PASSWORD
    ? passwordProblem(config.HELPLINE_ADMIN_PASSWORD, [config.HELPLINE_ADMIN_EMAIL ?? ''])
    : undefined;
  if (adminPasswordProblem)
    throw new ConfigError('helpline', [`HELPLINE_ADMIN_PASSWORD: ${adminPasswordProblem}`]);
  if (Boolean(config.HELPLINE_ADMIN_EMAIL) !== Boolean(config.HELPLINE_ADMIN_PASSWORD))
    throw new ConfigError('helpline', [
      'HELPLINE_ADMIN_EMAIL and HELPLINE_ADMIN_PASSWORD: set both to create the first admin, or neither',
    ]);
  if (config.OVERFLOW_WEBHOOK_URL && !config.HELPLINE_PARTNER_SECRET)
    throw new ConfigError('helpline', [
      'HELPLINE_PARTNER_SECRET: required with OVERFLOW_WEBHOOK_URL (the secret the partner centre checks each handover with)',
    ]);
  if (config.OVERFLOW_WEBHOOK_URL && !secureOrLoopback(config.OVERFLOW_WEBHOOK_URL))
    throw new ConfigError('helpline', [
      "OVERFLOW_WEBHOOK_URL: must be https (a resident's case crosses the network to another organisation); http only to a loopback address",
    ]);
  if (config.SESSION_TTL_S > config.SESSION_MAX_S)
    throw new ConfigError('helpline', [
      `SESSION_TTL_S: ${config.SESSION_TTL_S} is longer than SESSION_MAX_S (${config.SESSION_MAX_S}), the most a session may last`,
    ]);
  if (config.HELPLINE_TELEPHONY === 'sip-click-to-call' && !config.HELPLINE_PBX_URL)
    throw new ConfigError('helpline', [
      'HELPLINE_PBX_URL: required with HELPLINE_TELEPHONY=sip-click-to-call (the PBX click-to-call endpoint)',
    ]);
  return config;
}

import { randomUUID } from 'node:crypto';
import type { HelplineCase, SecurityEventKind } from '@telecare/contracts';
import {
  type Clock,
  type FastifyRequest,
  type Logger,
  type PersonLimit,
  RateLimitedError,
} from '@telecare/platform';
import type { Authenticator } from '../auth.ts';
import type { HelplineMetrics } from '../metrics.ts';
import { ADMIN_PRINCIPAL, type PeopleStore, type Principal } from '../people.ts';
import type { ConsoleStore } from '../presence.ts';
import type { CasePublisher } from '../publisher.ts';
import type { RegistryClient } from '../registry-client.ts';
import type { SharedBudget } from '../request-budget.ts';
import type { Scheduler } from '../scheduler.ts';
import type { SecurityEvents } from '../security.ts';
import type { Actor, CaseStore, StoredCase } from '../store/index.ts';
import type { LiveStreams } from '../stream.ts';
import type { TicketBinding } from '../stream-tickets.ts';
import type { TelephonyAdapter } from '../telephony.ts';
import type { TimelineReader } from '../timeline.ts';
import type { UnmappedCodesReader } from '../unmapped.ts';

export interface RouteDeps {
  readonly store: CaseStore;
  readonly people: PeopleStore;
  readonly auth: Authenticator;
  readonly publisher: CasePublisher;
  readonly scheduler: Scheduler;
  readonly registry: RegistryClient;
  readonly timeline: TimelineReader;
  /** The unmapped DC-09 codes on EVENTS, kept up to date for the supervisor's overview. */
  readonly unmapped: UnmappedCodesReader;
  readonly metrics: HelplineMetrics;
  readonly consoles: ConsoleStore;
  readonly streams: LiveStreams;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly offerSeconds: number;
  /** The longest hold (HELPLINE_HOLD_MAX_S): a call-back further ahead is refused. */
  readonly holdMaxSeconds: number;
  /** Device events timelines one person may have read at once on this instance (TIMELINE_READS_AT_ONCE). */
  readonly timelineReadsAtOnce: number;
  /** The newest notes the case view carries (CASE_VIEW_NOTES); the older are paged. */
  readonly caseViewNotes: number;
  /** What an operator's presence becomes at sign-in. */
  readonly presenceOnLogin: 'available' | 'away' | 'keep';
  readonly security: SecurityEvents;
  /** The console's origin as browsers see it; unset, the request's Host. */
  readonly publicOrigin?: string | undefined;
  /** The commissioners' reports dashboard, for people whose work is not in this console. */
  readonly reportsUrl?: string | undefined;
  readonly cookieSecure?: 'auto' | 'always';
  /**
   * Failed sign-ins per username and per address in a sliding window, counted in PostgreSQL
   * across instances and restarts.
   */
  readonly loginLimits: { readonly user: PersonLimit; readonly address: PersonLimit };
  /** Reveal attempts per person in a sliding window, counted in PostgreSQL. */
  readonly revealLimit: PersonLimit;
  /**
   * Residents per person read outside their own work in an hour (`ownContextRead`), counted in
   * PostgreSQL so the limit holds across instances and restarts.
   */
  readonly contextReadLimit: PersonLimit;
  /** Calls of the queue's names per person in a minute, counted in PostgreSQL too. */
  readonly queueNamesLimit: PersonLimit;
  /** Calls of the staff list (`GET /api/users`) per person in a minute, counted in PostgreSQL too. */
  readonly staffListLimit: PersonLimit;
  /** Calls of the supervisor's overview per person in a minute, counted in PostgreSQL too. */
  readonly overviewLimit: PersonLimit;
  /** Steps written by hand (notes, responders' answers, 999 calls) per person in a minute, in PostgreSQL too. */
  readonly notesLimit: PersonLimit;
  /** Reads per person in a minute (REQUESTS_PER_MINUTE), every instance together (PostgreSQL). */
  readonly requestBudget: SharedBudget;
  /** Reads of the cases in one's hand per person in a minute (CASE_IN_HAND_READS_PER_MINUTE), the same. */
  readonly caseInHandBudget: SharedBudget;
  /** Writes on cases per person in a minute (CASE_WRITES_PER_MINUTE), the same. */
  readonly caseWriteBudget: SharedBudget;
  /** Facts recorded on cases per person in a minute (FACTS_PER_MINUTE), in PostgreSQL too. */
  readonly factsLimit: PersonLimit;
  /** Presences set and sign-outs of others, per supervisor (SUPERVISOR_CONTROLS_PER_HOUR). */
  readonly supervisorControlsLimit: PersonLimit;
  /** Places calls from a case (the browser's tel:/sip: handler, or a PBX). */
  readonly telephony: TelephonyAdapter;
  /**
   * How long a call start waits for another start under the same Idempotency-Key to be placed (the
   * phone system's time to answer, and some) before it is answered 409 `call-in-progress`.
   */
  readonly callClaimWaitMs: number;
  /** What the 999 call action dials. */
  readonly emergencyNumber: string;
}

/** What every route module shares: the service's parts, the clock, and who is calling. */
export interface RouteContext {
  readonly deps: RouteDeps;
  readonly now: () => Date;
  /** The caller, known once the request got past sign-in (every route but sign-in and sign-out). */
  readonly who: (req: FastifyRequest) => Principal;
  /** What the stream ticket this request came with was issued to (the live stream only). */
  readonly ticketOf: (req: FastifyRequest) => TicketBinding | undefined;
  /** The client's key for this action (`Idempotency-Key`, checked by the route's contract). */
  readonly requestKeyOf: (req: FastifyRequest) => string | undefined;
  /**
   * Records that the caller was shown residents' personal data (names, addresses, phone numbers,
   * responders, notes) read from the registry, a case's steps (the operators' notes, the responders
   * called) outside the reader's own work, or a resident's device events (their days at home) read
   * from EVENTS: the person, the case, the residents' ids and the ground of the read (`readGround`),
   * never the data. Every read, the reader's own work too: the limit spares the console's work, the
   * record does not. The registry records these reads as the helpline's own token, so only this
   * line says which person read whom.
   */
  readonly personalRead: (
    req: FastifyRequest,
    what: PersonalRead,
    residentIds: readonly string[],
    of?: Pick<HelplineCase, 'id' | 'state' | 'assignedTo' | 'offeredTo'>,
  ) => void;
  /**
   * Before a case's resident is read from the registry (context, numbers to call): throws a
   * `RateLimitedError` once the caller has read `CONTEXT_READS_PER_HOUR` residents outside their
   * own work, raising a security event at the first refusal of a burst. Their own case never.
   * The case view, the context and the numbers to call each count the case's resident.
   */
  readonly mayReadResident: (req: FastifyRequest, c: HelplineCase) => Promise<void>;
  /**
   * The case a read of one case is about (`CASE_READS` in `./index.ts`), read once before its
   * handler and already counted against the caller's budget: REQUESTS_PER_MINUTE, or when the case
   * is in their hand (`caseInHand`) CASE_IN_HAND_READS_PER_MINUTE. An unknown id was answered 404
   * within the budget, and 429 past it as any case not in the caller's hand is.
   */
  readonly caseRead: (req: FastifyRequest) => StoredCase;
}

/** What personal data a helpline answer showed. */
export type PersonalRead =
  | 'case-context'
  | 'queue-names'
  | 'call-targets'
  /** The number a started call dialled (its answer shows it). */
  | 'call-number'
  | 'device-events'
  | 'case-view'
  | 'case-notes';

/**
 * Someone signed out on purpose (or was signed out by a supervisor or admin): with no console of
 * theirs left there, an accepted alarm call they held goes back to the queue now and their other
 * cases are flagged now, not after the bounds that wait out a crash or a lost network.
 */
export async function releaseCasesOf(deps: RouteDeps, userId: string, at: Date): Promise<number> {
  const events = await deps.store.holderSignedOut(at, userId);
  if (events.length === 0) return 0;
  deps.publisher.flushInBackground();
  deps.logger.info(
    { userId, cases: [...new Set(events.map((e) => e.caseId))], events: events.map((e) => e.kind) },
    'signed out holding cases: released',
  );
  return events.length;
}

/**
 * Sets someone away (a break; or a supervisor set them away, `by`) and, in the same transaction,
 * sends the cases they have accepted back to the queue for the next operator who is there. Returns
 * those cases' ids.
 */
export async function goAway(deps: RouteDeps, userId: string, by: string, at: Date): Promise<string[]> {
  const events = await deps.store.goAway(at, userId, by, (db) =>
    deps.people.setPresence(userId, 'away', at, db),
  );
  if (events.length === 0) return [];
  const cases = [...new Set(events.map((e) => e.caseId))];
  deps.publisher.flushInBackground();
  deps.logger.info({ userId, by, cases }, 'went away working cases: back in the queue');
  return cases;
}

/** A call bounded per person in a minute: what it is, its limit, its refusal counter and security event. */
export interface BoundedRead {
  /** In words, for the refusal: "read the queue's names". */
  readonly action: string;
  /** What was done, for the message: "the queue's names were asked". */
  readonly what: string;
  readonly limit: PersonLimit;
  readonly refused: { inc(): void };
  readonly event: SecurityEventKind;
}

/**
 * Counts one bounded call for the caller, on every instance together (PostgreSQL): past the limit,
 * 429 with `Retry-After`, counted, and a security event (naming the case, if any) at the first
 * refusal of a burst. A call under a key already counted (a retried write's Idempotency-Key) is not
 * counted again. The admin token is the deployment's own program and is not limited.
 */
export async function withinLimit(
  deps: RouteDeps,
  principal: Principal,
  read: BoundedRead,
  at: Date,
  on: { readonly caseId?: string; readonly key?: string | undefined } = {},
): Promise<void> {
  if (principal.id === ADMIN_PRINCIPAL.id) return;
  const { limit } = read;
  const decision = await limit.attempt(principal.id, on.key ?? randomUUID());
  if (decision.allowed) return;
  read.refused.inc();
  if (decision.firstRefusal)
    await deps.security.raise(
      read.event,
      { userId: principal.id, caseId: on.caseId ?? null },
      { role: principal.role, limit: limit.max, windowS: limit.windowMs / 1000 },
      at,
    );
  throw new RateLimitedError(
    read.action,
    decision.retryAfterS,
    'rate-limited',
    `${read.what} ${limit.max} times in the past ${windowInWords(limit.windowMs)}; try again in ${decision.retryAfterS} s`,
  );
}

/** A limit's window for its refusal: "minute", "hour", or so many seconds. */
const windowInWords = (ms: number): string =>
  ms === 60_000 ? 'minute' : ms === 3_600_000 ? 'hour' : `${Math.round(ms / 1000)} s`;

/** Supervisors and admins may act on a case someone else holds. */
export const actorOf = (principal: Principal): Actor => ({
  id: principal.id,
  override: principal.role === 'supervisor' || principal.role === 'admin',
});

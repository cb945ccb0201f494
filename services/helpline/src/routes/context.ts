import type { Clock, FastifyRequest, Logger, SlidingWindowLimiter } from '@telecare/platform';
import type { Authenticator } from '../auth.ts';
import type { HelplineMetrics } from '../metrics.ts';
import type { PeopleStore, Principal } from '../people.ts';
import type { ConsoleStore } from '../presence.ts';
import type { CasePublisher } from '../publisher.ts';
import type { RegistryClient } from '../registry-client.ts';
import type { Scheduler } from '../scheduler.ts';
import type { SecurityEvents } from '../security.ts';
import type { Actor, CaseStore } from '../store/index.ts';
import type { LiveStreams } from '../stream.ts';
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
  /** What an operator's presence becomes at sign-in. */
  readonly presenceOnLogin: 'available' | 'away' | 'keep';
  readonly security: SecurityEvents;
  /** The console's origin as browsers see it; unset, the request's Host. */
  readonly publicOrigin?: string | undefined;
  /** The commissioners' reports dashboard, for people whose work is not in this console. */
  readonly reportsUrl?: string | undefined;
  readonly cookieSecure?: 'auto' | 'always';
  /** Failed sign-ins per username and per address in a sliding window. */
  readonly loginLimits: { readonly user: SlidingWindowLimiter; readonly address: SlidingWindowLimiter };
  /** Reveals per principal in a sliding window. */
  readonly revealLimit: SlidingWindowLimiter;
  /** Places calls from a case (the browser's tel:/sip: handler, or a PBX). */
  readonly telephony: TelephonyAdapter;
  /** What the 999 call action dials. */
  readonly emergencyNumber: string;
}

/** What every route module shares: the service's parts, the clock, and who is calling. */
export interface RouteContext {
  readonly deps: RouteDeps;
  readonly now: () => Date;
  /** The caller, known once the request got past sign-in (every route but sign-in and sign-out). */
  readonly who: (req: FastifyRequest) => Principal;
  /** The client's key for this action (`Idempotency-Key`, checked by the route's contract). */
  readonly requestKeyOf: (req: FastifyRequest) => string | undefined;
  /**
   * Records that the caller was shown residents' personal data (names, addresses, phone numbers,
   * responders, notes) read from the registry: the person, the case and the residents' ids, never
   * the data. The registry records these reads as the helpline's own token, so only this line says
   * which person read whom.
   */
  readonly personalRead: (
    req: FastifyRequest,
    what: PersonalRead,
    residentIds: readonly string[],
    caseId?: string,
  ) => void;
}

/** What personal data a helpline answer showed. */
export type PersonalRead = 'case-context' | 'queue-names' | 'call-targets';

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

/** Supervisors and admins may act on a case someone else holds. */
export const actorOf = (principal: Principal): Actor => ({
  id: principal.id,
  override: principal.role === 'supervisor' || principal.role === 'admin',
});

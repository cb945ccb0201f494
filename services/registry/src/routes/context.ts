import type { FastifyReply, FastifyRequest, Logger, PoolClient } from '@telecare/platform';
import type { ApiDeps, Principal } from '../api.ts';

/** What personal data an answer showed. */
export type PersonalRead = 'residents' | 'resident' | 'responders' | 'away';

/** What every resource's routes share: the dependencies, the caller, and the copies to follow. */
export interface RouteContext {
  deps: ApiDeps;
  log: Logger;
  now: () => Date;
  /** Who is calling (set by the bearer check before any route runs). */
  principal: (req: FastifyRequest) => Principal;
  /**
   * Records that the caller was shown residents' personal data (names, addresses, phone numbers,
   * call lists, away notes): the calling token, its role and the residents' ids, never the data.
   */
  personalRead: (req: FastifyRequest, what: PersonalRead, residentIds: readonly string[]) => void;
  /**
   * A creating POST's work, done once per `Idempotency-Key` of the caller: `work` runs in the
   * key's transaction (`client`), or on its own when no key was sent (`client` undefined). A
   * repeat is `replayed` (the status and `Idempotent-Replayed` set on `reply`, a kept refusal
   * thrown again): the caller then does none of what follows a first commit.
   */
  once: <T>(
    req: FastifyRequest,
    reply: FastifyReply,
    work: (client: PoolClient | undefined) => Promise<T>,
  ) => Promise<{ body: T; replayed: boolean }>;
  /** After a commit, the copies follow: device map and DC-09 accounts. */
  published: (serial: string, previousAccount?: string | null) => Promise<void>;
}

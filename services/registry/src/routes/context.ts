import type { FastifyRequest, Logger } from '@telecare/platform';
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
  /** After a commit, the copies follow: device map and DC-09 accounts. */
  published: (serial: string, previousAccount?: string | null) => Promise<void>;
}

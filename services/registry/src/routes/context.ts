import type { FastifyRequest, Logger } from '@telecare/platform';
import type { ApiDeps, Principal } from '../api.ts';

/** What every resource's routes share: the dependencies, the caller, and the copies to follow. */
export interface RouteContext {
  deps: ApiDeps;
  log: Logger;
  now: () => Date;
  /** Who is calling (set by the bearer check before any route runs). */
  principal: (req: FastifyRequest) => Principal;
  /** After a commit, the copies follow: device map and DC-09 accounts. */
  published: (serial: string, previousAccount?: string | null) => Promise<void>;
}

import type { FastifyReply, FastifyRequest, Logger, PoolClient } from '@telecare/platform';
import type { ApiDeps, Principal } from '../api.ts';
import type { KeptAnswer } from '../idempotency.ts';

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
   * thrown again): the caller then does none of what follows a first commit. `keep` gives what is
   * kept for the answer when it is not the answer itself (one showing a secret: a refusal to show
   * it again, `secretNotReplayed`); `fingerprinted` what of the request is compared on a repeat
   * when it is not the body (a file whose sealed columns must not be hashed).
   */
  once: <T>(
    req: FastifyRequest,
    reply: FastifyReply,
    work: (client: PoolClient | undefined) => Promise<T>,
    options?: { keep?: (body: T) => KeptAnswer; fingerprinted?: unknown },
  ) => Promise<{ body: T; replayed: boolean }>;
  /**
   * After a commit, the copies follow: device map and DC-09 accounts. Throws a `DeviceMapFullError`
   * (507) when the device map is full and does not take the device's entry, else a
   * `Dc09AccountsFullError` (507) when the DC-09 accounts bucket does not take the account's.
   */
  published: (serial: string, previousAccount?: string | null) => Promise<void>;
  /**
   * `published` for many devices after one commit (an import's), a chunk of them at a time: answers
   * how many devices' copies are not in their buckets yet, each tried again until it is.
   */
  publishedAll: (serials: readonly string[]) => Promise<number>;
}

import { Dc09AccountEntry, type Names } from '@telecare/contracts';
import {
  type BucketOptions,
  type Logger,
  type NatsConnection,
  openDc09Accounts,
  WatchedBucket,
} from '@telecare/platform';

export { openDc09Accounts };

/** The registry's DC-09 accounts (key = account), mirrored in memory (see platform `WatchedBucket`). */
export type Dc09Accounts = WatchedBucket<Dc09AccountEntry>;

export async function openDc09AccountsMirror(
  nc: NatsConnection,
  n: Names,
  logger: Logger,
  options: BucketOptions = {},
): Promise<Dc09Accounts> {
  return new WatchedBucket({
    kv: await openDc09Accounts(nc, n, { logger, ...options }),
    schema: Dc09AccountEntry,
    keyOf: (entry) => entry.account,
    what: 'DC-09 accounts',
    logger: logger.child({ component: 'accounts' }),
  });
}

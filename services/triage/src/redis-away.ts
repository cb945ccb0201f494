import { type Logger, type Redis, TransientError } from '@telecare/platform';

/** How often a Redis that stopped answering on a live connection is asked again (a PING). */
export const REDIS_PROBE_EVERY_MS = 1_000;

/** A read not sent because Redis is known not to answer now: it would only have failed later. */
export class RedisAwayError extends TransientError {}

/**
 * Whether Redis is known not to answer now, so that a read is not sent only to wait seconds for
 * its failure. The client (platform `createRedis`) queues a command while it is not connected and
 * fails it only after a few reconnect attempts (2 s apart once it has tried a while): with Redis
 * down, every read waited 2 to 6 s to fail. Redis is **away** while the client is not connected,
 * and after a command timed out on a live connection (a Redis that does not answer) until a PING
 * is answered (tried every `REDIS_PROBE_EVERY_MS`) or the client connects again. A read then fails
 * at once with a `RedisAwayError` (a `TransientError`: what needed it is tried again).
 *
 * Reads only: a write is still sent, and the client's queue sends it if Redis comes back in time
 * (an event index write that lands late is no gap). One per client (`of`).
 */
export class RedisAway {
  static readonly #byClient = new WeakMap<Redis, RedisAway>();
  readonly #redis: Redis;
  #log: Logger | undefined;
  #timedOut = false;
  #probing = false;
  #wasAway = false;

  private constructor(redis: Redis) {
    this.#redis = redis;
    // A new connection answers: whatever timed out on the one before is not this one's doing.
    redis.on('ready', () => {
      this.#timedOut = false;
      this.#changed();
    });
  }

  /** The one breaker of a client, made on first use; given a logger, it logs its changes. */
  static of(redis: Redis, logger?: Logger): RedisAway {
    let away = RedisAway.#byClient.get(redis);
    if (!away) {
      away = new RedisAway(redis);
      RedisAway.#byClient.set(redis, away);
    }
    if (logger && !away.#log) away.#log = logger.child({ component: 'redis-away' });
    return away;
  }

  /** True while a read would only fail: not connected, or a command timed out and no PING answered since. */
  get away(): boolean {
    return this.#redis.status !== 'ready' || this.#timedOut;
  }

  /** Runs `read`, or throws a `RedisAwayError` at once when Redis is away; a read that times out makes it away. */
  async read<T>(what: string, read: () => Promise<T>): Promise<T> {
    if (this.away) {
      this.#changed();
      throw new RedisAwayError(`Redis away: ${what} not sent`, { context: { dependency: 'redis' } });
    }
    try {
      return await read();
    } catch (err) {
      if (timedOut(err)) this.#timeout();
      throw err;
    }
  }

  #timeout(): void {
    this.#timedOut = true;
    this.#changed();
    if (this.#probing) return;
    this.#probing = true;
    const probe = (): void => {
      const timer = setTimeout(async () => {
        if (!this.#timedOut || this.#redis.status === 'end') {
          this.#probing = false;
          return;
        }
        try {
          await this.#redis.ping();
          this.#timedOut = false;
          this.#probing = false;
          this.#changed();
        } catch {
          probe();
        }
      }, REDIS_PROBE_EVERY_MS);
      timer.unref();
    };
    probe();
  }

  /** Logs once as Redis goes away and once as it answers again. */
  #changed(): void {
    const away = this.away;
    if (away === this.#wasAway) return;
    this.#wasAway = away;
    if (away) this.#log?.warn('redis away: its reads fail at once until it answers again');
    else this.#log?.info('redis answers again');
  }
}

const timedOut = (err: unknown): boolean =>
  err instanceof Error && (err.message === 'Command timed out' || timedOut(err.cause));

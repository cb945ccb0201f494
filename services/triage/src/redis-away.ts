import {
  type Logger,
  REDIS_LOADING,
  type Redis,
  type RedisRefusal,
  redisRefusal,
  TransientError,
  within,
} from '@telecare/platform';

/** How often a Redis that stopped answering on a live connection is asked again (a PING). */
export const REDIS_PROBE_EVERY_MS = 1_000;
/**
 * A guarded command outstanding this long with no other answered meanwhile has Redis asked
 * whether it answers at all (a PING): a stopped Redis is found within this and `REDIS_PING_WAIT_MS`,
 * not after the client's command timeout (5 s).
 */
export const REDIS_QUIET_MS = 300;
/** How long that PING may go unanswered before Redis counts as away. */
export const REDIS_PING_WAIT_MS = 500;

/**
 * A command not sent, or no longer waited for, because Redis is known not to answer now, or not to
 * take it (it refuses writes: see `RedisAway`). Reported once as Redis goes and comes back, not by
 * whoever retries it (`context.reported`).
 */
export class RedisAwayError extends TransientError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, context: { dependency: 'redis', reported: true } });
  }
}

/** A wait that ends when Redis answers again (`cancel`: no longer wanted). */
export interface AnswersAgain {
  readonly ready: Promise<void>;
  cancel(): void;
}

/**
 * Whether Redis is known not to answer now, so that a command is not sent only to wait seconds
 * for its failure. The client (platform `createRedis`) queues a command while it is not connected
 * and fails it only after a few reconnect attempts (2 s apart once it has tried a while): with
 * Redis down, every read and write waited 2 to 6 s to fail. Redis is **away** while the client is
 * not connected, and, on a live connection, from a command timing out or a PING left unanswered
 * `REDIS_PING_WAIT_MS` (sent when a guarded command has waited `REDIS_QUIET_MS` with no other
 * answered meanwhile) until a PING is answered (tried every `REDIS_PROBE_EVERY_MS`) or the client
 * connects again.
 *
 * A guarded command (`read`, `write`) fails at once with a `RedisAwayError` (a `TransientError`:
 * what needed it is tried again) while Redis is away, and one in progress stops being waited for as
 * Redis goes away (it may still land: a write the caller waits for must be one it can make again).
 * Idle, it costs nothing: no timer runs while no guarded command is outstanding. Commands sent on
 * the client without a guard are queued as before (an event index write that lands late is no gap).
 * One per client (`of`).
 *
 * Redis may also answer, and refuse: out of memory (maxmemory with noeviction), a read-only replica
 * (after a failover), snapshots failing (MISCONF), or loading its dataset (reads refused too). Every
 * write would be refused alike, so from the first refusal a guarded command fails with a
 * `RedisAwayError` (its refusal its cause), and then the writes (reads too while it loads) fail at
 * once, not sent, until a probe write (`SET` of `probeKey`, every `REDIS_PROBE_EVERY_MS`) is taken:
 * logged once, readably (`RedisRefusal.says`), as it begins, changes and ends. `answersAgain` waits
 * for Redis to answer and take writes. A Redis found loading as the client reconnects (a restart:
 * the client is not ready until it has loaded, platform `REDIS_LOADING`) is away, and refusing
 * for that reason (`loading`) until the client is ready.
 */
export class RedisAway {
  static readonly #byClient = new WeakMap<Redis, RedisAway>();
  readonly #redis: Redis;
  #log: Logger | undefined;
  /** Told of each change: away (and why) or answering again. */
  onChange: ((away: boolean, cause: 'disconnected' | 'unanswered') => void) | undefined;
  /** Told of each change of what Redis refuses: a refusal, another, or none (it takes writes again). */
  onRefusing: ((refusal: RedisRefusal | undefined) => void) | undefined;
  /** What Redis refuses now (the last refusal), until a probe write is taken. */
  #refusing: RedisRefusal | undefined;
  #probingWrites = false;
  /** The refusal is the client's finding as it connected (`REDIS_LOADING`), ended by its `ready`. */
  #loadingAtConnect = false;
  #probeKey = 'triage:writable';
  #timedOut = false;
  #probing = false;
  #wasAway = false;
  /** Guarded commands sent, and answered (or failed): the watch compares them. */
  #sent = 0;
  #answered = 0;
  /** Commands sent and answered by the last look of the watch, which runs only while some are outstanding. */
  #sentByLook = 0;
  #answeredByLook = 0;
  #watch: NodeJS.Timeout | undefined;
  /** What ends as Redis goes away (guarded waits) and as it answers again (`answersAgain`). */
  readonly #onAway = new Set<() => void>();
  readonly #onBack = new Set<() => void>();

  private constructor(redis: Redis) {
    this.#redis = redis;
    // A new connection answers: whatever timed out on the one before is not this one's doing.
    redis.on('ready', () => {
      this.#timedOut = false;
      const loaded = this.#loadingAtConnect;
      this.#loadingAtConnect = false;
      this.#changed();
      // The client is ready once Redis has loaded: the loading it found as it connected is over.
      if (loaded && this.#refusing?.reason === 'loading') this.#takesWritesAgain();
    });
    // Reconnected to a Redis loading its dataset (a restart): not only away, loading (see `refusing`).
    redis.on(REDIS_LOADING, (refusal: RedisRefusal) => {
      this.#loadingAtConnect = true;
      this.#refuse(refusal);
    });
    // What was sent on a connection that closed is not waited for: the client would hold it until
    // its reconnect attempts ran out.
    redis.on('close', () => this.#changed());
  }

  /**
   * The one breaker of a client, made on first use; given a logger, it logs its changes; given a
   * key, its probe writes go there (under the service's prefix).
   */
  static of(redis: Redis, logger?: Logger, probeKey?: string): RedisAway {
    let away = RedisAway.#byClient.get(redis);
    if (!away) {
      away = new RedisAway(redis);
      RedisAway.#byClient.set(redis, away);
    }
    if (logger && !away.#log) away.#log = logger.child({ component: 'redis-away' });
    if (probeKey) away.#probeKey = probeKey;
    return away;
  }

  /** What Redis refuses now, or undefined while it takes writes (or is away: see `away`). */
  get refusing(): RedisRefusal | undefined {
    return this.#refusing;
  }

  /** True while a write would be sent: Redis answers and is not known to refuse writes. */
  get writable(): boolean {
    return !this.away && this.#refusing === undefined;
  }

  /** True while a command would only fail: not connected, or Redis left a command or PING unanswered and no PING answered since. */
  get away(): boolean {
    return this.#redis.status !== 'ready' || this.#timedOut;
  }

  /** Runs `read`, or throws a `RedisAwayError` at once when Redis is away or loading (see the class). */
  read<T>(what: string, read: () => Promise<T>): Promise<T> {
    return this.#guarded(what, read, this.#refusing?.reads === true);
  }

  /**
   * Runs `write`, or throws a `RedisAwayError` at once when Redis is away or refuses writes; one in
   * progress as Redis goes away is no longer waited for (it may land all the same), so it must be one
   * the caller can make again (a state's save, the timers' index: the event is tried again).
   */
  write<T>(what: string, write: () => Promise<T>): Promise<T> {
    return this.#guarded(what, write, this.#refusing !== undefined);
  }

  /** Throws a `RedisAwayError` when a write would fail: before work that is useless without it. */
  check(what: string): void {
    if (this.away) throw this.#refused(what, 'not sent');
    if (this.#refusing) throw this.#notSent(what, this.#refusing);
  }

  /**
   * `err`, a command's failure, as the caller throws it: a `RedisAwayError` when it is a refusal
   * (which from now on fails what it refuses at once), `err` itself otherwise. For the answers a
   * guarded command reads on its own (a pipeline's, each command's).
   */
  failure(what: string, err: Error): Error {
    const refusal = redisRefusal(err);
    if (!refusal) return err;
    this.#refuse(refusal);
    return new RedisAwayError(`Redis refused ${what}: ${refusal.reply}`, { cause: err });
  }

  /** Resolves when Redis answers again after being away, or takes writes after refusing them (a wait still in progress: not before). */
  answersAgain(): AnswersAgain {
    let back: () => void = () => {};
    const ready = new Promise<void>((resolve) => {
      back = resolve;
    });
    this.#onBack.add(back);
    return { ready, cancel: () => this.#onBack.delete(back) };
  }

  #guarded<T>(what: string, command: () => Promise<T>, refused: boolean): Promise<T> {
    if (this.away) return Promise.reject(this.#refused(what, 'not sent'));
    if (refused && this.#refusing) return Promise.reject(this.#notSent(what, this.#refusing));
    this.#sent++;
    this.#watch ??= this.#arm();
    return new Promise<T>((resolve, reject) => {
      const gone = (): void => reject(this.#refused(what, 'not waited for'));
      this.#onAway.add(gone);
      const settled = (): void => {
        this.#answered++;
        this.#onAway.delete(gone);
      };
      command().then(
        (value) => {
          settled();
          resolve(value);
        },
        (err: unknown) => {
          settled();
          if (timedOut(err)) this.#timeout();
          reject(err instanceof Error ? this.failure(what, err) : err);
        },
      );
    });
  }

  #refused(what: string, how: string): RedisAwayError {
    this.#changed();
    return new RedisAwayError(`Redis away: ${what} ${how}`);
  }

  #notSent(what: string, refusal: RedisRefusal): RedisAwayError {
    return new RedisAwayError(
      `Redis refuses ${refusal.reads ? 'commands' : 'writes'} (${refusal.reason}): ${what} not sent`,
    );
  }

  /** Redis refused a command as it refuses every write (or, loading, every command): said once per reason. */
  #refuse(refusal: RedisRefusal): void {
    const before = this.#refusing;
    this.#refusing = refusal;
    if (before?.reason !== refusal.reason) {
      this.#log?.error(
        { reason: refusal.reason, reply: refusal.reply },
        `${refusal.says}. Alarms and checks come due still alert; other events wait until it takes writes again`,
      );
      this.onRefusing?.(refusal);
    }
    this.#probeWrites();
  }

  /**
   * While Redis refuses, a write of the probe key every `REDIS_PROBE_EVERY_MS` (one that an out of
   * memory Redis refuses too, as it would a state's save; while loading, a read first): taken, Redis
   * takes writes again. While
   * Redis is away the probe waits: its return is found by the away watch.
   */
  #probeWrites(): void {
    if (this.#probingWrites) return;
    this.#probingWrites = true;
    const timer = setTimeout(async () => {
      this.#probingWrites = false;
      if (this.#refusing === undefined || this.#redis.status === 'end') return;
      if (this.away) return this.#probeWrites();
      try {
        // Loading, a replica refuses writes first (READONLY) and reads only after: a read says whether
        // it still loads, so that the reason does not go back and forth between the two.
        if (this.#refusing.reads) await this.#redis.exists(this.#probeKey);
        await this.#redis.set(this.#probeKey, '1', 'PX', 60_000);
      } catch (err) {
        const refusal = redisRefusal(err);
        if (refusal) this.#refuse(refusal);
        else this.#probeWrites();
        return;
      }
      this.#takesWritesAgain();
    }, REDIS_PROBE_EVERY_MS);
    timer.unref();
  }

  #takesWritesAgain(): void {
    if (this.#refusing === undefined) return;
    this.#refusing = undefined;
    this.#log?.info('redis takes writes again');
    this.onRefusing?.(undefined);
    if (!this.away) this.#ended(this.#onBack);
  }

  #ended(waiting: Set<() => void>): void {
    const ended = [...waiting];
    waiting.clear();
    for (const end of ended) end();
  }

  /**
   * The watch: armed while guarded commands are outstanding. A look that finds one sent before the
   * last look still outstanding and none answered since asks Redis for a PING; unanswered within
   * `REDIS_PING_WAIT_MS`, Redis is away.
   */
  #arm(): NodeJS.Timeout {
    this.#sentByLook = this.#sent;
    this.#answeredByLook = this.#answered;
    const timer = setTimeout(() => void this.#look(), REDIS_QUIET_MS);
    timer.unref();
    return timer;
  }

  async #look(): Promise<void> {
    // The loop runs its timers before it reads its sockets: after a stretch that held it, answers
    // may be waiting unread. They are read first, so no PING is asked of a Redis that answered.
    await new Promise((resolve) => setImmediate(resolve));
    // Answers are coming, or everything sent by the last look is answered: nothing to ask.
    const quiet = this.#answered === this.#answeredByLook && this.#answered < this.#sentByLook && !this.away;
    const answeredBefore = this.#answered;
    if (quiet) {
      let pong = false;
      const ping = this.#redis.ping().then(() => {
        pong = true;
      });
      await within(ping, REDIS_PING_WAIT_MS).catch(() => undefined);
      // The wait is a timer, and the loop runs its timers before it reads its sockets: after a
      // stretch that held the loop past the wait (a long batch, a collection, a busy machine), the
      // answers may be there unread. The verdict waits for the loop to read them.
      if (!pong) await new Promise((resolve) => setImmediate(resolve));
      ping.catch(() => undefined);
      // A command answered meanwhile says as much as the PING would have.
      if (!pong && this.#answered === answeredBefore) this.#timeout();
    }
    this.#watch = this.#answered < this.#sent && !this.away ? this.#arm() : undefined;
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

  /** Ends the waits of a change (guarded commands as Redis goes, `answersAgain` as it comes back) and logs it once. */
  #changed(): void {
    const away = this.away;
    if (away === this.#wasAway) return;
    this.#wasAway = away;
    // Back, but refusing writes: what waits for it waits on, until a probe write is taken.
    if (away || this.#refusing === undefined) this.#ended(away ? this.#onAway : this.#onBack);
    const cause = this.#timedOut ? 'unanswered' : 'disconnected';
    // Closed by its owner (`quit`, `disconnect`: the service stopping): no outage to warn of. The
    // client never gives up reconnecting by itself, so an ended client is one that was closed.
    if (away && this.#redis.status === 'end') this.#log?.info('redis connection closed');
    else if (away) this.#log?.warn({ cause }, 'redis away: its commands fail at once until it answers again');
    else this.#log?.info('redis answers again');
    this.onChange?.(away, cause);
  }
}

const timedOut = (err: unknown): boolean =>
  err instanceof Error && (err.message === 'Command timed out' || timedOut(err.cause));

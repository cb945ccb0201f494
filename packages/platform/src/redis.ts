import { type ChainableCommander, type Command, Redis, type RedisOptions } from 'ioredis';
import type { RedisSentinel } from './config.ts';
import { TransientError } from './errors.ts';
import type { Logger } from './logger.ts';
import { isLoopback, plaintextHosts, type TlsCa, warnPlaintext } from './tls.ts';
import { TimeoutError, within } from './work.ts';

export type { ChainableCommander, Redis };

/**
 * How long a Redis command (a pipeline's too) may wait for its answer before it fails with a
 * retryable error. Without it a command sent to a Redis that accepted the connection but never
 * answers (stopped, or behind a link that silently lost the bytes) waited for ever.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 5_000;
/** How long the first connection may take, the ready check included. */
export const REDIS_CONNECT_TIMEOUT_MS = 10_000;
/**
 * Without Sentinel, how long after reconnecting on a `READONLY` answer the client waits before it
 * does so again: the name in REDIS_URL may have moved to the new primary since, or may still name a
 * replica, which is then reported (`redisRefusal`) rather than reconnected to on every write.
 */
export const REDIS_READONLY_RECONNECT_MS = 5_000;
/**
 * Without Sentinel, how often a name in REDIS_URL that keeps leading to a replica is said again
 * (a warning): once when it is found, then a reminder this often while it lasts.
 */
export const REDIS_READONLY_REMIND_MS = 5 * 60_000;

/**
 * Redis holds only rebuildable state. A command issued while disconnected is queued and fails once
 * the client has failed to reconnect a few times (`maxRetriesPerRequest`: 2 to 6 s with the capped
 * backoff), so a handler can nak and retry and a write sent as Redis comes back still lands; a
 * caller that must not wait that long for a command known to fail keeps a breaker of its own
 * (triage's `RedisAway`, which also finds a Redis that stopped answering within about a second).
 * Connected to a Redis that does not answer, a command fails within REDIS_COMMAND_TIMEOUT_MS (see
 * `patientTimeout`: an answer read late because the process's own event loop was held is not a
 * timeout). The client reconnects with capped backoff. The first connection fails (a `TransientError`, for
 * the supervisor to start the service again) when Redis has not answered within
 * REDIS_CONNECT_TIMEOUT_MS.
 *
 * With `sentinel`, the client asks the Sentinels for the primary of the master name and connects
 * to it (REDIS_URL gives only the user, password, database and TLS), checks that it is a primary,
 * and asks again whenever it reconnects: after a failover it follows the new primary. A write that
 * a demoted primary answers `READONLY` makes it reconnect and send the write again there; without
 * Sentinel it does so too (the name in REDIS_URL may have moved). When the connection that makes
 * answers `READONLY` too, the name still leads to a replica: that is said once (a warning, again
 * every REDIS_READONLY_REMIND_MS while it lasts) and the client stays connected, its writes refused
 * (reported by whoever sends them: `redisRefusal`), rather than reconnected to every few seconds,
 * each time away and back in the logs. Every REDIS_READONLY_RECONNECT_MS it asks its server's role,
 * and on a connection of its own where the name leads: its server promoted, or the name leading to
 * a primary (which the client then reconnects to), is said once and ends it.
 *
 * A `rediss:` URL is TLS to Redis and, with `sentinel`, to the Sentinels too (which say where the
 * data goes, and hear their password), each verified against `tls` (TELECARE_TLS_CA; unset, the
 * public CAs) with its name checked: the one in the URL, or the address the Sentinels give.
 *
 * A Redis loading its dataset as the client connects (after a restart) keeps the client from
 * being ready until it has loaded: `redisLoading` says so meanwhile, and the client emits
 * `REDIS_LOADING` (with the `RedisRefusal`) as it finds it.
 */
export async function createRedis(options: {
  url: string;
  sentinel?: RedisSentinel | undefined;
  logger: Logger;
  name: string;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  tls?: TlsCa | undefined;
}): Promise<Redis> {
  const log = options.logger.child({ component: 'redis' });
  const tls = tlsOptions(options.url, options.tls);
  // With Sentinel the Sentinels are reached first, and say where the data goes: TLS to both or neither.
  warnPlaintext(
    log,
    options.sentinel ? 'REDIS_SENTINELS' : 'REDIS_URL',
    tls
      ? []
      : options.sentinel
        ? options.sentinel.sentinels
            .filter(({ host }) => !isLoopback(host))
            .map(({ host, port }) => `${host}:${port}`)
        : plaintextHosts([options.url], () => false),
    'rediss:// (Redis and its Sentinels), verified against TELECARE_TLS_CA',
  );
  /** The last error of the connection: a failed start says it, not ioredis's "Connection is closed". */
  let lastError: Error | undefined;
  const followed = { at: Number.NEGATIVE_INFINITY };
  /** Connections made (ready), and the one a `READONLY` answer made the client leave, if any. */
  const connections = { made: 0, leftOnReadonly: undefined as number | undefined };
  let onReplica: ReplicaWatch | undefined;
  const common: RedisOptions = {
    ...(tls ? { tls } : {}),
    connectionName: options.name,
    lazyConnect: true,
    connectTimeout: 5_000,
    // No `commandTimeout` of the client's own: `patientTimeout` below.
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    // Commands issued in the same event-loop turn go out in one write (in order, each with its
    // own reply): a service with many messages in hand sends one socket write, not one each.
    enableAutoPipelining: true,
    // 2: reconnect, and send the command again on the new connection.
    reconnectOnError: (err) => {
      if (!err.message.startsWith('READONLY')) return false;
      const now = performance.now();
      if (!options.sentinel) {
        if (onReplica) return false;
        // The connection made on leaving a replica leads to one too: the name has not moved.
        if (connections.leftOnReadonly !== undefined && connections.made > connections.leftOnReadonly) {
          onReplica = watchReplica(redis, options, log, () => {
            onReplica = undefined;
            connections.leftOnReadonly = undefined;
          });
          return false;
        }
        if (now - followed.at < REDIS_READONLY_RECONNECT_MS) return false;
        connections.leftOnReadonly = connections.made;
      }
      followed.at = now;
      log.warn({ reply: err.message }, 'redis answered READONLY: reconnecting to find the primary');
      return 2;
    },
  };
  const sentinel = options.sentinel;
  const redis = sentinel
    ? new Redis(options.url, {
        ...common,
        sentinels: sentinel.sentinels.map(({ host, port }) => ({ host, port })),
        name: sentinel.master,
        ...(sentinel.password === undefined ? {} : { sentinelPassword: sentinel.password }),
        // A Sentinel that does not answer is passed over for the next.
        sentinelCommandTimeout: 1_000,
        // No subscription to the Sentinels' failover news (`failoverDetector`): its connections have
        // no error listener, and a Sentinel down would print a stack for each retry. A primary that
        // dies closes the connection, and one demoted alive has its clients closed by the Sentinels
        // (or answers READONLY): either way the client reconnects and asks the Sentinels again.
        ...(tls ? { sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
      })
    : new Redis(options.url, common);
  const timeoutMs = options.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS;
  // Every command goes through here: a pipeline's, a script's, one sent again from the offline queue.
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    patientTimeout(command, timeoutMs);
    if (command.name === 'info' && redis.status !== 'ready') watchLoading(redis, command);
    return send(command, stream);
  };
  redis.on('error', (err) => {
    lastError = err;
    log.warn({ err: err.message }, 'redis error');
  });
  redis.on('reconnecting', () => log.warn('redis reconnecting'));
  redis.on('close', () => LOADING.delete(redis));
  redis.on('ready', () => {
    LOADING.delete(redis);
    connections.made++;
    // Left for a primary and found one: a later READONLY is a failover of its own, followed at once.
    if (connections.leftOnReadonly !== undefined && !onReplica)
      void redis.role().then(
        ([role]) => {
          if (role === 'master' && !onReplica) connections.leftOnReadonly = undefined;
        },
        () => undefined,
      );
  });
  redis.on('end', () => onReplica?.stop());
  const ms = options.connectTimeoutMs ?? REDIS_CONNECT_TIMEOUT_MS;
  try {
    await within(redis.connect(), ms);
  } catch (err) {
    // No client left reconnecting behind a start that failed.
    redis.disconnect();
    const where = sentinel ? ` (the primary of ${sentinel.master}, from the Sentinels)` : '';
    throw new TransientError(
      err instanceof TimeoutError
        ? `Redis${where} did not answer within ${ms} ms`
        : `could not connect to Redis${where}: ${(lastError ?? (err as Error)).message}`,
      { cause: err, context: { dependency: 'redis' } },
    );
  }
  log.info(sentinel ? { master: sentinel.master } : {}, 'connected to redis');
  return redis;
}

/** ioredis's TLS options for a `rediss:` URL, none for `redis:`. */
function tlsOptions(url: string, ca: TlsCa | undefined): { ca?: string } | undefined {
  if (new URL(url).protocol !== 'rediss:') return undefined;
  return ca ? { ca: ca.pem } : {};
}

/** A client kept on the replica its name leads to, watched for the name leading to a primary again. */
interface ReplicaWatch {
  stop(): void;
}

/**
 * Says once that the name in the URL leads to a replica, then every REDIS_READONLY_RECONNECT_MS
 * asks the client's server its role and, still a replica, where the name leads now (a connection
 * of its own, closed at once): a primary there is reconnected to. Either way it is said once, and
 * `ended` called; a reminder every REDIS_READONLY_REMIND_MS meanwhile.
 */
function watchReplica(
  redis: Redis,
  target: { url: string; name: string; tls?: TlsCa | undefined },
  log: Logger,
  ended: () => void,
): ReplicaWatch {
  const where = redisAddress(target.url);
  const since = performance.now();
  let saidAt = since;
  const said = (still: string) =>
    `the name in REDIS_URL (${where}) ${still}leads to a replica: writes are refused until it leads to a primary (asked every ${REDIS_READONLY_RECONNECT_MS / 1000} s)`;
  log.warn({ where }, said(''));
  let stopped = false;
  let asking = false;
  const stop = (): void => {
    stopped = true;
    clearInterval(timer);
  };
  const end = (message: string): void => {
    stop();
    ended();
    log.info({ where, forS: Math.round((performance.now() - since) / 1000) }, message);
  };
  const timer = setInterval(async () => {
    if (stopped || asking || redis.status !== 'ready') return;
    asking = true;
    try {
      const [role] = await redis.role();
      if (stopped) return;
      if (role === 'master')
        return end(`the name in REDIS_URL (${where}) leads to a primary again: its server was promoted`);
      if ((await roleWhereNameLeads(target)) === 'master' && !stopped) {
        end(`the name in REDIS_URL (${where}) leads to a primary again: reconnecting to it`);
        redis.disconnect(true);
        return;
      }
      if (performance.now() - saidAt >= REDIS_READONLY_REMIND_MS) {
        saidAt = performance.now();
        log.warn({ where, forS: Math.round((saidAt - since) / 1000) }, said('still '));
      }
    } catch {
      // Not answered now: asked again at the next turn.
    } finally {
      asking = false;
    }
  }, REDIS_READONLY_RECONNECT_MS);
  timer.unref();
  return { stop };
}

/** The role of the server the URL's name leads to now, asked on a connection of its own. */
async function roleWhereNameLeads(target: {
  url: string;
  name: string;
  tls?: TlsCa | undefined;
}): Promise<string | undefined> {
  const tls = tlsOptions(target.url, target.tls);
  const probe = new Redis(target.url, {
    ...(tls ? { tls } : {}),
    connectionName: `${target.name}-role`,
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await within(probe.connect(), 3_000);
    const [role] = await within(probe.role(), 2_000);
    return String(role);
  } catch {
    return undefined;
  } finally {
    probe.disconnect();
  }
}

/** host:port of a Redis URL, with no user or password. */
const redisAddress = (url: string): string => {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '6379'}`;
};

/** The event a client of `createRedis` emits as it finds Redis loading its dataset (see `redisLoading`). */
export const REDIS_LOADING = 'telecare:loading';

/** Clients connected to a Redis still loading its dataset, and what it said. */
const LOADING = new WeakMap<Redis, RedisRefusal>();

/**
 * What a Redis loading its dataset says, while the client waits for it to load before it is
 * ready (it asks `INFO` until `loading:0`), or undefined when it is not loading (or not known to be).
 */
export function redisLoading(redis: Redis): RedisRefusal | undefined {
  return LOADING.get(redis);
}

/** The client's ready check (`INFO`), read for `loading:1`. */
function watchLoading(redis: Redis, command: Command): void {
  command.promise.then(
    (reply: unknown) => {
      const info = typeof reply === 'string' ? reply : String(reply);
      const loading = /^loading:1\s*$/m.test(info);
      if (!loading || redis.status === 'ready') return;
      const eta = /^loading_eta_seconds:(\d+)/m.exec(info)?.[1];
      const known = REFUSALS.find((refusal) => refusal.reason === 'loading');
      if (!known) return;
      const refusal: RedisRefusal = {
        reason: known.reason,
        reads: known.reads,
        says: known.says,
        reply: `LOADING Redis is loading the dataset in memory${eta === undefined ? '' : ` (about ${eta} s left)`}`,
      };
      const first = !LOADING.has(redis);
      LOADING.set(redis, refusal);
      if (first) redis.emit(REDIS_LOADING, refusal);
    },
    () => undefined,
  );
}

/** Marks a command whose timeout is armed (one sent again from the offline queue keeps its first). */
const TIMED = Symbol('command timeout armed');

/**
 * Fails `command` as timed out (`Command timed out`, as the client's own `commandTimeout` does) when
 * it is not answered within `ms` of its first send. The client's own timeout fails it as soon as
 * its timer runs, and the event loop runs its timers before it reads its sockets: after a stretch
 * that held the loop past the timeout (a long batch, a collection, a busy machine) a command whose
 * answer was waiting unread failed all the same (a save that landed counted as failed, and Redis as
 * not answering). Here the verdict waits for the loop to read what is waiting (`setImmediate`: after
 * the socket reads of the same turn).
 */
function patientTimeout(command: Command, ms: number): void {
  const marked = command as Command & { [TIMED]?: true };
  if (marked[TIMED]) return;
  marked[TIMED] = true;
  const timer = setTimeout(
    () =>
      setImmediate(() => {
        if (!command.isSettled) command.reject(new Error('Command timed out'));
      }),
    ms,
  );
  const done = (): void => clearTimeout(timer);
  command.promise.then(done, done);
}

/** Why a Redis that answers refuses commands (see `redisRefusal`). */
export type RedisRefusalReason = 'oom' | 'loading' | 'readonly' | 'misconf';

/** A Redis that answers, with an error that says it takes no writes (or, loading, nothing) for now. */
export interface RedisRefusal {
  readonly reason: RedisRefusalReason;
  /** Whether reads are refused too (`loading`), not only writes. */
  readonly reads: boolean;
  /** What an operator reads: what is wrong and what to do. */
  readonly says: string;
  /** Redis's own answer. */
  readonly reply: string;
}

const REFUSALS: ReadonlyArray<{ code: string; reason: RedisRefusalReason; reads: boolean; says: string }> = [
  {
    code: 'OOM',
    reason: 'oom',
    reads: false,
    says: 'Redis is out of memory (maxmemory): it refuses writes; raise maxmemory or free memory',
  },
  {
    code: 'LOADING',
    reason: 'loading',
    reads: true,
    says: 'Redis is loading its dataset into memory: it answers nothing until it has',
  },
  {
    code: 'READONLY',
    reason: 'readonly',
    reads: false,
    says: 'Redis is a read-only replica (a failover demoted it?): it refuses writes; point REDIS_URL at the primary, or run Redis under Sentinel (REDIS_SENTINELS)',
  },
  {
    code: 'MISCONF',
    reason: 'misconf',
    reads: false,
    says: 'Redis cannot save its snapshots (MISCONF): it refuses writes until one succeeds; see its log and disk',
  },
];

/**
 * What a Redis error answer says of the server, when it refuses for a while whatever it is sent
 * (out of memory, loading, a replica, failing snapshots), or undefined for any other failure. Such
 * a refusal is the same for every write until an operator or Redis itself ends it: a caller stops
 * sending writes rather than retrying each (see triage's `RedisAway`).
 */
export function redisRefusal(err: unknown): RedisRefusal | undefined {
  const reply = err instanceof Error ? err.message : '';
  const code = reply.split(' ', 1)[0];
  const known = REFUSALS.find((refusal) => refusal.code === code);
  return known && { reason: known.reason, reads: known.reads, says: known.says, reply };
}

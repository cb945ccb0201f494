import { type ChainableCommander, type Command, Redis } from 'ioredis';
import { TransientError } from './errors.ts';
import type { Logger } from './logger.ts';
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
 */
export async function createRedis(options: {
  url: string;
  logger: Logger;
  name: string;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}): Promise<Redis> {
  const log = options.logger.child({ component: 'redis' });
  const redis = new Redis(options.url, {
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
  });
  const timeoutMs = options.commandTimeoutMs ?? REDIS_COMMAND_TIMEOUT_MS;
  // Every command goes through here: a pipeline's, a script's, one sent again from the offline queue.
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (command, stream) => {
    patientTimeout(command, timeoutMs);
    return send(command, stream);
  };
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  redis.on('reconnecting', () => log.warn('redis reconnecting'));
  const ms = options.connectTimeoutMs ?? REDIS_CONNECT_TIMEOUT_MS;
  try {
    await within(redis.connect(), ms);
  } catch (err) {
    // No client left reconnecting behind a start that failed.
    redis.disconnect();
    throw new TransientError(
      err instanceof TimeoutError
        ? `Redis did not answer within ${ms} ms`
        : `could not connect to Redis: ${(err as Error).message}`,
      { cause: err, context: { dependency: 'redis' } },
    );
  }
  log.info('connected to redis');
  return redis;
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
    says: 'Redis is a read-only replica (a failover demoted it?): it refuses writes; point REDIS_URL at the primary',
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

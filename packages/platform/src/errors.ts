/**
 * Errors say whether to retry. A handler that catches one of these knows what to do next:
 * a `PoisonMessageError` is terminated and dead-lettered; a `TransientError` is retried with backoff.
 */
export abstract class TelecareError extends Error {
  abstract readonly retryable: boolean;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(message: string, options: { cause?: unknown; context?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.context = Object.freeze({ ...options.context });
  }
}

/** A message that will never succeed: refuse it, dead-letter it, move on. */
export class PoisonMessageError extends TelecareError {
  readonly retryable = false;
}

/**
 * Whether PostgreSQL refused a statement for the data it was given (SQLSTATE class 22, a data
 * exception: a date out of its range, a number too large for its column, text with NUL). The same
 * message fails the same way every time: retried, it is handed back for ever and holds a place
 * among its consumer's unacknowledged messages, so enough of them stop the consumer altogether.
 */
export function isDataException(err: unknown): boolean {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 3; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Whether `err`, or an error it was caused by, is a failure its service reports itself, once, as
 * its dependency goes and comes back (`context.reported`: triage's Redis away or refusing writes):
 * a loop that retries it logs each try at debug, not a warning with a stack per message and try.
 */
export function reportedElsewhere(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; depth++) {
    if (e instanceof TelecareError && e.context.reported === true) return true;
    e = e.cause;
  }
  return false;
}

/**
 * What PostgreSQL says, by SQLSTATE, when it answers but refuses the work for reasons of its own,
 * not the statement's: worth trying again later (a 503, an alert retried), and said once by the
 * pool rather than per statement. Those with `until` refuse every write alike until a DBA or a
 * failover changes the server (read-only, disk full); the rest refuse one connection or statement
 * (too many connections, a statement cancelled or a session ended by a timeout the DBA set).
 */
const REFUSALS: Readonly<Record<string, { what: string; until?: string }>> = {
  '25006': {
    what: 'PostgreSQL is read-only (a standby? default_transaction_read_only?)',
    until: 'writes are refused until a writable primary answers',
  },
  '53100': { what: 'PostgreSQL has no disk space left', until: 'writes are refused until space is freed' },
  '53200': { what: 'PostgreSQL is out of memory' },
  '53300': {
    what: "PostgreSQL takes no more connections (max_connections, or a role's or database's connection limit, reached)",
  },
  '57014': { what: 'PostgreSQL cancelled a statement (statement_timeout, or a DBA cancelled it)' },
  '25P03': {
    what: 'PostgreSQL ended a session idle in its transaction (idle_in_transaction_session_timeout)',
  },
};

/** What a PostgreSQL refusal (`REFUSALS`) is: its SQLSTATE, what it is, and the whole reason. */
export interface PostgresRefusal {
  readonly code: string;
  /** Short, for a person: `PostgreSQL is read-only (a standby? …)`. */
  readonly what: string;
  /** For the log and `/readyz`: what it is and until when. */
  readonly reason: string;
  /** Every write is refused alike until the server changes (read-only, disk full), not one statement. */
  readonly allWrites: boolean;
}

/** A PostgreSQL refusal (`REFUSALS`) in an error or its causes. */
export function postgresRefusal(err: unknown): PostgresRefusal | undefined {
  for (let e = err, depth = 0; typeof e === 'object' && e !== null && depth < 3; depth++) {
    const code = (e as { code?: unknown }).code;
    const refusal = typeof code === 'string' ? REFUSALS[code] : undefined;
    if (refusal)
      return {
        code: code as string,
        what: refusal.what,
        reason: [refusal.what, refusal.until].filter(Boolean).join(': '),
        allWrites: refusal.until !== undefined,
      };
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A dependency was briefly unavailable: retry later. */
export class TransientError extends TelecareError {
  readonly retryable = true;
}

/** The environment is not valid; the process cannot start. */
export class ConfigError extends TelecareError {
  readonly retryable = false;
  readonly problems: readonly string[];

  constructor(service: string, problems: readonly string[]) {
    super(`${service}: invalid configuration\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
      context: { service },
    });
    this.problems = problems;
  }
}

/**
 * JetStream cannot keep the copies asked for (TELECARE_STREAM_REPLICAS above the servers in the
 * cluster, or above 1 on a single server): the service cannot start until the setting is fixed.
 */
export class StreamReplicasError extends TelecareError {
  readonly retryable = false;

  constructor(what: string, replicas: number, answer: string, options: { cause?: unknown } = {}) {
    super(
      `cannot create ${what} with ${replicas} replicas: the NATS server answered "${answer}". ` +
        'TELECARE_STREAM_REPLICAS must not exceed the JetStream servers in the cluster (1 for a single server, 3 for infra/nats/)',
      { cause: options.cause, context: { what, replicas } },
    );
  }
}

/** A size as an operator writes it in NATS's configuration (binary units). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)}${units[unit]}`;
}

/**
 * JetStream cannot reserve a stream's byte bound: its store has not that much left unreserved
 * (`max_file_store`, or the account's limit, less the bounds of the streams already on it). The
 * service cannot start until TELECARE_JETSTREAM_MAX_BYTES fits the store.
 */
export class StreamStorageError extends TelecareError {
  readonly retryable = false;

  constructor(
    stream: string,
    bytes: number,
    store: { readonly bytes: number; readonly source: string },
    answer: string,
    options: { cause?: unknown } = {},
  ) {
    super(
      `cannot bound stream ${stream} at ${formatBytes(bytes)}: the NATS server answered "${answer}". ` +
        `The streams share a JetStream store of ${formatBytes(store.bytes)} (${store.source}), which the server cannot reserve. ` +
        'Set TELECARE_JETSTREAM_MAX_BYTES to the JetStream store of the servers (max_file_store, less what other streams on them reserve), the same for every service',
      { cause: options.cause, context: { stream, bytes, store: store.bytes, source: store.source } },
    );
  }
}

/**
 * A KV bucket's stream does not exist (JetStream lost it, or it was deleted by hand): until it is
 * made again (`keepBuckets`, within seconds) nothing can be read from it or written to it. Retry.
 */
export class BucketMissingError extends TransientError {
  constructor(bucket: string, operation: string, options: { cause?: unknown } = {}) {
    super(`KV bucket ${bucket} does not exist (its stream is missing): ${operation} failed; retry`, {
      cause: options.cause,
      context: { bucket, operation, dependency: 'nats' },
    });
  }
}

/**
 * A KV bucket is at its byte bound (its share of TELECARE_JETSTREAM_MAX_BYTES) and refused a put
 * (discard new). It stays so until entries expire or are deleted, or the store is grown, so a retry
 * soon is no use: each writer says what it does instead (its README, "When a bucket is full").
 */
export class BucketFullError extends TelecareError {
  readonly retryable = false;

  constructor(bucket: string, operation: string, options: { cause?: unknown } = {}) {
    super(
      `KV bucket ${bucket} is full (at its share of the JetStream store): ${operation} refused. Grow TELECARE_JETSTREAM_MAX_BYTES with the servers' max_file_store, or find what fills it`,
      { cause: options.cause, context: { bucket, operation, dependency: 'nats' } },
    );
  }
}

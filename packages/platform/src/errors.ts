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

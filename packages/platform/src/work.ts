/**
 * The small pieces of the shell every consumer and client needs: how long JetStream waits for an
 * ack, keeping a long handler's message from being redelivered, sleeping until stopped, timeouts
 * and one backoff policy.
 */
import { TelecareError } from './errors.ts';

/**
 * How long JetStream waits for an ack before it redelivers. Short, so that what a killed process
 * held is picked up in seconds; a handler that takes longer says it is still working
 * (`keepWorking`), so a slow commit is not redelivered while it runs.
 */
export const ACK_WAIT_S = 5;
export const SECOND_NS = 1_000_000_000;

/** The part of a JetStream message that tells the server the handler is still at it. */
export interface InProgress {
  working(): void;
}

/**
 * Runs `work` while telling JetStream every third of the ack wait that the message is still in
 * hand (`+WPI`), so the ack wait measures a dead worker, not a slow one.
 */
export async function keepWorking<T>(msg: InProgress, ackWaitMs: number, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(
    () => {
      try {
        msg.working();
      } catch {
        // Not connected: the ack wait runs out and the message is redelivered, as for a crash.
      }
    },
    Math.max(50, Math.floor(ackWaitMs / 3)),
  );
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** Waits `ms`, or less if `signal` aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * A wait that another part of the loop can end early (to stop, or to go round again at once):
 * `wait(ms)` sleeps, `wake()` ends the wait in progress, if any.
 */
export class Pause {
  #abort: AbortController | undefined;

  async wait(ms: number): Promise<void> {
    const abort = new AbortController();
    this.#abort = abort;
    try {
      await sleep(ms, abort.signal);
    } finally {
      if (this.#abort === abort) this.#abort = undefined;
    }
  }

  wake(): void {
    this.#abort?.abort();
  }
}

/** A dependency did not answer in time. */
export class TimeoutError extends TelecareError {
  readonly retryable = true;
}

/** `promise`'s value, or a `TimeoutError` if it has not settled within `ms` (it is not cancelled). */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`no answer in ${ms} ms`, { context: { ms } })), ms);
    // A pending timeout must not keep a finished process alive.
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `promise`'s value, or `undefined` if it has not settled within `ms` (it is not cancelled). */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface BackoffPolicy {
  /** The first delay. */
  readonly initialMs: number;
  /** No delay is longer than this. */
  readonly maxMs: number;
  /** Each delay is this many times the one before (2 unless said). */
  readonly factor?: number;
  /**
   * The share of each delay drawn at random (0 unless said): 0.5 waits between half and all of it,
   * so many clients failing at once do not all come back at the same moment.
   */
  readonly jitter?: number;
}

/** The delay before try `attempt` (1 is the first retry): exponential from `initialMs`, capped. */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random = Math.random): number {
  const factor = policy.factor ?? 2;
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const full = Math.min(policy.maxMs, policy.initialMs * factor ** exponent);
  return Math.round(full * (1 - (policy.jitter ?? 0) * random()));
}

/**
 * How a gateway tries again to store what a device or panel sent, while the device waits for its
 * answer: soon, since the sender is waiting, and never longer than the sender's own resend.
 */
export const STORE_RETRY: BackoffPolicy = { initialMs: 100, maxMs: 2_000, jitter: 0.5 };

/** How a message that failed for the moment is handed back: one policy for every consumer. */
export const REDELIVERY: BackoffPolicy = { initialMs: 1_000, maxMs: 30_000 };

import type { DeviceAck } from '@telecare/contracts';

/**
 * How a device resends an event the platform has not acked: as a real pendant or hub does, for as
 * long as it takes, first soon, then less often up to a cap (so a platform coming back from an
 * outage is not met by every home at once at a fixed rhythm).
 */
export interface ResendPolicy {
  /** The wait before the first resend. */
  readonly firstMs: number;
  /** No wait between resends is longer than this. */
  readonly maxMs: number;
  /** Give up after this many sends (tests of refused devices); unbounded unless set. */
  readonly maxAttempts: number;
}

/** A real device's cap: a minute between resends at the most. */
export const RESEND_MAX_MS = 60_000;

export function resendPolicy(options: {
  resendMs?: number | undefined;
  resendMaxMs?: number | undefined;
  maxAttempts?: number | undefined;
  defaultResendMs: number;
}): ResendPolicy {
  const firstMs = options.resendMs ?? options.defaultResendMs;
  return {
    firstMs,
    maxMs: Math.max(firstMs, options.resendMaxMs ?? RESEND_MAX_MS),
    maxAttempts: options.maxAttempts ?? Number.POSITIVE_INFINITY,
  };
}

/** The wait after send number `attempts` (1 is the first send): doubling, capped. */
export const resendDelay = (policy: ResendPolicy, attempts: number): number =>
  Math.min(policy.maxMs, policy.firstMs * 2 ** Math.min(Math.max(0, attempts - 1), 30));

/** The platform refused an event; a real device would log this and not resend. */
export class EventRejectedError extends Error {
  constructor(
    readonly eventId: string,
    readonly reason: string,
  ) {
    super(`event ${eventId} rejected: ${reason}`);
    this.name = 'EventRejectedError';
  }
}

/** No ack arrived: the device was closed first, or it gave up after `maxAttempts` sends. */
export class AckTimeoutError extends Error {
  constructor(
    readonly eventId: string,
    readonly attempts: number,
  ) {
    super(`event ${eventId} not acknowledged after ${attempts} attempts`);
    this.name = 'AckTimeoutError';
  }
}

export interface SentEvent {
  readonly id: string;
  readonly attempts: number;
  /** Milliseconds from first send to the `stored` ack. */
  readonly latencyMs: number;
}

interface Pending {
  readonly id: string;
  attempts: number;
  readonly firstSentAt: number;
  timer: NodeJS.Timeout | undefined;
  resolve(sent: SentEvent): void;
  reject(err: Error): void;
}

/**
 * The events a device (or a pool of them) has sent and the platform not yet acked, each resent
 * under `policy` until its ack comes (`settle`) or the sender closes (`closeAll`). Keyed by
 * whatever names an event uniquely for the sender (its id, or serial and id).
 */
export class Resender {
  readonly #pending = new Map<string, Pending>();

  constructor(private readonly policy: ResendPolicy) {}

  get size(): number {
    return this.#pending.size;
  }

  has(key: string): boolean {
    return this.#pending.has(key);
  }

  /** Sends with `publish` now and again after each wait; resolves on the `stored` ack. */
  send(key: string, id: string, publish: () => void): Promise<SentEvent> {
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        id,
        attempts: 0,
        firstSentAt: performance.now(),
        timer: undefined,
        resolve,
        reject,
      };
      this.#pending.set(key, pending);
      const attempt = () => {
        if (pending.attempts >= this.policy.maxAttempts) {
          this.#pending.delete(key);
          reject(new AckTimeoutError(id, pending.attempts));
          return;
        }
        pending.attempts++;
        publish();
        pending.timer = setTimeout(attempt, resendDelay(this.policy, pending.attempts));
      };
      attempt();
    });
  }

  /** The ack of the event under `key`: resolves it (stored) or rejects it (rejected). */
  settle(key: string, ack: DeviceAck): void {
    const pending = this.#pending.get(key);
    if (!pending) return;
    clearTimeout(pending.timer);
    this.#pending.delete(key);
    if ('stored' in ack) {
      pending.resolve({
        id: pending.id,
        attempts: pending.attempts,
        latencyMs: performance.now() - pending.firstSentAt,
      });
    } else {
      pending.reject(new EventRejectedError(pending.id, ack.rejected));
    }
  }

  /** Stops every resend: each waiting event is rejected unacknowledged. */
  closeAll(): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new AckTimeoutError(pending.id, pending.attempts));
    }
    this.#pending.clear();
  }
}

/** An ack message's id and body, or undefined for anything that is not one. */
export function readAck(raw: Buffer): { id: string; ack: DeviceAck } | undefined {
  let ack: DeviceAck;
  try {
    ack = JSON.parse(raw.toString()) as DeviceAck;
  } catch {
    return undefined;
  }
  const id = typeof ack === 'object' && ack !== null && 'id' in ack ? ack.id : undefined;
  return id ? { id, ack } : undefined;
}

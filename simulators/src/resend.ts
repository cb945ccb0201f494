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

/** What a rate limiter decided for one attempt. */
export type RateDecision =
  | { readonly allowed: true; readonly remaining: number }
  | {
      readonly allowed: false;
      /** Seconds until the oldest counted attempt leaves the window. */
      readonly retryAfterS: number;
      /** True for the first refusal of a burst, so a caller raises one alarm per burst, not per request. */
      readonly firstRefusal: boolean;
    };

/**
 * At most `max` attempts per key in any `windowMs` (a sliding window of attempt times), kept in
 * memory: each process limits on its own, so N instances admit up to N × max. Keys that have gone
 * quiet are dropped, so the map stays as small as the set of recent callers.
 */
export class SlidingWindowLimiter {
  readonly #hits = new Map<string, { times: number[]; refusing: boolean }>();

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be a whole number of at least 1');
    if (!(windowMs > 0)) throw new RangeError('windowMs must be positive');
  }

  /** Counts an attempt by `key` when it is allowed; a refused attempt is not counted. */
  attempt(key: string): RateDecision {
    const now = this.now();
    this.#sweep(now);
    const entry = this.#hits.get(key) ?? { times: [], refusing: false };
    entry.times = entry.times.filter((t) => t > now - this.windowMs);
    if (entry.times.length >= this.max) {
      const oldest = entry.times[0] ?? now;
      const firstRefusal = !entry.refusing;
      entry.refusing = true;
      this.#hits.set(key, entry);
      return {
        allowed: false,
        retryAfterS: Math.max(1, Math.ceil((oldest + this.windowMs - now) / 1000)),
        firstRefusal,
      };
    }
    entry.times.push(now);
    entry.refusing = false;
    this.#hits.set(key, entry);
    return { allowed: true, remaining: this.max - entry.times.length };
  }

  /**
   * Seconds until `key` may try again, without counting anything: for limits that count only
   * failures (sign-in), checked before the attempt and fed by `record` after a failure.
   */
  blockedFor(key: string): number | undefined {
    const now = this.now();
    const times = (this.#hits.get(key)?.times ?? []).filter((t) => t > now - this.windowMs);
    if (times.length < this.max) return undefined;
    return Math.max(1, Math.ceil(((times[0] ?? now) + this.windowMs - now) / 1000));
  }

  /** Counts one event for `key` whatever the count already is. */
  record(key: string): void {
    const now = this.now();
    this.#sweep(now);
    const entry = this.#hits.get(key) ?? { times: [], refusing: false };
    entry.times = [...entry.times.filter((t) => t > now - this.windowMs), now];
    this.#hits.set(key, entry);
  }

  /** Forgets `key` (a user who signed in correctly starts again from nothing). */
  reset(key: string): void {
    this.#hits.delete(key);
  }

  #lastSweep = 0;
  #sweep(now: number): void {
    if (now - this.#lastSweep < this.windowMs) return;
    this.#lastSweep = now;
    for (const [key, entry] of this.#hits)
      if ((entry.times.at(-1) ?? 0) <= now - this.windowMs) this.#hits.delete(key);
  }
}

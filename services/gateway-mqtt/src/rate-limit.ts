/**
 * A token bucket per device: `burst` messages at once, refilled at `ratePerS`. One device flooding
 * (10,000 heartbeats in two seconds) would otherwise fill the work queue, EVENTS and the dead-letter
 * stream, and the broker's queue for the gateway, at the expense of every other device.
 *
 * Time is the process's monotonic clock, not the injected one: the limit is about load now, and an
 * accelerated clock jumps.
 */
export class DeviceRateLimit {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  /** Devices tracked before idle (full) buckets are forgotten: topics can name any serial. */
  readonly #maxTracked: number;

  constructor(options: { ratePerS: number; burst: number; now?: () => number; maxTracked?: number }) {
    this.#ratePerMs = options.ratePerS / 1000;
    this.#burst = Math.max(1, options.burst);
    this.#now = options.now ?? (() => performance.now());
    this.#maxTracked = options.maxTracked ?? 100_000;
  }

  /** Takes one token for `key`; false when its bucket is empty. */
  take(key: string): boolean {
    if (this.#ratePerMs <= 0) return true;
    const now = this.#now();
    const bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= this.#maxTracked) this.#forgetIdle(now);
      this.#buckets.set(key, { tokens: this.#burst - 1, at: now });
      return true;
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#ratePerMs);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Whether `key` has a token now, none taken. */
  has(key: string): boolean {
    if (this.#ratePerMs <= 0) return true;
    const bucket = this.#buckets.get(key);
    if (!bucket) return true;
    return bucket.tokens + (this.#now() - bucket.at) * this.#ratePerMs >= 1;
  }

  /** Gives back a token `take` took for work that was then not done (its bucket stays within its burst). */
  giveBack(key: string): void {
    const bucket = this.#buckets.get(key);
    if (bucket) bucket.tokens = Math.min(this.#burst, bucket.tokens + 1);
  }

  /** Devices tracked (for tests). */
  get tracked(): number {
    return this.#buckets.size;
  }

  #forgetIdle(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.tokens + (now - bucket.at) * this.#ratePerMs >= this.#burst) this.#buckets.delete(key);
    }
    // Still full of busy devices: forget the oldest rather than grow without bound.
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size < this.#maxTracked) break;
      this.#buckets.delete(key);
    }
  }
}

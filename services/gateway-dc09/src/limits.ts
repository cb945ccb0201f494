/**
 * Open connections per source address: one address may hold at most `max`, so a single source
 * cannot fill the receiver's connection limit and keep genuine panels out.
 */
export class PerSourceCount {
  readonly #open = new Map<string, number>();
  constructor(readonly max: number) {}

  /** Takes a place for `source`; false when it already holds `max`. */
  take(source: string): boolean {
    const open = this.#open.get(source) ?? 0;
    if (open >= this.max) return false;
    this.#open.set(source, open + 1);
    return true;
  }

  release(source: string): void {
    const open = (this.#open.get(source) ?? 1) - 1;
    if (open <= 0) this.#open.delete(source);
    else this.#open.set(source, open);
  }
}

/**
 * A token bucket per source address (`burst` tokens, refilled at `perMinute`). Bounded in memory:
 * past `maxSources` the longest-idle source is forgotten (it starts again with a full bucket, which
 * only helps a source that has been quiet the longest).
 */
export class PerSourceRate {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly burst: number,
    readonly perMinute: number,
    readonly maxSources = 10_000,
  ) {}

  /**
   * Spends `cost` tokens of `source` at `now` (ms); false when it has not one left. Something that
   * costs more than is left (a DC-09 message batching many events) still goes when one is, and
   * leaves the bucket in debt that holds the next ones back until it is paid: it can neither be
   * cut nor wait for ever, and the source's rate over time stays what the bucket allows.
   */
  take(source: string, now: number, cost = 1): boolean {
    const bucket = this.#buckets.get(source) ?? { tokens: this.burst, at: now };
    this.#buckets.delete(source);
    const refilled = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 60_000) * this.perMinute);
    const allowed = refilled >= 1;
    this.#buckets.set(source, {
      tokens: allowed ? refilled - cost : refilled,
      at: now,
    });
    if (this.#buckets.size > this.maxSources) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    return allowed;
  }
}

/** What the budget decided for one request: past it, the seconds until the window ends. */
export type BudgetDecision =
  | { readonly allowed: true; readonly remaining: number }
  | { readonly allowed: false; readonly retryAfterS: number };

/** One person's count in their current window. */
interface Window {
  readonly start: number;
  count: number;
  /** Whether a request was refused in this window already: one security event per window. */
  refused: boolean;
}

/**
 * At most `max` requests per person in a window of `windowMs` that starts at their first request,
 * counted in this instance's memory: a cheap bound on reads in a loop (a script with a stolen
 * session), not a count shared by instances, so behind a balancer a person gets `max` at each
 * instance. A refused request is not counted. Only people signed in are counted, so the map holds
 * at most one entry per person who asked in the last window.
 */
export class RequestBudget {
  readonly #windows = new Map<string, Window>();
  #lastSweep = Number.NEGATIVE_INFINITY;

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be a whole number of at least 1');
    if (!(windowMs > 0)) throw new RangeError('windowMs must be positive');
  }

  /** Counts one request of `person` when it is within the budget. */
  take(person: string): BudgetDecision {
    const now = this.now();
    this.#sweep(now);
    let window = this.#windows.get(person);
    if (!window || now - window.start >= this.windowMs) {
      window = { start: now, count: 0, refused: false };
      this.#windows.set(person, window);
    }
    if (window.count < this.max) {
      window.count += 1;
      return { allowed: true, remaining: this.max - window.count };
    }
    return {
      allowed: false,
      retryAfterS: Math.max(1, Math.ceil((window.start + this.windowMs - now) / 1000)),
    };
  }

  /**
   * Notes that a request of `person` past the budget was refused; true for the first in their
   * window, so a caller raises one alarm per window, not one per request.
   */
  refused(person: string): boolean {
    const window = this.#windows.get(person);
    if (!window || window.refused) return false;
    window.refused = true;
    return true;
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < this.windowMs) return;
    this.#lastSweep = now;
    for (const [person, window] of this.#windows)
      if (now - window.start >= this.windowMs) this.#windows.delete(person);
  }
}

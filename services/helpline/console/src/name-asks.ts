/**
 * When the queue asks again for a resident it has no name for. A lookup that failed (the names
 * request refused or cut off, or the registry not answering in time on a loaded night) is asked
 * again soon, 1 s, 2 s, then 4 s after each miss, and only then every 15 s: waiting 15 s after the
 * first miss left the resident's id on a new alarm's card where its name should be, on the screen
 * an operator answers from. A resident the registry does not know stays unnamed at one ask in 15 s.
 */
export const NAME_RETRY_MS: readonly number[] = [1_000, 2_000, 4_000];
/** After the quick retries: how long a resident still without a name waits between asks. */
export const NAME_RETRY_STEADY_MS = 15_000;

/** How long after its `misses`-th miss in a row (1 for the first) a resident is asked for again. */
export const nameRetryDelay = (misses: number): number =>
  NAME_RETRY_MS[Math.max(0, misses - 1)] ?? NAME_RETRY_STEADY_MS;

/**
 * The residents asked for and not named yet: how many asks in a row missed each, and when it is
 * due again. A resident on its way (asked, no answer yet) is not due; one never asked is.
 */
export class NameAsks {
  readonly #asks = new Map<string, { misses: number; due: number }>();

  /** Whether the resident may be asked for now. */
  due(residentId: string, now: number): boolean {
    const ask = this.#asks.get(residentId);
    return !ask || now >= ask.due;
  }

  /** The resident is being asked for: not due again until its answer has come. */
  asking(residentId: string): void {
    const ask = this.#asks.get(residentId);
    this.#asks.set(residentId, { misses: ask?.misses ?? 0, due: Number.POSITIVE_INFINITY });
  }

  /** The answer named them: forgotten. */
  named(residentId: string): void {
    this.#asks.delete(residentId);
  }

  /**
   * The ask came back without their name (or failed): due again after the next step of the
   * schedule, and never before `notBefore` (a refusal's Retry-After).
   */
  missed(residentId: string, now: number, notBefore = Number.NEGATIVE_INFINITY): void {
    const misses = (this.#asks.get(residentId)?.misses ?? 0) + 1;
    this.#asks.set(residentId, { misses, due: Math.max(now + nameRetryDelay(misses), notBefore) });
  }

  /**
   * The earliest time one of `residentIds` is due again after a miss (those never asked are asked
   * at once by whoever shows them), or undefined when none is waiting for a retry. Residents no
   * longer among them (their cases left the queue) are forgotten.
   */
  nextDue(residentIds: Iterable<string>): number | undefined {
    const wanted = new Set(residentIds);
    let next: number | undefined;
    for (const [id, ask] of this.#asks) {
      if (!wanted.has(id)) {
        if (Number.isFinite(ask.due)) this.#asks.delete(id);
        continue;
      }
      if (Number.isFinite(ask.due) && (next === undefined || ask.due < next)) next = ask.due;
    }
    return next;
  }
}

/**
 * Leftover keys a start-up sync found in a bucket (no record behind them) but could not delete:
 * a full bucket with a history refuses even a delete. They are tried again together with the
 * publishers' backoff until each is dealt with or the publisher closes, not left for the next
 * start-up: a decommissioned panel's account would stay accepted by the DC-09 gateway, a cancelled
 * away period would keep holding a resident's inactivity checks, for as long as the registry ran.
 *
 * `drop` decides each key again when it is tried (at the revision it reads): a key someone holds
 * by then is brought in step, never deleted. A round stops at the first key that fails: a bucket
 * still full refuses the rest too. Refusals are for the caller to count (`refused`), not to log:
 * the sync logged the keys kept once.
 */
export class LeftoverRetry {
  readonly #keys = new Set<string>();
  readonly #retry: { initialMs: number; maxMs: number };
  readonly #drop: (key: string) => Promise<boolean>;
  readonly #refused: (err: unknown) => void;
  readonly #done: (deleted: number) => void;
  #timer: NodeJS.Timeout | undefined;
  /** Deleted since the set was last empty, told to `done` once it is empty again. */
  #deleted = 0;
  #closed = false;

  constructor(options: {
    retry: { initialMs: number; maxMs: number };
    /** Deletes the key if it is still a leftover: whether it did. Throws when the bucket refused. */
    drop: (key: string) => Promise<boolean>;
    /** A try that failed (the bucket still full, or NATS away): counted, tried again later. */
    refused: (err: unknown) => void;
    /** Every leftover dealt with: how many were deleted. */
    done: (deleted: number) => void;
  }) {
    this.#retry = options.retry;
    this.#drop = options.drop;
    this.#refused = options.refused;
    this.#done = options.done;
  }

  /** Tries `keys` (with any still waiting) after the first backoff. */
  add(keys: Iterable<string>): void {
    for (const key of keys) this.#keys.add(key);
    this.#schedule(0);
  }

  /** Stops trying; the next start-up sync finds what is left. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#keys.clear();
  }

  #schedule(attempt: number): void {
    if (this.#closed || this.#keys.size === 0) return;
    clearTimeout(this.#timer);
    const delay = Math.min(this.#retry.maxMs, this.#retry.initialMs * 2 ** attempt);
    this.#timer = setTimeout(() => void this.#round(attempt), delay);
    // A pending retry must not keep a finished process alive; the start-up sync covers it.
    this.#timer.unref();
  }

  async #round(attempt: number): Promise<void> {
    this.#timer = undefined;
    // Emptied by the round in flight when this one was scheduled.
    if (this.#keys.size === 0) return;
    for (const key of [...this.#keys]) {
      if (this.#closed) return;
      try {
        if (await this.#drop(key)) this.#deleted++;
        this.#keys.delete(key);
      } catch (err) {
        this.#refused(err);
        // A sync that added keys meanwhile scheduled its own round.
        if (this.#timer === undefined) this.#schedule(attempt + 1);
        return;
      }
    }
    if (this.#keys.size > 0 || this.#closed) return;
    const deleted = this.#deleted;
    this.#deleted = 0;
    this.#done(deleted);
  }
}

/**
 * Work by key: one key's work runs one at a time, in the order it was given; different keys run
 * side by side. What keeps one resident's events in order while others go on.
 */
export class KeyedLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `work` once every earlier work of `key` has finished. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    let release: () => void = () => {};
    const tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    // A key with nothing before it begins at once: no chain to build or wait on.
    const chained = previous === undefined ? tail : previous.then(() => tail);
    this.#tails.set(key, chained);
    if (previous !== undefined) await previous;
    try {
      return await work();
    } finally {
      release();
      if (this.#tails.get(key) === chained) this.#tails.delete(key);
    }
  }

  /** Resolves when no key has work waiting or running. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all([...this.#tails.values()]);
  }
}

/**
 * A `KeyedLock` with at most `limit` tasks in flight over all keys: `submit` waits for a free
 * slot, so a consumer pulls no faster than it can work.
 */
export class LanePool {
  readonly #lock = new KeyedLock();
  readonly #waiting: Array<() => void> = [];
  #inFlight = 0;

  constructor(private readonly limit: number) {}

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Waits for a free slot, then queues the task on its lane; resolves once it is queued, not done. */
  async submit(lane: string, task: () => Promise<void>): Promise<void> {
    while (this.#inFlight >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#inFlight += 1;
    void this.#lock
      .run(lane, task)
      .catch(() => undefined)
      .finally(() => {
        this.#inFlight -= 1;
        this.#waiting.shift()?.();
      });
  }

  /** Slots free now (0 when every slot is taken). */
  get free(): number {
    return Math.max(0, this.limit - this.#inFlight);
  }

  /** Resolves once a slot is free (it does not take it). */
  async slot(): Promise<void> {
    while (this.#inFlight >= this.limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  /** Resolves when every queued task has finished. */
  async idle(): Promise<void> {
    await this.#lock.idle();
  }
}

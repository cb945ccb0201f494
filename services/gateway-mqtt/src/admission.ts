/**
 * The gateway's work queue: many device messages in flight at once, the most urgent first, and
 * each device's own messages in the order they arrived.
 *
 * A storm of low-priority reports (every hub in a district losing mains) must not delay one
 * pendant press (DESIGN §3.2). Handling messages one at a time per MQTT connection would put the
 * press behind the whole storm; here it only waits for a free worker.
 */
export interface Job<T> {
  readonly key: string;
  readonly priority: number;
  readonly item: T;
}

interface Queued<T> extends Job<T> {
  readonly seq: number;
}

export class AdmissionQueue<T> {
  readonly #byKey = new Map<string, Queued<T>[]>();
  readonly #busy = new Set<string>();
  #seq = 0;
  #size = 0;

  /** Jobs waiting (not started). */
  get size(): number {
    return this.#size;
  }

  /** Jobs started and not finished. */
  get running(): number {
    return this.#busy.size;
  }

  push(job: Job<T>): void {
    const queued = { ...job, seq: this.#seq++ };
    const list = this.#byKey.get(job.key);
    if (list) list.push(queued);
    else this.#byKey.set(job.key, [queued]);
    this.#size++;
  }

  /**
   * The next job to start: among keys with nothing running, the one whose most urgent waiting job
   * has the lowest priority number (1 = life-critical), then the earliest; its head job starts.
   * A device's press thereby pulls its own earlier messages ahead of other devices' reports.
   * Marks the key busy until `done`.
   */
  take(): Job<T> | undefined {
    let bestKey: string | undefined;
    let bestPriority = Number.POSITIVE_INFINITY;
    let bestSeq = Number.POSITIVE_INFINITY;
    for (const [key, list] of this.#byKey) {
      if (this.#busy.has(key) || list.length === 0) continue;
      let priority = Number.POSITIVE_INFINITY;
      for (const job of list) priority = Math.min(priority, job.priority);
      const seq = list[0]?.seq ?? Number.POSITIVE_INFINITY;
      if (priority < bestPriority || (priority === bestPriority && seq < bestSeq)) {
        bestKey = key;
        bestPriority = priority;
        bestSeq = seq;
      }
    }
    if (bestKey === undefined) return undefined;
    const list = this.#byKey.get(bestKey) ?? [];
    const head = list.shift();
    if (list.length === 0) this.#byKey.delete(bestKey);
    if (!head) return undefined;
    this.#busy.add(bestKey);
    this.#size--;
    return head;
  }

  done(key: string): void {
    this.#busy.delete(key);
  }
}

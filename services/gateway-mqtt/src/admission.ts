import { type EventType, TAXONOMY } from '@telecare/contracts';

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

/** A device ready to start: its most urgent waiting job's priority, and its head job's arrival. */
interface Ready {
  readonly key: string;
  readonly priority: number;
  readonly seq: number;
}

const before = (a: Ready, b: Ready) =>
  a.priority < b.priority || (a.priority === b.priority && a.seq < b.seq);

/**
 * Devices with waiting jobs are kept in a binary heap by (most urgent waiting priority, head job's
 * arrival), so a take costs O(log devices) however long the backlog. (Scanning every device on each
 * take cost milliseconds per message with a backlog of thousands: the more the gateway was offered,
 * the less it stored.) A device's entry is stale when it is busy or its key has changed since; stale
 * entries are dropped as they surface.
 */
export class AdmissionQueue<T> {
  readonly #byKey = new Map<string, Queued<T>[]>();
  readonly #busy = new Set<string>();
  /** The entry in force per idle device with waiting jobs (the heap may hold older ones). */
  readonly #current = new Map<string, Ready>();
  readonly #heap: Ready[] = [];
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
    const queued: Queued<T> = { key: job.key, priority: job.priority, item: job.item, seq: this.#seq++ };
    const list = this.#byKey.get(job.key);
    if (list) list.push(queued);
    else this.#byKey.set(job.key, [queued]);
    this.#size++;
    if (this.#busy.has(job.key)) return;
    const current = this.#current.get(job.key);
    // A more urgent job (a press behind a device's heartbeats) moves the whole device up.
    if (!current || job.priority < current.priority) this.#ready(job.key);
  }

  /**
   * The next job to start: among keys with nothing running, the one whose most urgent waiting job
   * has the lowest priority number (1 = life-critical), then the earliest; its head job starts.
   * A device's press thereby pulls its own earlier messages ahead of other devices' reports.
   * Marks the key busy until `done`.
   */
  take(): Job<T> | undefined {
    for (let top = this.#pop(); top; top = this.#pop()) {
      if (this.#current.get(top.key) !== top) continue;
      this.#current.delete(top.key);
      const list = this.#byKey.get(top.key);
      const head = list?.shift();
      if (!list || !head) continue;
      if (list.length === 0) this.#byKey.delete(top.key);
      this.#busy.add(top.key);
      this.#size--;
      return head;
    }
    return undefined;
  }

  /** The priority of the job `take` would start next (undefined: none can start). */
  peekPriority(): number | undefined {
    for (let top = this.#heap[0]; top; top = this.#heap[0]) {
      if (this.#current.get(top.key) === top) return top.priority;
      this.#pop();
    }
    return undefined;
  }

  done(key: string): void {
    this.#busy.delete(key);
    if (this.#byKey.has(key)) this.#ready(key);
  }

  /** Puts an idle device with waiting jobs in the heap under its current priority and head. */
  #ready(key: string): void {
    const list = this.#byKey.get(key);
    const head = list?.[0];
    if (!list || !head) return;
    let priority = Number.POSITIVE_INFINITY;
    for (const job of list) if (job.priority < priority) priority = job.priority;
    const entry = { key, priority, seq: head.seq };
    this.#current.set(key, entry);
    this.#push(entry);
  }

  #push(entry: Ready): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, heap[parent] as Ready)) break;
      heap[i] = heap[parent] as Ready;
      i = parent;
    }
    heap[i] = entry;
  }

  #pop(): Ready | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && before(heap[right] as Ready, heap[left] as Ready) ? right : left;
      if (!before(heap[child] as Ready, last)) break;
      heap[i] = heap[child] as Ready;
      i = child;
    }
    heap[i] = last;
    return top;
  }
}

/** What to do with a message as it arrives from the broker. */
export type Admission = 'admit' | 'shed' | 'hold';

/**
 * What may be shed under overload: maintenance (P4) and record-only (P5) events — heartbeats,
 * movement, doors, bed and chair, temperatures, low batteries — but not a restore (it closes what
 * a P3 report opened, and a storm sends as many of them) nor a resident's cancel of an alarm.
 */
export function isSheddable(type: EventType): boolean {
  return TAXONOMY[type].priority >= 4 && !type.endsWith('.restored') && type !== 'alarm.cancelled';
}

/**
 * The overload rule. Past `shedAt` waiting messages, a sheddable device event (`isSheddable`) is
 * shed: acknowledged to the broker but not stored or answered, so its device resends it later — it
 * is slowed, not refused. Alarms and urgent reports are never shed: they are admitted, and past
 * `maxPending` admitted messages the broker's PUBACK is held ('hold': admitted, but the gateway
 * reads no further until there is room: backpressure on the broker).
 *
 * Shedding at the door keeps the queue short enough that what is admitted is stored within a
 * second or two, before its device gives up and resends it; an unbounded queue of heartbeats makes
 * every device resend, and the resends are more work for the same events.
 */
export function admission(options: {
  /** A device event of a sheddable type (a status change is sent once, so never is). */
  sheddable: boolean;
  waiting: number;
  admitted: number;
  shedAt: number;
  maxPending: number;
}): Admission {
  if (options.sheddable && options.waiting >= options.shedAt) return 'shed';
  return options.admitted < options.maxPending ? 'admit' : 'hold';
}

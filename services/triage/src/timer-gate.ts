/**
 * When a partition's due timers may fire: once the lane has read every event stored before their
 * due time (`readTo`, the consumer loop's read mark, a clock time), or once they have waited too
 * long for a lane that stays behind. Pure: the partition loop feeds it the clock, the mark, the
 * earliest due time and real time (`wall`, ms), and asks for a checkpoint when it says so.
 *
 * A **wait** begins when a due timer is found that the lane has not read up to: it covers the
 * timers due up to that moment (`upTo`). It ends when the lane reads past `upTo`, or, once it has
 * lasted `maxWaitMs` of real time, by forcing: the timers due up to `upTo` fire anyway (and keep
 * firing on the next rounds, however many there are). A timer found waiting after a wait began
 * belongs to the next one, so it waits at most twice `maxWaitMs` from when it was first found due.
 */
export class TimerGate {
  readonly #maxWaitMs: number;
  readonly #checkpointEveryMs: number;
  #wait: { upTo: number; since: number } | undefined;
  #forcedTo = Number.NEGATIVE_INFINITY;
  #checkpointAt = Number.NEGATIVE_INFINITY;

  constructor(maxWaitMs: number, checkpointEveryMs = 1_000) {
    this.#maxWaitMs = maxWaitMs;
    this.#checkpointEveryMs = checkpointEveryMs;
  }

  /** Timers due up to this clock time may fire. */
  fireBy(readTo: number, now: number): number {
    return Math.min(now, Math.max(readTo, this.#forcedTo));
  }

  /**
   * Looks at the earliest due time (`next`, undefined when none): true when the lane should ask
   * the server for a checkpoint (a timer waits for it, at most every `checkpointEveryMs`).
   */
  look(readTo: number, now: number, next: number | undefined, wall: number): boolean {
    const by = this.fireBy(readTo, now);
    if (next === undefined || next > now || by >= now) {
      this.#wait = undefined;
      return false;
    }
    if (this.#wait && this.#wait.upTo <= by) this.#wait = undefined;
    if (next <= by) return false;
    this.#wait ??= { upTo: now, since: wall };
    if (wall - this.#checkpointAt < this.#checkpointEveryMs) return false;
    this.#checkpointAt = wall;
    return true;
  }

  /** Forces the wait in progress once it has lasted too long; returns how long it waited, if it did. */
  force(readTo: number, now: number, wall: number): number | undefined {
    const wait = this.#wait;
    if (!wait || wait.upTo <= this.fireBy(readTo, now) || wall - wait.since < this.#maxWaitMs)
      return undefined;
    this.#wait = undefined;
    this.#forcedTo = Math.max(this.#forcedTo, wait.upTo);
    return wall - wait.since;
  }
}

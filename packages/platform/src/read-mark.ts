/**
 * How far a consumer has read, on the clock of the service that reads it: `readTo` is a clock time
 * such that every message stored on the consumer (under its filter) before it has been handled
 * (acked, or dead-lettered). A message handed back for another try is not handled.
 *
 * It is built from stream sequences, never from the stream's own timestamps, so it means the same
 * with a real clock and with a test's manual one. Each **checkpoint** says "everything stored before
 * clock time `at` has a sequence at or below `seq`"; `readTo` passes `at` once every message the
 * loop took up to `seq` is handled. Checkpoints come from:
 *
 * - a pull that found nothing, begun at `at`: everything stored before it was delivered already
 *   (`seq` = the highest sequence taken);
 * - a message delivered with nothing pending behind it, by a pull begun at `at` (`seq` = its own);
 * - `storedBy(at, seq)`, from the server (the consumer's delivered sequence when nothing is pending,
 *   else the stream's last sequence), asked for when a caller needs the mark to move while the
 *   consumer is behind.
 */
export class ReadMark {
  #readTo = Number.NEGATIVE_INFINITY;
  /** Highest stream sequence taken. */
  #taken = 0;
  /** Taken and not yet handled (a message handed back stays until it is handled). */
  readonly #inHand = new Set<number>();
  #checkpoints: Array<{ at: number; seq: number }> = [];

  /** Everything stored before this clock time has been handled (−∞ until a checkpoint is passed). */
  get readTo(): number {
    return this.#readTo;
  }

  /** Every message at or below this sequence that the loop took is handled. */
  get handledThrough(): number {
    let through = this.#taken;
    for (const seq of this.#inHand) through = Math.min(through, seq - 1);
    return through;
  }

  taken(seq: number): void {
    this.#taken = Math.max(this.#taken, seq);
    this.#inHand.add(seq);
  }

  handled(seq: number): void {
    this.#inHand.delete(seq);
    this.#advance();
  }

  /** A pull begun at `at` found nothing: what was stored before it has all been taken. */
  idle(at: number): void {
    this.storedBy(at, this.#taken);
  }

  /** Everything stored before clock time `at` has a stream sequence at or below `seq`. */
  storedBy(at: number, seq: number): void {
    if (at <= this.#readTo) return;
    const last = this.#checkpoints.at(-1);
    // The same sequence again (an idle consumer): one checkpoint at the later time does for both.
    if (last && last.seq === seq && last.at <= at) last.at = at;
    else this.#checkpoints.push({ at, seq });
    // A consumer stuck on one message must not collect checkpoints without end: the oldest go
    // (the mark moves later than it could, never earlier than it should).
    if (this.#checkpoints.length > 256) this.#checkpoints.shift();
    this.#advance();
  }

  #advance(): void {
    if (this.#checkpoints.length === 0) return;
    const through = this.handledThrough;
    this.#checkpoints = this.#checkpoints.filter((checkpoint) => {
      if (checkpoint.seq > through) return true;
      this.#readTo = Math.max(this.#readTo, checkpoint.at);
      return false;
    });
  }
}

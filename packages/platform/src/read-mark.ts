/**
 * How far a consumer has read, on the clock of the service that reads it: `readTo` is a clock time
 * such that every message stored on the consumer (under its filter) before it has been handled
 * (acked, or terminated once dead-lettered). A message handed back for another try, or held by a
 * process that died, is not handled.
 *
 * It is built from the server's own view, in stream sequences, never from the stream's timestamps,
 * so it means the same with a real clock and with a test's manual one:
 *
 * - `storedBy(at, seq)`: everything stored before clock time `at` has a sequence at or below `seq`
 *   (asked after `at`: the consumer's delivered sequence when nothing is pending, else the stream's
 *   last sequence);
 * - `ackedThrough(seq)`: every message of the consumer at or below `seq` is acked (the consumer's
 *   ack floor). `readTo` passes `at` once the ack floor reaches its `seq`.
 *
 * The ack floor, not the messages this loop took, because a delivery can be lost in between (a
 * pull that ended while the server was sending): a later message would be taken first, and the
 * lost one only comes back after the ack wait.
 */
export class ReadMark {
  #readTo = Number.NEGATIVE_INFINITY;
  #acked = 0;
  #checkpoints: Array<{ at: number; seq: number }> = [];

  /** Everything stored before this clock time has been handled (−∞ until a checkpoint is passed). */
  get readTo(): number {
    return this.#readTo;
  }

  /** Everything stored before clock time `at` has a stream sequence at or below `seq`. */
  storedBy(at: number, seq: number): void {
    if (at <= this.#readTo) return;
    const last = this.#checkpoints.at(-1);
    // The same sequence again (nothing new stored): one checkpoint at the later time does for both.
    if (last && last.seq === seq && last.at <= at) last.at = at;
    else this.#checkpoints.push({ at, seq });
    // A consumer stuck on one message must not collect checkpoints without end: the oldest go
    // (the mark moves later than it could, never earlier than it should).
    if (this.#checkpoints.length > 256) this.#checkpoints.shift();
    this.#advance();
  }

  /**
   * The stream was made again (JetStream lost it): its sequences start from 1, so what was known in
   * the old ones is dropped. `readTo` stays where it was: it never goes back.
   */
  restart(): void {
    this.#acked = 0;
    this.#checkpoints = [];
  }

  /** Every message of the consumer at or below stream sequence `seq` is handled (its ack floor). */
  ackedThrough(seq: number): void {
    this.#acked = Math.max(this.#acked, seq);
    this.#advance();
  }

  #advance(): void {
    if (this.#checkpoints.length === 0) return;
    this.#checkpoints = this.#checkpoints.filter((checkpoint) => {
      if (checkpoint.seq > this.#acked) return true;
      this.#readTo = Math.max(this.#readTo, checkpoint.at);
      return false;
    });
  }
}

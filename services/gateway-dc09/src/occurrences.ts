/**
 * Which occurrence of a message without a timestamp a frame is.
 *
 * Such a message is the same bytes every time its sender says the same thing under the same
 * sequence number. That is a retransmission when our ACK did not reach the sender; but it is
 * also a new event when the sender's sequence started again (a panel that restarted) or stands
 * still (senders that always send one number), and the same pendant is pressed again. An event
 * id taken from the bytes alone made JetStream drop the second press as a copy of the first.
 *
 * A sender retries a message before it sends the next one. So a message is a retransmission when
 * it is the last message its account sent, sent again within `gapMs` of its last sending; after
 * anything else from the account, or a longer silence, it is a new occurrence, named by its
 * timestamp or, without one, by the time it first came. The same holds for a sender that stamps
 * each attempt anew: its message is compared without the timestamp, and its retransmissions keep
 * the first one's name (they were stored again each time before). Errors fall on the safe side: a retransmission taken for a new event (it came to
 * another gateway instance, or after a restart) is stored twice, and a repeated press merges into
 * its open alert; a new event is never taken for a copy except within `gapMs` with nothing between.
 */
export class Occurrences {
  readonly #gapMs: number;
  readonly #last = new Map<string, { key: string; first: number; seen: number }>();

  constructor(gapMs: number) {
    this.#gapMs = gapMs;
  }

  /**
   * Which occurrence message `key` from `account`, arriving at `now`, is: the name its first
   * sending was given, or `name` (default `now`) when it is a new one.
   */
  of(account: string, key: string, now: number, name: number = now): number {
    const last = this.#last.get(account);
    if (last !== undefined && last.key === key && now - last.seen <= this.#gapMs) {
      last.seen = now;
      return last.first;
    }
    this.#last.set(account, { key, first: name, seen: now });
    return name;
  }

  /** Accounts remembered (one entry each: at most the accounts that sent such messages). */
  get size(): number {
    return this.#last.size;
  }
}

/** One message's sendings: the name its first was given, and when it was last sent. */
interface Sending {
  readonly key: string;
  readonly first: number;
  seen: number;
}

/** How much `Occurrences` remembers at most. */
export interface OccurrenceLimits {
  /** Sequence numbers remembered per account (the least recently sent go first). */
  readonly perAccount: number;
  /** Messages remembered in all, and accounts with a last message (the least recently heard go first). */
  readonly total: number;
}

const LIMITS: OccurrenceLimits = { perAccount: 16, total: 100_000 };

/** Messages remembered between two sweeps of `Occurrences` for accounts silent past the gap. */
const OCCURRENCE_SWEEP_EVERY = 1024;

/**
 * Which occurrence of a message a frame is: a retransmission, whose events keep the first sending's
 * name (and ids, so JetStream stores them once), or a new event, named anew.
 *
 * A message is the same bytes every time its sender says the same thing under the same sequence
 * number. That is a retransmission when our ACK did not reach the sender; but it is also a new event
 * when the sender's sequence started again (a panel that restarted) or stands still (senders that
 * always send one number), and the same pendant is pressed again.
 *
 * A message without a timestamp (`resent`): the account's recent sequence numbers are remembered,
 * each with the content last sent under it, as a receiver does for its panels' retry span. The same
 * sequence number and content again within `gapMs` of its last sending is a retransmission, whatever
 * the account sent between: a panel that heard no ACK may send its next message before it tries the
 * first again, and a press taken twice was two presses at the helpline. Another content under a
 * sequence number (a counter that wrapped or stands still, a new event) is a new event, and the
 * number then stands for it. Bounded against a flood: at most `perAccount` sequence numbers per
 * account and `total` in all, the least recently sent going first; one forgotten so is taken as new
 * when it comes again, a duplicate (its press merges into its open alert), never a loss.
 *
 * A message with a timestamp (`of`, compared without it: its sender stamps each attempt anew) is a
 * retransmission only when it is the last message its account sent, again within `gapMs` of its last
 * sending; after anything else from the account, or a longer silence, a new occurrence named by its
 * timestamp.
 *
 * Errors fall on the safe side but one: a retransmission taken for a new event (it came to another
 * gateway instance, after a restart, or after the memory let it go) is stored twice, and a repeated
 * press merges into its open alert. A panel that restarts and sends the same bytes under the same
 * number within `gapMs` of their last sending (pressed again right after its numbering began anew)
 * is taken for its retransmission: it cannot be told from one.
 */
export class Occurrences {
  readonly #gapMs: number;
  readonly #limits: OccurrenceLimits;
  /** Timestamped messages: each account's last, least recently heard first. */
  readonly #last = new Map<string, Sending>();
  /** Messages without a timestamp: each account's by sequence number, least recently sent first. */
  readonly #bySequence = new Map<string, Map<string, Sending>>();
  #entries = 0;
  #adds = 0;

  constructor(gapMs: number, limits: Partial<OccurrenceLimits> = {}) {
    this.#gapMs = gapMs;
    this.#limits = { ...LIMITS, ...limits };
  }

  /**
   * Which occurrence timestamped message `key` from `account`, arriving at `now`, is: the name its
   * first sending was given, or `name` (default `now`) when it is a new one.
   */
  of(account: string, key: string, now: number, name: number = now): number {
    const last = this.#last.get(account);
    this.#last.delete(account);
    if (last !== undefined && last.key === key && now - last.seen <= this.#gapMs) {
      last.seen = now;
      this.#last.set(account, last);
      return last.first;
    }
    this.#last.set(account, { key, first: name, seen: now });
    if (this.#last.size > this.#limits.total) this.#last.delete(this.#last.keys().next().value as string);
    return name;
  }

  /**
   * Which occurrence message `key` (its content) from `account` under sequence number `seq`,
   * without a timestamp, arriving at `now`, is: when the account sent that content under that number
   * within the gap, the time it first came; else `now`.
   */
  resent(account: string, seq: string, key: string, now: number): number {
    let sequences = this.#bySequence.get(account);
    // Least recently heard first: the account goes to the end, as its message does in its own map.
    if (sequences === undefined) sequences = new Map();
    else this.#bySequence.delete(account);
    this.#bySequence.set(account, sequences);
    const sent = sequences.get(seq);
    if (sent !== undefined) {
      sequences.delete(seq);
      this.#entries--;
    }
    const same = sent !== undefined && sent.key === key && now - sent.seen <= this.#gapMs;
    const sending = same ? { ...sent, seen: now } : { key, first: now, seen: now };
    sequences.set(seq, sending);
    this.#entries++;
    if (sequences.size > this.#limits.perAccount) {
      sequences.delete(sequences.keys().next().value as string);
      this.#entries--;
    }
    this.#forget(now);
    return sending.first;
  }

  /**
   * Forgets, in a sweep every so many messages, the accounts that sent nothing within the gap; and
   * past `total`, the least recently heard accounts' messages, oldest first.
   */
  #forget(now: number): void {
    if (++this.#adds % OCCURRENCE_SWEEP_EVERY === 0) {
      for (const [account, sequences] of this.#bySequence) {
        const latest = [...sequences.values()].at(-1);
        if (latest !== undefined && now - latest.seen <= this.#gapMs) break;
        this.#bySequence.delete(account);
        this.#entries -= sequences.size;
      }
    }
    while (this.#entries > this.#limits.total) {
      const [account, sequences] = this.#bySequence.entries().next().value as [string, Map<string, Sending>];
      sequences.delete(sequences.keys().next().value as string);
      this.#entries--;
      if (sequences.size === 0) this.#bySequence.delete(account);
    }
  }

  /** Messages remembered: each account's last timestamped one, and the sequence numbers of the rest. */
  get size(): number {
    return this.#last.size + this.#entries;
  }
}

/** A frame already stored, as a copy of it learns it. */
export interface StoredFrame {
  /** Where the frame that was stored came from: `udp:<address>:<port>` or `tcp:<address>:<port>`. */
  readonly origin: string;
  /** How it was answered: a copy is answered the same (a DUH, the sender must not retry, stays one). */
  readonly reply: 'ACK' | 'DUH';
  /**
   * The sequence number it came under (in clear, so it is no part of what an encrypted frame is
   * known by): the same message under another number is not answered as a copy (the receiver's
   * `interpretFrame`). Absent for a frame remembered without it.
   */
  readonly seq?: string;
}

/** Frames added between two sweeps of `StoredFrames` for those whose time has passed. */
const SWEEP_EVERY = 1024;

/**
 * Timestamped frames already stored, each remembered until its timestamp leaves the window (one
 * carrying a life-critical alarm until it could no longer be taken late: `lasting`) (after
 * that the window refuses it anyway). The same frame again — the same message and the same
 * timestamp, however padded — is a copy: a sender stamps each attempt anew, so only a recording,
 * or the network, sends one twice. It is ACKed as the first was and nothing is stored again: not
 * its events, which JetStream would take as new once EVENTS' duplicate window (10 min) has passed
 * while the timestamp window (up to an hour) still admits them, and not a heartbeat, which would
 * keep a silent account looking alive. Per gateway instance, at most `max` frames.
 *
 * A frame is known by what its key authenticates (the receiver's `storedFrameKey`), and a copy
 * that comes while the first is still being stored waits for it (`claim`): copies sent at once
 * on many connections are not each stored before any is remembered. Each is remembered with the
 * origin it came from (`udp:<address>:<port>`, `tcp:…`), which decides whether a copy over UDP is
 * answered (the gateway's `copyAnswered`).
 */

export class StoredFrames {
  readonly #remembered = new Map<string, StoredFrame & { readonly until: number }>();
  /**
   * Frames held past the window (`lasting`: a life-critical alarm, held for as long as it could be
   * taken late), apart: each map's frames come in the order of their time, which the sweep needs.
   */
  readonly #lasting = new Map<string, StoredFrame & { readonly until: number }>();
  /** Frames being stored now, each with what its copies wait on: settled by `add` or `release`. */
  readonly #storing = new Map<string, { readonly done: Promise<void>; readonly settle: () => void }>();
  readonly #max: number;
  #adds = 0;

  constructor(max = 100_000) {
    this.#max = max;
  }

  /** Whether `key` was stored and its timestamp is still inside the window at `now`. */
  has(key: string, now: number): boolean {
    return this.#stored(key, now) !== undefined;
  }

  #stored(key: string, now: number): (StoredFrame & { readonly until: number }) | undefined {
    for (const frames of [this.#remembered, this.#lasting]) {
      const stored = frames.get(key);
      if (stored === undefined) continue;
      if (stored.until >= now) return stored;
      frames.delete(key);
    }
    return undefined;
  }

  /**
   * The frame stored under `key` (a copy), after waiting for a frame with the same key being
   * stored now; otherwise (undefined) the caller holds `key` until it calls `add` (stored) or
   * `release` (not stored), and the same key meanwhile waits for it. Holders always settle: a store
   * that fails releases its key before the frame is tried again.
   */
  async claim(key: string, now: number): Promise<StoredFrame | undefined> {
    for (let held = this.#storing.get(key); held !== undefined; held = this.#storing.get(key)) {
      await held.done;
    }
    // No await between this check and the claim: two frames cannot both find the key free.
    const stored = this.#stored(key, now);
    if (stored !== undefined)
      return {
        origin: stored.origin,
        reply: stored.reply,
        ...(stored.seq === undefined ? {} : { seq: stored.seq }),
      };
    let settle = () => {};
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.#storing.set(key, { done, settle });
    return undefined;
  }

  /** Gives up a claim whose frame was not stored: a copy waiting for it is handled as a first. */
  release(key: string): void {
    const held = this.#storing.get(key);
    if (held === undefined) return;
    this.#storing.delete(key);
    held.settle();
  }

  /**
   * Remembers `key`, which came from `origin` and was answered `reply`, until `until`, and ends its
   * claim. The frames whose time has passed are forgotten in a sweep every so many frames, not at
   * each (a Map walked from its front after deletions there costs the deleted entries too); past
   * `max`, the oldest go, down to nine tenths of it.
   */
  add(
    key: string,
    until: number,
    now: number,
    origin: string,
    reply: 'ACK' | 'DUH' = 'ACK',
    lasting = false,
    seq?: string,
  ): void {
    const frames = lasting ? this.#lasting : this.#remembered;
    frames.set(key, { until, origin, reply, ...(seq === undefined ? {} : { seq }) });
    this.release(key);
    if (++this.#adds % SWEEP_EVERY !== 0 && this.size <= this.#max) return;
    for (const held of [this.#remembered, this.#lasting]) {
      // Frames come roughly in their timestamps' order: the sweep stops at the first still in time.
      for (const [old, { until: at }] of held) {
        if (at >= now) break;
        held.delete(old);
      }
    }
    if (this.size <= this.#max) return;
    const keep = Math.floor(this.#max * 0.9);
    for (const old of this.#remembered.keys()) {
      if (this.size <= keep) break;
      this.#remembered.delete(old);
    }
    for (const old of this.#lasting.keys()) {
      if (this.size <= keep) break;
      this.#lasting.delete(old);
    }
  }

  /** Frames remembered. */
  get size(): number {
    return this.#remembered.size + this.#lasting.size;
  }
}

/** Messages remembered under one key: a panel reusing a sequence number in one second sends two. */
const MAX_PER_KEY = 4;

interface Stamped {
  readonly digest: string;
  /** Its ciphertext's blocks after the first, in upper-case hex. */
  readonly blocks: ReadonlySet<string>;
  readonly until: number;
}

/**
 * What each encrypted message accepted said, by what no sender says twice with other content: its
 * account, sequence number and timestamp, and its account, timestamp and events (its data without
 * free text). Each is remembered, with a digest of the content and the blocks of its ciphertext,
 * until the timestamp leaves the window.
 *
 * The same key again with another content is what changing an encrypted frame without its key
 * makes: a bit flip or a splice whose garbled block fell in free text (a zone name) or in a pad and
 * still reads, under the frame's own header or another sequence number (which is in clear). But a
 * real panel sends it too: after a restart its sequence starts again, and it may send two messages
 * under one number in the same second. The two are told apart by the ciphertext. A change made
 * without the key keeps the blocks it did not touch where they were (flipping a block garbles that
 * one and changes the next, splicing moves whole blocks), so the forgery shares blocks with the
 * frame it was made from; a message the panel encrypted itself is chained from a pad of its own and
 * shares none (CBC: the same block at the same place only after the same text from the start). The
 * first block is left out: a panel that pads the same way every time begins each message with the
 * same block. So the same key with another content is refused only when its ciphertext shares a
 * block with a message accepted under that key; else it is a message of its own, and remembered
 * beside the first (at most `MAX_PER_KEY` per key). At most `max` keys remembered; past that the
 * oldest go first.
 */
export class StampedMessages {
  readonly #seen = new Map<string, Stamped[]>();
  #adds = 0;

  constructor(readonly max = 100_000) {}

  /**
   * Whether any of `keys` was accepted with another `digest` whose ciphertext shares one of
   * `blocks` and is still in its window at `now`; when none was, the message is remembered under
   * each of them until `until`.
   */
  conflicts(
    keys: readonly string[],
    digest: string,
    blocks: readonly string[],
    until: number,
    now: number,
  ): boolean {
    if (this.clashes(keys, digest, blocks, now)) return true;
    const message: Stamped = { digest, blocks: new Set(blocks), until };
    for (const key of keys) {
      const kept = (this.#seen.get(key) ?? []).filter((seen) => seen.until >= now && seen.digest !== digest);
      kept.push(message);
      this.#seen.delete(key);
      this.#seen.set(key, kept.slice(-MAX_PER_KEY));
    }
    if (++this.#adds % SWEEP_EVERY !== 0 && this.#seen.size <= this.max) return false;
    for (const [old, messages] of this.#seen) {
      if (messages.some((seen) => seen.until >= now)) break;
      this.#seen.delete(old);
    }
    for (const old of this.#seen.keys()) {
      if (this.#seen.size <= this.max) break;
      this.#seen.delete(old);
    }
    return false;
  }

  /**
   * Whether any of `keys` was accepted with another `digest` whose ciphertext shares one of `blocks`
   * and is still in its window at `now`, remembering nothing: for a frame refused all the same.
   */
  clashes(keys: readonly string[], digest: string, blocks: readonly string[], now: number): boolean {
    for (const key of keys) {
      for (const seen of this.#seen.get(key) ?? []) {
        if (seen.until < now || seen.digest === digest) continue;
        if (blocks.some((block) => seen.blocks.has(block))) return true;
      }
    }
    return false;
  }

  get size(): number {
    return this.#seen.size;
  }
}

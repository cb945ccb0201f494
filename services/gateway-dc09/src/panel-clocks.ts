import type { KV, KvEntry } from '@telecare/platform';
import { z } from 'zod';
import { ORDER_SPAN, PanelClocks, type PanelSeen } from './clock.ts';

/**
 * How long the first frame of a zoned account at this instance waits for what the bucket holds of
 * its panel's clock; past it the frame is read with what this instance knows (nothing), and counted.
 */
export const CLOCK_READ_WAIT_MS = 250;
/** After a read that failed or waited out, the bucket is not read for this long: memory only. */
export const CLOCK_READ_PAUSE_MS = 10_000;
/**
 * The last frame taken (`PanelSeen.taken`) is written at most this often per account, the latest at
 * the end of the interval; at once when it could change what a stamp is read as (see `note`).
 */
export const TAKEN_WRITE_EVERY_MS = 60_000;
/** What the bucket keeps of an account the gateway hears nothing from: forgotten after a month. */
export const CLOCK_KEEP_MS = 30 * 86_400_000;

/** One account's entry in the bucket (JSON): `PanelSeen`. */
const StoredSeen = z.object({
  clock: z.enum(['zone', 'utc']).optional(),
  taken: z.object({ seq: z.number().int(), at: z.number() }).optional(),
});

interface Written {
  readonly seen: PanelSeen;
  readonly at: number;
}

/**
 * What the gateway last saw of each zoned account's panel clock (`PanelSeen`), shared by every
 * gateway instance and kept across restarts in a KV bucket (key = account), with this instance's
 * memory (`PanelClocks`) in front of it. An account's entry is read from the bucket when its first
 * frame comes to this instance (and again once memory let it go), then answered from memory.
 *
 * Written only when what it knows changes in a way that matters: at once when the clock it was seen
 * on changes, or when the frame was taken near a change of its zone's clocks (a stamp can then mean
 * two instants, and the last frame's place decides which); otherwise the last frame taken at most
 * once per `TAKEN_WRITE_EVERY_MS`, or at once when its sequence number ran so far past the one
 * written that a frame numbered after it would no longer be read as following it.
 *
 * The bucket is never waited on beyond `CLOCK_READ_WAIT_MS`: down, slow or missing, a frame is read
 * with what this instance knows, and writes are tried again at the next interval. Each failure is
 * counted (`unavailable`).
 */
export class SharedPanelClocks {
  readonly #memory: PanelClocks;
  readonly #bucket: AccountBucket;
  readonly #now: () => number;
  /** What was last written (or read) per account, and when. */
  readonly #written = new Map<string, Written>();
  /** Accounts whose last frame taken is newer than what was written. */
  readonly #dirty = new Set<string>();
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(deps: {
    kv: Pick<KV, 'get' | 'put'>;
    /** Elapsed time, for how often to write and how long to leave a failing bucket alone. */
    now?: () => number;
    /** A read or write the bucket did not answer in time, or failed. */
    unavailable: (op: 'read' | 'write') => void;
    max?: number;
    /** Writes the accounts whose last frame taken was held back this often (0: only by `flush`). */
    flushEveryMs?: number;
  }) {
    this.#memory = new PanelClocks(deps.max);
    this.#now = deps.now ?? (() => performance.now());
    this.#bucket = new AccountBucket({ kv: deps.kv, now: this.#now, unavailable: deps.unavailable });
    const every = deps.flushEveryMs ?? TAKEN_WRITE_EVERY_MS;
    if (every > 0) {
      this.#timer = setInterval(() => this.flush(), every);
      this.#timer.unref();
    }
  }

  /** What is known of the account's panel: from memory, else read from the bucket (bounded wait). */
  seen(account: string): PanelSeen | undefined | Promise<PanelSeen | undefined> {
    const known = this.#memory.seen(account);
    if (known !== undefined) return known;
    return this.#bucket.read(
      account,
      (entry) => {
        const parsed =
          entry?.operation === 'PUT' ? StoredSeen.safeParse(safeJson(entry.string())) : undefined;
        // Nothing there, or an entry this version cannot read: nothing known, as before the bucket.
        const seen: PanelSeen = parsed?.success ? withoutUndefined(parsed.data) : {};
        // A frame noted meanwhile (after a read that waited out) knows better: kept.
        if (this.#memory.seen(account) === undefined) {
          this.#memory.note(account, seen);
          this.#remember(account, seen);
        }
        return this.#memory.seen(account);
      },
      () => this.#memory.seen(account),
    );
  }

  /**
   * Notes what a settled frame showed of its panel's clock. `atChange`: the frame was taken near a
   * change of its zone's clocks, where the last frame's place decides what a stamp means.
   */
  note(account: string, seen: PanelSeen, atChange = false): void {
    this.#memory.note(account, seen);
    const now = this.#memory.seen(account) as PanelSeen;
    const written = this.#written.get(account)?.seen;
    if (now.clock !== written?.clock || atChange || this.#takenDue(account, now.taken)) {
      this.#write(account);
      return;
    }
    if (!sameTaken(now.taken, written?.taken)) this.#dirty.add(account);
  }

  #takenDue(account: string, taken: PanelSeen['taken']): boolean {
    if (taken === undefined) return false;
    const written = this.#written.get(account);
    const before = written?.seen.taken;
    if (before === undefined || written === undefined) return true;
    if (sameTaken(taken, before)) return false;
    // A frame numbered up to half the span past this one still follows the one written.
    const ahead = (taken.seq - before.seq + 9999) % 9999;
    return ahead > ORDER_SPAN / 2 || this.#now() - written.at >= TAKEN_WRITE_EVERY_MS;
  }

  /** Writes every account whose last frame taken was held back. */
  flush(): void {
    for (const account of this.#dirty) this.#write(account);
  }

  #write(account: string): void {
    this.#dirty.delete(account);
    let written: Written | undefined;
    this.#bucket.write(
      account,
      () => {
        const seen = this.#memory.seen(account);
        written = seen && { seen, at: this.#now() };
        return seen && JSON.stringify(seen);
      },
      (ok) => {
        if (!written) return;
        if (ok) this.#remember(account, written.seen, written.at);
        // Tried again at the next interval, from what memory knows then.
        else this.#dirty.add(account);
      },
    );
  }

  #remember(account: string, seen: PanelSeen, at = this.#now()): void {
    this.#written.delete(account);
    this.#written.set(account, { seen, at });
    if (this.#written.size > this.#memory.max)
      this.#written.delete(this.#written.keys().next().value as string);
  }

  /** Stops the interval and writes what was held back, waiting at most `waitMs` for the writes. */
  async close(waitMs = 2_000): Promise<void> {
    clearInterval(this.#timer);
    this.flush();
    await this.#bucket.settle(waitMs);
  }
}

/**
 * One bucket keyed by account, never waited on beyond `CLOCK_READ_WAIT_MS`: one read per key at a
 * time, none for `CLOCK_READ_PAUSE_MS` after one failed or waited out, one write per key at a time
 * (asked again meanwhile, written once more after it). Each failure is counted (`unavailable`).
 */
export class AccountBucket {
  readonly #kv: Pick<KV, 'get' | 'put'>;
  readonly #now: () => number;
  readonly #unavailable: (op: 'read' | 'write') => void;
  readonly #reading = new Map<string, Promise<unknown>>();
  readonly #writing = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  #readPausedUntil = Number.NEGATIVE_INFINITY;

  constructor(deps: {
    kv: Pick<KV, 'get' | 'put'>;
    now: () => number;
    unavailable: (op: 'read' | 'write') => void;
  }) {
    this.#kv = deps.kv;
    this.#now = deps.now;
    this.#unavailable = deps.unavailable;
  }

  /** What `take` makes of `key`'s entry (null: none); `fallback` where the bucket fails, is slow or left alone. */
  read<T>(key: string, take: (entry: KvEntry | null) => T, fallback: () => T): T | Promise<T> {
    if (this.#now() < this.#readPausedUntil) {
      this.#unavailable('read');
      return fallback();
    }
    let reading = this.#reading.get(key) as Promise<T> | undefined;
    if (!reading) {
      reading = readWithin(this.#kv, key)
        .then(take)
        .catch(() => {
          this.#unavailable('read');
          this.#readPausedUntil = this.#now() + CLOCK_READ_PAUSE_MS;
          return fallback();
        })
        .finally(() => this.#reading.delete(key));
      this.#reading.set(key, reading);
    }
    return reading;
  }

  /** Writes what `value` gives when its turn comes (nothing: undefined), then tells `done` whether it was stored. */
  write(key: string, value: () => string | undefined, done: (ok: boolean) => void): void {
    if (this.#writing.has(key)) {
      this.#again.add(key);
      return;
    }
    const text = value();
    if (text === undefined) return;
    const writing = this.#kv
      .put(key, text)
      .then(
        () => done(true),
        () => {
          this.#unavailable('write');
          done(false);
        },
      )
      .finally(() => {
        this.#writing.delete(key);
        if (this.#again.delete(key)) this.write(key, value, done);
      });
    this.#writing.set(key, writing);
  }

  /** Waits at most `waitMs` for the writes in flight. */
  async settle(waitMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#writing.values()]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, waitMs);
      }),
    ]);
    clearTimeout(timer);
  }
}

const sameTaken = (a: PanelSeen['taken'], b: PanelSeen['taken']): boolean =>
  a?.seq === b?.seq && a?.at === b?.at;

/**
 * The bucket's entry for `key`, or null where it holds none; throws when the bucket fails or does
 * not answer within `CLOCK_READ_WAIT_MS`.
 */
async function readWithin(kv: Pick<KV, 'get'>, key: string): Promise<KvEntry | null> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<'waited'>((resolve) => {
    timer = setTimeout(() => resolve('waited'), CLOCK_READ_WAIT_MS);
  });
  try {
    const entry = await Promise.race([kv.get(key), waited]);
    if (entry === 'waited') throw new Error('no answer in time');
    return entry;
  } finally {
    clearTimeout(timer);
  }
}

export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

const withoutUndefined = (seen: z.infer<typeof StoredSeen>): PanelSeen => ({
  ...(seen.clock === undefined ? {} : { clock: seen.clock }),
  ...(seen.taken === undefined ? {} : { taken: seen.taken }),
});

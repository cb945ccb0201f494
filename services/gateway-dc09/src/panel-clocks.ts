import type { KV } from '@telecare/platform';
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
  readonly #kv: Pick<KV, 'get' | 'put'>;
  readonly #now: () => number;
  readonly #unavailable: (op: 'read' | 'write') => void;
  /** Reads in flight, one per account. */
  readonly #reading = new Map<string, Promise<PanelSeen | undefined>>();
  /** What was last written (or read) per account, and when. */
  readonly #written = new Map<string, Written>();
  /** Accounts whose last frame taken is newer than what was written. */
  readonly #dirty = new Set<string>();
  /** Writes in flight, one per account; `#again`: to be written again once it is done. */
  readonly #writing = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  #readPausedUntil = Number.NEGATIVE_INFINITY;
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
    this.#kv = deps.kv;
    this.#now = deps.now ?? (() => performance.now());
    this.#unavailable = deps.unavailable;
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
    if (this.#now() < this.#readPausedUntil) {
      this.#unavailable('read');
      return undefined;
    }
    let reading = this.#reading.get(account);
    if (!reading) {
      reading = this.#read(account).finally(() => this.#reading.delete(account));
      this.#reading.set(account, reading);
    }
    return reading;
  }

  async #read(account: string): Promise<PanelSeen | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<'waited'>((resolve) => {
      timer = setTimeout(() => resolve('waited'), CLOCK_READ_WAIT_MS);
    });
    try {
      const entry = await Promise.race([this.#kv.get(account), waited]);
      if (entry === 'waited') throw new Error('no answer in time');
      const parsed = entry?.operation === 'PUT' ? StoredSeen.safeParse(safeJson(entry.string())) : undefined;
      // Nothing there, or an entry this version cannot read: nothing known, as before the bucket.
      const seen: PanelSeen = parsed?.success ? withoutUndefined(parsed.data) : {};
      // A frame noted meanwhile (after a read that waited out) knows better: kept.
      if (this.#memory.seen(account) === undefined) {
        this.#memory.note(account, seen);
        this.#remember(account, seen);
      }
      return this.#memory.seen(account);
    } catch {
      this.#unavailable('read');
      this.#readPausedUntil = this.#now() + CLOCK_READ_PAUSE_MS;
      return this.#memory.seen(account);
    } finally {
      clearTimeout(timer);
    }
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
    if (this.#writing.has(account)) {
      this.#again.add(account);
      return;
    }
    const seen = this.#memory.seen(account);
    if (seen === undefined) return;
    const at = this.#now();
    const writing = this.#kv
      .put(account, JSON.stringify(seen))
      .then(
        () => this.#remember(account, seen, at),
        () => {
          // Tried again at the next interval, from what memory knows then.
          this.#unavailable('write');
          this.#dirty.add(account);
        },
      )
      .finally(() => {
        this.#writing.delete(account);
        if (this.#again.delete(account)) this.#write(account);
      });
    this.#writing.set(account, writing);
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

function safeJson(text: string): unknown {
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

import type { KV } from '@telecare/platform';
import { z } from 'zod';
import { AccountBucket, safeJson } from './panel-clocks.ts';

/**
 * DC-09 encryption is AES-CBC without a MAC: whoever holds back an encrypted frame of three blocks
 * or more can send it changed instead, its first block garbled (16 random bytes, read as a pad when
 * they hold no `|`, `[` or `]`) so that its second says what they want (`|#1234|NMH1]_12:`, a
 * cancel in place of a press). What the protocol leaves to tell such a frame from the panel's is
 * its pad: a panel pads its own way, every frame alike, and a garbled block is random bytes of a
 * block's length. So each account's pads are learned from the frames it had accepted (`PadProfile`)
 * and, once it has shown a style in enough of them, a frame whose pad breaks it is refused as
 * changed without the key (`padBreaks`).
 */

const BLOCK = 16;
/** Accepted frames an account must have shown before a pad is held to its style. */
export const PAD_LEARN_FRAMES = 3;
/**
 * Pad bytes seen, none 8-bit, after which a pad with an 8-bit byte is refused. A panel drawing any
 * byte shows one 8-bit byte in two: 32 without one is less than once in 10^9. A garbled block
 * passes one time in 65 536.
 */
export const PAD_SEVEN_BIT_BYTES = 32;
/**
 * Pad bytes seen, none 8-bit or control, after which a pad with a control byte is refused too. A
 * panel drawing from a range with control bytes in it (dc09_spt draws from 0x14 to 0x7D, one byte
 * in nine a control byte) shows one in 160 bytes but less than once in 10^8. A garbled block of
 * printable bytes only: about once in 10^7.
 */
export const PAD_PRINTABLE_BYTES = 160;
/**
 * A profile is written again on the account's next frame once it has not been for this long, so
 * the bucket's max age (`CLOCK_KEEP_MS`) forgets only accounts the gateway no longer hears.
 */
export const PAD_REFRESH_MS = 7 * 86_400_000;
/** An account's profile in the bucket it shares with the panel clocks: `pad.<ACCOUNT>`. */
export const padKey = (account: string) => `pad.${account}`;

/** What one accepted frame's pad showed. */
export interface PadSeen {
  /** Its length in bytes (0 to 17), its `|` not counted. */
  readonly length: number;
  /** It held an 8-bit byte (0x80 and above). */
  readonly high: boolean;
  /** It held a control byte (below 0x20, or 0x7F). */
  readonly control: boolean;
}

export function padSeen(pad: Uint8Array): PadSeen {
  let high = false;
  let control = false;
  for (const byte of pad) {
    if (byte >= 0x80) high = true;
    else if (byte < 0x20 || byte === 0x7f) control = true;
  }
  return { length: pad.length, high, control };
}

/**
 * What an account's accepted frames showed of its pads, learned under one registry entry of the
 * account (`entry`: its `updatedAt`): a change of the account in the registry starts it anew (a
 * panel whose new firmware pads another way is re-saved by its installer). Only ever widened by a
 * frame noted, so two instances' profiles merge by taking the wider.
 */
export const PadProfile = z.object({
  entry: z.string(),
  /** Accepted frames, counted up to `PAD_LEARN_FRAMES`. */
  frames: z.number().int().min(0),
  /** Pad bytes seen while they could still teach anything, counted up to `PAD_PRINTABLE_BYTES`. */
  bytes: z.number().int().min(0),
  high: z.boolean(),
  control: z.boolean(),
  /** The shortest and longest pad seen. */
  shortest: z.number().int().min(0),
  longest: z.number().int().min(0),
});
export type PadProfile = z.infer<typeof PadProfile>;

/** `profile` (undefined, or learned under another entry: nothing) widened by one frame's pad. */
export function withPad(profile: PadProfile | undefined, seen: PadSeen, entry: string): PadProfile {
  const before = profile?.entry === entry ? profile : undefined;
  const high = (before?.high ?? false) || seen.high;
  const bytes = before?.bytes ?? 0;
  return {
    entry,
    frames: Math.min(PAD_LEARN_FRAMES, (before?.frames ?? 0) + 1),
    // Past an 8-bit byte no byte rule can be learned: not counted (nor written) any more.
    bytes: high ? bytes : Math.min(PAD_PRINTABLE_BYTES, bytes + seen.length),
    high,
    control: (before?.control ?? false) || seen.control,
    shortest: Math.min(before?.shortest ?? seen.length, seen.length),
    longest: Math.max(before?.longest ?? seen.length, seen.length),
  };
}

/**
 * Two profiles together: of one registry entry, what either learned; else the one learned under the
 * later entry (the other is of an entry replaced since).
 */
export function mergePads(a: PadProfile | undefined, b: PadProfile | undefined): PadProfile | undefined {
  if (!a || !b) return a ?? b;
  if (a.entry !== b.entry) return Date.parse(a.entry) >= Date.parse(b.entry) ? a : b;
  return {
    entry: a.entry,
    frames: Math.max(a.frames, b.frames),
    bytes: Math.max(a.bytes, b.bytes),
    high: a.high || b.high,
    control: a.control || b.control,
    shortest: Math.min(a.shortest, b.shortest),
    longest: Math.max(a.longest, b.longest),
  };
}

export const samePads = (a: PadProfile | undefined, b: PadProfile | undefined): boolean =>
  JSON.stringify(a) === JSON.stringify(b);

/**
 * Why `seen` breaks the style `profile` holds the account to (learned under `entry`), or undefined:
 * - a pad of a block or more from a panel that pads only up to the next block (a pad of 0 bytes
 *   seen, never one of 16 or 17): a sender padding a whole block, or 2 to 17 bytes, never pads 0, so
 *   one such frame tells the rule; a garbled first block is read as a pad of 16 or 17;
 * - an 8-bit byte in the pad of a panel whose pads never held one (`PAD_SEVEN_BIT_BYTES`);
 * - a control byte in the pad of a panel whose pads were printable (`PAD_PRINTABLE_BYTES`).
 * Nothing before `PAD_LEARN_FRAMES` frames: an account's first frames cannot be held to a style.
 */
export function padBreaks(profile: PadProfile | undefined, seen: PadSeen, entry: string): string | undefined {
  if (!profile || profile.entry !== entry || profile.frames < PAD_LEARN_FRAMES) return undefined;
  if (profile.shortest === 0 && profile.longest < BLOCK && seen.length >= BLOCK) {
    return `a pad of ${seen.length} bytes, where the account's panel pads only up to the next block (0 to ${profile.longest} bytes seen)`;
  }
  if (!profile.high && profile.bytes >= PAD_SEVEN_BIT_BYTES && seen.high) {
    return `an 8-bit byte in the pad, where the account's panel padded with 7-bit bytes only (${profile.bytes}${profile.bytes >= PAD_PRINTABLE_BYTES ? ' or more' : ''} seen)`;
  }
  if (!profile.high && !profile.control && profile.bytes >= PAD_PRINTABLE_BYTES && seen.control) {
    return `a control byte in the pad, where the account's panel padded with printable bytes only (${PAD_PRINTABLE_BYTES} or more seen)`;
  }
  return undefined;
}

/** Each account's pad profile: read before its frame is judged, noted once an accepted frame is stored. */
export interface PadStyleBook {
  style(account: string): PadProfile | undefined | Promise<PadProfile | undefined>;
  /** An accepted frame's pad, under the account's registry entry `entry` (`updatedAt`). */
  note(account: string, seen: PadSeen, entry: string): void;
}

/** This instance's memory alone: at most `max` accounts, the least recently noted going first. */
export class PadStyles implements PadStyleBook {
  readonly #profiles = new Map<string, PadProfile>();

  constructor(
    readonly max = 100_000,
    /** An account let go to keep within `max`. */
    private readonly evicted: (account: string) => void = () => {},
  ) {}

  style(account: string): PadProfile | undefined {
    return this.#profiles.get(account);
  }

  note(account: string, seen: PadSeen, entry: string): PadProfile {
    return this.set(account, withPad(this.#profiles.get(account), seen, entry));
  }

  set(account: string, profile: PadProfile): PadProfile {
    this.#profiles.delete(account);
    this.#profiles.set(account, profile);
    if (this.#profiles.size > this.max) {
      const oldest = this.#profiles.keys().next().value as string;
      this.#profiles.delete(oldest);
      this.evicted(oldest);
    }
    return profile;
  }
}

/**
 * The pad profiles, shared by every gateway instance and kept across restarts in the panel clocks'
 * bucket (key `pad.<ACCOUNT>`), with this instance's memory in front of it. An account's profile is
 * read from the bucket when its first frame comes to this instance (within `CLOCK_READ_WAIT_MS`),
 * then answered from memory; written only when a frame widens it (while the account's first frames
 * are learned), and again once a week (`PAD_REFRESH_MS`) so the bucket keeps it.
 *
 * The bucket down, slow or missing: a frame is judged by what this instance knows, and an account it
 * knows nothing of is held to no style (a genuine alarm is never refused for the bucket being away).
 * What it learns meanwhile is kept in memory and written only once the bucket has been read (merged
 * with what it holds), never over it. Each failure is counted (`unavailable`).
 */
export class SharedPadStyles implements PadStyleBook {
  readonly #memory: PadStyles;
  readonly #bucket: AccountBucket;
  readonly #wall: () => number;
  /** Accounts read from the bucket, and when their profile was last written there (wall clock). */
  readonly #loaded = new Map<string, number>();

  constructor(deps: {
    kv: Pick<KV, 'get' | 'put'>;
    unavailable: (op: 'read' | 'write') => void;
    /** Elapsed time, for how long to leave a failing bucket alone. */
    now?: () => number;
    /** Wall-clock time, for when a profile was written (the bucket's entries carry it). */
    wall?: () => number;
    max?: number;
  }) {
    // An account memory let go is read from the bucket again at its next frame.
    this.#memory = new PadStyles(deps.max, (account) => this.#loaded.delete(account));
    this.#bucket = new AccountBucket({
      kv: deps.kv,
      now: deps.now ?? (() => performance.now()),
      unavailable: deps.unavailable,
    });
    this.#wall = deps.wall ?? Date.now;
  }

  style(account: string): PadProfile | undefined | Promise<PadProfile | undefined> {
    if (this.#loaded.has(account)) return this.#memory.style(account);
    return this.#bucket.read(
      padKey(account),
      (entry) => {
        const parsed =
          entry?.operation === 'PUT' ? PadProfile.safeParse(safeJson(entry.string())) : undefined;
        const stored = parsed?.success ? parsed.data : undefined;
        // What this instance learned while the bucket was away is added to what the bucket holds.
        const merged = mergePads(stored, this.#memory.style(account));
        this.#loaded.set(account, stored && entry ? entry.created.getTime() : Number.NEGATIVE_INFINITY);
        if (this.#loaded.size > this.#memory.max)
          this.#loaded.delete(this.#loaded.keys().next().value as string);
        if (merged) {
          this.#memory.set(account, merged);
          if (!samePads(merged, stored)) this.#write(account);
        }
        return merged;
      },
      () => this.#memory.style(account),
    );
  }

  note(account: string, seen: PadSeen, entry: string): void {
    const before = this.#memory.style(account);
    const after = this.#memory.note(account, seen, entry);
    const writtenAt = this.#loaded.get(account);
    // Not read from the bucket yet (it was away): written once it is, merged with what it holds.
    if (writtenAt === undefined) return;
    if (!samePads(before, after) || this.#wall() - writtenAt >= PAD_REFRESH_MS) this.#write(account);
  }

  #write(account: string): void {
    let at = this.#wall();
    this.#bucket.write(
      padKey(account),
      () => {
        const profile = this.#memory.style(account);
        at = this.#wall();
        return profile && JSON.stringify(profile);
      },
      // A write that failed is tried again at the account's next frame.
      (ok) => {
        if (this.#loaded.has(account)) this.#loaded.set(account, ok ? at : Number.NEGATIVE_INFINITY);
      },
    );
  }

  /** Waits at most `waitMs` for the writes in flight. */
  close(waitMs = 2_000): Promise<void> {
    return this.#bucket.settle(waitMs);
  }
}

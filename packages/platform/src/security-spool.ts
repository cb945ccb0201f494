import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { SecurityEventKind } from '@telecare/contracts';
import { z } from 'zod';
import { lockStateFolder, type StateFolderLock } from './state-lock.ts';

/** The file a security-event outbox keeps in its state folder. */
export const SECURITY_SPOOL_FILE = 'security-events.jsonl';

const Held = z.object({
  kind: SecurityEventKind,
  at: z.string(),
  body: z.string(),
  msgID: z.string().regex(/^sec_[0-9a-f]{32}$/),
});
const Done = z.object({ done: z.string() });

/** One event read back from a spool: its body and its `Nats-Msg-Id`, as first raised. */
export type SpooledSecurityEvent = z.infer<typeof Held>;

export interface SecuritySpoolOptions {
  /** Lines of events gone past which the file is written again with what is held only. */
  readonly compactAfter: number;
  /** How `done` lines reach the disk (`fs.fdatasync`; tests count the calls). */
  readonly fdatasync?: (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;
  /** Told when `done` lines could not be synced (they may be lost with the machine). */
  readonly onSyncError?: (err: unknown) => void;
  /**
   * The folder, taken already by the caller (`lockStateFolder`, before the process connected
   * anywhere): the spool neither takes it nor lets it go.
   */
  readonly lock?: StateFolderLock;
}

/**
 * What a process crash must not take from a security-event outbox, on disk: an append-only file
 * of one JSON line per event raised (its body and `sec_…` id, synced before the event is held) and
 * one per event that left (`{"done": id}`: stored, refused or dropped past the bound). A `done`
 * line is in the file when `done` returns, and synced off the event loop soon after: every line
 * written while a sync runs goes in the next one, so a burst of them costs one sync, not one each.
 * A machine crash before that sync may send the event again at the next start (the stream's
 * duplicate window and the helpline's store by id take it once). Read back whole at `open`, where
 * a line that does not parse (the last one, torn by a crash mid-write) is skipped, and written
 * again with only what is still held; emptied when the outbox is, and written again once the lines
 * of events gone outnumber `compactAfter`, so the file stays within about twice the outbox's bound.
 *
 * One instance per folder: `open` takes the folder (`lockStateFolder`), refused with a
 * `StateFolderInUseError` while another live process holds it, and `close` lets it go; unless the
 * caller took it first (`lock`), as a service does before it connects to anything.
 */
export class SecuritySpool {
  readonly #file: string;
  readonly #dir: string;
  readonly #compactAfter: number;
  readonly #fdatasync: NonNullable<SecuritySpoolOptions['fdatasync']>;
  readonly #onSyncError: SecuritySpoolOptions['onSyncError'];
  #fd: number | undefined;
  #lock: StateFolderLock | undefined;
  /** Taken by the caller: not ours to let go. */
  readonly #lent: boolean;
  /** Lines of events that left since the file was last written whole. */
  #gone = 0;
  /** `done` lines written to `#fd` that no sync started since has taken. */
  #unsynced = false;
  /** A sync is asked for or running; it goes on while lines come. */
  #syncing: Promise<void> | undefined;
  /** The file a sync runs on now: closed once it ends, not under it. */
  #syncFd: number | undefined;
  #closeAfterSync = false;

  constructor(dir: string, options: SecuritySpoolOptions) {
    this.#dir = dir;
    this.#file = path.join(dir, SECURITY_SPOOL_FILE);
    this.#compactAfter = options.compactAfter;
    this.#fdatasync = options.fdatasync ?? fdatasync;
    this.#onSyncError = options.onSyncError;
    this.#lock = options.lock;
    this.#lent = options.lock !== undefined;
  }

  /**
   * Reads what the file holds and not done, oldest first, and the count of lines skipped as
   * unreadable; writes the file again with only those events, then takes new lines.
   */
  open(): { events: SpooledSecurityEvent[]; skipped: number } {
    mkdirSync(this.#dir, { recursive: true });
    this.#lock ??= lockStateFolder(this.#dir);
    let text = '';
    try {
      text = readFileSync(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const held = new Map<string, SpooledSecurityEvent>();
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        skipped++;
        continue;
      }
      const event = Held.safeParse(value);
      if (event.success) {
        held.set(event.data.msgID, event.data);
        continue;
      }
      const done = Done.safeParse(value);
      if (done.success) held.delete(done.data.done);
      else skipped++;
    }
    const events = [...held.values()];
    this.#rewrite(events);
    return { events, skipped };
  }

  /** Appends `event` and syncs it to disk: it survives a crash of the process or the machine. */
  add(event: SpooledSecurityEvent): void {
    const fd = this.#open();
    writeSync(fd, `${JSON.stringify(event)}\n`);
    fdatasyncSync(fd);
  }

  /**
   * Notes that the event `msgID` left, with `left` events still held; `held` lists them, oldest
   * first, to write the file whole when the lines of events gone pass the bound (nothing left:
   * the file is emptied).
   */
  done(msgID: string, left: number, held: () => readonly SpooledSecurityEvent[]): void {
    if (left === 0) {
      const fd = this.#open();
      ftruncateSync(fd, 0);
      fdatasyncSync(fd);
      this.#unsynced = false;
      this.#gone = 0;
      return;
    }
    writeSync(this.#open(), `${JSON.stringify({ done: msgID })}\n`);
    if (++this.#gone > this.#compactAfter) this.#rewrite(held());
    else this.#syncSoon();
  }

  /** Resolves once the `done` lines written so far are synced (or their sync failed). */
  async synced(): Promise<void> {
    while (this.#syncing) await this.#syncing;
  }

  /** Syncs what is written and closes the file; lets the folder go. */
  close(): void {
    this.#closeFile({ sync: true });
    if (!this.#lent) this.#lock?.release();
    this.#lock = undefined;
  }

  #syncSoon(): void {
    this.#unsynced = true;
    // After the lines of this turn of the event loop: they go in one sync.
    this.#syncing ??= Promise.resolve()
      .then(() => this.#syncLoop())
      .finally(() => {
        this.#syncing = undefined;
      });
  }

  async #syncLoop(): Promise<void> {
    while (this.#unsynced && this.#fd !== undefined) {
      const fd = this.#fd;
      this.#unsynced = false;
      this.#syncFd = fd;
      const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => this.#fdatasync(fd, resolve));
      this.#syncFd = undefined;
      if (this.#closeAfterSync) {
        this.#closeAfterSync = false;
        closeSync(fd);
      }
      if (err) this.#onSyncError?.(err);
    }
  }

  /** Closes the file, synced first if `sync` and lines are not yet; a sync running on it ends first. */
  #closeFile(options: { sync: boolean }): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    if (options.sync && (this.#unsynced || this.#syncFd === fd)) fdatasyncSync(fd);
    this.#unsynced = false;
    if (this.#syncFd === fd) this.#closeAfterSync = true;
    else closeSync(fd);
  }

  #open(): number {
    this.#fd ??= openSync(this.#file, 'a');
    return this.#fd;
  }

  /** Replaces the file with `events`, synced, by a rename: a crash leaves the old file or the new. */
  #rewrite(events: readonly SpooledSecurityEvent[]): void {
    // What it holds is written again in full, synced: its own lines need no sync.
    this.#closeFile({ sync: false });
    const next = `${this.#file}.next`;
    const fd = openSync(next, 'w');
    try {
      if (events.length > 0) writeSync(fd, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(next, this.#file);
    const dir = openSync(this.#dir, 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
    this.#gone = 0;
  }
}

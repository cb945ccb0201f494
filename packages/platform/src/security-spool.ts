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
 * of one JSON line per event raised (its body and `sec_…` id) and one per event that left
 * (`{"done": id}`: stored, refused or dropped past the bound). Every line is in the file when
 * `add` or `done` returns, and synced off the event loop soon after: every line written while a
 * sync runs goes in the next one, so a burst of them costs one sync, not one each. `add` answers
 * when its line is synced, for a caller that must not answer before the event is on disk.
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
  /** Lines written to `#fd` that no sync started since has taken. */
  #unsynced = false;
  /** Lines written, counted: a sync takes those written before it started. */
  #written = 0;
  /** `add`s waiting for their line to be synced, oldest first, by the count of their line. */
  #waiting: Array<{ readonly line: number; readonly synced: () => void }> = [];
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

  /**
   * Appends `event`, in the file (it survives a crash of the process) when this returns; resolves
   * once it is synced (it survives a crash of the machine too), or its sync failed (`onSyncError`).
   * Never rejects. The events added in one turn of the event loop are synced together.
   */
  add(event: SpooledSecurityEvent): Promise<void> {
    writeSync(this.#open(), `${JSON.stringify(event)}\n`);
    const line = ++this.#written;
    const synced = new Promise<void>((resolve) => this.#waiting.push({ line, synced: resolve }));
    this.#syncSoon();
    return synced;
  }

  /**
   * Notes that the event `msgID` left, with `left` events still held; `held` lists them, oldest
   * first, to write the file whole when the lines of events gone pass the bound (nothing left:
   * the file is emptied).
   */
  done(msgID: string, left: number, held: () => readonly SpooledSecurityEvent[]): void {
    if (left === 0) {
      // Every line gone, synced like a `done` line: a machine crash before then sends them again.
      ftruncateSync(this.#open(), 0);
      this.#gone = 0;
      this.#syncSoon();
      return;
    }
    writeSync(this.#open(), `${JSON.stringify({ done: msgID })}\n`);
    this.#written++;
    if (++this.#gone > this.#compactAfter) this.#rewrite(held());
    else this.#syncSoon();
  }

  /** Resolves once the lines written so far are synced (or their sync failed). */
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
        // Lines written once the loop had ended (by a caller its answers woke) go in a sync of their own.
        if (this.#unsynced && this.#fd !== undefined) this.#syncSoon();
      });
  }

  async #syncLoop(): Promise<void> {
    while (this.#unsynced && this.#fd !== undefined) {
      const fd = this.#fd;
      const upTo = this.#written;
      this.#unsynced = false;
      this.#syncFd = fd;
      const err = await new Promise<NodeJS.ErrnoException | null>((resolve) => this.#fdatasync(fd, resolve));
      this.#syncFd = undefined;
      if (this.#closeAfterSync) {
        this.#closeAfterSync = false;
        closeSync(fd);
      }
      if (err) this.#onSyncError?.(err);
      this.#synced(upTo);
    }
  }

  /** Answers the `add`s whose lines, up to the `upTo`th written, are synced (or will never be). */
  #synced(upTo: number): void {
    let n = 0;
    while (n < this.#waiting.length && (this.#waiting[n]?.line ?? 0) <= upTo) n++;
    for (const { synced } of this.#waiting.splice(0, n)) synced();
  }

  /** Closes the file, synced first if `sync` and lines are not yet; a sync running on it ends first. */
  #closeFile(options: { sync: boolean }): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    this.#fd = undefined;
    if (options.sync && (this.#unsynced || this.#syncFd === fd)) {
      try {
        fdatasyncSync(fd);
      } catch (err) {
        this.#onSyncError?.(err);
      }
      this.#synced(this.#written);
    }
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
    try {
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
    } finally {
      // Every event still held is in the new file, synced; or the write failed (the caller is told),
      // and no `add` is left waiting for a sync of a file closed under it.
      this.#synced(this.#written);
    }
  }
}

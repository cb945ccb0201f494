import {
  closeSync,
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

/**
 * What a process crash must not take from a security-event outbox, on disk: an append-only file
 * of one JSON line per event raised (its body and `sec_…` id, synced before the event is held) and
 * one per event that left (`{"done": id}`: stored, refused or dropped past the bound; not synced,
 * so a machine crash may send an event again, which the stream's duplicate window and the
 * helpline's store by id take once). Read back whole at `open`, where a line that does not parse
 * (the last one, torn by a crash mid-write) is skipped, and written again with only what is still
 * held; emptied when the outbox is, and written again once the lines of events gone outnumber
 * `compactAfter`, so the file stays within about twice the outbox's bound.
 */
export class SecuritySpool {
  readonly #file: string;
  readonly #dir: string;
  readonly #compactAfter: number;
  #fd: number | undefined;
  /** Lines of events that left since the file was last written whole. */
  #gone = 0;

  constructor(dir: string, options: { compactAfter: number }) {
    this.#dir = dir;
    this.#file = path.join(dir, SECURITY_SPOOL_FILE);
    this.#compactAfter = options.compactAfter;
  }

  /**
   * Reads what the file holds and not done, oldest first, and the count of lines skipped as
   * unreadable; writes the file again with only those events, then takes new lines.
   */
  open(): { events: SpooledSecurityEvent[]; skipped: number } {
    mkdirSync(this.#dir, { recursive: true });
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
      this.#gone = 0;
      return;
    }
    writeSync(this.#open(), `${JSON.stringify({ done: msgID })}\n`);
    if (++this.#gone > this.#compactAfter) this.#rewrite(held());
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #open(): number {
    this.#fd ??= openSync(this.#file, 'a');
    return this.#fd;
  }

  /** Replaces the file with `events`, synced, by a rename: a crash leaves the old file or the new. */
  #rewrite(events: readonly SpooledSecurityEvent[]): void {
    this.close();
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

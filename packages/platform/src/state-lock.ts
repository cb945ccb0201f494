import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { TelecareError } from './errors.ts';

/** The file in a state folder that names the process using it. */
export const STATE_LOCK_FILE = 'instance.lock';
/** How often a holder touches its lock file, so that a process on another host can tell it lives. */
const TOUCH_MS = 5_000;
/** A lock written on another host (another container) and untouched this long is a dead one's. */
export const STATE_LOCK_STALE_MS = 30_000;

/** Another live instance holds the state folder: this one must not start on it. */
export class StateFolderInUseError extends TelecareError {
  readonly retryable = false;
  readonly folder: string;
  readonly pid: number;

  constructor(folder: string, owner: { pid: number; host?: string | undefined }) {
    const where = owner.host && owner.host !== hostname() ? ` on host ${owner.host}` : '';
    super(
      `the state folder ${folder} is in use by another instance (process ${owner.pid}${where}, ` +
        `its ${STATE_LOCK_FILE}): each instance needs a folder of its own`,
      { context: { folder, pid: owner.pid, host: owner.host } },
    );
    this.folder = folder;
    this.pid = owner.pid;
  }
}

const Owner = z.object({
  pid: z.number().int().positive(),
  token: z.string(),
  host: z.string().optional(),
  /** The kernel's boot id: a lock from an earlier boot is a dead process's whatever its pid. */
  boot: z.string().optional(),
  /** The process's start time in clock ticks since boot: a pid used again starts later. */
  start: z.string().optional(),
});
type Owner = z.infer<typeof Owner>;

/** The tokens of the locks this process holds, by lock file. */
const held = new Map<string, string>();

function readProc(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

const bootId = (): string | undefined => readProc('/proc/sys/kernel/random/boot_id')?.trim();

/** Fields 3 on of `/proc/<pid>/stat` (after the command, which may hold spaces, in parentheses). */
function statOf(pid: number): string[] | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The process's start time (field 22), in clock ticks since boot. */
const startOf = (pid: number): string | undefined => statOf(pid)?.[19];

/** Whether the process that wrote `owner` into `file` still runs. */
function lives(owner: Owner, file: string): boolean {
  if (owner.host !== undefined && owner.host !== hostname()) {
    // Its processes are not ours to see: it lives while it touches its file.
    const touched = statSync(file, { throwIfNoEntry: false })?.mtimeMs;
    return touched !== undefined && Date.now() - touched < STATE_LOCK_STALE_MS;
  }
  // This process's pid: a predecessor's (a container's first process), unless this process took it.
  if (owner.pid === process.pid) return held.get(file) === owner.token;
  const boot = bootId();
  if (owner.boot !== undefined && boot !== undefined && owner.boot !== boot) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: it runs, as another user.
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const stat = statOf(owner.pid);
  // Killed and not yet reaped by its parent (a zombie): it holds nothing any more.
  if (stat?.[0] === 'Z' || stat?.[0] === 'X') return false;
  const start = stat?.[19];
  return owner.start === undefined || start === undefined || start === owner.start;
}

/**
 * Who holds `file`: undefined when there is no lock, null when it cannot be read (a lock is
 * written aside and linked in whole, so only damage makes one unreadable: no live holder's).
 */
function ownerIn(file: string): Owner | undefined | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const owner = Owner.safeParse(JSON.parse(text));
    return owner.success ? owner.data : null;
  } catch {
    return null;
  }
}

/** A state folder held by this process until `release`. */
export interface StateFolderLock {
  /** The folder taken. */
  readonly dir: string;
  readonly file: string;
  release(): void;
}

/**
 * Takes the state folder `dir` for this process, or throws `StateFolderInUseError` naming the
 * process that holds it. The lock is a file, `instance.lock`, naming its holder (pid, host, boot
 * and start time), made whole aside and linked in, so that of two starting at once one makes it;
 * a lock whose holder is gone (killed, the machine restarted, a pid now another process's) is
 * taken over. A holder on another host (another container sharing the folder) cannot be seen:
 * its lock counts while it is touched, every 5 s, and is taken over 30 s after it stopped.
 */
export function lockStateFolder(dir: string): StateFolderLock {
  const file = path.join(dir, STATE_LOCK_FILE);
  const mine: Owner = {
    pid: process.pid,
    token: randomUUID(),
    host: hostname(),
    boot: bootId(),
    start: startOf(process.pid),
  };
  const aside = `${file}.${mine.token}`;
  const fd = openSync(aside, 'wx');
  try {
    writeSync(fd, `${JSON.stringify(mine)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    for (;;) {
      try {
        linkSync(aside, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = ownerIn(file);
      if (owner === undefined) continue;
      if (owner !== null && lives(owner, file)) throw new StateFolderInUseError(dir, owner);
      takeOver(file, owner);
    }
  } finally {
    unlinkSync(aside);
  }
  held.set(file, mine.token);
  const touch = setInterval(() => {
    const now = new Date();
    try {
      utimesSync(file, now, now);
    } catch {
      // Gone or unwritable: the next start judges the lock by its holder's pid, or by its age.
    }
  }, TOUCH_MS);
  touch.unref();
  return {
    dir,
    file,
    release: () => {
      clearInterval(touch);
      if (held.get(file) !== mine.token) return;
      held.delete(file);
      if (ownerIn(file)?.token === mine.token) unlinkSync(file);
    },
  };
}

/**
 * Moves a dead holder's lock out of the way. Another process may have taken it over meanwhile:
 * what was moved is read again, and a live one's lock put back.
 */
function takeOver(file: string, dead: Owner | null): void {
  const moved = `${file}.stale-${randomUUID()}`;
  try {
    renameSync(file, moved);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    const owner = ownerIn(moved);
    if (owner && owner.token !== dead?.token) {
      try {
        linkSync(moved, file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  } finally {
    unlinkSync(moved);
  }
}

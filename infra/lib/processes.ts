import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** True while the process runs. A zombie counts as gone: some container inits reap them late. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Guards against pid reuse: the running process must still be the one we started. */
export function commandLineIncludes(pid: number, needle: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(needle);
  } catch {
    return true;
  }
}

export function readPidFile(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The pid recorded in `file` when that process still runs `needle`; a stale file is removed. */
export function runningPid(file: string, needle: string): number | undefined {
  const pid = readPidFile(file);
  if (pid !== undefined && isAlive(pid) && commandLineIncludes(pid, needle)) return pid;
  if (existsSync(file)) rmSync(file, { force: true });
  return undefined;
}

export interface StopOptions {
  /** The pid leads its own process group (spawned detached): leftovers in the group die too. */
  readonly group: boolean;
  readonly graceMs?: number;
  readonly onKill?: () => void;
}

/**
 * SIGTERM, wait up to graceMs for a drain, then SIGKILL. Only the leader gets SIGTERM: tsx relays
 * it to the node process it runs, and a second copy would look like an impatient operator.
 */
export async function stopProcess(
  pid: number,
  { group, graceMs = 10_000, onKill }: StopOptions,
): Promise<void> {
  const signal = (sig: NodeJS.Signals, target: number) => {
    try {
      process.kill(target, sig);
    } catch {
      // already gone
    }
  };
  if (!isAlive(pid)) {
    if (group && groupAlive(pid)) signal('SIGKILL', -pid);
    return;
  }
  signal('SIGTERM', pid);
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) {
    onKill?.();
    signal('SIGKILL', group ? -pid : pid);
    signal('SIGKILL', pid);
    const killDeadline = Date.now() + 2_000;
    while (isAlive(pid) && Date.now() < killDeadline) await sleep(50);
  } else if (group && groupAlive(pid)) {
    signal('SIGKILL', -pid);
  }
}

/** The last `lines` lines of a log file, read from its end so large logs stay cheap. */
export function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const text = buffer.toString('utf8').trimEnd();
    return text === '' ? `(log ${file} is empty)` : text.split('\n').slice(-lines).join('\n');
  } finally {
    closeSync(fd);
  }
}

/** True when something accepts a TCP connection on host:port. */
export function tcpAnswers(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** HTTP status of a GET, or undefined when nothing answered. */
export function httpStatus(url: string, timeoutMs = 2_000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(undefined));
  });
}

export class NotReadyError extends Error {
  override readonly name = 'NotReadyError';
  constructor(
    readonly service: string,
    readonly reason: string,
  ) {
    super(`${service} ${reason}`);
  }
}

export interface WaitReadyOptions {
  readonly service: string;
  readonly url: string;
  readonly timeoutMs: number;
  /** Fails fast when the process has exited instead of waiting out the timeout. */
  readonly exited: () => string | undefined;
}

/** Polls GET url until it returns 200. */
export async function waitReady({ service, url, timeoutMs, exited }: WaitReadyOptions): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: number | undefined;
  for (;;) {
    last = await httpStatus(url);
    if (last === 200) return;
    const exit = exited();
    if (exit !== undefined) throw new NotReadyError(service, `exited before it was ready (${exit})`);
    if (Date.now() >= deadline) {
      throw new NotReadyError(
        service,
        `was not ready within ${Math.round(timeoutMs / 1000)} s: GET ${url} ${last === undefined ? 'got no answer' : `returned ${last}`}`,
      );
    }
    await sleep(250);
  }
}

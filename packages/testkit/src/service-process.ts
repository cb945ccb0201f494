import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './index.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export type ServiceName = 'registry' | 'helpline' | 'triage' | 'gateway-mqtt' | 'gateway-dc09';

/** The variable each service reads its HTTP port from. */
const PORT_VARIABLE: Record<ServiceName, string> = {
  registry: 'REGISTRY_PORT',
  helpline: 'HELPLINE_PORT',
  triage: 'TRIAGE_PORT',
  'gateway-mqtt': 'GATEWAY_MQTT_PORT',
  'gateway-dc09': 'GATEWAY_DC09_PORT',
};

/**
 * A service running in a process of its own, as deployed (`node --import tsx services/<name>/src/main.ts`,
 * or its bundle with `BENCH_SERVICE_BUILD`).
 */
export interface ServiceProcess {
  readonly name: ServiceName;
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** SIGTERM (the service drains), SIGKILL after 15 s; resolves once it has exited. */
  close(): Promise<void>;
}

/**
 * Starts a service in a child process on a free HTTP port, its output in `<logDir>/<name>.log`,
 * and resolves once its `/readyz` answers 200 (fails if it exits or is not ready in 60 s, with the
 * end of its log in the error). A port found free and then taken before the service bound it (by
 * another process's outgoing connection, on a machine running tests side by side) is tried again
 * on another port; the error names the port in use when it was one the caller chose in `env`.
 */
export async function spawnService(
  name: ServiceName,
  env: Record<string, string>,
  logDir: string,
): Promise<ServiceProcess> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnOnce(name, env, logDir);
    } catch (err) {
      if (!(err instanceof PortTakenError) || err.port === undefined || attempt === 3) throw err;
    }
  }
}

/** A service that exited because a port it was to listen on was in use: `port` when it was its HTTP port. */
export class PortTakenError extends Error {
  constructor(
    message: string,
    readonly port: number | undefined,
  ) {
    super(message);
  }
}

/** The last lines of a log file, for an error that says why a service stopped. */
const tail = (file: string, lines = 20): string => {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
};

/**
 * Whether process `pid` holds a socket listening on TCP `port` (Linux's `/proc`), or undefined
 * where `/proc` cannot tell. A port found free is free only for a moment: another test's process
 * may listen on it before this service does, and answer its `/readyz`.
 */
export function listensOn(pid: number, port: number): boolean | undefined {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  let read = false;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    read = true;
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address, state (0A: listening), inode.
      if (fields[1]?.endsWith(hex) && fields[3] === '0A' && fields[9]) inodes.add(fields[9]);
    }
  }
  if (!read) return undefined;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined;
  }
  return fds.some((fd) => {
    try {
      return inodes.has(/^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? '');
    } catch {
      return false;
    }
  });
}

async function spawnOnce(
  name: ServiceName,
  env: Record<string, string>,
  logDir: string,
): Promise<ServiceProcess> {
  const port = await freePort();
  const logFile = path.join(logDir, `${name}.log`);
  const out = openSync(logFile, 'a');
  // BENCH_CPU_PROF=<folder>: each service writes a V8 CPU profile there when it exits.
  const profile = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  // BENCH_SERVICE_BUILD=<folder> (in `env` or this process's): run the service's bundle
  // `<folder>/<name>.mjs` (`pnpm build:services`) instead of its TypeScript through tsx.
  const built = env.BENCH_SERVICE_BUILD ?? process.env.BENCH_SERVICE_BUILD;
  const entry = built
    ? [path.resolve(built, `${name}.mjs`)]
    : ['--import', 'tsx', path.join(root, 'services', name, 'src', 'main.ts')];
  const child = spawn(process.execPath, [...profile, ...entry], {
    cwd: root,
    env: { ...process.env, ...env, [PORT_VARIABLE[name]]: String(port) },
    stdio: ['ignore', out, out],
  });
  const url = `http://127.0.0.1:${port}`;
  const close = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timeout = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timeout);
  };
  const service: ServiceProcess = { name, port, url, child, logFile, close };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      const last = tail(logFile);
      const message = `${name} exited (${child.exitCode}); see ${logFile}:\n${last}`;
      if (/EADDRINUSE/.test(last))
        throw new PortTakenError(
          message,
          new RegExp(`EADDRINUSE[^\\n]*:${port}\\b`).test(last) ? port : undefined,
        );
      throw new Error(message);
    }
    const ready = await fetch(`${url}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    // Ready, and the answer its own: not another process's that took the port first (this one
    // then stops, on EADDRINUSE or for a reason of its own, and is reported as such below).
    if (ready && child.pid !== undefined && listensOn(child.pid, port) !== false) return service;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`${name} not ready within 60 s; see ${logFile}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

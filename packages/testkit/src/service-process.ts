import { type ChildProcess, spawn } from 'node:child_process';
import { openSync } from 'node:fs';
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

/** A service running in a process of its own, as deployed (`node --import tsx services/<name>/src/main.ts`). */
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
 * and resolves once its `/readyz` answers 200 (fails if it exits or is not ready in 60 s).
 */
export async function spawnService(
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
  const child = spawn(
    process.execPath,
    [...profile, '--import', 'tsx', path.join(root, 'services', name, 'src', 'main.ts')],
    {
      cwd: root,
      env: { ...process.env, ...env, [PORT_VARIABLE[name]]: String(port) },
      stdio: ['ignore', out, out],
    },
  );
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
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}); see ${logFile}`);
    const ready = await fetch(`${url}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ready) return service;
    if (Date.now() > deadline) {
      await close();
      throw new Error(`${name} not ready within 60 s; see ${logFile}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * The stack in the foreground with simulated homes: `pnpm demo`.
 *
 * Servers up (servers.sh), the device broker (infra/lib/broker.ts: a dynamic-security Mosquitto
 * of its own unless --insecure-broker), every service as a child process with its output prefixed
 * `[name] …`, then a demo operator (through the helpline's API) and three simulated homes logging
 * in with the secrets the registry issues. Ctrl-C stops the homes, then the services, then the
 * broker and servers this run started, and exits 0.
 * See infra/README.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { credentialsWanted, dynsecDir, secureBroker, stopDynsec } from './lib/broker.ts';
import { childEnv, type EnvValues, resolveStackEnv, saveStackEnv } from './lib/env.ts';
import { demoSignInLink, ensureDemoOperator, operatorLine, signInLine } from './lib/logins.ts';
import { banner, bold, green, linePrefixer, makeLog } from './lib/output.ts';
import { pidsDir, rel, repoRoot, stackEnvFile, tsxBin } from './lib/paths.ts';
import { isAlive, NotReadyError, runningPid, stopProcess, tcpAnswers, waitReady } from './lib/processes.ts';
import { reportsLines } from './lib/reports.ts';
import { ourServers, runServers } from './lib/servers.ts';
import {
  baseUrlOf,
  entryOf,
  hostOf,
  ownEnvOf,
  portOf,
  runnableServices,
  type ServiceSpec,
  simulatorEntry,
} from './lib/services.ts';

const log = makeLog('demo');
const READY_TIMEOUT_MS = 60_000;
const HOMES = 3;

interface Running {
  readonly name: string;
  readonly child: ChildProcess;
  exit?: string;
  /** Set while we stop it on purpose, so its exit is not reported as a crash. */
  stopping?: boolean;
}

const children: Running[] = [];
/** Everything started and ready: from here on an exit is news rather than a start-up failure. */
let steady = false;
let width = 8;

function startChild(name: string, args: readonly string[], values: EnvValues): Running {
  const child = spawn(tsxBin, [...args], {
    cwd: repoRoot,
    env: { ...childEnv(values), FORCE_COLOR: process.stdout.isTTY ? '1' : '0' },
    // Own process group: the terminal's Ctrl-C reaches only us, so we decide the stop order.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const running: Running = { name, child };
  const write = linePrefixer(name, children.length, width);
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', write);
  }
  child.once('error', (err) => {
    running.exit = err.message;
    log.error(`${name}: ${err.message}`);
  });
  child.once('exit', (code, signal) => {
    running.exit = signal ? `signal ${signal}` : `exit code ${code}`;
    if (steady && !running.stopping && !shuttingDown)
      log.warn(`${name} stopped on its own (${running.exit}); Ctrl-C ends the demo`);
  });
  children.push(running);
  return running;
}

async function stopChild(running: Running): Promise<void> {
  const pid = running.child.pid;
  if (pid === undefined || running.exit !== undefined) return;
  running.stopping = true;
  await stopProcess(pid, {
    group: true,
    onKill: () => log.warn(`${running.name}: still running after 10 s; SIGKILL`),
  });
}

let shuttingDown = false;
/** Servers of ours already running before this demo: left alone on the way out. */
let serversBefore: Set<string> | undefined;
let stackValues: EnvValues = {};
/** Set when this demo started the dynamic-security broker: it stops it on the way out. */
let brokerStarted = false;

async function shutdown(code: number): Promise<never> {
  if (shuttingDown) return new Promise<never>(() => {});
  shuttingDown = true;
  const homes = children.filter((running) => running.name === 'homes');
  const rest = children.filter((running) => running.name !== 'homes');
  if (homes.length > 0) {
    log.info('stopping simulated homes');
    await Promise.all(homes.map(stopChild));
  }
  if (rest.length > 0) {
    log.info(`stopping services: ${rest.map((running) => running.name).join(', ')}`);
    await Promise.all(rest.map(stopChild));
  }
  if (brokerStarted && stopDynsec()) log.info('stopped the device broker this demo started');
  const before = serversBefore;
  const serversWeStarted = before ? ourServers(stackValues).filter((name) => !before.has(name)) : [];
  if (serversWeStarted.length > 0) {
    log.info(`stopping the servers this demo started: ${serversWeStarted.join(', ')}`);
    runServers('down', stackValues, serversWeStarted);
  }
  log.info(code === 0 ? 'stopped' : 'stopped after an error');
  process.exit(code);
}

// Last resort when we exit on a path that skipped shutdown(): no orphaned services.
process.on('exit', () => {
  for (const { child, exit } of children) {
    if (child.pid !== undefined && exit === undefined && isAlive(child.pid)) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
});

let signals = 0;
const onSignal = (signal: NodeJS.Signals) => {
  signals += 1;
  if (signals === 1) {
    console.log('');
    log.info(`${signal}: shutting down (again to force)`);
    void shutdown(0);
    return;
  }
  // Impatient second Ctrl-C: kill what is left, still stop our servers.
  for (const { child, exit } of children) {
    if (child.pid !== undefined && exit === undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

async function main(): Promise<void> {
  // stackValues keeps the servers' own URLs: shutdown() hands them to servers.sh.
  stackValues = resolveStackEnv();
  serversBefore = new Set(ourServers(stackValues));
  if (runServers('up', stackValues) !== 0) {
    log.error('servers are not all reachable; see the messages above');
    return shutdown(1);
  }
  if (shuttingDown) return;
  const { values, setup } = await secureBroker(stackValues, { wanted: credentialsWanted(process.argv) });
  if (setup.kind === 'own') {
    brokerStarted = setup.started;
    log.info(
      `device broker: dynamic-security Mosquitto on 127.0.0.1:${setup.port} ${
        setup.started ? 'started' : 'already running'
      } (state in ${rel(dynsecDir)})`,
    );
  } else if (setup.kind === 'insecure') {
    log.warn(`device credentials off: devices use the anonymous broker at ${stackValues.MQTT_URL}`);
  }
  if (shuttingDown) return;

  if (!existsSync(tsxBin)) {
    log.error(`${rel(tsxBin)} is missing: run \`pnpm install\` first`);
    return shutdown(1);
  }
  saveStackEnv(values);

  const runnable = runnableServices(log.warn);
  for (const service of runnable) {
    const port = portOf(service, values);
    const background = runningPid(
      path.join(pidsDir, `${service.name}.pid`),
      path.join('services', service.name, 'src', 'main.ts'),
    );
    if (background !== undefined) {
      log.error(
        `${service.name} is already running in the background (pid ${background}): run \`pnpm stack down\` first`,
      );
      return shutdown(1);
    }
    if (await tcpAnswers(hostOf().replace(/^\[|\]$/g, ''), port)) {
      log.error(
        `${service.name}: port ${port} is already taken; stop that process or set ${service.portEnv}`,
      );
      return shutdown(1);
    }
  }

  width = Math.max(width, ...runnable.map((service) => service.name.length));
  const started: { service: ServiceSpec; running: Running }[] = [];
  for (const service of runnable) {
    if (shuttingDown) return;
    started.push({
      service,
      // Under the supervisor: a crash is started again (infra/supervise.ts).
      running: startChild(
        service.name,
        [path.join('infra', 'supervise.ts'), path.relative(repoRoot, entryOf(service))],
        { ...values, ...ownEnvOf(service) },
      ),
    });
  }
  log.info(`waiting for ${started.map(({ service }) => service.name).join(', ')} to be ready`);
  const results = await Promise.allSettled(
    started.map(({ service, running }) =>
      waitReady({
        service: service.name,
        url: `${baseUrlOf(service, values)}/readyz`,
        timeoutMs: READY_TIMEOUT_MS,
        exited: () => running.exit,
      }),
    ),
  );
  if (shuttingDown) return;
  const failures = results.flatMap((result) =>
    result.status === 'rejected' ? [result.reason as unknown] : [],
  );
  if (failures.length > 0) {
    for (const failure of failures)
      log.error(failure instanceof NotReadyError ? failure.message : String(failure));
    log.error('not every service became ready; their output is above');
    return shutdown(1);
  }

  // The admin is seeded by the helpline itself; the operator goes through its API, as a person would add one.
  const helpline = started.find(({ service }) => service.name === 'helpline');
  const operator = helpline
    ? await ensureDemoOperator(baseUrlOf(helpline.service, values), values)
    : undefined;
  if (operator?.status === 'failed') log.warn(`demo operator not created: ${operator.reason}`);
  // One click and the newcomer is the operator the homes' presses are offered to.
  const signIn =
    helpline && operator && operator.status !== 'failed'
      ? await demoSignInLink(baseUrlOf(helpline.service, values), values).catch((err: Error) => err)
      : undefined;
  if (shuttingDown) return;
  const reports = started.find(({ service }) => service.name === 'reports');
  if (reports)
    log.info(
      'registering a commissioning cohort and seeding the reports with two simulated months across 12 postcode districts',
    );
  const commissioner = await reportsLines(reports && baseUrlOf(reports.service, values), values, log.info);
  if (shuttingDown) return;

  let homesLine = `${'simulated homes'.padEnd(18)} ${HOMES}`;
  if (existsSync(simulatorEntry)) {
    startChild('homes', [path.relative(repoRoot, simulatorEntry), 'homes', '--homes', String(HOMES)], values);
  } else {
    log.warn(`skipping simulated homes: ${rel(simulatorEntry)} does not exist yet`);
    homesLine = `${'simulated homes'.padEnd(18)} none (simulators not written yet)`;
  }

  steady = true;
  console.log(
    banner(
      values,
      started.map(({ service }) => service),
      [
        ...(operator ? [operatorLine(operator)] : []),
        ...(signIn ? [signInLine(signIn)] : []),
        ...commissioner,
        homesLine,
        `${'environment'.padEnd(18)} ${rel(stackEnvFile)}`,
        `${green('running')} — ${bold('Ctrl-C')} stops everything`,
      ],
    ),
  );
}

main().catch((err: unknown) => {
  log.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  void shutdown(1);
});

/**
 * The whole stack in the background: `pnpm stack up|down|status`.
 *
 * up     servers.sh up, the device broker (infra/lib/broker.ts: a dynamic-security Mosquitto of
 *        its own unless --insecure-broker), then every service detached (logs in .data/logs, pids
 *        in .data/pids), waits for each /readyz, creates the demo operator, writes .data/stack.env, prints the
 *        console URLs, the console sign-ins and the token.
 * down   stops the services (SIGTERM, 10 s, SIGKILL), the device broker, then servers.sh down.
 * status servers, services, readiness.
 *
 * See infra/README.md. Node built-ins only, run by tsx.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';
import { credentialsWanted, dynsecDir, dynsecPid, secureBroker, stopDynsec } from './lib/broker.ts';
import { childEnv, type EnvValues, resolveStackEnv, saveStackEnv } from './lib/env.ts';
import { ensureDemoOperator, operatorLine } from './lib/logins.ts';
import { banner, bold, green, makeLog, red, yellow } from './lib/output.ts';
import { logsDir, pidsDir, rel, repoRoot, stackEnvFile, tsxBin } from './lib/paths.ts';
import {
  httpStatus,
  isAlive,
  NotReadyError,
  runningPid,
  stopProcess,
  tail,
  tcpAnswers,
  waitReady,
} from './lib/processes.ts';
import { reportsLines } from './lib/reports.ts';
import { runServers } from './lib/servers.ts';
import {
  baseUrlOf,
  entryOf,
  hostOf,
  ownEnvOf,
  portOf,
  runnableServices,
  type ServiceSpec,
  services,
} from './lib/services.ts';

const log = makeLog('stack');
const supervisor = path.join('infra', 'supervise.ts');
const READY_TIMEOUT_MS = 60_000;

const pidFileOf = (service: ServiceSpec) => path.join(pidsDir, `${service.name}.pid`);
const logFileOf = (service: ServiceSpec) => path.join(logsDir, `${service.name}.log`);
/** What /proc/<pid>/cmdline of a service we started contains. */
const needleOf = (service: ServiceSpec) => path.join('services', service.name, 'src', 'main.ts');

function startDetached(service: ServiceSpec, values: EnvValues): number {
  const logFile = logFileOf(service);
  const fd = openSync(logFile, 'a');
  try {
    writeSync(fd, `\n--- ${new Date().toISOString()} stack up: starting ${service.name} ---\n`);
    // Under the supervisor: a crash is started again (infra/supervise.ts).
    const child = spawn(tsxBin, [supervisor, path.relative(repoRoot, entryOf(service))], {
      cwd: repoRoot,
      env: childEnv(values),
      detached: true, // own process group: survives this command, and down can stop the whole group
      stdio: ['ignore', fd, fd],
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${service.name} with ${tsxBin}`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

async function up(): Promise<number> {
  const found = resolveStackEnv();
  if (runServers('up', found) !== 0) {
    log.error('servers are not all reachable; see the messages above');
    return 1;
  }
  const { values, setup } = await secureBroker(found, { wanted: credentialsWanted(process.argv) });
  if (setup.kind === 'own') {
    log.info(
      `device broker: dynamic-security Mosquitto on 127.0.0.1:${setup.port} ${
        setup.started ? 'started' : 'already running'
      } (state in ${rel(dynsecDir)})`,
    );
  } else if (setup.kind === 'insecure') {
    log.warn(`device credentials off: devices use the anonymous broker at ${found.MQTT_URL}`);
    if (dynsecPid() !== undefined)
      log.warn(
        'the dynamic-security broker of an earlier `up` still runs, and services already running keep it: `pnpm stack down` first',
      );
  }
  if (!existsSync(tsxBin)) {
    log.error(`${rel(tsxBin)} is missing: run \`pnpm install\` first`);
    return 1;
  }
  mkdirSync(logsDir, { recursive: true });
  mkdirSync(pidsDir, { recursive: true });
  // Saved before the services start so a failed or interrupted start keeps the token they were given.
  saveStackEnv(values);

  const runnable = runnableServices(log.warn);
  const started: { service: ServiceSpec; pid: number }[] = [];
  for (const service of runnable) {
    const port = portOf(service, values);
    const existing = runningPid(pidFileOf(service), needleOf(service));
    if (existing !== undefined) {
      log.info(`${service.name}: already running (pid ${existing}) on port ${port}`);
      started.push({ service, pid: existing });
      continue;
    }
    if (await tcpAnswers(hostOf().replace(/^\[|\]$/g, ''), port)) {
      log.error(
        `${service.name}: port ${port} is already taken by a process the stack did not start ` +
          `(a \`pnpm demo\`, or another program); stop it or set ${service.portEnv}`,
      );
      return 1;
    }
    const pid = startDetached(service, { ...values, ...ownEnvOf(service) });
    writeFileSync(pidFileOf(service), `${pid}\n`);
    log.info(`${service.name}: started (pid ${pid}), log ${rel(logFileOf(service))}`);
    started.push({ service, pid });
  }

  const results = await Promise.allSettled(
    started.map(({ service, pid }) =>
      waitReady({
        service: service.name,
        url: `${baseUrlOf(service, values)}/readyz`,
        timeoutMs: READY_TIMEOUT_MS,
        exited: () => (isAlive(pid) ? undefined : `see ${rel(logFileOf(service))}`),
      }).then(() => log.info(`${service.name}: ${green('ready')} at ${baseUrlOf(service, values)}`)),
    ),
  );
  let failed = false;
  results.forEach((result, index) => {
    const entry = started[index];
    if (result.status === 'fulfilled' || !entry) return;
    failed = true;
    const reason = result.reason instanceof NotReadyError ? result.reason.message : String(result.reason);
    log.error(reason);
    console.error(
      `--- last lines of ${rel(logFileOf(entry.service))} ---\n${tail(logFileOf(entry.service))}\n---`,
    );
  });
  if (failed) {
    log.error('the stack is not ready; fix the service and run `pnpm stack up` again (or `pnpm stack down`)');
    return 1;
  }

  saveStackEnv(values);
  const operator = await demoOperator(
    started.map(({ service }) => service),
    values,
  );
  const reports = started.find(({ service }) => service.name === 'reports');
  if (reports)
    log.info(
      'registering a commissioning cohort and seeding the reports with two simulated months across 12 postcode districts',
    );
  const commissioner = await reportsLines(reports && baseUrlOf(reports.service, values), values, log.info);
  console.log(
    banner(
      values,
      started.map(({ service }) => service),
      [
        ...operator,
        ...commissioner,
        `${'environment'.padEnd(18)} ${rel(stackEnvFile)}`,
        `${'logs'.padEnd(18)} ${rel(logsDir)}/<service>.log`,
      ],
    ),
  );
  return 0;
}

/** Creates the demo operator once the helpline is ready; the banner line saying so. */
async function demoOperator(running: readonly ServiceSpec[], values: EnvValues): Promise<string[]> {
  const helpline = running.find((service) => service.name === 'helpline');
  if (!helpline) return [];
  const result = await ensureDemoOperator(baseUrlOf(helpline, values), values);
  if (result.status === 'failed') log.warn(`demo operator not created: ${result.reason}`);
  return [operatorLine(result)];
}

async function down(): Promise<number> {
  // Every pid file, not only today's list: a service renamed or removed since `up` still stops.
  const known = new Map(services.map((service) => [service.name, service]));
  const names = new Set(services.map((service) => service.name));
  if (existsSync(pidsDir)) {
    for (const file of readdirSync(pidsDir)) if (file.endsWith('.pid')) names.add(file.slice(0, -4));
  }
  await Promise.all(
    [...names].map(async (name) => {
      const service = known.get(name) ?? { name, portEnv: '', defaultPort: 0 };
      const pid = runningPid(pidFileOf(service), needleOf(service));
      if (pid === undefined) return;
      log.info(`${name}: stopping (pid ${pid})`);
      await stopProcess(pid, {
        group: true,
        onKill: () => log.warn(`${name}: still running after 10 s; SIGKILL`),
      });
      rmSync(pidFileOf(service), { force: true });
      log.info(`${name}: stopped`);
    }),
  );
  if (stopDynsec()) log.info('device broker (dynamic-security Mosquitto): stopped');
  return runServers('down', resolveStackEnv()) === 0 ? 0 : 1;
}

async function status(): Promise<number> {
  const values = resolveStackEnv();
  let ok = runServers('status', values) === 0;
  const broker = dynsecPid();
  console.log(
    `${'device broker'.padEnd(14)} ${
      broker === undefined
        ? 'no dynamic-security Mosquitto of the stack running'
        : `dynamic-security Mosquitto, pid ${broker}, state in ${rel(dynsecDir)}`
    }`,
  );
  console.log('');
  for (const service of services) {
    const url = baseUrlOf(service, values);
    let state: string;
    if (!existsSync(entryOf(service))) {
      state = yellow('not written yet');
    } else {
      const pid = runningPid(pidFileOf(service), needleOf(service));
      const ready = await httpStatus(`${url}/readyz`);
      const readiness =
        ready === 200 ? green('ready') : ready === undefined ? red('not answering') : red(`readyz ${ready}`);
      state = `${pid === undefined ? 'not started by the stack' : `pid ${pid}`}, ${readiness}`;
      if (ready !== 200) ok = false;
    }
    console.log(`${service.name.padEnd(14)} ${url.padEnd(24)} ${state}`);
  }
  if (existsSync(stackEnvFile)) console.log(`\nenvironment: ${rel(stackEnvFile)}`);
  return ok ? 0 : 1;
}

const commands: Record<string, () => Promise<number>> = { up, down, status };
const command = commands[process.argv[2] ?? ''];
if (!command) {
  console.error(
    `usage: pnpm stack up [--insecure-broker]|down|status   (${bold('pnpm demo')} runs it in the foreground with simulated homes)`,
  );
  process.exit(2);
}
command().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exit(1);
  },
);

/**
 * Runs one service and starts it again when it crashes: `tsx infra/supervise.ts <entry.ts>`.
 *
 * `pnpm stack` and `pnpm demo` run every service under it, so a crash (an unhandled error, an
 * out-of-memory kill) costs seconds, not the time until a person notices. A service that fails
 * within its first START_GRACE_MS is not restarted: that is a start-up failure (bad
 * configuration, a port taken) for a person to fix, and the supervisor exits with its code.
 * Restarts back off from 1 s to 30 s; a run that lasted a minute resets the backoff.
 *
 * Signal the supervisor alone (as the stack and the demo do: tsx relays a signal to the process it
 * runs): it passes the signal on to the service once, waits while the service drains, and exits
 * with it. A second copy of the signal would make the service exit without draining.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';

const START_GRACE_MS = Number(process.env.SUPERVISE_START_GRACE_MS ?? 10_000);
const HEALTHY_MS = 60_000;
const MIN_BACKOFF_MS = Number(process.env.SUPERVISE_MIN_BACKOFF_MS ?? 1_000);
const MAX_BACKOFF_MS = 30_000;

const entry = process.argv[2];
if (!entry) {
  console.error('usage: tsx infra/supervise.ts <service entry .ts> [args…]');
  process.exit(2);
}
const args = process.argv.slice(3);
const name = path.basename(path.dirname(path.dirname(entry))) || entry;
const say = (line: string) => console.error(`${new Date().toISOString()} [supervise] ${name}: ${line}`);

let child: ChildProcess | undefined;
let stopping = false;
let everHealthy = false;
let failures = 0;

function start(): void {
  const startedAt = Date.now();
  const graceTimer = setTimeout(() => {
    everHealthy = true;
  }, START_GRACE_MS);
  // The same node with the same loader flags tsx gave this process: no second tsx launcher.
  child = spawn(process.execPath, [...process.execArgv, entry as string, ...args], {
    stdio: 'inherit',
    env: process.env,
  });
  child.once('exit', (code, signal) => {
    clearTimeout(graceTimer);
    child = undefined;
    const how = signal ? `signal ${signal}` : `exit code ${code}`;
    if (stopping) process.exit(code ?? 0);
    if (!everHealthy) {
      say(`stopped during start-up (${how}); not restarting`);
      process.exit(code ?? 1);
    }
    if (Date.now() - startedAt >= HEALTHY_MS) failures = 0;
    const delay = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** failures);
    failures += 1;
    say(`crashed (${how}); starting it again in ${(delay / 1000).toFixed(1)} s (restart ${failures})`);
    setTimeout(() => {
      if (!stopping) start();
      else process.exit(0);
    }, delay);
  });
}

const onSignal = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  if (!child) process.exit(0);
  child.kill(signal);
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
start();

import { spawnSync } from 'node:child_process';
import { pick } from '@telecare/simulators';
import type { FaultMode, ServerName } from '@telecare/testkit';
import { type FaultStack, SERVER_NAMES, type SupervisedService } from './stack.ts';

export const FAULT_KINDS = [
  'sigkill-gateway-mqtt',
  'sigkill-gateway-dc09',
  'sigkill-triage',
  'sigkill-helpline',
  'sigstop-gateway-mqtt',
  'sigstop-gateway-dc09',
  'sigstop-triage',
  'sigstop-helpline',
  'restart-mosquitto',
  'restart-nats',
  'restart-redis',
  'restart-postgres',
  'redis-flushall',
  'proxy-delay',
  'proxy-drop',
  'proxy-half-open',
  'proxy-blackhole',
  'triage-instance-down',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const isFaultKind = (value: string): value is FaultKind =>
  (FAULT_KINDS as readonly string[]).includes(value);

export interface FaultTiming {
  /** How long a stopped process, a proxy fault or a downed triage instance lasts. */
  readonly holdMs: number;
}

/**
 * The order of a run's faults: every kind once per round, each round in a seeded shuffle, so a run
 * of N ≥ kinds covers them all and the same seed gives the same run.
 */
export function schedule(kinds: readonly FaultKind[], count: number, random: () => number): FaultKind[] {
  const out: FaultKind[] = [];
  while (out.length < count) {
    const round = [...kinds];
    for (let i = round.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [round[i], round[j]] = [round[j] as FaultKind, round[i] as FaultKind];
    }
    out.push(...round.slice(0, count - out.length));
  }
  return out;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function signal(pid: number | undefined, sig: NodeJS.Signals): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Injects one fault and lifts it (a stopped process continues, a proxy passes again, a server is
 * started again); recovery is then the services' own business. Returns what exactly was done.
 */
export async function inject(
  stack: FaultStack,
  kind: FaultKind,
  random: () => number,
  timing: FaultTiming,
): Promise<string> {
  const triage = () => stack.byId(pick(random, ['triage-a', 'triage-b']));
  const serviceOf = (name: string): SupervisedService => (name === 'triage' ? triage() : stack.byId(name));
  switch (kind) {
    case 'sigkill-gateway-mqtt':
    case 'sigkill-gateway-dc09':
    case 'sigkill-triage':
    case 'sigkill-helpline': {
      const service = serviceOf(kind.slice('sigkill-'.length));
      signal(stack.servicePid(service), 'SIGKILL');
      return `SIGKILL ${service.id}`;
    }
    case 'sigstop-gateway-mqtt':
    case 'sigstop-gateway-dc09':
    case 'sigstop-triage':
    case 'sigstop-helpline': {
      const service = serviceOf(kind.slice('sigstop-'.length));
      const pid = stack.servicePid(service);
      signal(pid, 'SIGSTOP');
      await sleep(timing.holdMs);
      signal(pid, 'SIGCONT');
      return `SIGSTOP ${service.id} for ${timing.holdMs} ms`;
    }
    case 'restart-mosquitto':
    case 'restart-nats':
    case 'restart-redis':
    case 'restart-postgres': {
      const name = kind.slice('restart-'.length) as ServerName;
      await stack.server(name).kill();
      stack.server(name).start();
      return `killed ${name}, started it again on its port and data`;
    }
    case 'redis-flushall': {
      const out = spawnSync('redis-cli', ['-p', String(stack.server('redis').port), 'FLUSHALL'], {
        encoding: 'utf8',
      });
      if (out.status !== 0) throw new Error(`FLUSHALL failed: ${out.stderr}`);
      return 'Redis FLUSHALL';
    }
    case 'proxy-delay':
    case 'proxy-drop':
    case 'proxy-half-open':
    case 'proxy-blackhole':
      return proxyFault(stack, kind, random, timing);
    case 'triage-instance-down': {
      const service = triage();
      const pid = service.supervisor.pid;
      if (pid !== undefined) signal(-pid, 'SIGKILL');
      await sleep(timing.holdMs * 3);
      stack.restartSupervisor(service);
      return `${service.id} and its supervisor killed, down for ${timing.holdMs * 3} ms`;
    }
  }
}

async function proxyFault(
  stack: FaultStack,
  kind: 'proxy-delay' | 'proxy-drop' | 'proxy-half-open' | 'proxy-blackhole',
  random: () => number,
  timing: FaultTiming,
): Promise<string> {
  const server = pick(random, SERVER_NAMES);
  const mode: FaultMode =
    kind === 'proxy-delay'
      ? { kind: 'delay', ms: 1_000 }
      : kind === 'proxy-drop'
        ? { kind: 'drop' }
        : kind === 'proxy-half-open'
          ? { kind: 'half-open', direction: pick(random, ['up', 'down', 'both'] as const) }
          : { kind: 'blackhole' };
  const proxy = stack.proxy(server);
  proxy.set(mode);
  await sleep(timing.holdMs);
  proxy.set({ kind: 'pass' });
  return `${JSON.stringify(mode)} between the services and ${server} for ${timing.holdMs} ms`;
}

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import {
  cleanupNamespace,
  type ServiceName,
  type ServiceProcess,
  serviceEnv,
  spawnService,
  uniqueNamespace,
} from '@telecare/testkit';

export type { ServiceName, ServiceProcess } from '@telecare/testkit';

/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const TICKS_PER_S = 100;

/** CPU seconds (user + system) a process has used, and its resident memory, from /proc. */
export interface ProcessSample {
  readonly cpuS: number;
  readonly rssMb: number;
}

export function sampleProcess(pid: number): ProcessSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    return { cpuS: (utime + stime) / TICKS_PER_S, rssMb: rssKb / 1024 };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of a process and its children (PostgreSQL's backends are children of the
 * postmaster; NATS and Redis are one process each, their threads counted in its own figure).
 * A child that exited within the window is not counted.
 */
export function processTreeCpuS(pid: number): number | undefined {
  const own = sampleProcess(pid);
  if (!own) return undefined;
  let total = own.cpuS;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === pid) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== pid) continue;
      total += (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
    } catch {
      // Gone since the listing.
    }
  }
  return total;
}

/** The pid listening on a loopback TCP port (the bench's own Mosquitto), from `ss`. */
export function pidListeningOn(port: number): number | undefined {
  const out = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' });
  const pid = /pid=(\d+)/.exec(out.stdout ?? '')?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/** CPU seconds the whole machine has spent busy (every core), from /proc/stat. */
export function machineBusyS(): number {
  const first = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = first.trim().split(/\s+/).map(Number);
  return (
    ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / TICKS_PER_S
  );
}

/**
 * Every service the MQTT path needs, each in a process of its own (as deployed), so CPU and memory
 * can be read per service from /proc; in one process they could not be told apart, and the load
 * generator would share their event loop.
 */
export class ServiceProcesses {
  readonly namespace: string;
  readonly env: Record<string, string>;
  readonly token: string;
  readonly #running: ServiceProcess[] = [];

  constructor(label: string, extraEnv: Record<string, string>, logDir: string) {
    this.namespace = uniqueNamespace(label);
    this.env = serviceEnv(this.namespace, {
      MQTT_CLIENT_ID: `${this.namespace}-gateway`,
      // The device map's part of 8 GB (64 MB) holds 100,000 hubs and the pipeline's homes.
      TELECARE_JETSTREAM_MAX_BYTES: '8GB',
      ...extraEnv,
    });
    this.token = this.env.TELECARE_ADMIN_TOKEN ?? '';
    this.#logDir = logDir;
  }

  readonly #logDir: string;

  get all(): readonly ServiceProcess[] {
    return this.#running;
  }

  url(name: ServiceName): string {
    const found = this.#running.find((s) => s.name === name);
    if (!found) throw new Error(`${name} is not running`);
    return found.url;
  }

  /**
   * Starts the services on the alarm path in the order a deployment would: helpline, triage,
   * gateway (or only those in `only`). The registry is not on that path (the bench writes the
   * device map itself).
   */
  async start(only: readonly ServiceName[] = ['helpline', 'triage', 'gateway-mqtt']): Promise<void> {
    for (const name of only) this.#running.push(await spawnService(name, this.env, this.#logDir));
  }

  /** SIGTERM each (they drain), in the reverse order, then removes the namespace. */
  async stop(): Promise<void> {
    for (const service of [...this.#running].reverse()) await service.close();
    await cleanupNamespace(this.namespace);
  }
}

/** The machine a result was measured on, and how busy it was when the run began. */
export function machineLine(): string {
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  return `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; load average ${load}`;
}

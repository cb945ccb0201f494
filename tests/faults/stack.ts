import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  FaultProxy,
  freePort,
  OwnServer,
  type ServerName,
  serviceEnv,
  uniqueNamespace,
} from '@telecare/testkit';

const root = fileURLToPath(new URL('../..', import.meta.url));
const supervisor = path.join(root, 'infra', 'supervise.ts');

export const SERVER_NAMES: readonly ServerName[] = ['mosquitto', 'nats', 'redis', 'postgres'];

/** A server of the run's own, and the fault proxy every service reaches it through. */
export interface ProxiedServer {
  readonly server: OwnServer;
  readonly proxy: FaultProxy;
}

/** One service process under `infra/supervise.ts`, as `pnpm stack` runs it. */
export interface SupervisedService {
  /** `triage-a`, `triage-b`, or the service's name. */
  readonly id: string;
  readonly service: 'gateway-mqtt' | 'gateway-dc09' | 'triage' | 'helpline';
  readonly port: number;
  readonly logFile: string;
  /** The supervisor; it leads the process group of the service it runs. */
  supervisor: ChildProcess;
}

const SERVICE_PLAN = [
  { id: 'helpline', service: 'helpline', portEnv: 'HELPLINE_PORT' },
  { id: 'triage-a', service: 'triage', portEnv: 'TRIAGE_PORT' },
  { id: 'triage-b', service: 'triage', portEnv: 'TRIAGE_PORT' },
  { id: 'gateway-mqtt', service: 'gateway-mqtt', portEnv: 'GATEWAY_MQTT_PORT' },
  { id: 'gateway-dc09', service: 'gateway-dc09', portEnv: 'GATEWAY_DC09_PORT' },
] as const;

export const SERVICE_IDS = SERVICE_PLAN.map((s) => s.id);

/**
 * The platform of a fault run, all of its own: Mosquitto, NATS (JetStream), Redis and PostgreSQL
 * on free ports, a fault proxy in front of each, and the services on the alarm path (two triage
 * instances, both gateways) as child processes under the stack's supervisor, reaching every server through its
 * proxy. Everything it starts, `stop()` ends, process group by process group.
 */
export class FaultStack {
  readonly namespace = uniqueNamespace('faults');
  readonly logDir = mkdtempSync(path.join(tmpdir(), 'telecare-faults-'));
  readonly servers = new Map<ServerName, ProxiedServer>();
  readonly services: SupervisedService[] = [];
  #env: Record<string, string> = {};
  /** Where the DC-09 gateway receives (TCP): the same port at every start, as a panel dials one address. */
  #dc09Port = 0;
  /** Set by `stop()`: nothing is started after it (a run cut short may still be injecting). */
  #stopped = false;

  /** The DC-09 gateway's receiver; panels reach it directly, not through a proxy. */
  get dc09(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.#dc09Port };
  }

  get token(): string {
    return this.#env.TELECARE_ADMIN_TOKEN ?? '';
  }

  /** The server's own address (the run's load and its reading go there, not through a proxy). */
  direct(name: ServerName): string {
    return this.#server(name).server.url;
  }

  proxy(name: ServerName): FaultProxy {
    return this.#server(name).proxy;
  }

  server(name: ServerName): OwnServer {
    return this.#server(name).server;
  }

  #server(name: ServerName): ProxiedServer {
    const found = this.servers.get(name);
    if (!found) throw new Error(`${name} is not running`);
    return found;
  }

  async startServers(): Promise<void> {
    for (const name of SERVER_NAMES) {
      if (this.#stopped) throw new Error('the fault stack was stopped');
      const server = await OwnServer.start(name, await freePort());
      const proxy = await FaultProxy.start({ port: server.port });
      this.servers.set(name, { server, proxy });
    }
    const viaProxy = (name: ServerName, url: string) =>
      url.replace(`:${this.server(name).port}`, `:${this.proxy(name).port}`);
    this.#env = serviceEnv(this.namespace, {
      MQTT_URL: viaProxy('mosquitto', this.direct('mosquitto')),
      NATS_URL: viaProxy('nats', this.direct('nats')),
      REDIS_URL: viaProxy('redis', this.direct('redis')),
      DATABASE_URL: viaProxy('postgres', this.direct('postgres')),
      MQTT_CLIENT_ID: `${this.namespace}-gateway`,
      TELECARE_PARTITIONS: '4',
      LOG_LEVEL: process.env.FAULTS_LOG_LEVEL ?? 'warn',
      // Keyed accounts only, as in production: the run's panels encrypt.
      DC09_KEYLESS: 'refuse',
      // The supervisor takes a crash in a service's first 10 s for a start-up failure and gives up;
      // in a run every crash is one the run made, at any time, a service just started again included.
      SUPERVISE_START_GRACE_MS: '0',
    });
    this.#dc09Port = await freePort();
  }

  /** Starts every service in deployment order, each waited for until ready. */
  async startServices(timeoutMs = 90_000): Promise<void> {
    for (const plan of SERVICE_PLAN) {
      const port = await freePort();
      const service: SupervisedService = {
        id: plan.id,
        service: plan.service,
        port,
        logFile: path.join(this.logDir, `${plan.id}.log`),
        supervisor: this.#supervise(plan.service, plan.id, plan.portEnv, port),
      };
      this.services.push(service);
      await this.waitReady([service], timeoutMs);
    }
  }

  #supervise(service: string, id: string, portEnv: string, port: number): ChildProcess {
    if (this.#stopped) throw new Error('the fault stack was stopped');
    const out = openSync(path.join(this.logDir, `${id}.log`), 'a');
    return spawn(
      process.execPath,
      ['--import', 'tsx', supervisor, path.join(root, 'services', service, 'src', 'main.ts')],
      {
        cwd: root,
        detached: true,
        stdio: ['ignore', out, out],
        env: {
          ...process.env,
          ...this.#env,
          [portEnv]: String(port),
          ...(service === 'triage' ? { TRIAGE_INSTANCE: id } : {}),
          ...(service === 'gateway-dc09'
            ? { DC09_HOST: '127.0.0.1', DC09_PORT: String(this.#dc09Port) }
            : {}),
        },
      },
    );
  }

  /** Starts a stopped service's supervisor again (after a fault that took the whole instance down). */
  restartSupervisor(service: SupervisedService): void {
    const plan = SERVICE_PLAN.find((p) => p.id === service.id);
    if (!plan) throw new Error(`unknown service ${service.id}`);
    service.supervisor = this.#supervise(plan.service, plan.id, plan.portEnv, service.port);
  }

  byId(id: string): SupervisedService {
    const found = this.services.find((s) => s.id === id);
    if (!found) throw new Error(`unknown service ${id}`);
    return found;
  }

  /** The pid of the service process the supervisor runs now (it changes at every restart). */
  servicePid(service: SupervisedService): number | undefined {
    const pid = service.supervisor.pid;
    if (pid === undefined || exited(service.supervisor)) return undefined;
    try {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
      const first = Number(children.split(/\s+/)[0]);
      return Number.isInteger(first) && first > 0 ? first : undefined;
    } catch {
      return undefined;
    }
  }

  async ready(service: SupervisedService): Promise<boolean> {
    return fetch(`http://127.0.0.1:${service.port}/readyz`, { signal: AbortSignal.timeout(2_000) })
      .then((r) => r.ok)
      .catch(() => false);
  }

  /**
   * Waits until every one of `services` answers /readyz with 200 and its supervisor still runs.
   * Returns the ids of those that did not within `timeoutMs` (empty: all recovered).
   */
  async waitReady(
    services: readonly SupervisedService[] = this.services,
    timeoutMs = 90_000,
  ): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let waiting = [...services];
    while (waiting.length > 0 && Date.now() < deadline) {
      // A supervisor that exited gave its service up: nothing will start it again.
      const gone = waiting.filter((s) => exited(s.supervisor));
      if (gone.length > 0) return gone.map((s) => s.id);
      const answers = await Promise.all(waiting.map((s) => this.ready(s)));
      waiting = waiting.filter((_, i) => !answers[i]);
      if (waiting.length > 0) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    return waiting.map((s) => s.id);
  }

  /** Ends every supervised service: SIGTERM (each drains), then SIGKILL to its process group. */
  async stopServices(): Promise<void> {
    await Promise.all(this.services.map((s) => stopGroup(s.supervisor)));
  }

  /** Ends every service and every server. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.stopServices();
    for (const { server, proxy } of this.servers.values()) {
      await proxy.close().catch(() => undefined);
      server.destroy();
    }
    this.servers.clear();
  }
}

/** Whether a child process has ended (by itself, with an exit code, or by a signal). */
const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/** SIGTERM to the supervisor (it drains the service), then SIGKILL to the whole group after 10 s. */
export async function stopGroup(child: ChildProcess, graceMs = 10_000): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const killGroup = () => {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // the group is gone
    }
  };
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    // A stopped service cannot drain: let it run again first.
    try {
      process.kill(-pid, 'SIGCONT');
    } catch {
      // nothing to continue
    }
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, graceMs))]);
  }
  killGroup();
}

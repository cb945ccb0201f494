import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type ServerName = 'mosquitto' | 'nats' | 'redis' | 'postgres';

const serversScript = fileURLToPath(new URL('../../../infra/servers.sh', import.meta.url));

const URL_VARIABLE: Record<ServerName, string> = {
  mosquitto: 'MQTT_URL',
  nats: 'NATS_URL',
  redis: 'REDIS_URL',
  postgres: 'DATABASE_URL',
};

/** A server's certificate, its key and the CA that signed it (PEM files; `makeTestCertificates`). */
export interface ServerTlsFiles {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

const urlOf = (name: ServerName, port: number, tls: ServerTlsFiles | undefined): string =>
  tls
    ? {
        mosquitto: `mqtts://127.0.0.1:${port}`,
        nats: `tls://127.0.0.1:${port}`,
        redis: `rediss://127.0.0.1:${port}`,
        postgres: `postgresql://postgres@127.0.0.1:${port}/test?sslmode=verify-full&sslrootcert=${encodeURIComponent(tls.ca)}`,
      }[name]
    : {
        mosquitto: `mqtt://127.0.0.1:${port}`,
        nats: `nats://127.0.0.1:${port}`,
        redis: `redis://127.0.0.1:${port}`,
        postgres: `postgresql://postgres@127.0.0.1:${port}/test`,
      }[name];

/**
 * Any of the four servers, of the caller's own, started by infra/servers.sh (configured as the
 * project configures it) on the given port with its data in a temporary folder. `kill()` is a
 * crash (SIGKILL; an immediate shutdown for PostgreSQL, which must not leave its children behind);
 * `start()` brings the server back on the same port and data, as a restart would. With `tls`, it
 * takes TLS connections only, with that certificate (its `url` a TLS one: `rediss:`, `tls:`,
 * `mqtts:`, `sslmode=verify-full` with the CA as `sslrootcert`).
 */
export class OwnServer {
  private constructor(
    readonly name: ServerName,
    readonly port: number,
    readonly dataDir: string,
    readonly tls: ServerTlsFiles | undefined,
  ) {}

  static async start(
    name: ServerName,
    port: number,
    options: { tls?: ServerTlsFiles } = {},
  ): Promise<OwnServer> {
    const dataDir = mkdtempSync(path.join(tmpdir(), `telecare-own-${name}-`));
    // The postgres OS user must reach its cluster below this folder.
    chmodSync(dataDir, 0o755);
    const server = new OwnServer(name, port, dataDir, options.tls);
    server.start();
    return server;
  }

  get url(): string {
    return urlOf(this.name, this.port, this.tls);
  }

  #env(): NodeJS.ProcessEnv {
    const tls = this.tls
      ? {
          TELECARE_SERVER_TLS_CERT: this.tls.cert,
          TELECARE_SERVER_TLS_KEY: this.tls.key,
          TELECARE_SERVER_TLS_CA: this.tls.ca,
        }
      : {};
    return { ...process.env, [URL_VARIABLE[this.name]]: this.url, TELECARE_DATA_DIR: this.dataDir, ...tls };
  }

  start(): void {
    const up = spawnSync('bash', [serversScript, 'up', this.name], { env: this.#env(), encoding: 'utf8' });
    if (up.status !== 0) throw new Error(`could not start ${this.name}: ${up.stderr || up.stdout}`);
  }

  /** The server's pid, from the pid file servers.sh keeps, or undefined when there is none. */
  pid(): number | undefined {
    const dir = path.join(this.dataDir, 'servers', this.name);
    const file =
      this.name === 'postgres'
        ? path.join(dir, 'data', 'postmaster.pid')
        : path.join(dir, `${this.name}.pid`);
    try {
      const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Crashes the server and waits until it is gone. */
  async kill(): Promise<void> {
    const pid = this.pid();
    if (pid === undefined) return;
    try {
      process.kill(pid, this.name === 'postgres' ? 'SIGQUIT' : 'SIGKILL');
    } catch {
      return;
    }
    const deadline = Date.now() + 15_000;
    // A multi-threaded server's leader can look gone (a zombie) while its threads still hold the
    // listening socket: only a closed port means `start()` will not take the dying one for a
    // running server and start nothing.
    while ((alive(pid) || (await answers(this.port))) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stops the server and removes its data. */
  destroy(): void {
    spawnSync('bash', [serversScript, 'down', this.name], { env: this.#env() });
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

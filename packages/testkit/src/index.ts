import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { names } from '@telecare/contracts';
import { Redis } from 'ioredis';
import pg from 'pg';
import { FaultProxy } from './fault-proxy.ts';

/** The real servers on loopback that integration tests use (see infra/servers.sh). */
export const servers = {
  natsUrl: process.env.NATS_URL ?? 'nats://127.0.0.1:4222',
  redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  mqttUrl: process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883',
  databaseUrl:
    process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test',
};

/** A namespace no other test file uses: streams, subjects, schemas, Redis keys and topics derive from it. */
export function uniqueNamespace(label = 't'): string {
  const clean =
    label
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')
      .slice(0, 12) || 't';
  return `t${clean}_${randomBytes(4).toString('hex')}`;
}

/** The environment a service gets in a test: every shared name plus the namespace. */
export function serviceEnv(namespace: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NATS_URL: servers.natsUrl,
    REDIS_URL: servers.redisUrl,
    MQTT_URL: servers.mqttUrl,
    DATABASE_URL: servers.databaseUrl,
    TELECARE_NAMESPACE: namespace,
    TELECARE_ADMIN_TOKEN: 'test-admin-token-0123456789',
    // The helpline's own registry token (role helpline-service), never the admin token.
    HELPLINE_REGISTRY_TOKEN: 'test-helpline-registry-token-0123456789',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // Tests run as development: their simulated panels use keyless DC-09 accounts unless a test
    // (the security suite) sets `refuse`, the production default.
    DC09_KEYLESS: 'allow',
    REGISTRY_DC09_KEYLESS: 'allow',
    // Each namespace's streams and buckets reserve their share of this on the shared server: a
    // test stores little, and a server shared by many test files at once reserves that much for
    // each. The device map's part of 2 GB (16 MB) holds about 40,000 devices: a whole-stack
    // scenario's 10,000 homes. Runs of 100,000 devices set more (bench/lib/services.ts, storm).
    TELECARE_JETSTREAM_MAX_BYTES: '2GB',
    ...extra,
  };
}

/**
 * A KV bucket opened for a test to read, with direct gets (as the services' own handles read). A
 * plain `open` binds without them and reads through `STREAM.MSG.GET`, which nats-server 2.9 can
 * crash on (a nil message in `jsMsgGetRequest`) when a service writes the key at that moment.
 */
export function openBucket(nc: NatsConnection, bucket: string): Promise<KV> {
  return new Kvm(nc).open(bucket, { allow_direct: true });
}

/** Removes everything a namespace created on the shared servers. */
/**
 * Every message a stream holds now, oldest first, as its bytes (`msg.json()` for JSON): for tests
 * that read back what was stored. A stream that is missing or empty gives none.
 */
export async function streamMessages(
  nc: NatsConnection,
  stream: string,
): Promise<Array<{ json<T = unknown>(): T; data: Uint8Array }>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream).catch(() => undefined);
  const out: Array<{ json<T = unknown>(): T; data: Uint8Array }> = [];
  if (!info || info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (m) out.push(m);
  }
  return out;
}

export async function cleanupNamespace(namespace: string): Promise<void> {
  const n = names(namespace);
  const nc = await connect({ servers: servers.natsUrl });
  try {
    const jsm = await jetstreamManager(nc);
    for (const stream of Object.values(n.streams)) await jsm.streams.delete(stream).catch(() => false);
    for (const bucket of Object.values(n.kv)) {
      await new Kvm(nc)
        .open(bucket)
        .then((kv) => kv.destroy())
        .catch(() => false);
    }
  } finally {
    await nc.close();
  }
  const client = new pg.Client({ connectionString: servers.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>(
      "select nspname from pg_namespace where nspname like $1 || '\\_%'",
      [namespace],
    );
    for (const { nspname } of rows) await client.query(`drop schema if exists "${nspname}" cascade`);
  } finally {
    await client.end();
  }
  const redis = new Redis(servers.redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${n.redisPrefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value as T;
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 50));
  }
  throw new Error(`timed out waiting for ${options.what ?? 'condition'}`, { cause: lastError });
}

/** A TCP port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export interface OwnMosquitto {
  readonly url: string;
  stop(): void;
}

const serversScript = fileURLToPath(new URL('../../../infra/servers.sh', import.meta.url));

/**
 * A Mosquitto of the caller's own on a free port, configured as infra/servers.sh configures one
 * (Nagle off, a deep queue for the gateway's session), so results do not depend on how the
 * shared broker happens to be configured.
 */
export async function startOwnMosquitto(): Promise<OwnMosquitto> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'telecare-mosquitto-'));
  const env = {
    ...process.env,
    MQTT_URL: `mqtt://127.0.0.1:${await freePort()}`,
    TELECARE_DATA_DIR: dataDir,
  };
  const up = spawnSync('bash', [serversScript, 'up', 'mosquitto'], { env, encoding: 'utf8' });
  if (up.status !== 0) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`could not start Mosquitto: ${up.stderr || up.stdout}`);
  }
  return {
    url: env.MQTT_URL,
    stop() {
      spawnSync('bash', [serversScript, 'down', 'mosquitto'], { env });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A PostgreSQL of the caller's own on a free port, started by infra/servers.sh (as the `postgres`
 * OS user when run as root), for tests that crash or restart the database; the shared server is
 * never stopped. `crash()` is an immediate shutdown (no checkpoint, every connection cut), as a
 * crash is; `start()` brings it back on the same port and data.
 */
export class OwnPostgres {
  private constructor(
    readonly port: number,
    readonly dataDir: string,
    /** The primary's `host:port` this server was copied from as a streaming standby. */
    private readonly primary?: string,
  ) {}

  static async start(): Promise<OwnPostgres> {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'telecare-postgres-'));
    // The postgres OS user must reach its cluster below this folder.
    chmodSync(dataDir, 0o755);
    const server = new OwnPostgres(await freePort(), dataDir);
    server.start();
    return server;
  }

  /**
   * A hot standby of `primary` on a free port, streaming its WAL (asynchronous replication, as a
   * failover pair usually runs): `pg_basebackup -R` by infra/servers.sh. Read-only until `promote()`.
   */
  static async standbyOf(primary: OwnPostgres): Promise<OwnPostgres> {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'telecare-postgres-standby-'));
    chmodSync(dataDir, 0o755);
    const server = new OwnPostgres(await freePort(), dataDir, `127.0.0.1:${primary.port}`);
    server.start();
    return server;
  }

  get url(): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/test`;
  }

  #env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      DATABASE_URL: this.url,
      TELECARE_DATA_DIR: this.dataDir,
      ...(this.primary === undefined ? {} : { POSTGRES_STANDBY_OF: this.primary }),
    };
  }

  start(): void {
    const up = spawnSync('bash', [serversScript, 'up', 'postgres'], { env: this.#env(), encoding: 'utf8' });
    if (up.status !== 0) throw new Error(`could not start PostgreSQL: ${up.stderr || up.stdout}`);
  }

  /**
   * Sets a server-wide setting as a DBA does (`ALTER SYSTEM`, then a reload that every session
   * takes at its next statement); `undefined` resets it. Its own session writes whatever the setting.
   */
  async alterSystem(setting: string, value: string | undefined): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      options: '-c default_transaction_read_only=off',
    });
    await client.connect();
    try {
      await client.query(
        value === undefined
          ? `alter system reset ${setting}`
          : `alter system set ${setting} = ${client.escapeLiteral(value)}`,
      );
      await client.query('select pg_reload_conf()');
    } finally {
      await client.end();
    }
  }

  /** Makes a standby the primary (`pg_promote()`, which waits until it takes writes). */
  async promote(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ promoted: boolean }>('select pg_promote(true, 30) as promoted');
      if (rows[0]?.promoted !== true)
        throw new Error(`PostgreSQL on ${this.port} was not promoted within 30 s`);
    } finally {
      await client.end();
    }
  }

  /** Immediate shutdown of the postmaster (SIGQUIT), then waits until the port is closed. */
  async crash(): Promise<void> {
    const pidFile = path.join(this.dataDir, 'servers', 'postgres', 'data', 'postmaster.pid');
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    process.kill(pid, 'SIGQUIT');
    await waitFor(async () => !(await listening(this.port)), { what: 'PostgreSQL to go down' });
  }

  /** Stops the server and removes its data. */
  destroy(): void {
    spawnSync('bash', [serversScript, 'down', 'postgres'], { env: this.#env() });
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Whether something accepts a TCP connection on a loopback port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A nats-server with JetStream of the caller's own, on a free port with its store in a temporary
 * folder, for tests that stop NATS (the shared server is never stopped). Stop and start keep the
 * port and the store, as a restart would.
 */
export class OwnNatsServer {
  #child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly storeDir: string,
    /** With `account` or a store limit: the server runs from this file. */
    private readonly configFile: string | undefined,
    private readonly limits: { maxFileStore?: string; accountMaxFile?: string } = {},
  ) {}

  /**
   * `account`: clients (without a login) are in an account of their own, whose JetStream
   * `accountJetStream` turns off and on again while the server runs. `maxFileStore`: the server's
   * JetStream file store limit (`max_file_store`, e.g. `16MB`); `accountMaxFile`: the account's own
   * limit (implies `account`), which JetStream reports to its clients.
   */
  static async start(
    label = 'nats',
    options: { account?: boolean; maxFileStore?: string; accountMaxFile?: string } = {},
  ): Promise<OwnNatsServer> {
    const storeDir = mkdtempSync(path.join(tmpdir(), `telecare-${label}-`));
    const configured = options.account || options.maxFileStore || options.accountMaxFile;
    const server = new OwnNatsServer(
      await freePort(),
      storeDir,
      configured ? path.join(storeDir, 'server.conf') : undefined,
      { ...options },
    );
    if (server.configFile) server.#writeConfig(true);
    await server.start();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = this.configFile
      ? ['-c', this.configFile]
      : ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir];
    this.#child = spawn('nats-server', args, { stdio: 'ignore' });
    await waitFor(() => listening(this.port), { what: 'nats-server to listen' });
  }

  /**
   * Turns the account's JetStream off or on by a configuration reload, the connections staying
   * up: off, JetStream answers the account's requests 503 (not enabled), as while it is not ready;
   * on, it reads the account's streams back from the store. The reload is done a moment after
   * this returns: wait for what it changes.
   */
  accountJetStream(enabled: boolean): void {
    if (!this.configFile) throw new Error('accountJetStream needs a server started with an account');
    this.#writeConfig(enabled);
    this.#child?.kill('SIGHUP');
  }

  #writeConfig(accountJetStream: boolean): void {
    const { maxFileStore, accountMaxFile } = this.limits;
    const jetstreamOf = accountMaxFile
      ? `jetstream: { max_file: ${accountMaxFile} }, `
      : 'jetstream: enabled, ';
    writeFileSync(
      this.configFile as string,
      [
        `listen: 127.0.0.1:${this.port}`,
        `jetstream { store_dir: "${this.storeDir}"${maxFileStore ? `, max_file_store: ${maxFileStore}` : ''} }`,
        `accounts { APP { ${accountJetStream ? jetstreamOf : ''}users: [{ user: app, password: app }] } }`,
        'no_auth_user: app',
        '',
      ].join('\n'),
    );
  }

  /**
   * Stops the server's process where it stands (SIGSTOP): connections stay open and nothing is
   * answered or sent, as from a server starved of CPU or a VM paused, until `thaw`.
   */
  freeze(): void {
    this.#child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.#child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    // A frozen server takes its signal once it runs again.
    child.kill('SIGCONT');
    await exited;
  }

  /**
   * Crashes the server (SIGKILL): no goodbye to its clients (a shutdown tells the pulls it holds
   * first), its store as the crash left it. `start` brings it back.
   */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Stops the server and removes its store. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}

/**
 * A `FaultProxy` in front of the shared NATS server that forwards what clients send one operation
 * at a time, so a test can lose one publication (`dropNextPublish`) with the link up.
 */
export const sharedNatsProxy = (): Promise<FaultProxy> =>
  FaultProxy.start({ port: Number(new URL(servers.natsUrl).port || 4222) }, 0, { natsFrames: true });

/** Debian's Mosquitto dynamic-security plugin, where installed (tests that need it skip without it). */
export const DYNSEC_PLUGIN = [
  '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/mosquitto_dynamic_security.so',
].find((candidate) => existsSync(candidate));

export interface DynsecMosquitto {
  readonly port: number;
  /** Working folder (config, dynsec.json), removed on stop; tests may keep files there. */
  readonly dir: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  /** `MQTT_ADMIN_URL` for the registry. */
  readonly adminUrl: string;
  /** A `mosquitto_ctrl dynsec …` command as the admin, as an administrator would run it. */
  ctrl(...args: string[]): void;
  /** Crashes the broker (SIGKILL) and waits until its port is closed; its dynsec.json stays. */
  kill(): Promise<void>;
  /** Starts the broker again on the same port and dynsec.json, as a restart would. */
  start(): Promise<void>;
  stop(): void;
}

/**
 * A Mosquitto of the caller's own with dynamic security and no anonymous access, on a free port,
 * with one admin client made by Mosquitto's own tool: the broker the registry provisions device
 * credentials in (infra/mosquitto/README.md).
 */
export async function startDynsecMosquitto(
  options: { adminPassword: string; adminUser?: string; label?: string } = { adminPassword: 'admin-secret' },
): Promise<DynsecMosquitto> {
  if (!DYNSEC_PLUGIN) throw new Error('Mosquitto dynamic security plugin not installed');
  const adminUser = options.adminUser ?? 'registry-admin';
  const dir = mkdtempSync(path.join(tmpdir(), `telecare-${options.label ?? 'dynsec'}-`));
  const port = await freePort();
  const dynsec = path.join(dir, 'dynsec.json');
  execFileSync('mosquitto_ctrl', ['dynsec', 'init', dynsec, adminUser, options.adminPassword]);
  writeFileSync(
    path.join(dir, 'mosquitto.conf'),
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous false',
      `plugin ${DYNSEC_PLUGIN}`,
      `plugin_opt_config_file ${dynsec}`,
      'set_tcp_nodelay true',
      // The limits every broker configuration of the project sets (infra/mosquitto/README.md).
      'max_packet_size 65536',
      'max_queued_messages 100000',
      'max_queued_bytes 268435456',
      'persistence false',
      `user ${userInfo().username}`,
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('mosquitto', ['-c', path.join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
    await waitFor(() => listening(port), { what: 'the dynamic-security Mosquitto to listen' });
  };
  await start();
  return {
    port,
    dir,
    adminUser,
    adminPassword: options.adminPassword,
    adminUrl: `mqtt://${adminUser}:${options.adminPassword}@127.0.0.1:${port}`,
    ctrl(...args) {
      execFileSync(
        'mosquitto_ctrl',
        [
          '-h',
          '127.0.0.1',
          '-p',
          String(port),
          '-u',
          adminUser,
          '-P',
          options.adminPassword,
          'dynsec',
          ...args,
        ],
        { stdio: 'ignore' },
      );
    },
    async kill() {
      child?.kill('SIGKILL');
      child = undefined;
      await waitFor(async () => !(await listening(port)), { what: 'the dynamic-security Mosquitto to stop' });
    },
    start,
    stop() {
      child?.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The features playwright-core turns off in the Chromium it launches (its `chromiumSwitches`), as
 * one `--disable-features`: Chromium keeps only the last such switch, so a list of our own must
 * carry them too. `services/helpline/test/chromium-options.int.test.ts` fails when playwright-core's
 * list changes.
 */
export const PLAYWRIGHT_DISABLED_FEATURES: readonly string[] = [
  'AimEnabled',
  'AvoidCorsURLLoaderRestartOnRedirect',
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsFirstBalancedModeAutoEnable',
  'HttpsUpgrades',
  'LensOverlay',
  'MediaRouter',
  'NetworkTimeServiceQuerying',
  'OptimizationHints',
  'PaintHolding',
  'PreconnectToSearch',
  'TcpPortRandomizationWin',
  'ThirdPartyStoragePartitioning',
  'msEdgeUpdateLaunchServicesPreferredVersion',
  'msForceBrowserSignIn',
];

/**
 * Turned off for the browser tests besides: Chromium (from 151) renders its address bar's popup in
 * a renderer of its own for every window, headless too, and every browser context is a window:
 * that renderer cost more CPU than the console's own page did.
 */
const BROWSER_TEST_DISABLED_FEATURES = ['WebUIOmniboxPopup', 'WebUIOmniboxAimPopup'];

/**
 * How the browser tests start Chromium (playwright-core's `chromium.launch`): the system's
 * Chromium (`CHROMIUM_PATH`, else `/usr/bin/chromium`), headless, without a sandbox or GPU, quiet
 * on the network, and without the address bar's popup.
 */
export function chromiumLaunchOptions(extraArgs: readonly string[] = []): {
  executablePath: string;
  args: string[];
} {
  const disabled = [...PLAYWRIGHT_DISABLED_FEATURES, ...BROWSER_TEST_DISABLED_FEATURES];
  return {
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      `--disable-features=${disabled.join(',')}`,
      ...extraArgs,
    ],
  };
}

export { type Ceilings, measureCeilings, ofCeiling } from './ceilings.ts';
export { makeTestCertificates, type TestCertificates } from './certificates.ts';
export { pendantEvent } from './device-event.ts';
export {
  type DroppedPublish,
  type FaultMode,
  FaultProxy,
  pullHeartbeatMs,
  pullRequestOf,
} from './fault-proxy.ts';
export { emptyFillers, fillBucket } from './full-bucket.ts';
export {
  type ClusterOptions,
  OwnNatsCluster,
  type RouteSecurity,
  stepDownUntil,
} from './nats-cluster.ts';
export { OwnServer, type ServerName, type ServerTlsFiles } from './own-server.ts';
export { PortTakenError, type ServiceName, type ServiceProcess, spawnService } from './service-process.ts';

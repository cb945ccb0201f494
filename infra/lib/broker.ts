/**
 * The device broker of `pnpm stack` and `pnpm demo`: secure by default. Where the broker found at
 * MQTT_URL lets anyone in (the development one does), the stack starts its own Mosquitto with the
 * dynamic-security plugin (infra/mosquitto/dynsec.sh, state in .data/dynsec) and points the
 * gateway, the registry and the simulated homes at it, so what people try first is what
 * production runs: every device logs in with the secret the registry issued. `--insecure-broker`
 * or TELECARE_DEVICE_CREDENTIALS=off keeps the anonymous broker, for experiments.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { EnvValues } from './env.ts';
import { dataDir, repoRoot } from './paths.ts';
import { isAlive } from './processes.ts';

export const dynsecScript = path.join(repoRoot, 'infra', 'mosquitto', 'dynsec.sh');
export const dynsecDir = path.join(dataDir, 'dynsec');
const pidFile = path.join(dynsecDir, 'mosquitto.pid');
const stateFile = path.join(dynsecDir, 'dynsec.json');
/** The namespace the state was made for: the gateway's ACLs and client id depend on it. */
const namespaceFile = path.join(dynsecDir, 'namespace');

export const INSECURE_FLAG = '--insecure-broker';
export const GATEWAY_USER = 'telecare-gateway-mqtt';
export const ADMIN_USER = 'registry-admin';

export class BrokerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BrokerError';
  }
}

/** Device credentials are on unless the flag or TELECARE_DEVICE_CREDENTIALS=off says otherwise. */
export function credentialsWanted(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  if (argv.includes(INSECURE_FLAG)) return false;
  const setting = (env.TELECARE_DEVICE_CREDENTIALS ?? 'on').trim().toLowerCase();
  if (['off', 'false', '0', 'no'].includes(setting)) return false;
  if (['on', 'true', '1', 'yes', ''].includes(setting)) return true;
  throw new BrokerError(`TELECARE_DEVICE_CREDENTIALS must be on or off, not '${setting}'`);
}

/** MQTT 3.1.1 CONNECT, clean session, keep-alive 10 s, with the login when given. */
function connectPacket(clientId: string, username?: string, password?: string): Buffer {
  const field = (text: string) => {
    const bytes = Buffer.from(text);
    return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]);
  };
  const flags = 0x02 | (username ? 0x80 : 0) | (username && password ? 0x40 : 0);
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, flags, 0x00, 0x0a]);
  const payload = Buffer.concat([
    field(clientId),
    ...(username ? [field(username)] : []),
    ...(username && password ? [field(password)] : []),
  ]);
  const remaining = variable.length + payload.length;
  // Remaining length as MQTT's variable-length integer (logins here stay well under 16 KiB).
  const length = remaining < 128 ? [remaining] : [(remaining & 0x7f) | 0x80, remaining >> 7];
  return Buffer.concat([Buffer.from([0x10, ...length]), variable, payload]);
}

/**
 * The CONNACK return code the broker at `url` gives `clientId`, logging in with the URL's user and
 * password if it has them: 0 admitted, 4 bad login, 5 not authorised; undefined when nothing
 * answers as an MQTT broker (TLS listeners are not probed).
 */
export function connackCode(url: string, clientId: string, timeoutMs = 3_000): Promise<number | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.resolve(undefined);
  }
  if (parsed.protocol !== 'mqtt:') return Promise.resolve(undefined);
  const host = parsed.hostname.replace(/^\[|\]$/g, '');
  const port = Number(parsed.port || 1883);
  const username = decodeURIComponent(parsed.username) || undefined;
  const password = decodeURIComponent(parsed.password) || undefined;
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let answer = Buffer.alloc(0);
    let settled = false;
    const done = (code: number | undefined) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(code);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('error', () => done(undefined));
    socket.once('connect', () => socket.write(connectPacket(clientId, username, password)));
    socket.on('data', (chunk: Buffer) => {
      answer = Buffer.concat([answer, chunk]);
      if (answer.length < 4) return;
      // CONNACK: 0x20, remaining length 2, session-present flags, return code.
      done(answer[0] === 0x20 ? answer[3] : undefined);
    });
    socket.once('close', () => done(undefined));
  });
}

/** Whether the broker at `url` admits a client with no login; undefined when it cannot be asked. */
export async function allowsAnonymous(url: string): Promise<boolean | undefined> {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed) return undefined;
  parsed.username = '';
  parsed.password = '';
  const code = await connackCode(parsed.toString(), `telecare-probe-${process.pid}`);
  return code === undefined ? undefined : code === 0;
}

/** A free TCP port on loopback, as the kernel hands one out. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new BrokerError('no port')),
      );
    });
  });
}

function portTaken(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (taken: boolean) => {
      socket.destroy();
      resolve(taken);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The pid of the dynamic-security Mosquitto the stack started, when it still runs. */
export function dynsecPid(): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

/** The port our broker listens on, read from the configuration dynsec.sh wrote. */
function runningPort(): number | undefined {
  const conf = path.join(dynsecDir, 'mosquitto.conf');
  if (!existsSync(conf)) return undefined;
  const match = /^listener\s+(\d+)/m.exec(readFileSync(conf, 'utf8'));
  return match?.[1] ? Number(match[1]) : undefined;
}

function runDynsec(action: 'up' | 'down', env: NodeJS.ProcessEnv): { status: number; output: string } {
  const result = spawnSync('bash', [dynsecScript, action, dynsecDir], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (result.error) throw new BrokerError(`could not run ${dynsecScript}`, { cause: result.error });
  return { status: result.status ?? 1, output: `${result.stdout}${result.stderr}`.trim() };
}

export function stopDynsec(): boolean {
  if (dynsecPid() === undefined) return false;
  runDynsec('down', {});
  return true;
}

export type BrokerSetup =
  /** Our own dynamic-security broker; `started` when this run started it. */
  | { readonly kind: 'own'; readonly port: number; readonly started: boolean }
  /** MQTT_ADMIN_URL given: a dynamic-security broker someone else runs. */
  | { readonly kind: 'given' }
  /** The broker at MQTT_URL refuses anonymous clients: its owner manages its logins. */
  | { readonly kind: 'closed' }
  /** Credentials off on purpose: the anonymous broker at MQTT_URL. */
  | { readonly kind: 'insecure' };

/**
 * Chooses the device broker and, when it is ours, starts it (or finds it running) and returns the
 * values every process gets: MQTT_URL (the gateway's login) and MQTT_ADMIN_URL (the registry's).
 * `values` must carry the found broker's MQTT_URL and the saved MQTT_DYNSEC_* passwords.
 */
export async function secureBroker(
  values: EnvValues,
  options: { wanted: boolean; env?: NodeJS.ProcessEnv },
): Promise<{ values: EnvValues; setup: BrokerSetup }> {
  const env = options.env ?? process.env;
  if (!options.wanted) {
    const { MQTT_ADMIN_URL: _unused, ...rest } = values;
    return { values: { ...rest, TELECARE_DEVICE_CREDENTIALS: 'off' }, setup: { kind: 'insecure' } };
  }
  const on = { ...values, TELECARE_DEVICE_CREDENTIALS: 'on' };
  // A shell that sourced .data/stack.env carries our own admin URL: that is not someone else's broker.
  const ours = Boolean(
    values.MQTT_DYNSEC_ADMIN_PASSWORD && env.MQTT_ADMIN_URL?.includes(values.MQTT_DYNSEC_ADMIN_PASSWORD),
  );
  if (env.MQTT_ADMIN_URL && !ours)
    return { values: { ...on, MQTT_ADMIN_URL: env.MQTT_ADMIN_URL }, setup: { kind: 'given' } };
  const found = values.MQTT_URL ?? '';
  if ((await allowsAnonymous(found)) === false) return { values: on, setup: { kind: 'closed' } };

  const namespace = values.TELECARE_NAMESPACE || 'telecare';
  const adminPassword = values.MQTT_DYNSEC_ADMIN_PASSWORD ?? '';
  const gatewayPassword = values.MQTT_DYNSEC_GATEWAY_PASSWORD ?? '';
  if (!adminPassword || !gatewayPassword) throw new BrokerError('the dynamic-security passwords are missing');
  const madeFor = existsSync(namespaceFile) ? readFileSync(namespaceFile, 'utf8').trim() : undefined;
  // State made for another namespace, or whose passwords were not kept, cannot be used: start
  // afresh. The registry re-creates its devices' clients from their sealed secrets at start-up.
  const stale = existsSync(stateFile) && (madeFor !== namespace || values.MQTT_DYNSEC_STATE !== 'kept');
  let pid = dynsecPid();
  if (stale) {
    if (pid !== undefined) runDynsec('down', {});
    pid = undefined;
    rmSync(stateFile, { force: true });
  }

  let port = pid !== undefined ? runningPort() : undefined;
  const started = port === undefined;
  if (port === undefined) {
    const saved = Number(values.MQTT_DYNSEC_PORT || env.DYNSEC_PORT || 0);
    port = saved > 0 && !(await portTaken(saved)) ? saved : await freePort();
    const result = runDynsec('up', {
      DYNSEC_PORT: String(port),
      TELECARE_NAMESPACE: namespace,
      ADMIN_PASSWORD: adminPassword,
      GATEWAY_PASSWORD: gatewayPassword,
    });
    if (result.status !== 0) {
      throw new BrokerError(
        `the dynamic-security Mosquitto did not start (infra/mosquitto/dynsec.sh): ${result.output}`,
      );
    }
    writeFileSync(namespaceFile, `${namespace}\n`);
  }
  const at = `127.0.0.1:${port}`;
  return {
    values: {
      ...on,
      MQTT_URL: `mqtt://${GATEWAY_USER}:${gatewayPassword}@${at}`,
      MQTT_ADMIN_URL: `mqtt://${ADMIN_USER}:${adminPassword}@${at}`,
      MQTT_DYNSEC_PORT: String(port),
      MQTT_DYNSEC_STATE: 'kept',
    },
    setup: { kind: 'own', port, started },
  };
}

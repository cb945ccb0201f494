import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceAck, names } from '@telecare/contracts';
import { createLogger } from '@telecare/platform';
import { cleanupNamespace, freePort, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller } from './support.ts';

/**
 * The recipe of infra/mosquitto/README.md run as written: `infra/mosquitto/dynsec.sh` makes the
 * broker, the registry's admin client and the gateway's client and role; the registry issues a
 * device its secret; gateway-mqtt (its real binary) logs in as its own client; the device presses
 * with its secret and is acked `stored`. (gateway-mqtt's own credentials tests live with it.)
 */
const SCRIPT = fileURLToPath(new URL('../../../infra/mosquitto/dynsec.sh', import.meta.url));
const GATEWAY_MAIN = fileURLToPath(new URL('../../gateway-mqtt/src/main.ts', import.meta.url));
const TSX = join(createRequire(import.meta.url).resolve('tsx/package.json'), '..', 'dist', 'cli.mjs');
const PLUGIN = [
  '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/mosquitto_dynamic_security.so',
].find((path) => existsSync(path));

const ns = uniqueNamespace('dynrecipe');
const n = names(ns);
const logger = createLogger('registry-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ADMIN_PASSWORD = randomBytes(12).toString('hex');
const GATEWAY_PASSWORD = randomBytes(12).toString('hex');

let dir: string;
let port: number;
let registry: RegistryHandle | undefined;
let gateway: ChildProcess | undefined;
let gatewayLog = '';
const scriptEnv = () => ({
  ...process.env,
  ADMIN_PASSWORD,
  GATEWAY_PASSWORD,
  DYNSEC_PORT: String(port),
  TELECARE_NAMESPACE: ns,
});

function connect(options: { username?: string; password?: string }): Promise<MqttClient | Error> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      ...options,
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
      // The broker admits a device's login only under its own client id, its serial.
      clientId: options.username ?? `recipe-${randomBytes(4).toString('hex')}`,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      resolve(err);
    });
  });
}

const call = apiCaller(
  () => (registry as RegistryHandle).url,
  () => 'test-admin-token-0123456789',
);

beforeAll(async () => {
  if (!PLUGIN) return;
  dir = mkdtempSync(join(tmpdir(), 'telecare-dynsec-recipe-'));
  port = await freePort();
  execFileSync('bash', [SCRIPT, 'up', dir], { env: scriptEnv(), stdio: 'pipe' });

  const env = serviceEnv(ns, {
    REGISTRY_PORT: '0',
    MQTT_ADMIN_URL: `mqtt://registry-admin:${ADMIN_PASSWORD}@127.0.0.1:${port}`,
    REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
  });
  registry = await startRegistry(loadRegistryConfig(env), { logger });

  const gatewayPort = await freePort();
  gateway = spawn(process.execPath, [TSX, GATEWAY_MAIN], {
    env: {
      ...serviceEnv(ns),
      PATH: process.env.PATH,
      MQTT_URL: `mqtt://telecare-gateway-mqtt:${GATEWAY_PASSWORD}@127.0.0.1:${port}`,
      GATEWAY_MQTT_PORT: String(gatewayPort),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  gateway.stdout?.on('data', (chunk) => (gatewayLog += chunk));
  gateway.stderr?.on('data', (chunk) => (gatewayLog += chunk));
  await waitFor(
    async () => (await fetch(`http://127.0.0.1:${gatewayPort}/readyz`).catch(() => undefined))?.ok,
    { timeoutMs: 45_000, what: 'gateway-mqtt ready on the dynamic-security broker' },
  ).catch((err) => {
    throw new Error(`${(err as Error).message}\n${gatewayLog}`);
  });
  // The gateway's binary is compiled on start: slow when the machine is busy.
}, 90_000);

afterAll(async () => {
  if (gateway && gateway.exitCode === null) {
    const exited = new Promise((resolve) => gateway!.once('exit', resolve));
    gateway.kill('SIGTERM');
    await exited;
  }
  await registry?.close();
  if (dir) {
    execFileSync('bash', [SCRIPT, 'down', dir], { env: scriptEnv(), stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
  await cleanupNamespace(ns);
});

describe.skipIf(!PLUGIN)('the dynamic-security recipe, end to end', () => {
  it('a device registered by the registry presses with its issued secret and is acked stored through gateway-mqtt', async () => {
    const resident = await call('POST', '/api/residents', {
      name: 'Recipe',
      address: '1 Road',
      postcode: 'GL1 2AB',
    });
    const created = await call('POST', '/api/devices', {
      serial: 'PND-RECIPE1',
      residentId: resident.body.id,
      kind: 'pendant',
    });
    expect(created.status).toBe(201);
    const { username, secret } = created.body.credentials as { username: string; secret: string };

    const device = await connect({ username, password: secret });
    expect(device).not.toBeInstanceOf(Error);
    const client = device as MqttClient;
    const acks: DeviceAck[] = [];
    client.on('message', (_topic, payload) => acks.push(DeviceAck.parse(JSON.parse(payload.toString()))));
    await client.subscribeAsync(n.mqtt.ack(username), { qos: 1 });
    const press = { id: 'recipe-press-1', type: 'pendant.pressed', at: new Date().toISOString() };
    // As a pendant does, the press is sent again until it is acked: the registry answers 201 after
    // at most 2 s whether or not the device map has the entry yet (on a busy machine it may not),
    // and the gateway leaves an alarm from a device the map does not know unanswered, for a resend.
    let sentAt = 0;
    await waitFor(
      async () => {
        const stored = acks.find((ack) => 'stored' in ack && ack.id === press.id);
        if (stored) return stored;
        if (Date.now() - sentAt >= 2_000) {
          sentAt = Date.now();
          await client.publishAsync(n.mqtt.events(username), JSON.stringify(press), { qos: 1 });
        }
        return undefined;
      },
      { timeoutMs: 30_000, what: 'the stored ack' },
    ).catch((err) => {
      throw new Error(`${(err as Error).message} (gateway log:\n${gatewayLog})`);
    });
    await client.endAsync();

    // Stored in EVENTS: the registry's own consumer saw the press.
    const health = await waitFor(async () => {
      const got = await call('GET', '/api/devices/PND-RECIPE1/health');
      return got.body.lastPendantAt ? got.body : undefined;
    });
    expect(health.lastPendantAt).toBe(press.at);
  });

  it('without its secret nothing connects: anonymous (as the simulated homes do), no password, a wrong one', async () => {
    for (const options of [{}, { username: 'PND-RECIPE1' }, { username: 'PND-RECIPE1', password: 'guess' }]) {
      const refused = await connect(options);
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toMatch(/Not authorized|Bad User Name or Password/i);
    }
  });
});

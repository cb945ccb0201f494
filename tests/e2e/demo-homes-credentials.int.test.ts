import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { names } from '@telecare/contracts';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import {
  cleanupNamespace,
  DYNSEC_PLUGIN,
  type DynsecMosquitto,
  serviceEnv,
  startDynsecMosquitto,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `pnpm demo` runs its homes against a dynamic-security Mosquitto: `telecare-sim homes` must log
 * each device in with the secret the registry issued, on the first run and when it resumes the
 * homes of an earlier run (whose secrets it no longer has), while the broker refuses anyone
 * without a login.
 */
const ns = uniqueNamespace('demohomescred');
const n = names(ns);
const ADMIN_PASSWORD = randomBytes(12).toString('hex');
const GATEWAY_USER = 'telecare-gateway-mqtt';
const GATEWAY_PASSWORD = randomBytes(12).toString('hex');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let broker: DynsecMosquitto | undefined;
let registry: RegistryHandle | undefined;
let gateway: GatewayMqttHandle | undefined;
let token = '';
/** The gateway's URL, login included, as `.data/stack.env` gives it to every process. */
let stackMqttUrl = '';

beforeAll(async () => {
  if (!DYNSEC_PLUGIN) return;
  broker = await startDynsecMosquitto({ adminPassword: ADMIN_PASSWORD, label: 'demohomescred' });
  const ctrl = (...args: string[]) => broker?.ctrl(...args);
  await waitFor(() => {
    try {
      ctrl('listRoles');
      return true;
    } catch {
      return false;
    }
  });
  ctrl('createRole', 'telecare-gateway');
  ctrl('addRoleACL', 'telecare-gateway', 'subscribePattern', n.mqtt.allEvents, 'allow');
  ctrl('addRoleACL', 'telecare-gateway', 'subscribePattern', n.mqtt.allStatus, 'allow');
  ctrl('addRoleACL', 'telecare-gateway', 'publishClientSend', n.mqtt.ack('+'), 'allow');
  ctrl('addRoleACL', 'telecare-gateway', 'publishClientSend', n.mqtt.config('+'), 'allow');
  ctrl('createClient', GATEWAY_USER, '-c', n.mqttClientIds.gateway, '-p', GATEWAY_PASSWORD);
  ctrl('addClientRole', GATEWAY_USER, 'telecare-gateway');
  stackMqttUrl = `mqtt://${GATEWAY_USER}:${GATEWAY_PASSWORD}@127.0.0.1:${broker.port}`;

  const env = serviceEnv(ns, {
    REGISTRY_PORT: '0',
    GATEWAY_MQTT_PORT: '0',
    MQTT_ADMIN_URL: broker.adminUrl,
    MQTT_URL: stackMqttUrl,
    REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
  });
  token = env.TELECARE_ADMIN_TOKEN ?? '';
  registry = await startRegistry(loadRegistryConfig(env));
  gateway = await startGatewayMqtt(loadGatewayMqttConfig(env));
});

afterAll(async () => {
  await gateway?.close();
  await registry?.close();
  broker?.stop();
  await cleanupNamespace(ns);
});

/** `telecare-sim homes` as `pnpm demo` runs it, stopped once its first press is stored. */
function runHomes(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(root, 'node_modules', '.bin', 'tsx'),
      ['simulators/src/main.ts', 'homes', '--homes', '1', '--press-every', '0', '--seed', '5'],
      {
        cwd: root,
        env: {
          ...process.env,
          REGISTRY_URL: registry?.url,
          MQTT_URL: stackMqttUrl,
          TELECARE_NAMESPACE: ns,
          TELECARE_ADMIN_TOKEN: token,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no press stored within 25 s:\n${out}`));
    }, 25_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (/pendant pressed, stored/.test(out)) child.kill('SIGTERM');
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** Connects without a login; resolves with the broker's refusal, or true when let in. */
function anonymousConnect(port: number): Promise<Error | true> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
      clientId: `anon-${randomBytes(4).toString('hex')}`,
    });
    client.once('connect', () => {
      client.end(true);
      resolve(true);
    });
    client.once('error', (err) => {
      client.end(true);
      resolve(err);
    });
  });
}

describe.skipIf(!DYNSEC_PLUGIN)('`pnpm demo` homes on a dynamic-security broker', { timeout: 90_000 }, () => {
  it('log in with the secrets the registry issues, again after a restart, and the broker refuses anonymous clients', async () => {
    const first = await runHomes();
    expect(first).toMatch(/home 1: resident res_\S+ with 4 devices, logged in with the secrets/);
    expect(first).toMatch(/pendant pressed, stored in/);

    // A resumed home had its secrets shown once, to the previous run: it gets new ones.
    const second = await runHomes();
    expect(second).toMatch(/\(from an earlier run\), logged in with the secrets/);
    expect(second).toMatch(/pendant pressed, stored in/);

    const anonymous = await anonymousConnect(broker?.port ?? 0);
    expect(anonymous).toBeInstanceOf(Error);
    expect((anonymous as Error).message).toMatch(/not authori[sz]ed/i);
  });
});

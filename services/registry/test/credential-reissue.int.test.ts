import { randomBytes } from 'node:crypto';
import { createLogger } from '@telecare/platform';
import {
  cleanupNamespace,
  DYNSEC_PLUGIN,
  type DynsecMosquitto,
  serviceEnv,
  startDynsecMosquitto,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { MqttPacketProxy } from './mqtt-proxy.ts';
import { apiCaller, mqttLogin } from './support.ts';

// The registry drives the broker through a proxy that can lose one of the broker's answers on its
// way back: the broker did what it was told, and the registry never hears so.

const ns = uniqueNamespace('regreissue');
const logger = createLogger('registry-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ADMIN_PASSWORD = 'admin-secret-for-the-reissue-test';

let broker: DynsecMosquitto;
let proxy: MqttPacketProxy;
let registry: RegistryHandle;
let token: string;

const call = apiCaller(
  () => registry.url,
  () => token,
);

/** Whether the broker admits the login (the device's client id is its serial). */
async function admits(username: string, password: string): Promise<boolean> {
  const client = await mqttLogin(broker.port, username, password);
  if (client instanceof Error) return false;
  await client.endAsync();
  return true;
}

beforeAll(async () => {
  if (!DYNSEC_PLUGIN) return;
  broker = await startDynsecMosquitto({ adminPassword: ADMIN_PASSWORD, label: 'regreissue' });
  await waitFor(() => admits('registry-admin', ADMIN_PASSWORD), { what: 'the broker' });
  proxy = await MqttPacketProxy.start(broker.port);
  const env = serviceEnv(ns, {
    REGISTRY_PORT: '0',
    MQTT_ADMIN_URL: `mqtt://registry-admin:${ADMIN_PASSWORD}@127.0.0.1:${proxy.port}`,
    REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
  });
  token = env.TELECARE_ADMIN_TOKEN!;
  registry = await startRegistry(loadRegistryConfig(env), { logger });
});

afterAll(async () => {
  await registry?.close();
  await proxy?.close();
  broker?.stop();
  await cleanupNamespace(ns);
});

describe.skipIf(!DYNSEC_PLUGIN)('a new secret whose broker answer is lost', () => {
  let residentId: string;

  const pendant = async (serial: string): Promise<string> => {
    if (!residentId) {
      const made = await call('POST', '/api/residents', {
        name: 'Door Step',
        address: '1 Road',
        postcode: 'GL1 2AB',
      });
      residentId = made.body.id as string;
    }
    const created = await call('POST', '/api/devices', { serial, residentId, kind: 'pendant' });
    expect(created.status).toBe(201);
    return (created.body.credentials as { secret: string }).secret;
  };

  it('re-issue: answered 503 and the device keeps the secret it has; issuing again then works', async () => {
    const old = await pendant('PND-REISSUE1');
    const before = await call('GET', '/api/devices/PND-REISSUE1');

    const lost = proxy.dropNext('answer', 'setClientPassword');
    const issued = await call('POST', '/api/devices/PND-REISSUE1/credentials');
    await lost;
    expect(issued.status, JSON.stringify(issued.body)).toBe(503);
    expect(issued.body.credentials).toBeUndefined();
    expect(issued.body.message).toMatch(/the device keeps the one it had; try again/);
    // Nobody was shown a new secret, so the broker must still take the one the device holds: it
    // used to hold the new one, and the pendant at the door was shut out until issued again.
    expect(await admits('PND-REISSUE1', old)).toBe(true);
    const after = await call('GET', '/api/devices/PND-REISSUE1');
    expect(after.body.credentialIssuedAt).toBe(before.body.credentialIssuedAt);

    const again = await call('POST', '/api/devices/PND-REISSUE1/credentials');
    expect(again.status).toBe(201);
    const fresh = (again.body.credentials as { secret: string }).secret;
    expect(await admits('PND-REISSUE1', fresh)).toBe(true);
    expect(await admits('PND-REISSUE1', old)).toBe(false);
  }, 60_000);

  it('a move to another home: answered 503, the device stays where it was with the secret it has', async () => {
    const old = await pendant('PND-REISSUE2');
    const other = await call('POST', '/api/residents', {
      name: 'Next Door',
      address: '2 Road',
      postcode: 'GL1 2AB',
    });

    const lost = proxy.dropNext('answer', 'setClientPassword');
    const moved = await call('PATCH', '/api/devices/PND-REISSUE2', { residentId: other.body.id });
    await lost;
    expect(moved.status, JSON.stringify(moved.body)).toBe(503);
    expect((await call('GET', '/api/devices/PND-REISSUE2')).body.residentId).toBe(residentId);
    expect(await admits('PND-REISSUE2', old)).toBe(true);
  }, 60_000);
});

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The stack's data folder is read when infra/lib/paths.ts loads: a folder of this file's own.
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'telecare-broker-it-'));
process.env.TELECARE_DATA_DIR = dataDir;
const broker = await import('../lib/broker.ts');
const { banner } = await import('../lib/output.ts');

const DYNSEC_PLUGIN = [
  '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/mosquitto_dynamic_security.so',
].some((file) => existsSync(file));
/** The development broker every engineer's machine runs (anonymous). */
const servers = { mqttUrl: process.env.MQTT_URL || 'mqtt://127.0.0.1:1883' };
const ns = `stackbroker${process.pid}${Date.now().toString(36)}`;
const found = {
  TELECARE_ADMIN_TOKEN: 'a'.repeat(32),
  MQTT_URL: servers.mqttUrl,
  TELECARE_NAMESPACE: ns,
  MQTT_DYNSEC_ADMIN_PASSWORD: randomBytes(16).toString('hex'),
  MQTT_DYNSEC_GATEWAY_PASSWORD: randomBytes(16).toString('hex'),
};
const noAdminEnv = { ...process.env, MQTT_ADMIN_URL: '' };

/** True when the broker lets the client in, else the CONNACK code it refused with. */
async function login(url: string, clientId: string): Promise<true | number | undefined> {
  const code = await broker.connackCode(url, clientId);
  return code === 0 ? true : code;
}

beforeAll(() => {
  broker.stopDynsec();
});

afterAll(() => {
  broker.stopDynsec();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('device credentials on or off', () => {
  it('are on by default and off only when asked', () => {
    expect(broker.credentialsWanted([], {})).toBe(true);
    expect(broker.credentialsWanted(['up', '--insecure-broker'], {})).toBe(false);
    expect(broker.credentialsWanted([], { TELECARE_DEVICE_CREDENTIALS: 'off' })).toBe(false);
    expect(() => broker.credentialsWanted([], { TELECARE_DEVICE_CREDENTIALS: 'maybe' })).toThrow(/on or off/);
  });

  it('off keeps the anonymous broker, and the banner says so loudly', async () => {
    const { values, setup } = await broker.secureBroker(
      { ...found, MQTT_ADMIN_URL: 'mqtt://left:over@127.0.0.1:1' },
      { wanted: false, env: noAdminEnv },
    );
    expect(setup.kind).toBe('insecure');
    expect(values.MQTT_URL).toBe(servers.mqttUrl);
    expect(values.MQTT_ADMIN_URL).toBeUndefined();
    expect(banner(values, [])).toMatch(/device credentials\s+.*off.* — anonymous broker.*--insecure-broker/);
    expect(broker.dynsecPid()).toBeUndefined();
  });
});

describe.skipIf(!DYNSEC_PLUGIN)('the stack on an anonymous broker', { timeout: 60_000 }, () => {
  it('finds the development broker anonymous', async () => {
    expect(await broker.allowsAnonymous(servers.mqttUrl)).toBe(true);
  });

  it('starts a dynamic-security Mosquitto of its own, with the gateway and the registry admin, that refuses anonymous clients', async () => {
    const { values, setup } = await broker.secureBroker(found, { wanted: true, env: noAdminEnv });
    expect(setup).toMatchObject({ kind: 'own', started: true });
    const port = setup.kind === 'own' ? setup.port : 0;
    expect(values.MQTT_URL).toBe(
      `mqtt://telecare-gateway-mqtt:${found.MQTT_DYNSEC_GATEWAY_PASSWORD}@127.0.0.1:${port}`,
    );
    expect(values.MQTT_ADMIN_URL).toBe(
      `mqtt://registry-admin:${found.MQTT_DYNSEC_ADMIN_PASSWORD}@127.0.0.1:${port}`,
    );
    expect(banner(values, [])).toMatch(
      /device credentials\s+.*on.* dynamic security at 127\.0\.0\.1:\d+ \(started by the stack/,
    );

    expect(await broker.allowsAnonymous(`mqtt://127.0.0.1:${port}`)).toBe(false);
    expect(await login(`mqtt://127.0.0.1:${port}`, 'anyone')).toBe(5);
    expect(await login(values.MQTT_URL ?? '', `${ns}-gateway-mqtt`)).toBe(true);
    expect(
      await login(values.MQTT_URL?.replace(/:[0-9a-f]{32}@/, ':wrong@') ?? '', `${ns}-gateway-mqtt`),
    ).toBe(5);
    // The gateway's login is bound to the namespace's client id.
    expect(await login(values.MQTT_URL ?? '', 'telecare-gateway-mqtt-other')).toBe(5);
    expect(await login(values.MQTT_ADMIN_URL ?? '', `admin-${process.pid}`)).toBe(true);

    // A second start finds it running; after a stop, the saved passwords open the same state.
    const saved = { ...found, MQTT_DYNSEC_STATE: 'kept', MQTT_DYNSEC_PORT: values.MQTT_DYNSEC_PORT ?? '' };
    const again = await broker.secureBroker(saved, { wanted: true, env: noAdminEnv });
    expect(again.setup).toMatchObject({ kind: 'own', started: false, port });
    expect(broker.stopDynsec()).toBe(true);
    expect(broker.dynsecPid()).toBeUndefined();
    const restarted = await broker.secureBroker(saved, { wanted: true, env: noAdminEnv });
    expect(restarted.setup).toMatchObject({ kind: 'own', started: true, port });
    expect(await login(restarted.values.MQTT_URL ?? '', `${ns}-gateway-mqtt`)).toBe(true);

    // .data/stack.env lost (new passwords, nothing says they match the state): the state is made anew.
    const lost = {
      ...found,
      MQTT_DYNSEC_ADMIN_PASSWORD: randomBytes(16).toString('hex'),
      MQTT_DYNSEC_GATEWAY_PASSWORD: randomBytes(16).toString('hex'),
    };
    const remade = await broker.secureBroker(lost, { wanted: true, env: noAdminEnv });
    expect(remade.setup).toMatchObject({ kind: 'own', started: true });
    expect(await login(remade.values.MQTT_URL ?? '', `${ns}-gateway-mqtt`)).toBe(true);
    expect(await login(remade.values.MQTT_ADMIN_URL ?? '', `admin-${process.pid}`)).toBe(true);
  });

  it('uses a dynamic-security broker someone else runs when MQTT_ADMIN_URL is given', async () => {
    const given = 'mqtt://registry-admin:theirs@broker.example:1883';
    const { values, setup } = await broker.secureBroker(found, {
      wanted: true,
      env: { ...process.env, MQTT_ADMIN_URL: given },
    });
    expect(setup.kind).toBe('given');
    expect(values.MQTT_ADMIN_URL).toBe(given);
    expect(values.MQTT_URL).toBe(servers.mqttUrl);
  });
});

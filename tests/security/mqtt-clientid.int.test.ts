import { names } from '@telecare/contracts';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import { SimulatedDevice } from '@telecare/simulators';
import {
  cleanupNamespace,
  DYNSEC_PLUGIN,
  type DynsecMosquitto,
  servers,
  serviceEnv,
  startDynsecMosquitto,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectAs,
  dynsecAdminReady,
  type StaticMosquitto,
  startStaticMosquitto,
} from '../support/mosquitto.ts';
import { registryCreate } from './support.ts';

/**
 * Attack replay: a device logs in with its own valid credentials but under another client id
 * (the gateway's, or another device's) with `clean: false`, to take over that session and the
 * messages the broker queues for it. The broker must bind each login to its own client id, and a
 * gateway whose session is taken over anyway must say so on /readyz.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!DYNSEC_PLUGIN)('client-id takeover on the dynamic-security broker', () => {
  const ns = uniqueNamespace('secclid');
  const n = names(ns);
  const ADMIN_PASSWORD = 'admin-secret-for-this-test';
  const GATEWAY_USER = 'telecare-gateway-mqtt';
  const GATEWAY_PASSWORD = 'gateway-secret-for-this-test';
  let broker: DynsecMosquitto;
  let registry: RegistryHandle;
  let gateway: GatewayMqttHandle;
  const creds = new Map<string, string>();
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    broker = await startDynsecMosquitto({ adminPassword: ADMIN_PASSWORD, label: 'secclid' });
    await dynsecAdminReady(broker, ADMIN_PASSWORD, `${ns}-probe`);
    // The gateway's client and role as infra/mosquitto/dynsec.sh makes them, its id bound.
    const ctrl = broker.ctrl.bind(broker);
    ctrl('createRole', 'telecare-gateway');
    ctrl('addRoleACL', 'telecare-gateway', 'subscribePattern', n.mqtt.allEvents, 'allow');
    ctrl('addRoleACL', 'telecare-gateway', 'subscribePattern', n.mqtt.allStatus, 'allow');
    ctrl('addRoleACL', 'telecare-gateway', 'publishClientSend', n.mqtt.ack('+'), 'allow');
    ctrl('addRoleACL', 'telecare-gateway', 'publishClientSend', n.mqtt.config('+'), 'allow');
    ctrl('createClient', GATEWAY_USER, '-c', n.mqttClientIds.gateway, '-p', GATEWAY_PASSWORD);
    ctrl('addClientRole', GATEWAY_USER, 'telecare-gateway');

    const env = serviceEnv(ns, {
      REGISTRY_PORT: '0',
      GATEWAY_MQTT_PORT: '0',
      MQTT_ADMIN_URL: broker.adminUrl,
      MQTT_URL: `mqtt://${GATEWAY_USER}:${GATEWAY_PASSWORD}@127.0.0.1:${broker.port}`,
    });
    registry = await startRegistry(loadRegistryConfig(env));
    gateway = await startGatewayMqtt(loadGatewayMqttConfig(env));

    const call = registryCreate(registry.url, env.TELECARE_ADMIN_TOKEN);
    const resident = await call('/api/residents', {
      name: 'Clientid Resident',
      address: '1 Test Street, Gloucester',
      postcode: 'GL1 2AB',
    });
    for (const serial of ['PND-SEC-CLID-A', 'PND-SEC-CLID-B']) {
      const created = await call('/api/devices', { serial, residentId: resident.id, kind: 'pendant' });
      creds.set(serial, (created.credentials as { secret: string }).secret);
    }
  });

  afterAll(async () => {
    for (const close of closers) await close().catch(() => undefined);
    await gateway?.close();
    await registry?.close();
    broker?.stop();
    await cleanupNamespace(ns);
  });

  it('a device logging in with its own secret under the gateway’s or another device’s client id is refused', async () => {
    const secretA = creds.get('PND-SEC-CLID-A')!;
    for (const clientId of [n.mqttClientIds.gateway, 'PND-SEC-CLID-B']) {
      const intruder = await connectAs(broker.port, {
        username: 'PND-SEC-CLID-A',
        password: secretA,
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
      });
      if (!(intruder instanceof Error)) await intruder.endAsync();
      expect(intruder, `logged in as ${clientId}`).toBeInstanceOf(Error);
      expect((intruder as Error).message).toMatch(/not authori[sz]ed/i);
    }
    // Under its own id (its serial) the device is let in.
    const own = await connectAs(broker.port, {
      username: 'PND-SEC-CLID-A',
      password: secretA,
      clientId: n.mqttClientIds.device('PND-SEC-CLID-A'),
    });
    expect(own).not.toBeInstanceOf(Error);
    await (own as MqttClient).endAsync();
  });

  it('while a device keeps trying to take over the gateway’s and another device’s sessions, every press of that device is stored and acked to it and the gateway stays ready', async () => {
    const secretA = creds.get('PND-SEC-CLID-A')!;
    const seen: string[] = [];
    // The attacker's clients reconnect at once whenever they are let in or thrown out.
    for (const clientId of [n.mqttClientIds.gateway, 'PND-SEC-CLID-B']) {
      const intruder = mqtt.connect(`mqtt://127.0.0.1:${broker.port}`, {
        protocolVersion: 5,
        username: 'PND-SEC-CLID-A',
        password: secretA,
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
        reconnectPeriod: 200,
        connectTimeout: 2_000,
      });
      intruder.on('error', () => undefined);
      intruder.on('message', (topic) => seen.push(topic));
      closers.push(() => intruder.endAsync(true));
    }
    const victim = new SimulatedDevice({
      serial: 'PND-SEC-CLID-B',
      mqttUrl: `mqtt://127.0.0.1:${broker.port}`,
      namespace: ns,
      username: 'PND-SEC-CLID-B',
      password: creds.get('PND-SEC-CLID-B')!,
      resendMs: 3_000,
      maxAttempts: 3,
    });
    await victim.connect();
    closers.push(() => victim.close());
    for (let i = 0; i < 10; i++) {
      const sent = await victim.send(
        'pendant.pressed',
        {},
        { id: `clid-press-${String(i).padStart(4, '0')}` },
      );
      // Stored at the first send: none waited on a resend.
      expect(sent.attempts).toBe(1);
      await sleep(100);
    }
    expect(seen).toEqual([]);
    const ready = await fetch(`${gateway.url}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).not.toMatch(/^gateway_mqtt_connection_drops_total\{/m);
  });
});

describe('a gateway whose session keeps being taken over', () => {
  const ns = uniqueNamespace('seckick');
  const n = names(ns);
  let gateway: GatewayMqttHandle;
  let rogue: MqttClient | undefined;

  beforeAll(async () => {
    // The shared development broker is anonymous: nothing stops a second login under the
    // gateway's id there, which is what a misconfigured twin or an unbound broker allows.
    gateway = await startGatewayMqtt(loadGatewayMqttConfig(serviceEnv(ns, { GATEWAY_MQTT_PORT: '0' })));
  });

  afterAll(async () => {
    await rogue?.endAsync(true);
    await gateway?.close();
    await cleanupNamespace(ns);
  });

  it('reports not-ready on /readyz with the reason, and counts the drops', async () => {
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    const port = Number(new URL(servers.mqttUrl).port || 1883);
    rogue = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 5,
      clientId: n.mqttClientIds.gateway,
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      reconnectPeriod: 300,
    });
    rogue.on('error', () => undefined);
    const body = await waitFor(
      async () => {
        const res = await fetch(`${gateway.url}/readyz`);
        const body = (await res.json()) as { checks?: Record<string, boolean> };
        return res.status === 503 && body.checks?.mqttSession === false
          ? (body as Record<string, unknown>)
          : undefined;
      },
      { timeoutMs: 15_000, what: 'the gateway to report not-ready' },
    );
    expect(body.status).toBe('not-ready');
    expect(body.checks).toMatchObject({ mqttSession: false });
    expect(String(body.mqttSession)).toMatch(
      new RegExp(`dropped \\d+ times .* client id ${n.mqttClientIds.gateway}`),
    );
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    const drops = Number(/^gateway_mqtt_connection_drops_total\{[^}]*\} (\d+)$/m.exec(metrics)?.[1]);
    expect(drops).toBeGreaterThanOrEqual(3);
  });
});

describe('client-id binding in the static configuration (password file and ACL)', () => {
  const ns = 'telecare';
  const n = names(ns);
  let broker: StaticMosquitto | undefined;
  let port: number;

  beforeAll(async () => {
    broker = await startStaticMosquitto(ns, [
      ['PND-STATIC-A', 'secret-a'],
      ['PND-STATIC-B', 'secret-b'],
      ['telecare-gateway-mqtt', 'secret-gw'],
    ]);
    port = broker.port;
  });

  afterAll(async () => {
    await broker?.stop();
  });

  it('a device logging in under another device’s or the gateway’s client id does not take over its session', async () => {
    const victims: Array<{ client: MqttClient; kicked: boolean }> = [];
    for (const [user, secret] of [
      ['PND-STATIC-B', 'secret-b'],
      ['telecare-gateway-mqtt', 'secret-gw'],
    ] as const) {
      const client = await connectAs(port, {
        username: user,
        password: secret,
        clientId: user,
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
      });
      if (client instanceof Error) throw client;
      const victim = { client, kicked: false };
      client.on('disconnect', () => (victim.kicked = true));
      client.on('close', () => (victim.kicked = true));
      victims.push(victim);
    }
    for (const clientId of ['PND-STATIC-B', 'telecare-gateway-mqtt']) {
      const intruder = await connectAs(port, {
        username: 'PND-STATIC-A',
        password: 'secret-a',
        clientId,
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
      });
      if (!(intruder instanceof Error)) await intruder.endAsync();
    }
    await sleep(500);
    expect(victims.map((v) => v.kicked)).toEqual([false, false]);
    // The session is still the gateway's: a device's event reaches it.
    const gatewayClient = victims[1]!.client;
    await gatewayClient.subscribeAsync(n.mqtt.allEvents, { qos: 1 });
    const got = new Promise<string>((resolve) => gatewayClient.once('message', (topic) => resolve(topic)));
    const device = await connectAs(port, { username: 'PND-STATIC-A', password: 'secret-a', clientId: 'any' });
    if (device instanceof Error) throw device;
    await device.publishAsync(
      n.mqtt.events('PND-STATIC-A'),
      JSON.stringify({ id: 'static-press-1', type: 'pendant.pressed', at: new Date().toISOString() }),
      { qos: 1 },
    );
    expect(await got).toBe(n.mqtt.events('PND-STATIC-A'));
    await device.endAsync();
    for (const victim of victims) await victim.client.endAsync();
  });
});

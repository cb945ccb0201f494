import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats, type NatsConnection } from '@nats-io/transport-node';
import { names, TelecareEvent } from '@telecare/contracts';
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

/**
 * Per-device MQTT credentials end to end, on a dynamic-security Mosquitto of this file's own: the
 * registry issues each device its secret and role, the gateway logs in as its own client with the
 * gateway role infra/mosquitto/README.md sets up, and the broker keeps each device to its topics.
 */

const PLUGIN = DYNSEC_PLUGIN;

const ns = uniqueNamespace('e2ecred');
const n = names(ns);
const ADMIN_PASSWORD = 'admin-secret-for-this-test';
const GATEWAY_USER = 'telecare-gateway-mqtt';
const GATEWAY_PASSWORD = 'gateway-secret-for-this-test';

let broker: DynsecMosquitto | undefined;
let brokerPort: number;
let registry: RegistryHandle | undefined;
let gateway: GatewayMqttHandle | undefined;
let nc: NatsConnection;
let token: string;
const closers: (() => Promise<unknown>)[] = [];

/** As an administrator with mosquitto_ctrl would (infra/mosquitto/README.md). */
const ctrl = (...args: string[]) => broker?.ctrl(...args);

/** Connects, or resolves with the broker's refusal. */
function connectAs(username: string, password: string): Promise<MqttClient | Error> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${brokerPort}`, {
      username,
      password,
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
      // The broker admits a device's login only under its own client id, its serial.
      clientId: username,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      resolve(err);
    });
  });
}

async function registryCall(path: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(new URL(path, registry?.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  expect(response.status, text).toBe(201);
  return JSON.parse(text) as Record<string, unknown>;
}

async function eventsOf(serial: string): Promise<TelecareEvent[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(n.streams.events);
  const out: TelecareEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    const event = m ? TelecareEvent.parse(m.json()) : undefined;
    if (event?.subject === serial) out.push(event);
  }
  return out;
}

beforeAll(async () => {
  if (!PLUGIN) return;
  broker = await startDynsecMosquitto({ adminPassword: ADMIN_PASSWORD, label: 'e2ecred' });
  brokerPort = broker.port;
  await waitFor(async () => {
    const client = await connectAs('registry-admin', ADMIN_PASSWORD);
    if (client instanceof Error) return false;
    await client.endAsync();
    return true;
  });
  // The gateway's client and role, as infra/mosquitto/README.md sets them up, for this topic root.
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
    MQTT_URL: `mqtt://${GATEWAY_USER}:${GATEWAY_PASSWORD}@127.0.0.1:${brokerPort}`,
  });
  token = env.TELECARE_ADMIN_TOKEN ?? '';
  registry = await startRegistry(loadRegistryConfig(env));
  gateway = await startGatewayMqtt(loadGatewayMqttConfig(env));
  nc = await connectNats({ servers: servers.natsUrl });
});

afterAll(async () => {
  for (const close of closers) await close().catch(() => undefined);
  await gateway?.close();
  await registry?.close();
  await nc?.close();
  broker?.stop();
  await cleanupNamespace(ns);
});

describe.skipIf(!PLUGIN)(
  'per-device MQTT credentials, registry to gateway, on a dynamic-security Mosquitto',
  () => {
    it('a device logging in with the secret the registry issued has its press stored and acked; another device’s topic is refused by the broker', async () => {
      const resident = await registryCall('/api/residents', {
        name: 'Cred Resident',
        address: '1 Test Street, Gloucester',
        postcode: 'GL1 2AB',
      });
      const register = async (serial: string) => {
        const created = await registryCall('/api/devices', {
          serial,
          residentId: resident.id,
          kind: 'pendant',
        });
        return created.credentials as { username: string; secret: string };
      };
      const own = await register('PND-E2E-CRED-A');
      const other = await register('PND-E2E-CRED-B');
      expect(own.username).toBe('PND-E2E-CRED-A');

      // Without the secret the broker does not let the device in at all.
      expect(await connectAs(own.username, 'not-the-secret')).toBeInstanceOf(Error);

      const device = new SimulatedDevice({
        serial: own.username,
        mqttUrl: `mqtt://127.0.0.1:${brokerPort}`,
        namespace: ns,
        username: own.username,
        password: own.secret,
        resendMs: 2_000,
        maxAttempts: 3,
      });
      await device.connect();
      closers.push(() => device.close());
      const sent = await device.send('pendant.pressed', {}, { id: 'cred-press-0001' });
      expect(sent.attempts).toBe(1);
      const stored = (await eventsOf(own.username)).filter((e) => e.type === 'pendant.pressed');
      expect(stored).toHaveLength(1);
      expect(stored[0]).toMatchObject({ deviceeventid: 'cred-press-0001', residentid: resident.id });
      // The retained online status went through the device's own status topic, too.
      expect((await eventsOf(own.username)).map((e) => e.type)).toContain('device.online');

      // The same device, with its own secret, speaking for the other device: the broker refuses
      // the publish (PUBACK "not authorised") and the subscription to the other's acks.
      const intruder = await connectAs(own.username, own.secret);
      if (intruder instanceof Error) throw intruder;
      closers.push(() => intruder.endAsync());
      const refused = await intruder
        .publishAsync(
          n.mqtt.events(other.username),
          JSON.stringify({ id: 'forged-press-0001', type: 'pendant.pressed', at: new Date().toISOString() }),
          { qos: 1 },
        )
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(refused).toBeInstanceOf(Error);
      expect(String(refused)).toMatch(/not authori[sz]ed|135/i);
      await expect(intruder.subscribeAsync(n.mqtt.ack(other.username), { qos: 1 })).rejects.toThrow(
        /not authori[sz]ed/i,
      );

      // The other device, with its own secret, still gets through; the forged press never did.
      const otherDevice = new SimulatedDevice({
        serial: other.username,
        mqttUrl: `mqtt://127.0.0.1:${brokerPort}`,
        namespace: ns,
        username: other.username,
        password: other.secret,
        resendMs: 2_000,
        maxAttempts: 3,
      });
      await otherDevice.connect();
      closers.push(() => otherDevice.close());
      await otherDevice.send('heartbeat', {}, { id: 'cred-beat-0001' });
      const otherEvents = await eventsOf(other.username);
      expect(otherEvents.map((e) => e.deviceeventid)).toContain('cred-beat-0001');
      expect(otherEvents.map((e) => e.deviceeventid)).not.toContain('forged-press-0001');
    });
  },
);

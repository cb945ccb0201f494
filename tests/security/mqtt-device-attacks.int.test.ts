import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats, type NatsConnection } from '@nats-io/transport-node';
import { names, TelecareEvent } from '@telecare/contracts';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
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
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Attack replay: someone holding ONE device's MQTT login (its serial and issued secret) on the
 * dynamic-security broker the registry drives. They try to read other devices' and the gateway's
 * topics, to pose as another device or resident through the payload, the envelope's fields or
 * MQTT v5 properties, to drive the broker itself (`$CONTROL`) or forge the broker's log (`$SYS`),
 * and to go on publishing once the device's secret is re-issued or the device is decommissioned,
 * a delayed last will included.
 */

const ns = uniqueNamespace('secdev');
const n = names(ns);
const ADMIN_PASSWORD = 'admin-secret-for-this-test';
const GATEWAY_USER = 'telecare-gateway-mqtt';
const GATEWAY_PASSWORD = 'gateway-secret-for-this-test';
const A = 'PND-SEC-DEV-A';
const B = 'PND-SEC-DEV-B';
const R = 'PND-SEC-DEV-R';
const D = 'PND-SEC-DEV-D';
const W = 'PND-SEC-DEV-W';

let broker: DynsecMosquitto;
let registry: RegistryHandle;
let gateway: GatewayMqttHandle;
let nc: NatsConnection;
let token = '';
const residents = new Map<string, string>();
const secrets = new Map<string, string>();
const closers: (() => Promise<unknown>)[] = [];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function connectAs(options: IClientOptions): Promise<MqttClient | Error> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${broker.port}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
      ...options,
    });
    client.once('connect', () => {
      closers.push(() => client.endAsync(true));
      resolve(client);
    });
    client.once('error', (err) => {
      client.end(true);
      resolve(err);
    });
  });
}

async function device(serial: string): Promise<MqttClient> {
  const client = await connectAs({ username: serial, password: secrets.get(serial)!, clientId: serial });
  if (client instanceof Error) throw client;
  return client;
}

async function registryCall(method: string, route: string, body?: unknown) {
  const res = await fetch(new URL(route, registry.url), {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  expect(res.ok, text).toBe(true);
  return JSON.parse(text) as Record<string, unknown>;
}

async function storedEvents(): Promise<TelecareEvent[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(n.streams.events);
  const out: TelecareEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    if (m) out.push(TelecareEvent.parse(m.json()));
  }
  return out;
}

/** Publishes an event and waits for the device's ack on its own ack topic. */
async function pressAndAck(
  client: MqttClient,
  serial: string,
  id: string,
  extra: Record<string, unknown> = {},
) {
  const ack = new Promise<Record<string, unknown>>((resolve) => {
    const onMessage = (topic: string, payload: Buffer) => {
      if (topic !== n.mqtt.ack(serial)) return;
      const body = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (body.id !== id) return;
      client.off('message', onMessage);
      resolve(body);
    };
    client.on('message', onMessage);
  });
  await client.subscribeAsync(n.mqtt.ack(serial), { qos: 1 });
  await client.publishAsync(
    n.mqtt.events(serial),
    JSON.stringify({ id, type: 'pendant.pressed', at: new Date().toISOString(), ...extra }),
    { qos: 1 },
  );
  return ack;
}

beforeAll(async () => {
  if (!DYNSEC_PLUGIN) return;
  broker = await startDynsecMosquitto({ adminPassword: ADMIN_PASSWORD, label: 'secdev' });
  await waitFor(async () => {
    const client = await connectAs({
      username: 'registry-admin',
      password: ADMIN_PASSWORD,
      clientId: `${ns}-probe`,
    });
    if (client instanceof Error) return false;
    await client.endAsync();
    return true;
  });
  broker.ctrl('createRole', 'telecare-gateway');
  broker.ctrl('addRoleACL', 'telecare-gateway', 'subscribePattern', n.mqtt.allEvents, 'allow');
  broker.ctrl('addRoleACL', 'telecare-gateway', 'subscribePattern', n.mqtt.allStatus, 'allow');
  broker.ctrl('addRoleACL', 'telecare-gateway', 'publishClientSend', n.mqtt.ack('+'), 'allow');
  broker.ctrl('addRoleACL', 'telecare-gateway', 'publishClientSend', n.mqtt.config('+'), 'allow');
  broker.ctrl('createClient', GATEWAY_USER, '-c', n.mqttClientIds.gateway, '-p', GATEWAY_PASSWORD);
  broker.ctrl('addClientRole', GATEWAY_USER, 'telecare-gateway');

  const env = serviceEnv(ns, {
    REGISTRY_PORT: '0',
    GATEWAY_MQTT_PORT: '0',
    MQTT_ADMIN_URL: broker.adminUrl,
    MQTT_URL: `mqtt://${GATEWAY_USER}:${GATEWAY_PASSWORD}@127.0.0.1:${broker.port}`,
  });
  token = env.TELECARE_ADMIN_TOKEN ?? '';
  registry = await startRegistry(loadRegistryConfig(env));
  gateway = await startGatewayMqtt(loadGatewayMqttConfig(env));
  nc = await connectNats({ servers: servers.natsUrl });
  for (const [serial, name] of [
    [A, 'Attacker Home'],
    [B, 'Victim Home'],
    [R, 'Reissue Home'],
    [D, 'Decommission Home'],
    [W, 'Will Home'],
  ] as const) {
    const resident = await registryCall('POST', '/api/residents', {
      name,
      address: '1 Test Street, Gloucester',
      postcode: 'GL1 2AB',
    });
    residents.set(serial, String(resident.id));
    const created = await registryCall('POST', '/api/devices', {
      serial,
      residentId: resident.id,
      kind: 'pendant',
    });
    secrets.set(serial, (created.credentials as { secret: string }).secret);
  }
});

afterAll(async () => {
  for (const close of closers) await close().catch(() => undefined);
  await gateway?.close();
  await registry?.close();
  await nc?.close();
  broker?.stop();
  await cleanupNamespace(ns);
});

describe.skipIf(!DYNSEC_PLUGIN)('an attacker holding one device’s MQTT login', () => {
  it('reads nothing of another device’s or the gateway’s topics, whatever it subscribes to', async () => {
    const attacker = await device(A);
    const seen: string[] = [];
    attacker.on('message', (topic) => seen.push(topic));
    const filters = [
      '#',
      '$SYS/#',
      `${n.mqtt.ack('+')}`,
      n.mqtt.ack(B),
      n.mqtt.events(B),
      n.mqtt.allEvents,
      n.mqtt.allStatus,
      n.mqtt.config(B),
      '$CONTROL/dynamic-security/#',
    ];
    for (const filter of filters) {
      // Each refused in the SUBACK (reason 0x87 not authorised).
      const granted = await attacker.subscribeAsync(filter, { qos: 1 }).then(
        () => 'granted',
        (err: Error) => err.message,
      );
      expect(granted, filter).toMatch(/not authori[sz]ed/i);
    }
    const victim = await device(B);
    const ack = await pressAndAck(victim, B, 'victim-press-0001');
    expect(ack).toEqual({ id: 'victim-press-0001', stored: true });
    await sleep(300);
    expect(seen).toEqual([]);
  });

  it('cannot pose as another device or resident through the payload, envelope fields or MQTT v5 properties', async () => {
    const attacker = await device(A);
    const victim = await device(B);
    const victimSeen: string[] = [];
    await victim.subscribeAsync(n.mqtt.ack(B), { qos: 1 });
    victim.on('message', (_topic, payload) => victimSeen.push(payload.toString()));

    // Publishing on the victim's topic: refused by the broker (PUBACK not authorised), never stored.
    const onVictimTopic = await attacker
      .publishAsync(
        n.mqtt.events(B),
        JSON.stringify({ id: 'spoof-topic-0001', type: 'pendant.pressed', at: new Date().toISOString() }),
        { qos: 1 },
      )
      .then(
        (packet) => (packet && 'reasonCode' in packet ? (packet.reasonCode ?? 0) : 0),
        () => -1,
      );
    expect(onVictimTopic).not.toBe(0);

    // Envelope fields and another resident's id in the payload, a response topic and correlation
    // data pointing at the victim's ack topic, user properties naming the victim.
    const ack = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ack')), 10_000);
      attacker.on('message', (topic, payload) => {
        if (topic !== n.mqtt.ack(A)) return;
        const body = JSON.parse(payload.toString()) as Record<string, unknown>;
        if (body.id !== 'spoof-envl-0001') return;
        clearTimeout(timer);
        resolve(body);
      });
      void attacker.subscribeAsync(n.mqtt.ack(A), { qos: 1 }).then(() =>
        attacker.publishAsync(
          n.mqtt.events(A),
          JSON.stringify({
            id: 'spoof-envl-0001',
            type: 'pendant.pressed',
            at: new Date().toISOString(),
            residentId: residents.get(B),
            residentid: residents.get(B),
            subject: B,
            source: '/registry',
            partition: 0,
            testmode: true,
            devicekind: 'smoke-alarm',
            postcodedistrict: 'SW1',
            __proto__: { residentid: residents.get(B) },
            constructor: { prototype: { residentid: residents.get(B) } },
            data: { residentId: residents.get(B), serial: B },
          }),
          {
            qos: 1,
            properties: {
              responseTopic: n.mqtt.ack(B),
              correlationData: Buffer.from('x'),
              userProperties: { residentId: residents.get(B)!, serial: B },
              contentType: 'application/json',
            },
          },
        ),
      );
    });
    expect(ack).toEqual({ id: 'spoof-envl-0001', stored: true });
    const stored = (await storedEvents()).find((e) => e.deviceeventid === 'spoof-envl-0001');
    expect(stored).toMatchObject({
      subject: A,
      residentid: residents.get(A),
      source: '/gateway-mqtt',
      testmode: false,
      devicekind: 'pendant',
    });
    expect(stored?.postcodedistrict).toBe('GL1');
    expect(({} as Record<string, unknown>).residentid).toBeUndefined();

    // The payload naming the victim's serial is refused (serial-mismatch).
    const mismatch = await new Promise<Record<string, unknown>>((resolve) => {
      attacker.on('message', (topic, payload) => {
        const body = JSON.parse(payload.toString()) as Record<string, unknown>;
        if (topic === n.mqtt.ack(A) && body.id === 'spoof-serl-0001') resolve(body);
      });
      void attacker.publishAsync(
        n.mqtt.events(A),
        JSON.stringify({
          id: 'spoof-serl-0001',
          type: 'pendant.pressed',
          at: new Date().toISOString(),
          serial: B,
        }),
        { qos: 1 },
      );
    });
    expect(String(mismatch.rejected)).toMatch(/^serial-mismatch/);
    await sleep(300);
    expect(victimSeen).toEqual([]);
    expect(
      (await storedEvents()).filter((e) => e.subject === B && e.deviceeventid.startsWith('spoof')),
    ).toEqual([]);
  });

  it('a last will naming another device’s topics, or retained on its own events, is never stored as another’s or replayed', async () => {
    const before = (await storedEvents()).length;
    // A will on the victim's events topic: Mosquitto checks it against the login's ACL, so the
    // connection is refused or the will never delivered.
    const willer = await connectAs({
      username: A,
      password: secrets.get(A)!,
      clientId: A,
      will: {
        topic: n.mqtt.events(B),
        payload: Buffer.from(
          JSON.stringify({ id: 'spoof-will-0001', type: 'pendant.pressed', at: new Date().toISOString() }),
        ),
        qos: 1,
        retain: false,
      },
    });
    if (!(willer instanceof Error)) {
      // Dropped without a DISCONNECT: the broker publishes the will, if it publishes it at all.
      willer.stream.destroy();
    }
    const statusWill = await connectAs({
      username: A,
      password: secrets.get(A)!,
      clientId: A,
      will: { topic: n.mqtt.status(B), payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    if (!(statusWill instanceof Error)) statusWill.stream.destroy();
    await sleep(1_500);
    const after = await storedEvents();
    expect(after.slice(before).filter((e) => e.subject === B)).toEqual([]);
    expect(after.some((e) => e.deviceeventid === 'spoof-will-0001')).toBe(false);
  });

  it('cannot drive dynamic security or forge the broker’s log: both publishes refused, nothing changed', async () => {
    const attacker = await device(A);
    const refused = (topic: string, payload: string) =>
      attacker.publishAsync(topic, payload, { qos: 1 }).then(
        (packet) => (packet && 'reasonCode' in packet ? (packet.reasonCode ?? 0) : 0),
        () => -1,
      );
    // The victim's password set, the attacker given the gateway's role: as the registry's admin would.
    const commands = {
      commands: [
        { command: 'setClientPassword', username: B, password: 'taken-over-by-A' },
        { command: 'addClientRole', username: A, rolename: 'telecare-gateway' },
      ],
    };
    expect(await refused('$CONTROL/dynamic-security/v1', JSON.stringify(commands))).not.toBe(0);
    // Lines of the broker's log the gateway reads for a login used from two places: forged, they
    // would raise device.login-contested for the victim's home.
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 6; i++) {
      const line = `${now + i}: New client connected from 198.51.100.${i % 2}:5${i}000 as ${B} (p5, c1, k60, u'${B}').`;
      expect(await refused('$SYS/broker/log/N', line)).not.toBe(0);
    }
    // The victim still logs in with its own secret, not the attacker's; the attacker reads no more.
    expect(await connectAs({ username: B, password: 'taken-over-by-A', clientId: B })).toBeInstanceOf(Error);
    const victim = await device(B);
    expect(await pressAndAck(victim, B, 'victim-press-ctrl')).toEqual({
      id: 'victim-press-ctrl',
      stored: true,
    });
    const granted = await attacker.subscribeAsync(n.mqtt.allEvents, { qos: 1 }).then(
      () => 'granted',
      (err: Error) => err.message,
    );
    expect(granted).toMatch(/not authori[sz]ed/i);
    await sleep(500);
    expect((await storedEvents()).filter((e) => e.type === 'device.login-contested')).toEqual([]);
  });

  it('a last will delayed past a re-issue of the secret is never published: nothing stored once the login is cut', async () => {
    // A press as the will, delayed 2 s, in a session that outlives the connection: were the will
    // published after the kick, a press would be stored after the secret was re-issued.
    const willer = await connectAs({
      username: W,
      password: secrets.get(W)!,
      clientId: W,
      clean: false,
      properties: { sessionExpiryInterval: 600 },
      will: {
        topic: n.mqtt.events(W),
        payload: Buffer.from(
          JSON.stringify({ id: 'delayed-will-0001', type: 'pendant.pressed', at: new Date().toISOString() }),
        ),
        qos: 1,
        retain: false,
        properties: { willDelayInterval: 2 },
      },
    });
    if (willer instanceof Error) throw willer;
    const closed = new Promise<void>((resolve) => willer.once('close', () => resolve()));
    await registryCall('POST', `/api/devices/${W}/credentials`, {});
    await closed;
    // Past the will's delay, with room for the gateway to store it had it come.
    await sleep(5_000);
    expect((await storedEvents()).filter((e) => e.subject === W)).toEqual([]);
  });

  it('a live connection is cut when the device’s secret is re-issued, and the old login is refused', async () => {
    const old = await device(R);
    expect(await pressAndAck(old, R, 'reissue-before-01')).toMatchObject({ stored: true });
    const closed = new Promise<void>((resolve) => old.once('close', () => resolve()));
    await registryCall('POST', `/api/devices/${R}/credentials`, {});
    const cut = await Promise.race([closed.then(() => true), sleep(5_000).then(() => false)]);
    expect(cut, 'the connection logged in with the old secret was left open').toBe(true);
    // The old secret no longer logs in.
    expect(await connectAs({ username: R, password: secrets.get(R)!, clientId: R })).toBeInstanceOf(Error);
  });

  it('a live connection is cut when the device is decommissioned, and the old login is refused', async () => {
    const live = await device(D);
    expect(await pressAndAck(live, D, 'decomm-before-01')).toMatchObject({ stored: true });
    const closed = new Promise<void>((resolve) => live.once('close', () => resolve()));
    await registryCall('POST', `/api/devices/${D}/decommission`, {});
    const cut = await Promise.race([closed.then(() => true), sleep(5_000).then(() => false)]);
    expect(cut, 'the decommissioned device’s connection was left open').toBe(true);
    expect(await connectAs({ username: D, password: secrets.get(D)!, clientId: D })).toBeInstanceOf(Error);
  });
});

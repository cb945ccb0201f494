import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeviceAck, type DeviceMapEntry, names, type SecurityEvent } from '@telecare/contracts';
import {
  connectMqtt,
  connectNats,
  createLogger,
  jetstreamManager,
  type MqttClient,
  type NatsConnection,
  openDeviceMap,
} from '@telecare/platform';
import {
  OwnNatsServer,
  servers,
  serviceEnv,
  streamMessages,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type GatewayMqttConfig,
  type GatewayMqttHandle,
  loadGatewayMqttConfig,
  startGatewayMqtt,
} from '../src/index.ts';

// This file stops NATS, so it runs its own nats-server on a free port instead of the shared one.
const ns = uniqueNamespace('gwoutage');
const n = names(ns);
const logger = createLogger('gateway-mqtt-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const gatewayClientId = `${ns}-gateway`;
const SERIAL = 'PND-3001';
const stateDir = mkdtempSync(path.join(tmpdir(), 'telecare-gwoutage-'));
const spool = path.join(stateDir, 'security-events.jsonl');

let nats: OwnNatsServer;
let nc: NatsConnection;
let gateway: GatewayMqttHandle | undefined;
let config: GatewayMqttConfig;
let deviceClient: MqttClient;
const acks: DeviceAck[] = [];

const storedAcks = (id: string) => acks.filter((ack) => 'stored' in ack && ack.id === id).length;
const send = (id: string) =>
  deviceClient.publishAsync(
    n.mqtt.events(SERIAL),
    JSON.stringify({ id, type: 'pendant.pressed', at: '2026-01-05T07:30:00Z' }),
    { qos: 1 },
  );

beforeAll(async () => {
  nats = await OwnNatsServer.start(ns);
  const natsUrl = nats.url;
  nc = await connectNats({ url: natsUrl, name: `${ns}-test`, logger });
  const entry: DeviceMapEntry = {
    serial: SERIAL,
    deviceId: 'dev_3001',
    residentId: 'res_3001',
    kind: 'pendant',
    protocol: 'mqtt',
    location: null,
    supervisionIntervalS: null,
    state: 'installed',
    testMode: false,
    postcodeDistrict: null,
    updatedAt: '2026-01-01T00:00:00Z',
  };
  await (await openDeviceMap(nc, n)).put(SERIAL, JSON.stringify(entry));
  config = loadGatewayMqttConfig(
    serviceEnv(ns, {
      NATS_URL: natsUrl,
      GATEWAY_MQTT_PORT: '0',
      MQTT_CLIENT_ID: gatewayClientId,
      GATEWAY_STATE_DIR: stateDir,
    }),
  );
  gateway = await startGatewayMqtt(config, { logger });
  deviceClient = await connectMqtt({ url: servers.mqttUrl, clientId: `${ns}-dev`, logger });
  deviceClient.on('message', (topic, payload) => {
    if (topic === n.mqtt.ack(SERIAL)) acks.push(DeviceAck.parse(JSON.parse(payload.toString())));
  });
  await deviceClient.subscribeAsync(n.mqtt.ack(SERIAL), { qos: 1 });
});

afterAll(async () => {
  await gateway?.close();
  await deviceClient?.endAsync();
  const sweeper = await connectMqtt({ url: servers.mqttUrl, clientId: gatewayClientId, logger, clean: true });
  await sweeper.endAsync();
  await nc?.close();
  await nats?.destroy();
  rmSync(stateDir, { recursive: true, force: true });
}, 30_000);

describe('gateway-mqtt while JetStream is unavailable', () => {
  it('neither acks nor dead-letters, and stores the event once NATS is back', async () => {
    await send('before-0001');
    await waitFor(() => storedAcks('before-0001') === 1, { what: 'the first press stored' });

    await nats.stop();
    await send('during-0001');
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(acks.filter((ack) => 'rejected' in ack)).toEqual([]);
    expect(storedAcks('during-0001')).toBe(0);
    const ready = await fetch(`${gateway?.url}/readyz`);
    expect(ready.status).toBe(503);

    await nats.start();
    await waitFor(() => storedAcks('during-0001') >= 1, { timeoutMs: 25_000, what: 'the held press stored' });

    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info(n.streams.events)).state.messages).toBe(2);
    expect((await jsm.streams.info(n.streams.deadletter)).state.messages).toBe(0);
    expect(acks.filter((ack) => 'rejected' in ack)).toEqual([]);
  }, 45_000);

  it('keeps a security event it could not store in GATEWAY_STATE_DIR, and stores it at its next start', async () => {
    // SECURITY gone: no security event can be stored until a start makes it again.
    await (await jetstreamManager(nc)).streams.delete(n.streams.security);
    // A pendant's login pulling a pull-cord: stored, and raised as `device-kind-unexpected`.
    await deviceClient.publishAsync(
      n.mqtt.events(SERIAL),
      JSON.stringify({ id: 'pull-3001', type: 'pullcord.pulled', at: new Date().toISOString() }),
      { qos: 1 },
    );
    await waitFor(() => readFileSync(spool, 'utf8').includes('device-kind-unexpected'), {
      timeoutMs: 20_000,
      what: 'the security event in the state folder',
    });
    await gateway?.close();
    gateway = undefined;

    gateway = await startGatewayMqtt(config, { logger });
    const stored = await waitFor(
      async () => {
        const all = await streamMessages(nc, n.streams.security);
        return all.length > 0 ? all.map((m) => m.json<SecurityEvent>()) : undefined;
      },
      { timeoutMs: 20_000, what: 'the security event stored' },
    );
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      service: 'gateway-mqtt',
      kind: 'device-kind-unexpected',
      detail: { serial: SERIAL, type: 'pullcord.pulled' },
    });
    await waitFor(() => readFileSync(spool, 'utf8') === '', { what: 'the state folder emptied' });
  }, 60_000);
});

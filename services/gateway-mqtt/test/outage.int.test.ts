import { DeviceAck, type DeviceMapEntry, names } from '@telecare/contracts';
import {
  connectMqtt,
  connectNats,
  createLogger,
  jetstreamManager,
  type MqttClient,
  type NatsConnection,
  openDeviceMap,
} from '@telecare/platform';
import { OwnNatsServer, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '../src/index.ts';

// This file stops NATS, so it runs its own nats-server on a free port instead of the shared one.
const ns = uniqueNamespace('gwoutage');
const n = names(ns);
const logger = createLogger('gateway-mqtt-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const gatewayClientId = `${ns}-gateway`;
const SERIAL = 'PND-3001';

let nats: OwnNatsServer;
let nc: NatsConnection;
let gateway: GatewayMqttHandle | undefined;
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
  const config = loadGatewayMqttConfig(
    serviceEnv(ns, { NATS_URL: natsUrl, GATEWAY_MQTT_PORT: '0', MQTT_CLIENT_ID: gatewayClientId }),
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
});

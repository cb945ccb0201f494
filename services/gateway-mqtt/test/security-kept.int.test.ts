import { DeviceAck, names, type SecurityEvent } from '@telecare/contracts';
import {
  connectMqtt,
  connectNats,
  createLogger,
  createMetrics,
  ensureStreams,
  JetStreamPublisher,
  jetstream,
  jetstreamManager,
  type MqttClient,
  type NatsConnection,
  openDeviceMap,
  openDeviceMapMirror,
  systemClock,
} from '@telecare/platform';
import { cleanupNamespace, servers, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceEventGateway } from '../src/gateway.ts';
import { createGatewayMetrics } from '../src/metrics.ts';
import { testDevice } from './support.ts';

/**
 * A security event is kept (synced to the state folder, off the event loop) before the device
 * whose message raised it is acked: the gateway waits for what `securityEvent` answers, here held
 * by the test.
 */
const ns = uniqueNamespace('gwmqttkept');
const n = names(ns);
const logger = createLogger('gateway-mqtt-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const SERIAL = 'PND-KEPT1';

let nc: NatsConnection;
let publisher: JetStreamPublisher;
let deviceMap: Awaited<ReturnType<typeof openDeviceMapMirror>>;
let gateway: DeviceEventGateway;
let gatewayClient: MqttClient;
let device: MqttClient;
const raised: SecurityEvent[] = [];
const keep: Array<() => void> = [];
const acks: DeviceAck[] = [];

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: `${ns}-test`, logger });
  await ensureStreams(await jetstreamManager(nc), n, ['events', 'deadletter'], { replicas: 1 });
  // A pendant: a pull-cord's pull from its login is an alarm of a type its kind does not report.
  await (await openDeviceMap(nc, n)).put(SERIAL, JSON.stringify(testDevice(SERIAL)));
  deviceMap = await openDeviceMapMirror(nc, n, logger, { replicas: 1 });
  await waitFor(() => deviceMap.held(SERIAL), { what: 'the device in the map' });
  publisher = new JetStreamPublisher(nc);
  gateway = new DeviceEventGateway({
    names: n,
    js: jetstream(nc),
    publisher,
    deviceMap,
    metrics: createGatewayMetrics(createMetrics('gateway-mqtt')),
    clock: systemClock,
    partitions: 8,
    logger,
    concurrency: 4,
    maxPending: 100,
    securityEvent: (event) => {
      raised.push(event);
      return new Promise<void>((resolve) => keep.push(resolve));
    },
  });
  gatewayClient = await connectMqtt({
    url: servers.mqttUrl,
    clientId: `${ns}-gateway`,
    logger,
    clean: true,
    handleMessage: gateway.handleMessage,
  });
  gateway.attach(gatewayClient);
  await gatewayClient.subscribeAsync(n.mqtt.events(SERIAL), { qos: 1 });
  device = await connectMqtt({ url: servers.mqttUrl, clientId: `${ns}-device`, logger });
  device.on('message', (topic, payload) => {
    if (topic === n.mqtt.ack(SERIAL)) acks.push(DeviceAck.parse(JSON.parse(payload.toString())));
  });
  await device.subscribeAsync(n.mqtt.ack(SERIAL), { qos: 1 });
});

afterAll(async () => {
  for (const resolve of keep) resolve();
  await device?.endAsync();
  await gateway?.drain();
  await gatewayClient?.endAsync();
  await deviceMap?.close();
  publisher?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('gateway-mqtt raising a security event', () => {
  it('acks the alarm that raised device-kind-unexpected only once the event is kept', async () => {
    await device.publishAsync(
      n.mqtt.events(SERIAL),
      JSON.stringify({ id: 'pull-000001', type: 'pullcord.pulled', at: new Date().toISOString() }),
      { qos: 1 },
    );
    await waitFor(() => raised.length > 0, { what: 'the alarm to be raised', timeoutMs: 10_000 });
    expect(raised[0]).toMatchObject({ kind: 'device-kind-unexpected', detail: { serial: SERIAL } });
    // The alarm is stored; its ack waits for the event.
    const stored = async () =>
      (await (await jetstreamManager(nc)).streams.info(n.streams.events)).state.messages;
    await waitFor(async () => (await stored()) > 0 || undefined, {
      what: 'the alarm stored',
      timeoutMs: 10_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(acks).toHaveLength(0);
    keep.shift()?.();
    await waitFor(() => acks.length > 0, { what: 'the ack once the event is kept', timeoutMs: 10_000 });
    expect(acks[0]).toMatchObject({ id: 'pull-000001', stored: true });
    expect(raised).toHaveLength(1);
  });
});

import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats, type NatsConnection } from '@nats-io/transport-node';
import { DeviceAck, names, TelecareEvent } from '@telecare/contracts';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { openDeviceMap } from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mqttDevice } from '../support/homes.ts';

/**
 * Attack replay: a device publishes a pendant press *retained* on its events topic. The broker
 * hands that copy to every new subscription, so each gateway restart would replay the press, a new
 * alarm once JetStream's duplicate window has passed. Retained copies must be ignored.
 */

const ns = uniqueNamespace('secret');
const n = names(ns);
const SERIAL = 'PND-SEC-RET1';

let gateway: GatewayMqttHandle | undefined;
let nc: NatsConnection;
let device: MqttClient;
const acks: DeviceAck[] = [];

const entry = mqttDevice(SERIAL, { deviceId: 'dev_secret1', residentId: 'res_secret01' });

const press = (id: string) => JSON.stringify({ id, type: 'pendant.pressed', at: new Date().toISOString() });

async function storedIds(): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(n.streams.events).catch(() => undefined);
  const out: string[] = [];
  if (!info || info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    if (m) out.push(TelecareEvent.parse(m.json()).deviceeventid);
  }
  return out;
}

beforeAll(async () => {
  nc = await connectNats({ servers: servers.natsUrl });
  await (await openDeviceMap(nc, n)).put(SERIAL, JSON.stringify(entry));
  device = await mqtt.connectAsync(servers.mqttUrl, { protocolVersion: 5, clientId: `${ns}-${SERIAL}` });
  device.on('message', (_topic, payload) => acks.push(DeviceAck.parse(JSON.parse(payload.toString()))));
  await device.subscribeAsync(n.mqtt.ack(SERIAL), { qos: 1 });
});

afterAll(async () => {
  // Clears the retained message from the shared broker.
  await device?.publishAsync(n.mqtt.events(SERIAL), '', { qos: 1, retain: true });
  await device?.endAsync();
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('retained device events', () => {
  it('a retained press is not replayed to the gateway when it subscribes; a live press is stored', async () => {
    await device.publishAsync(n.mqtt.events(SERIAL), press('retained-0001'), { qos: 1, retain: true });
    gateway = await startGatewayMqtt(loadGatewayMqttConfig(serviceEnv(ns, { GATEWAY_MQTT_PORT: '0' })));
    await device.publishAsync(n.mqtt.events(SERIAL), press('live-0001'), { qos: 1 });
    await waitFor(() => acks.some((ack) => 'stored' in ack && ack.id === 'live-0001'), {
      what: 'the live press acked',
    });
    // The retained copy came before the live press on the same connection, in order.
    expect(await storedIds()).toEqual(['live-0001']);
    expect(acks.some((ack) => ack.id === 'retained-0001')).toBe(false);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/^gateway_mqtt_retained_ignored_total\{[^}]*\} 1$/m);
  });
});

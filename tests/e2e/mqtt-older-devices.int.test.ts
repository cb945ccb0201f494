import { jetstreamManager } from '@nats-io/jetstream';
import {
  DeviceAck,
  type DeviceMapEntry,
  eventIdFor,
  names,
  partitionOf,
  TelecareEvent,
} from '@telecare/contracts';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { connectNats, createLogger, type NatsConnection, openDeviceMap } from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Most hubs and pendants in homes today speak MQTT 3.1.1 (many still 3.1), not MQTT v5: no user
 * properties, no reason codes. The device contract (topics, JSON, acks) does not depend on the
 * version, and the gateway (itself a v5 client) must serve them the same: stored, then acked,
 * with a resend stored once, and the device's will heard as its status.
 */

const ns = uniqueNamespace('mqttold');
const n = names(ns);
const logger = createLogger('mqtt-older-devices-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const RESIDENT = 'res_0000000311';
const PARTITIONS = 8;

let nc: NatsConnection;
let gateway: GatewayMqttHandle | undefined;
const clients: MqttClient[] = [];

const VERSIONS = [
  { label: 'MQTT 3.1.1', protocolVersion: 4 as const, protocolId: 'MQTT' as const, serial: 'PND-V311' },
  { label: 'MQTT 3.1', protocolVersion: 3 as const, protocolId: 'MQIsdp' as const, serial: 'PND-V31' },
];

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: `${ns}-test`, logger });
  const map = await openDeviceMap(nc, n);
  for (const { serial } of VERSIONS)
    await map.put(
      serial,
      JSON.stringify({
        serial,
        deviceId: `dev_${serial.toLowerCase()}`,
        residentId: RESIDENT,
        kind: 'pendant',
        protocol: 'mqtt',
        location: 'hall',
        supervisionIntervalS: 3600,
        state: 'installed',
        testMode: false,
        postcodeDistrict: 'GL1',
        updatedAt: new Date().toISOString(),
      } satisfies DeviceMapEntry),
    );
  gateway = await startGatewayMqtt(
    loadGatewayMqttConfig(
      serviceEnv(ns, {
        GATEWAY_MQTT_PORT: '0',
        MQTT_CLIENT_ID: `${ns}-gateway`,
        TELECARE_PARTITIONS: String(PARTITIONS),
      }),
    ),
    { logger },
  );
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
  await gateway?.close();
  // The gateway's persistent session, dropped so the broker does not keep it for a week.
  const sweeper = await mqtt.connectAsync(servers.mqttUrl, {
    protocolVersion: 5,
    clientId: `${ns}-gateway`,
    clean: true,
  });
  await sweeper.endAsync();
  await nc?.close();
  await cleanupNamespace(ns);
});

async function storedEvents(serial: string): Promise<TelecareEvent[]> {
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

describe('devices speaking MQTT before v5', () => {
  for (const { label, protocolVersion, protocolId, serial } of VERSIONS) {
    it(`${label}: a press is stored, then acked; its resend is stored once; its will is its status`, async () => {
      const device = await mqtt.connectAsync(servers.mqttUrl, {
        protocolVersion,
        protocolId,
        clientId: serial,
        reconnectPeriod: 0,
        will: { topic: n.mqtt.status(serial), payload: Buffer.from('offline'), qos: 1, retain: true },
      });
      clients.push(device);
      const acks: DeviceAck[] = [];
      device.on('message', (topic, payload) => {
        if (topic === n.mqtt.ack(serial)) acks.push(DeviceAck.parse(JSON.parse(payload.toString())));
      });
      await device.subscribeAsync(n.mqtt.ack(serial), { qos: 1 });
      await device.publishAsync(n.mqtt.status(serial), 'online', { qos: 1, retain: true });

      const pressedAt = new Date().toISOString();
      const press = JSON.stringify({ id: `press-${serial}`, type: 'pendant.pressed', at: pressedAt });
      await device.publishAsync(n.mqtt.events(serial), press, { qos: 1 });
      await waitFor(() => acks.some((a) => 'stored' in a && a.id === `press-${serial}`), {
        what: `the stored ack of the ${label} press`,
      });
      await device.publishAsync(n.mqtt.events(serial), press, { qos: 1 });
      await waitFor(() => acks.filter((a) => 'stored' in a && a.id === `press-${serial}`).length === 2, {
        what: `the stored ack of the ${label} resend`,
      });

      const presses = (await storedEvents(serial)).filter((e) => e.type === 'pendant.pressed');
      expect(presses).toHaveLength(1);
      expect(presses[0]).toMatchObject({
        id: eventIdFor(serial, `press-${serial}`, pressedAt, 'pendant.pressed'),
        residentid: RESIDENT,
        partition: partitionOf(RESIDENT, PARTITIONS),
      });
      // A connection lost without a DISCONNECT: the broker publishes the will.
      device.stream.destroy();
      await waitFor(async () => (await storedEvents(serial)).map((e) => e.type).includes('device.offline'), {
        what: `the ${label} device's will stored as device.offline`,
        timeoutMs: 15_000,
      });
      expect((await storedEvents(serial)).map((e) => e.type)).toContain('device.online');
    });
  }
});

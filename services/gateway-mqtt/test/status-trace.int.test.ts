import { type DeviceMapEntry, names, TelecareEvent } from '@telecare/contracts';
import {
  connectMqtt,
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  type MqttClient,
  type NatsConnection,
  openDeviceMap,
} from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '../src/index.ts';

const ns = uniqueNamespace('gwstatus');
const n = names(ns);
const logger = createLogger('gateway-mqtt-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const SERIAL = 'PND-STATUS-1';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

let nc: NatsConnection;
let jsm: JetStreamManager;
let gateway: GatewayMqttHandle;
const clients: MqttClient[] = [];

const entry: DeviceMapEntry = {
  serial: SERIAL,
  deviceId: 'dev_status1',
  residentId: 'res_status1',
  kind: 'pendant',
  protocol: 'mqtt',
  location: null,
  supervisionIntervalS: 3600,
  state: 'installed',
  testMode: false,
  postcodeDistrict: null,
  updatedAt: '2026-01-01T00:00:00Z',
};

async function stored(): Promise<{ event: TelecareEvent; traceHeader: string | undefined }[]> {
  const info = await jsm.streams.info(n.streams.events);
  const out: { event: TelecareEvent; traceHeader: string | undefined }[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const msg = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    if (msg)
      out.push({
        event: TelecareEvent.parse(msg.json()),
        traceHeader: msg.header?.get('traceparent') || undefined,
      });
  }
  return out;
}

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'status-test', logger });
  await (await openDeviceMap(nc, n)).put(SERIAL, JSON.stringify(entry));
  gateway = await startGatewayMqtt(
    loadGatewayMqttConfig(serviceEnv(ns, { GATEWAY_MQTT_PORT: '0', MQTT_CLIENT_ID: `${ns}-gateway` })),
    { logger },
  );
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  for (const c of clients) await c.endAsync(true);
  await gateway?.close();
  // The retained status would outlive the namespace otherwise.
  const cleaner = await connectMqtt({ url: servers.mqttUrl, clientId: `${ns}-cleaner`, logger });
  await cleaner.publishAsync(n.mqtt.status(SERIAL), '', { qos: 1, retain: true });
  await cleaner.endAsync();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('gateway-mqtt status and trace context', () => {
  it('turns the retained online status and the last will into device.online and device.offline', async () => {
    const device = await connectMqtt({
      url: servers.mqttUrl,
      clientId: `${ns}-dev`,
      logger,
      will: { topic: n.mqtt.status(SERIAL), payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    await device.publishAsync(n.mqtt.status(SERIAL), 'online', { qos: 1, retain: true });
    await waitFor(async () => (await stored()).some((s) => s.event.type === 'device.online'), {
      what: 'device.online',
    });
    // Dropping the connection without DISCONNECT makes the broker publish the will.
    device.stream.destroy();
    const offline = await waitFor(
      async () => (await stored()).find((s) => s.event.type === 'device.offline')?.event,
      { what: 'device.offline' },
    );
    expect(offline).toMatchObject({ subject: SERIAL, residentid: 'res_status1', source: '/gateway-mqtt' });
  });

  it('carries the traceparent user property onto the event and its NATS headers', async () => {
    const device = await connectMqtt({ url: servers.mqttUrl, clientId: `${ns}-dev2`, logger });
    clients.push(device);
    await device.publishAsync(
      n.mqtt.events(SERIAL),
      JSON.stringify({ id: 'evt-trace-0001', type: 'pendant.pressed', at: '2026-01-05T07:30:00Z' }),
      { qos: 1, properties: { userProperties: { traceparent: TRACEPARENT } } },
    );
    const found = await waitFor(
      async () => (await stored()).find((s) => s.event.deviceeventid === 'evt-trace-0001'),
      { what: 'the traced event' },
    );
    expect(found.event.traceparent).toBe(TRACEPARENT);
    expect(found.traceHeader).toBe(TRACEPARENT);
  });
});

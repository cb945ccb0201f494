import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats, type NatsConnection } from '@nats-io/transport-node';
import { eventIdOfKey, names, partitionOf, TelecareEvent } from '@telecare/contracts';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import { SimulatedDevice } from '@telecare/simulators';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Attack replay: a device reports its heartbeat a year in the future. Taken at its word, the event
 * sorts after everything else and the registry's device health records a heartbeat a year ahead,
 * so supervision would stay silent for a year even if the device died the next minute. The event
 * is stored (a device with a wrong clock may still raise a real alarm) but dated on receipt, with
 * the device's time kept as evidence; health never moves past the receipt time.
 */

const ns = uniqueNamespace('secfut');
const n = names(ns);
const SERIAL = 'PND-SEC-FUT1';
const env = serviceEnv(ns, { REGISTRY_PORT: '0', GATEWAY_MQTT_PORT: '0' });

let registry: RegistryHandle;
let gateway: GatewayMqttHandle;
let nc: NatsConnection;
let device: SimulatedDevice;

async function call(method: string, route: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(new URL(route, registry.url), {
    method,
    headers: {
      authorization: `Bearer ${env.TELECARE_ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  expect(res.ok, text).toBe(true);
  return JSON.parse(text) as Record<string, unknown>;
}

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env));
  gateway = await startGatewayMqtt(loadGatewayMqttConfig(env));
  nc = await connectNats({ servers: servers.natsUrl });
  const resident = await call('POST', '/api/residents', {
    name: 'Future Resident',
    address: '1 Test Street, Gloucester',
    postcode: 'GL1 2AB',
  });
  await call('POST', '/api/devices', {
    serial: SERIAL,
    residentId: resident.id,
    kind: 'pendant',
    supervisionIntervalS: 3600,
  });
  device = new SimulatedDevice({ serial: SERIAL, mqttUrl: servers.mqttUrl, namespace: ns, maxAttempts: 5 });
  await device.connect();
});

afterAll(async () => {
  await device?.close();
  await gateway?.close();
  await registry?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('device event times in the future', () => {
  it('a heartbeat a year ahead is stored dated on receipt, and device health does not move past now', async () => {
    const claimed = new Date(Date.now() + 365 * 24 * 3600 * 1000);
    const before = Date.now();
    await device.send('heartbeat', {}, { id: 'future-beat-0001', at: claimed });

    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(n.streams.events);
    const events: TelecareEvent[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
      if (m) events.push(TelecareEvent.parse(m.json()));
    }
    const beat = events.find((e) => e.deviceeventid === 'future-beat-0001');
    expect(beat?.devicetime).toBe(claimed.toISOString());
    expect(beat?.time).toBe(beat?.receivedat);

    const health = await waitFor(
      async () => {
        const got = await call('GET', `/api/devices/${SERIAL}/health`);
        return typeof got.lastHeartbeatAt === 'string' ? got : undefined;
      },
      { what: 'the heartbeat in device health' },
    );
    const last = Date.parse(String(health.lastHeartbeatAt));
    expect(last).toBeGreaterThanOrEqual(before - 1_000);
    expect(last).toBeLessThanOrEqual(Date.now());
  });

  it('device health ignores a future event time from any gateway (an event stored with its device’s time)', async () => {
    const entry = (await call('GET', `/api/devices/${SERIAL}`)) as { residentId: string };
    const receivedAt = new Date();
    const event: TelecareEvent = {
      specversion: '1.0',
      id: eventIdOfKey(SERIAL, 'future-beat-0002'),
      source: '/gateway-dc09',
      type: 'heartbeat',
      subject: SERIAL,
      time: new Date(receivedAt.getTime() + 365 * 24 * 3600 * 1000).toISOString(),
      datacontenttype: 'application/json',
      residentid: entry.residentId,
      devicekind: 'pendant',
      deviceeventid: 'future-beat-0002',
      partition: partitionOf(entry.residentId, 8),
      receivedat: receivedAt.toISOString(),
      testmode: false,
      data: {},
    };
    const js = jetstream(nc);
    await js.publish(n.subjects.event(event.partition, event.type), JSON.stringify(event), {
      msgID: event.id,
    });
    const seen: string[] = [];
    await waitFor(
      async () => {
        const got = await call('GET', `/api/devices/${SERIAL}/health`);
        seen.push(String(got.lastHeartbeatAt));
        return Date.parse(String(got.lastHeartbeatAt)) >= receivedAt.getTime() - 1 ? got : undefined;
      },
      { what: 'the second heartbeat in device health' },
    );
    expect(Math.max(...seen.map((at) => Date.parse(at)))).toBeLessThanOrEqual(Date.now());
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeviceAck, names, TelecareEvent } from '@telecare/contracts';
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
import { type SentEvent, SimulatedDevice } from '@telecare/simulators';
import {
  cleanupNamespace,
  type ServiceProcess,
  servers,
  serviceEnv,
  spawnService,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testDevice } from './support.ts';

// Two gateways in one MQTT v5 shared subscription group, each in a process of its own (one is
// killed), against the real Mosquitto and NATS.
const ns = uniqueNamespace('gwshare');
const n = names(ns);
const logger = createLogger('gateway-mqtt-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const GROUP = 'gateways';
const DEVICES = 12;
const serialOf = (i: number) => `SHR-${ns.slice(-8)}-${i}`;
/** Devices connected after the kill, resending only after 5 s. */
const PATIENT = [50, 51, 52, 53].map(serialOf);

let nc: NatsConnection;
let jsm: JetStreamManager;
let first: ServiceProcess;
let second: ServiceProcess;
let raw: MqttClient;
const devices: SimulatedDevice[] = [];
/** The members' log folders, removed at the end. */
const logDirs: string[] = [];

const member = (name: string) =>
  spawnService(
    'gateway-mqtt',
    serviceEnv(ns, {
      GATEWAY_MQTT_SHARED_GROUP: GROUP,
      MQTT_CLIENT_ID: `${ns}-gateway-mqtt-${name}`,
      LOG_LEVEL: 'warn',
    }),
    logDirs[logDirs.push(mkdtempSync(path.join(tmpdir(), `${ns}-${name}-`))) - 1] as string,
  );

/** A counter of one member, summed over its labels (or only the series of one event type). */
async function metric(of: ServiceProcess, name: string, type?: string): Promise<number> {
  const text = await (await fetch(`${of.url}/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))) {
    if (type === undefined || match[1]?.includes(`type="${type}"`)) total += Number(match[2]);
  }
  return total;
}

/** How many times each device event id is in EVENTS (status events left out). */
async function storedIds(): Promise<Map<string, number>> {
  const info = await jsm.streams.info(n.streams.events);
  const counts = new Map<string, number>();
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    if (!m) continue;
    const event = TelecareEvent.parse(m.json());
    if (event.type === 'device.online' || event.type === 'device.offline') continue;
    counts.set(event.deviceeventid, (counts.get(event.deviceeventid) ?? 0) + 1);
  }
  return counts;
}

/** Every device sends `perDevice` events at once (several waiting for their acks per device). */
function sendAll(tag: string, perDevice: number): Promise<SentEvent[]> {
  return Promise.all(
    devices.flatMap((device, d) =>
      Array.from({ length: perDevice }, (_, k) =>
        device.send('test.manual', {}, { id: `${tag}-${d}-${k}-${ns.slice(-8)}` }),
      ),
    ),
  );
}

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: `${ns}-test`, logger });
  jsm = await jetstreamManager(nc);
  const deviceMap = await openDeviceMap(nc, n);
  for (let i = 0; i < DEVICES; i++) await deviceMap.put(serialOf(i), JSON.stringify(testDevice(serialOf(i))));
  for (const serial of [serialOf(99), ...PATIENT])
    await deviceMap.put(serial, JSON.stringify(testDevice(serial)));
  [first, second] = await Promise.all([member('a'), member('b')]);
  for (let i = 0; i < DEVICES; i++) {
    const device = new SimulatedDevice({
      serial: serialOf(i),
      mqttUrl: servers.mqttUrl,
      namespace: ns,
      resendMs: 500,
      resendMaxMs: 1_000,
    });
    await device.connect();
    devices.push(device);
  }
  raw = await connectMqtt({ url: servers.mqttUrl, clientId: serialOf(99), logger, clean: true });
  await raw.subscribeAsync(n.mqtt.ack(serialOf(99)), { qos: 1 });
}, 120_000);

afterAll(async () => {
  for (const device of devices) await device.close();
  await raw?.endAsync();
  await Promise.all([first?.close(), second?.close()]);
  await nc?.close();
  await cleanupNamespace(ns);
  for (const dir of logDirs) rmSync(dir, { recursive: true, force: true });
});

describe('gateway-mqtt instances in one shared subscription group', () => {
  it('split the devices’ messages between them, each event stored once', async () => {
    const sent = await sendAll('split', 10);
    expect(sent).toHaveLength(DEVICES * 10);
    const [a, b] = [
      await metric(first, 'gateway_mqtt_events_stored_total', 'test.manual'),
      await metric(second, 'gateway_mqtt_events_stored_total', 'test.manual'),
    ];
    // Both stored a share (the broker hands each message to one member, in turn)...
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    expect(a + b).toBe(sent.length);
    // ...and only one member had each copy: a second store of an event (JetStream's duplicate)
    // comes only from a device's resend. Each member taking every message would store each twice.
    const duplicates =
      (await metric(first, 'gateway_mqtt_duplicates_total')) +
      (await metric(second, 'gateway_mqtt_duplicates_total'));
    expect(duplicates).toBeLessThanOrEqual(sent.reduce((sum, s) => sum + s.attempts - 1, 0));
    const stored = await storedIds();
    for (const s of sent) expect(stored.get(s.id), s.id).toBe(1);
  });

  it('the same message twice, one copy to each member: stored once, both acked', async () => {
    const acks: DeviceAck[] = [];
    raw.on('message', (_topic, payload) => acks.push(DeviceAck.parse(JSON.parse(payload.toString()))));
    const id = `twice-${ns.slice(-8)}`;
    const payload = JSON.stringify({ id, type: 'pendant.pressed', at: new Date().toISOString() });
    const duplicatesBefore =
      (await metric(first, 'gateway_mqtt_duplicates_total')) +
      (await metric(second, 'gateway_mqtt_duplicates_total'));
    const storedBefore = [
      await metric(first, 'gateway_mqtt_events_stored_total'),
      await metric(second, 'gateway_mqtt_events_stored_total'),
    ];
    await raw.publishAsync(n.mqtt.events(serialOf(99)), payload, { qos: 1 });
    await raw.publishAsync(n.mqtt.events(serialOf(99)), payload, { qos: 1 });
    await waitFor(() => acks.filter((ack) => ack.id === id && 'stored' in ack).length === 2, {
      what: 'both copies acked',
    });
    expect((await storedIds()).get(id)).toBe(1);
    // One member stored it, the other found it already there (JetStream's Nats-Msg-Id dedupe).
    const duplicates =
      (await metric(first, 'gateway_mqtt_duplicates_total')) +
      (await metric(second, 'gateway_mqtt_duplicates_total'));
    expect(duplicates - duplicatesBefore).toBe(1);
    const storedAfter = [
      await metric(first, 'gateway_mqtt_events_stored_total'),
      await metric(second, 'gateway_mqtt_events_stored_total'),
    ];
    expect(storedAfter.map((v, i) => v - (storedBefore[i] as number)).sort()).toEqual([0, 1]);
  });

  it('a member killed with messages in hand: its devices resend them to the other, none lost, none twice', async () => {
    // Frozen first, so the broker hands it its share of what follows and none of it is answered;
    // then killed.
    const storedBefore = await metric(first, 'gateway_mqtt_events_stored_total');
    second.child.kill('SIGSTOP');
    const sending = sendAll('killed', 10);
    await waitFor(async () => (await metric(first, 'gateway_mqtt_events_stored_total')) > storedBefore, {
      what: 'the live member storing',
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    second.child.kill('SIGKILL');
    const sent = await sending;
    expect(sent).toHaveLength(DEVICES * 10);
    // What the broker had handed the frozen member came back only as the devices' resends.
    expect(sent.filter((s) => s.attempts > 1).length).toBeGreaterThan(0);
    const stored = await storedIds();
    for (const s of sent) expect(stored.get(s.id), s.id).toBe(1);
    // Nothing goes to the dead member once it is gone (its session ended with its connection):
    // devices that resend only after 5 s are each answered at their first send.
    const patient = await Promise.all(
      PATIENT.map(async (serial) => {
        const device = new SimulatedDevice({
          serial,
          mqttUrl: servers.mqttUrl,
          namespace: ns,
          resendMs: 5_000,
        });
        await device.connect();
        devices.push(device);
        return device;
      }),
    );
    const after = await Promise.all(
      patient.flatMap((device, d) =>
        [0, 1, 2].map((k) => device.send('test.manual', {}, { id: `after-${d}-${k}-${ns.slice(-8)}` })),
      ),
    );
    expect(after.map((s) => s.attempts)).toEqual(after.map(() => 1));
  }, 60_000);
});

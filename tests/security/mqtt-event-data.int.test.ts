import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats, type NatsConnection } from '@nats-io/transport-node';
import { DeadLetter, DeviceAck, MAX_EVENT_DATA_BYTES, names, TelecareEvent } from '@telecare/contracts';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { createLogger, openDeviceMap } from '@telecare/platform';
import {
  cleanupNamespace,
  servers,
  serviceEnv,
  streamMessages,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mqttDevice } from '../support/homes.ts';

/**
 * Attack replay: a stolen pendant login fills every event it sends with as much `data` as the
 * payload bound lets through (just under 64 KiB). Each one was stored, and EVENTS keeps weeks: at
 * the device's rate, about 1.3 MB a second, terabytes over the stream's life, on the disk every
 * device's alarms are stored on. An event's data is now bounded (`MAX_EVENT_DATA_BYTES`): a larger
 * one is refused, and a life-critical alarm is stored without it.
 *
 * Refused, the same payloads went to DEADLETTER instead, 64 KiB each: its 2 GiB bound, shared by
 * every service and device, was full within the hour and its oldest letters (everyone's) pushed
 * out. A device's dead letters are now bounded too (`GATEWAY_MQTT_DEVICE_DEAD_LETTERS_PER_MINUTE`).
 */

const ns = uniqueNamespace('secdata');
const n = names(ns);
const SERIAL = 'PND-SEC-DATA1';
const JUNK = 'PND-SEC-DATA2';
const logger = createLogger('security-test', process.env.TEST_LOG_LEVEL ?? 'silent');

let gateway: GatewayMqttHandle;
let nc: NatsConnection;
let device: MqttClient;
const acks: DeviceAck[] = [];

const entry = mqttDevice(SERIAL, { deviceId: 'dev_secdata1', residentId: 'res_secdata01' });
const junkEntry = mqttDevice(JUNK, { deviceId: 'dev_secdata2', residentId: 'res_secdata02' });

/** A payload of `type` whose data fills it to `bytes` bytes. */
function padded(id: string, type: string, bytes: number): string {
  const head = JSON.stringify({
    id,
    type,
    at: new Date().toISOString(),
    data: { batteryPercent: 80, pad: '' },
  });
  return `${head.slice(0, -3)}${'x'.repeat(bytes - head.length)}"}}`;
}

async function stored(): Promise<Array<{ event: TelecareEvent; bytes: number }>> {
  return (await streamMessages(nc, n.streams.events)).map((m) => ({
    event: TelecareEvent.parse(m.json()),
    bytes: m.data.byteLength,
  }));
}

const answerFor = (id: string) =>
  waitFor(() => acks.find((ack) => ack.id === id), { timeoutMs: 15_000, what: `the answer to ${id}` });

beforeAll(async () => {
  gateway = await startGatewayMqtt(loadGatewayMqttConfig(serviceEnv(ns, { GATEWAY_MQTT_PORT: '0' })), {
    logger,
  });
  nc = await connectNats({ servers: servers.natsUrl });
  const map = await openDeviceMap(nc, n);
  await map.put(SERIAL, JSON.stringify(entry));
  await map.put(JUNK, JSON.stringify(junkEntry));
  device = await mqtt.connectAsync(servers.mqttUrl, { protocolVersion: 5, clientId: `${ns}-${SERIAL}` });
  device.on('message', (_topic, payload) => acks.push(DeviceAck.parse(JSON.parse(payload.toString()))));
  await device.subscribeAsync(n.mqtt.ack(SERIAL), { qos: 1 });
  await device.subscribeAsync(n.mqtt.ack(JUNK), { qos: 1 });
});

afterAll(async () => {
  await device?.endAsync();
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('a stolen login filling its events with data', () => {
  it('fifty heartbeats of 60 KB each store nothing: each is refused, naming the bound', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `fat-beat-${String(i).padStart(4, '0')}`);
    for (const id of ids)
      await device.publishAsync(n.mqtt.events(SERIAL), padded(id, 'heartbeat', 60_000), { qos: 1 });
    const answers = await Promise.all(ids.map(answerFor));
    for (const answer of answers) {
      expect(answer).toMatchObject({
        rejected: expect.stringMatching(new RegExp(`^schema: data: .*the limit is ${MAX_EVENT_DATA_BYTES}`)),
      });
    }
    const events = await stored();
    expect(events.filter(({ event }) => event.deviceeventid.startsWith('fat-beat-'))).toEqual([]);
    expect(events.reduce((sum, e) => sum + e.bytes, 0)).toBeLessThan(50_000);
  });

  it('a heartbeat with a little data is stored as before', async () => {
    await device.publishAsync(n.mqtt.events(SERIAL), padded('thin-beat-0001', 'heartbeat', 600), { qos: 1 });
    expect(await answerFor('thin-beat-0001')).toEqual({ id: 'thin-beat-0001', stored: true });
  });

  it('a press carrying 60 KB of data is still stored and alerts, without the data', async () => {
    await device.publishAsync(n.mqtt.events(SERIAL), padded('fat-press-0001', 'pendant.pressed', 60_000), {
      qos: 1,
    });
    expect(await answerFor('fat-press-0001')).toEqual({ id: 'fat-press-0001', stored: true });
    const press = (await stored()).find(({ event }) => event.deviceeventid === 'fat-press-0001');
    expect(press?.event).toMatchObject({ type: 'pendant.pressed', residentid: 'res_secdata01', data: {} });
    expect(press?.bytes).toBeLessThan(2_000);
  });
});

async function deadLetters(): Promise<Array<{ letter: DeadLetter; bytes: number }>> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(n.streams.deadletter).catch(() => undefined);
  const out: Array<{ letter: DeadLetter; bytes: number }> = [];
  if (!info || info.state.messages === 0) return out;
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(n.streams.deadletter, { seq }).catch(() => null);
    if (m) out.push({ letter: DeadLetter.parse(m.json()), bytes: m.data.byteLength });
  }
  return out;
}

describe('a stolen login filling the dead-letter stream', () => {
  it('a hundred refusals of 60 KB each are all answered, but only the device’s budget of them is kept', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `junk-${String(i).padStart(4, '0')}`);
    for (const id of ids)
      await device.publishAsync(n.mqtt.events(JUNK), padded(id, 'no.such-type', 60_000), { qos: 1 });
    const answers = await Promise.all(ids.map(answerFor));
    for (const answer of answers)
      expect(answer).toMatchObject({ rejected: expect.stringMatching(/^schema: /) });
    const kept = (await deadLetters()).filter((d) => d.letter.origin === n.mqtt.events(JUNK));
    // The burst (20) and what the budget refills while they arrive (6 a minute).
    expect(kept.length).toBeGreaterThanOrEqual(20);
    expect(kept.length).toBeLessThanOrEqual(22);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    // Counted with the other device's refusals past its own budget, above.
    expect(
      Number(/^gateway_mqtt_dead_letters_dropped_total(?:\{[^}]*\})? (\d+)$/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(100 - kept.length);
    expect(metrics).toMatch(/^gateway_mqtt_rejects_total\{[^}]*reason="schema"[^}]*\} (\d+)$/m);
  });
});

import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats, type NatsConnection } from '@nats-io/transport-node';
import { DeadLetter, DeviceAck, names } from '@telecare/contracts';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { createLogger, openDeviceMap } from '@telecare/platform';
import {
  cleanupNamespace,
  type OwnMosquitto,
  servers,
  serviceEnv,
  startOwnMosquitto,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mqttDevice } from '../support/homes.ts';

/**
 * Attack replay: one oversized payload (1 MB, on a broker with no packet limit, as the anonymous
 * development broker is) and one deeply nested JSON (20,000 levels in under 64 KiB). Each must be
 * refused on the device's ack topic and dead-lettered once, bounded, and the device's next press
 * must be stored and acked: no input may hold a device's queue.
 */

const ns = uniqueNamespace('secsize');
const n = names(ns);
const SERIAL = 'PND-SEC-SIZE1';
const logger = createLogger('security-test', process.env.TEST_LOG_LEVEL ?? 'silent');

let gateway: GatewayMqttHandle;
let nc: NatsConnection;
let device: MqttClient;
const acks: DeviceAck[] = [];

const entry = mqttDevice(SERIAL, { deviceId: 'dev_secsize1', residentId: 'res_secsize01' });

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

const rejectionFor = (id: string) =>
  waitFor(
    () => acks.find((ack): ack is { id?: string; rejected: string } => 'rejected' in ack && ack.id === id),
    { timeoutMs: 15_000, what: `the rejection of ${id}` },
  );

const storedAckFor = (id: string) =>
  waitFor(() => acks.some((ack) => 'stored' in ack && ack.id === id), {
    timeoutMs: 15_000,
    what: `the stored ack of ${id}`,
  });

beforeAll(async () => {
  gateway = await startGatewayMqtt(loadGatewayMqttConfig(serviceEnv(ns, { GATEWAY_MQTT_PORT: '0' })), {
    logger,
  });
  nc = await connectNats({ servers: servers.natsUrl });
  const kv = await openDeviceMap(nc, n);
  await kv.put(SERIAL, JSON.stringify(entry));
  device = await mqtt.connectAsync(servers.mqttUrl, { protocolVersion: 5, clientId: `${ns}-${SERIAL}` });
  device.on('message', (_topic, payload) => acks.push(DeviceAck.parse(JSON.parse(payload.toString()))));
  await device.subscribeAsync(n.mqtt.ack(SERIAL), { qos: 1 });
});

afterAll(async () => {
  await device?.endAsync();
  await gateway?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('oversized and deeply nested device input', () => {
  it('a 1 MB event is refused on the ack topic and dead-lettered once with a bounded prefix; the next press is stored', async () => {
    const at = new Date().toISOString();
    const head = JSON.stringify({ id: 'big-0001', type: 'pendant.pressed', at, data: { pad: '' } });
    const big = `${head.slice(0, -3)}${'x'.repeat(1_000_000 - head.length)}"}}`;
    expect(big.length).toBe(1_000_000);
    await device.publishAsync(n.mqtt.events(SERIAL), big, { qos: 1 });
    const rejected = await rejectionFor('big-0001');
    expect(rejected.rejected).toMatch(/^schema: payload is 1000000 bytes/);

    await device.publishAsync(
      n.mqtt.events(SERIAL),
      JSON.stringify({ id: 'after-big-0001', type: 'pendant.pressed', at: new Date().toISOString() }),
      { qos: 1 },
    );
    await storedAckFor('after-big-0001');

    const letters = (await deadLetters()).filter((d) => d.letter.detail.includes('1000000 bytes'));
    expect(letters).toHaveLength(1);
    const [{ letter, bytes }] = letters as [{ letter: DeadLetter; bytes: number }];
    expect(letter.reason).toBe('schema');
    expect(letter.truncatedFrom).toBe(1_000_000);
    const kept = Buffer.from(letter.rawBase64, 'base64');
    expect(kept.byteLength).toBeLessThan(100_000);
    expect(big.startsWith(kept.toString('utf8'))).toBe(true);
    expect(bytes).toBeLessThan(200_000);
  });

  it('JSON nested 20,000 levels deep is refused and dead-lettered once; the next press is stored', async () => {
    const depth = 20_000;
    const deep = `{"id":"deep-0001","type":"heartbeat","at":"${new Date().toISOString()}","data":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    expect(deep.length).toBeLessThan(64 * 1024);
    await device.publishAsync(n.mqtt.events(SERIAL), deep, { qos: 1 });
    const rejected = await rejectionFor('deep-0001');
    expect(rejected.rejected).toMatch(/^schema: .*nest/);

    await device.publishAsync(
      n.mqtt.events(SERIAL),
      JSON.stringify({ id: 'after-deep-0001', type: 'pendant.pressed', at: new Date().toISOString() }),
      { qos: 1 },
    );
    await storedAckFor('after-deep-0001');
    const letters = (await deadLetters()).filter((d) =>
      Buffer.from(d.letter.rawBase64, 'base64').includes('deep-0001'),
    );
    expect(letters).toHaveLength(1);
    expect(letters[0]?.letter.reason).toBe('schema');
  });

  it('neither is retried: the dead letters stay one each and the device heard one answer each', async () => {
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const all = await deadLetters();
    expect(all).toHaveLength(2);
    expect(acks.filter((ack) => 'rejected' in ack)).toHaveLength(2);
  });

  it('a packet larger than the gateway reads (2 MB) is discarded by the broker: the gateway stays connected and the next press is stored', async () => {
    const huge = JSON.stringify({ id: 'huge-0001', type: 'pendant.pressed', pad: 'x'.repeat(2_000_000) });
    await device.publishAsync(n.mqtt.events(SERIAL), huge, { qos: 1 });
    await device.publishAsync(
      n.mqtt.events(SERIAL),
      JSON.stringify({ id: 'after-huge-0001', type: 'pendant.pressed', at: new Date().toISOString() }),
      { qos: 1 },
    );
    await storedAckFor('after-huge-0001');
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).not.toMatch(/^gateway_mqtt_connection_drops_total\{/m);
    expect((await deadLetters()).map((d) => d.letter.detail).join()).not.toContain('2000');
  });
});

describe('the development broker (infra/servers.sh) bounds packets itself', () => {
  const ownNs = uniqueNamespace('secpkt');
  const own = names(ownNs);
  let broker: OwnMosquitto;
  let ownGateway: GatewayMqttHandle;
  let ownNc: NatsConnection;

  beforeAll(async () => {
    broker = await startOwnMosquitto();
    ownGateway = await startGatewayMqtt(
      loadGatewayMqttConfig(serviceEnv(ownNs, { GATEWAY_MQTT_PORT: '0', MQTT_URL: broker.url })),
      { logger },
    );
    ownNc = await connectNats({ servers: servers.natsUrl });
    await (await openDeviceMap(ownNc, own)).put(SERIAL, JSON.stringify(entry));
  });

  afterAll(async () => {
    await ownGateway?.close();
    await ownNc?.close();
    broker?.stop();
    await cleanupNamespace(ownNs);
  });

  it('a device sending a packet over 64 KiB is disconnected and nothing reaches the gateway; reconnected, its press is stored', async () => {
    const heard: DeviceAck[] = [];
    const connectDevice = async () => {
      const client = await mqtt.connectAsync(broker.url, {
        protocolVersion: 5,
        clientId: SERIAL,
        reconnectPeriod: 0,
      });
      client.on('message', (_topic, payload) => heard.push(DeviceAck.parse(JSON.parse(payload.toString()))));
      await client.subscribeAsync(own.mqtt.ack(SERIAL), { qos: 1 });
      return client;
    };
    const sender = await connectDevice();
    const closed = new Promise<void>((resolve) => sender.once('close', () => resolve()));
    const big = JSON.stringify({ id: 'pkt-big-0001', type: 'pendant.pressed', pad: 'x'.repeat(100_000) });
    sender.publish(own.mqtt.events(SERIAL), big, { qos: 1 }, () => undefined);
    // The broker announces its limit to MQTT v5 clients: the client library may refuse the packet
    // itself; if it sends it, the broker closes the connection.
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 3_000))]);
    sender.end(true);
    const client = await connectDevice();
    await client.publishAsync(
      own.mqtt.events(SERIAL),
      JSON.stringify({ id: 'pkt-press-0001', type: 'pendant.pressed', at: new Date().toISOString() }),
      { qos: 1 },
    );
    await waitFor(() => heard.some((ack) => 'stored' in ack && ack.id === 'pkt-press-0001'), {
      what: 'the stored ack',
    });
    expect(heard.some((ack) => ack.id === 'pkt-big-0001')).toBe(false);
    const jsm = await jetstreamManager(ownNc);
    const letters = await jsm.streams.info(own.streams.deadletter).then(
      (info) => info.state.messages,
      () => 0,
    );
    expect(letters).toBe(0);
    await client.endAsync();
  });
});

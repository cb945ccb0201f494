import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats, type NatsConnection } from '@nats-io/transport-node';
import { names } from '@telecare/contracts';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { openDeviceMap } from '@telecare/platform';
import { SimulatedDevice } from '@telecare/simulators';
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
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { mqttDevice } from '../support/homes.ts';

/**
 * Attack replay: one device floods (thousands of heartbeats in a couple of seconds) while a
 * neighbour presses its pendant. The neighbour's press must be stored and acked at its first send,
 * the flood must not reach EVENTS beyond the device's rate, and the flooding device's own press
 * must still go through: an alarm may draw on a reserve of its own once the device's rate is spent.
 *
 * And the same with presses: a device with a stolen login sending thousands of pendant presses,
 * each with a new id. Alarms are not exempt from the limit, or one login could write EVENTS (and
 * triage's work) as fast as the gateway stores.
 */

const ns = uniqueNamespace('secflood');
const n = names(ns);
const FLOODER = 'PND-SEC-FLOOD1';
const ALARM_FLOODER = 'PND-SEC-FLOOD2';
const NEIGHBOUR = 'PND-SEC-NEIGH1';
const FLOOD = 5_000;
const RATE = 20;
const BURST = 100;
const ALARM_RATE = 1;
const ALARM_BURST = 30;
const ALARM_FLOOD = 3_000;
const BULK_FLOODER = 'PND-SEC-FLOOD3';
const BULK_FLOOD = 600;
const DECOY_FLOODER = 'PND-SEC-FLOOD4';
const DECOY_FLOOD = 2_000;

let broker: OwnMosquitto;
let gateway: GatewayMqttHandle;
let nc: NatsConnection;
let flooder: MqttClient;
let neighbour: SimulatedDevice;

const entry = (serial: string, residentId: string) => mqttDevice(serial, { residentId });

beforeAll(async () => {
  broker = await startOwnMosquitto();
  gateway = await startGatewayMqtt(
    loadGatewayMqttConfig(
      serviceEnv(ns, {
        GATEWAY_MQTT_PORT: '0',
        MQTT_URL: broker.url,
        GATEWAY_MQTT_DEVICE_RATE: String(RATE),
        GATEWAY_MQTT_DEVICE_BURST: String(BURST),
        GATEWAY_MQTT_DEVICE_ALARM_RATE: String(ALARM_RATE),
        GATEWAY_MQTT_DEVICE_ALARM_BURST: String(ALARM_BURST),
      }),
    ),
  );
  nc = await connectNats({ servers: servers.natsUrl });
  const kv = await openDeviceMap(nc, n);
  await kv.put(FLOODER, JSON.stringify(entry(FLOODER, 'res_secflood1')));
  await kv.put(ALARM_FLOODER, JSON.stringify(entry(ALARM_FLOODER, 'res_secflood2')));
  await kv.put(NEIGHBOUR, JSON.stringify(entry(NEIGHBOUR, 'res_secneigh1')));
  await kv.put(BULK_FLOODER, JSON.stringify(entry(BULK_FLOODER, 'res_secflood3')));
  await kv.put(DECOY_FLOODER, JSON.stringify(entry(DECOY_FLOODER, 'res_secflood4')));
  flooder = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: FLOODER });
  neighbour = new SimulatedDevice({
    serial: NEIGHBOUR,
    mqttUrl: broker.url,
    namespace: ns,
    resendMs: 10_000,
    maxAttempts: 2,
  });
  await neighbour.connect();
});

afterAll(async () => {
  await flooder?.endAsync(true);
  await neighbour?.close();
  await gateway?.close();
  await nc?.close();
  broker?.stop();
  await cleanupNamespace(ns);
});

/** Device messages the gateway has dropped past a rate or refused, so far. */
async function handled(): Promise<number> {
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
  let sum = 0;
  for (const [, count] of metrics.matchAll(
    /^gateway_mqtt_(?:rate_limited|rejects)_total(?:\{[^}]*\})? (\d+)$/gm,
  ))
    sum += Number(count);
  return sum;
}

/**
 * A device's flood, seen by `JSON.parse` (the gateway runs in this process), was read only as far
 * as its rate admitted: its burst, and its rate over `elapsedS`.
 */
function expectReadAtRate(
  parse: { mock: { calls: unknown[][] } },
  ofFlood: (text: string) => boolean,
  elapsedS: number,
): void {
  const parsed = parse.mock.calls.filter(([text]) => typeof text === 'string' && ofFlood(text)).length;
  expect(parsed).toBeGreaterThanOrEqual(BURST);
  expect(parsed).toBeLessThanOrEqual(BURST + Math.ceil(RATE * elapsedS) + 1);
}

describe('one device flooding', () => {
  it('does not delay a neighbour’s press, reaches EVENTS only at its rate, and its own press still goes through', async () => {
    const started = performance.now();
    const at = new Date().toISOString();
    const flood = Array.from({ length: FLOOD }, (_, i) =>
      flooder.publishAsync(
        n.mqtt.events(FLOODER),
        JSON.stringify({ id: `flood-${String(i).padStart(6, '0')}`, type: 'heartbeat', at }),
        { qos: 1 },
      ),
    );
    const press = await neighbour.send('pendant.pressed', {}, { id: 'neighbour-press-0001' });
    expect(press.attempts).toBe(1);
    await Promise.all(flood);

    // The flooder's own press, right behind its flood.
    const acked = new Promise<string>((resolve) => {
      flooder.on('message', (_topic, payload) => {
        const ack = JSON.parse(payload.toString()) as { id?: string; stored?: boolean };
        if (ack.id === 'flooder-press-0001' && ack.stored) resolve(ack.id);
      });
    });
    await flooder.subscribeAsync(n.mqtt.ack(FLOODER), { qos: 1 });
    await flooder.publishAsync(
      n.mqtt.events(FLOODER),
      JSON.stringify({ id: 'flooder-press-0001', type: 'pendant.pressed', at: new Date().toISOString() }),
      { qos: 1 },
    );
    expect(await acked).toBe('flooder-press-0001');
    const elapsedS = (performance.now() - started) / 1000;

    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(n.streams.events, { subjects_filter: `${ns}.events.*.heartbeat` });
    const heartbeats = Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0);
    expect(heartbeats).toBeGreaterThanOrEqual(BURST);
    expect(heartbeats).toBeLessThanOrEqual(BURST + Math.ceil(RATE * elapsedS) + 1);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    const limited = Number(/^gateway_mqtt_rate_limited_total\{[^}]*\} (\d+)$/m.exec(metrics)?.[1]);
    expect(limited).toBe(FLOOD - heartbeats);
  });

  it('a flood of large, nested payloads past the device’s rate is dropped before any of it is parsed', async () => {
    // The gateway runs in this process: every JSON.parse of the flood's text is seen here.
    const parse = vi.spyOn(JSON, 'parse');
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: BULK_FLOODER });
    const before = await handled();
    try {
      const started = performance.now();
      const at = new Date().toISOString();
      // 16 KiB each, nested 15 deep: within every bound but the data's, so each one read costs a
      // decode, a nesting scan, a parse and the schema before its refusal.
      const nested = `${'['.repeat(14)}${'1,'.repeat(8_000)}1${']'.repeat(14)}`;
      await Promise.all(
        Array.from({ length: BULK_FLOOD }, (_, i) =>
          client.publishAsync(
            n.mqtt.events(BULK_FLOODER),
            `{"id":"bulk-${String(i).padStart(6, '0')}","type":"heartbeat","at":"${at}","data":{"pad":${nested}}}`,
            { qos: 1 },
          ),
        ),
      );
      // Every one is either dropped past the rate or refused (its data is over the bound).
      await waitFor(async () => (await handled()) - before >= BULK_FLOOD || undefined, {
        what: 'the gateway to take the whole flood',
        timeoutMs: 20_000,
        intervalMs: 100,
      });
      const elapsedS = (performance.now() - started) / 1000;
      // Only what the device's rate admitted was read: its burst, and its rate over the flood.
      expectReadAtRate(parse, (text) => text.startsWith('{"id":"bulk-'), elapsedS);
    } finally {
      parse.mockRestore();
      await client.endAsync(true);
    }
  });

  it('heartbeats naming alarm types in their data spend none of the alarm reserve: the press behind them is stored at once', async () => {
    // The gateway runs in this process: every JSON.parse of the flood's text is seen here.
    const parse = vi.spyOn(JSON, 'parse');
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: DECOY_FLOODER });
    try {
      const acked = new Promise<string>((resolve) => {
        client.on('message', (_topic, payload) => {
          const ack = JSON.parse(payload.toString()) as { id?: string; stored?: boolean };
          if (ack.id === 'decoy-press-0001' && ack.stored) resolve(ack.id);
        });
      });
      await client.subscribeAsync(n.mqtt.ack(DECOY_FLOODER), { qos: 1 });
      const started = performance.now();
      const at = new Date().toISOString();
      // Far past the device's burst and its alarm reserve's: each names every life-critical type.
      const decoy = { note: 'pendant.pressed', also: ['fall.detected', 'smoke.detected'] };
      await Promise.all(
        Array.from({ length: DECOY_FLOOD }, (_, i) =>
          client.publishAsync(
            n.mqtt.events(DECOY_FLOODER),
            JSON.stringify({ id: `decoy-${String(i).padStart(6, '0')}`, type: 'heartbeat', at, data: decoy }),
            { qos: 1 },
          ),
        ),
      );
      // Sent once, right behind the flood: no resend, so only the reserve can get it stored.
      await client.publishAsync(
        n.mqtt.events(DECOY_FLOODER),
        JSON.stringify({ id: 'decoy-press-0001', type: 'pendant.pressed', at: new Date().toISOString() }),
        { qos: 1 },
      );
      const stored = await Promise.race([
        acked,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000)),
      ]);
      expect(stored).toBe('decoy-press-0001');
      const elapsedS = (performance.now() - started) / 1000;
      // Past its rate the flood was not read (its acks, parsed here, name no type).
      expectReadAtRate(
        parse,
        (text) => text.startsWith('{"id":"decoy-0') && text.includes('"type"'),
        elapsedS,
      );
    } finally {
      parse.mockRestore();
      await client.endAsync(true);
    }
  });

  it('a flood of presses, each with a new id, reaches EVENTS only at the device’s rate and its alarm reserve', async () => {
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: ALARM_FLOODER });
    try {
      const started = performance.now();
      const at = new Date().toISOString();
      const flood = Array.from({ length: ALARM_FLOOD }, (_, i) =>
        client.publishAsync(
          n.mqtt.events(ALARM_FLOODER),
          JSON.stringify({ id: `alarm-flood-${String(i).padStart(6, '0')}`, type: 'pendant.pressed', at }),
          { qos: 1 },
        ),
      );
      const press = await neighbour.send('pendant.pressed', {}, { id: 'neighbour-press-0002' });
      expect(press.attempts).toBe(1);
      await Promise.all(flood);
      const jsm = await jetstreamManager(nc);
      // Everything admitted is stored within a few seconds; wait for the count to settle.
      let presses = -1;
      for (let previous = -2; presses !== previous; ) {
        previous = presses;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const info = await jsm.streams.info(n.streams.events, {
          subjects_filter: `${ns}.events.*.pendant.pressed`,
        });
        presses = Object.values(info.state.subjects ?? {}).reduce((sum, count) => sum + count, 0);
      }
      const elapsedS = (performance.now() - started) / 1000;
      // The neighbour's two presses and the first flooder's one are in there too.
      const flooded = presses - 3;
      expect(flooded).toBeGreaterThanOrEqual(BURST + ALARM_BURST);
      expect(flooded).toBeLessThanOrEqual(
        BURST + ALARM_BURST + Math.ceil((RATE + ALARM_RATE) * elapsedS) + 1,
      );
    } finally {
      await client.endAsync(true);
    }
  });
});

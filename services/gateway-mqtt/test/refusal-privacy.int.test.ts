import { DeadLetter, DeviceAck, type DeviceMapEntry, names } from '@telecare/contracts';
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

/**
 * A device payload may carry personal data. When the gateway refuses one it says what is wrong in
 * its own words: the payload's text appears in neither the ack nor any log line (only the dead
 * letter keeps the raw bytes, which is what it is for).
 */

const ns = uniqueNamespace('gwprivacy');
const n = names(ns);
const SERIAL = 'PND-PRIV-1';
/** Stands for a name or a note in a payload: it must not come back out. */
const MARKER = 'Mrs-Marker-Quimby';
const lines: string[] = [];
// Everything the gateway logs, down to debug, kept for the test to read.
const logger = createLogger('gateway-mqtt-test', 'debug', {
  write: (line: string) => {
    lines.push(line);
  },
});

let nc: NatsConnection;
let jsm: JetStreamManager;
let gateway: GatewayMqttHandle;
let device: MqttClient;
const acks: DeviceAck[] = [];

const entry: DeviceMapEntry = {
  serial: SERIAL,
  deviceId: 'dev_priv1',
  residentId: 'res_priv1',
  kind: 'pendant',
  protocol: 'mqtt',
  location: null,
  supervisionIntervalS: 3600,
  state: 'installed',
  testMode: false,
  postcodeDistrict: null,
  updatedAt: '2026-01-01T00:00:00Z',
};

async function deadLetters(): Promise<DeadLetter[]> {
  const info = await jsm.streams.info(n.streams.deadletter);
  const out: DeadLetter[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && seq > 0; seq++) {
    const msg = await jsm.streams.getMessage(n.streams.deadletter, { seq }).catch(() => null);
    if (msg) out.push(DeadLetter.parse(msg.json()));
  }
  return out;
}

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: 'privacy-test', logger });
  jsm = await jetstreamManager(nc);
  await (await openDeviceMap(nc, n)).put(SERIAL, JSON.stringify(entry));
  gateway = await startGatewayMqtt(
    loadGatewayMqttConfig(
      serviceEnv(ns, { GATEWAY_MQTT_PORT: '0', MQTT_CLIENT_ID: `${ns}-gateway`, LOG_LEVEL: 'debug' }),
    ),
    { logger },
  );
  device = await connectMqtt({ url: servers.mqttUrl, clientId: `${ns}-dev`, logger });
  device.on('message', (topic, payload) => {
    if (topic === n.mqtt.ack(SERIAL)) acks.push(DeviceAck.parse(JSON.parse(payload.toString())));
  });
  await device.subscribeAsync(n.mqtt.ack(SERIAL), { qos: 1 });
});

afterAll(async () => {
  await device?.endAsync();
  await gateway?.close();
  const sweeper = await connectMqtt({
    url: servers.mqttUrl,
    clientId: `${ns}-gateway`,
    logger: createLogger('sweeper', 'silent'),
    clean: true,
  });
  await sweeper.endAsync();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('gateway-mqtt: a refused payload is described, never quoted', () => {
  const cases: Array<{ what: string; payload: Buffer; reason: string; says: RegExp }> = [
    {
      what: 'text that is not JSON',
      payload: Buffer.from(`${MARKER} fell in the bathroom`),
      reason: 'not-json',
      says: /^not-json: payload is not JSON( at byte \d+)?$/,
    },
    {
      what: 'JSON cut short inside a string',
      payload: Buffer.from(`{"id":"priv-0001","type":"pendant.pressed","note":"${MARKER}`),
      reason: 'not-json',
      says: /^not-json: payload is not JSON( at byte \d+)?$/,
    },
    {
      what: 'JSON with text after it',
      payload: Buffer.from(`{"id":"priv-0002"} ${MARKER}`),
      reason: 'not-json',
      says: /^not-json: payload is not JSON( at byte \d+)?$/,
    },
    {
      what: 'bytes that are not UTF-8',
      payload: Buffer.concat([
        Buffer.from(`{"note":"${MARKER}`),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"}'),
      ]),
      reason: 'not-json',
      says: /^not-json: payload is not UTF-8( at byte \d+)?$/,
    },
    {
      what: 'a payload serial that is not a serial',
      payload: Buffer.from(
        JSON.stringify({
          id: 'priv-0003',
          type: 'pendant.pressed',
          at: '2026-01-05T07:30:00Z',
          serial: `${MARKER} flat 2`,
        }),
      ),
      reason: 'serial-mismatch',
      says: /^serial-mismatch: /,
    },
  ];

  for (const c of cases) {
    it(c.what, async () => {
      const before = acks.length;
      await device.publishAsync(n.mqtt.events(SERIAL), c.payload, { qos: 1 });
      const ack = await waitFor(
        () => acks.slice(before).find((a): a is { id?: string; rejected: string } => 'rejected' in a),
        { what: `a rejection of ${c.what}` },
      );
      expect(ack.rejected.startsWith(`${c.reason}:`)).toBe(true);
      expect(ack.rejected).toMatch(c.says);
      expect(JSON.stringify(ack)).not.toContain(MARKER);
      // The dead letter keeps the raw bytes; its description does not quote them either.
      const letter = await waitFor(
        async () => (await deadLetters()).find((l) => Buffer.from(l.rawBase64, 'base64').equals(c.payload)),
        { what: 'the dead letter' },
      );
      expect(letter.detail).not.toContain(MARKER);
      await waitFor(() => lines.some((line) => line.includes('"msg":"refused"') && line.includes(c.reason)), {
        what: 'the refusal to be logged',
      });
      expect(lines.filter((line) => line.includes(MARKER))).toEqual([]);
    });
  }
});

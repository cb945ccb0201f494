import { type DeviceMapEntry, names } from '@telecare/contracts';
import {
  connectMqtt,
  connectNats,
  createLogger,
  jetstreamManager,
  type MqttClient,
  type NatsConnection,
  openDeviceMap,
} from '@telecare/platform';
import {
  cleanupNamespace,
  type OwnMosquitto,
  servers,
  serviceEnv,
  startOwnMosquitto,
  uniqueNamespace,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '../src/index.ts';

const ns = uniqueNamespace('gwshed');
const n = names(ns);
const logger = createLogger('gateway-overload-test', process.env.TEST_LOG_LEVEL ?? 'silent');

const HUBS = 100;
const PER_HUB = 10;
const CHATTER = HUBS * PER_HUB;

const entry = (serial: string, kind: DeviceMapEntry['kind']): DeviceMapEntry => ({
  serial,
  deviceId: `dev_${serial.toLowerCase().replace(/[^a-z0-9]/g, '')}`,
  residentId: `res_${serial.toLowerCase().replace(/[^a-z0-9]/g, '')}`,
  kind,
  protocol: 'mqtt',
  location: null,
  supervisionIntervalS: 3600,
  state: 'installed',
  testMode: false,
  postcodeDistrict: 'GL4',
  updatedAt: '2026-01-01T00:00:00Z',
});

let mosquitto: OwnMosquitto;
let nc: NatsConnection;
let gateway: GatewayMqttHandle;
let homes: MqttClient;
let pendant: MqttClient;

beforeAll(async () => {
  mosquitto = await startOwnMosquitto();
  nc = await connectNats({ url: servers.natsUrl, name: 'overload-test', logger });
  const kv = await openDeviceMap(nc, n);
  await Promise.all(
    Array.from({ length: HUBS }, (_, i) =>
      kv.put(`HUB-${i}`, JSON.stringify(entry(`HUB-${i}`, 'home-unit'))),
    ),
  );
  await kv.put('PND-SHED', JSON.stringify(entry('PND-SHED', 'pendant')));
  // One store at a time and a short queue: the chatter below is read far faster than it is stored.
  gateway = await startGatewayMqtt(
    loadGatewayMqttConfig(
      serviceEnv(ns, {
        GATEWAY_MQTT_PORT: '0',
        MQTT_CLIENT_ID: `${ns}-gateway`,
        MQTT_URL: mosquitto.url,
        GATEWAY_MQTT_CONCURRENCY: '1',
        GATEWAY_MQTT_SHED_AT: '50',
      }),
    ),
    { logger },
  );
  homes = await connectMqtt({ url: mosquitto.url, clientId: `${ns}-homes`, logger });
  pendant = await connectMqtt({ url: mosquitto.url, clientId: `${ns}-pendant`, logger });
});

afterAll(async () => {
  await homes?.endAsync();
  await pendant?.endAsync();
  await gateway?.close();
  await nc?.close();
  mosquitto?.stop();
  await cleanupNamespace(ns);
});

const metric = async (name: string): Promise<number> => {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm')))
    total += Number(match[1]);
  return total;
};

describe('an overloaded gateway', () => {
  it('sheds heartbeats past its queue bound, counts each, and still stores and acks the alarm', async () => {
    const at = new Date().toISOString();
    // The queue gauge, read at each scrape, while the chatter waits: bounded by the shed threshold.
    let sampling = true;
    let waitingMax = 0;
    const sampler = (async () => {
      while (sampling) {
        waitingMax = Math.max(waitingMax, await metric('gateway_mqtt_queued_messages'));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const sends: Promise<unknown>[] = [];
    for (let r = 0; r < PER_HUB; r++) {
      for (let h = 0; h < HUBS; h++) {
        const payload = JSON.stringify({
          id: `hb-${h}-${r}-xx`,
          type: 'heartbeat',
          at,
          data: { mains: true },
        });
        sends.push(homes.publishAsync(n.mqtt.events(`HUB-${h}`), payload, { qos: 1 }));
      }
    }
    await Promise.all(sends);
    const acked = new Promise<void>((resolve) => {
      pendant.on('message', (_topic, raw) => {
        if (JSON.parse(raw.toString()).id === 'press-in-overload') resolve();
      });
    });
    await pendant.subscribeAsync(n.mqtt.ack('PND-SHED'), { qos: 1 });
    await pendant.publishAsync(
      n.mqtt.events('PND-SHED'),
      JSON.stringify({ id: 'press-in-overload', type: 'pendant.pressed', at }),
      { qos: 1 },
    );
    await acked;
    sampling = false;
    await sampler;
    expect(waitingMax).toBeGreaterThan(0);
    // 50 heartbeats at most (past that they are shed), and the press.
    expect(waitingMax).toBeLessThanOrEqual(51);

    // Every heartbeat was either stored or shed (counted): none vanished, and the queue stayed bounded.
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + 20_000;
    let stored = 0;
    let shed = 0;
    while (Date.now() < deadline) {
      stored = (await jsm.streams.info(n.streams.events)).state.messages;
      shed = await metric('gateway_mqtt_shed_total');
      if (stored - 1 + shed === CHATTER) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(shed).toBeGreaterThan(0);
    expect(stored - 1 + shed).toBe(CHATTER);
    const shedAlarms = (await (await fetch(`${gateway.url}/metrics`)).text()).match(
      /^gateway_mqtt_shed_total\{priority="[123]"\} [1-9]/m,
    );
    expect(shedAlarms).toBeNull();
    expect(await metric('gateway_mqtt_queued_messages')).toBe(0);
  }, 60_000);
});

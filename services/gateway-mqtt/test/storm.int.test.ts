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

const ns = uniqueNamespace('gwstorm');
const n = names(ns);
const logger = createLogger('gateway-storm-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const HUBS = 200;
const REPORTS_PER_HUB = 20;
const STORM = HUBS * REPORTS_PER_HUB;

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

// Its own broker, configured as infra starts one: a broker left at Mosquitto's default
// max_queued_messages (1000) drops QoS 1 messages queued for a busy subscriber.
let mosquitto: OwnMosquitto;
let nc: NatsConnection;
let gateway: GatewayMqttHandle;
let storm: MqttClient;
let pendant: MqttClient;

beforeAll(async () => {
  mosquitto = await startOwnMosquitto();
  nc = await connectNats({ url: servers.natsUrl, name: 'storm-test', logger });
  const kv = await openDeviceMap(nc, n);
  await Promise.all(
    Array.from({ length: HUBS }, (_, i) =>
      kv.put(`HUB-${i}`, JSON.stringify(entry(`HUB-${i}`, 'home-unit'))),
    ),
  );
  await kv.put('PND-STORM', JSON.stringify(entry('PND-STORM', 'pendant')));
  gateway = await startGatewayMqtt(
    loadGatewayMqttConfig(
      serviceEnv(ns, { GATEWAY_MQTT_PORT: '0', MQTT_CLIENT_ID: `${ns}-gateway`, MQTT_URL: mosquitto.url }),
    ),
    { logger },
  );
  storm = await connectMqtt({ url: mosquitto.url, clientId: `${ns}-storm`, logger });
  pendant = await connectMqtt({ url: mosquitto.url, clientId: `${ns}-pendant`, logger });
});

afterAll(async () => {
  await storm?.endAsync();
  await pendant?.endAsync();
  await gateway?.close();
  await nc?.close();
  mosquitto?.stop();
  await cleanupNamespace(ns);
});

describe('an alarm during a storm', () => {
  it('is stored and acked ahead of the mains-lost reports queued before it', async () => {
    const at = new Date().toISOString();
    // Every hub reports mains lost (and chatter) at once; the press comes after all of them.
    const sends: Promise<unknown>[] = [];
    for (let r = 0; r < REPORTS_PER_HUB; r++) {
      for (let h = 0; h < HUBS; h++) {
        const payload = JSON.stringify({
          id: `mains-${h}-${r}-x`,
          type: r % 2 ? 'mains.restored' : 'mains.lost',
          at,
        });
        sends.push(storm.publishAsync(n.mqtt.events(`HUB-${h}`), payload, { qos: 1 }));
      }
    }
    await Promise.all(sends);
    const acked = new Promise<void>((resolve) => {
      pendant.on('message', (_topic, raw) => {
        if (JSON.parse(raw.toString()).id === 'press-during-storm') resolve();
      });
    });
    await pendant.subscribeAsync(n.mqtt.ack('PND-STORM'), { qos: 1 });
    await pendant.publishAsync(
      n.mqtt.events('PND-STORM'),
      JSON.stringify({ id: 'press-during-storm', type: 'pendant.pressed', at }),
      { qos: 1 },
    );
    await acked;

    const jsm = await jetstreamManager(nc);
    const storedAtPress = (await jsm.streams.info(n.streams.events)).state.messages - 1;
    console.log(`press acked with ${storedAtPress} of ${STORM} storm reports stored`);
    // Handled in arrival order the press would wait for all of them; it overtakes most.
    expect(storedAtPress).toBeLessThan(STORM / 2);

    // …and the storm itself is stored in full afterwards.
    const deadline = Date.now() + 20_000;
    let stored = 0;
    while (Date.now() < deadline && stored < STORM + 1) {
      stored = (await jsm.streams.info(n.streams.events)).state.messages;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(stored).toBe(STORM + 1);
  }, 40_000);
});

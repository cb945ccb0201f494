import { connect, type Socket } from 'node:net';
import { type DeviceMapEntry, names, TelecareEvent } from '@telecare/contracts';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import {
  connectNats,
  createLogger,
  jetstreamManager,
  type NatsConnection,
  openDeviceMap,
} from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAs, type StaticMosquitto, startStaticMosquitto } from '../support/mosquitto.ts';

/**
 * The broker's connection log, which the gateway reads to find a device's login used from two
 * places, names every client and its address: on the shipped static configuration the gateway's
 * login reads it, and a device's does not, however it subscribes.
 */
const ns = uniqueNamespace('secbrlog');
const n = names(ns);
const logger = createLogger('broker-log-test', process.env.TEST_LOG_LEVEL ?? 'silent');
let broker: StaticMosquitto;
let nc: NatsConnection;
let gateway: GatewayMqttHandle;
let snoop: MqttClient;
const sockets: Socket[] = [];

const device = (serial: string): DeviceMapEntry => ({
  serial,
  deviceId: `dev_${serial.toLowerCase().replace(/[^a-z0-9]/g, '')}`,
  residentId: `res_${serial.toLowerCase().replace(/[^a-z0-9]/g, '')}`,
  kind: 'pendant',
  protocol: 'mqtt',
  location: null,
  supervisionIntervalS: 3600,
  state: 'installed',
  testMode: false,
  postcodeDistrict: 'GL1',
  updatedAt: '2026-01-01T00:00:00Z',
});

beforeAll(async () => {
  broker = await startStaticMosquitto(ns, [
    ['PND-LOG-SNOOP', 'secret-snoop'],
    ['PND-LOG-COPIED', 'secret-copied'],
    ['telecare-gateway-mqtt', 'secret-gw'],
  ]);
  nc = await connectNats({ url: servers.natsUrl, name: 'broker-log-test', logger });
  const kv = await openDeviceMap(nc, n);
  await kv.put('PND-LOG-COPIED', JSON.stringify(device('PND-LOG-COPIED')));
  gateway = await startGatewayMqtt(
    loadGatewayMqttConfig(
      serviceEnv(ns, {
        GATEWAY_MQTT_PORT: '0',
        MQTT_CLIENT_ID: 'telecare-gateway-mqtt',
        MQTT_URL: `mqtt://telecare-gateway-mqtt:secret-gw@127.0.0.1:${broker.port}`,
      }),
    ),
    { logger },
  );
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await snoop?.endAsync();
  await gateway?.close();
  await nc?.close();
  await broker?.stop();
  await cleanupNamespace(ns);
});

/** An MQTT 3.1.1 CONNECT with a device's login, from a loopback address of the test's choosing. */
function login(user: string, secret: string, from: string): Promise<void> {
  const str = (s: string) => {
    const b = Buffer.from(s);
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const body = Buffer.concat([
    str('MQTT'),
    Buffer.from([4, 0b1100_0010, 0, 60]),
    str(user),
    str(user),
    str(secret),
  ]);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: broker.port, localAddress: from });
    sockets.push(socket);
    socket.once('error', reject);
    socket.once('connect', () => socket.write(Buffer.concat([Buffer.from([0x10, body.length]), body])));
    socket.once('data', (p) =>
      p[0] === 0x20 && p[3] === 0 ? resolve() : reject(new Error(`CONNACK ${p[3]}`)),
    );
  });
}

describe("the broker's connection log on the static configuration", () => {
  it('is read by the gateway, which raises a copied login, and by no device', async () => {
    const snooped: string[] = [];
    const client = await connectAs(broker.port, {
      username: 'PND-LOG-SNOOP',
      password: 'secret-snoop',
      clientId: 'PND-LOG-SNOOP',
    });
    if (client instanceof Error) throw client;
    snoop = client;
    snoop.on('message', (topic) => snooped.push(topic));
    // The ACL file checks deliveries, not subscriptions: these are granted, and nothing comes.
    await snoop.subscribeAsync(['$SYS/broker/log/N', '$SYS/#', '#'], { qos: 0 });

    for (let turn = 0; turn < 4; turn++)
      await login('PND-LOG-COPIED', 'secret-copied', turn % 2 === 0 ? '127.0.0.1' : '127.0.0.2');
    const jsm = await jetstreamManager(nc);
    await waitFor(
      async () => {
        const info = await jsm.streams.info(n.streams.events);
        for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
          const msg = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
          const event = msg && TelecareEvent.parse(msg.json());
          if (event?.type === 'device.login-contested' && event.subject === 'PND-LOG-COPIED') return true;
        }
        return false;
      },
      { what: 'device.login-contested stored from the log the gateway reads', timeoutMs: 10_000 },
    );
    expect(snooped.filter((topic) => topic.startsWith('$SYS'))).toEqual([]);
  });
});

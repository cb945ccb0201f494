import { connect, type Socket } from 'node:net';
import { type DeviceMapEntry, names, TelecareEvent } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
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
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '../src/index.ts';
import { testDevice } from './support.ts';

// A copied device secret and the real device on one broker: two clients logging in with the same
// credentials under the same client id, from two addresses, throwing each other off in turn.
const ns = uniqueNamespace('gwtakeover');
const n = names(ns);
const logger = createLogger('gateway-takeover-test', process.env.TEST_LOG_LEVEL ?? 'silent');

let mosquitto: OwnMosquitto;
let nc: NatsConnection;
let jsm: JetStreamManager;
let gateway: GatewayMqttHandle;
const sockets: Socket[] = [];

beforeAll(async () => {
  mosquitto = await startOwnMosquitto();
  nc = await connectNats({ url: servers.natsUrl, name: 'takeover-test', logger });
  jsm = await jetstreamManager(nc);
  const kv = await openDeviceMap(nc, n);
  for (const serial of ['PND-STOLEN', 'PND-FLAKY', 'PND-PUBLISHED', 'PND-AWAY'])
    await kv.put(serial, JSON.stringify(testDevice(serial)));
  gateway = await startGatewayMqtt(
    loadGatewayMqttConfig(
      serviceEnv(ns, { GATEWAY_MQTT_PORT: '0', MQTT_CLIENT_ID: `${ns}-gateway`, MQTT_URL: mosquitto.url }),
    ),
    { logger },
  );
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await gateway?.close();
  await nc?.close();
  mosquitto?.stop();
  await cleanupNamespace(ns);
});

/** An MQTT 3.1.1 CONNECT as a device sends it: its serial as client id and username, a secret. */
function connectPacket(clientId: string): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s);
    return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
  };
  const body = Buffer.concat([
    str('MQTT'),
    // Level 4, flags: username, password, clean session; keepalive 60 s.
    Buffer.from([4, 0b1100_0010, 0, 60]),
    str(clientId),
    str(clientId),
    str('the-issued-secret'),
  ]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

/** Logs in as the device from a loopback address of its own; resolves at the broker's CONNACK. */
function login(serial: string, from: string): Promise<Socket> {
  const { hostname, port } = new URL(mosquitto.url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), localAddress: from });
    sockets.push(socket);
    socket.once('error', reject);
    socket.once('connect', () => socket.write(connectPacket(serial)));
    socket.once('data', (packet) =>
      packet[0] === 0x20 && packet[3] === 0 ? resolve(socket) : reject(packet),
    );
  });
}

const metric = async (name: string): Promise<number> => {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
};

/** The `device.login-contested` events EVENTS holds for a serial. */
async function contested(serial: string): Promise<TelecareEvent[]> {
  const info = await jsm.streams.info(n.streams.events);
  const found: TelecareEvent[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    if (!msg) continue;
    const event = TelecareEvent.parse(msg.json());
    if (event.type === 'device.login-contested' && event.subject === serial) found.push(event);
  }
  return found;
}

describe("a device's login used from two places", () => {
  it('is counted and raised once as device.login-contested, with ids and counts only', async () => {
    const before = await metric('gateway_mqtt_device_takeovers_total');
    // The real device at home, the copy elsewhere, each logging in again when thrown off.
    for (let turn = 0; turn < 6; turn++)
      await login('PND-STOLEN', turn % 2 === 0 ? '127.0.0.1' : '127.0.0.2');
    await waitFor(async () => (await contested('PND-STOLEN')).length > 0, {
      what: 'device.login-contested stored',
      timeoutMs: 10_000,
    });
    expect(await metric('gateway_mqtt_device_takeovers_total')).toBeGreaterThanOrEqual(before + 5);
    expect(await metric('gateway_mqtt_logins_contested_total')).toBe(1);
    // Once in the window: the three takeovers after the third raise nothing more.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const events = await contested('PND-STOLEN');
    expect(events).toHaveLength(1);
    const [event] = events as [TelecareEvent];
    const device: DeviceMapEntry = testDevice('PND-STOLEN');
    expect(event).toMatchObject({
      source: '/gateway-mqtt',
      residentid: device.residentId,
      devicekind: 'pendant',
      data: { takeovers: 3, addresses: 2, windowS: 600 },
    });
    expect(JSON.stringify(event)).not.toContain('127.0.0.');
  });

  it('is not raised for a device reconnecting again and again from its one address', async () => {
    const before = await metric('gateway_mqtt_device_takeovers_total');
    for (let turn = 0; turn < 6; turn++) await login('PND-FLAKY', '127.0.0.1');
    await waitFor(async () => (await metric('gateway_mqtt_device_takeovers_total')) >= before + 5, {
      what: 'the takeovers counted',
      timeoutMs: 10_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await contested('PND-FLAKY')).toEqual([]);
    expect(await metric('gateway_mqtt_logins_contested_total')).toBe(1);
  });

  it('is raised when the copy logs in, leaves cleanly, and the device logs in again each time', async () => {
    // The copy connects, publishes and disconnects (as mosquitto_pub does), throwing the real
    // device off each time; the device comes back once the copy has gone.
    await login('PND-PUBLISHED', '127.0.0.1');
    for (let turn = 0; turn < 3; turn++) {
      const copy = await login('PND-PUBLISHED', '127.0.0.2');
      copy.end(Buffer.from([0xe0, 0x00]));
      await new Promise((resolve) => copy.once('close', resolve));
      await new Promise((resolve) => setTimeout(resolve, 100));
      await login('PND-PUBLISHED', '127.0.0.1');
    }
    await waitFor(async () => (await contested('PND-PUBLISHED')).length > 0, {
      what: 'device.login-contested stored',
      timeoutMs: 5_000,
    });
    expect((await contested('PND-PUBLISHED'))[0]?.data).toMatchObject({ takeovers: 3, addresses: 2 });
  });

  it('counts no takeover for a login that left while the gateway was away from the broker', async () => {
    // The device is connected; the gateway is thrown off the broker (here by a client under its
    // id) and, while it is away, the device disconnects: the line saying so is never read. Back,
    // the gateway must not take the device's next login, from another address, for a takeover.
    const device = await login('PND-AWAY', '127.0.0.1');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = await metric('gateway_mqtt_device_takeovers_total');
    const usurper = await login(`${ns}-gateway`, '127.0.0.3');
    const usurperClosed = new Promise((resolve) => usurper.once('close', resolve));
    device.end(Buffer.from([0xe0, 0x00]));
    await new Promise((resolve) => device.once('close', resolve));
    // The gateway reconnects within its reconnect period and throws the usurper off in turn.
    await usurperClosed;
    await waitFor(async () => (await fetch(`${gateway.url}/readyz`)).ok, {
      what: 'the gateway back on the broker',
      timeoutMs: 10_000,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await login('PND-AWAY', '127.0.0.2');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await metric('gateway_mqtt_device_takeovers_total')).toBe(before);
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type DeviceMapEntry, names, type SecurityEvent } from '@telecare/contracts';
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
  OwnNatsServer,
  servers,
  serviceEnv,
  streamMessages,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '../src/index.ts';
import { testDevice } from './support.ts';

// This file removes a stream under a running gateway: a nats-server of its own.
const ns = uniqueNamespace('gwsecstate');
const n = names(ns);
const logger = createLogger('gateway-mqtt-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const gatewayClientId = `${ns}-gateway`;
const SERIAL = 'PND-3101';
const stateDir = mkdtempSync(path.join(tmpdir(), 'telecare-gwsecstate-'));
const spool = path.join(stateDir, 'security-events.jsonl');

let nats: OwnNatsServer;
let nc: NatsConnection;
let gateway: GatewayMqttHandle | undefined;
let deviceClient: MqttClient;

beforeAll(async () => {
  nats = await OwnNatsServer.start(ns);
  nc = await connectNats({ url: nats.url, name: `${ns}-test`, logger });
  const entry: DeviceMapEntry = testDevice(SERIAL);
  await (await openDeviceMap(nc, n)).put(SERIAL, JSON.stringify(entry));
  deviceClient = await connectMqtt({ url: servers.mqttUrl, clientId: `${ns}-dev`, logger });
});

afterAll(async () => {
  await gateway?.close();
  await deviceClient?.endAsync();
  const sweeper = await connectMqtt({ url: servers.mqttUrl, clientId: gatewayClientId, logger, clean: true });
  await sweeper.endAsync();
  await nc?.close();
  await nats?.destroy();
  rmSync(stateDir, { recursive: true, force: true });
}, 30_000);

describe('gateway-mqtt with GATEWAY_STATE_DIR', () => {
  it('keeps a security event it could not store in its folder, and stores it at its next start', async () => {
    const config = loadGatewayMqttConfig(
      serviceEnv(ns, {
        NATS_URL: nats.url,
        GATEWAY_MQTT_PORT: '0',
        MQTT_CLIENT_ID: gatewayClientId,
        GATEWAY_STATE_DIR: stateDir,
      }),
    );
    gateway = await startGatewayMqtt(config, { logger });
    // SECURITY gone: no security event can be stored until a start makes it again.
    await (await jetstreamManager(nc)).streams.delete(n.streams.security);
    // A pendant's login pulling a pull-cord: stored, and raised as `device-kind-unexpected`.
    await deviceClient.publishAsync(
      n.mqtt.events(SERIAL),
      JSON.stringify({ id: 'pull-3101', type: 'pullcord.pulled', at: new Date().toISOString() }),
      { qos: 1 },
    );
    await waitFor(() => readFileSync(spool, 'utf8').includes('device-kind-unexpected'), {
      timeoutMs: 20_000,
      what: 'the security event in the state folder',
    });
    await gateway.close();
    gateway = undefined;

    gateway = await startGatewayMqtt(config, { logger });
    const stored = await waitFor(
      async () => {
        const all = await streamMessages(nc, n.streams.security);
        return all.length > 0 ? all.map((m) => m.json<SecurityEvent>()) : undefined;
      },
      { timeoutMs: 20_000, what: 'the security event stored' },
    );
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({
      service: 'gateway-mqtt',
      kind: 'device-kind-unexpected',
      detail: { serial: SERIAL, type: 'pullcord.pulled' },
    });
    await waitFor(() => readFileSync(spool, 'utf8') === '', { what: 'the state folder emptied' });
  }, 90_000);
});

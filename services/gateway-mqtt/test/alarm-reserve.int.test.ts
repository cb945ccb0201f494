import { DeviceAck, names } from '@telecare/contracts';
import { connectMqtt, connectNats, createLogger, type MqttClient, openDeviceMap } from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '../src/index.ts';
import { testDevice } from './support.ts';

/**
 * A device past its rate still has its alarms stored, from a reserve of its own. Someone with the
 * device's login sending payloads that give themselves a life-critical type but are refused (a
 * serial not the login's, bytes that are not an event) spends none of it: the device's real press
 * behind them, sent once, is stored at once.
 */
const ns = uniqueNamespace('gwreserve');
const n = names(ns);
const logger = createLogger('gateway-mqtt-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const gatewayClientId = `${ns}-gateway`;
const SERIAL = 'PND-RSV1';
/** Refused alarms sent past the rate: several times the reserve. */
const REFUSED = 12;

let gateway: GatewayMqttHandle | undefined;
let device: MqttClient;
const acks: DeviceAck[] = [];

beforeAll(async () => {
  const nc = await connectNats({ url: servers.natsUrl, name: `${ns}-test`, logger });
  await (await openDeviceMap(nc, n)).put(SERIAL, JSON.stringify(testDevice(SERIAL)));
  await nc.close();
  gateway = await startGatewayMqtt(
    loadGatewayMqttConfig(
      serviceEnv(ns, {
        GATEWAY_MQTT_PORT: '0',
        MQTT_CLIENT_ID: gatewayClientId,
        // One message, then one every 100 s; alarms past that: two, then one every 100 s.
        GATEWAY_MQTT_DEVICE_RATE: '0.01',
        GATEWAY_MQTT_DEVICE_BURST: '1',
        GATEWAY_MQTT_DEVICE_ALARM_RATE: '0.01',
        GATEWAY_MQTT_DEVICE_ALARM_BURST: '2',
      }),
    ),
    { logger },
  );
  device = await connectMqtt({ url: servers.mqttUrl, clientId: `${ns}-device`, logger });
  device.on('message', (topic, payload) => {
    if (topic === n.mqtt.ack(SERIAL)) acks.push(DeviceAck.parse(JSON.parse(payload.toString())));
  });
  await device.subscribeAsync(n.mqtt.ack(SERIAL), { qos: 1 });
});

afterAll(async () => {
  await device?.endAsync();
  await gateway?.close();
  const sweeper = await connectMqtt({ url: servers.mqttUrl, clientId: gatewayClientId, logger, clean: true });
  await sweeper.endAsync();
  await cleanupNamespace(ns);
});

const send = (payload: string) => device.publishAsync(n.mqtt.events(SERIAL), payload, { qos: 1 });
const stored = (id: string) => acks.some((ack) => 'stored' in ack && ack.id === id);
const at = () => new Date().toISOString();

describe('the alarm reserve of a device past its rate', () => {
  it('is spent only on alarms stored: refused ones leave it to the real press', async () => {
    await send(JSON.stringify({ id: 'hb-000001', type: 'heartbeat', at: at() }));
    await waitFor(() => stored('hb-000001'), { what: 'the heartbeat stored (the rate spent)' });
    for (let i = 0; i < REFUSED; i++) {
      const id = `refused-${String(i).padStart(4, '0')}`;
      // Half name a serial not the login's; half are not JSON, though they start as a press does.
      await send(
        i % 2 === 0
          ? JSON.stringify({ id, type: 'pendant.pressed', at: at(), serial: 'PND-OTHER' })
          : `{"type":"pendant.pressed","id":"${id}"`,
      );
    }
    // Sent once, behind them: only the reserve can get it stored.
    await send(JSON.stringify({ id: 'press-000001', type: 'pendant.pressed', at: at() }));
    await waitFor(() => stored('press-000001') || undefined, {
      what: 'the real press stored from the reserve',
      timeoutMs: 5_000,
    }).catch(() => undefined);
    expect(stored('press-000001')).toBe(true);
    // The reserve still bounds what is stored: two alarms, then nothing more for 100 s.
    for (const id of ['press-000002', 'press-000003'])
      await send(JSON.stringify({ id, type: 'pendant.pressed', at: at() }));
    await waitFor(() => stored('press-000002') || undefined, { what: 'the second press stored' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(stored('press-000003')).toBe(false);
  });
});

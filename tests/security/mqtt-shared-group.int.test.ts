import { names } from '@telecare/contracts';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import {
  cleanupNamespace,
  DYNSEC_PLUGIN,
  type DynsecMosquitto,
  serviceEnv,
  startDynsecMosquitto,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectAs,
  dynsecAdminReady,
  type StaticMosquitto,
  startStaticMosquitto,
} from '../support/mosquitto.ts';
import { registryCreate } from './support.ts';

/**
 * Attack replay on gateways in a shared subscription group (`GATEWAY_MQTT_SHARED_GROUP`): a device
 * holding its own login subscribes to `$share/<group>/…`, to join the gateways' group. The broker
 * would then hand it its turn of every device's messages, and (not allowed to read them) drop
 * them: neither stored nor answered. A broker must refuse the subscription, and a gateway must not
 * join a group on a broker that would let anyone in.
 */

const GROUP = 'gateways';

const subscribed = (client: MqttClient, filter: string) =>
  client.subscribeAsync(filter, { qos: 1 }).then(
    () => 'granted',
    (err: Error) => err.message,
  );

/** Publishes a press and resolves with the device's ack on its own ack topic (or 'none' by `ms`). */
async function press(
  client: MqttClient,
  n: ReturnType<typeof names>,
  serial: string,
  id: string,
  qos: 1 | 2 = 1,
  ms = 8_000,
) {
  const ack = new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve('none'), ms);
    client.on('message', (topic, payload) => {
      if (topic !== n.mqtt.ack(serial) || !payload.toString().includes(id)) return;
      clearTimeout(timer);
      resolve(payload.toString());
    });
  });
  await client.publishAsync(
    n.mqtt.events(serial),
    JSON.stringify({ id, type: 'pendant.pressed', at: new Date().toISOString() }),
    { qos },
  );
  return ack;
}

describe.skipIf(!DYNSEC_PLUGIN)('a shared group on the dynamic-security broker', () => {
  const ns = uniqueNamespace('secshare');
  const n = names(ns);
  const ADMIN_PASSWORD = 'admin-secret-for-this-test';
  const MEMBER = 'telecare-gateway-mqtt-1';
  const MEMBER_PASSWORD = 'member-secret-for-this-test';
  const SERIAL = 'PND-SEC-SHARE-A';
  let broker: DynsecMosquitto;
  let registry: RegistryHandle;
  let gateway: GatewayMqttHandle;
  let secret = '';
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    broker = await startDynsecMosquitto({ adminPassword: ADMIN_PASSWORD, label: 'secshare' });
    await dynsecAdminReady(broker, ADMIN_PASSWORD, `${ns}-probe`);
    // The gateway's role as infra/mosquitto/dynsec.sh writes it, shared filters included, and a
    // member's client holding it, bound to the member's id.
    const ctrl = broker.ctrl.bind(broker);
    ctrl('createRole', 'telecare-gateway');
    ctrl('addRoleACL', 'telecare-gateway', 'subscribePattern', n.mqtt.allEvents, 'allow');
    ctrl('addRoleACL', 'telecare-gateway', 'subscribePattern', n.mqtt.allStatus, 'allow');
    ctrl('addRoleACL', 'telecare-gateway', 'subscribePattern', `$share/+/${n.mqtt.allEvents}`, 'allow');
    ctrl('addRoleACL', 'telecare-gateway', 'subscribePattern', `$share/+/${n.mqtt.allStatus}`, 'allow');
    ctrl('addRoleACL', 'telecare-gateway', 'publishClientSend', n.mqtt.ack('+'), 'allow');
    ctrl('addRoleACL', 'telecare-gateway', 'publishClientSend', n.mqtt.config('+'), 'allow');
    ctrl('createClient', MEMBER, '-c', MEMBER, '-p', MEMBER_PASSWORD);
    ctrl('addClientRole', MEMBER, 'telecare-gateway');

    const env = serviceEnv(ns, {
      REGISTRY_PORT: '0',
      GATEWAY_MQTT_PORT: '0',
      MQTT_ADMIN_URL: broker.adminUrl,
      MQTT_URL: `mqtt://${MEMBER}:${MEMBER_PASSWORD}@127.0.0.1:${broker.port}`,
      MQTT_CLIENT_ID: MEMBER,
      GATEWAY_MQTT_SHARED_GROUP: GROUP,
    });
    registry = await startRegistry(loadRegistryConfig(env));
    gateway = await startGatewayMqtt(loadGatewayMqttConfig(env));
    const call = registryCreate(registry.url, env.TELECARE_ADMIN_TOKEN);
    const resident = await call('/api/residents', {
      name: 'Share Resident',
      address: '1 Test Street, Gloucester',
      postcode: 'GL1 2AB',
    });
    const created = await call('/api/devices', { serial: SERIAL, residentId: resident.id, kind: 'pendant' });
    secret = (created.credentials as { secret: string }).secret;
  });

  afterAll(async () => {
    for (const client of clients) await client.endAsync(true).catch(() => undefined);
    await gateway?.close();
    await registry?.close();
    broker?.stop();
    await cleanupNamespace(ns);
  });

  it('no device may subscribe to a shared filter, and every press it sends is stored by the group', async () => {
    const device = await connectAs(broker.port, { username: SERIAL, password: secret, clientId: SERIAL });
    if (device instanceof Error) throw device;
    clients.push(device);
    for (const filter of [
      `$share/${GROUP}/${n.mqtt.allEvents}`,
      `$share/${GROUP}/${n.mqtt.allStatus}`,
      `$share/${GROUP}/${n.mqtt.events(SERIAL)}`,
      `$share/${GROUP}/#`,
      `$share/other/${n.mqtt.ack('+')}`,
      // Its own ack topic, which it may read: not as a shared subscription.
      `$share/${GROUP}/${n.mqtt.ack(SERIAL)}`,
    ]) {
      expect(await subscribed(device, filter), filter).toMatch(/not authori[sz]ed/i);
    }
    await device.subscribeAsync(n.mqtt.ack(SERIAL), { qos: 1 });
    // At either QoS a device may publish with (the gateway reads at QoS 1).
    for (let i = 0; i < 4; i++) {
      expect(await press(device, n, SERIAL, `share-dyn-${i}`, i % 2 ? 2 : 1)).toContain('"stored":true');
    }
  });
});

describe('a shared group on the static configuration (password file and ACL)', () => {
  const ns = uniqueNamespace('secsharest');
  const n = names(ns);
  const GATEWAY_USER = 'telecare-gateway-mqtt';
  let broker: StaticMosquitto | undefined;
  let port: number;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    broker = await startStaticMosquitto(ns, [
      ['PND-STSHARE-A', 'secret-a'],
      ['PND-STSHARE-B', 'secret-b'],
      [GATEWAY_USER, 'secret-gw'],
    ]);
    port = broker.port;
  });

  afterAll(async () => {
    for (const client of clients) await client.endAsync(true).catch(() => undefined);
    await broker?.stop();
    await cleanupNamespace(ns);
  });

  it('lets a device join the group, where it swallows other devices’ messages', async () => {
    const member = await connectAs(port, { username: GATEWAY_USER, password: 'secret-gw', clientId: 'x' });
    const intruder = await connectAs(port, {
      username: 'PND-STSHARE-A',
      password: 'secret-a',
      clientId: 'y',
    });
    const victim = await connectAs(port, { username: 'PND-STSHARE-B', password: 'secret-b', clientId: 'z' });
    for (const c of [member, intruder, victim]) {
      if (c instanceof Error) throw c;
      clients.push(c);
    }
    const [gw, dev, other] = [member, intruder, victim] as MqttClient[];
    const filter = `$share/${GROUP}/${n.mqtt.allEvents}`;
    expect(await subscribed(gw!, filter)).toBe('granted');
    // Mosquitto's ACL file never checks a subscription, only each delivery.
    expect(await subscribed(dev!, filter)).toBe('granted');
    const got: string[] = [];
    gw!.on('message', (_topic, payload) => got.push(payload.toString()));
    for (let i = 0; i < 4; i++)
      await other!.publishAsync(n.mqtt.events('PND-STSHARE-B'), `m${i}`, { qos: 1 });
    await waitFor(() => got.length >= 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(got.length).toBeLessThan(4);
  });

  it('a gateway with a login refuses to join a shared group there, and says why', async () => {
    const env = serviceEnv(ns, {
      GATEWAY_MQTT_PORT: '0',
      MQTT_URL: `mqtt://${GATEWAY_USER}:secret-gw@127.0.0.1:${port}`,
      MQTT_CLIENT_ID: GATEWAY_USER,
      GATEWAY_MQTT_SHARED_GROUP: GROUP,
    });
    let started: GatewayMqttHandle | undefined;
    const outcome = await startGatewayMqtt(loadGatewayMqttConfig(env)).then(
      (handle) => {
        started = handle;
        return 'started';
      },
      (err: Error) => err.message,
    );
    await started?.close();
    expect(outcome).toMatch(/does not check subscriptions/);
  });
});

import { randomBytes } from 'node:crypto';
import { eventIdOfKey, names, partitionOf, type TelecareEvent } from '@telecare/contracts';
import { connectNats, createLogger, createPool, jetstream } from '@telecare/platform';
import {
  cleanupNamespace,
  DYNSEC_PLUGIN,
  type DynsecMosquitto,
  servers,
  serviceEnv,
  startDynsecMosquitto,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynsecAuthority, loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller, mqttLogin } from './support.ts';

const PLUGIN = DYNSEC_PLUGIN;

const ns = uniqueNamespace('regcred');
const n = names(ns);
const logger = createLogger('registry-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ADMIN_PASSWORD = 'admin-secret-for-this-test';

let broker: DynsecMosquitto;
let registry: RegistryHandle;
let registryEnv: Record<string, string>;
let token: string;

/** A change made directly in the broker, as an administrator with mosquitto_ctrl would. */
const ctrl = (...args: string[]) => broker.ctrl(...args);

const call = apiCaller(
  () => registry.url,
  () => token,
);

/** Connects, or resolves with the broker's refusal. */
const connect = (username: string, password: string) => mqttLogin(broker.port, username, password);

beforeAll(async () => {
  if (!PLUGIN) return;
  broker = await startDynsecMosquitto({ adminPassword: ADMIN_PASSWORD, label: 'regcred' });
  await waitFor(async () => {
    const client = await connect('registry-admin', ADMIN_PASSWORD);
    if (client instanceof Error) return false;
    await client.endAsync();
    return true;
  });
  registryEnv = serviceEnv(ns, {
    REGISTRY_PORT: '0',
    MQTT_ADMIN_URL: broker.adminUrl,
    // With a data key the registry seals issued secrets, so it can re-create a lost broker client.
    REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
  });
  token = registryEnv.TELECARE_ADMIN_TOKEN!;
  registry = await startRegistry(loadRegistryConfig(registryEnv), { logger });
});

afterAll(async () => {
  await registry?.close();
  broker?.stop();
  await cleanupNamespace(ns);
});

describe.skipIf(!PLUGIN)('device credentials in a Mosquitto with dynamic security', () => {
  let residentId: string;
  let secret: string;

  it('registering an MQTT device issues its secret once, and the broker admits it with that secret only', async () => {
    const resident = await call('POST', '/api/residents', {
      name: 'Cred Test',
      address: '1 Road',
      postcode: 'GL1 2AB',
    });
    residentId = resident.body.id as string;
    const created = await call('POST', '/api/devices', { serial: 'PND-CRED1', residentId, kind: 'pendant' });
    expect(created.status).toBe(201);
    const credentials = created.body.credentials as { username: string; secret: string };
    expect(credentials.username).toBe('PND-CRED1');
    secret = credentials.secret;
    expect(secret.length).toBeGreaterThanOrEqual(32);
    const fetched = await call('GET', '/api/devices/PND-CRED1');
    expect(JSON.stringify(fetched.body)).not.toContain(secret);
    expect(fetched.body.credentialIssuedAt).toEqual(expect.any(String));

    const good = await connect('PND-CRED1', secret);
    expect(good).not.toBeInstanceOf(Error);
    await (good as MqttClient).endAsync();
    const wrong = await connect('PND-CRED1', `${secret}x`);
    expect(wrong).toBeInstanceOf(Error);
    expect((wrong as Error).message).toMatch(/Bad User Name or Password|Not authorized/i);
  });

  it("a device's login found in use from two places shows in its health until a new secret is issued", async () => {
    const nc = await connectNats({ url: servers.natsUrl, name: 'regcred-contested', logger });
    try {
      // As gateway-mqtt raises it from the broker's connection log.
      const now = new Date().toISOString();
      const partition = partitionOf(residentId, 8);
      const event: TelecareEvent = {
        specversion: '1.0',
        id: eventIdOfKey('PND-CRED1', `login-contested-${Date.now()}`),
        source: '/gateway-mqtt',
        type: 'device.login-contested',
        subject: 'PND-CRED1',
        time: now,
        datacontenttype: 'application/json',
        residentid: residentId,
        devicekind: 'pendant',
        deviceeventid: 'login-contested',
        partition,
        receivedat: now,
        testmode: false,
        data: { takeovers: 3, addresses: 2, windowS: 600 },
      };
      await jetstream(nc).publish(n.subjects.event(partition, event.type), JSON.stringify(event), {
        msgID: event.id,
      });
    } finally {
      await nc.close();
    }
    await waitFor(async () => (await call('GET', '/api/devices/PND-CRED1/health')).body.lastLoginContested, {
      what: 'the contested login in health',
    });
    const reissued = await call('POST', '/api/devices/PND-CRED1/credentials');
    expect(reissued.status).toBe(201);
    secret = (reissued.body.credentials as { secret: string }).secret;
    expect((await call('GET', '/api/devices/PND-CRED1/health')).body.lastLoginContested).toBeNull();
  });

  it("a device's secret opens no API: not as a bearer token, nor as Basic serial:secret", async () => {
    for (const authorization of [
      `Bearer ${secret}`,
      `Bearer PND-CRED1:${secret}`,
      `Basic ${Buffer.from(`PND-CRED1:${secret}`).toString('base64')}`,
    ]) {
      for (const path of ['/api/residents', `/api/residents/${residentId}`, '/api/devices/PND-CRED1']) {
        const res = await fetch(`${registry.url}${path}`, { headers: { authorization } });
        expect(res.status, `${authorization.slice(0, 6)} ${path}`).toBe(401);
      }
    }
  });

  it("a device's publish to another device's topic is not delivered; its own is", async () => {
    await call('POST', '/api/devices', { serial: 'PND-CRED2', residentId, kind: 'pendant' });
    const watcher = (await connect('registry-admin', ADMIN_PASSWORD)) as MqttClient;
    const seen: string[] = [];
    watcher.on('message', (topic) => seen.push(topic));
    await watcher.subscribeAsync(`${n.mqtt.root}/#`, { qos: 1 });

    const device = (await connect('PND-CRED1', secret)) as MqttClient;
    // MQTT v5: the broker answers the PUBACK with "not authorised" and drops the message.
    await expect(
      device.publishAsync(n.mqtt.events('PND-CRED2'), '{"id":"spoofed-1"}', { qos: 1 }),
    ).rejects.toThrow(/Not authorized/i);
    await device.publishAsync(n.mqtt.events('PND-CRED1'), '{"id":"genuine-1"}', { qos: 1 });
    await waitFor(() => seen.includes(n.mqtt.events('PND-CRED1')), { what: 'own event delivered' });
    expect(seen).not.toContain(n.mqtt.events('PND-CRED2'));
    await device.endAsync();
    await watcher.endAsync();
  });

  it('re-issuing the secret of a device whose client is in the broker: the new one admitted, the old one refused', async () => {
    const issued = await call('POST', '/api/devices/PND-CRED2/credentials');
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const first = (issued.body.credentials as { secret: string }).secret;
    const again = await call('POST', '/api/devices/PND-CRED2/credentials');
    expect(again.status, JSON.stringify(again.body)).toBe(201);
    const fresh = (again.body.credentials as { secret: string }).secret;
    const admitted = await connect('PND-CRED2', fresh);
    expect(admitted).not.toBeInstanceOf(Error);
    await (admitted as MqttClient).endAsync();
    expect(await connect('PND-CRED2', first)).toBeInstanceOf(Error);
  });

  it('a device moved to another resident gets a new secret: the old one stops working', async () => {
    const other = await call('POST', '/api/residents', {
      name: 'Moved To',
      address: '9 Road',
      postcode: 'GL2 2AB',
    });
    const created = await call('POST', '/api/devices', { serial: 'PND-MOVE1', residentId, kind: 'pendant' });
    const old = (created.body.credentials as { secret: string }).secret;

    const moved = await call('PATCH', '/api/devices/PND-MOVE1', { residentId: other.body.id });
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    expect(moved.body.residentId).toBe(other.body.id);
    const issued = moved.body.credentials as { username: string; secret: string };
    expect(issued.username).toBe('PND-MOVE1');
    expect(issued.secret).not.toBe(old);
    expect(await connect('PND-MOVE1', old)).toBeInstanceOf(Error);
    const admitted = await connect('PND-MOVE1', issued.secret);
    expect(admitted).not.toBeInstanceOf(Error);
    await (admitted as MqttClient).endAsync();
    expect(JSON.stringify((await call('GET', '/api/devices/PND-MOVE1')).body)).not.toContain(issued.secret);

    // A change that keeps the resident issues nothing and leaves the secret working.
    const located = await call('PATCH', '/api/devices/PND-MOVE1', { location: 'worn' });
    expect(located.body.credentials).toBeUndefined();
    const still = await connect('PND-MOVE1', issued.secret);
    expect(still).not.toBeInstanceOf(Error);
    await (still as MqttClient).endAsync();
  });

  it('a device taken back to stock gets a new secret too; pairing it from stock keeps that one', async () => {
    const created = await call('POST', '/api/devices', { serial: 'PND-MOVE2', residentId, kind: 'pendant' });
    const old = (created.body.credentials as { secret: string }).secret;
    const unpaired = await call('PATCH', '/api/devices/PND-MOVE2', { residentId: null });
    expect(unpaired.status, JSON.stringify(unpaired.body)).toBe(200);
    expect(unpaired.body.state).toBe('stock');
    const stockSecret = (unpaired.body.credentials as { secret: string }).secret;
    expect(await connect('PND-MOVE2', old)).toBeInstanceOf(Error);

    const paired = await call('PATCH', '/api/devices/PND-MOVE2', { residentId });
    expect(paired.status).toBe(200);
    expect(paired.body.credentials).toBeUndefined();
    const admitted = await connect('PND-MOVE2', stockSecret);
    expect(admitted).not.toBeInstanceOf(Error);
    await (admitted as MqttClient).endAsync();
  });

  it('decommissioning revokes the credential: the device is refused afterwards', async () => {
    const gone = await call('POST', '/api/devices/PND-CRED1/decommission');
    expect(gone.status).toBe(200);
    const refused = await connect('PND-CRED1', secret);
    expect(refused).toBeInstanceOf(Error);
  });
});

describe.skipIf(!PLUGIN)('broker credentials resync when the registry starts', () => {
  const secrets: Record<string, string> = {};

  it('repairs what was changed directly in the broker while the registry was down', async () => {
    const resident = await call('POST', '/api/residents', {
      name: 'Resync',
      address: '2 Road',
      postcode: 'GL1 2AB',
    });
    for (const serial of ['PND-RS1', 'PND-RS2', 'PND-RS3']) {
      const created = await call('POST', '/api/devices', {
        serial,
        residentId: resident.body.id,
        kind: 'pendant',
      });
      expect(created.status).toBe(201);
      secrets[serial] = (created.body.credentials as { secret: string }).secret;
    }
    await registry.close();

    // Lost: the client deleted.
    ctrl('deleteClient', 'PND-RS1');
    // Tampered: an ACL removed, one widened, a role granting another device's topic, disabled.
    ctrl('removeRoleACL', 'device-PND-RS2', 'publishClientSend', n.mqtt.events('PND-RS2'));
    ctrl('addRoleACL', 'device-PND-RS2', 'publishClientSend', `${n.mqtt.root}/#`, 'allow');
    ctrl('createRole', 'sneaky');
    ctrl('addRoleACL', 'sneaky', 'publishClientSend', n.mqtt.events('PND-CRED2'), 'allow');
    ctrl('addClientRole', 'PND-RS2', 'sneaky');
    ctrl('disableClient', 'PND-RS2');
    // Unbound from its client id: it could log in under any id and take over another's session.
    ctrl('setClientId', 'PND-RS2');
    // Lost, with a secret issued before the registry had a data key: it cannot be re-created.
    ctrl('deleteClient', 'PND-RS3');
    const pool = createPool({ url: registryEnv.DATABASE_URL!, logger, name: 'test' });
    await pool.query(
      `update "${n.schema('registry')}".devices set credential_enc = null where serial = 'PND-RS3'`,
    );
    await pool.end();
    // Resurrected: a client for a decommissioned device, made by hand.
    ctrl('createClient', 'PND-CRED1', '-p', secrets['PND-RS1']!);
    // Not the registry's: left alone.
    ctrl('createClient', 'someone-else', '-p', 'their-own-password');

    registry = await startRegistry(loadRegistryConfig(registryEnv), { logger });

    const rs1 = await connect('PND-RS1', secrets['PND-RS1']!);
    expect(rs1).not.toBeInstanceOf(Error);
    await (rs1 as MqttClient).endAsync();

    const rs2 = await connect('PND-RS2', secrets['PND-RS2']!);
    expect(rs2).not.toBeInstanceOf(Error);
    const device = rs2 as MqttClient;
    await device.publishAsync(n.mqtt.events('PND-RS2'), '{"id":"own-event-1"}', { qos: 1 });
    await expect(
      device.publishAsync(n.mqtt.events('PND-CRED2'), '{"id":"spoofed-2"}', { qos: 1 }),
    ).rejects.toThrow(/Not authorized/i);
    await expect(
      device.publishAsync(`${n.mqtt.root}/anything`, '{"id":"wide-1"}', { qos: 1 }),
    ).rejects.toThrow(/Not authorized/i);
    await device.endAsync();
    const elsewhere = await mqttLogin(broker.port, 'PND-RS2', secrets['PND-RS2']!, 'PND-RS1');
    if (!(elsewhere instanceof Error)) await elsewhere.endAsync();
    expect(elsewhere).toBeInstanceOf(Error);

    expect(await connect('PND-CRED1', secrets['PND-RS1']!)).toBeInstanceOf(Error);
    expect(await connect('PND-RS3', secrets['PND-RS3']!)).toBeInstanceOf(Error);
    const other = await connect('someone-else', 'their-own-password');
    expect(other).not.toBeInstanceOf(Error);
    await (other as MqttClient).endAsync();

    const metrics = await (await fetch(`${registry.url}/metrics`)).text();
    expect(metrics).toMatch(
      /registry_broker_repairs_total\{outcome="reissue-needed",service="registry"\} 1\b/,
    );
    expect(metrics).toMatch(/registry_broker_repairs_total\{outcome="repaired",service="registry"\} 5\b/);
    expect(metrics).toMatch(/registry_broker_repairs_total\{outcome="removed",service="registry"\} 1\b/);
  });

  it('a device that needs re-issue gets a new secret the broker admits', async () => {
    const issued = await call('POST', '/api/devices/PND-RS3/credentials');
    expect(issued.status).toBe(201);
    const client = await connect('PND-RS3', (issued.body.credentials as { secret: string }).secret);
    expect(client).not.toBeInstanceOf(Error);
    await (client as MqttClient).endAsync();
  });
});

describe.skipIf(!PLUGIN)('bulk import with broker credentials on', () => {
  const residents = 'ref,name,address,postcode\nR1,Import Cred,3 Road,GL1 2AB\n';

  it('issues each imported MQTT device its secret, once, in the import answer; the broker admits each', async () => {
    const devices = [
      'serial,kind,resident,protocol,dc09Account',
      'PND-IMP1,pendant,R1,,',
      'PND-IMP2,fall-detector,,,',
      'HUB-IMP3,home-unit,R1,dc09,A1B2C3',
    ].join('\n');
    const out = await call('POST', '/api/import', { residents, devices });
    expect(out.status).toBe(200);
    const issued = out.body.credentials as Array<{ serial: string; username: string; secret: string }>;
    expect(issued.map((c) => c.serial).sort()).toEqual(['PND-IMP1', 'PND-IMP2']);
    for (const { username, secret } of issued) {
      const client = await connect(username, secret);
      expect(client).not.toBeInstanceOf(Error);
      await (client as MqttClient).endAsync();
      const fetched = await call('GET', `/api/devices/${username}`);
      expect(fetched.body.credentialIssuedAt).toEqual(expect.any(String));
      expect(JSON.stringify(fetched.body)).not.toContain(secret);
    }
  });

  it('an import refused for a bad row issues nothing and leaves no client in the broker', async () => {
    const devices = ['serial,kind,resident', 'PND-IMP4,pendant,R1', 'PND-IMP5,not-a-kind,R1'].join('\n');
    const out = await call('POST', '/api/import', { residents, devices });
    expect(out.status).toBe(422);
    expect(out.body.credentials).toEqual([]);
    expect(await connect('PND-IMP4', 'anything-at-all')).toBeInstanceOf(Error);
    expect((await call('GET', '/api/devices/PND-IMP4')).status).toBe(404);
  });
});

describe.skipIf(!PLUGIN)('an MQTT secret and an Idempotency-Key', () => {
  /** A POST with an Idempotency-Key, as the admin or another token. */
  const keyed = async (path: string, body: unknown, key: string, bearer = token) => {
    const res = await fetch(`${registry.url}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${bearer}`,
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify(body ?? {}),
    });
    return {
      status: res.status,
      replayed: res.headers.get('idempotent-replayed'),
      body: (await res.json()) as Record<string, unknown>,
    };
  };
  let residentId: string;

  it('a retried registration is not registered twice, and its secret is not shown again: 409 saying to issue a new one', async () => {
    const made = await call('POST', '/api/residents', {
      name: 'Key Retry',
      address: '5 Road',
      postcode: 'GL1 2AB',
    });
    residentId = made.body.id as string;
    const device = { serial: 'PND-IDEMC1', residentId, kind: 'pendant' };
    const first = await keyed('/api/devices', device, 'reg-c1');
    expect(first.status).toBe(201);
    const secret = (first.body.credentials as { secret: string }).secret;
    const retry = await keyed('/api/devices', device, 'reg-c1');
    expect([retry.status, retry.body.error, retry.replayed]).toEqual([409, 'secret-not-replayed', 'true']);
    expect(retry.body.serial).toBe('PND-IDEMC1');
    expect(retry.body.message).toContain('POST /api/devices/PND-IDEMC1/credentials');
    expect(JSON.stringify(retry.body)).not.toContain(secret);
    // Nothing was done again: the first secret is still the one the broker takes.
    expect(await connect('PND-IDEMC1', secret)).not.toBeInstanceOf(Error);
  });

  it("a retried re-issue issues nothing more; another token's same key is its own re-issue", async () => {
    const first = await keyed('/api/devices/PND-IDEMC1/credentials', undefined, 'iss-c1');
    expect(first.status).toBe(201);
    const secret = (first.body.credentials as { secret: string }).secret;
    const retry = await keyed('/api/devices/PND-IDEMC1/credentials', undefined, 'iss-c1');
    expect([retry.status, retry.body.error]).toEqual([409, 'secret-not-replayed']);
    expect(JSON.stringify(retry.body)).not.toContain(secret);
    const admitted = await connect('PND-IDEMC1', secret);
    expect(admitted).not.toBeInstanceOf(Error);
    await (admitted as MqttClient).endAsync();

    const installer = await call('POST', '/api/tokens', { name: 'idem-cred-installer', role: 'installer' });
    const theirs = await keyed(
      '/api/devices/PND-IDEMC1/credentials',
      undefined,
      'iss-c1',
      installer.body.token as string,
    );
    expect([theirs.status, theirs.replayed]).toEqual([201, null]);
    const fresh = (theirs.body.credentials as { secret: string }).secret;
    expect(fresh).not.toBe(secret);
    expect(await connect('PND-IDEMC1', secret)).toBeInstanceOf(Error);
  });

  it('a retried import names the devices whose secrets to issue again, the rest of its answer kept', async () => {
    const file = { devices: 'serial,kind\nPND-IDEMC2,pendant\nPND-IDEMC3,pendant\n' };
    const first = await keyed('/api/import', file, 'imp-c1');
    expect(first.status).toBe(200);
    const retry = await keyed('/api/import', file, 'imp-c1');
    expect([retry.status, retry.body.error]).toEqual([409, 'secret-not-replayed']);
    expect(retry.body.reissue).toEqual(['PND-IDEMC2', 'PND-IDEMC3']);
    expect(retry.body.devices).toEqual(first.body.devices);
    expect(retry.body.credentials).toBeUndefined();
  });

  it("the broker's device clients are read a page at a time: a fleet larger than a page is listed whole", async () => {
    const authority = await DynsecAuthority.connect({
      url: broker.adminUrl,
      topics: n.mqtt,
      logger,
      clientId: `${ns}-paging`,
    });
    try {
      const serials = Array.from({ length: 450 }, (_, i) => `PND-PAGE${String(i).padStart(3, '0')}`);
      // Installed as an import does (its batches): one at a time, the broker rewriting its file
      // after each command, this alone took most of the test's time on a loaded machine.
      await authority.installMany(
        serials.map((serial) => ({ serial, secret: `s-${serial}` })),
        () => {},
      );
      const listed = new Set(await authority.deviceLogins());
      expect(serials.filter((serial) => !listed.has(serial))).toEqual([]);
      for (let i = 0; i < serials.length; i += 50)
        await Promise.all(serials.slice(i, i + 50).map((serial) => authority.revoke(serial)));
    } finally {
      await authority.close();
    }
    // Hundreds of broker commands, each rewriting the broker's file: beyond the default on a loaded machine.
  }, 120_000);
});

import { DeviceMapEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, type NatsConnection } from '@telecare/platform';
import {
  cleanupNamespace,
  DYNSEC_PLUGIN,
  type FaultProxy,
  openBucket,
  servers,
  serviceEnv,
  sharedNatsProxy,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { type RegistryBehindProxy, startRegistryBehindProxy } from './behind-proxy.ts';
import { apiCaller, brokerRoles, deviceLogin, heldIn, sql } from './support.ts';

// An import publishes its devices a window at a time after its commit, and installs their broker
// logins several to a broker message before it: what it does when NATS or the broker fails midway.

/** A residents.csv of one resident and a devices.csv of `count` pendants paired with them. */
const logger = createLogger('registry-test', process.env.TEST_LOG_LEVEL ?? 'silent');

const pendants = (prefix: string, count: number) => ({
  residents: `ref,name,address,postcode\n${prefix}R,Many Pendants,1 Road,GL1 2AB\n`,
  devices: [
    'serial,kind,resident',
    ...Array.from({ length: count }, (_, i) => `${prefix}${i},pendant,${prefix}R`),
  ].join('\n'),
});

describe("an import's device-map puts lost on their way to NATS", () => {
  const ns = uniqueNamespace('regimppub');
  const n = names(ns);
  let proxy: FaultProxy;
  let registry: RegistryHandle;
  let nc: NatsConnection;
  let token: string;
  const call = apiCaller(
    () => registry.url,
    () => token,
  );

  beforeAll(async () => {
    proxy = await sharedNatsProxy();
    const env = serviceEnv(ns, {
      REGISTRY_PORT: '0',
      NATS_URL: proxy.url('nats'),
      REGISTRY_PUBLISH_WINDOW: '8',
    });
    token = env.TELECARE_ADMIN_TOKEN!;
    registry = await startRegistry(loadRegistryConfig(env), { logger });
    nc = await connectNats({ url: servers.natsUrl, name: 'registry-import-publish-test', logger });
  });

  afterAll(async () => {
    await registry?.close();
    await nc?.close();
    await proxy?.close();
    await cleanupNamespace(ns);
  });

  it('are tried again: every imported device reaches the device map, those lost in the window too', async () => {
    const count = 60;
    const lostSerials = ['PND-W0', 'PND-W31', 'PND-W59'];
    const lost = lostSerials.map((serial) =>
      proxy.dropNextPublish((subject) => subject === `$KV.${n.kv.deviceMap}.${serial}`),
    );
    const imported = await call('POST', '/api/import', pendants('PND-W', count));
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    await Promise.all(lost);

    const map = await openBucket(nc, n.kv.deviceMap);
    const missing = async () => {
      const left: string[] = [];
      for (let i = 0; i < count; i++)
        if (!(await heldIn(map, `PND-W${i}`, DeviceMapEntry))) left.push(`PND-W${i}`);
      return left;
    };
    await waitFor(async () => (await missing()).length === 0, {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'every imported device in the device map',
    });
    const entry = await heldIn(map, 'PND-W31', DeviceMapEntry);
    expect(entry?.kind).toBe('pendant');
  }, 60_000);
});

describe.skipIf(!DYNSEC_PLUGIN)("an import's broker logins, several devices to a message", () => {
  let setup: RegistryBehindProxy;
  const call: RegistryBehindProxy['call'] = (...args) => setup.call(...args);

  beforeAll(async () => {
    if (!DYNSEC_PLUGIN) return;
    setup = await startRegistryBehindProxy('regimpbatch', { REGISTRY_BROKER_BATCH: '10' });
  });

  afterAll(async () => {
    await setup?.close();
  });

  it('each device is admitted with its own secret; one whose client an uncommitted import left is given the new one', async () => {
    deviceLogin(setup.broker, 'PND-B7', names(setup.ns).mqtt, 'secret-nobody-was-shown');
    const imported = await call('POST', '/api/import', pendants('PND-B', 25));
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    const issued = imported.body.credentials as Array<{ serial: string; secret: string }>;
    expect(issued).toHaveLength(25);
    for (const { serial, secret } of issued) expect(await setup.admits(serial, secret), serial).toBe(true);
    expect(await setup.admits('PND-B7', 'secret-nobody-was-shown')).toBe(false);
  }, 60_000);

  it("the broker's answer lost midway: nothing is committed and no device's role or client is left", async () => {
    // The second message (PND-C10 to PND-C19) is lost on its way, after the first was installed.
    const lost = setup.proxy.dropNext('command', 'PND-C15');
    const imported = await call('POST', '/api/import', pendants('PND-C', 25));
    await lost;
    expect(imported.status, JSON.stringify(imported.body)).toBe(503);
    expect(imported.body.credentials).toBeUndefined();
    expect(
      await sql(
        `select serial from ${names(setup.ns).schema('registry')}.devices where serial like 'PND-C%'`,
      ),
    ).toEqual([]);
    const roles = brokerRoles(setup.broker);
    expect([...roles].filter((role) => role.startsWith('device-PND-C'))).toEqual([]);
  }, 60_000);
});

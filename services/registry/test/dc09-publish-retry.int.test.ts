import { randomBytes } from 'node:crypto';
import { DeviceMapEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, type NatsConnection } from '@telecare/platform';
import {
  cleanupNamespace,
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
import { apiCaller, dc09Panel, heldIn, pairedPendants } from './support.ts';

// The registry reaches NATS through a proxy that can lose one publication with the link up: the
// write of a DC-09 account's entry, or of an imported device's device-map entry, lost on its way,
// as on a route that flapped.

const ns = uniqueNamespace('regdc09pub');
const n = names(ns);
const logger = createLogger('registry-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ACCOUNT = '7E57A1';

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
    REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
  });
  token = env.TELECARE_ADMIN_TOKEN!;
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-dc09-publish-test', logger });
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  await proxy?.close();
  await cleanupNamespace(ns);
});

describe("a DC-09 account's write lost on its way to NATS", () => {
  it("is tried again: a decommissioned panel's account leaves the bucket, its key no longer handed to the gateway", async () => {
    const home = await call('POST', '/api/residents', {
      name: 'Lost Write',
      address: '4 Way',
      postcode: 'GL1 2AB',
    });
    const made = await call('POST', '/api/devices', dc09Panel('PNL-LOST1', home.body.id as string, ACCOUNT));
    expect(made.status).toBe(201);
    const accounts = await openBucket(nc, n.kv.dc09Accounts);
    await waitFor(async () => (await accounts.get(ACCOUNT))?.operation === 'PUT', {
      what: 'the account entry',
    });

    // The delete that follows the decommission is lost; the decommission is committed all the same.
    const lost = proxy.dropNextPublish((subject) => subject === `$KV.${n.kv.dc09Accounts}.${ACCOUNT}`);
    const gone = await call('POST', '/api/devices/PNL-LOST1/decommission');
    expect(gone.status).toBe(200);
    await lost;
    // It used to stay until the next restart: the gateway went on accepting the panel's frames
    // under the key PostgreSQL had dropped, as the resident's alarms.
    await waitFor(async () => (await accounts.get(ACCOUNT))?.operation !== 'PUT', {
      timeoutMs: 30_000,
      what: "the decommissioned panel's account to leave the bucket",
    });
  }, 60_000);
});

describe("an import's device-map puts lost on their way to NATS", () => {
  it('are tried again: every imported device reaches the device map, those lost in the window too', async () => {
    const count = 60;
    const lostSerials = ['PND-W0', 'PND-W31', 'PND-W59'];
    const lost = lostSerials.map((serial) =>
      proxy.dropNextPublish((subject) => subject === `$KV.${n.kv.deviceMap}.${serial}`),
    );
    const imported = await call('POST', '/api/import', pairedPendants('PND-W', count));
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

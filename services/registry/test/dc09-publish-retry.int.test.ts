import type { KV } from '@nats-io/kv';
import { Dc09AccountEntry, DeviceMapEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, createPool, type NatsConnection } from '@telecare/platform';
import {
  cleanupNamespace,
  type FaultProxy,
  openBucket,
  servers,
  sharedNatsProxy,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FieldCipher, parseDataKey } from '../src/crypto.ts';
import { DeviceMapPublisher } from '../src/device-map.ts';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { RegistryStore } from '../src/store.ts';
import { apiCaller, dc09Panel, envBehind, heldIn, pairedPendants, sql } from './support.ts';

// The registry reaches NATS through a proxy that can lose one publication with the link up: the
// write of a DC-09 account's entry, or of an imported device's device-map entry, lost on its way,
// as on a route that flapped; or lose NATS altogether while an import's entries are published. A
// device changed while they are must end with its change's entry.

const ns = uniqueNamespace('regdc09pub');
const n = names(ns);
const logger = createLogger('registry-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const ACCOUNT = '7E57A1';

let proxy: FaultProxy;
let registry: RegistryHandle;
let nc: NatsConnection;
let token: string;
let dataKey: string;
let map: KV;
let accounts: KV;

const call = apiCaller(
  () => registry.url,
  () => token,
);

beforeAll(async () => {
  proxy = await sharedNatsProxy();
  const env = envBehind(ns, proxy);
  dataKey = env.REGISTRY_DATA_KEY!;
  token = env.TELECARE_ADMIN_TOKEN!;
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-dc09-publish-test', logger });
  map = await openBucket(nc, n.kv.deviceMap);
  accounts = await openBucket(nc, n.kv.dc09Accounts);
});

afterAll(async () => {
  proxy?.set({ kind: 'pass' });
  await registry?.close();
  await nc?.close();
  await proxy?.close();
  await cleanupNamespace(ns);
});

/** How many of the serials `<prefix>0`… PostgreSQL holds: the import's commit, seen from outside. */
const committed = async (prefix: string): Promise<number> => {
  const rows = (await sql(
    `select count(*)::int as n from "${n.schema('registry')}".devices where serial like '${prefix}%'`,
  )) as Array<{ n: number }>;
  return rows[0]?.n ?? 0;
};

/** The serials of `<prefix>0`…`<prefix><count-1>` whose device-map entry is not in the bucket. */
const unmapped = async (prefix: string, count: number): Promise<string[]> => {
  const left: string[] = [];
  for (let i = 0; i < count; i++)
    if (!(await heldIn(map, `${prefix}${i}`, DeviceMapEntry))) left.push(`${prefix}${i}`);
  return left;
};

describe("a DC-09 account's write lost on its way to NATS", () => {
  it("is tried again: a decommissioned panel's account leaves the bucket, its key no longer handed to the gateway", async () => {
    const home = await call('POST', '/api/residents', {
      name: 'Lost Write',
      address: '4 Way',
      postcode: 'GL1 2AB',
    });
    const made = await call('POST', '/api/devices', dc09Panel('PNL-LOST1', home.body.id as string, ACCOUNT));
    expect(made.status).toBe(201);
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

    await waitFor(async () => (await unmapped('PND-W', count)).length === 0, {
      timeoutMs: 30_000,
      intervalMs: 200,
      what: 'every imported device in the device map',
    });
    const entry = await heldIn(map, 'PND-W31', DeviceMapEntry);
    expect(entry?.kind).toBe('pendant');
  }, 60_000);
});

describe("a device changed while its import's entries are published", () => {
  it("ends with the change's entry, the last committed", async () => {
    const count = 400;
    const changed = Array.from({ length: 8 }, (_, i) => `PND-C${count - 1 - i * 40}`);
    const importing = call('POST', '/api/import', pairedPendants('PND-C', count));
    await waitFor(async () => (await committed('PND-C')) === count, {
      timeoutMs: 60_000,
      intervalMs: 20,
      what: "the import's commit",
    });
    // Each changed twice, as installers on site would, while the import's publishing runs.
    for (const location of ['hall', 'bedroom'])
      for (const serial of changed)
        expect((await call('PATCH', `/api/devices/${serial}`, { location })).status).toBe(200);
    const imported = await importing;
    expect(imported.status, JSON.stringify(imported.body).slice(0, 300)).toBe(200);
    // Every entry was published before the answer: none pending, and the answer is the one a replay gives.
    expect(imported.body.pending).toBeUndefined();
    for (const serial of changed)
      await waitFor(async () => (await heldIn(map, serial, DeviceMapEntry))?.location === 'bedroom', {
        timeoutMs: 20_000,
        what: `${serial}'s last change in the device map`,
      });
    expect(await unmapped('PND-C', count)).toEqual([]);
  }, 120_000);
});

describe("a chunk's rows read before a change is committed and published", () => {
  it("its stale write conflicts and goes again from fresh rows: the change's entry stays", async () => {
    const imported = await call('POST', '/api/import', pairedPendants('PND-S', 4));
    expect(imported.status).toBe(200);
    const pool = createPool({ url: servers.databaseUrl, logger, name: 'registry-import-publish-test' });
    try {
      const store = new RegistryStore(pool, n.schema('registry'), new FieldCipher(parseDataKey(dataKey)!));
      // Another registry's publisher, whose rows are read just before an installer's change of two
      // of the chunk's devices commits and is published by the registry that made it.
      const read = store.mapRowsForMany.bind(store);
      store.mapRowsForMany = async (serials) => {
        const rows = await read(serials);
        for (const serial of ['PND-S1', 'PND-S3'])
          expect((await call('PATCH', `/api/devices/${serial}`, { location: 'kitchen' })).status).toBe(200);
        return rows;
      };
      await map.delete('PND-S1');
      await map.delete('PND-S3');
      const publisher = new DeviceMapPublisher({
        nc,
        names: n,
        store,
        logger,
        puts: { inc: () => undefined } as never,
      });
      expect(await publisher.publishMany(['PND-S0', 'PND-S1', 'PND-S2', 'PND-S3'], 4)).toEqual([]);
      await publisher.close();
    } finally {
      await pool.end();
    }
    for (const serial of ['PND-S1', 'PND-S3'])
      expect((await heldIn(map, serial, DeviceMapEntry))?.location).toBe('kitchen');
    expect(await unmapped('PND-S', 4)).toEqual([]);
  });
});

describe('an import while NATS cannot be reached', () => {
  it('is committed, its answer says its entries are pending, and they are published once NATS is back', async () => {
    const count = 60;
    const files = pairedPendants('PND-N', count);
    files.devices = [
      files.devices.replace('serial,kind,resident', 'serial,kind,resident,protocol,dc09Account,dc09Key'),
      'PNL-N1,home-unit,PND-NR,dc09,7E5701,00112233445566778899AABBCCDDEEFF',
      'PNL-N2,home-unit,PND-NR,dc09,7E5702,FFEEDDCCBBAA99887766554433221100',
    ].join('\n');
    proxy.set({ kind: 'drop' });
    try {
      const started = performance.now();
      const imported = await call('POST', '/api/import', files);
      expect(imported.status, JSON.stringify(imported.body).slice(0, 300)).toBe(200);
      expect(imported.body.imported).toBe(true);
      // PostgreSQL is the record: the answer comes without waiting out NATS device by device.
      expect(performance.now() - started).toBeLessThan(30_000);
      expect(imported.body.pending).toBe(count + 2);
      expect(await committed('PND-N')).toBe(count);
      expect(await heldIn(map, 'PND-N0', DeviceMapEntry)).toBeUndefined();
    } finally {
      proxy.set({ kind: 'pass' });
    }
    await waitFor(async () => (await unmapped('PND-N', count)).length === 0, {
      timeoutMs: 60_000,
      intervalMs: 250,
      what: "every device's entry once NATS is back",
    });
    for (const [serial, account] of [
      ['PNL-N1', '7E5701'],
      ['PNL-N2', '7E5702'],
    ] as const) {
      await waitFor(async () => (await heldIn(map, serial, DeviceMapEntry))?.protocol === 'dc09', {
        timeoutMs: 30_000,
        what: `${serial}'s device-map entry`,
      });
      await waitFor(async () => (await heldIn(accounts, account, Dc09AccountEntry))?.serial === serial, {
        timeoutMs: 30_000,
        what: `${serial}'s DC-09 account entry`,
      });
    }
  }, 120_000);
});

import { randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { Dc09AccountEntry, DeviceMapEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, createPool, ManualClock, type NatsConnection } from '@telecare/platform';
import {
  cleanupNamespace,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FieldCipher, parseDataKey } from '../src/crypto.ts';
import { Dc09AccountPublisher } from '../src/dc09-accounts.ts';
import { DeviceMapPublisher } from '../src/device-map.ts';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { RegistryStore } from '../src/store.ts';
import { apiCaller, dc09Panel, heldIn } from './support.ts';

// A device changed and at once changed back (test mode on and off, paired and unpaired again), the
// first change's publication slow: the change back finds the bucket already holding what its rows
// give. Its publication must write all the same, or the slow one lands last and the bucket keeps
// the first change: a device left in test mode has its real alarms handled as tests; one left
// paired has its presses raised for a home it left.
//
// The registry's clock stands still here, so a row changed back gives the very entry it gave
// before, `updatedAt` too: as it does whenever both changes are dated before the resident's last
// change (an entry's `updatedAt` is the later of the two rows' times; instances' clocks differ).

const ns = uniqueNamespace('regchangedback');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0', REGISTRY_DATA_KEY: randomBytes(32).toString('hex') });
const logger = createLogger('registry-test', env.LOG_LEVEL);
const clock = new ManualClock(new Date('2026-02-02T09:00:00.000Z'));
const now = () => new Date(clock.now());

let registry: RegistryHandle;
let nc: NatsConnection;
let map: KV;
let accounts: KV;

const call = apiCaller(
  () => registry.url,
  () => env.TELECARE_ADMIN_TOKEN!,
);

const resident = async (name: string) => {
  const made = await call('POST', '/api/residents', { name, address: '1 Back Lane', postcode: 'GL1 2AB' });
  expect(made.status).toBe(201);
  return made.body.id as string;
};

const device = async (body: Record<string, unknown>) => {
  expect((await call('POST', '/api/devices', body)).status).toBe(201);
};

interface Instance {
  store: RegistryStore;
  map: DeviceMapPublisher;
  dc09: Dc09AccountPublisher;
}

/** Another registry instance's store (a pool of its own) and publishers, as `work` needs them. */
async function otherInstance(work: (instance: Instance) => Promise<void>): Promise<void> {
  const pool = createPool({ url: servers.databaseUrl, logger, name: 'registry-changed-back-test' });
  const store = new RegistryStore(
    pool,
    n.schema('registry'),
    new FieldCipher(parseDataKey(env.REGISTRY_DATA_KEY!)!),
  );
  const puts = { inc: () => undefined } as never;
  const instance = {
    store,
    map: new DeviceMapPublisher({ nc, names: n, store, logger, puts }),
    dc09: new Dc09AccountPublisher({ nc, names: n, store, logger, puts }),
  };
  try {
    await work(instance);
  } finally {
    await instance.map.close();
    instance.dc09.close();
    await pool.end();
  }
}

/**
 * Another instance commits `change` and publishes the device to `bucket`; its read of the device's
 * rows made after the bucket's key is read (the map reads them once; the DC-09 accounts read them
 * to learn the account, then again after its key) is done before `meanwhile` runs, and its write
 * comes after: a publication slowed (a busy NATS, a pause of its process) while the change back
 * is committed and published.
 */
async function changeAround(
  serial: string,
  bucket: 'map' | 'dc09',
  change: (store: RegistryStore) => Promise<unknown>,
  meanwhile: () => Promise<void>,
): Promise<void> {
  await otherInstance(async (instance) => {
    const { store } = instance;
    await change(store);
    let read: () => void = () => undefined;
    const wasRead = new Promise<void>((resolve) => {
      read = resolve;
    });
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const held = bucket === 'map' ? 1 : 2;
    const mapRowsFor = store.mapRowsFor.bind(store);
    let calls = 0;
    store.mapRowsFor = async (of) => {
      const rows = await mapRowsFor(of);
      // Only that read waits: a publication that goes again reads fresh rows at once.
      if (of === serial && ++calls === held) {
        read();
        await released;
      }
      return rows;
    };
    const late = bucket === 'map' ? instance.map.publish(serial) : instance.dc09.publish(serial);
    await wasRead;
    try {
      await meanwhile();
    } finally {
      release();
    }
    expect(['written', 'rewritten', 'unchanged', 'deleted', 'absent', 'published']).toContain(await late);
  });
}

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger, clock });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-changed-back-test', logger });
  map = await openBucket(nc, n.kv.deviceMap);
  accounts = await openBucket(nc, n.kv.dc09Accounts);
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

const startTest = (serial: string) => (store: RegistryStore) =>
  store.startTest(serial, 600, 'installer', now());

describe('a device put in test mode and straight out of it', () => {
  it('the device map ends with test mode off', async () => {
    await device({ serial: 'PND-BACK1', kind: 'pendant', residentId: await resident('Back Test Map') });
    await waitFor(async () => (await heldIn(map, 'PND-BACK1', DeviceMapEntry)) !== undefined, {
      what: 'the entry',
    });

    await changeAround('PND-BACK1', 'map', startTest('PND-BACK1'), async () => {
      expect((await call('DELETE', '/api/devices/PND-BACK1/test')).status).toBe(200);
    });
    expect((await call('GET', '/api/devices/PND-BACK1')).body).toMatchObject({
      state: 'installed',
      testMode: false,
    });
    // Left in test mode, the pendant's presses would be handled as tests, never put to an operator.
    expect(await heldIn(map, 'PND-BACK1', DeviceMapEntry)).toMatchObject({
      state: 'installed',
      testMode: false,
    });
  });

  it("the DC-09 account's entry ends with test mode off", async () => {
    await device(dc09Panel('PNL-BACK1', await resident('Back Test Panel'), '7C7C01'));
    await waitFor(async () => (await heldIn(accounts, '7C7C01', Dc09AccountEntry)) !== undefined, {
      what: 'the entry',
    });

    await changeAround('PNL-BACK1', 'dc09', startTest('PNL-BACK1'), async () => {
      expect((await call('DELETE', '/api/devices/PNL-BACK1/test')).status).toBe(200);
    });
    expect((await call('GET', '/api/devices/PNL-BACK1')).body).toMatchObject({ testMode: false });
    expect(await heldIn(accounts, '7C7C01', Dc09AccountEntry)).toMatchObject({
      state: 'installed',
      testMode: false,
    });
  });
});

describe('a device paired again and straight unpaired', () => {
  it('is not left in the device map', async () => {
    const home = await resident('Back Pair Map');
    await device({ serial: 'PND-BACK2', kind: 'pendant', residentId: home });
    expect((await call('PATCH', '/api/devices/PND-BACK2', { residentId: null })).status).toBe(200);
    await waitFor(async () => (await map.get('PND-BACK2'))?.operation === 'DEL', { what: 'the key deleted' });

    await changeAround(
      'PND-BACK2',
      'map',
      (store) => store.updateDevice('PND-BACK2', { residentId: home }, now()),
      async () => {
        expect((await call('PATCH', '/api/devices/PND-BACK2', { residentId: null })).status).toBe(200);
      },
    );
    expect((await call('GET', '/api/devices/PND-BACK2')).body.residentId).toBeNull();
    expect(await heldIn(map, 'PND-BACK2', DeviceMapEntry)).toBeUndefined();
  });

  it("has no DC-09 account's entry left", async () => {
    const home = await resident('Back Pair Panel');
    await device(dc09Panel('PNL-BACK2', home, '7C7C02'));
    expect((await call('PATCH', '/api/devices/PNL-BACK2', { residentId: null })).status).toBe(200);
    await waitFor(async () => (await accounts.get('7C7C02'))?.operation === 'DEL', {
      what: 'the key deleted',
    });

    await changeAround(
      'PNL-BACK2',
      'dc09',
      (store) => store.updateDevice('PNL-BACK2', { residentId: home }, now()),
      async () => {
        expect((await call('PATCH', '/api/devices/PNL-BACK2', { residentId: null })).status).toBe(200);
      },
    );
    expect((await call('GET', '/api/devices/PNL-BACK2')).body.residentId).toBeNull();
    // Left in the bucket, the panel's alarms would be raised for the home it left.
    expect(await heldIn(accounts, '7C7C02', Dc09AccountEntry)).toBeUndefined();
  });
});

describe('the start-up sync', () => {
  it('leaves the entries the buckets already hold as they are', async () => {
    await device({ serial: 'PND-BACK3', kind: 'pendant', residentId: await resident('Back Sync Map') });
    await device(dc09Panel('PNL-BACK3', await resident('Back Sync Panel'), '7C7C03'));
    const revisions = async () => [
      (await map.get('PND-BACK3'))?.revision,
      (await map.get('PNL-BACK3'))?.revision,
      (await accounts.get('7C7C03'))?.revision,
    ];
    const before = await waitFor(
      async () => {
        const held = await revisions();
        return held.every((revision) => revision !== undefined) ? held : undefined;
      },
      { what: 'the entries' },
    );

    // A start-up writes only what is not in step: rewriting every entry would put the whole estate
    // through the buckets at each start.
    await otherInstance(async (instance) => {
      expect((await instance.map.syncAll()).unchanged).toBeGreaterThanOrEqual(2);
      await instance.dc09.syncAll();
    });
    expect(await revisions()).toEqual(before);
  });
});

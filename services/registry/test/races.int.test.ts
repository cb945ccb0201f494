import { randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { DeviceMapEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, createPool, ManualClock, type NatsConnection } from '@telecare/platform';
import {
  cleanupNamespace,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FieldCipher, parseDataKey } from '../src/crypto.ts';
import { Dc09AccountPublisher } from '../src/dc09-accounts.ts';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { RegistryStore } from '../src/store.ts';
import { apiCaller, dc09Panel, heldIn } from './support.ts';

// Two installers (or an installer and the office) changing one device or its home at once: each
// must end with the device map saying what PostgreSQL says, whichever commits last.

const ns = uniqueNamespace('regrace');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0', REGISTRY_DATA_KEY: randomBytes(32).toString('hex') });
const token = env.TELECARE_ADMIN_TOKEN!;
const logger = createLogger('registry-test', env.LOG_LEVEL);
const clock = new ManualClock(new Date('2026-02-02T09:00:00.000Z'));
const devices = `"${n.schema('registry')}".devices`;
const residents = `"${n.schema('registry')}".residents`;

let registry: RegistryHandle;
let nc: NatsConnection;
let map: KV;
let db: pg.Client;

const call = apiCaller(
  () => registry.url,
  () => token,
);

const mapEntry = (serial: string) => heldIn(map, serial, DeviceMapEntry);

const resident = async (name: string) => {
  const made = await call('POST', '/api/residents', { name, address: '1 Race Lane', postcode: 'GL1 2AB' });
  expect(made.status).toBe(201);
  return made.body.id as string;
};

/** Holds a row, as a slow change of it would, until `release` is called. */
async function hold(table: string, column: string, value: string): Promise<{ release: () => Promise<void> }> {
  const holder = new pg.Client({ connectionString: servers.databaseUrl });
  await holder.connect();
  await holder.query('begin');
  await holder.query(`select 1 from ${table} where ${column} = $1 for update`, [value]);
  return {
    release: async () => {
      await holder.query('rollback');
      await holder.end();
    },
  };
}

/** Resolves once a statement on one of the registry's tables (`devices`, `residents`) waits for a row lock. */
const lockWaiter = (table: 'devices' | 'residents', what: string) =>
  waitFor(
    async () => {
      const { rows } = await db.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity
          where wait_event_type = 'Lock' and query like $1`,
        [`%${n.schema('registry')}%${table}%for update%`],
      );
      return (rows[0]?.n ?? 0) > 0;
    },
    { timeoutMs: 20_000, what },
  );

/**
 * `nc` whose first read of `key` in `bucket` is sent only once `release` is called (`reached`
 * resolves when it is asked for): a request slowed by a busy NATS, the server and the rest of the
 * connection's traffic as they are.
 */
function holdRead(bucket: string, key: string) {
  let reached: () => void = () => undefined;
  let release: () => void = () => undefined;
  const asked = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let held = false;
  const slow = new Proxy(nc, {
    get(target, prop) {
      if (prop === 'request')
        return async (...args: Parameters<NatsConnection['request']>) => {
          if (
            !held &&
            args[0].startsWith('$JS.API.DIRECT.GET.') &&
            args[0].endsWith(`.$KV.${bucket}.${key}`)
          ) {
            held = true;
            reached();
            await released;
          }
          return target.request(...args);
        };
      const value: unknown = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { nc: slow, asked, release };
}

/** Another registry instance's store (a pool of its own), as `work` needs it. */
async function withOwnStore(work: (store: RegistryStore) => Promise<void>): Promise<void> {
  const pool = createPool({ url: servers.databaseUrl, logger, name: 'registry-races-test' });
  try {
    await work(
      new RegistryStore(pool, n.schema('registry'), new FieldCipher(parseDataKey(env.REGISTRY_DATA_KEY!)!)),
    );
  } finally {
    await pool.end();
  }
}

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger, clock });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-races-test', logger });
  map = await openBucket(nc, n.kv.deviceMap);
  db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  await db?.end();
  await cleanupNamespace(ns);
});

describe('the device map follows the last commit, not the latest clock reading', () => {
  it("a device moved while its old home's postcode is corrected is mapped to its new home", async () => {
    const first = await resident('Race Old Home');
    const second = await resident('Race New Home');
    expect(
      (await call('POST', '/api/devices', { serial: 'PND-RACE1', kind: 'pendant', residentId: first }))
        .status,
    ).toBe(201);
    await waitFor(async () => (await mapEntry('PND-RACE1'))?.residentId === first, {
      what: 'the first home',
    });

    // The move is asked for first (its clock reading the earlier), and waits for the device's row.
    const held = await hold(devices, 'serial', 'PND-RACE1');
    clock.advance(60_000);
    const move = call('PATCH', '/api/devices/PND-RACE1', { residentId: second });
    await lockWaiter('devices', 'the move waiting for the device row');

    // Meanwhile the office corrects the old home's postcode: committed, and the device, still
    // there in PostgreSQL, republished with it.
    clock.advance(60_000);
    const corrected = await call('PATCH', `/api/residents/${first}`, { postcode: 'GL7 2BB' });
    expect(corrected.status).toBe(200);
    await waitFor(async () => (await mapEntry('PND-RACE1'))?.postcodeDistrict === 'GL7', {
      what: 'the corrected district',
    });

    // The move commits last: PostgreSQL has the pendant in its new home, and so must the map, or
    // its presses go to the home it left.
    await held.release();
    const moved = await move;
    expect(moved.status).toBe(200);
    expect(moved.body.residentId).toBe(second);
    expect((await call('GET', '/api/devices/PND-RACE1')).body.residentId).toBe(second);
    const entry = await waitFor(
      async () => {
        const found = await mapEntry('PND-RACE1');
        return found?.residentId === second ? found : undefined;
      },
      { timeoutMs: 5_000, what: 'the device map to follow the move' },
    );
    expect(entry.postcodeDistrict).toBe('GL1');
  });

  it('a start-up sync puts right an entry dated after what PostgreSQL holds', async () => {
    const home = await resident('Race Sync Home');
    const other = await resident('Race Sync Other');
    expect(
      (await call('POST', '/api/devices', { serial: 'PND-RACE2', kind: 'pendant', residentId: home })).status,
    ).toBe(201);
    const good = await waitFor(() => mapEntry('PND-RACE2'), { what: 'the entry' });

    // An entry naming another home, dated ahead of the rows (written from an instance whose
    // clock ran ahead, or left by a move that lost a race): PostgreSQL is the record.
    await map.put(
      'PND-RACE2',
      JSON.stringify({ ...good, residentId: other, updatedAt: '2026-02-03T00:00:00.000Z' }),
    );
    await registry.close();
    registry = await startRegistry(loadRegistryConfig(env), { logger, clock });
    const entry = await mapEntry('PND-RACE2');
    expect(entry?.residentId).toBe(home);
  });
});

describe('an import checks each device against its row as it writes it', () => {
  it('a device paired by an installer while the file was being checked is not moved by it', async () => {
    const filed = await call('POST', '/api/residents', {
      externalRef: 'RACE-IMP1',
      name: 'Race Import Filed',
      address: '2 Race Lane',
      postcode: 'GL1 2AB',
    });
    expect(filed.status).toBe(201);
    const visited = await resident('Race Import Visited');
    expect((await call('POST', '/api/devices', { serial: 'PND-RACE3', kind: 'pendant' })).status).toBe(201);

    // The file pairs the stock pendant with the resident it also corrects; its write waits for
    // that resident's row (held here, as a long file's earlier rows would keep it busy).
    const held = await hold(residents, 'id', filed.body.id as string);
    const imported = call('POST', '/api/import', {
      residents:
        'ref,name,address,postcode,phone\nRACE-IMP1,Race Import Filed,2 Race Lane,GL1 2AB,01452 000111\n',
      devices: 'serial,kind,resident\nPND-RACE3,pendant,RACE-IMP1\n',
    });
    await lockWaiter('residents', "the import waiting for its resident's row");

    // Meanwhile an installer in another home pairs the pendant there.
    const paired = await call('PATCH', '/api/devices/PND-RACE3', { residentId: visited });
    expect(paired.status).toBe(200);
    await held.release();

    // The file does not move a device paired with someone else: that row is refused, nothing of
    // the file written, as it would have been had the file been checked a moment later.
    const answer = await imported;
    expect(answer.status).toBe(422);
    expect(answer.body.imported).toBe(false);
    expect(answer.body.errors).toEqual([
      expect.objectContaining({
        file: 'devices',
        line: 2,
        field: 'resident',
        message: expect.stringContaining(`paired with ${visited}`),
      }),
    ]);
    expect((await call('GET', '/api/devices/PND-RACE3')).body.residentId).toBe(visited);
    expect((await call('GET', `/api/residents/${filed.body.id}`)).body.phone).toBeNull();
    await waitFor(async () => (await mapEntry('PND-RACE3'))?.residentId === visited, { what: 'the map' });
  });

  it('a serial registered while the file was being checked is refused on its line, the rest written with importValid', async () => {
    const filed = await call('POST', '/api/residents', {
      externalRef: 'RACE-IMP2',
      name: 'Race Import Second',
      address: '3 Race Lane',
      postcode: 'GL1 2AB',
    });
    expect(filed.status).toBe(201);
    const file = (importValid: boolean) => ({
      residents:
        'ref,name,address,postcode,phone\nRACE-IMP2,Race Import Second,3 Race Lane,GL1 2AB,01452 000333\n',
      devices: 'serial,kind,resident\nPND-RACE4,pendant,RACE-IMP2\nPND-RACE5,pendant,RACE-IMP2\n',
      importValid,
    });
    const racing = async (importValid: boolean, serial: string) => {
      const held = await hold(residents, 'id', filed.body.id as string);
      const imported = call('POST', '/api/import', file(importValid));
      await lockWaiter('residents', "the import waiting for its resident's row");
      // Meanwhile an installer registers one of the file's pendants by hand.
      expect((await call('POST', '/api/devices', { serial, kind: 'pendant' })).status).toBe(201);
      await held.release();
      return imported;
    };

    const refused = await racing(false, 'PND-RACE4');
    expect(refused.status).toBe(422);
    expect(refused.body.imported).toBe(false);
    expect(refused.body.errors).toEqual([
      {
        file: 'devices',
        line: 2,
        field: 'serial',
        message: 'serial PND-RACE4 was registered while the file was checked',
      },
    ]);
    expect((await call('GET', '/api/devices/PND-RACE5')).status).toBe(404);
    expect((await call('GET', `/api/residents/${filed.body.id}`)).body.phone).toBeNull();

    const partial = await racing(true, 'pnd-race5');
    expect(partial.status).toBe(200);
    expect(partial.body.errors).toEqual([
      expect.objectContaining({
        file: 'devices',
        line: 3,
        field: 'serial',
        message: expect.stringContaining('as pnd-race5'),
      }),
    ]);
    // The pendant registered by hand the first time is in the registry now: the file pairs it.
    expect(partial.body.devices).toEqual([
      { line: 2, serial: 'PND-RACE4', action: 'updated', fields: ['resident'] },
    ]);
    expect((await call('GET', '/api/devices/pnd-race5')).body.residentId).toBeNull();
    expect((await call('GET', `/api/residents/${filed.body.id}`)).body.phone).toBe('01452 000333');
  });
});

describe("a resident's call list changed by several people at once", () => {
  it('answers every addition and removal, and keeps the order 1, 2, 3… without a gap or a repeat', async () => {
    const id = await resident('Race Call List');
    const add = (name: string, order?: number) =>
      call('POST', `/api/residents/${id}/responders`, {
        name,
        relationship: 'neighbour',
        phone: '01452 000222',
        ...(order ? { order } : {}),
      });
    for (const name of ['First', 'Second', 'Third', 'Fourth', 'Fifth', 'Sixth'])
      expect((await add(name)).status).toBe(201);
    const list = async () =>
      (await call('GET', `/api/residents/${id}/responders`)).body.responders as Array<{
        id: string;
        order: number;
      }>;

    // Three removed and three added at once, round after round: each removal used to meet the
    // others' renumbering row by row in another order (a deadlock) or leave two at one position
    // (refused at the commit): a 500, the change not made.
    const statuses: number[] = [];
    for (let round = 0; round < 25; round++) {
      const before = await list();
      const answers = await Promise.all([
        call('DELETE', `/api/residents/${id}/responders/${before[0]!.id}`),
        add(`Added ${round}a`, 1),
        call('DELETE', `/api/residents/${id}/responders/${before[2]!.id}`),
        add(`Added ${round}b`, 2),
        call('DELETE', `/api/residents/${id}/responders/${before[4]!.id}`),
        add(`Added ${round}c`, 4),
      ]);
      statuses.push(...answers.map((a) => a.status));
      const after = await list();
      expect(after.map((r) => r.order)).toEqual(before.map((_, i) => i + 1));
    }
    expect(statuses.filter((s) => s !== 200 && s !== 201)).toEqual([]);
    // 25 rounds of 6 requests, on a machine others share.
  }, 120_000);
});

describe('a test call ended while its device changes', () => {
  it('cancelled as the device is decommissioned: both answer, the device decommissioned, the call ended', async () => {
    const home = await resident('Race Test Calls');
    const statuses: string[] = [];
    for (let i = 0; i < 12; i++) {
      const serial = `PND-RACE-T${i}`;
      expect((await call('POST', '/api/devices', { serial, kind: 'pendant', residentId: home })).status).toBe(
        201,
      );
      expect((await call('POST', `/api/devices/${serial}/test`, { timeoutS: 600 })).status).toBe(201);
      // Ending a call took its row, then the device's; decommissioning the device's, then its
      // calls': at once, each held what the other waited for (a deadlock, one of them a 500).
      const [cancelled, gone] = await Promise.all([
        call('DELETE', `/api/devices/${serial}/test`),
        call('POST', `/api/devices/${serial}/decommission`),
      ]);
      statuses.push(`${cancelled.status}/${gone.status}`);
      if (gone.status !== 200) continue;
      expect((await call('GET', `/api/devices/${serial}`)).body.state).toBe('decommissioned');
      expect((await call('GET', `/api/devices/${serial}/test`)).body.status).toBe('cancelled');
    }
    // The cancel may come after the decommission had ended the call: nothing left to cancel (404).
    expect(statuses.filter((s) => s !== '200/200' && s !== '404/200')).toEqual([]);
  }, 120_000);
});

describe("a decommissioned panel's account, taken by its replacement", () => {
  it("is not deleted by the decommission's publication arriving after the replacement's", async () => {
    const home = await resident('Race Panel Swap');
    const panel = (serial: string) => call('POST', '/api/devices', dc09Panel(serial, home, '0A1B2C'));
    expect((await panel('PNL-RACE-OLD')).status).toBe(201);
    expect((await call('POST', '/api/devices/PNL-RACE-OLD/decommission')).status).toBe(200);
    // The replacement, programmed with the same account, is registered at once.
    expect((await panel('PNL-RACE-NEW')).status).toBe(201);
    const accounts = await openBucket(nc, n.kv.dc09Accounts);
    await waitFor(
      async () => (await accounts.get('0A1B2C'))?.json<{ serial: string }>().serial === 'PNL-RACE-NEW',
      {
        what: "the replacement's account entry",
      },
    );

    // The old panel's publication, slow behind a busy NATS (a request answers after 2 s and
    // leaves it running), arrives last: it must not take the account from the replacement.
    await withOwnStore(async (store) => {
      const late = new Dc09AccountPublisher({
        nc,
        names: n,
        store,
        logger,
        puts: { inc: () => undefined } as never,
      });
      expect(await late.publish('PNL-RACE-OLD', '0A1B2C')).toBe('published');
    });
    const entry = await accounts.get('0A1B2C');
    expect(entry?.operation).toBe('PUT');
    expect(entry?.json<{ serial: string }>().serial).toBe('PNL-RACE-NEW');
  });
});

describe('the DC-09 accounts start-up sync and a change made meanwhile', () => {
  /** A second registry's start-up sync (its own pool), its rows read before `meanwhile` runs. */
  async function syncAround(meanwhile: () => Promise<void>): Promise<void> {
    await withOwnStore(async (store) => {
      // The snapshot is read whole before the change: what a sync of a large estate holds while
      // installers go on working.
      const snapshot: Awaited<ReturnType<typeof store.mapRowsFor>>[] = [];
      for await (const rows of store.allMapRows()) snapshot.push(rows);
      await meanwhile();
      store.allMapRows = async function* () {
        for (const rows of snapshot) if (rows) yield rows;
      };
      const sync = new Dc09AccountPublisher({
        nc,
        names: n,
        store,
        logger,
        puts: { inc: () => undefined } as never,
      });
      await sync.syncAll();
    });
  }

  it('does not put back the older snapshot over a key change published meanwhile', async () => {
    const home = await resident('Race Sync Panel');
    expect((await call('POST', '/api/devices', dc09Panel('PNL-RACE-SYNC', home, '5A5A01'))).status).toBe(201);
    const accounts = await openBucket(nc, n.kv.dc09Accounts);
    await waitFor(async () => (await accounts.get('5A5A01'))?.operation === 'PUT', { what: 'the entry' });
    const newKey = 'FFEEDDCCBBAA99887766554433221100';

    await syncAround(async () => {
      const changed = await call('PATCH', '/api/devices/PNL-RACE-SYNC', {
        dc09Key: newKey,
        dc09KeyGraceS: 0,
      });
      expect(changed.status).toBe(200);
      await waitFor(async () => (await accounts.get('5A5A01'))?.json<{ key: string }>().key === newKey, {
        what: 'the new key in the entry',
      });
    });
    // The gateway must go on with the new key: the old one was revoked.
    expect((await accounts.get('5A5A01'))?.json<{ key: string }>().key).toBe(newKey);
  });

  it('does not delete an account registered meanwhile as a leftover', async () => {
    const home = await resident('Race Sync New Panel');
    const accounts = await openBucket(nc, n.kv.dc09Accounts);
    // An entry no device holds (left by a device whose removal was lost) is what the sync deletes.
    await accounts.put('5A5A02', JSON.stringify({ account: '5A5A02', serial: 'PNL-GONE' }));
    await syncAround(async () => {
      // The account's new panel is registered after the sync read its rows.
      expect((await call('POST', '/api/devices', dc09Panel('PNL-RACE-SYNC2', home, '5A5A02'))).status).toBe(
        201,
      );
      await waitFor(
        async () => (await accounts.get('5A5A02'))?.json<{ serial: string }>().serial === 'PNL-RACE-SYNC2',
        { what: "the new panel's entry" },
      );
    });
    const entry = await accounts.get('5A5A02');
    expect(entry?.operation).toBe('PUT');
    expect(entry?.json<{ serial: string }>().serial).toBe('PNL-RACE-SYNC2');
  });
});

describe('a panel unpaired and paired again', () => {
  it("keeps its account: the unpairing's publication arriving after the pairing's does not delete it", async () => {
    const home = await resident('Race Panel Back');
    expect((await call('POST', '/api/devices', dc09Panel('PNL-RACE-BACK', home, '6B6B01'))).status).toBe(201);
    const accounts = await openBucket(nc, n.kv.dc09Accounts);
    const holder = async (account: string) => {
      const entry = await accounts.get(account);
      return entry?.operation === 'PUT' ? entry.json<{ serial: string }>().serial : undefined;
    };
    await waitFor(async () => (await holder('6B6B01')) === 'PNL-RACE-BACK', { what: 'the account entry' });
    // Unpaired (moved out of the home by mistake): reporting for no one, its account's entry goes.
    expect((await call('PATCH', '/api/devices/PNL-RACE-BACK', { residentId: null })).status).toBe(200);
    await waitFor(async () => (await holder('6B6B01')) === undefined, { what: 'the entry gone' });

    // That change's publication again, by another instance (a retry), slow behind a busy NATS:
    // the panel's rows read (no entry), the read of the account it leaves not answered yet.
    const slow = holdRead(n.kv.dc09Accounts, '6B6B01');
    await withOwnStore(async (store) => {
      const late = new Dc09AccountPublisher({
        nc: slow.nc,
        names: n,
        store,
        logger,
        puts: { inc: () => undefined } as never,
      });
      const published = late.publish('PNL-RACE-BACK', '6B6B01');
      await slow.asked;
      // Meanwhile the panel is paired with its home again, and that is published.
      try {
        const back = await call('PATCH', '/api/devices/PNL-RACE-BACK', { residentId: home });
        expect(back.status).toBe(200);
        await waitFor(async () => (await holder('6B6B01')) === 'PNL-RACE-BACK', { what: 'the entry back' });
      } finally {
        slow.release();
      }
      expect(await published).toBe('published');
    });
    // The late removal must not take the account of the panel paired again: the DC-09 gateway
    // would answer its alarms NAK until its next change.
    expect(await holder('6B6B01')).toBe('PNL-RACE-BACK');
  });
});

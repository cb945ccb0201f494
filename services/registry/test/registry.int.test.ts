import type { KV } from '@nats-io/kv';
import { DeviceMapEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, type NatsConnection } from '@telecare/platform';
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
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller, type Reply } from './support.ts';

const ns = uniqueNamespace('registry');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0' });
const config = loadRegistryConfig(env);
const token = env.TELECARE_ADMIN_TOKEN!;
const logger = createLogger('registry-test', env.LOG_LEVEL);

let registry: RegistryHandle;
let nc: NatsConnection;
let kv: KV;
let db: pg.Client;

const call = apiCaller(
  () => registry.url,
  () => token,
);

const resident = {
  name: 'Edith Example',
  address: '1 High Street, Gloucester',
  postcode: 'gl1  2ab',
  phone: '01452 000000',
  livesAlone: true,
};

async function createResident(overrides: Record<string, unknown> = {}): Promise<string> {
  const res = await call('POST', '/api/residents', { ...resident, ...overrides });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function mapEntry(serial: string): Promise<DeviceMapEntry | undefined> {
  const entry = await kv.get(serial);
  return entry?.operation === 'PUT' ? DeviceMapEntry.parse(entry.json()) : undefined;
}

async function deviceRows(serial: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from "${n.schema('registry')}".devices where serial = $1`,
    [serial],
  );
  return rows[0]!.n;
}

const issuePaths = (reply: Reply): string[] =>
  (reply.body.issues as Array<{ path: string }> | undefined)?.map((issue) => issue.path) ?? [];

beforeAll(async () => {
  registry = await startRegistry(config, { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-test', logger });
  kv = await openBucket(nc, n.kv.deviceMap);
  db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
});

afterAll(async () => {
  await registry?.close();
  await db?.end();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('registry against the real PostgreSQL and NATS', () => {
  let residentId: string;

  it('creates a resident with a normalised postcode and its district', async () => {
    const res = await call('POST', '/api/residents', resident);
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: resident.name,
      postcode: 'GL1 2AB',
      postcodeDistrict: 'GL1',
      phone: resident.phone,
      livesAlone: true,
    });
    residentId = res.body.id as string;
    expect(residentId).toMatch(/^res_[0-9a-z]+$/);

    const fetched = await call('GET', `/api/residents/${residentId}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(res.body);
    const listed = await call('GET', '/api/residents');
    expect((listed.body.residents as Array<{ id: string }>).map((r) => r.id)).toContain(residentId);
  });

  it('creates a device and publishes its map entry with resident and district but no names', async () => {
    const res = await call('POST', '/api/devices', {
      serial: 'PND-0001',
      residentId,
      kind: 'pendant',
      location: 'worn',
      supervisionIntervalS: 3600,
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      serial: 'PND-0001',
      residentId,
      kind: 'pendant',
      protocol: 'mqtt',
      state: 'installed',
      testMode: false,
      location: 'worn',
      supervisionIntervalS: 3600,
    });
    expect(res.body.id).toMatch(/^dev_[0-9a-z]+$/);

    const entry = await waitFor(() => mapEntry('PND-0001'), { what: 'device map entry' });
    expect(entry).toMatchObject({
      serial: 'PND-0001',
      deviceId: res.body.id,
      residentId,
      kind: 'pendant',
      protocol: 'mqtt',
      location: 'worn',
      supervisionIntervalS: 3600,
      state: 'installed',
      testMode: false,
      postcodeDistrict: 'GL1',
    });
    const raw = (await kv.get('PND-0001'))!.string();
    for (const personal of [resident.name, resident.address, resident.phone, 'GL1 2AB']) {
      expect(raw).not.toContain(personal);
    }

    const fetched = await call('GET', '/api/devices/PND-0001');
    expect(fetched.body).toEqual(res.body);
    const listed = await call('GET', `/api/devices?residentId=${residentId}`);
    expect((listed.body.devices as Array<{ serial: string }>).map((d) => d.serial)).toEqual(['PND-0001']);
  });

  it('keeps a device without a resident in stock and out of the map', async () => {
    const res = await call('POST', '/api/devices', {
      serial: 'STOCK-0001',
      kind: 'fall-detector',
      protocol: 'dc09',
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ residentId: null, state: 'stock', protocol: 'dc09' });
    expect(await mapEntry('STOCK-0001')).toBeUndefined();
  });

  it('after a restart the map still matches and unchanged entries are not rewritten', async () => {
    const before = await kv.get('PND-0001');
    await registry.close();
    registry = await startRegistry(config, { logger });
    const after = await kv.get('PND-0001');
    expect(after?.revision).toBe(before?.revision);
    expect(await mapEntry('PND-0001')).toMatchObject({
      residentId,
      postcodeDistrict: 'GL1',
      kind: 'pendant',
    });
    expect((await call('GET', '/api/devices/PND-0001')).status).toBe(200);
  });

  it('a second start-up re-publishes a deleted entry and removes one PostgreSQL does not know', async () => {
    const second = await call('POST', '/api/devices', {
      serial: 'SMK-0001',
      residentId,
      kind: 'smoke-detector',
      location: 'hall',
      supervisionIntervalS: 86400,
    });
    expect(second.status).toBe(201);
    await waitFor(() => mapEntry('SMK-0001'), { what: 'smoke detector entry' });

    await kv.delete('PND-0001');
    await kv.purge('SMK-0001');
    await kv.put('GHOST-0001', JSON.stringify({ serial: 'GHOST-0001' }));
    expect(await mapEntry('PND-0001')).toBeUndefined();

    const another = await startRegistry(config, { logger });
    try {
      expect(await mapEntry('PND-0001')).toMatchObject({
        residentId,
        postcodeDistrict: 'GL1',
        kind: 'pendant',
      });
      expect(await mapEntry('SMK-0001')).toMatchObject({
        residentId,
        kind: 'smoke-detector',
        location: 'hall',
      });
      expect((await kv.get('GHOST-0001'))?.operation).not.toBe('PUT');
    } finally {
      await another.close();
    }
  });

  it('a bucket removed under it is made again with every entry, one created after the removal too', async () => {
    await kv.destroy();
    const res = await call('POST', '/api/devices', {
      serial: 'PIR-0001',
      residentId,
      kind: 'pir',
      location: 'lounge',
    });
    expect(res.status).toBe(201);
    kv = await waitFor(
      () => openBucket(nc, n.kv.deviceMap).then(async (b) => ((await b.get('PIR-0001')) ? b : false)),
      {
        what: 'device map bucket with the retried entry',
        timeoutMs: 15_000,
      },
    );
    expect(await mapEntry('PIR-0001')).toMatchObject({ residentId, kind: 'pir', location: 'lounge' });
    expect(await mapEntry('PND-0001')).toMatchObject({ residentId: expect.any(String) });
    // Whichever came first: the put failed and was retried (making the bucket again), or the
    // service found the bucket missing, made it again and wrote it whole.
    const metrics = await fetch(`${registry.url}/metrics`).then((r) => r.text());
    const retried = /registry_device_map_puts_total\{[^}]*outcome="failed"[^}]*\} [1-9]/.test(metrics);
    const remade = new RegExp(
      `telecare_streams_recreated_total\\{[^}]*stream="KV_${n.kv.deviceMap}"[^}]*\\} [1-9]`,
    ).test(metrics);
    expect(retried || remade).toBe(true);
  });
});

describe("a resident's first install", () => {
  const firstInstalled = async (id: string) =>
    (await call('GET', `/api/residents/${id}`)).body.firstInstalledAt as string | null;

  it('is recorded when a device is registered, imported or paired into the home, and never moves', async () => {
    const registered = await createResident();
    expect(
      (await call('POST', '/api/devices', { serial: 'PND-FIRST1', residentId: registered, kind: 'pendant' }))
        .status,
    ).toBe(201);
    const atRegistration = await firstInstalled(registered);
    expect(atRegistration).not.toBeNull();

    const imported = await call('POST', '/api/import', {
      residents:
        'ref,name,address,postcode\nFIRST-A,Ann First,1 Road,GL1 2AB\nFIRST-B,Bob First,2 Road,GL1 2AB\n',
      devices: [
        'serial,kind,resident',
        'PND-FIRST2,pendant,FIRST-A',
        'PIR-FIRST3,pir,FIRST-A',
        `PND-FIRST4,pendant,${registered}`,
        'PND-FIRST5,pendant',
      ].join('\n'),
    });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    const ids = new Map(
      (imported.body.residents as Array<{ ref: string; id: string }>).map((r) => [r.ref, r.id]),
    );
    // Two devices for one home in one import, and a home with none.
    expect(await firstInstalled(ids.get('FIRST-A')!)).not.toBeNull();
    expect(await firstInstalled(ids.get('FIRST-B')!)).toBeNull();
    // A later device in a home keeps the first install where it was.
    expect(await firstInstalled(registered)).toBe(atRegistration);

    // A stock device paired into a home that had none.
    expect((await call('PATCH', '/api/devices/PND-FIRST5', { residentId: ids.get('FIRST-B') })).status).toBe(
      200,
    );
    expect(await firstInstalled(ids.get('FIRST-B')!)).not.toBeNull();
  });
});

describe('refusals', () => {
  it('names every missing field in a 400', async () => {
    const res = await call('POST', '/api/residents', {});
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid-request');
    expect(issuePaths(res)).toEqual(expect.arrayContaining(['name', 'address', 'postcode']));
    expect(res.body.issues).toContainEqual({ path: 'name', message: 'required' });

    const device = await call('POST', '/api/devices', { location: 'hall' });
    expect(device.status).toBe(400);
    expect(issuePaths(device)).toEqual(expect.arrayContaining(['serial', 'kind']));
  });

  it('refuses an invalid postcode, a bad kind and unknown fields, naming each', async () => {
    const res = await call('POST', '/api/residents', { ...resident, postcode: 'XYZ 123', livesalone: true });
    expect(res.status).toBe(400);
    expect(issuePaths(res).sort()).toEqual(['livesalone', 'postcode']);
    const kind = await call('POST', '/api/devices', {
      serial: 'BAD-0001',
      kind: 'toaster',
      supervisionIntervalS: -5,
    });
    expect(kind.status).toBe(400);
    expect(issuePaths(kind).sort()).toEqual(['kind', 'supervisionIntervalS']);
  });

  it('refuses a day before 1900 by field, from the API and an import, instead of a 500 or year 24', async () => {
    const referred = await call('POST', '/api/residents', { ...resident, referredOn: '0000-01-01' });
    expect(referred.status).toBe(400);
    expect(issuePaths(referred)).toEqual(['referredOn']);
    const residentId = await createResident();
    const care = await call('POST', `/api/residents/${residentId}/care-packages`, {
      hoursPerWeek: 5,
      startDate: '0000-01-01',
    });
    expect(care.status).toBe(400);
    expect(issuePaths(care)).toEqual(['startDate']);
    // A century typed short: 0024 for 2024, which the comparison group would count from.
    const typo = await call('PATCH', `/api/residents/${residentId}`, { firstInstalledOn: '0024-05-01' });
    expect(typo.status).toBe(400);
    expect(issuePaths(typo)).toEqual(['firstInstalledOn']);
    expect((await call('GET', `/api/residents/${residentId}`)).body.firstInstalledAt).toBeNull();
    const imported = await call('POST', '/api/import', {
      residents: 'ref,name,address,postcode,referredOn\nY0-1,Ada Year,1 Road,GL1 2AB,0000-01-01\n',
    });
    expect(imported.status).toBe(422);
    expect(imported.body.errors).toEqual([expect.objectContaining({ line: 2, field: 'referredOn' })]);
  });

  it('refuses a query parameter that is not one, naming it, rather than listing every resident', async () => {
    // `serail=` read as absent would answer the first page of every resident's name and address.
    for (const [path, field] of [
      ['/api/residents?serail=PND-0001', 'serail'],
      ['/api/residents?name=Edith&adress=High', 'adress'],
      ['/api/devices?residentid=res_00000000', 'residentid'],
      ['/api/devices/health?overdu=true', 'overdu'],
    ] as const) {
      const res = await call('GET', path);
      expect(res.status, path).toBe(400);
      expect(res.body.issues, path).toEqual([{ path: field, message: 'unknown field' }]);
    }
  });

  it('refuses malformed JSON with a 400 in the same shape', async () => {
    const res = await fetch(`${registry.url}/api/residents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"name":',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid-request', issues: [{ path: '(body)' }] });
  });

  it('refuses a duplicate serial with 409 and writes no second row', async () => {
    const residentId = await createResident();
    const first = await call('POST', '/api/devices', { serial: 'DUP-0001', residentId, kind: 'pendant' });
    expect(first.status).toBe(201);
    const again = await call('POST', '/api/devices', { serial: 'DUP-0001', residentId, kind: 'pullcord' });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('duplicate-serial');
    expect(await deviceRows('DUP-0001')).toBe(1);
    expect((await mapEntry('DUP-0001'))?.kind).toBe('pendant');
  });

  it('refuses a serial that differs from a registered one only in letter case, from the API and an import', async () => {
    const residentId = await createResident();
    expect(
      (await call('POST', '/api/devices', { serial: 'CASE-0001', residentId, kind: 'pendant' })).status,
    ).toBe(201);
    const typed = await call('POST', '/api/devices', { serial: 'case-0001', residentId, kind: 'pendant' });
    expect(typed.status).toBe(409);
    expect(typed.body.error).toBe('duplicate-serial');
    expect(typed.body.message).toContain('CASE-0001');
    expect(await deviceRows('case-0001')).toBe(0);
    expect(await mapEntry('case-0001')).toBeUndefined();

    const imported = await call('POST', '/api/import', {
      devices: `serial,kind,resident\ncase-0001,pendant,${residentId}\nCASE-0002,pendant,${residentId}\ncase-0002,pendant,${residentId}\n`,
    });
    expect(imported.status).toBe(422);
    expect(imported.body.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ line: 2, field: 'serial', message: expect.stringContaining('CASE-0001') }),
        expect.objectContaining({ line: 4, field: 'serial', message: expect.stringContaining('twice') }),
      ]),
    );
    expect(await deviceRows('case-0001')).toBe(0);
    expect(await deviceRows('CASE-0002')).toBe(0);
  });

  it('the same file imported twice at once: one creates, the others find it done', async () => {
    const residents = 'ref,name,address,postcode\nRACE-R1,Race One,1 Road,GL1 2AB\n';
    const devices = 'serial,kind,resident\nRACE-0001,pendant,RACE-R1\n';
    const answers = await Promise.all(
      [1, 2, 3, 4].map(() => call('POST', '/api/import', { residents, devices })),
    );
    expect(
      answers.map((a) => a.status),
      JSON.stringify(answers.map((a) => a.body)),
    ).toEqual([200, 200, 200, 200]);
    const actions = answers.map((a) => (a.body.devices as { action: string }[])[0]?.action).sort();
    expect(actions).toEqual(['created', 'unchanged', 'unchanged', 'unchanged']);
    expect(await deviceRows('RACE-0001')).toBe(1);
  });

  it('refuses a device for an unknown resident with 422 and writes nothing', async () => {
    const res = await call('POST', '/api/devices', {
      serial: 'ORPHAN-0001',
      residentId: 'res_0000000000doesnotexist',
      kind: 'pendant',
    });
    expect(res.status).toBe(422);
    expect(res.body.message).toContain('res_0000000000doesnotexist');
    expect(await deviceRows('ORPHAN-0001')).toBe(0);
    expect(await mapEntry('ORPHAN-0001')).toBeUndefined();
  });

  it('answers 404 for an unknown resident or device', async () => {
    expect((await call('GET', '/api/residents/res_0000000000nobody')).status).toBe(404);
    expect((await call('GET', '/api/devices/NOPE-0001')).status).toBe(404);
  });

  it('refuses every /api route without the right token, before looking at the body', async () => {
    expect((await call('POST', '/api/residents', resident, null)).status).toBe(401);
    expect((await call('POST', '/api/devices', {}, null)).status).toBe(401);
    expect((await call('GET', '/api/residents', undefined, 'wrong-token-0123456789')).status).toBe(401);
    expect((await call('GET', '/api/devices/PND-0001', undefined, null)).status).toBe(401);
  });
});

describe('operations', () => {
  it('is ready when PostgreSQL and NATS answer and the data key matches, and counts what it did', async () => {
    const ready = await fetch(`${registry.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { postgres: true, 'postgres-writes': true, nats: true, dataKey: true },
    });
    const metrics = await fetch(`${registry.url}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/registry_residents_created_total\{[^}]*\} [1-9]/);
    expect(metrics).toMatch(/registry_devices_created_total\{[^}]*\} [1-9]/);
    expect(metrics).toMatch(/registry_device_map_puts_total\{[^}]*outcome="written"[^}]*\} [1-9]/);
  });
});

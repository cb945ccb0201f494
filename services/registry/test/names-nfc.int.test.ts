import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KV } from '@nats-io/kv';
import { DeviceMapEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, migrate, type NatsConnection } from '@telecare/platform';
import { cleanupNamespace, openBucket, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller, migrationsBefore } from './support.ts';

// Names stored before the registry kept text in NFC, as they were typed: "é" as "e" and a
// combining accent. The migration converts them, so a search typed with "é" finds them; residents
// it makes equal are both kept and named in a warning; text NFC would make too long is left.
const ns = uniqueNamespace('regnfc');
const n = names(ns);
const schema = n.schema('registry');
const env = serviceEnv(ns, { REGISTRY_PORT: '0' });
const token = env.TELECARE_ADMIN_TOKEN as string;
const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));
const CONVERSION = '012_names_nfc.sql';

const warnings: string[] = [];
const logger = createLogger('regnfc-test', 'warn', {
  write: (line: string) => {
    const entry = JSON.parse(line) as { level: number; msg: string };
    if (entry.level === 40) warnings.push(entry.msg);
  },
});

let registry: RegistryHandle;
let db: pg.Client;
let nc: NatsConnection;
let kv: KV;
const call = apiCaller(
  () => registry.url,
  () => token,
);

const d = (s: string) => s.normalize('NFD');
const AMELIE = { id: 'res_nfcamelie01', name: d('Amélie Durand'), address: d("2 Rue de l'Église") };
// One person registered twice: first with a combining accent, then again, typed with "é", by an
// installer whose search did not find her.
const RENEE = { id: 'res_nfcrenee001', name: d('Renée Smith') };
const RENEE_AGAIN = { id: 'res_nfcrenee002', name: 'Renée Smith' };
// U+0958 (DEVANAGARI LETTER QA) is one character stored and two in NFC: at the length limit.
const LONG = { id: 'res_nfclong0001', name: `${'a'.repeat(199)}\u0958` };

const residentRows = async () =>
  (
    await db.query<{ id: string; name: string; address: string }>(
      `select id, name, address from "${schema}".residents order by id`,
    )
  ).rows;

beforeAll(async () => {
  db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
  const before = migrationsBefore(CONVERSION);
  try {
    await migrate({ url: servers.databaseUrl, schema, dir: before, logger });
  } finally {
    rmSync(before, { recursive: true, force: true });
  }
  // Written as the registry wrote them then: the text as typed.
  const at = '2026-06-01T09:00:00Z';
  for (const [r, postcode] of [
    [AMELIE, 'GL1 2AB'],
    [RENEE, 'GL3 1AA'],
    [RENEE_AGAIN, 'GL3 1AA'],
    [{ ...LONG, address: '1 Long Lane' }, 'GL4 4DD'],
  ] as const)
    await db.query(
      `insert into "${schema}".residents (id, name, address, postcode, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $5)`,
      [r.id, r.name, 'address' in r ? r.address : '1 Church Road', postcode, at],
    );
  await db.query(
    `insert into "${schema}".responders (id, resident_id, name, relationship, phone, position, created_at)
     values ('rsp_nfczoe0001', $1, $2, $3, '01452 000001', 1, $4)`,
    [AMELIE.id, d('Zoë Durand'), d('belle-fille'), at],
  );
  await db.query(
    `insert into "${schema}".devices (id, serial, resident_id, kind, location, state, created_at, updated_at)
     values ('dev_nfcpendant1', 'PND-NFC0001', $1, 'pendant', $2, 'installed', $3, $3)`,
    [AMELIE.id, d('séjour'), at],
  );
  await db.query(
    `insert into "${schema}".api_tokens (id, label, role, token_hash, created_at)
     values ('tok_nfcequipe1', $1, 'installer', 'hash-nfc-equipe', $2)`,
    [d('Équipe de nuit'), at],
  );
  // The start migrates to the end: the conversion.
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'regnfc-test', logger });
  kv = await openBucket(nc, n.kv.deviceMap);
}, 60_000);

afterAll(async () => {
  await registry?.close();
  await db?.end();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('names stored before NFC, converted', () => {
  it('finds a resident stored with a combining accent by a search typed with "é"', async () => {
    const found = await call('GET', `/api/residents?name=${encodeURIComponent('Amélie')}`);
    expect(found.status).toBe(200);
    const residents = found.body.residents as Array<{ id: string; name: string; address: string }>;
    expect(residents.map((r) => [r.id, r.name])).toEqual([[AMELIE.id, 'Amélie Durand']]);
    expect(residents[0]?.address).toBe("2 Rue de l'Église");
    const q = await call('GET', `/api/residents?q=${encodeURIComponent('durand')}`);
    expect((q.body.residents as Array<{ id: string }>).map((r) => r.id)).toEqual([AMELIE.id]);
  });

  it('converts responders, device locations and token labels, and the device map follows', async () => {
    const responders = await call('GET', `/api/residents/${AMELIE.id}/responders`);
    expect(responders.body.responders).toMatchObject([{ name: 'Zoë Durand', relationship: 'belle-fille' }]);
    const { rows } = await db.query<{ location: string; label: string }>(
      `select (select location from "${schema}".devices where serial = 'PND-NFC0001') as location,
              (select label from "${schema}".api_tokens where id = 'tok_nfcequipe1') as label`,
    );
    expect(rows[0]).toEqual({ location: 'séjour', label: 'Équipe de nuit' });
    const entry = await kv.get('PND-NFC0001');
    expect(entry && DeviceMapEntry.parse(entry.json()).location).toBe('séjour');
  });

  it('keeps both residents the conversion makes alike, and names them in a warning', async () => {
    const found = await call('GET', `/api/residents?name=${encodeURIComponent('Renée Smith')}`);
    const residents = found.body.residents as Array<{ id: string; name: string }>;
    expect(residents.map((r) => [r.id, r.name])).toEqual([
      [RENEE.id, 'Renée Smith'],
      [RENEE_AGAIN.id, 'Renée Smith'],
    ]);
    expect(warnings.filter((w) => w.includes(RENEE.id))).toEqual([
      expect.stringMatching(new RegExp(`same name and postcode.*${RENEE.id} ${RENEE_AGAIN.id}`)),
    ]);
    // Ids only: a name is not for the logs.
    expect(warnings.join('\n')).not.toMatch(/Ren|Amélie|Durand/);
  });

  it('leaves a name that NFC would make longer than its column as stored, with a warning', async () => {
    const long = (await residentRows()).find((r) => r.id === LONG.id);
    expect(long?.name).toBe(LONG.name);
    expect(warnings.filter((w) => w.includes(LONG.id))).toEqual([
      expect.stringMatching(/residents\.name.*longer than 200/),
    ]);
  });

  it('refuses an import row of a converted resident as the same person, not a second one', async () => {
    const csv = ['ref,name,address,postcode', "CRM-1,Amélie Durand,2 Rue de l'Église,GL1 2AB"].join('\n');
    const res = await call('POST', '/api/import', { residents: csv });
    expect(res.status).toBe(422);
    expect(JSON.stringify(res.body.errors)).toContain(`already registered as ${AMELIE.id}`);
  });

  it('changes nothing when it runs again', async () => {
    const before = await residentRows();
    // Its statement run again in the schema, as node-pg-migrate runs it (later migrations stay run).
    const up = readFileSync(path.join(MIGRATIONS, CONVERSION), 'utf8').split('-- Down Migration')[0] ?? '';
    await db.query('BEGIN');
    try {
      await db.query(`SET LOCAL search_path TO "${schema}"`);
      await db.query(up);
      await db.query('COMMIT');
    } catch (err) {
      await db.query('ROLLBACK');
      throw err;
    }
    expect(await residentRows()).toEqual(before);
  });
});

import { randomBytes } from 'node:crypto';
import { names } from '@telecare/contracts';
import { createLogger } from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller, type Reply } from './support.ts';

/**
 * One DC-09 key to one panel: a key read out of one panel must not be the key of other homes. The
 * registry refuses a key another device holds (current, or previous within its grace) unless
 * REGISTRY_DC09_SHARED_KEY=allow.
 */
const ns = uniqueNamespace('regshkey');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0', REGISTRY_DATA_KEY: randomBytes(32).toString('hex') });
const allowNs = uniqueNamespace('regshkeyok');
const allowEnv = serviceEnv(allowNs, {
  REGISTRY_PORT: '0',
  REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
  REGISTRY_DC09_SHARED_KEY: 'allow',
});
const logger = createLogger('registry-test', env.LOG_LEVEL);

let registry: RegistryHandle;
let allowing: RegistryHandle;
let restarted: RegistryHandle | undefined;
let db: pg.Client;
let residentId: string;
let allowResidentId: string;

const call = apiCaller(
  () => registry.url,
  () => env.TELECARE_ADMIN_TOKEN!,
);
const callAllowing = apiCaller(
  () => allowing.url,
  () => allowEnv.TELECARE_ADMIN_TOKEN!,
);

/** A fresh AES-128 key as 32 hex digits. */
const newKey = () => randomBytes(16).toString('hex').toUpperCase();

const panel = (serial: string, account: string, key: string, resident = residentId) => ({
  serial,
  residentId: resident,
  kind: 'home-unit',
  protocol: 'dc09',
  dc09Account: account,
  dc09Key: key,
});

/** The answer names why and the other device, on `dc09Key`, and never the key. */
function expectShared(reply: Reply, holder: string, key: string): void {
  expect(reply.status, JSON.stringify(reply.body)).toBe(409);
  expect(reply.body.error).toBe('shared-dc09-key');
  expect(String(reply.body.message)).toContain(holder);
  expect(String(reply.body.message)).toContain('one key per panel');
  expect((reply.body.issues as Array<{ path: string }>).map((i) => i.path)).toEqual(['dc09Key']);
  const text = JSON.stringify(reply.body).toUpperCase();
  expect(text).not.toContain(key.toUpperCase());
}

const devices = `"${n.schema('registry')}".devices`;

beforeAll(async () => {
  [registry, allowing] = await Promise.all([
    startRegistry(loadRegistryConfig(env), { logger }),
    startRegistry(loadRegistryConfig(allowEnv), { logger }),
  ]);
  db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
  const home = await call('POST', '/api/residents', {
    name: 'Key Home',
    address: '1 Way',
    postcode: 'GL1 2AB',
  });
  residentId = home.body.id as string;
  const other = await callAllowing('POST', '/api/residents', {
    name: 'Fleet Home',
    address: '2 Way',
    postcode: 'GL1 2AB',
  });
  allowResidentId = other.body.id as string;
}, 60_000);

afterAll(async () => {
  await restarted?.close();
  await registry?.close();
  await allowing?.close();
  await db?.end();
  await cleanupNamespace(ns);
  await cleanupNamespace(allowNs);
});

describe('a DC-09 key another device holds', () => {
  it('is refused to a second registration, naming the device that holds it', async () => {
    const key = newKey();
    expect((await call('POST', '/api/devices', panel('SHK-A1', 'B1A1', key))).status).toBe(201);
    const second = await call('POST', '/api/devices', panel('SHK-A2', 'B1A2', key));
    expectShared(second, 'SHK-A1', key);
    // The same bytes written in lower case are the same key.
    expectShared(
      await call('POST', '/api/devices', panel('SHK-A3', 'B1A3', key.toLowerCase())),
      'SHK-A1',
      key,
    );
    expect((await call('GET', '/api/devices/SHK-A2')).status).toBe(404);
  });

  it('is refused to a key change of another device', async () => {
    const key = newKey();
    expect((await call('POST', '/api/devices', panel('SHK-P1', 'B2A1', key))).status).toBe(201);
    expect((await call('POST', '/api/devices', panel('SHK-P2', 'B2A2', newKey()))).status).toBe(201);
    expectShared(await call('PATCH', '/api/devices/SHK-P2', { dc09Key: key }), 'SHK-P1', key);
  });

  it("is refused while it is another device's previous key within its grace", async () => {
    const old = newKey();
    expect((await call('POST', '/api/devices', panel('SHK-G1', 'B3A1', old))).status).toBe(201);
    expect(
      (await call('PATCH', '/api/devices/SHK-G1', { dc09Key: newKey(), dc09KeyGraceS: 3600 })).status,
    ).toBe(200);
    expectShared(await call('POST', '/api/devices', panel('SHK-G2', 'B3A2', old)), 'SHK-G1', old);
  });

  it('does not conflict with its own device: a re-keyed device keeps its previous key, and may take it back', async () => {
    const first = newKey();
    const second = newKey();
    expect((await call('POST', '/api/devices', panel('SHK-R1', 'B4A1', first))).status).toBe(201);
    expect(
      (await call('PATCH', '/api/devices/SHK-R1', { dc09Key: second, dc09KeyGraceS: 3600 })).status,
    ).toBe(200);
    const held = await call('GET', '/api/devices/SHK-R1');
    expect(held.status).toBe(200);
    expect((await call('PATCH', '/api/devices/SHK-R1', { dc09Key: second })).status).toBe(200);
    expect((await call('PATCH', '/api/devices/SHK-R1', { location: 'hall' })).status).toBe(200);
    expect((await call('PATCH', '/api/devices/SHK-R1', { dc09Key: first })).status).toBe(200);
  });

  it('is refused to all but one of several registrations sent at once', async () => {
    const key = newKey();
    const serials = ['SHK-C1', 'SHK-C2', 'SHK-C3', 'SHK-C4', 'SHK-C5', 'SHK-C6'];
    const answers = await Promise.all(
      serials.map((serial, i) => call('POST', '/api/devices', panel(serial, `B5A${i}`, key))),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
    const winner = serials[answers.findIndex((a) => a.status === 201)]!;
    for (const refused of answers.filter((a) => a.status === 409)) expectShared(refused, winner, key);
  });

  it('is refused in an import, as a row problem on dc09Key, and so is one key on two rows of a file', async () => {
    const held = newKey();
    expect((await call('POST', '/api/devices', panel('SHK-I0', 'B6A0', held))).status).toBe(201);
    const twice = newKey();
    const imported = await call('POST', '/api/import', {
      devices: [
        'serial,kind,resident,protocol,dc09Account,dc09Key',
        `SHK-I1,home-unit,${residentId},dc09,B6A1,${held}`,
        `SHK-I2,home-unit,${residentId},dc09,B6A2,${twice}`,
        `SHK-I3,home-unit,${residentId},dc09,B6A3,${twice}`,
        `SHK-I4,home-unit,${residentId},dc09,B6A4,${newKey()}`,
      ].join('\n'),
    });
    expect(imported.status, JSON.stringify(imported.body)).toBe(422);
    const errors = imported.body.errors as Array<{ line: number; field: string; message: string }>;
    expect(errors.map((e) => [e.line, e.field])).toEqual([
      [2, 'dc09Key'],
      [4, 'dc09Key'],
    ]);
    expect(errors[0]!.message).toContain('SHK-I0');
    expect(errors[1]!.message).toContain('line 3');
    expect(JSON.stringify(imported.body).toUpperCase()).not.toContain(held);
    expect(JSON.stringify(imported.body).toUpperCase()).not.toContain(twice);
  });

  it('is held by one device when an import and a registration give it at once', async () => {
    // The import checks its file, then writes it in a transaction that takes the key's lock and
    // looks again: a registration between the two is found there, and one of them is refused.
    for (let round = 0; round < 4; round++) {
      const key = newKey();
      const [imported, posted] = await Promise.all([
        call('POST', '/api/import', {
          devices: [
            'serial,kind,resident,protocol,dc09Account,dc09Key',
            `SHK-R${round}I,home-unit,${residentId},dc09,B8A${round}1,${key}`,
          ].join('\n'),
        }),
        call('POST', '/api/devices', panel(`SHK-R${round}P`, `B8A${round}2`, key)),
      ]);
      const { rows } = await db.query(
        `select serial from ${devices} where serial in ($1, $2) and dc09_key_fp is not null`,
        [`SHK-R${round}I`, `SHK-R${round}P`],
      );
      expect(rows, `round ${round}: ${imported.status} ${posted.status}`).toHaveLength(1);
      if (rows[0].serial === `SHK-R${round}P`) {
        expect(posted.status).toBe(201);
        expect(imported.status, JSON.stringify(imported.body)).toBe(422);
        const errors = imported.body.errors as Array<{ field: string; message: string }>;
        expect(errors.map((e) => e.field)).toEqual(['dc09Key']);
        expect(errors[0]!.message).toContain(`SHK-R${round}P`);
      } else {
        expect(imported.status, JSON.stringify(imported.body)).toBeLessThan(300);
        expectShared(posted, `SHK-R${round}I`, key);
      }
    }
  }, 60_000);

  it('is still found on rows written before keys had fingerprints, and those are filled at start-up', async () => {
    const key = newKey();
    expect((await call('POST', '/api/devices', panel('SHK-U1', 'B7A1', key))).status).toBe(201);
    const old = newKey();
    expect((await call('POST', '/api/devices', panel('SHK-U2', 'B7A2', old))).status).toBe(201);
    expect(
      (await call('PATCH', '/api/devices/SHK-U2', { dc09Key: newKey(), dc09KeyGraceS: 3600 })).status,
    ).toBe(200);
    await db.query(
      `update ${devices} set dc09_key_fp = null, dc09_prev_key_fp = null where serial in ('SHK-U1', 'SHK-U2')`,
    );
    expectShared(await call('POST', '/api/devices', panel('SHK-U3', 'B7A3', key)), 'SHK-U1', key);
    expectShared(await call('PATCH', '/api/devices/SHK-U1', { dc09Key: old }), 'SHK-U2', old);

    restarted = await startRegistry(loadRegistryConfig(env), { logger });
    await waitFor(
      async () => {
        const { rows } = await db.query(
          `select count(*)::int as unfilled from ${devices}
            where (dc09_key_enc is not null and dc09_key_fp is null)
               or (dc09_prev_key_enc is not null and dc09_prev_key_fp is null)`,
        );
        return rows[0].unfilled === 0;
      },
      { timeoutMs: 30_000, what: 'fingerprints filled at start-up' },
    );
  }, 60_000);
});

describe('REGISTRY_DC09_SHARED_KEY=allow', () => {
  it('takes one key for several devices', async () => {
    const key = newKey();
    expect(
      (await callAllowing('POST', '/api/devices', panel('SHK-O1', 'B8A1', key, allowResidentId))).status,
    ).toBe(201);
    expect(
      (await callAllowing('POST', '/api/devices', panel('SHK-O2', 'B8A2', key, allowResidentId))).status,
    ).toBe(201);
    expect(
      (await callAllowing('POST', '/api/devices', panel('SHK-O3', 'B8A3', newKey(), allowResidentId))).status,
    ).toBe(201);
    expect((await callAllowing('PATCH', '/api/devices/SHK-O3', { dc09Key: key })).status).toBe(200);
  });
});

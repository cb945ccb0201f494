import { names } from '@telecare/contracts';
import { createLogger, ManualClock } from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';

// Installers' apps and care-management systems send a POST again when its answer was lost (a
// mobile network's timeout). With the same Idempotency-Key, the second is answered with what the
// first did, and nothing is done twice.

const ns = uniqueNamespace('regidem');
const n = names(ns);
const KEYS_PER_TOKEN = 30;
const env = serviceEnv(ns, {
  REGISTRY_PORT: '0',
  REGISTRY_IDEMPOTENCY_KEYS_PER_TOKEN: String(KEYS_PER_TOKEN),
});
const adminToken = env.TELECARE_ADMIN_TOKEN!;
const logger = createLogger('registry-test', env.LOG_LEVEL);
const clock = new ManualClock(new Date('2026-03-02T09:00:00.000Z'));
const schema = `"${n.schema('registry')}"`;

let registry: RegistryHandle;
let db: pg.Client;

interface Answer {
  status: number;
  body: Record<string, unknown>;
  replayed: string | null;
  retryAfter: string | null;
}

async function post(
  path: string,
  body: unknown,
  options: { key?: string; token?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${options.token ?? adminToken}`,
    'content-type': 'application/json',
  };
  if (options.key !== undefined) headers['idempotency-key'] = options.key;
  const res = await fetch(`${registry.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    replayed: res.headers.get('idempotent-replayed'),
    retryAfter: res.headers.get('retry-after'),
  };
}

const person = (name: string) => ({ name, address: '3 Retry Row', postcode: 'GL1 2AB' });

const count = async (sql: string, values: unknown[]): Promise<number> =>
  Number((await db.query<{ n: string }>(`select count(*) as n from ${sql}`, values)).rows[0]!.n);

const residentsNamed = (name: string) => count(`${schema}.residents where name = $1`, [name]);

const resident = async (name: string): Promise<string> => {
  const made = await post('/api/residents', person(name));
  expect(made.status).toBe(201);
  return made.body.id as string;
};

const installerToken = async (name: string): Promise<string> => {
  const made = await post('/api/tokens', { name, role: 'installer' });
  expect(made.status).toBe(201);
  return made.body.token as string;
};

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger, clock });
  db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
});

afterAll(async () => {
  await db?.end();
  await registry?.close();
  await cleanupNamespace(ns);
});

describe('a POST sent again with the same Idempotency-Key', () => {
  it('registers a resident without externalRef once, the retry answered with the first answer', async () => {
    const first = await post('/api/residents', person('Ida Once'), { key: 'app-7f3a-resident-1' });
    const retry = await post('/api/residents', person('Ida Once'), { key: 'app-7f3a-resident-1' });
    expect(await residentsNamed('Ida Once')).toBe(1);
    expect(first.status).toBe(201);
    expect(first.replayed).toBeNull();
    expect(retry.status).toBe(201);
    expect(retry.replayed).toBe('true');
    expect(retry.body).toEqual(first.body);
  });

  it('adds a responder and a care package once (the care hours are not counted twice)', async () => {
    const id = await resident('Ada Carehours');
    const responder = { name: 'Rob Neighbour', relationship: 'neighbour', phone: '01452 000001' };
    const pkg = { hoursPerWeek: 7.5, startDate: '2026-01-05' };
    for (let i = 0; i < 2; i++) {
      expect((await post(`/api/residents/${id}/responders`, responder, { key: 'rsp-1' })).status).toBe(201);
      expect((await post(`/api/residents/${id}/care-packages`, pkg, { key: 'cpk-1' })).status).toBe(201);
    }
    expect(await count(`${schema}.responders where resident_id = $1`, [id])).toBe(1);
    expect(await count(`${schema}.care_packages where resident_id = $1`, [id])).toBe(1);
    const cohort = await fetch(`${registry.url}/api/cohort`, {
      headers: { authorization: `Bearer ${adminToken}` },
    }).then((r) => r.json() as Promise<{ residents: { residentId: string; carePackages: unknown[] }[] }>);
    expect(cohort.residents.find((r) => r.residentId === id)?.carePackages).toHaveLength(1);
  });

  it('declares an away period once', async () => {
    const id = await resident('Ed Away');
    const away = { from: '2026-03-03T10:00:00Z', until: '2026-03-10T10:00:00Z', reason: 'holiday' };
    const first = await post(`/api/residents/${id}/away`, away, { key: 'away-1' });
    const retry = await post(`/api/residents/${id}/away`, away, { key: 'away-1' });
    expect([first.status, retry.status, retry.replayed]).toEqual([201, 201, 'true']);
    expect(retry.body.id).toBe(first.body.id);
    expect(await count(`${schema}.away_periods where resident_id = $1`, [id])).toBe(1);
  });

  it('two identical requests racing register one resident: the other waits its turn or is told 409 with Retry-After', async () => {
    const key = 'race-resident-1';
    const answers = await Promise.all(
      Array.from({ length: 4 }, () => post('/api/residents', person('Rita Racing'), { key })),
    );
    expect(await residentsNamed('Rita Racing')).toBe(1);
    const created = answers.filter((a) => a.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((a) => a.body.id)).size).toBe(1);
    for (const a of answers.filter((x) => x.status !== 201)) {
      expect(a.status).toBe(409);
      expect(a.body.error).toBe('idempotency-key-in-progress');
      expect(Number(a.retryAfter)).toBeGreaterThan(0);
    }
    const retry = await post('/api/residents', person('Rita Racing'), { key });
    expect([retry.status, retry.replayed, retry.body.id]).toEqual([201, 'true', created[0]!.body.id]);
  });

  it('a repeat while the first is still in progress is 409 with Retry-After, never run twice', async () => {
    const id = await resident('Pat Progress');
    // The first holds its work open: the resident's row is locked, as a slow change of it would.
    const holder = new pg.Client({ connectionString: servers.databaseUrl });
    await holder.connect();
    await holder.query('begin');
    await holder.query(`select 1 from ${schema}.residents where id = $1 for update`, [id]);
    const responder = { name: 'Sue Slow', relationship: 'daughter', phone: '01452 000002' };
    const first = post(`/api/residents/${id}/responders`, responder, { key: 'slow-1' });
    try {
      // Wait until the first is inside its transaction (waiting on the row), then repeat it.
      await waitForBlocked(id);
      const repeat = await post(`/api/residents/${id}/responders`, responder, { key: 'slow-1' });
      expect(repeat.status).toBe(409);
      expect(repeat.body.error).toBe('idempotency-key-in-progress');
      expect(Number(repeat.retryAfter)).toBeGreaterThan(0);
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
    expect((await first).status).toBe(201);
    const retry = await post(`/api/residents/${id}/responders`, responder, { key: 'slow-1' });
    expect([retry.status, retry.replayed]).toEqual([201, 'true']);
    expect(await count(`${schema}.responders where resident_id = $1`, [id])).toBe(1);
  });

  it('with another body or on another route is 422 (the key reused), and does nothing', async () => {
    const id = await resident('Kay Reused');
    const pkg = { hoursPerWeek: 3, startDate: '2026-01-05' };
    expect((await post(`/api/residents/${id}/care-packages`, pkg, { key: 'reuse-1' })).status).toBe(201);
    const otherBody = await post(
      `/api/residents/${id}/care-packages`,
      { ...pkg, hoursPerWeek: 30 },
      { key: 'reuse-1' },
    );
    expect(otherBody.status).toBe(422);
    expect(otherBody.body.error).toBe('idempotency-key-reused');
    const otherRoute = await post('/api/residents', person('Kay Reused Twice'), { key: 'reuse-1' });
    expect(otherRoute.status).toBe(422);
    expect(otherRoute.body.error).toBe('idempotency-key-reused');
    expect(await count(`${schema}.care_packages where resident_id = $1`, [id])).toBe(1);
    expect(await residentsNamed('Kay Reused Twice')).toBe(0);
  });

  it("is another caller's own key: no answer of someone else's is replayed", async () => {
    const installer = await installerToken('idem-installer-a');
    const mine = await post('/api/residents', person('Olga Owner'), { key: 'shared-key-1' });
    const theirs = await post('/api/residents', person('Olga Owner'), {
      key: 'shared-key-1',
      token: installer,
    });
    expect([mine.status, theirs.status, theirs.replayed]).toEqual([201, 201, null]);
    expect(theirs.body.id).not.toBe(mine.body.id);
    // And a different body under the same key from another caller is theirs to send, not a reuse.
    const other = await post('/api/residents', person('Someone Else'), {
      key: 'shared-key-1',
      token: installer,
    });
    expect(other.status).toBe(422);
  });

  it('replays a refusal: a 404 stays the answer to that key', async () => {
    const responder = { name: 'No One', relationship: 'friend', phone: '01452 000003' };
    const path = '/api/residents/res_nobody00000000/responders';
    const first = await post(path, responder, { key: 'nobody-1' });
    const retry = await post(path, responder, { key: 'nobody-1' });
    expect([first.status, retry.status, retry.replayed]).toEqual([404, 404, 'true']);
    expect(retry.body).toEqual(first.body);
  });

  it('does not keep a 5xx: a retry after a failure that did nothing runs again', async () => {
    const id = await resident('Fay Failure');
    // The database refuses one care package (a real failure of the work: 500, nothing written).
    await db.query(
      `create function ${schema}.refuse_13() returns trigger language plpgsql as $$
       begin if new.hours_per_week = 13 then raise exception 'refused in a test'; end if; return new; end $$`,
    );
    await db.query(
      `create trigger refuse_13 before insert on ${schema}.care_packages for each row execute function ${schema}.refuse_13()`,
    );
    const pkg = { hoursPerWeek: 13, startDate: '2026-01-05' };
    try {
      const failed = await post(`/api/residents/${id}/care-packages`, pkg, { key: 'fail-1' });
      expect(failed.status).toBe(500);
    } finally {
      await db.query(`drop trigger refuse_13 on ${schema}.care_packages`);
      await db.query(`drop function ${schema}.refuse_13()`);
    }
    const retry = await post(`/api/residents/${id}/care-packages`, pkg, { key: 'fail-1' });
    expect([retry.status, retry.replayed]).toEqual([201, null]);
    expect(await count(`${schema}.care_packages where resident_id = $1`, [id])).toBe(1);
  });

  it('refuses a key that is empty, too long or not visible ASCII (400 naming the header)', async () => {
    for (const key of ['', 'x'.repeat(256), 'has space', 'naïve']) {
      const answer = await post('/api/residents', person('Bad Key'), { key });
      expect(answer.status, JSON.stringify(key)).toBe(400);
      expect(JSON.stringify(answer.body)).toContain('idempotency-key');
    }
    expect((await post('/api/residents', person('Long Key'), { key: '~'.repeat(255) })).status).toBe(201);
    expect(await residentsNamed('Bad Key')).toBe(0);
  });

  it(`holds at most ${KEYS_PER_TOKEN} keys per token within 24 h (429 past it, kept nowhere), and forgets a key after 24 h`, async () => {
    const installer = await installerToken('idem-installer-b');
    const id = await resident('Lim Itt');
    const pkg = (i: number) => ({ hoursPerWeek: i + 1, startDate: '2026-01-05' });
    for (let i = 0; i < KEYS_PER_TOKEN; i++) {
      const made = await post(`/api/residents/${id}/care-packages`, pkg(i), {
        key: `lim-${i}`,
        token: installer,
      });
      expect(made.status).toBe(201);
    }
    // A replay of a key it holds is still answered; a new key is not kept.
    const replay = await post(`/api/residents/${id}/care-packages`, pkg(0), {
      key: 'lim-0',
      token: installer,
    });
    expect([replay.status, replay.replayed]).toEqual([201, 'true']);
    const over = await post(`/api/residents/${id}/care-packages`, pkg(99), {
      key: 'lim-over',
      token: installer,
    });
    expect(over.status).toBe(429);
    expect(Number(over.retryAfter)).toBeGreaterThan(0);
    // Without a key the request is taken as before.
    expect((await post(`/api/residents/${id}/care-packages`, pkg(99), { token: installer })).status).toBe(
      201,
    );

    clock.advance(24 * 3600_000 + 1000);
    const again = await post(`/api/residents/${id}/care-packages`, pkg(0), {
      key: 'lim-0',
      token: installer,
    });
    expect([again.status, again.replayed]).toEqual([201, null]);
    // The expired rows were deleted (at most a bounded batch per request; here all of them).
    const kept = await count(`${schema}.idempotency_keys where expires_at <= $1`, [new Date(clock.now())]);
    expect(kept).toBe(0);
  });
});

/** Waits until a connection is blocked waiting on a row lock (the held resident's). */
async function waitForBlocked(residentId: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const { rows } = await db.query<{ n: string }>(
      `select count(*) as n from pg_stat_activity
        where wait_event_type = 'Lock' and datname = current_database() and query like $1`,
      [`%${schema}.residents%for update%`],
    );
    if (Number(rows[0]!.n) > 0) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`no request blocked on resident ${residentId}`);
}

describe('registrations, tokens, test calls and imports sent again with the same Idempotency-Key', () => {
  it('registers a device once: the retry is its answer, not 409 duplicate-serial', async () => {
    const id = await resident('Dev Once');
    const device = { serial: 'PND-IDEM1', kind: 'pendant', residentId: id };
    const first = await post('/api/devices', device, { key: 'dev-1' });
    const retry = await post('/api/devices', device, { key: 'dev-1' });
    expect([first.status, retry.status, retry.replayed]).toEqual([201, 201, 'true']);
    expect(retry.body).toEqual(first.body);
    expect(await count(`${schema}.devices where serial = $1`, ['PND-IDEM1'])).toBe(1);
    // Without the key a second registration is what it always was.
    expect((await post('/api/devices', device)).status).toBe(409);
  });

  it('starts a test call once; another token with the same key starts its own request', async () => {
    const id = await resident('Test Once');
    expect(
      (await post('/api/devices', { serial: 'PND-IDEM2', kind: 'pendant', residentId: id })).status,
    ).toBe(201);
    const first = await post('/api/devices/PND-IDEM2/test', { timeoutS: 600 }, { key: 'tst-1' });
    const retry = await post('/api/devices/PND-IDEM2/test', { timeoutS: 600 }, { key: 'tst-1' });
    expect([first.status, retry.status, retry.replayed]).toEqual([201, 201, 'true']);
    expect(retry.body.id).toBe(first.body.id);
    expect(await count(`${schema}.test_calls where serial = $1`, ['PND-IDEM2'])).toBe(1);
    const installer = await installerToken('idem-installer-test');
    const theirs = await post(
      '/api/devices/PND-IDEM2/test',
      { timeoutS: 600 },
      { key: 'tst-1', token: installer },
    );
    expect([theirs.status, theirs.body.error]).toEqual([409, 'test-running']);
  });

  it('imports a file once: the retry is the first answer (created), not a second pass (unchanged)', async () => {
    const file = {
      residents: 'ref,name,address,postcode,keySafe\nIDEM-R1,Imp Once,1 Retry Row,GL1 2AB,\n',
      devices: 'serial,kind,resident\nPND-IDEM3,pendant,IDEM-R1\n',
    };
    const first = await post('/api/import', file, { key: 'imp-1' });
    const retry = await post('/api/import', file, { key: 'imp-1' });
    expect([first.status, retry.status, retry.replayed]).toEqual([200, 200, 'true']);
    expect(retry.body).toEqual(first.body);
    expect((retry.body.devices as Array<{ action: string }>)[0]?.action).toBe('created');
    // Another file under the same key is a reuse.
    const other = await post(
      '/api/import',
      { ...file, devices: 'serial,kind\nPND-IDEM4,pendant\n' },
      { key: 'imp-1' },
    );
    expect([other.status, other.body.error]).toEqual([422, 'idempotency-key-reused']);
    expect(await count(`${schema}.devices where serial = $1`, ['PND-IDEM4'])).toBe(0);
  });

  it('keeps a refused import (422, nothing written) as its answer', async () => {
    const file = { devices: 'serial,kind\nPND-IDEM5,not-a-kind\n' };
    const first = await post('/api/import', file, { key: 'imp-2' });
    const retry = await post('/api/import', file, { key: 'imp-2' });
    expect([first.status, retry.status, retry.replayed]).toEqual([422, 422, 'true']);
    expect(retry.body).toEqual(first.body);
  });

  it('creates a token once, and never shows it again: the retry is 409 secret-not-replayed naming it', async () => {
    const first = await post('/api/tokens', { name: 'idem-token-once', role: 'installer' }, { key: 'tok-1' });
    const retry = await post('/api/tokens', { name: 'idem-token-once', role: 'installer' }, { key: 'tok-1' });
    expect(first.status).toBe(201);
    expect(first.body.token).toEqual(expect.any(String));
    expect([retry.status, retry.body.error, retry.replayed]).toEqual([409, 'secret-not-replayed', 'true']);
    expect(retry.body.id).toBe(first.body.id);
    expect(retry.body.token).toBeUndefined();
    expect(retry.body.message).toContain(`DELETE /api/tokens/${first.body.id}`);
    expect(await count(`${schema}.api_tokens where label = $1`, ['idem-token-once'])).toBe(1);
    // Nothing of the token is kept with the key.
    const kept = await db.query(`select body::text from ${schema}.idempotency_keys where key = 'tok-1'`);
    expect(kept.rows[0].body).not.toContain(first.body.token as string);
  });
});

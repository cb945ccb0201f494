import type { KV } from '@nats-io/kv';
import { names, ResidentAwayEntry } from '@telecare/contracts';
import { connectNats, createLogger, type NatsConnection } from '@telecare/platform';
import { cleanupNamespace, openBucket, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller } from './support.ts';

const ns = uniqueNamespace('regaway');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0' });
const token = env.TELECARE_ADMIN_TOKEN!;
const logger = createLogger('registry-test', env.LOG_LEVEL);

let registry: RegistryHandle;
let nc: NatsConnection;
let bucket: KV;

const call = apiCaller(
  () => registry.url,
  () => token,
);

const entryOf = async (residentId: string) => {
  const entry = await bucket.get(residentId);
  return entry?.operation === 'PUT' ? ResidentAwayEntry.parse(entry.json()) : undefined;
};

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-away-test', logger });
  bucket = await openBucket(nc, n.kv.residentAway);
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('declared time away', () => {
  let residentId: string;

  beforeAll(async () => {
    const resident = await call('POST', '/api/residents', {
      name: 'Away Resident',
      address: '2 Lane',
      postcode: 'GL1 2AB',
    });
    residentId = resident.body.id as string;
  });

  it('is set by an operator, listed, published for triage, and ended, each recording who', async () => {
    const operator = (await call('POST', '/api/tokens', { name: 'desk 3', role: 'operator' })).body
      .token as string;
    const set = await call(
      'POST',
      `/api/residents/${residentId}/away`,
      {
        from: '2026-12-04T17:00:00Z',
        until: '2026-12-06T18:00:00Z',
        reason: 'holiday',
        note: "at her daughter's",
      },
      operator,
    );
    expect(set.status).toBe(201);
    expect(set.body).toMatchObject({
      residentId,
      from: '2026-12-04T17:00:00.000Z',
      until: '2026-12-06T18:00:00.000Z',
      reason: 'holiday',
      note: "at her daughter's",
      endedBy: null,
    });
    expect(set.body.setBy).toContain('operator');
    const id = set.body.id as string;
    expect((await entryOf(residentId))?.periods).toEqual([
      { id, from: '2026-12-04T17:00:00.000Z', until: '2026-12-06T18:00:00.000Z', reason: 'holiday' },
    ]);

    const list = await call('GET', `/api/residents/${residentId}/away`, undefined, operator);
    expect(list.status).toBe(200);
    expect((list.body.away as Array<{ id: string }>).map((p) => p.id)).toEqual([id]);

    const ended = await call(
      'POST',
      `/api/residents/${residentId}/away/${id}/end`,
      { at: '2026-12-05T12:00:00Z' },
      operator,
    );
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({ until: '2026-12-05T12:00:00.000Z' });
    expect(ended.body.endedBy).toContain('operator');
    expect((await entryOf(residentId))?.periods[0]?.until).toBe('2026-12-05T12:00:00.000Z');

    // Ended already by then: refused, nothing changes.
    const again = await call('POST', `/api/residents/${residentId}/away/${id}/end`, {
      at: '2026-12-05T13:00:00Z',
    });
    expect(again.status).toBe(409);
    expect(JSON.stringify(again.body)).toContain('away-ended');
  });

  it('refuses a period that ends before it begins, an unknown reason, and the read-only roles', async () => {
    const backwards = await call('POST', `/api/residents/${residentId}/away`, {
      from: '2026-12-04T17:00:00Z',
      until: '2026-12-04T16:00:00Z',
      reason: 'holiday',
    });
    expect(backwards.status).toBe(400);
    expect(JSON.stringify(backwards.body)).toContain('until');
    const reason = await call('POST', `/api/residents/${residentId}/away`, {
      from: '2026-12-04T17:00:00Z',
      reason: 'cruise',
    });
    expect(reason.status).toBe(400);
    const commissioner = (await call('POST', '/api/tokens', { name: 'cc', role: 'commissioner' })).body
      .token as string;
    const refused = await call(
      'POST',
      `/api/residents/${residentId}/away`,
      { from: '2026-12-04T17:00:00Z', reason: 'hospital' },
      commissioner,
    );
    expect(refused.status).toBe(403);
    const missing = await call('POST', '/api/residents/res_doesnotexist0000/away', {
      from: '2026-12-04T17:00:00Z',
      reason: 'hospital',
    });
    expect(missing.status).toBe(404);
  });

  it('takes any ISO-8601 offset as the instant it names, and refuses a time before 1900, not with a 500', async () => {
    // +23:59 is a valid ISO-8601 offset that PostgreSQL does not parse.
    const offset = await call('POST', `/api/residents/${residentId}/away`, {
      from: '2026-12-10T23:59:00+23:59',
      until: '2026-12-11T12:00:00-20:00',
      reason: 'respite',
    });
    expect(offset.status).toBe(201);
    expect(offset.body).toMatchObject({
      from: '2026-12-10T00:00:00.000Z',
      until: '2026-12-12T08:00:00.000Z',
    });
    const ended = await call('POST', `/api/residents/${residentId}/away/${offset.body.id}/end`, {
      at: '2026-12-11T23:00:00+18:30',
    });
    expect(ended.status).toBe(200);
    expect(ended.body.until).toBe('2026-12-11T04:30:00.000Z');
    const year0 = await call('POST', `/api/residents/${residentId}/away`, {
      from: '0000-01-01T00:00:00Z',
      reason: 'holiday',
    });
    expect(year0.status).toBe(400);
    expect((year0.body.issues as { path: string }[]).map((i) => i.path)).toEqual(['from']);
  });

  it('refuses a time its offset carries past the year 9999, which would make the whole entry unreadable', async () => {
    const other = await call('POST', '/api/residents', {
      name: 'Away Far',
      address: '3 Lane',
      postcode: 'GL1 2AB',
    });
    const id = other.body.id as string;
    const stay = await call('POST', `/api/residents/${id}/away`, {
      from: '2026-12-01T10:00:00Z',
      reason: 'hospital',
    });
    expect(stay.status).toBe(201);
    // 9999-12-31 at -14:00 is 10000-01-01 in UTC: not an ISO-8601 time (the entry would say
    // +010000-…), so triage refused the resident's entry whole, the hospital stay with it.
    const far = await call('POST', `/api/residents/${id}/away`, {
      from: '2026-12-20T10:00:00Z',
      until: '9999-12-31T23:59:59.999-14:00',
      reason: 'holiday',
    });
    expect(far.status).toBe(400);
    expect((far.body.issues as { path: string }[]).map((i) => i.path)).toEqual(['until']);
    const ended = await call('POST', `/api/residents/${id}/away/${stay.body.id}/end`, {
      at: '9999-12-31T20:00:00-12:00',
    });
    expect(ended.status).toBe(400);
    expect((ended.body.issues as { path: string }[]).map((i) => i.path)).toEqual(['at']);
    expect((await entryOf(id))?.periods.map((p) => p.id)).toEqual([stay.body.id]);
    // The last instant of 9999 in UTC is still a time.
    const last = await call('POST', `/api/residents/${id}/away`, {
      from: '2026-12-20T10:00:00Z',
      until: '9999-12-31T23:59:59.999Z',
      reason: 'holiday',
    });
    expect(last.status).toBe(201);
    expect((await entryOf(id))?.periods).toHaveLength(2);
  });

  it('brings the bucket in step at start-up: an open-ended stay is there, a stray key is gone', async () => {
    const open = await call('POST', `/api/residents/${residentId}/away`, {
      from: '2026-12-10T09:00:00Z',
      reason: 'hospital',
    });
    expect(open.status).toBe(201);
    await bucket.put(
      'res_stray000000',
      JSON.stringify({ residentId: 'res_stray000000', periods: [], updatedAt: new Date().toISOString() }),
    );
    await registry.close();
    registry = await startRegistry(loadRegistryConfig(env), { logger });
    expect(await bucket.get('res_stray000000').then((e) => e?.operation ?? 'none')).not.toBe('PUT');
    const periods = (await entryOf(residentId))?.periods ?? [];
    expect(periods.find((p) => p.id === open.body.id)).toEqual({
      id: open.body.id,
      from: '2026-12-10T09:00:00.000Z',
      reason: 'hospital',
    });
  });
});

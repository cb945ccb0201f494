import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reportsHarness, seededNovember, seedNovember } from './support.ts';

// Who may see what: a commissioner's token bound to their own districts, and tokens that no longer
// work. The seeded November: GL1 (20 residents, 18 calls) and GL2 (6 residents, 3 calls); counts
// are published rounded to 5.
const h = await reportsHarness('rpaccess', {
  REPORTS_PSEUDONYM_KEY: 'a-test-secret-of-at-least-32-characters',
});
const NOVEMBER = 'from=2026-11-01&to=2026-12-01';

const makeToken = async (body: Record<string, unknown>) => {
  const res = await h.api('/api/tokens', { method: 'POST', body: JSON.stringify(body) });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as { id: string; token: string; districts: string[] | null };
};

beforeAll(async () => {
  await h.start();
  await seedNovember(h);
  await seededNovember(h);
});
afterAll(() => h.close());

describe("a commissioner's token bound to their districts", () => {
  it('gives their districts when none are asked for, the same figures as asking for them', async () => {
    const gl2 = await makeToken({ role: 'commissioner', recipient: 'council-gl2', districts: ['gl2'] });
    expect(gl2.districts).toEqual(['GL2']);
    const own = await h.api(`/api/reports/summary?${NOVEMBER}`, { token: gl2.token });
    expect(own.status).toBe(200);
    const body = (await own.json()) as { districts: string[]; residents: { active: number } };
    expect(body.districts).toEqual(['GL2']);
    expect(body.residents.active).toBe(5);
    const asked = await h.api(`/api/reports/summary?${NOVEMBER}&districts=GL2`, { token: gl2.token });
    expect(((await asked.json()) as { residents: { active: number } }).residents.active).toBe(5);
  });

  it('refuses any other district, on every figure and export, with a 403 that names only districts', async () => {
    const gl2 = await makeToken({ role: 'analyst', recipient: 'trust-gl2', districts: ['GL2'] });
    for (const path of [
      `/api/reports/summary?${NOVEMBER}&districts=GL1`,
      `/api/reports/summary?${NOVEMBER}&area=GL1,GL2`,
      `/api/reports/export.csv?${NOVEMBER}&districts=GL1`,
      `/api/reports/csv/outcomes?${NOVEMBER}&districts=GL1`,
      `/api/reports/episodes.csv?${NOVEMBER}&districts=GL1`,
      '/api/reports/bed-days?districts=GL1',
      '/api/reports/care-hours?districts=GL1',
    ]) {
      const res = await h.api(path, { token: gl2.token });
      expect(res.status, path).toBe(403);
      const text = await res.text();
      expect(JSON.parse(text)).toMatchObject({ error: 'forbidden' });
      expect(text).toContain('GL1');
      expect(text).not.toMatch(/res_|case_/);
    }
    // Their own district's export is theirs.
    const csv = await h.api(`/api/reports/episodes.csv?${NOVEMBER}`, { token: gl2.token });
    expect(csv.status).toBe(200);
    expect((await csv.text()).trim().split('\n')).toHaveLength(1 + 3);
  });

  it('a token without districts sees every district, as before; a bad district list is a 400', async () => {
    const all = await makeToken({ role: 'commissioner', recipient: 'region' });
    expect(all.districts).toBeNull();
    const res = await h.api(`/api/reports/summary?${NOVEMBER}&districts=GL1`, { token: all.token });
    expect(res.status).toBe(200);
    for (const districts of [[], ['not a district'], 'GL1']) {
      const bad = await h.api('/api/tokens', {
        method: 'POST',
        body: JSON.stringify({ role: 'commissioner', recipient: 'x', districts }),
      });
      expect(bad.status, JSON.stringify(districts)).toBe(400);
    }
  });
});

describe('a token request with a field that is not one', () => {
  it('is refused 400 naming the field, and no token is made', async () => {
    const tokens = async () => {
      const { rows } = await h.reports.store.pool.query<{ n: number }>(
        `select count(*)::int as n from "${h.reports.store.schema}".api_tokens`,
      );
      return rows[0]?.n;
    };
    const before = await tokens();
    // A misspelt `districts` would make a token for every district; `expiresInHours` is not how
    // a lifetime is asked for, and would leave the default 90 days.
    for (const [field, body] of [
      ['distrcts', { role: 'commissioner', recipient: 'council-gl2', distrcts: ['GL2'] }],
      ['expiresInHours', { role: 'commissioner', recipient: 'council-gl2', expiresInHours: 2 }],
      ['scope', { role: 'analyst', recipient: 'trust', districts: ['GL2'], scope: 'all' }],
    ] as const) {
      const res = await h.api('/api/tokens', { method: 'POST', body: JSON.stringify(body) });
      expect(res.status, field).toBe(400);
      const refusal = (await res.json()) as { error: string; issues: { path: string; message: string }[] };
      expect(refusal.error).toBe('invalid-request');
      expect(refusal.issues).toEqual([{ path: field, message: 'unknown field' }]);
    }
    expect(await tokens()).toBe(before);
  });
});

describe('tokens that no longer work', () => {
  it('a revoked token and an expired one are refused with 401, and say nothing of the figures', async () => {
    const revoked = await makeToken({ role: 'commissioner', recipient: 'gone' });
    expect((await h.api(`/api/tokens/${revoked.id}`, { method: 'DELETE' })).status).toBe(204);
    const expired = await makeToken({ role: 'commissioner', recipient: 'old' });
    await h.reports.store.pool.query(
      `update "${h.reports.store.schema}".api_tokens set expires_at = now() - interval '1 second' where id = $1`,
      [expired.id],
    );
    for (const token of [revoked.token, expired.token, `${revoked.token}x`, 'rpt_', 'not-a-token']) {
      const res = await h.api(`/api/reports/summary?${NOVEMBER}`, { token });
      expect(res.status, token).toBe(401);
      expect(await res.text()).not.toMatch(/GL1|residents/);
    }
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// A cursor is opaque but not secret: anyone can write one. One that names a place past what
// PostgreSQL's bigint holds, or a time no calendar has, is still a cursor the list never gave: a
// 400 naming it, not a database error answered 500.
let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  h = await helplineHarness('notecursor', { CASE_VIEW_NOTES: '1' });
  await h.start();
});

afterAll(async () => {
  await h?.close();
});

const forged = (caseId: string, seq: string) =>
  encodeURIComponent(Buffer.from(JSON.stringify({ caseId, seq })).toString('base64url'));

describe('a forged notes cursor', () => {
  it('past the largest place in a trail is refused 400 naming `before`', async () => {
    const residentId = `res_forged${Date.now().toString(36)}`;
    await h.publish(h.alert({ residentId }));
    const c = await h.caseOf(residentId);
    for (const seq of ['9223372036854775808', '9999999999999999999', '1e3', '-1', '']) {
      const r = await h.api(`/api/cases/${c.id}/notes?before=${forged(c.id, seq)}`);
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(JSON.stringify(r.json)).toContain('before');
    }
    // The largest place a trail can have is still a cursor: every note is before it.
    const r = await h.api(`/api/cases/${c.id}/notes?before=${forged(c.id, '9223372036854775807')}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  });
});

describe('a forged case list cursor', () => {
  it('naming a time no calendar has is refused 400 naming `cursor`', async () => {
    const cursor = (key: Record<string, unknown>) =>
      encodeURIComponent(Buffer.from(JSON.stringify(key)).toString('base64url'));
    const id = 'case_0mxc3gu6288760de7383b5893';
    for (const raisedAt of ['2026-13-45T99:99:99.000000Z', '0000-01-01T00:00:00.000000Z']) {
      const all = await h.api(`/api/cases?state=all&cursor=${cursor({ state: 'all', raisedAt, id })}`);
      expect(all.status, JSON.stringify(all.json)).toBe(400);
      expect(JSON.stringify(all.json)).toContain('cursor');
    }
  });
});

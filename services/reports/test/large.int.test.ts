import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applySeed, DEMO_DISTRICTS } from '../src/seed.ts';
import { type ReportsHarness, reportsHarness } from './support.ts';

/**
 * A summary whose reads the data makes slower than the read limit (lowered here to 1 ms, so a
 * CI-sized read model is "too large"): PostgreSQL cancels the read, and the answer is a 503 with
 * Retry-After naming the limit, never a 500.
 */
describe('a summary too large for the read limit', () => {
  let h: ReportsHarness;
  beforeAll(async () => {
    h = await reportsHarness('rplarge', { REPORTS_READ_TIMEOUT_MS: '1' });
    await h.start();
    await applySeed(
      h.reports.store,
      {
        from: new Date('2026-09-01T00:00:00Z'),
        to: new Date('2026-12-01T00:00:00Z'),
        residents: 300,
        districts: DEMO_DISTRICTS,
        seed: 3,
      },
      new Date('2026-12-01T00:00:00Z'),
    );
  }, 120_000);
  afterAll(async () => h?.close());

  it('is a 503 with Retry-After naming the limit, not a 500', async () => {
    for (const path of [
      '/api/reports/summary?from=2026-09-01&to=2026-12-01',
      '/api/reports/csv/trend?from=2026-09-01&to=2026-12-01',
      '/api/reports/export.csv?from=2026-09-01&to=2026-12-01',
    ]) {
      const res = await h.api(path);
      expect(res.status, path).toBe(503);
      expect(res.headers.get('retry-after'), path).toMatch(/^\d+$/);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe('unavailable');
      expect(body.message).toContain('1 ms');
    }
  });
});

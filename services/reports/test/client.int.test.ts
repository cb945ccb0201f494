import { ApiCallError, createClient, REPORTS_ROUTES } from '@telecare/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReportsHarness, reportsHarness, seededNovember, seedNovember } from './support.ts';

// The typed client of the reports API against the service: its CSV routes are `raw: true`, so the
// client hands back the answer itself, and still refuses as it does for every route.
let h: ReportsHarness;

beforeAll(async () => {
  h = await reportsHarness('rpclient');
  await h.start();
  await seedNovember(h);
  await seededNovember(h);
}, 120_000);

afterAll(async () => h?.close());

const query = { from: '2026-11-01', to: '2026-12-01' };

describe('the typed client of the reports API', () => {
  it('returns a CSV route’s answer as the Response, the file unread and whole', async () => {
    const reports = createClient(REPORTS_ROUTES, { baseUrl: h.reports.url, token: h.adminToken });
    const res: Response = await reports.exportCsv({ query });
    expect(res).toBeInstanceOf(Response);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const csv = await res.text();
    expect(csv.split('\r\n')[0]).toBe('chart,row,column,value');
    expect(csv.split('\r\n').length).toBeGreaterThan(2);
    // The same figures as the summary, which is still parsed with its schema.
    const summary = await reports.summary({ query });
    expect(summary.residents.active).toBeGreaterThan(0);
  });

  it('turns a CSV route’s refusal into an ApiCallError with the service’s error body', async () => {
    const reports = createClient(REPORTS_ROUTES, { baseUrl: h.reports.url, token: h.adminToken });
    const err = await reports.chartCsv({ params: { chart: 'no-such-chart' }, query }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiCallError);
    expect([(err as ApiCallError).status, (err as ApiCallError).code]).toEqual([404, 'not-found']);
    expect((err as ApiCallError).message).toBe('no such chart');
  });
});

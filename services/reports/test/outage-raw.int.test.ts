import { fastifyPath, REPORTS_ROUTES } from '@telecare/contracts';
import { FaultProxy, OwnPostgres, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReportsHarness, reportsHarness } from './support.ts';

// The routes that answer something other than JSON — every CSV of the contracts (`raw: true`) and
// the dashboard's files — through PostgreSQL outages, on a PostgreSQL of the test's own behind a
// fault proxy. A CSV is whole or is not sent: a commissioner must never keep a file that looks like
// the figures and is not.
let postgres: OwnPostgres;
let proxy: FaultProxy;
let h: ReportsHarness;
let reportToken: string;

const PERIOD = 'from=2026-11-01&to=2026-12-01';
/** Every raw route of the contracts, with a chart of the summary and one of the cohort figures. */
const RAW = Object.values(REPORTS_ROUTES)
  .filter((route) => route.raw)
  .flatMap((route) =>
    route.path.includes('{chart}')
      ? ['answer', 'bed-days'].map((chart) => route.path.replace('{chart}', chart))
      : [fastifyPath(route.path)],
  )
  .map((path) => `${path}?${PERIOD}`);
const PAGES = ['/', '/dashboard.js', '/dashboard.css'];

beforeAll(async () => {
  postgres = await OwnPostgres.start();
  proxy = await FaultProxy.start({ port: postgres.port });
  h = await reportsHarness('rprawoutage', {
    DATABASE_URL: `postgresql://postgres@127.0.0.1:${proxy.port}/test`,
    REPORTS_PSEUDONYM_KEY: 'a-test-secret-of-at-least-32-characters',
    // Every raw route at once, twice, from one token: the outage is under test, not the share.
    REPORTS_READS_PER_TOKEN: '20',
  });
  await h.start();
  const made = await h.api('/api/tokens', {
    method: 'POST',
    body: JSON.stringify({ role: 'analyst', recipient: 'outage' }),
  });
  reportToken = ((await made.json()) as { token: string }).token;
}, 120_000);

afterAll(async () => {
  await h?.close().catch(() => undefined);
  await proxy?.close();
  postgres?.destroy();
});

/** A refusal of a raw route while PostgreSQL is away: the contract's error body, never a CSV. */
async function expectUnavailable(res: Response, what: string): Promise<void> {
  const text = await res.text();
  expect(res.status, `${what}: ${text.slice(0, 200)}`).toBe(503);
  expect(res.headers.get('retry-after'), what).toMatch(/^\d+$/);
  expect(res.headers.get('content-type'), what).toMatch(/^application\/json/);
  expect(res.headers.get('content-disposition'), what).toBeNull();
  const body = JSON.parse(text) as { error: string; message: string };
  expect(body.error, what).toBe('unavailable');
  expect(body.message, what).toMatch(/down or restarting: try again/);
  expect(text, what).not.toMatch(/postgres@|127\.0\.0\.1|at \w+ \(/);
}

const allAnswered = async () =>
  (await Promise.all(RAW.map((path) => h.api(path)))).every((res) => res.status === 200);

describe('raw routes through PostgreSQL outages', () => {
  it('finds every raw route of the contracts', () => {
    expect(RAW.map((p) => p.split('?')[0])).toEqual([
      '/api/reports/export.csv',
      '/api/reports/csv/answer',
      '/api/reports/csv/bed-days',
      '/api/reports/episodes.csv',
    ]);
  });

  it('sends a CSV whole, with its length, so a transfer cut short is a failed download', async () => {
    for (const path of RAW) {
      const res = await h.api(path, { token: reportToken });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toBe('text/csv; charset=utf-8');
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.length, path).toBeGreaterThan(0);
      expect(res.headers.get('content-length'), path).toBe(String(bytes.length));
      expect(res.headers.get('transfer-encoding'), path).toBeNull();
    }
  });

  it('answers 503, not a hung request, when PostgreSQL stops answering on open connections', async () => {
    // Connections the pool keeps open, which the fault then silences: a PostgreSQL frozen or cut
    // off without a reset. Its server-side statement timeout cannot help: nothing comes back.
    await Promise.all([...RAW, ...RAW].map((path) => h.api(path)));
    proxy.set({ kind: 'half-open', direction: 'down' });
    const started = Date.now();
    const answers = await Promise.all(
      [...RAW, ...RAW].map(async (path) => ({
        path,
        res: await h.api(path, { signal: AbortSignal.timeout(45_000) }),
      })),
    );
    for (const { path, res } of answers) await expectUnavailable(res, path);
    expect(Date.now() - started).toBeLessThan(40_000);
    for (const path of PAGES) expect((await h.api(path)).status, path).toBe(200);
    proxy.set({ kind: 'pass' });
    await waitFor(allAnswered, { what: 'the CSVs again', timeoutMs: 30_000 });
  }, 90_000);

  it('answers 503 when PostgreSQL goes down under a request, and while it is down; the dashboard is still served', async () => {
    // Requests in flight when the server goes: their bytes are held, then the server is killed.
    proxy.set({ kind: 'delay', ms: 1_500 });
    const inFlight = RAW.map((path) => h.api(path, { token: reportToken }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await postgres.crash();
    proxy.set({ kind: 'pass' });
    const held = await Promise.all(inFlight);
    for (const [i, res] of held.entries()) await expectUnavailable(res, `in flight: ${RAW[i]}`);

    for (const token of [reportToken, h.adminToken])
      for (const path of RAW) await expectUnavailable(await h.api(path, { token }), path);
    // The page and its files need no database.
    for (const path of PAGES) {
      const res = await h.api(path);
      expect(res.status, path).toBe(200);
    }

    postgres.start();
    await waitFor(allAnswered, { what: 'the CSVs again', timeoutMs: 30_000 });
  }, 90_000);
});

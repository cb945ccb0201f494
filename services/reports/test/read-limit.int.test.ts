import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READ_MODEL_TABLES } from '../src/store.ts';
import { type ReportsHarness, reportsHarness } from './support.ts';

/**
 * Every report's reads run under `REPORTS_READ_TIMEOUT_MS`, not the summary's alone: a read that
 * waits past it (here behind another session's lock on the read model, or on a registry that does
 * not answer) is answered 503 with Retry-After naming the limit, never a 500 or a request that
 * hangs until the read ends. Without the limit, each request below would wait for the lock to go
 * (then answer 200) or for the registry's own 10 s.
 */
const LIMIT = '400';

async function expectTooSlow(h: ReportsHarness, path: string): Promise<void> {
  const res = await h.api(path);
  const text = await res.text();
  expect(res.status, `${path}: ${text.slice(0, 300)}`).toBe(503);
  expect(res.headers.get('retry-after'), path).toMatch(/^\d+$/);
  const body = JSON.parse(text) as { error: string; message: string };
  expect(body.error, path).toBe('unavailable');
  expect(body.message, path).toContain(`${LIMIT} ms`);
}

describe('every report read under the read limit', () => {
  let h: ReportsHarness;
  beforeAll(async () => {
    h = await reportsHarness('rpreadlim', {
      REPORTS_READ_TIMEOUT_MS: LIMIT,
      REPORTS_PSEUDONYM_KEY: 'read-limit-test-pseudonym-key-0123456789',
    });
    await h.start();
  }, 60_000);
  afterAll(async () => h?.close());

  it.each([
    '/api/reports/summary',
    '/api/reports/export.csv',
    '/api/reports/csv/trend',
    '/api/reports/episodes.csv',
    '/api/reports/bed-days',
    '/api/reports/csv/bed-days',
  ])(
    '%s: a read held past the limit is a 503 with Retry-After',
    async (path) => {
      const store = h.reports.store;
      const db = await store.pool.connect();
      try {
        await db.query('begin');
        const tables = [...READ_MODEL_TABLES, 'rp_hospital_stays'] as const;
        await db.query(`lock table ${tables.map((t) => store.table(t)).join(', ')} in access exclusive mode`);
        // Let go after a while whatever happens, so a request without the limit ends (with a 200).
        const release = setTimeout(() => void db.query('rollback').catch(() => undefined), 3_000);
        try {
          await expectTooSlow(h, path);
        } finally {
          clearTimeout(release);
        }
      } finally {
        await db.query('rollback').catch(() => undefined);
        db.release();
      }
    },
    20_000,
  );
});

describe('the registry read under the read limit', () => {
  let h: ReportsHarness;
  let silent: Server;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    // A registry that takes connections and never answers.
    silent = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    h = await reportsHarness('rpreadreg', {
      REPORTS_READ_TIMEOUT_MS: LIMIT,
      REGISTRY_URL: `http://127.0.0.1:${port}`,
      REPORTS_REGISTRY_TOKEN: 'read-limit-test-registry-token-0123456789',
    });
    await h.start();
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent?.close(resolve));
  });

  it.each(['/api/reports/care-hours', '/api/reports/csv/care-hours', '/api/reports/bed-days'])(
    '%s: a registry silent past the limit is a 503 with Retry-After',
    async (path) => {
      await expectTooSlow(h, path);
    },
    20_000,
  );
});

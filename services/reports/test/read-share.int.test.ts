import { servers, waitFor } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alert, type ReportsHarness, reportsHarness, telecareEvent } from './support.ts';

/**
 * No one token can starve the rest: its report reads beyond `REPORTS_READS_PER_TOKEN` (2 by
 * default) are answered 429 with Retry-After at once, and those it is allowed cannot take every
 * connection, so another commissioner's report, a trust's import and the streams' ingest still
 * go through. The reads are held here by another session's lock on tables a summary counts (not
 * those of bed days, the import or the alerts), so that a burst stays in flight while the others
 * are asked. Without the bound, the burst's summaries hold every connection of the one pool, and
 * the second token's read, the import and the ingest wait for one.
 */
describe('report reads shared fairly between tokens', () => {
  let h: ReportsHarness;
  let locker: pg.Client;
  beforeAll(async () => {
    h = await reportsHarness('rpshare');
    await h.start();
    await h.publishEvent(
      telecareEvent({
        serial: 'PEN-SHARE',
        residentId: 'res_share0',
        kind: 'pendant',
        type: 'heartbeat',
        at: '2026-10-01T08:00:00.000Z',
        district: 'GL3',
      }),
    );
    await waitFor(async () => (await h.reports.store.knownResidents(['res_share0'])).size === 1, {
      what: 'resident seen',
    });
    locker = new pg.Client({ connectionString: servers.databaseUrl });
    await locker.connect();
  }, 60_000);
  afterAll(async () => {
    await locker?.end();
    await h?.close();
  });

  const token = async (recipient: string) => {
    const res = await h.api('/api/tokens', {
      method: 'POST',
      body: JSON.stringify({ role: 'commissioner', recipient }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { token: string }).token;
  };

  it("one token's burst gets 429s while a second token's read, an import and the ingest succeed", async () => {
    const [first, second, third, fourth] = [
      await token('council-burst'),
      await token('council-other'),
      await token('council-third'),
      await token('council-fourth'),
    ];
    const store = h.reports.store;
    const held = (['rp_cases', 'rp_device_days', 'rp_device_faults'] as const).map((t) => store.table(t));
    const burstOf = (bearer: string) =>
      Array.from({ length: 6 }, () =>
        h.api('/api/reports/summary?from=2026-09-01&to=2026-12-01', { token: bearer }).then(async (res) => ({
          status: res.status,
          retryAfter: res.headers.get('retry-after'),
          body: await res.text(),
        })),
      );
    /** Reads in flight: waiting for the lock. */
    const waiting = (n: number) =>
      waitFor(
        async () => {
          const { rows } = await locker.query<{ n: number }>(
            `select count(*)::int as n from pg_locks where not granted and relation = any($1::regclass[])`,
            [held],
          );
          return (rows[0]?.n ?? 0) >= n;
        },
        { what: `${n} reads waiting on the lock`, timeoutMs: 10_000 },
      );
    const expectRefused = (answers: { status: number; retryAfter: string | null; body: string }[]) => {
      const refused = answers.filter((a) => a.status === 429);
      expect(refused).toHaveLength(4);
      for (const a of refused) {
        expect(a.retryAfter).toMatch(/^\d+$/);
        const body = JSON.parse(a.body) as { error: string; message: string };
        expect(body.error).toBe('too-many-reads');
        expect(body.message).toContain('2 reports');
        expect(body.message).toContain('REPORTS_READS_PER_TOKEN');
      }
    };
    await locker.query('begin');
    await locker.query(`lock table ${held.join(', ')} in access exclusive mode`);
    // Let go after a while whatever happens, so that every request ends.
    const release = setTimeout(() => void locker.query('rollback').catch(() => undefined), 25_000);
    try {
      const burst = burstOf(first);
      await waiting(6);
      const other = await h.api('/api/reports/bed-days', { token: second });
      expect(other.status, await other.clone().text()).toBe(200);

      // A third token's burst too: every read connection taken, the writes still go through.
      const another = burstOf(third);
      await waiting(8);
      // Every read connection in use by reports within their tokens' bounds: a fourth
      // commissioner's report waits its turn as long as the pool waits (5 s), then is told the
      // reports are busy, not that a server is down.
      const crowded = await h.api('/api/reports/summary?from=2026-09-01&to=2026-12-01', { token: fourth });
      const crowdedBody = (await crowded.clone().json()) as { error: string; message: string };
      expect(crowded.status, JSON.stringify(crowdedBody)).toBe(503);
      expect(crowded.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(crowdedBody.error).toBe('reports-busy');
      expect(crowdedBody.message).toMatch(/in use by other reports/);
      const imported = await fetch(`${h.reports.url}/api/reports/hospital-episodes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'text/csv' },
        body: 'resident,admitted,discharged\nres_share0,2026-10-10,2026-10-12\n',
      });
      expect(imported.status, await imported.clone().text()).toBe(200);
      expect(await imported.json()).toMatchObject({ imported: 1, refused: [] });
      // The streams' ingest writes meanwhile (an alert: a table the lock leaves free).
      const late = alert({
        residentId: 'res_share0',
        priority: 1,
        type: 'pendant.pressed',
        raisedAt: '2026-10-02T08:00:00.000Z',
      });
      await h.publishAlert(late);
      await waitFor(
        async () =>
          (await locker.query(`select 1 from ${store.table('rp_alerts')} where alert_id = $1`, [late.id]))
            .rowCount === 1,
        { what: 'the alert written while the bursts are in flight', timeoutMs: 10_000 },
      );

      await locker.query('rollback');
      const answers = await Promise.all(burst);
      expect(answers.filter((a) => a.status === 200)).toHaveLength(2);
      expectRefused(answers);
      // Its two allowed waited for a read connection behind the first's: not asserted, as a
      // wait past the pool's connection timeout is a 503.
      expectRefused(await Promise.all(another));
    } finally {
      clearTimeout(release);
      await locker.query('rollback').catch(() => undefined);
    }
    // Its reads done, the token reads again.
    expect((await h.api('/api/reports/summary', { token: first })).status).toBe(200);
  }, 60_000);
});

import { createLogger } from '@telecare/platform';
import { servers, waitFor } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadReportsConfig, type ReportsHandle, startReports } from '../src/index.ts';
import { type ReportsHarness, reportsHarness } from './support.ts';

/**
 * Two reports instances behind one balancer: a token's bound on reports being read at once
 * (`REPORTS_READS_PER_TOKEN`, 2) is the token's, not each instance's. Its reads are held in
 * flight by another session's lock on tables a summary counts; one on each instance, a third on
 * either is refused 429 at once. An instance whose connection is lost, or that stops, takes its
 * token's reads with it.
 */
describe('report reads per token across instances', () => {
  let h: ReportsHarness;
  let other: ReportsHandle | undefined;
  let locker: pg.Client;
  let held: string[];
  let urls: [string, string];
  beforeAll(async () => {
    h = await reportsHarness('rpshare2');
    await h.start();
    other = await startReports(loadReportsConfig(h.env), { logger: createLogger('rpshare2-b', 'silent') });
    urls = [h.reports.url, other.url];
    held = (['rp_cases', 'rp_device_days', 'rp_device_faults'] as const).map((t) => h.reports.store.table(t));
    locker = new pg.Client({ connectionString: servers.databaseUrl });
    await locker.connect();
  }, 60_000);
  afterAll(async () => {
    await locker?.end();
    await other?.close();
    await h?.close();
  });

  type Answer = { status: number; retryAfter: string | null; body: string };
  const read = (url: string, token = h.adminToken): Promise<Answer> =>
    fetch(`${url}/api/reports/summary?from=2026-09-01&to=2026-12-01`, {
      headers: { authorization: `Bearer ${token}` },
    }).then(async (res) => ({
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      body: await res.text(),
    }));
  /** The answer, or `still reading` when none came within 3 s (held behind the lock). */
  const soon = (answer: Promise<Answer>) =>
    Promise.race([
      answer,
      new Promise<'still reading'>((resolve) => setTimeout(() => resolve('still reading'), 3_000)),
    ]);
  const waiting = (n: number) =>
    waitFor(
      async () => {
        const { rows } = await locker.query<{ n: number }>(
          `select count(distinct pid)::int as n from pg_locks where not granted and relation = any($1::regclass[])`,
          [held],
        );
        return (rows[0]?.n ?? 0) >= n;
      },
      { what: `${n} reads waiting on the lock`, timeoutMs: 10_000 },
    );
  /** Until `n` of a caller's read slots are held (a read waiting on the lock may use more than one connection). */
  const slotsHeld = (caller: string, n: number) =>
    waitFor(
      async () => {
        const { rows } = await locker.query<{ n: number }>(
          `select count(*)::int as n from pg_locks where locktype = 'advisory' and granted and objsubid = 2
             and classid = hashtext($1)::oid`,
          [`${h.names.schema('reports')}:reads:${caller}`],
        );
        return (rows[0]?.n ?? 0) >= n;
      },
      { what: `${n} read slots of ${caller} held`, timeoutMs: 10_000 },
    );
  /** Holds every summary read behind a lock while `during` runs, then lets them go. */
  const whileHeld = async (during: () => Promise<void>) => {
    await locker.query('begin');
    await locker.query(`lock table ${held.join(', ')} in access exclusive mode`);
    const release = setTimeout(() => void locker.query('rollback').catch(() => undefined), 25_000);
    try {
      await during();
    } finally {
      clearTimeout(release);
      await locker.query('rollback').catch(() => undefined);
    }
  };
  const expectRefused = (answer: Answer | 'still reading') => {
    expect(answer, 'a read over the bound was let through').not.toBe('still reading');
    if (answer === 'still reading') return;
    expect(answer.status, answer.body).toBe(429);
    expect(answer.retryAfter).toBe('5');
    const body = JSON.parse(answer.body) as { error: string; message: string };
    expect(body.error).toBe('too-many-reads');
    expect(body.message).toContain('2 reports');
    expect(body.message).toContain('REPORTS_READS_PER_TOKEN');
  };

  it('refuses a token its third read when its two are in flight on two instances', async () => {
    const made = await h.api('/api/tokens', {
      method: 'POST',
      body: JSON.stringify({ role: 'commissioner', recipient: 'council-two-doors' }),
    });
    expect(made.status).toBe(201);
    const { token, id } = (await made.json()) as { token: string; id: string };
    let first: Promise<Answer> | undefined;
    let second: Promise<Answer> | undefined;
    await whileHeld(async () => {
      // One read on each instance: the token's two. A third on either is refused at once.
      first = read(urls[0], token);
      second = read(urls[1], token);
      await waiting(2);
      await slotsHeld(id, 2);
      for (const url of urls) expectRefused(await soon(read(url, token)));
      // Another token (the admin's) is not refused for it.
      const admin = read(urls[1]);
      await waiting(3);
      await locker.query('rollback');
      expect((await admin).status).toBe(200);
    });
    expect((await (first as Promise<Answer>)).status).toBe(200);
    expect((await (second as Promise<Answer>)).status).toBe(200);
    // Its reads done, the token reads again on both.
    for (const url of urls) expect((await read(url, token)).status).toBe(200);
  }, 60_000);

  it("lets go of an instance's reads when its connection is lost, and that instance reads on", async () => {
    const inFlight: Promise<Answer>[] = [];
    await whileHeld(async () => {
      inFlight.push(read(urls[1]), read(urls[1]));
      await waiting(2);
      await slotsHeld('admin', 2);
      expectRefused(await soon(read(urls[0])));
      // The second instance's slots session is cut, as a crash would: PostgreSQL ends its locks.
      const { rows } = await locker.query<{ pid: number }>(
        `select distinct pid from pg_locks where locktype = 'advisory' and objsubid = 2
           and classid = hashtext($1)::oid`,
        [`${h.names.schema('reports')}:reads:admin`],
      );
      expect(rows).toHaveLength(1);
      // Ended, and its locks gone, before the next read asks (the call alone only signals it).
      await locker.query('select pg_terminate_backend($1, 10000)', [rows[0]?.pid]);
      await waitFor(
        async () => {
          const { rows: left } = await locker.query(
            `select 1 from pg_locks where locktype = 'advisory' and objsubid = 2 and classid = hashtext($1)::oid`,
            [`${h.names.schema('reports')}:reads:admin`],
          );
          return left.length === 0;
        },
        { what: 'the cut session to let go of its slots', timeoutMs: 10_000 },
      );
      const first = read(urls[0]);
      await waiting(3);
      expect(await soon(first)).toBe('still reading');
      inFlight.push(first);
    });
    expect((await Promise.all(inFlight)).map((a) => a.status)).toEqual([200, 200, 200]);
    // The second instance opens another session: its next reads are counted, not refused 503.
    for (const url of [urls[1], urls[1], urls[0]]) expect((await read(url)).status).toBe(200);
    await whileHeld(async () => {
      const two = [read(urls[1]), read(urls[0])];
      await waiting(2);
      await slotsHeld('admin', 2);
      expectRefused(await soon(read(urls[1])));
      await locker.query('rollback');
      expect((await Promise.all(two)).map((a) => a.status)).toEqual([200, 200]);
    });
  }, 60_000);

  it('lets go of the reads of an instance that stops', async () => {
    await whileHeld(async () => {
      const stopping = [read(urls[1]), read(urls[1])];
      await waiting(2);
      await slotsHeld('admin', 2);
      expectRefused(await soon(read(urls[0])));
      const closing = (other as ReportsHandle).close();
      other = undefined;
      await locker.query('rollback');
      await Promise.allSettled(stopping);
      await closing;
    });
    const after = await Promise.all([read(urls[0]), read(urls[0])]);
    expect(after.map((a) => a.status)).toEqual([200, 200]);
  }, 60_000);
});

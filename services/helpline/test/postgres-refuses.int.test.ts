import { OwnPostgres, waitFor } from '@telecare/testkit';
import pg from 'pg';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium } from './harness.ts';

/**
 * The helpline while its PostgreSQL answers but refuses: read-only, as the old primary after a
 * failover (a standby) or with `default_transaction_read_only` set by a DBA; then taking no more
 * connections (53300). Alerts wait unacknowledged and become cases, once each, when it takes them
 * again; operators are told; the log says it once. Disk full (53100) cannot be made here without
 * a mount, and is not emulated. PostgreSQL down altogether: `postgres-outage.int.test.ts`.
 */
let server: OwnPostgres;
let admin: pg.Client;
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser | undefined;
const ROLE = 'helpline_app';
const logs: { level: number; msg: string; [key: string]: unknown }[] = [];

beforeAll(async () => {
  server = await OwnPostgres.start();
  admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  // The DBA's own session keeps writing whatever the server-wide default says.
  await admin.query('set default_transaction_read_only = off');
  // The helpline logs in as a role of its own, as in production: a DBA can limit its connections.
  await admin.query(`create role ${ROLE} login`);
  await admin.query(`grant create on database test to ${ROLE}`);
  h = await helplineHarness(
    'pgrefuses',
    // Console pings every second: a console hears of a refused heartbeat within a couple of seconds.
    {
      DATABASE_URL: server.url.replace('postgres@', `${ROLE}@`),
      PRESENCE_ON_LOGIN: 'available',
      PRESENCE_TIMEOUT_S: '3',
    },
    { logs: { level: 'info', destination: { write: (line) => void logs.push(JSON.parse(line)) } } },
  );
  await h.start();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
  await admin?.end();
  server?.destroy();
});

const allCases = async () =>
  (await h.api('/api/cases?state=all&limit=500')).json as {
    id: string;
    residentId: string;
    alertIds: string[];
  }[];

const readyz = async () => {
  const response = await fetch(new URL('/readyz', h.helpline.url));
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
};

const retried = async (): Promise<number> => {
  const text = await (await fetch(new URL('/metrics', h.helpline.url))).text();
  return Number(/^helpline_alerts_retried_total (\d+)/m.exec(text)?.[1] ?? 0);
};

describe('PostgreSQL read-only (a standby after a failover, or default_transaction_read_only)', () => {
  it('keeps alerts unacknowledged, tells operators and the log once, and commits each once when writable again', async () => {
    const first = h.alert({ residentId: 'res_ro_first', priority: 1 });
    await h.publish(first);
    const waiting = await h.caseOf('res_ro_first');

    const sessions = async () =>
      (
        await admin.query<{ pid: number }>('select pid from pg_stat_activity where usename = $1', [ROLE])
      ).rows.map((r) => r.pid);
    const before = await sessions();
    await server.alterSystem('default_transaction_read_only', 'on');
    const notReady = await waitFor(
      async () => {
        const r = await readyz();
        return r.status === 503 && r;
      },
      { timeoutMs: 10_000, what: '/readyz to fail while PostgreSQL is read-only' },
    );
    expect(JSON.stringify(notReady.json)).toMatch(/read-only/);

    // An operator's accept is not saved and says so: a 503 to try again, not a 500.
    const accept = await h.api(`/api/cases/${waiting.id}/accept`, { method: 'POST' });
    expect(accept.status).toBe(503);
    expect(accept.json.message).toMatch(/read-only.*nothing was saved/i);

    const retriedBefore = await retried();
    const alarms = [1, 2, 3, 4].map((i) => h.alert({ residentId: `res_ro_${i}`, priority: i === 4 ? 4 : 1 }));
    for (const a of alarms) await h.publish(a);
    await h.publish(alarms[0] as (typeof alarms)[0]);
    // Refused for a while: nothing of them is committed, and the attempts back off.
    const refusedFor = 6_000;
    await new Promise((resolve) => setTimeout(resolve, refusedFor));
    const during = await allCases();
    expect(during.flatMap((c) => c.alertIds)).not.toContain(alarms[0]?.id);
    const attempts = (await retried()) - retriedBefore;
    expect(attempts, `${attempts} attempts of 4 alerts in ${refusedFor} ms`).toBeLessThanOrEqual(4 * 12);

    // Said once, in words, without a stack per alert.
    const told = logs.filter((l) => /read-only/.test(String(l.msg)));
    expect(told.map((l) => l.msg)).toHaveLength(1);
    expect(told[0]?.msg).toMatch(/^PostgreSQL is read-only \(a standby\?/);
    const warnings = logs.filter((l) => l.level >= 40 && JSON.stringify(l).includes('25006'));
    const stacks = warnings.filter((l) => JSON.stringify(l).includes('    at '));
    expect(stacks.map((l) => `${l.component}: ${l.msg}`)).toEqual([]);

    await server.alterSystem('default_transaction_read_only', undefined);
    await waitFor(
      async () => {
        const ids = new Set((await allCases()).flatMap((c) => c.alertIds));
        return alarms.every((a) => ids.has(a.id));
      },
      { timeoutMs: 40_000, intervalMs: 200, what: 'every alert raised while read-only in a case' },
    );
    const ids = (await allCases()).flatMap((c) => c.alertIds);
    expect(new Set(ids).size).toBe(ids.length);
    await waitFor(async () => (await readyz()).status === 200, { timeoutMs: 10_000, what: '/readyz back' });
    expect((await h.api(`/api/cases/${waiting.id}/accept`, { method: 'POST' })).status).toBe(200);
    expect(logs.some((l) => /PostgreSQL takes writes again/.test(String(l.msg)))).toBe(true);
    // A session that was refused was closed, not kept: its replacement connects anew, and so reaches
    // the new primary when the server's name has moved to it.
    const after = new Set(await sessions());
    expect(before.filter((pid) => !after.has(pid)).length).toBeGreaterThan(0);
  }, 90_000);

  it('the console says the case database refuses writes and actions are not saved, and is live again after (Chromium)', async () => {
    await h.user('rita', 'operator');
    browser = await launchChromium();
    const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    await page.goto(h.helpline.url);
    await page.fill('#username', 'rita');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForSelector('#status:text("live")');

    await server.alterSystem('default_transaction_read_only', 'on');
    const status = page.locator('#status');
    await expect
      .poll(() => status.textContent(), { timeout: 10_000 })
      .toMatch(/case database refuses writes: .*actions are not saved/);
    expect(await status.getAttribute('class')).toBe('bad');

    await server.alterSystem('default_transaction_read_only', undefined);
    await expect.poll(() => status.textContent(), { timeout: 20_000 }).toBe('live');
  }, 60_000);
});

describe('PostgreSQL takes no more connections (53300)', () => {
  it('keeps alerts unacknowledged while no connection is had, says why once, and commits each once after', async () => {
    // Every connection the helpline holds is cut and no new one is let in: as when other clients
    // took every slot while it reconnected after a failover.
    const from = logs.length;
    await admin.query(`alter role ${ROLE} connection limit 0`);
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [ROLE]);
    const alarms = [1, 2, 3].map((i) => h.alert({ residentId: `res_full_${i}`, priority: 1 }));
    for (const a of alarms) await h.publish(a);
    const notReady = await waitFor(
      async () => {
        const r = await readyz();
        return r.status === 503 && r;
      },
      { timeoutMs: 10_000, what: '/readyz to fail while no connection is let in' },
    );
    expect(JSON.stringify(notReady.json)).toMatch(/takes no more connections/);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect((await admin.query('select 1 from pg_stat_activity where usename = $1', [ROLE])).rowCount).toBe(0);
    expect(logs.filter((l) => /takes no more connections/.test(String(l.msg)))).toHaveLength(1);
    // Said once: no warning per alert or per timer tick for the refusal, and no stack of it; the
    // sessions cut are a warning each, where the server ended them (57P01, or its message where only
    // that is logged) or a statement in flight lost its connection with them.
    const warned = logs.slice(from).filter((l) => l.level >= 40);
    const cut = (l: (typeof logs)[number]) =>
      /57P01|terminating connection due to administrator command|Connection terminated unexpectedly/.test(
        JSON.stringify(l.err ?? ''),
      );
    expect(warned.filter((l) => l.component !== 'postgres' && l.component !== 'api' && !cut(l))).toEqual([]);
    expect(warned.filter((l) => /too many connections/.test(JSON.stringify(l.err ?? '')))).toEqual([]);

    await admin.query(`alter role ${ROLE} connection limit -1`);
    await waitFor(
      async () => {
        const ids = new Set((await allCases()).flatMap((c) => c.alertIds));
        return alarms.every((a) => ids.has(a.id));
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'every alert raised while refused a connection in a case' },
    );
    const ids = (await allCases()).flatMap((c) => c.alertIds);
    expect(new Set(ids).size).toBe(ids.length);
    await waitFor(async () => (await readyz()).status === 200, { timeoutMs: 10_000, what: '/readyz back' });
  }, 60_000);
});

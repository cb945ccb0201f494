import { OwnPostgres, waitFor } from '@telecare/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium } from './harness.ts';

/**
 * The helpline while its PostgreSQL is down for a while (a crash, then a restart that takes
 * seconds): alarms raised meanwhile become cases once it is back, each once, at once; and the
 * console says the queue cannot be trusted while it is down.
 */
// Long enough that the redelivery backoff (1 s doubling) has grown past several seconds.
const OUTAGE_MS = 16_000;
// An alarm committed within this of the database answering again.
const ALARM_BACK_WITHIN_MS = 5_000;

let server: OwnPostgres;
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser | undefined;

beforeAll(async () => {
  server = await OwnPostgres.start();
  h = await helplineHarness('pgoutage', {
    DATABASE_URL: server.url,
    PRESENCE_ON_LOGIN: 'available',
    // Pings every second: the console hears of the outage within a couple of seconds.
    PRESENCE_TIMEOUT_S: '3',
  });
  await h.start();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
  server?.destroy();
});

/** An element's text, or '' while the page has none (a locator would wait for it). */
type Doc = { document: { getElementById(id: string): { textContent: string | null } | null } };
const textOf = (page: Page, id: string) =>
  page.evaluate((i) => (globalThis as unknown as Doc).document.getElementById(i)?.textContent ?? '', id);

const allCases = async () =>
  (await h.api('/api/cases?state=all&limit=500')).json as {
    id: string;
    residentId: string;
    state: string;
    alertIds: string[];
    presses: number;
  }[];

describe('PostgreSQL down for a while', () => {
  it('commits every alarm raised during the outage once, within seconds of the database answering', async () => {
    const first = h.alert({ residentId: 'res_out_rep', priority: 1 });
    await h.publish(first);
    await h.caseOf('res_out_rep');

    await server.crash();
    const alarms = [1, 2, 3, 4].map((i) => h.alert({ residentId: `res_out_${i}`, priority: i % 2 ? 1 : 2 }));
    // The resident presses again while the database is down: the repeat must reach the case.
    const repeat = h.alert({ residentId: 'res_out_rep', priority: 1, repeats: { alertId: first.id } });
    for (const a of [...alarms, repeat]) await h.publish(a);
    // A second copy of one of them (a republish) must change nothing.
    await h.publish(alarms[0] as (typeof alarms)[0]);
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    expect((await fetch(new URL('/readyz', h.helpline.url))).status).toBe(503);

    server.start();
    const back = Date.now();
    const expected = [...alarms, repeat].map((a) => a.id);
    await waitFor(
      async () => {
        const ids = new Set((await allCases()).flatMap((c) => c.alertIds));
        return expected.every((id) => ids.has(id));
      },
      { timeoutMs: 40_000, intervalMs: 100, what: 'every alarm raised during the outage in a case' },
    );
    const took = Date.now() - back;
    expect(took, `alarms committed ${took} ms after the database came back`).toBeLessThan(
      ALARM_BACK_WITHIN_MS,
    );

    const cases = await allCases();
    const ids = cases.flatMap((c) => c.alertIds);
    expect(new Set(ids).size).toBe(ids.length);
    expect(cases.filter((c) => c.residentId === 'res_out_rep')).toMatchObject([{ presses: 2 }]);
    expect((await fetch(new URL('/readyz', h.helpline.url))).status).toBe(200);
  }, 60_000);

  it('the console says the queue cannot be trusted while the database is down, and live again after', async () => {
    await h.user('olive', 'operator');
    browser = await launchChromium();
    const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    await page.goto(h.helpline.url);
    await page.fill('#username', 'olive');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForSelector('#status:text("live")');

    await server.crash();
    // The stream follows CASES, not PostgreSQL, so it stays open: "live" over a queue nothing
    // can reach would be a stale all-clear.
    const status = page.locator('#status');
    await expect.poll(() => status.textContent(), { timeout: 8_000 }).toMatch(/database.*out of date/i);
    expect(await status.getAttribute('class')).toBe('bad');

    // The laptop loses its network for a moment: the console cannot tell why, and says so.
    const context = page.context();
    await context.setOffline(true);
    await expect.poll(() => status.textContent(), { timeout: 8_000 }).toMatch(/not answering/);
    await context.setOffline(false);
    // A second tab opened meanwhile (or the browser restarted) says why it shows no queue.
    const second = await context.newPage();
    await second.goto(h.helpline.url);
    await expect
      .poll(() => textOf(second, 'unreachable'), {
        timeout: 8_000,
      })
      .toMatch(/cannot reach/i);
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    server.start();
    // Back without anyone reloading: both consoles live again.
    await expect.poll(() => status.textContent(), { timeout: 20_000 }).toBe('live');
    await expect.poll(() => textOf(second, 'status'), { timeout: 20_000 }).toBe('live');
    expect(await second.locator('#unreachable').isVisible()).toBe(false);
  }, 60_000);
});

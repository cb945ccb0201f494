import { OwnPostgres } from '@telecare/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

/**
 * The console while the helpline's PostgreSQL is down: its live stream follows CASES and stays
 * open, so it must say itself that the queue cannot be trusted, and come back by itself; and an
 * alarm that comes meanwhile, which cannot become a case, shows on every console all the same.
 */
let server: OwnPostgres;
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser | undefined;

beforeAll(async () => {
  server = await OwnPostgres.start();
  h = await helplineHarness('console-outage', {
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

describe('the console through a PostgreSQL outage (Chromium)', () => {
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

    server.start();
    // Back without anyone reloading: both consoles live again.
    await expect.poll(() => status.textContent(), { timeout: 20_000 }).toBe('live');
    await expect.poll(() => textOf(second, 'status'), { timeout: 20_000 }).toBe('live');
    expect(await second.locator('#unreachable').isVisible()).toBe(false);
  }, 60_000);

  it('an alarm that comes while the database is down shows on every console, sounds, and becomes a case after', async () => {
    await h.user('otto', 'operator');
    await h.user('opal', 'operator');
    browser ??= await launchChromium();
    const pages = [
      await signInConsole(browser, h.helpline.url, 'otto'),
      await signInConsole(browser, h.helpline.url, 'opal'),
    ];
    const cues = (page: Page) =>
      page.evaluate(() =>
        Number(
          (globalThis as unknown as Doc & { document: { body: { dataset: { cue?: string } } } }).document.body
            .dataset.cue ?? 0,
        ),
      );
    const before = await Promise.all(pages.map(cues));

    await server.crash();
    const alarm = h.alert({
      residentId: 'res_down_p1',
      priority: 1,
      deviceSerial: 'PD-DOWN-1',
      deviceKind: 'pendant',
    });
    await h.publish(alarm);
    for (const [i, page] of pages.entries()) {
      // Within a few seconds, on every console: what it is, whose, from which device, and what to do.
      await expect.poll(() => textOf(page, 'held'), { timeout: 8_000 }).toMatch(/res_down_p1/);
      const text = await textOf(page, 'held');
      expect(text).toMatch(/not yet in the queue/i);
      expect(text).toMatch(/P1/);
      expect(text).toMatch(/pendant pressed/i);
      expect(text).toMatch(/PD-DOWN-1/);
      expect(text).toMatch(/call the resident from your phone system/i);
      expect(text).toMatch(/becomes a case when the database takes writes again/i);
      expect(await page.locator('#held').isVisible()).toBe(true);
      // It sounds as a new P1 does, and again while it waits.
      await expect.poll(() => cues(page), { timeout: 5_000 }).toBeGreaterThan(before[i] as number);
      const sounded = await cues(page);
      await expect.poll(() => cues(page), { timeout: 15_000 }).toBeGreaterThan(sounded);
    }

    server.start();
    const made = await h.caseOf('res_down_p1');
    expect(made).toBeDefined();
    for (const page of pages)
      await expect.poll(() => page.locator('#held').isVisible(), { timeout: 20_000 }).toBe(false);
  }, 90_000);
});

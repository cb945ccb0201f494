import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

/**
 * A console whose network was lost while the case on its screen was answered and closed elsewhere:
 * its new stream opens with a snapshot of the open cases, which no longer holds that case, so no
 * change of it ever arrives. The case view must not go on offering to accept a case long closed.
 */
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('console-reconnect-detail', {
    TIMER_TICK_MS: '200',
    PRESENCE_ON_LOGIN: 'available',
    // The helpline ends a console's stream once its heartbeats stop for this long.
    PRESENCE_TIMEOUT_S: '3',
  });
  await h.start();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('the case view after the network comes back (Chromium)', () => {
  it('a case closed elsewhere while the console was offline is shown closed, not offered', async () => {
    const olive = await h.user('olive', 'operator');
    const page = await signInConsole(browser, h.helpline.url, 'olive');
    await h.publish(h.alert({ residentId: 'res_reconnect_detail', priority: 1 }));
    const c = await h.caseOf('res_reconnect_detail');
    // Offered to Olive, the only operator there: it opens on her screen by itself.
    await expect.poll(async () => (await h.detail(c.id)).offeredTo, { timeout: 10_000 }).toBe(olive.id);
    await page.locator('#detail #accept').waitFor({ timeout: 10_000 });

    // Her network goes: her heartbeats stop, the helpline takes the offer back and ends her stream.
    await page.context().setOffline(true);
    await expect.poll(async () => (await h.detail(c.id)).offeredTo, { timeout: 15_000 }).toBeNull();
    // Her console has given its stream up (it says it is reconnecting): whatever changes now
    // reaches her only through the new stream she opens once back.
    await expect
      .poll(() => page.locator('#status').textContent(), { timeout: 30_000 })
      .toMatch(/reconnecting|not answering for/);
    // A supervisor answers it and closes it meanwhile.
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST' })).status).toBe(200);
    const resolved = await h.api(`/api/cases/${c.id}/resolve`, {
      method: 'POST',
      body: { outcome: 'false-alarm', reason: 'pressed by mistake' },
    });
    expect(resolved.status, JSON.stringify(resolved.json)).toBe(200);

    await page.context().setOffline(false);
    await page.waitForSelector('#status:text("live")', { timeout: 30_000 });
    // Back live: the case on her screen is the case as it is, resolved, with nothing to accept.
    await page.locator('#detail .state.resolved, #detail .state.closed').first().waitFor({ timeout: 15_000 });
    expect(await page.locator('#detail #accept').count()).toBe(0);
    await page.context().close();
  }, 120_000);
});

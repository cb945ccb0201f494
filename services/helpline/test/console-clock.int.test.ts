import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium } from './harness.ts';

// An operator's PC whose clock is three minutes slow (or fast) still shows each alarm's wait as
// the helpline counts it: the answer clock, "over 60 seconds", and a call-back's time.
const SKEW_MS = -3 * 60_000;

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('console-clock', { PRESENCE_ON_LOGIN: 'available' });
  await h.start();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('the console on a PC whose clock is wrong', () => {
  it('counts the answer clock and a call-back from the helpline’s time, not the PC’s', async () => {
    await h.user('petra', 'operator');
    const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    await page.clock.install({ time: Date.now() + SKEW_MS });
    await page.goto(h.helpline.url);
    await page.fill('#username', 'petra');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForSelector('#status:text("live")');

    // A press that has waited 90 s by the helpline's clock.
    await h.publish(
      h.alert({ residentId: 'res_clock_1', raisedAt: new Date(Date.now() - 90_000).toISOString() }),
    );
    const wait = page.locator('.case .wait').first();
    await expect.poll(async () => (await wait.count()) > 0, { timeout: 10_000 }).toBe(true);
    await expect
      .poll(
        async () => {
          const [m, s] = ((await wait.textContent()) ?? '0:00').split(':').map(Number);
          return (m ?? 0) * 60 + (s ?? 0);
        },
        { timeout: 5_000 },
      )
      .toBeGreaterThanOrEqual(90);
    expect(await wait.getAttribute('class')).toContain('long');

    // A call-back in 15 minutes is 15 minutes from the helpline's now, not from the PC's.
    const id = (await h.caseOf('res_clock_1')).id;
    await page.click('#accept');
    await page.waitForSelector('#hold-form');
    await page.fill('#hold-reason', 'resident asked to be called back');
    await page.click('button[data-act="hold"]');
    await expect
      .poll(async () => (await h.detail(id)).hold?.until ?? null, { timeout: 10_000 })
      .not.toBeNull();
    const held = Date.parse((await h.detail(id)).hold.until);
    expect(Math.abs(held - (Date.now() + 15 * 60_000))).toBeLessThan(30_000);
  }, 60_000);
});

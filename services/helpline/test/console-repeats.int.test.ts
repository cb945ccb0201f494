import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Alert } from '@telecare/contracts';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium } from './harness.ts';

// A resident pressing again while the case waits: the console says so in words on the card and in
// the case's timeline, and sounds again. Chromium against the real helpline.
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('conrepeat', { TIMER_TICK_MS: '1000' });
  await h.start();
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('console: a resident pressing again', () => {
  it('shows "pressed 3 times" with the last time on the card and in the case, and sounds each time', async () => {
    await h.user('petra', 'operator');
    const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    await page.goto(h.helpline.url);
    await page.fill('#username', 'petra');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForSelector('#status:text("live")');

    const residentId = `res_conrep${Date.now().toString(36)}`;
    const first = h.alert({
      residentId,
      reason: 'Lifeline pendant pressed: pendant (rule trigger.pendant v1)',
    });
    await h.publish(first);
    const card = page.locator('.case.p1');
    await card.waitFor();
    await expect.poll(() => card.locator('.pressed').count()).toBe(0);
    const cues = async () => Number((await page.locator('body').getAttribute('data-cue')) ?? '0');
    const before = await cues();

    const repeats: Alert[] = [];
    for (const s of [20, 41]) {
      const repeat = h.alert({
        residentId,
        raisedAt: new Date(Date.parse(first.raisedAt) + s * 1000).toISOString(),
        reason: `Lifeline pendant pressed; pressed again ${s} s after the first press`,
        repeats: { alertId: first.id },
      });
      repeats.push(repeat);
      await h.publish(repeat);
    }
    await card.locator('.pressed', { hasText: 'pressed 3 times, last' }).waitFor({ timeout: 10_000 });
    expect(await card.locator('.pressed').textContent()).toBe(
      `pressed 3 times, last ${await page.evaluate((iso) => new Date(iso).toLocaleTimeString(), repeats[1]?.raisedAt ?? '')}`,
    );
    // Each repeat sounded on this console.
    expect(await cues()).toBeGreaterThanOrEqual(before + 2);

    await card.click();
    await page.locator('#presses', { hasText: 'pressed 3 times' }).waitFor();
    const timeline = page.locator('#detail', { hasText: 'pressed again: 3 presses, last' });
    await timeline.waitFor();
    expect(await page.locator('#detail').textContent()).toContain('pressed again: 2 presses, last');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}console-repeats.png` });
  });
});

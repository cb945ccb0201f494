import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Alert } from '@telecare/contracts';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

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
  it('shows "pressed 3 times" with the last time on the card and in the case, and sounds again', async () => {
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
    // The repeats sounded on this console: the first at once, the second, within ten seconds of
    // it, counted on the card (below, a flood of them).
    expect(await cues()).toBeGreaterThanOrEqual(before + 1);

    await card.click();
    await page.locator('#presses', { hasText: 'pressed 3 times' }).waitFor();
    const timeline = page.locator('#detail', { hasText: 'pressed again: 3 presses, last' });
    await timeline.waitFor();
    expect(await page.locator('#detail').textContent()).toContain('pressed again: 2 presses, last');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}console-repeats.png` });
  });
});

describe('console: a stolen pendant pressing as fast as its device may', () => {
  it('sounds a case’s repeats at most once in ten seconds, while a new P1 of another home still sounds at once', async () => {
    await h.user('rosa', 'operator');
    const page = await signInConsole(browser, h.helpline.url, 'rosa');
    await page.waitForSelector('#status:text("live")');
    const cues = async () => Number((await page.locator('body').getAttribute('data-cue')) ?? '0');

    const flooded = `res_conflood${Date.now().toString(36)}`;
    const first = h.alert({
      residentId: flooded,
      reason: `Lifeline pendant pressed: pendant of ${flooded} (rule trigger.pendant v2)`,
    });
    await h.publish(first);
    const card = page.locator(`.case.p1[title="${first.reason}"]`);
    await card.waitFor();
    await expect.poll(cues).toBeGreaterThanOrEqual(1);
    const before = await cues();

    // Thirty presses in a few seconds: each joins the case as a repeat (the gateway admits 20/s).
    const presses = 30;
    for (let i = 1; i <= presses; i++) {
      await h.publish(
        h.alert({
          residentId: flooded,
          raisedAt: new Date(Date.parse(first.raisedAt) + i * 100).toISOString(),
          reason: `Lifeline pendant pressed; pressed again ${i / 10} s after the first press`,
          repeats: { alertId: first.id },
        }),
      );
    }
    await card.locator('.pressed', { hasText: `pressed ${presses + 1} times` }).waitFor({ timeout: 15_000 });
    // Every press is counted on the card; the console sounded the first repeat, not thirty.
    expect(await cues()).toBeLessThanOrEqual(before + 2);
    expect(await cues()).toBeGreaterThanOrEqual(before + 1);

    // Another home's press in the middle of the flood is still heard at once.
    const heard = await cues();
    await h.publish(
      h.alert({ residentId: `res_conother${Date.now().toString(36)}`, reason: 'Fall detected' }),
    );
    await expect.poll(cues, { timeout: 10_000 }).toBe(heard + 1);
  });
});

/**
 * Run in the page before its own scripts: notes each sound state the console shows, with whether
 * the banner showed with it, so a test reads what was said without its look changing it.
 */
const SOUND_RECORDER = {
  content: `(() => {
    const said = [];
    window.saidSound = said;
    new MutationObserver(() => {
      const sound = document.body?.dataset.sound;
      if (sound === said.at(-1)?.sound) return;
      said.push({ sound, banner: document.getElementById('sound-off')?.classList.contains('hidden') === false });
    }).observe(document, { attributes: true, attributeFilter: ['data-sound'], subtree: true });
  })();`,
};

/** The first sound state the console showed since it was loaded. */
const firstSound = (page: Page) => page.evaluate('window.saidSound?.[0]');

/** Reloads the console and waits, without looking into the page, until it opened its stream. */
async function reloaded(page: Page): Promise<void> {
  const stream = page.waitForRequest((request) => new URL(request.url()).pathname === '/api/stream');
  await page.reload({ waitUntil: 'commit' });
  await stream;
}

describe('console: sound the browser holds back', () => {
  it('says the alarm sound is off when the console comes back with no click, and turns it on at one', async () => {
    // The browser's own rule, as a desktop Chrome applies it to a page the operator has not used:
    // no sound until a click or a key press on it.
    const strict = await launchChromium(['--autoplay-policy=document-user-activation-required']);
    try {
      await h.user('quentin', 'operator');
      const page = await signInConsole(strict, h.helpline.url, 'quentin');
      // Signing in was a click: sound plays and nothing is said about it.
      await expect.poll(() => page.locator('body').getAttribute('data-sound')).toBe('on');
      expect(await page.locator('#sound-off').isVisible()).toBe(false);

      // The console reloaded in the night (the session cookie signs it in again): no click on
      // it yet, so the browser holds its sound. Before, every tone was then lost without a word.
      // Nothing is asked of the page until its stream opens (the sound is armed before it):
      // Playwright's first look into a page counts, to Chromium, as the user having been there.
      // Every look a test takes into the page may count as the user there, and let the held sound
      // start: what the console said is recorded by the page itself as it says it.
      await page.addInitScript(SOUND_RECORDER);
      await reloaded(page);
      await expect.poll(() => firstSound(page), { timeout: 10_000 }).toEqual({ sound: 'off', banner: true });
      expect(await page.locator('#sound-off').textContent()).toContain('Alarm sound is off');

      // The banner's button, while it shows (the look above may have let the sound start already).
      await page
        .locator('#sound-on')
        .click({ timeout: 2_000 })
        .catch(() => undefined);
      await expect.poll(() => page.locator('body').getAttribute('data-sound')).toBe('on');
      expect(await page.locator('#sound-off').isVisible()).toBe(false);

      // Any key on the page turns it on as well (an operator working from the keyboard).
      await reloaded(page);
      await expect.poll(() => firstSound(page), { timeout: 10_000 }).toEqual({ sound: 'off', banner: true });
      await page.keyboard.press('Shift');
      await expect.poll(() => page.locator('body').getAttribute('data-sound')).toBe('on');
      expect(await page.locator('#sound-off').isVisible()).toBe(false);
    } finally {
      await strict.close();
    }
  });
});

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// The case view carries the newest CASE_VIEW_NOTES notes of a case: the console says how many
// older ones there are and reads them a page at a time when the operator asks. Chromium against
// the real helpline.
const SHOWN = 3;
const NOTES = 7;
// A browser on a loaded two-core machine: the bound is about load, not about the console.
const TEST_TIMEOUT_MS = 90_000;

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('connotes', { CASE_VIEW_NOTES: String(SHOWN) });
  await h.start();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('console: a case with more notes than its view carries', () => {
  it(
    'shows the newest notes, says how many older ones there are, and shows them when asked',
    async () => {
      const op = await h.user('nora', 'operator');
      const page = await signInConsole(browser, h.helpline.url, 'nora');
      const residentId = `res_connotes${Date.now().toString(36)}`;
      await h.publish(h.alert({ residentId }));
      const c = await h.caseOf(residentId);
      expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: op.cookie })).status).toBe(200);
      for (let i = 1; i <= NOTES; i++)
        expect(
          (
            await h.api(`/api/cases/${c.id}/notes`, {
              method: 'POST',
              body: { text: `note ${i}` },
              as: op.cookie,
            })
          ).status,
        ).toBe(201);
      await page.locator(`.case[data-id="${c.id}"]`).click();
      const notes = page.locator('#timeline tr[data-kind="note"]');
      const leftOut = page.locator('#notes-left-out');
      await expect
        .poll(() => leftOut.textContent(), { timeout: 30_000 })
        .toContain(`${NOTES - SHOWN} older notes`);
      expect(await notes.allTextContents()).toEqual(
        Array.from({ length: SHOWN }, (_, i) => expect.stringContaining(`note ${NOTES - SHOWN + 1 + i}`)),
      );
      await page.locator('#show-older-notes').click();
      await expect.poll(() => notes.count(), { timeout: 30_000 }).toBe(NOTES);
      expect(await notes.allTextContents()).toEqual(
        Array.from({ length: NOTES }, (_, i) => expect.stringContaining(`note ${i + 1}`)),
      );
      expect(await leftOut.count()).toBe(0);
    },
    TEST_TIMEOUT_MS,
  );
});

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// A supervisor watches a case a storm keeps joining alerts to: it is not in their hand, so its reads
// count against their REQUESTS_PER_MINUTE. The console read the case on screen again as soon as each
// read ended while changes kept coming (a read per round trip, each two requests), and in a storm
// spent a minute's budget in seconds: the case view, the overview and the queue's names were then
// refused, to the person watching the storm. It now reads the watched case at most once a second
// (the first change after a quiet spell at once): the view keeps up, nothing is refused.
const BUDGET = 200;
const JOINS = 150;
const JOIN_GAP_MS = 50;

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('conwatch', { REQUESTS_PER_MINUTE: String(BUDGET), OFFER_TIMEOUT_S: '600' });
  await h.start();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('a supervisor watching a case through a storm (Chromium)', () => {
  it('keeps the case view up to date without meeting the read budget', async () => {
    await h.user('sue', 'supervisor');
    const page = await signInConsole(browser, h.helpline.url, 'sue');
    const residentId = 'res_watched_storm';
    await h.publish(h.alert({ residentId, priority: 3, type: 'mains.lost' }));
    const watched = (await h.caseOf(residentId)) as { id: string };
    await page.locator(`#queue .case[data-id="${watched.id}"]`).click();
    await page.locator(`#detail[data-case-id="${watched.id}"]`).waitFor();

    const refused: string[] = [];
    let lastCount = 0;
    page.on('response', async (response) => {
      const path = new URL(response.url()).pathname;
      if (!path.startsWith('/api/')) return;
      if (response.status() === 429) refused.push(path);
      if (path === `/api/cases/${watched.id}` && response.status() === 200) {
        const body = (await response.json().catch(() => undefined)) as { alertCount?: number } | undefined;
        lastCount = Math.max(lastCount, body?.alertCount ?? 0);
      }
    });
    for (let i = 0; i < JOINS; i++) {
      await h.publish(h.alert({ residentId, priority: 3, type: 'mains.lost' }));
      await new Promise((resolve) => setTimeout(resolve, JOIN_GAP_MS));
    }
    // The view catches up with the last join (on a busy machine the alerts' way to the case and
    // the stream's frames lag the publishing by seconds).
    await expect.poll(() => lastCount, { timeout: 45_000 }).toBe(JOINS + 1);
    expect(refused).toEqual([]);
    await page.context().close();
  }, 120_000);
});

import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// The queue's names are bounded per person (QUEUE_NAMES_PER_MINUTE), and the console must never
// meet the bound in its normal use. It asks only when its queue shows a resident it has no name
// for; it used to ask again as soon as each answer came, so a storm of new cases, one every few
// hundred milliseconds, made it ask several times a second. Now it asks at most once a second
// (a quiet queue's new card still gets its name within the round trip): through the storm every
// card is named and nothing is refused.
const LIMIT = 10;
const STORM = 30;
const STORM_GAP_MS = 150;

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;
const residents: { id: string; name: string }[] = [];

beforeAll(async () => {
  h = await helplineHarness('connames', { QUEUE_NAMES_PER_MINUTE: String(LIMIT), OFFER_TIMEOUT_S: '600' });
  const registry = await h.startRegistry();
  for (let i = 0; i < STORM; i++) {
    const name = `Storm Resident ${String(i).padStart(2, '0')}`;
    const r = await h.registryApi('/api/residents', {
      name,
      address: `${i} Storm Road`,
      postcode: 'GL1 1AA',
    });
    residents.push({ id: r.id, name });
  }
  await h.start(undefined, { REGISTRY_URL: registry.url });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe("the console's names through a storm of new cases (Chromium)", () => {
  it('names every card without meeting the per-person bound', async () => {
    await h.user('sam', 'operator');
    const page = await signInConsole(browser, h.helpline.url, 'sam');
    const asked: number[] = [];
    page.on('response', (response) => {
      if (new URL(response.url()).pathname === '/api/queue/names') asked.push(response.status());
    });
    for (const r of residents) {
      await h.publish(h.alert({ residentId: r.id, priority: 2, type: 'medication.missed' }));
      await new Promise((resolve) => setTimeout(resolve, STORM_GAP_MS));
    }
    for (const r of residents)
      await page.locator('.case .meta', { hasText: r.name }).waitFor({ timeout: 10_000 });
    expect(asked.filter((status) => status === 429)).toEqual([]);
    expect(asked.length).toBeLessThanOrEqual(LIMIT);
    await page.context().close();
  }, 90_000);
});

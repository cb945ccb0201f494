import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// A revealed key-safe code is shown only through a case the operator holds: once the case is
// someone else's, or resolved, it leaves the screen. Chromium against the real registry.
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;
let residentId: string;

beforeAll(async () => {
  h = await helplineHarness('console-reveal', {
    TIMER_TICK_MS: '200',
    OFFER_TIMEOUT_S: '300',
    PRESENCE_ON_LOGIN: 'available',
  });
  const registry = await h.startRegistry();
  const resident = await h.registryApi('/api/residents', {
    name: 'Edith Reveal',
    address: '1 Test Lane, Gloucester',
    postcode: 'GL1 1AA',
    keySafe: '4721',
  });
  residentId = resident.id;
  await h.start(undefined, { REGISTRY_URL: registry.url });
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const signIn = (username: string): Promise<Page> => signInConsole(browser, h.helpline.url, username);

describe('a revealed key-safe code (Chromium)', () => {
  it('leaves the screen once the case is no longer the operator’s', async () => {
    await h.user('anna', 'operator');
    const ben = await h.user('ben', 'operator');
    const anna = await signIn('anna');
    await h.publish(h.alert({ residentId }));
    const id = (await h.caseOf(residentId)).id;
    await anna.locator(`.case[data-id="${id}"] .offer-mine`).waitFor();
    await anna.keyboard.press('a');
    await anna.locator('#detail .state.accepted').waitFor();
    await anna.click('#reveal-keySafe');
    await anna.locator('.secret', { hasText: '4721' }).waitFor();

    // The supervisor hands the case to Ben, at his console: Anna's screen still shows the case,
    // not its code.
    const benConsole = await h.openConsole(ben.cookie);
    const moved = await h.api(`/api/cases/${id}/reassign`, { method: 'POST', body: { to: ben.id } });
    expect(moved.status).toBe(200);
    await anna.locator('#detail .meta', { hasText: 'with ben name' }).waitFor();
    expect(await anna.locator('.secret').count()).toBe(0);
    expect(await anna.content()).not.toContain('4721');
    await anna.context().close();
    benConsole.close();
  }, 60_000);
});

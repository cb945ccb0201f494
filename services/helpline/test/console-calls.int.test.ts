import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium } from './harness.ts';

// Voice from the console: the case view offers a call to the home unit, the resident, each
// responder and 999; the operator starts one, the console hands its tel:/sip: link to the
// softphone, and the call's end and outcome are recorded on the case. Chromium against the real
// helpline and registry.
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;
let residentId: string;
const unit = `HUB-CON-${Date.now().toString(36).toUpperCase()}`;

beforeAll(async () => {
  h = await helplineHarness('concalls', { TIMER_TICK_MS: '60000' });
  const registry = await h.startRegistry();
  await h.start(undefined, { REGISTRY_URL: registry.url });
  residentId = (
    await h.registryApi('/api/residents', {
      name: 'Cora Caller',
      address: '5 Call Lane, Gloucester',
      postcode: 'GL1 1AA',
      phone: '01452 000222',
    })
  ).id;
  await h.registryApi(`/api/residents/${residentId}/responders`, {
    name: 'Dan Daughter',
    relationship: 'son-in-law',
    phone: '07700 900004',
  });
  await h.registryApi('/api/devices', {
    serial: unit,
    residentId,
    kind: 'home-unit',
    location: 'hallway',
    voiceUri: 'sip:unit-9@pbx.example.org',
  });
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('console: calls from the case', () => {
  it('offers the home unit first, starts a call through the softphone link and records its outcome', async () => {
    await h.user('carla', 'operator');
    const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    await page.goto(h.helpline.url);
    await page.fill('#username', 'carla');
    await page.fill('#password', 'correct horse battery');
    await page.click('button[type=submit]');
    await page.waitForSelector('#status:text("live")');

    await h.publish(h.alert({ residentId, priority: 1, type: 'pendant.pressed' }));
    const card = page.locator('.case.p1');
    await card.waitFor();
    await card.click();
    const panel = page.locator('#calls');
    await panel.waitFor();
    // Before accepting, the calls are listed but cannot be started.
    const buttons = panel.locator('button[data-target]');
    await expect.poll(() => buttons.count()).toBeGreaterThanOrEqual(4);
    expect(await buttons.first().textContent()).toMatch(/home unit/i);
    expect(await buttons.first().isDisabled()).toBe(true);
    expect(await panel.textContent()).toContain('Accept the case to call');
    // Each number shown, so it can be dialled by hand too.
    expect(await panel.textContent()).toContain('sip:unit-9@pbx.example.org');
    expect(await panel.textContent()).toContain('tel:01452000222');

    await page.click('#accept');
    await expect.poll(() => buttons.first().isDisabled(), { timeout: 10_000 }).toBe(false);
    await buttons.first().click();
    const open = panel.locator('.call-open');
    await open.waitFor({ timeout: 10_000 });
    expect(await open.textContent()).toContain('On a call with');
    expect(await page.locator('#call-started a[href="sip:unit-9@pbx.example.org"]').count()).toBe(1);
    // One call at a time: the others wait until this one ends.
    expect(await buttons.nth(1).isDisabled()).toBe(true);

    // The case view is drawn again on every change to the case: a click that meets a redraw is
    // made again, as an operator would.
    await expect
      .poll(
        async () => {
          if ((await open.count()) > 0)
            await open
              .locator('button[data-outcome="answered"]')
              .click({ timeout: 2_000 })
              .catch(() => undefined);
          return open.count();
        },
        { timeout: 20_000, interval: 1_000 },
      )
      .toBe(0);
    const caseId = (await h.caseOf(residentId)).id;
    const kinds = (
      (await h.detail(caseId)).events as { kind: string; data: Record<string, unknown> }[]
    ).filter((e) => e.kind === 'call-started' || e.kind === 'call-ended');
    expect(kinds.map((e) => e.kind)).toEqual(['call-started', 'call-ended']);
    expect(kinds[0]?.data).toMatchObject({ party: 'home-unit' });
    expect(kinds[1]?.data).toMatchObject({ outcome: 'answered' });
  }, 90_000);
});

import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// A resident pressing again more than five minutes after the first press: triage's group of
// repeats has closed, so the press is an alert of its own, and it joins the resident's open case
// (the join window, 15 minutes). To the operator it is the same as a repeat: the resident is still
// waiting and pressing. Chromium against the real helpline, an operator and a supervisor.
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;
let ann: { id: string; cookie: string; page: Page };
let sue: { id: string; cookie: string; page: Page };
const consoles = () => [ann.page, sue.page];
const cues = async (page: Page) => Number((await page.locator('body').getAttribute('data-cue')) ?? '0');
let n = 0;

/** A pendant press of `residentId`, raised `secondsAgo` (a press of its own: no `repeats`). */
const press = (residentId: string, secondsAgo = 0) => {
  n += 1;
  return h.alert({
    residentId,
    priority: 1,
    type: 'pendant.pressed',
    raisedAt: new Date(Date.now() - secondsAgo * 1000).toISOString(),
    reason: `Lifeline pendant pressed (${n})`,
  });
};

beforeAll(async () => {
  h = await helplineHarness('conpress', {
    TIMER_TICK_MS: '300',
    PRESENCE_ON_LOGIN: 'available',
    OFFER_TIMEOUT_S: '600',
    // No tone of the ladder: every tone here is the press's own.
    ESCALATE_ALL_OPERATORS_S: '3000',
    ESCALATE_SUPERVISOR_S: '3600',
    ESCALATE_OVERFLOW_S: '4200',
  });
  await h.start();
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
  const a = await h.user('ann', 'operator');
  ann = { ...a, page: await signInConsole(browser, h.helpline.url, 'ann') };
  const s = await h.user('sue', 'supervisor');
  sue = { ...s, page: await signInConsole(browser, h.helpline.url, 'sue') };
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

/** The resident's case, pressed six minutes ago and accepted by Ann, shown accepted on both consoles. */
async function acceptedCase(residentId: string) {
  await h.publish(press(residentId, 360));
  const c = await h.caseOf(residentId);
  // Queued, or offered to Ann (free or not, she may take it from the list).
  expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: ann.cookie })).status).toBe(200);
  for (const page of consoles())
    await page.locator(`#queue .case[data-id="${c.id}"][data-state="accepted"]`).waitFor({ timeout: 10_000 });
  return c;
}

describe('console: a resident pressing again after triage’s five minutes', () => {
  it('a press joining the case in hand sounds and is said on every console, as a repeat is', async () => {
    const residentId = `res_again_${Date.now().toString(36)}`;
    const c = await acceptedCase(residentId);
    const before = await Promise.all(consoles().map(cues));
    await h.publish(press(residentId));
    await expect.poll(async () => (await h.detail(c.id)).presses, { timeout: 10_000 }).toBe(2);
    for (const [i, page] of consoles().entries()) {
      await page
        .locator(`#queue .case[data-id="${c.id}"] .pressed`, { hasText: 'pressed 2 times' })
        .waitFor({ timeout: 5_000 });
      await expect.poll(() => cues(page), { timeout: 3_000 }).toBeGreaterThan(before[i] ?? 0);
      await expect
        .poll(() => page.locator('#announce').textContent(), { timeout: 3_000 })
        .toContain('pressed again');
    }
  });

  it('a press joining a case held for a call-back: back in the queue, and the timeline and every console say why', async () => {
    const residentId = `res_held_${Date.now().toString(36)}`;
    const c = await acceptedCase(residentId);
    const until = new Date(Date.now() + 15 * 60_000).toISOString();
    const held = await h.api(`/api/cases/${c.id}/hold`, {
      method: 'POST',
      as: ann.cookie,
      body: { until, reason: 'call back after her daughter arrives' },
    });
    expect(held.status).toBe(200);
    for (const page of consoles())
      await page
        .locator(`#queue .case[data-id="${c.id}"][data-state="on_hold"]`)
        .waitFor({ timeout: 10_000 });
    await h.publish(press(residentId));
    await expect.poll(async () => (await h.detail(c.id)).hold, { timeout: 10_000 }).toBeNull();
    // Ann, free again, may be offered it at once, which her console then says instead.
    await expect
      .poll(() => sue.page.locator('#announce').textContent(), { timeout: 3_000 })
      .toBe('a resident pressed again. Back in the queue from hold.');
    await sue.page.locator(`#queue .case[data-id="${c.id}"]`).click();
    await sue.page.locator(`#detail[data-case-id="${c.id}"]`).waitFor({ timeout: 5_000 });
    await sue.page
      .locator('#timeline', { hasText: 'alert joined: pendant.pressed (P1)' })
      .filter({ hasText: 'back in the queue from hold' })
      .waitFor({ timeout: 5_000 });
  });
});

import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// A case whose operator has gone, as the consoles show it: the supervisor's overview and another
// operator's queue, banner and case view, in words. Chromium against the real helpline, PostgreSQL
// and NATS; the bound is one second so the test does not wait for the real 90.
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('congone', {
    TIMER_TICK_MS: '300',
    PRESENCE_TIMEOUT_S: '3',
    HELPLINE_OPERATOR_GONE_S: '1',
    HELPLINE_OPERATOR_GONE_REQUEUE_S: '3600',
  });
  await h.start();
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const signIn = (username: string): Promise<Page> => signInConsole(browser, h.helpline.url, username);

const text = async (page: Page, selector: string) =>
  (await page
    .locator(selector)
    .first()
    .textContent({ timeout: 1_000 })
    .catch(() => '')) ?? '';

describe('console: a case whose operator has gone', () => {
  it('is shown on the supervisor view and on every operator console', async () => {
    const anna = await h.user('anna', 'operator');
    await h.user('ben', 'operator');
    await h.user('sue', 'supervisor');
    await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: anna.cookie });
    const annaConsole = await h.openConsole(anna.cookie);
    await h.publish(h.alert({ residentId: 'res_cgone_1', priority: 1 }));
    const c = await h.caseOf('res_cgone_1');
    await expect.poll(async () => (await h.detail(c.id)).offeredTo, { timeout: 10_000 }).toBe(anna.id);
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: anna.cookie })).status).toBe(200);

    // Anna's PC crashes: her tab's stream closes.
    annaConsole.close();
    await expect
      .poll(async () => (await h.detail(c.id)).operatorGone?.operatorId, { timeout: 10_000 })
      .toBe(anna.id);

    const sue = await signIn('sue');
    await expect
      .poll(() => text(sue, '#overview-gone'), { timeout: 15_000 })
      .toMatch(/P1 .*accepted: nobody on it.*anna name has had no console since/);
    expect(await text(sue, '#overview-queue')).toContain('1 with nobody on it');
    expect(await text(sue, '#overview-operators')).toContain('gone with a case in hand');

    const ben = await signIn('ben');
    await expect
      .poll(() => text(ben, '#queue .case[data-operator-gone="true"]'), { timeout: 15_000 })
      .toMatch(/nobody on it: anna name gone since/);
    expect(await text(ben, '#escalation')).toMatch(
      /1 case with nobody on it \(operator gone, P1\) — supervisor to reassign/,
    );
    await ben.click(`#queue .case[data-id="${c.id}"]`);
    await expect.poll(() => text(ben, '#operator-gone'), { timeout: 10_000 }).toMatch(/tell your supervisor/);
    mkdirSync(ARTIFACTS, { recursive: true });
    await sue.screenshot({ path: `${ARTIFACTS}console-operator-gone.png` });
  });

  it('shows a P1 back in the queue unanswered as waiting since it came back, not since its raise', async () => {
    await h.user('fay', 'operator');
    const fay = await signIn('fay');
    // Raised ten minutes ago; answered; its call-back now due.
    await h.publish(
      h.alert({
        residentId: 'res_cgone_back',
        priority: 1,
        raisedAt: new Date(Date.now() - 600_000).toISOString(),
      }),
    );
    const c = await h.caseOf('res_cgone_back');
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST' })).status).toBe(200);
    const held = await h.api(`/api/cases/${c.id}/hold`, {
      method: 'POST',
      body: { until: new Date(Date.now() + 1_000).toISOString(), reason: 'call back in a moment' },
    });
    expect(held.status).toBe(200);
    await expect.poll(async () => (await h.detail(c.id)).requeuedAt, { timeout: 10_000 }).not.toBeNull();
    const wait = fay.locator(`#queue .case[data-id="${c.id}"] .wait`);
    await expect
      .poll(async () => (await wait.textContent({ timeout: 1_000 }).catch(() => '')) ?? '', {
        timeout: 10_000,
      })
      .toMatch(/^back 0:\d\d$/);
    expect(await wait.getAttribute('aria-label')).toMatch(/^back in the queue 0:\d\d, answered before$/);
    expect(await wait.getAttribute('class')).not.toContain('long');
    // Not "P1 waiting > 60 s (longest 10:…)" the moment it is back: its ladder starts again.
    expect(await text(fay, '#escalation')).not.toMatch(/P1 waiting|P1 escalated/);
    expect((await h.detail(c.id)).escalationStep).toBe(0);
    // Answered and closed, so the next test's queue holds only its own case.
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST' })).status).toBe(200);
    const resolved = await h.api(`/api/cases/${c.id}/resolve`, {
      method: 'POST',
      body: { outcome: 'false-alarm', reason: 'pressed by mistake' },
    });
    expect(resolved.status, JSON.stringify(resolved.json)).toBe(200);
  });

  it('signing out with an accepted P1: the console says it goes back to the queue, and it does at once', async () => {
    const kim = await h.user('kim', 'operator');
    const leeUser = await h.user('lee', 'operator');
    const kimPage = await signIn('kim');
    await h.publish(h.alert({ residentId: 'res_cgone_out', priority: 1 }));
    const c = await h.caseOf('res_cgone_out');
    // Whoever it is offered to (operators from the tests above are still there), Kim takes it.
    await kimPage.click(`#queue .case[data-id="${c.id}"]`, { timeout: 10_000 });
    await kimPage.click('#accept');
    await expect.poll(async () => (await h.detail(c.id)).state, { timeout: 10_000 }).toBe('accepted');
    await expect
      .poll(() => kimPage.locator(`#queue .case[data-id="${c.id}"]`).getAttribute('data-state'), {
        timeout: 10_000,
      })
      .toBe('accepted');

    // She thinks again: nothing changes.
    const said: string[] = [];
    kimPage.once('dialog', (d) => {
      said.push(d.message());
      void d.dismiss();
    });
    await kimPage.click('#logout');
    await expect.poll(() => said.length, { timeout: 5_000 }).toBe(1);
    expect(said[0]).toContain(c.id);
    expect(said[0]).toMatch(/P1.*back in the queue now/s);
    expect((await h.detail(c.id)).state).toBe('accepted');
    expect(await kimPage.locator('#logout').isVisible()).toBe(true);

    // She signs out: the case is back in the queue at once, not flagged and left as after a crash.
    kimPage.once('dialog', (d) => void d.accept());
    await kimPage.click('#logout');
    await kimPage.waitForSelector('#username');
    await expect
      .poll(async () => (await h.detail(c.id)).events.some((e: { kind: string }) => e.kind === 'requeued'), {
        timeout: 3_000,
      })
      .toBe(true);
    expect((await h.detail(c.id)).assignedTo).not.toBe(kim.id);

    // Lee has never chosen a presence, and signing in here keeps it as it was
    // (PRESENCE_ON_LOGIN=keep): her control says so rather than showing "available" (its first
    // option) while the helpline offers her nothing, as it did.
    const lee = await signIn('lee');
    const presence = lee.locator('#presence');
    await expect
      .poll(
        async () =>
          ((await h.api('/api/users')).json.users as { id: string; consoles: number }[]).find(
            (u) => u.id === leeUser.id,
          )?.consoles,
        { timeout: 10_000 },
      )
      .toBe(1);
    expect(await presence.inputValue()).toBe('');
    expect(await presence.locator('option:checked').textContent()).toMatch(/not set/);
    expect((await h.detail(c.id)).state).toBe('queued');
    // She chooses available: the P1 is offered to her at once.
    await presence.selectOption('available');
    await expect.poll(async () => (await h.detail(c.id)).offeredTo, { timeout: 10_000 }).toBe(leeUser.id);
    await expect
      .poll(() => lee.locator(`#queue .case[data-id="${c.id}"]`).getAttribute('data-state'), {
        timeout: 10_000,
      })
      .toBe('offered');
    await lee.click(`#queue .case[data-id="${c.id}"]`);
    await expect
      .poll(() => text(lee, '#timeline tr[data-kind="requeued"]'), { timeout: 10_000 })
      .toMatch(/kim name signed out: back in the queue at P1/);
    mkdirSync(ARTIFACTS, { recursive: true });
    await lee.screenshot({ path: `${ARTIFACTS}console-signed-out.png` });
  });
});

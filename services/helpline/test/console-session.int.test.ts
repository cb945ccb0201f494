import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// The console before its session's absolute end (SESSION_MAX_S after sign-in): a warning in words,
// and signing in again in place without losing the case in hand, the case view or the live stream.
// Chromium against the real helpline, PostgreSQL and NATS; SESSION_MAX_S is a few seconds more than
// the 15-minute warning, so the warning shows at once.
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const MAX_S = 15 * 60 + 4;
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('consession', {
    TIMER_TICK_MS: '300',
    PRESENCE_TIMEOUT_S: '3',
    SESSION_TTL_S: '600',
    SESSION_MAX_S: String(MAX_S),
  });
  await h.start();
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('console: a sign-in about to end', () => {
  it('warns before the end and signs in again in place, the case and the stream kept', async () => {
    const anna = await h.user('anna', 'operator');
    await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: anna.cookie });
    const page = await signInConsole(browser, h.helpline.url, 'anna');
    const context = page.context();

    await h.publish(h.alert({ residentId: 'res_csess_1', priority: 1 }));
    const c = await h.caseOf('res_csess_1');
    await expect.poll(async () => (await h.detail(c.id)).offeredTo, { timeout: 10_000 }).toBe(anna.id);
    await page.click('#accept');
    await expect.poll(async () => (await h.detail(c.id)).state, { timeout: 10_000 }).toBe('accepted');

    await expect
      .poll(() => page.locator('#session-text').textContent(), { timeout: 15_000 })
      .toMatch(
        /Your sign-in ends at \d\d?:\d\d[^(]* \(in 1[45]:\d\d\)\. Enter your password to stay signed in/,
      );
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}console-session-warning.png` });

    const cookieBefore = (await context.cookies()).find((k) => k.name === 'helpline_session')?.value;
    const streams: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/stream') streams.push(r.url());
    });

    // A wrong password says so and changes nothing.
    await page.fill('#session-password', 'not my password at all');
    await page.click('#session-renew');
    await expect
      .poll(() => page.locator('#session-error').textContent(), { timeout: 5_000 })
      .toBe('wrong password');

    await page.fill('#session-password', 'correct horse battery');
    await page.click('#session-renew');
    await expect
      .poll(() => page.locator('#notice').textContent(), { timeout: 5_000 })
      .toMatch(/Signed in again/);
    const cookieAfter = (await context.cookies()).find((k) => k.name === 'helpline_session')?.value;
    expect(cookieAfter).toBeTruthy();
    expect(cookieAfter).not.toBe(cookieBefore);
    // The old session is over; the page goes on with the new one.
    expect((await h.api('/api/me', { as: `cookie:helpline_session=${cookieBefore}` })).status).toBe(401);
    expect((await h.api('/api/me', { as: `cookie:helpline_session=${cookieAfter}` })).status).toBe(200);

    // Several ping rounds later: the same stream (never reopened), still live, the case still hers
    // and still on screen, her console still counted.
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect(streams).toEqual([]);
    expect(await page.locator('#status').textContent()).toBe('live');
    expect(await page.locator('#login').isHidden()).toBe(true);
    expect(await h.detail(c.id)).toMatchObject({
      state: 'accepted',
      assignedTo: anna.id,
      operatorGone: null,
    });
    expect(await page.locator('#detail').textContent()).toContain(c.id);
    const users = (await h.api('/api/users')).json.users as { id: string; consoles: number }[];
    expect(users.find((u) => u.id === anna.id)?.consoles).toBe(1);
    await context.close();
  });
});

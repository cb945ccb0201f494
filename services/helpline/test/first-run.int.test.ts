import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium } from './harness.ts';

const ADMIN = { email: 'Admin@Example.org', password: 'first-run-password-1' };
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('hlfirst', {
    HELPLINE_ADMIN_EMAIL: ADMIN.email,
    HELPLINE_ADMIN_PASSWORD: ADMIN.password,
    PRESENCE_ON_LOGIN: 'available',
  });
  await h.start();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('first run', () => {
  it('the seeded admin signs in, adds an operator in the console, who is available on signing in', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(h.helpline.url);
    await page.fill('#username', ADMIN.email);
    await page.fill('#password', ADMIN.password);
    await page.click('button[type=submit]');
    await page.waitForSelector('#status:text("live")');
    expect(await page.locator('#who').textContent()).toContain('(admin)');
    await page.locator(`#people tr[data-user="${ADMIN.email.toLowerCase()}"]`).waitFor();

    await page.fill('#new-username', 'olive');
    await page.fill('#new-name', 'Olive Operator');
    await page.selectOption('#new-role', 'operator');
    await page.fill('#new-password', 'olive-password-1');
    await page.click('#user-form button[type=submit]');
    await page.locator('#people tr[data-user="olive"]').waitFor();

    const login = await h.api('/api/login', {
      method: 'POST',
      body: { username: 'olive', password: 'olive-password-1' },
      as: '',
    });
    expect(login.status).toBe(200);
    // Chosen at sign-in; present once a console of theirs connects.
    expect(login.json.user).toMatchObject({
      role: 'operator',
      chosenPresence: 'available',
      presence: 'away',
    });
    // A supervisor or admin signing in is not put in the queue.
    const me = await h.api('/api/users');
    const admin = (me.json.users as { username: string; presence: string | null }[]).find(
      (u) => u.username === ADMIN.email.toLowerCase(),
    );
    expect(admin?.presence).toBeNull();
    await page.context().close();
  });

  it('an operator still busy with a case stays busy when signing in again', async () => {
    const olive = await h.api('/api/login', {
      method: 'POST',
      body: { username: 'olive', password: 'olive-password-1' },
      as: '',
    });
    const cookie = `cookie:${olive.setCookie.split(';')[0]}`;
    await h.api('/api/presence', { method: 'PUT', body: { status: 'busy' }, as: cookie });
    const again = await h.api('/api/login', {
      method: 'POST',
      body: { username: 'olive', password: 'olive-password-1' },
      as: '',
    });
    expect(again.json.user.chosenPresence).toBe('busy');
  });
});

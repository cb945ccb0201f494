import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium } from './harness.ts';

// The console opened with a personal token (`/#token=…`, as programs and the demo open it) in
// Chromium: EventSource cannot send the token in a header, and the token used to go in the
// stream's URL. The stream opens with one-use tickets instead, a new one for each connection, and
// the token is in no URL the page asks for.
let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('contoken', { TIMER_TICK_MS: '300', PRESENCE_TIMEOUT_S: '3' });
  await h.start();
  browser = await launchChromium();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('console: signed in with a token', () => {
  it('follows the queue live on a ticket, and takes a new ticket when its stream is ended', async () => {
    const tina = await h.user('tina', 'operator');
    const issued = await h.api('/api/tokens', {
      method: 'POST',
      body: { userId: tina.id, label: 'wallboard' },
    });
    expect(issued.status).toBe(201);
    const token = issued.json.token as string;

    const page = await (await browser.newContext({ viewport: { width: 1366, height: 768 } })).newPage();
    const asked: string[] = [];
    page.on('request', (r) => asked.push(r.url()));
    await page.goto(`${h.helpline.url}/#token=${encodeURIComponent(token)}`);
    await page.waitForSelector('#status:text("live")');

    await h.publish(h.alert({ residentId: 'res_ctoken_1', priority: 1 }));
    await page.locator('.case.p1').waitFor({ timeout: 10_000 });

    // A supervisor signs her out everywhere: her console (this stream) ends; the page, whose token
    // still works, opens a new stream with a new ticket and is live again.
    expect((await h.api(`/api/users/${tina.id}/logout`, { method: 'POST' })).status).toBe(200);
    await expect
      .poll(() => asked.filter((u) => new URL(u).pathname === '/api/stream').length, { timeout: 15_000 })
      .toBeGreaterThanOrEqual(2);
    await page.waitForSelector('#status:text("live")', { timeout: 15_000 });

    const streams = asked.filter((u) => new URL(u).pathname === '/api/stream');
    const tickets = streams.map((u) => new URL(u).searchParams.get('ticket'));
    for (const ticket of tickets) expect(ticket).toMatch(/^stk_/);
    expect(new Set(tickets).size).toBe(tickets.length);
    for (const url of asked) {
      expect(url).not.toContain('access_token');
      expect(url).not.toContain(token);
    }
    await page.context().close();
  });
});

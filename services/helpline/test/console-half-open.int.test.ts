import { FaultProxy } from '@telecare/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// Pings every second: a console two missed pings behind knows within about three seconds.
const PRESENCE_TIMEOUT_S = 3;
// Generous for a loaded machine, far below the offer timeout: only presence moves offers here.
const WITHIN_MS = 30_000;
const TEST_TIMEOUT_MS = 120_000;

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;
let proxy: FaultProxy;

beforeAll(async () => {
  h = await helplineHarness('console-half-open', {
    TIMER_TICK_MS: '200',
    OFFER_TIMEOUT_S: '300',
    PRESENCE_ON_LOGIN: 'available',
    PRESENCE_TIMEOUT_S: String(PRESENCE_TIMEOUT_S),
  });
  await h.start();
  // The consoles reach the helpline through a proxy that can silence their connections.
  proxy = await FaultProxy.start({ port: Number(new URL(h.helpline.url).port) });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await h?.close();
});

const signIn = (username: string): Promise<Page> => signInConsole(browser, proxy.url('http', '/'), username);

const offeredCard = (page: Page, caseId: string) =>
  page.locator(`.case[data-id="${caseId}"][data-state="offered"] .meta`, { hasText: 'offered to you' });

async function p1(residentId: string): Promise<string> {
  await h.publish(h.alert({ residentId, priority: 1, type: 'pendant.pressed' }));
  return (await h.caseOf(residentId)).id;
}

describe('a console whose connections silently die (Chromium)', () => {
  it(
    'notices the silence, connects again by itself, and is offered the press that came meanwhile',
    async () => {
      const anna = await h.user('anna', 'operator');
      const page = await signIn('anna');

      // Her laptop roams to another access point: every connection she had is silently gone (no
      // FIN, no RST), and new ones work. The browser's stream still looks open.
      expect(proxy.freezeOpen()).toBeGreaterThan(0);
      const press = await p1('res_ho_1');

      // Her console must not sit on "live" with a queue that no longer moves: it hears no ping,
      // opens a new stream, and she is there again and offered the press.
      await offeredCard(page, press).waitFor({ timeout: WITHIN_MS });
      expect(await h.detail(press)).toMatchObject({ state: 'offered', offeredTo: anna.id });
      await page.locator('#status:text("live")').waitFor({ timeout: WITHIN_MS });
      await page.context().close();
      // Done with: the next test's press is the only one waiting.
      expect((await h.api(`/api/cases/${press}/accept`, { method: 'POST' })).status).toBe(200);
      const resolve = { outcome: 'false-alarm', reason: 'test over' };
      expect((await h.api(`/api/cases/${press}/resolve`, { method: 'POST', body: resolve })).status).toBe(
        200,
      );
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'an action whose request is lost is tried again or fails in words, never hangs',
    async () => {
      const ben = await h.user('ben', 'operator');
      const page = await signIn('ben');
      const press = await p1('res_ho_2');
      await offeredCard(page, press).waitFor({ timeout: WITHIN_MS });

      // A decline (not tried again: it carries no idempotency key) that gets no answer says so,
      // and its button works again; the offer is still hers to take.
      await page.route('**/api/cases/*/decline', () => undefined);
      await page.click('#decline');
      await page.locator('#notice', { hasText: /did not answer/ }).waitFor({ timeout: WITHIN_MS });
      expect(await page.locator('#decline').isDisabled()).toBe(false);

      // The first Accept goes into a connection that never answers (sent, and nothing comes back).
      let held = 0;
      await page.route('**/api/cases/*/accept', async (route) => {
        held += 1;
        if (held === 1) return; // never answered
        await route.continue();
      });
      await page.keyboard.press('a');
      // One key for every attempt: the retry accepts it once.
      await page.locator('#detail .state.accepted').waitFor({ timeout: WITHIN_MS });
      expect(held).toBe(2);
      const after = await h.detail(press);
      expect(after).toMatchObject({ state: 'accepted', assignedTo: ben.id });
      expect((after.events as { kind: string }[]).filter((e) => e.kind === 'accepted')).toHaveLength(1);
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );
});

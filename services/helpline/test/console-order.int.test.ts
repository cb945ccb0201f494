import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// The case view reads the case again on every change of it; answers may come back in any order
// (each on a connection of its own, a slow one among them). Chromium against the real helpline.
const TEST_TIMEOUT_MS = 90_000;

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('console-order', { TIMER_TICK_MS: '300', PRESENCE_ON_LOGIN: 'available' });
  await h.start();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const signIn = (username: string): Promise<Page> => signInConsole(browser, h.helpline.url, username);

/** The page's document, typed without the DOM library (the tests run in Node). */
type Doc = { document: { activeElement: { getAttribute(name: string): string | null } | null } };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the case view under changes that overtake each other (Chromium)', () => {
  it(
    'an older read of the case arriving late never hides a press the screen already showed',
    async () => {
      await h.user('olga', 'operator');
      const page = await signIn('olga');
      const residentId = 'res_order_1';
      const first = h.alert({ residentId });
      await h.publish(first);
      const id = (await h.caseOf(residentId)).id;
      await page.locator(`.case[data-id="${id}"] .offer-mine`).waitFor();
      await page.keyboard.press('a');
      await page.locator('#detail .state.accepted').waitFor();

      // The next read of the case is slow: it is read now, and its answer arrives 3 s later.
      let slow = 0;
      await page.route(
        (url) => url.pathname === `/api/cases/${id}`,
        async (route) => {
          slow += 1;
          if (slow !== 1) return route.continue();
          const response = await route.fetch();
          await sleep(3_000);
          return route.fulfill({ response });
        },
      );
      // A colleague's note changes the case (the slow read); then the resident presses again.
      const note = await h.api(`/api/cases/${id}/notes`, { method: 'POST', body: { text: 'daughter rang' } });
      expect(note.status).toBe(201);
      await expect.poll(() => slow).toBe(1);
      await h.publish(h.alert({ residentId, repeats: { alertId: first.id } }));
      await page.locator('#presses', { hasText: 'pressed 2 times' }).waitFor({ timeout: 10_000 });

      // The slow answer (one press, before the repeat) lands: the press stays on the screen, and the
      // resolution sent from it counts both alerts.
      await sleep(3_500);
      expect(await page.locator('#presses').textContent()).toMatch(/pressed 2 times/);
      await page.selectOption('#outcome', 'reassurance-given');
      await page.fill('#resolve-reason', 'pressed twice, resident fine');
      await page.click('button[data-act="resolve"]');
      await expect.poll(async () => (await h.detail(id)).state, { timeout: 10_000 }).toBe('resolved');
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a storm on the case on screen reads it a few times, not once per change, and ends on the latest',
    async () => {
      await h.user('pavel', 'operator');
      const page = await signIn('pavel');
      const residentId = 'res_order_storm';
      await h.publish(h.alert({ residentId, priority: 3, type: 'mains.lost' }));
      const id = (await h.caseOf(residentId)).id;
      await page.locator(`.case[data-id="${id}"] .offer-mine`).waitFor();
      await page.keyboard.press('a');
      await page.locator('#detail .state.accepted').waitFor();

      // A loaded helpline: each read of the case takes 300 ms.
      let reads = 0;
      await page.route(
        (url) => url.pathname === `/api/cases/${id}`,
        async (route) => {
          reads += 1;
          const response = await route.fetch();
          await sleep(300);
          return route.fulfill({ response });
        },
      );
      // A home unit in a brownout: 60 more mains reports join the case while it is on screen.
      const STORM = 60;
      for (let i = 0; i < STORM; i++)
        await h.publish(h.alert({ residentId, priority: 3, type: 'mains.lost' }));
      await expect.poll(async () => (await h.detail(id)).alertCount, { timeout: 30_000 }).toBe(STORM + 1);
      await page.locator('#alert-count', { hasText: `of ${STORM + 1} alerts` }).waitFor({ timeout: 15_000 });
      // One read at a time, and one more for whatever changed meanwhile: never one per change.
      expect(reads).toBeLessThan(STORM / 2);
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'an action refused because a colleague has the case says who has it',
    async () => {
      const quinn = await h.user('quinn', 'operator');
      await h.user('rosa', 'operator');
      const quinnPage = await signIn('quinn');
      const rosaPage = await signIn('rosa');
      await h.publish(h.alert({ residentId: 'res_order_who' }));
      const id = (await h.caseOf('res_order_who')).id;
      await quinnPage.locator(`.case[data-id="${id}"] .offer-mine`).waitFor();
      expect((await h.detail(id)).offeredTo).toBe(quinn.id);

      // Rosa opens the same case and presses Accept: refused, and the screen says whose it is.
      await rosaPage.click(`#queue .case[data-id="${id}"]`);
      await rosaPage.click('#accept');
      await rosaPage.locator('#notice', { hasText: 'offered to another operator' }).waitFor();
      expect(await rosaPage.locator('#notice').textContent()).toContain('quinn name');
      for (const page of [quinnPage, rosaPage]) await page.context().close();
      // Done with: the next test's press is the only one waiting.
      expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST' })).status).toBe(200);
      const resolve = { outcome: 'false-alarm', reason: 'test over' };
      expect((await h.api(`/api/cases/${id}/resolve`, { method: 'POST', body: resolve })).status).toBe(200);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'the keyboard stays on the button it was on when the case changes under it',
    async () => {
      await h.user('tess', 'operator');
      const page = await signIn('tess');
      const residentId = 'res_order_keys';
      await h.publish(h.alert({ residentId }));
      const id = (await h.caseOf(residentId)).id;
      await page.locator(`.case[data-id="${id}"] .offer-mine`).waitFor();
      await page.keyboard.press('a');
      await page.locator('#detail .state.accepted').waitFor();

      // She tabs to the emergency call button (no id of its own) and, as she reaches it, the
      // resident presses again: the case view is drawn again with the press.
      const call = page.locator('#detail button[data-act^="call-start-"]').last();
      await call.waitFor();
      await call.focus();
      const act = await call.getAttribute('data-act');
      await h.publish(h.alert({ residentId, priority: 1 }));
      await expect.poll(async () => (await h.detail(id)).alertCount, { timeout: 10_000 }).toBe(2);
      await page.locator('#alert-count, ul.because li:nth-child(2)').first().waitFor({ timeout: 10_000 });
      await expect
        .poll(() =>
          page.evaluate(
            () =>
              (globalThis as unknown as Doc).document.activeElement?.getAttribute('data-act') ?? 'nothing',
          ),
        )
        .toBe(act);
      await page.context().close();
    },
    TEST_TIMEOUT_MS,
  );
});

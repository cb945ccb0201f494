import { waitFor } from '@telecare/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium, signInConsole } from './harness.ts';

// A console behind other programs: the operator keeps a CRM or a phone app in front, and the
// console's tab is not. Nothing on the page is seen then; the tab's (or the taskbar's) title is.
// Headless Chromium keeps every page visible, so "behind" is a second tab brought to the front
// with focus emulation off: the console's page loses focus, as a window behind another does.
const TEST_TIMEOUT_MS = 60_000;

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;
let page: Page;
let ann: { id: string; cookie: string };
let n = 0;

const rid = (label: string) => {
  n += 1;
  return `res_bg_${label}_${n}x`;
};

async function raise(label: string, priority: 1 | 2 | 3): Promise<string> {
  const residentId = rid(label);
  await h.publish(
    h.alert({
      residentId,
      priority,
      type: priority === 1 ? 'pendant.pressed' : priority === 2 ? 'flood.detected' : 'mains.lost',
    }),
  );
  return (await h.caseOf(residentId)).id;
}

const title = () => page.title();

beforeAll(async () => {
  h = await helplineHarness('conbg', {
    TIMER_TICK_MS: '300',
    OFFER_TIMEOUT_S: '600',
    ESCALATE_ALL_OPERATORS_S: '3000',
    ESCALATE_SUPERVISOR_S: '3600',
    ESCALATE_OVERFLOW_S: '4200',
  });
  await h.start();
  ann = await h.user('ann', 'operator');
  browser = await launchChromium(['--autoplay-policy=no-user-gesture-required']);
  page = await signInConsole(browser, h.helpline.url, 'ann');
  // Playwright makes every page believe it has focus; a real window behind another has none.
  await (await page.context().newCDPSession(page)).send('Emulation.setFocusEmulationEnabled', {
    enabled: false,
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

describe('a console behind other programs (Chromium)', () => {
  it(
    'the title counts the P1s and P2s waiting, and says NEW P1 while the console is not in front',
    async () => {
      await page.bringToFront();
      await expect.poll(title).toBe('Helpline console');
      const p3 = await raise('mains', 3);
      await page.locator(`#queue .case[data-id="${p3}"]`).waitFor();
      expect(await title()).toBe('Helpline console');

      const first = await raise('press', 1);
      await expect.poll(title).toBe('1 P1 waiting — Helpline console');
      await raise('flood', 2);
      await expect.poll(title).toBe('1 P1 · 1 P2 waiting — Helpline console');

      // Another program in front: a new press is said in the title, where the operator can see it.
      const crm = await page.context().newPage();
      await crm.bringToFront();
      await expect.poll(() => page.evaluate('document.hasFocus()')).toBe(false);
      await raise('press', 1);
      await expect.poll(title).toBe('NEW P1 · 2 P1 · 1 P2 waiting — Helpline console');
      // Still there after a while in the background (nothing on a timer takes it away).
      await new Promise((r) => setTimeout(r, 1_500));
      expect(await title()).toBe('NEW P1 · 2 P1 · 1 P2 waiting — Helpline console');

      // Back in front: seen, and the counts stay.
      await page.bringToFront();
      await expect.poll(title).toBe('2 P1 · 1 P2 waiting — Helpline console');

      // Accepted, a P1 no longer counts as waiting.
      await h.api(`/api/cases/${first}/accept`, { method: 'POST', as: ann.cookie });
      await expect.poll(title).toBe('1 P1 · 1 P2 waiting — Helpline console');
      await crm.close();
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a reminder tone is due from the wall clock, however late the page’s timers run',
    async () => {
      // A P1 waits (from the test above). The page's timers are held back, as a background tab's
      // are (to once a minute after five minutes hidden): the first tick after the hold sounds at
      // once, since more than the reminder's 10 s passed on the wall clock, not 10 ticks.
      expect(await title()).toMatch(/^1 P1 /);
      const cue = async () => Number((await page.locator('body').getAttribute('data-cue')) ?? '0');
      const cdp = await page.context().newCDPSession(page);
      // Paused in the debugger, the page runs nothing: no timer, no stream event.
      await cdp.send('Debugger.enable');
      const before = await cue();
      await cdp.send('Debugger.pause');
      await new Promise((r) => setTimeout(r, 11_000));
      await cdp.send('Debugger.resume');
      const resumedAt = Date.now();
      await waitFor(async () => ((await cue()) > before ? true : undefined), {
        what: 'a reminder tone after the page ran again',
        timeoutMs: 5_000,
      });
      // Sounded at the first tick, not ten ticks (ten seconds) later.
      expect(Date.now() - resumedAt).toBeLessThan(3_000);
      await cdp.send('Debugger.disable');
    },
    TEST_TIMEOUT_MS,
  );
});

import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { CaseEvent } from '@telecare/contracts';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness, launchChromium } from './harness.ts';

// The case view's "Record" panel (the facts the reports count) and a commissioner signing in to
// the operators' console. Chromium against the real helpline.
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const REPORTS_URL = 'https://reports.example.org/';
// A browser on a loaded two-core machine: the bound is about load, not about the console.
const TEST_TIMEOUT_MS = 90_000;

let h: Awaited<ReturnType<typeof helplineHarness>>;
let browser: Browser;

beforeAll(async () => {
  h = await helplineHarness('confacts', { TIMER_TICK_MS: '1000', TELECARE_REPORTS_URL: REPORTS_URL });
  await h.start();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

async function signIn(username: string, live = true): Promise<Page> {
  // axe-core is put into the page by the test: the console's CSP (rightly) refuses inline scripts.
  const page = await (
    await browser.newContext({ viewport: { width: 1366, height: 768 }, bypassCSP: true })
  ).newPage();
  await page.goto(h.helpline.url);
  await page.fill('#username', username);
  await page.fill('#password', 'correct horse battery');
  await page.click('button[type=submit]');
  if (live) await page.waitForSelector('#status:text("live")');
  return page;
}

/** The id of the element that has the keyboard. */
const focusedId = (page: Page): Promise<string | undefined> =>
  page.evaluate(
    () =>
      (globalThis as unknown as { document: { activeElement: { id?: string } | null } }).document
        .activeElement?.id,
  );

/** Serious and critical WCAG 2.x A/AA failures axe-core finds on the page as it is now. */
async function axeFailures(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE });
  return page.evaluate(async () => {
    interface AxeResult {
      violations: { id: string; impact: string | null; nodes: { target: unknown[] }[] }[];
    }
    const axe = (globalThis as unknown as { axe: { run(o: unknown): Promise<AxeResult> } }).axe;
    const result = await axe.run({
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] },
    });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
  });
}

describe('console: recording what happened', () => {
  it(
    'records the responder, the time on the floor and the ambulance from the Record panel, by keyboard too, and shows them in words',
    async () => {
      await h.user('rita', 'operator');
      const page = await signIn('rita');
      const residentId = `res_confact${Date.now().toString(36)}`;
      await h.publish(h.alert({ residentId, raisedAt: new Date(Date.now() - 5 * 60_000).toISOString() }));
      await page.locator('.case.p1').first().click();
      await page.locator('#accept').click();
      const panel = page.locator('#record');
      await panel.waitFor();

      await page.locator('#fact-responder-arrived').click();
      const timeline = page.locator('#timeline');
      await timeline.locator('tr[data-kind="fact-recorded"]', { hasText: 'responder arrived at' }).waitFor();
      await panel.locator('[data-recorded="responder-arrived"]').waitFor();

      // The floor: minutes and who says so, from the keyboard.
      await page.locator('#floor-min').focus();
      await page.keyboard.type('40');
      await page.keyboard.press('Tab');
      expect(await focusedId(page)).toBe('floor-source');
      await page.selectOption('#floor-source', 'responder');
      await page.keyboard.press('Tab');
      expect(await focusedId(page)).toBe('fact-found-on-floor');
      await page.keyboard.press('Enter');
      await timeline
        .locator('tr[data-kind="fact-recorded"]', {
          hasText: /found on the floor at .*, about 40 min on the floor \(the responder says\)/,
        })
        .waitFor();

      // At a time typed in, a minute ago.
      const minuteAgo = new Date(Date.now() - 60_000);
      const hhmm = `${String(minuteAgo.getHours()).padStart(2, '0')}:${String(minuteAgo.getMinutes()).padStart(2, '0')}`;
      await page.locator('#fact-time').fill(hhmm);
      await page.locator('#fact-ambulance-requested').focus();
      await page.keyboard.press('Enter');
      await timeline
        .locator('tr[data-kind="fact-recorded"]', { hasText: 'ambulance requested at' })
        .waitFor();

      const c = await h.caseOf(residentId);
      const facts = ((await h.detail(c.id)).events as CaseEvent[]).filter((e) => e.kind === 'fact-recorded');
      expect(facts.map((e) => e.data.fact)).toEqual([
        'responder-arrived',
        'found-on-floor',
        'ambulance-requested',
      ]);
      expect(facts[1]?.data).toMatchObject({ onFloorMinutes: 40, source: 'responder' });
      const requested = new Date(String(facts[2]?.data.at));
      expect(requested.getHours()).toBe(minuteAgo.getHours());
      expect(requested.getMinutes()).toBe(minuteAgo.getMinutes());

      expect(await axeFailures(page)).toEqual([]);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}console-facts.png` });
    },
    TEST_TIMEOUT_MS,
  );
});

describe('console: a commissioner signs in', () => {
  it(
    'is told plainly this is the operators’ console and pointed to the reports dashboard, never left reconnecting',
    async () => {
      await h.user('carol', 'commissioner');
      const page = await signIn('carol', false);
      const elsewhere = page.locator('#elsewhere');
      await elsewhere.waitFor();
      expect(await elsewhere.locator('h2').textContent()).toBe('This is the operators’ console');
      expect(await page.locator('#reports-link').getAttribute('href')).toBe(REPORTS_URL);
      // Still so a few seconds later: no stream the role may not open, no empty queue.
      await page.waitForTimeout(2500);
      expect(await page.locator('#status').isVisible()).toBe(false);
      expect(await page.locator('#layout').isVisible()).toBe(false);
      expect(await page.locator('body').textContent()).not.toContain('reconnecting');
      expect(await axeFailures(page)).toEqual([]);
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: `${ARTIFACTS}console-commissioner.png` });
    },
    TEST_TIMEOUT_MS,
  );
});

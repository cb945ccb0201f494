import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromiumLaunchOptions } from '@telecare/testkit';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReportsHarness, reportsHarness, seededNovember, seedNovember } from './support.ts';

/** Screenshots are kept as test artefacts (test-results/ is not committed). */
const ARTEFACTS = fileURLToPath(new URL('../test-results/', import.meta.url));

const CHARTS = [
  'trend',
  'answer',
  'attendance',
  'alerts-by-type',
  'outcomes',
  'falls',
  'time-on-floor',
  'faults',
  'technology',
  'demand',
  'clusters',
];

describe('the dashboard in Chromium', () => {
  let h: ReportsHarness;
  let browser: Browser;
  let commissioner: string;
  beforeAll(async () => {
    mkdirSync(ARTEFACTS, { recursive: true });
    h = await reportsHarness('rpdash', {
      REPORTS_MODELLED_SAVINGS: 'on',
      REPORTS_EXTRA_BED_DAYS_PER_LONG_LIE: '2',
      REPORTS_COST_PER_BED_DAY: '350',
    });
    await h.start();
    await seedNovember(h);
    await seededNovember(h);
    const made = await h.api('/api/tokens', {
      method: 'POST',
      body: JSON.stringify({ role: 'commissioner', recipient: 'dashboard-test' }),
    });
    commissioner = ((await made.json()) as { token: string }).token;
    browser = await chromium.launch(chromiumLaunchOptions());
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('draws every chart from the summary, with its CSV, under a strict CSP', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${h.reports.url}/?from=2026-11-01&to=2026-12-01#token=${commissioner}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    // The token left the address bar once read.
    expect(page.url()).not.toContain(commissioner);
    for (const chart of CHARTS) {
      const section = page.locator(`section[data-chart="${chart}"]`);
      await expect(section.locator('a.csv').count()).resolves.toBe(1);
      if (!['demand', 'clusters'].includes(chart))
        await expect(section.locator('svg').count()).resolves.toBeGreaterThan(0);
    }
    // 26 residents, published rounded to 25; the page says counts are rounded and why.
    await expect(page.locator('#tiles .tile').first().textContent()).resolves.toContain('25');
    await expect(page.locator('#period-title').textContent()).resolves.toContain('rounded to 5');
    await expect(page.locator('body').textContent()).resolves.toContain('rounded to the nearest 5');
    await expect(page.locator('[data-district="GL1"]').textContent()).resolves.toContain('GL1');
    await expect(page.locator('section[data-chart="trend"] line.target').count()).resolves.toBe(1);
    await expect(page.locator('footer').textContent()).resolves.toContain('Steventon');
    await expect(page.locator('#bed-days').textContent()).resolves.toContain('no causal claim');
    // What is rounded in the before/after figures, and as at when; a median over few values is
    // suppressed, and the page says over how many one is shown.
    await expect(page.locator('#bed-days').textContent()).resolves.toContain(
      'Residents are rounded to 5 and bed days to 10',
    );
    await expect(page.locator('#bed-days').textContent()).resolves.toMatch(/window ended by \d{4}-\d{2}-01/);
    await expect(page.locator('section[data-chart="time-on-floor"]').textContent()).resolves.toContain(
      'suppressed (shown over at least 10 falls',
    );
    // Without a registry there are no referral dates: bed days say there is no comparison group,
    // and why, and still give their numbers as CSV.
    await expect(page.locator('#bed-days').textContent()).resolves.toContain(
      'No comparison group: referral dates come from the registry',
    );
    await expect(page.locator('#bed-days a.csv').count()).resolves.toBe(1);
    await expect(page.locator('#bed-days svg.intervals').count()).resolves.toBe(2);
    // No registry here: the care-hours section says why it is empty, the page still loads.
    await expect(page.locator('#care-hours').textContent()).resolves.toContain('REGISTRY_URL');
    await expect(page.locator('#modelled').textContent()).resolves.toContain('configured, not measured');
    await expect(page.locator('#modelled a.csv').count()).resolves.toBe(1);
    // Device kinds in words where people read them; the CSV keeps the kinds' ids.
    const technology = (await page.locator('section[data-chart="technology"]').textContent()) ?? '';
    expect(technology).toContain('fall detector');
    expect(technology).toContain('home unit');
    expect(technology).not.toMatch(/fall-detector|home-unit/);
    await page.screenshot({ path: `${ARTEFACTS}dashboard.png`, fullPage: true });

    const download = page.waitForEvent('download');
    await page.locator('section[data-chart="outcomes"] a.csv').click();
    const csv = await (await download).createReadStream();
    let text = '';
    for await (const chunk of csv) text += chunk;
    expect(text.split('\r\n')[0]).toBe('outcome,count');

    const kinds = page.waitForEvent('download');
    await page.locator('section[data-chart="technology"] a.csv').click();
    let kindsCsv = '';
    for await (const chunk of await (await kinds).createReadStream()) kindsCsv += chunk;
    expect(kindsCsv.split('\r\n')).toEqual(
      expect.arrayContaining(['device_kind,count,device_kind_label', 'fall-detector,10,fall detector']),
    );

    // The modelled what-if's CSV names each number's kind: measured input, assumption, modelled.
    const modelled = page.waitForEvent('download');
    await page.locator('#modelled a.csv').click();
    let what = '';
    for await (const chunk of await (await modelled).createReadStream()) what += chunk;
    expect(what.split('\r\n')).toEqual(
      expect.arrayContaining([
        'what,value,kind',
        'extra bed days per long lie,2,assumption',
        'cost per bed day,350,assumption',
      ]),
    );

    await page.emulateMedia({ media: 'print' });
    await expect(page.locator('#filters').isVisible()).resolves.toBe(false);
    await page.screenshot({ path: `${ARTEFACTS}dashboard-print.png`, fullPage: true });
    expect(problems, problems.join('\n')).toEqual([]);

    // The episode export is for analysts: a commissioner's click is refused (Chromium logs the
    // 403) and the page says why, with no script error.
    await page.emulateMedia({ media: 'screen' });
    await page.locator('#episodes-csv').click();
    await expect.poll(async () => (await page.locator('#episodes-status').textContent()) ?? '').toMatch(/\S/);
    expect(problems.filter((p) => !p.includes('403'))).toEqual([]);
    await page.close();
  });

  it('asks for a token when it has none, and filters by district', async () => {
    const page = await browser.newPage();
    await page.goto(`${h.reports.url}/?from=2026-11-01&to=2026-12-01`);
    await expect(page.locator('#signin').isVisible()).resolves.toBe(true);
    await page.fill('#token', commissioner);
    await page.click('#signin button');
    await page.waitForSelector('body[data-ready="true"]');
    await page.locator('body').evaluate((body) => body.removeAttribute('data-ready'));
    await page.fill('#districts', 'gl2');
    await page.click('#filters button[type="submit"]');
    await page.waitForSelector('body[data-ready="true"]');
    await expect(page.locator('#period-title').textContent()).resolves.toContain('GL2');
    // Six residents in GL2: shown, rounded to 5; their three alerts: suppressed.
    await expect(page.locator('#tiles .tile').first().textContent()).resolves.toContain('5');
    await expect(page.locator('section[data-chart="alerts-by-type"]').textContent()).resolves.toContain(
      'suppressed',
    );
    await page.close();
  });
});

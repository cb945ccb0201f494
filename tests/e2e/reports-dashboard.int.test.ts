import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@telecare/platform';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import { loadReportsConfig, type ReportsHandle, startReports } from '@telecare/reports';
import { ensureCohort, episodesCsv, RegistryClient, sendEpisodes } from '@telecare/simulators';
import { chromiumLaunchOptions, cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The commissioners' dashboard in Chromium over a real registry and reports service holding the
// demo's kind of cohort: care hours and bed days before and after, the comparison with residents
// referred and still waiting, the difference in differences, each with its CSV.

const ARTEFACTS = fileURLToPath(new URL('../test-results/', import.meta.url));
const ns = uniqueNamespace('rpdashcmp');
const env = serviceEnv(ns, {
  REGISTRY_PORT: '0',
  REPORTS_PORT: '0',
  REPORTS_REGISTRY_TOKEN: 'test-reports-registry-token-dash-012345',
});
const admin = env.TELECARE_ADMIN_TOKEN ?? '';
const logger = createLogger('rpdashcmp-test', process.env.TEST_LOG_LEVEL ?? 'silent');
let registry: RegistryHandle;
let reports: ReportsHandle;
let browser: Browser;
let commissioner: string;

beforeAll(async () => {
  mkdirSync(ARTEFACTS, { recursive: true });
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  reports = await startReports(loadReportsConfig({ ...env, REGISTRY_URL: registry.url }), { logger });
  const plan = { installed: 60, waiting: 20, districts: ['GL5', 'GL6'], seed: 11 };
  const cohort = await ensureCohort(new RegistryClient(registry.url, admin), plan);
  await sendEpisodes(reports.url, admin, episodesCsv(cohort.residents, new Date(), plan.seed));
  const made = await fetch(`${reports.url}/api/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ role: 'commissioner', recipient: 'dashboard-comparison-test' }),
  });
  commissioner = ((await made.json()) as { token: string }).token;
  browser = await chromium.launch(chromiumLaunchOptions());
});

afterAll(async () => {
  await browser?.close();
  await reports?.close();
  await registry?.close();
  await cleanupNamespace(ns);
});

describe('the dashboard with a registry', () => {
  it('shows care hours and bed days with the comparison group and the difference, each with its CSV', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${reports.url}/#token=${commissioner}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
    for (const id of ['care-hours', 'bed-days']) {
      const section = page.locator(`#${id}`);
      const text = (await section.textContent()) ?? '';
      expect(text).toMatch(/6 months: 60 residents installed/);
      expect(text).toMatch(/Comparison: 20 residents referred and not yet installed/);
      expect(text).toContain(
        'Difference in differences (installed − waiting, from the referral) per resident',
      );
      expect(text).toContain('not randomised');
      // Means per resident as bars, and the three intervals against zero.
      await expect(section.locator('svg rect.bar').count()).resolves.toBeGreaterThanOrEqual(6);
      await expect(section.locator('svg.intervals line.interval').count()).resolves.toBeGreaterThan(0);
      await expect(section.locator('a.csv').count()).resolves.toBe(1);
    }
    // Hours are not counts of people: the difference is shown, with its interval.
    await expect(page.locator('#care-hours p.difference').first().textContent()).resolves.toMatch(
      /-?\d+(\.\d+)? \(95 % interval -?\d+(\.\d+)? to -?\d+(\.\d+)?\)/,
    );
    await page.screenshot({ path: `${ARTEFACTS}dashboard-comparison.png`, fullPage: true });

    // The CSV holds the same numbers as the JSON.
    const download = page.waitForEvent('download');
    await page.locator('#care-hours a.csv').click();
    let text = '';
    for await (const chunk of await (await download).createReadStream()) text += chunk;
    const [header, ...rows] = text.trim().split('\r\n');
    expect(header).toBe(
      'months,group,residents,before,after,mean_before,mean_after,mean_change,change_low_95,change_high_95,as_of,residents_rounded_to,total_rounded_to',
    );
    const json = (await (
      await fetch(`${reports.url}/api/reports/care-hours`, {
        headers: { authorization: `Bearer ${commissioner}` },
      })
    ).json()) as {
      windows: {
        months: number;
        asOf: string;
        roundedTo: { residents: number; total: number };
        comparison: { difference: { mean: number; low: number; high: number } };
      }[];
    };
    const six = json.windows[0];
    expect(rows).toContain(
      `6,difference-in-differences,,,,,,${six?.comparison.difference.mean},${six?.comparison.difference.low},${six?.comparison.difference.high},${six?.asOf.slice(0, 10)},${six?.roundedTo.residents},${six?.roundedTo.total}`,
    );
    expect(problems, problems.join('\n')).toEqual([]);
    await page.close();
  });
});

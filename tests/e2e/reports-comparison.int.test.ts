import { createLogger, ManualClock } from '@telecare/platform';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import { loadReportsConfig, type ReportsHandle, startReports } from '@telecare/reports';
import { ensureCohort, episodesCsv, RegistryClient, sendEpisodes } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Residents referred and not yet installed, recorded in the registry, as the reports' comparison
// group: the registry's referral dates, the cohort answer, and the difference in differences
// through the reports service, with hand-checked values; then the simulated cohort of the demo.

const ns = uniqueNamespace('rpcompare');
const env = serviceEnv(ns, {
  REGISTRY_PORT: '0',
  REPORTS_PORT: '0',
  REPORTS_REGISTRY_TOKEN: 'test-reports-registry-token-compare-0123',
});
const admin = env.TELECARE_ADMIN_TOKEN ?? '';
const logger = createLogger('rpcompare-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const now = new Date('2026-12-03T12:00:00Z');
let registry: RegistryHandle;
let reports: ReportsHandle;

async function call(base: string, method: string, path: string, body?: unknown, token = admin) {
  const csv = typeof body === 'string';
  const res = await fetch(new URL(path, base), {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': csv ? 'text/csv' : 'application/json' }),
    },
    ...(body === undefined ? {} : { body: csv ? body : JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const resident = (name: string, postcode: string, dates: Record<string, string>) =>
  call(registry.url, 'POST', '/api/residents', { name, address: '1 Test Row', postcode, ...dates });

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger, clock: new ManualClock(now) });
  reports = await startReports(loadReportsConfig({ ...env, REGISTRY_URL: registry.url }), {
    logger,
    clock: new ManualClock(now),
  });
});

afterAll(async () => {
  await reports?.close();
  await registry?.close();
  await cleanupNamespace(ns);
});

describe('a comparison group of residents referred and not yet installed', () => {
  it('is recorded by the registry: referral and first-install days, checked', async () => {
    const made = await resident('Referral One', 'GL8 1AA', {
      referredOn: '2025-06-01',
      firstInstalledOn: '2025-07-01',
    });
    expect(made.status, JSON.stringify(made.json)).toBe(201);
    expect(made.json).toMatchObject({
      referredOn: '2025-06-01',
      firstInstalledAt: '2025-07-01T00:00:00.000Z',
    });
    const id = made.json.id as string;
    // In the future, or installed before the referral: refused, naming the field.
    const future = await resident('Referral Two', 'GL8 1AB', { referredOn: '2027-01-01' });
    expect(future.status).toBe(422);
    expect(JSON.stringify(future.json)).toContain('referredOn');
    expect(
      (
        await resident('Referral Three', 'GL8 1AD', {
          referredOn: '2025-06-01',
          firstInstalledOn: '2025-05-01',
        })
      ).status,
    ).toBe(400);
    // A first install, once recorded, does not move; a referral can be corrected.
    expect(
      (await call(registry.url, 'PATCH', `/api/residents/${id}`, { firstInstalledOn: '2025-08-01' })).status,
    ).toBe(409);
    expect(
      (await call(registry.url, 'PATCH', `/api/residents/${id}`, { referredOn: '2025-08-01' })).status,
    ).toBe(422);
    const corrected = await call(registry.url, 'PATCH', `/api/residents/${id}`, { referredOn: '2025-05-20' });
    expect(corrected.json).toMatchObject({ referredOn: '2025-05-20' });
    // residents.csv takes both columns; a bad day is refused on its own line.
    const imported = await call(registry.url, 'POST', '/api/import', {
      residents: [
        'ref,name,address,postcode,referredOn,firstInstalledOn',
        'cmp-1,Import One,2 Test Row,GL8 2AA,2025-06-01,',
        'cmp-2,Import Two,3 Test Row,GL8 2AB,2030-01-01,',
      ].join('\n'),
    });
    expect(imported.json).toMatchObject({
      imported: false,
      errors: [{ line: 3, field: 'referredOn', message: 'must not be in the future' }],
    });
    const cohort = await call(registry.url, 'GET', '/api/cohort', undefined, env.REPORTS_REGISTRY_TOKEN);
    expect(
      (cohort.json.residents as { residentId: string }[]).find((r) => r.residentId === id),
    ).toMatchObject({
      referredOn: '2025-05-20',
      firstInstalledAt: '2025-07-01T00:00:00.000Z',
    });
  });

  it('gives the difference in differences through the reports service, hand-checked', async () => {
    // GL9: five installed on 1 July 2025 (referred a month before), five referred on 1 July 2025
    // and still waiting. Six months either side: 181 days before, 184 after.
    const installed: string[] = [];
    const waiting: string[] = [];
    for (let i = 0; i < 5; i++) {
      const a = await resident(`Installed ${i}`, `GL9 ${i}AA`, {
        referredOn: '2025-06-01',
        firstInstalledOn: '2025-07-01',
      });
      installed.push(a.json.id as string);
      const b = await resident(`Waiting ${i}`, `GL9 ${i}AB`, { referredOn: '2025-07-01' });
      waiting.push(b.json.id as string);
    }
    const pkg = (id: string | undefined, hoursPerWeek: number, startDate: string, endDate?: string) =>
      call(registry.url, 'POST', `/api/residents/${id}/care-packages`, {
        hoursPerWeek,
        startDate,
        ...(endDate ? { endDate } : {}),
      });
    // Installed 0: 7 h/week before the install (181 h), 14 after (368 h): +187, mean change 37.4.
    // Around its referral (1 June): 7 h/week 1 Jan–31 May before (151 h); after, 7 h/week in June
    // (30 h) and 14 h/week 1 July–30 November (306 h): +185, mean 37.
    // Waiting 0: 7 h/week throughout (181 h, 184 h): +3, mean change 0.6. Difference 37 − 0.6 = 36.4.
    // Published, each total to 250 hours, five residents are too few to show that: 181, 368, 151,
    // 336 and 184 hours are all 250, every change 0, and the intervals wide enough to hold the
    // exact ones.
    expect((await pkg(installed[0], 7, '2025-01-01', '2025-06-30')).status).toBe(201);
    expect((await pkg(installed[0], 14, '2025-07-01')).status).toBe(201);
    expect((await pkg(waiting[0], 7, '2024-01-01')).status).toBe(201);

    const hours = await call(reports.url, 'GET', '/api/reports/care-hours?districts=GL9');
    expect(hours.status, JSON.stringify(hours.json)).toBe(200);
    const [six] = hours.json.windows as Record<string, unknown>[];
    expect(six).toMatchObject({
      residents: 5,
      meanChange: expect.objectContaining({ mean: 0 }),
      comparisonWhy: null,
      comparison: {
        group: 'referred-not-yet-installed',
        residents: 5,
        before: 250,
        after: 250,
        meanChange: expect.objectContaining({ mean: 0 }),
        installedResidents: 5,
        installedMeanChange: expect.objectContaining({ mean: 0 }),
        difference: expect.objectContaining({ mean: 0 }),
      },
      caveat: expect.stringMatching(/not randomised/),
    });
    const exact = six?.comparison as { difference: { high: number } } | undefined;
    expect(exact?.difference.high).toBeGreaterThan(36.4);

    // Bed days: installed 1 ten nights in March, before both its referral and its install, none
    // after (−2 a resident either way); waiting 1 ten nights after the referral (+2): difference −4. A waiting resident has no device, and the registry
    // vouches for them.
    const file = [
      'resident,admitted,discharged',
      `${installed[1]},2025-03-01,2025-03-11`,
      `${waiting[1]},2025-10-01,2025-10-11`,
    ].join('\n');
    expect((await call(reports.url, 'POST', '/api/reports/hospital-episodes', file)).json).toMatchObject({
      imported: 2,
      alreadyImported: 0,
    });
    expect((await call(reports.url, 'POST', '/api/reports/hospital-episodes', file)).json).toMatchObject({
      imported: 0,
      alreadyImported: 2,
      refused: [],
    });
    const beds = await call(reports.url, 'GET', '/api/reports/bed-days?districts=GL9');
    const [bedSix] = beds.json.windows as Record<string, unknown>[];
    expect(bedSix).toMatchObject({
      bedDaysBefore: 10,
      bedDaysAfter: 0,
      meanChange: expect.objectContaining({ mean: -2 }),
      comparison: { before: 0, after: 10, difference: expect.objectContaining({ mean: -4 }) },
    });
    const comparison = bedSix?.comparison as { difference: { low: number; high: number } } | undefined;
    expect(comparison?.difference.low).toBeLessThan(-4);
    expect(comparison?.difference.high).toBeGreaterThanOrEqual(0);
    // Twelve months after 1 July 2025 have passed too; no one waiting in GL8: no comparison, and why.
    const gl8 = await call(reports.url, 'GET', '/api/reports/care-hours?districts=GL8');
    expect((gl8.json.windows as Record<string, unknown>[])[0]).toMatchObject({
      comparison: null,
      comparisonWhy: expect.stringMatching(/no comparison group/),
    });
  });

  it('is what the demo registers: the simulated cohort once, its episodes file once', async () => {
    const client = new RegistryClient(registry.url, admin);
    const plan = { installed: 24, waiting: 8, districts: ['GL5', 'GL6'], seed: 7 };
    const first = await ensureCohort(client, plan, now);
    expect(first).toMatchObject({ created: 32, found: 0 });
    expect(first.carePackages).toBeGreaterThan(0);
    const again = await ensureCohort(client, plan, now);
    expect(again).toMatchObject({ created: 0, found: 32, carePackages: 0 });
    expect(again.residents).toEqual(first.residents);
    const csv = episodesCsv(again.residents, now, plan.seed);
    expect(await sendEpisodes(reports.url, admin, csv)).toMatch(/^[1-9]\d* stays imported, 0 already there$/);
    expect(await sendEpisodes(reports.url, admin, csv)).toMatch(/^0 stays imported, [1-9]\d* already there$/);
    const hours = await call(reports.url, 'GET', '/api/reports/care-hours?districts=GL5,GL6');
    const [six] = hours.json.windows as { residents: number; comparison: { residents: number } | null }[];
    // 24 and 8, rounded to 5.
    expect(six?.residents).toBe(25);
    expect(six?.comparison?.residents).toBe(10);
  });
});

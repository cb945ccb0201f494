import { createLogger, ManualClock } from '@telecare/platform';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import { loadReportsConfig, type ReportsHandle, startReports } from '@telecare/reports';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Care hours from the registry's care packages, before and after each resident's first install,
// through the reports service's own registry token.

const ns = uniqueNamespace('rpcarehours');
// One value for both services, as the stack gives it (role reports-service at the registry).
const env = serviceEnv(ns, {
  REGISTRY_PORT: '0',
  REPORTS_PORT: '0',
  REPORTS_REGISTRY_TOKEN: 'test-reports-registry-token-0123456789',
});
const admin = env.TELECARE_ADMIN_TOKEN ?? '';
const logger = createLogger('rpcarehours-test', process.env.TEST_LOG_LEVEL ?? 'silent');
let registry: RegistryHandle;
let reports: ReportsHandle | undefined;

async function call(base: string, method: string, path: string, body?: unknown, token = admin) {
  const res = await fetch(new URL(path, base), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  // Every device installed on 1 July 2025; the figures read on 3 December 2026.
  registry = await startRegistry(loadRegistryConfig(env), {
    logger,
    clock: new ManualClock(new Date('2025-07-01T00:00:00Z')),
  });
  const residents: string[] = [];
  for (let i = 0; i < 6; i++) {
    const made = await call(registry.url, 'POST', '/api/residents', {
      name: `Care Hours ${i}`,
      address: `${i} Test Row`,
      postcode: `GL9 ${i}AA`,
    });
    expect(made.status).toBe(201);
    residents.push(made.json.id as string);
  }
  // Five installed; the sixth registered with no device yet.
  for (const [i, residentId] of residents.slice(0, 5).entries())
    expect(
      (
        await call(registry.url, 'POST', '/api/devices', {
          serial: `CH-PEN-${i}`,
          kind: 'pendant',
          residentId,
        })
      ).status,
    ).toBe(201);
  const pkg = (residentId: string | undefined, hoursPerWeek: number, startDate: string, endDate?: string) =>
    call(registry.url, 'POST', `/api/residents/${residentId}/care-packages`, {
      hoursPerWeek,
      startDate,
      ...(endDate ? { endDate } : {}),
    });
  expect((await pkg(residents[0], 7, '2025-01-01', '2025-06-30')).status).toBe(201);
  expect((await pkg(residents[0], 14, '2025-07-01')).status).toBe(201);
  expect((await pkg(residents[1], 3.5, '2024-01-01')).status).toBe(201);
  expect((await pkg(residents[5], 40, '2024-01-01')).status).toBe(201);
});

afterAll(async () => {
  await reports?.close();
  await registry?.close();
  await cleanupNamespace(ns);
});

describe('care hours before and after telecare started, from the registry', () => {
  it('say plainly they are not available without the registry', async () => {
    reports = await startReports(loadReportsConfig(env), { logger });
    const res = await call(reports.url, 'GET', '/api/reports/care-hours');
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      available: false,
      windows: [],
      why: expect.stringContaining('REGISTRY_URL'),
    });
    await reports.close();
    reports = undefined;
  });

  it('are counted per resident from the first install, observational, with hand-checked values', async () => {
    // The registry knows the same token from its environment: no token is minted for it.
    reports = await startReports(loadReportsConfig({ ...env, REGISTRY_URL: registry.url }), {
      logger,
      clock: new ManualClock(new Date('2026-12-03T12:00:00Z')),
    });
    const res = await call(reports.url, 'GET', '/api/reports/care-hours?districts=GL9');
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    const [six, twelve] = res.json.windows as Record<string, unknown>[];
    // Six months: 181 days before 1 July 2025, 184 after. Resident 0: 7 h/week before (181 h),
    // 14 h/week after (368 h); resident 1: 3.5 h/week throughout (90.5 h, 92 h); three with none.
    // The sixth resident (40 h/week, never installed) is not in the cohort. Published to 250
    // hours: 271.5 is 250 and 460 is 500, so 50 and 100 a resident and a change of 50 (exactly 37.7).
    expect(six).toMatchObject({
      evidence: 'observational',
      asOf: '2026-12-01',
      roundedTo: { residents: 5, total: 250 },
      residents: 5,
      careHoursBefore: 250,
      careHoursAfter: 500,
      meanBefore: 50,
      meanAfter: 100,
      meanChange: expect.objectContaining({ mean: 50 }),
      comparison: null,
    });
    // Twelve months: 365 days either side. Resident 0: 181 h before, 730 after; resident 1: 182.5 both.
    // 363.5 and 912.5 hours are published 250 and 1,000: a change of 150 (exactly 109.8).
    expect(twelve).toMatchObject({
      residents: 5,
      careHoursBefore: 250,
      careHoursAfter: 1000,
      meanChange: expect.objectContaining({ mean: 150 }),
    });
    expect(res.json).toMatchObject({ available: true, startedFrom: 'registry-first-install' });
    const own = env.REPORTS_REGISTRY_TOKEN ?? '';
    expect((await call(registry.url, 'GET', '/api/cohort', undefined, own)).status).toBe(200);
    expect((await call(registry.url, 'GET', '/api/residents', undefined, own)).status).toBe(403);
    // Bed days count from the same first install when the registry is there.
    const bedDays = await call(reports.url, 'GET', '/api/reports/bed-days?area=GL9');
    expect(bedDays.json).toMatchObject({ startedFrom: 'registry-first-install', districts: ['GL9'] });
    expect((bedDays.json.windows as { residents: number }[])[0]?.residents).toBe(5);
    expect((await call(reports.url, 'GET', '/api/reports/care-hours?area=GL9&districts=GL9')).status).toBe(
      400,
    );
    expect((await call(reports.url, 'GET', '/api/reports/care-hours?area=GL8')).json.windows).toMatchObject([
      { residents: 0 },
      { residents: 0 },
    ]);
  });
});

import { createLogger, ManualClock } from '@telecare/platform';
import { loadReportsConfig, type ReportsHandle, startReports } from '@telecare/reports';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startRegistryAndHelpline } from './support.ts';

// Attack replay: a registry token made for an installer, or a report token made for a
// commissioner, worked for ever unless someone remembered to revoke it; one copied into a script
// or a laptop years ago still opened the registry. People's tokens now expire (90 days unless the
// admin says otherwise, at most 365) as the helpline's personal tokens do; the services' own
// registry tokens (helpline-service, reports-service) after a year unless set shorter.

const DAY = 24 * 3600_000;
const clock = new ManualClock(Date.parse('2026-03-02T08:00:00Z'));
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('sectokexp', {}, { clock });
});

afterAll(async () => {
  await p?.close();
});

describe('registry tokens expire', () => {
  it('a person’s role token after 90 days, a service’s after 365, or when the admin said', async () => {
    const issued = clock.now();
    const make = async (role: string, expiresInDays?: number) => {
      const made = await p.registryCall('POST', '/api/tokens', {
        body: { name: `${role} expiry`, role, ...(expiresInDays === undefined ? {} : { expiresInDays }) },
      });
      expect(made.status, JSON.stringify(made.json)).toBe(201);
      return made.json as { token: string; expiresAt: string };
    };
    const installer = await make('installer');
    const service = await make('helpline-service');
    const short = await make('operator', 2);
    expect(Date.parse(installer.expiresAt)).toBe(issued + 90 * DAY);
    expect(Date.parse(service.expiresAt)).toBe(issued + 365 * DAY);
    expect(Date.parse(short.expiresAt)).toBe(issued + 2 * DAY);
    const tooLong = await p.registryCall('POST', '/api/tokens', {
      body: { name: 'too long', role: 'installer', expiresInDays: 366 },
    });
    expect(tooLong.status).toBe(400);

    const status = async (token: string) =>
      (await p.registryCall('GET', '/api/devices', { as: token })).status;
    expect(await status(installer.token)).toBe(200);
    expect(await status(short.token)).toBe(200);
    clock.advance(3 * DAY);
    expect(await status(short.token)).toBe(401);
    expect(await status(installer.token)).toBe(200);
    clock.advance(88 * DAY);
    expect(await status(installer.token)).toBe(401);
    expect(await status(service.token)).toBe(200);
    clock.advance(275 * DAY);
    expect(await status(service.token)).toBe(401);
    // The admin token is not a stored token: it does not expire.
    expect(await status(p.admin)).toBe(200);
  });
});

describe('report tokens expire', () => {
  const ns = uniqueNamespace('sectokexprp');
  const env = serviceEnv(ns, {
    REPORTS_PORT: '0',
    REPORTS_PSEUDONYM_KEY: 'a-pseudonym-secret-of-32-characters-or-more',
  });
  let reports: ReportsHandle;

  beforeAll(async () => {
    reports = await startReports(loadReportsConfig(env), { logger: createLogger('sectokexp', 'silent') });
  });
  afterAll(async () => {
    await reports?.close();
    await cleanupNamespace(ns);
  });

  // Report tokens live in wall-clock time (the reports service checks them against it), so the
  // lapse itself is the registry's case above, on the same token store.
  it('after 90 days unless the admin said otherwise, at most 365', async () => {
    const admin = env.TELECARE_ADMIN_TOKEN ?? '';
    const before = Date.now();
    const made = await call(reports.url, 'POST', '/api/tokens', {
      as: admin,
      body: { role: 'commissioner', recipient: 'council-a' },
    });
    const after = Date.now();
    expect(made.status, JSON.stringify(made.json)).toBe(201);
    const expiresAt = Date.parse(String(made.json.expiresAt));
    expect(expiresAt).toBeGreaterThanOrEqual(before + 90 * DAY);
    expect(expiresAt).toBeLessThanOrEqual(after + 90 * DAY);
    const short = await call(reports.url, 'POST', '/api/tokens', {
      as: admin,
      body: { role: 'analyst', recipient: 'uni-b', expiresInDays: 1 },
    });
    expect(Date.parse(String(short.json.expiresAt))).toBeLessThanOrEqual(Date.now() + DAY);
    const tooLong = await call(reports.url, 'POST', '/api/tokens', {
      as: admin,
      body: { role: 'analyst', recipient: 'uni-b', expiresInDays: 400 },
    });
    expect(tooLong.status).toBe(400);
    for (const token of [String(made.json.token), String(short.json.token)])
      expect((await call(reports.url, 'GET', '/api/reports/summary', { as: token })).status).toBe(200);
  });
});

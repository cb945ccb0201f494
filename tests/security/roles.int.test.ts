import { readFileSync } from 'node:fs';
import { HELPLINE_ROUTES, REGISTRY_ROUTES, REPORTS_ROUTES, type RouteTable } from '@telecare/contracts';
import { createLogger } from '@telecare/platform';
import { loadReportsConfig, type ReportsHandle, startReports } from '@telecare/reports';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Answer, call, startRegistryAndHelpline } from './support.ts';

// Every cell of the role × endpoint matrix published in docs/security.md, called against the
// real registry and helpline. The tables are read from the page itself, so the page and the
// services cannot drift apart without this test failing.

interface Matrix {
  roles: string[];
  rows: { method: string; path: string; allowed: Map<string, boolean> }[];
}

function matrixUnder(heading: string): Matrix {
  const page = readFileSync(new URL('../../docs/security.md', import.meta.url), 'utf8');
  const start = page.indexOf(`\n### ${heading}\n`);
  if (start < 0) throw new Error(`docs/security.md has no "### ${heading}" section`);
  const lines = page.slice(start).split('\n').slice(2);
  const table = lines.slice(lines.findIndex((l) => l.startsWith('|')));
  const rowsText = table.slice(
    0,
    table.findIndex((l) => !l.startsWith('|')),
  );
  const cells = (line: string) =>
    line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
  const [header, , ...body] = rowsText;
  const roles = cells(header ?? '').slice(1);
  const rows = body.map((line) => {
    const [endpoint = '', ...marks] = cells(line);
    const match = /^`(GET|POST|PUT|PATCH|DELETE) (\/[^`]+)`$/.exec(endpoint);
    if (!match?.[1] || !match[2]) throw new Error(`not an endpoint cell: ${endpoint}`);
    if (marks.length !== roles.length || marks.some((m) => m !== '✓' && m !== '✗'))
      throw new Error(`row ${endpoint}: one ✓ or ✗ per role`);
    return {
      method: match[1],
      path: match[2],
      allowed: new Map(roles.map((role, i) => [role, marks[i] === '✓'])),
    };
  });
  return { roles, rows };
}

/**
 * The matrix's rows are the route contracts that need a principal (those open to anyone are named
 * under the table), and each row's ✓ are the roles its contract allows (`signed-in`: every role).
 */
function expectContractsMatch(matrix: Matrix, routes: RouteTable): void {
  const key = (method: string, path: string) => `${method} ${path}`;
  const contracts = new Map(
    Object.values(routes)
      .filter((route) => route.roles !== 'anyone')
      .map((route) => [key(route.method, route.path), route]),
  );
  expect(matrix.rows.map((row) => key(row.method, row.path)).sort()).toEqual([...contracts.keys()].sort());
  for (const row of matrix.rows) {
    const roles = contracts.get(key(row.method, row.path))?.roles;
    const allowed = [...row.allowed].filter(([, yes]) => yes).map(([role]) => role);
    const expected = roles === 'signed-in' ? matrix.roles : roles;
    expect(Array.isArray(expected) ? [...expected].sort() : expected, key(row.method, row.path)).toEqual(
      allowed.sort(),
    );
  }
}

/** A role that may act gets past the guard (any answer but 401/403); one that may not gets 403. */
function expectCell(answer: Answer, allowed: boolean, cell: string): void {
  if (allowed)
    expect([401, 403], `${cell}: ${answer.status} ${JSON.stringify(answer.json)}`).not.toContain(
      answer.status,
    );
  else expect(answer.status, `${cell}: ${JSON.stringify(answer.json)}`).toBe(403);
}

let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secroles');
});

afterAll(async () => {
  await p?.close();
});

describe('the registry matrix in docs/security.md', () => {
  const matrix = matrixUnder('Registry');

  it('covers every role the registry issues tokens for', () => {
    expect(matrix.roles.sort()).toEqual(
      [
        'admin',
        'commissioner',
        'helpline-service',
        'installer',
        'operator',
        'reports-service',
        'supervisor',
      ].sort(),
    );
    expect(matrix.rows.length).toBeGreaterThanOrEqual(20);
  });

  it('is the roles of the route contracts, route for route', () => {
    expectContractsMatch(matrix, REGISTRY_ROUTES);
  });

  it('holds for every role and endpoint; without a token every endpoint is 401', async () => {
    const residentId = await p.resident('Matrix Resident', 'KS-M-1966');
    const tokens = new Map<string, string>([
      ['admin', p.admin],
      ['helpline-service', p.env.HELPLINE_REGISTRY_TOKEN ?? ''],
    ]);
    for (const role of matrix.roles) if (!tokens.has(role)) tokens.set(role, await p.registryToken(role));
    // Ids that exist where a read needs one; writes go to ids that do not, so an allowed write
    // answers 404 (or 400 for an empty body) and changes nothing.
    const concrete = (path: string, method: string) =>
      path
        .replace('/api/tokens/{id}', '/api/tokens/tok_doesnotexist0000')
        .replace('{id}', method === 'GET' || path.endsWith('/reveal') ? residentId : 'res_doesnotexist0000')
        .replace('{serial}', 'NO-SUCH-SERIAL')
        .replace('{responderId}', 'rsp_doesnotexist0000')
        .replace('{awayId}', 'awy_doesnotexist0000');
    for (const row of matrix.rows) {
      const path = concrete(row.path, row.method);
      const body = row.method === 'GET' || row.method === 'DELETE' ? undefined : {};
      const anonymous = await p.registryCall(row.method, path, { as: '', body });
      expect(anonymous.status, `${row.method} ${row.path} without a token`).toBe(401);
      for (const [role, allowed] of row.allowed) {
        const answer = await p.registryCall(row.method, path, { as: tokens.get(role) ?? '', body });
        expectCell(answer, allowed, `${role} ${row.method} ${row.path}`);
      }
    }
    // Nothing was revealed by the sweep: every reveal in it had an empty body.
    const audit = await p.registryCall('GET', `/api/residents/${residentId}/audit`);
    expect(audit.json.reads).toEqual([]);
  });

  it('a commissioner reads no name, address, phone or note of any resident', async () => {
    const token = await p.registryToken('commissioner');
    const residentId = await p.resident('Private Person', 'KS-P-1966');
    for (const path of [
      '/api/residents',
      `/api/residents/${residentId}`,
      `/api/residents/${residentId}/responders`,
      `/api/residents/${residentId}/care-packages`,
      `/api/devices?residentId=${residentId}`,
    ]) {
      const answer = await p.registryCall('GET', path, { as: token });
      expect(answer.status, path).toBe(403);
      expect(JSON.stringify(answer.json)).not.toMatch(/Private Person|Test Row|01452/);
    }
  });

  it('a commissioner reads no row of device health: each names a resident and when they last pressed', async () => {
    // Attack replay: the health list answered a commissioner every device in service with its
    // resident id, last event and last pendant press, row by row. Fault figures are the reports
    // service's aggregates.
    const token = await p.registryToken('commissioner');
    const residentId = await p.resident('Health Person', 'KS-H-1966');
    const device = await p.registryCall('POST', '/api/devices', {
      body: { serial: 'ROLES-HEALTH-1', kind: 'pendant', residentId },
    });
    expect(device.status).toBe(201);
    for (const path of ['/api/devices/health', '/api/devices/ROLES-HEALTH-1/health']) {
      const answer = await p.registryCall('GET', path, { as: token });
      expect(answer.status, path).toBe(403);
      expect(JSON.stringify(answer.json)).not.toContain(residentId);
    }
  });
});

describe("the reports service's registry token", () => {
  it('reads districts, referral and install dates and care packages per resident id, and nothing that identifies', async () => {
    const token = await p.registryToken('reports-service');
    const residentId = await p.resident('Cohort Person', 'KS-C-1966');
    const before = await p.registryCall('GET', '/api/cohort', { as: token });
    expect(before.status).toBe(200);
    const mine = (answer: Answer) =>
      (answer.json.residents as { residentId: string }[]).find((r) => r.residentId === residentId);
    expect(mine(before)).toMatchObject({ postcodeDistrict: 'GL1', firstInstalledAt: null, carePackages: [] });
    const pkg = await p.registryCall('POST', `/api/residents/${residentId}/care-packages`, {
      body: { hoursPerWeek: 7.5, startDate: '2026-01-05', endDate: '2026-06-30' },
    });
    expect(pkg.status).toBe(201);
    const device = await p.registryCall('POST', '/api/devices', {
      body: { serial: 'COHORT-PEN-1', kind: 'pendant', residentId },
    });
    expect(device.status, JSON.stringify(device.json)).toBe(201);
    const after = await p.registryCall('GET', '/api/cohort', { as: token });
    const facts = mine(after) as unknown as Record<string, unknown>;
    expect(Object.keys(facts).sort()).toEqual(
      [
        'carePackages',
        'firstInstalledAt',
        'postcodeDistrict',
        'referredOn',
        'registeredAt',
        'residentId',
      ].sort(),
    );
    expect(facts.carePackages).toEqual([{ hoursPerWeek: 7.5, from: '2026-01-05', to: '2026-06-30' }]);
    expect(Date.parse(String(facts.firstInstalledAt))).toBeGreaterThan(0);
    expect(JSON.stringify(after.json)).not.toMatch(/Cohort Person|Test Row|01452|KS-C|diabetes/);
    // Unpaired and paired again: telecare started at the first install, not the latest.
    await p.registryCall('PATCH', '/api/devices/COHORT-PEN-1', { body: { residentId: null } });
    await p.registryCall('PATCH', '/api/devices/COHORT-PEN-1', { body: { residentId } });
    const again = await p.registryCall('GET', '/api/cohort', { as: token });
    expect(mine(again)).toMatchObject({ firstInstalledAt: facts.firstInstalledAt });
    for (const path of [`/api/residents/${residentId}`, '/api/residents', '/api/devices'])
      expect((await p.registryCall('GET', path, { as: token })).status, path).toBe(403);
  });
});

describe('the helpline matrix in docs/security.md', () => {
  const matrix = matrixUnder('Helpline');

  it('covers every role a person can have', () => {
    expect(matrix.roles.sort()).toEqual(
      ['admin', 'commissioner', 'installer', 'operator', 'supervisor'].sort(),
    );
  });

  it('is the roles of the route contracts, route for route', () => {
    expectContractsMatch(matrix, HELPLINE_ROUTES);
  });

  it('holds for every role and endpoint; without a session every endpoint is 401', async () => {
    const people = new Map<string, string>();
    for (const role of matrix.roles)
      people.set(role, (await p.user(`${role}.matrix@example.org`, role)).cookie);
    for (const row of matrix.rows) {
      // A case that does not exist: an allowed action answers 404 and changes nothing.
      const path = row.path.replace('{id}', 'case_doesnotexist0000');
      const body = row.method === 'GET' ? undefined : {};
      const stream = row.path === '/api/stream';
      const call = async (as: string): Promise<Answer> => {
        if (!stream) return p.helplineCall(row.method, path, { as, body });
        // The stream stays open when allowed: the status line is all this needs.
        const controller = new AbortController();
        const response = await fetch(new URL(path, p.helpline.url), {
          headers: as.startsWith('cookie:') ? { cookie: as.slice(7) } : {},
          signal: controller.signal,
        });
        controller.abort();
        return { status: response.status, json: undefined, headers: response.headers };
      };
      expect((await call('')).status, `${row.method} ${row.path} without a session`).toBe(401);
      for (const [role, allowed] of row.allowed)
        expectCell(await call(people.get(role) ?? ''), allowed, `${role} ${row.method} ${row.path}`);
    }
  });
});

describe('the reports matrix in docs/security.md', () => {
  const matrix = matrixUnder('Reports');
  let reports: ReportsHandle;
  const ns = uniqueNamespace('secrolesrp');
  const env = serviceEnv(ns, {
    REPORTS_PORT: '0',
    REPORTS_PSEUDONYM_KEY: 'a-pseudonym-secret-of-32-characters-or-more',
  });

  beforeAll(async () => {
    reports = await startReports(loadReportsConfig(env), { logger: createLogger('secroles', 'silent') });
  });
  afterAll(async () => {
    await reports?.close();
    await cleanupNamespace(ns);
  });

  it('covers every role the reports service issues tokens for', () => {
    expect(matrix.roles.sort()).toEqual(['admin', 'analyst', 'commissioner']);
  });

  it('is the roles of the route contracts, route for route', () => {
    expectContractsMatch(matrix, REPORTS_ROUTES);
  });

  it('holds for every role and endpoint; without a token every endpoint is 401', async () => {
    const admin = env.TELECARE_ADMIN_TOKEN ?? '';
    const tokens = new Map<string, string>([['admin', admin]]);
    for (const role of ['commissioner', 'analyst']) {
      const made = await call(reports.url, 'POST', '/api/tokens', {
        as: admin,
        body: { role, recipient: `matrix-${role}` },
      });
      tokens.set(role, made.json.token);
    }
    for (const row of matrix.rows) {
      const path = row.path.replace('{chart}', 'outcomes').replace('{id}', 'rtk_doesnotexist');
      const body = row.method === 'GET' || row.method === 'DELETE' ? undefined : {};
      expect(
        (await call(reports.url, row.method, path, { as: '', body })).status,
        `${row.method} ${row.path}`,
      ).toBe(401);
      for (const [role, allowed] of row.allowed)
        expectCell(
          await call(reports.url, row.method, path, { as: tokens.get(role) ?? '', body }),
          allowed,
          `${role} ${row.method} ${row.path}`,
        );
    }
  });

  it('a commissioner token opens nothing identifiable on the registry or the helpline either', async () => {
    const registryToken = await p.registryToken('commissioner');
    for (const path of [
      '/api/residents',
      '/api/devices',
      '/api/residents/res_doesnotexist0000/care-packages',
    ])
      expect((await p.registryCall('GET', path, { as: registryToken })).status, path).toBe(403);
    const person = (await p.user('commissioner.reports@example.org', 'commissioner')).cookie;
    for (const path of ['/api/cases', '/api/queue/names', '/api/cases/case_doesnotexist0000/context'])
      expect((await p.helplineCall('GET', path, { as: person })).status, path).toBe(403);
  });
});

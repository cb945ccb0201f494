import { waitFor } from '@telecare/testkit';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReportsHarness, reportsHarness, telecareEvent } from './support.ts';

/** The first day of the month `months` after this one (UTC), as the dashboard's date field gives it. */
const monthStart = (months: number) => {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + months, 1)).toISOString().slice(0, 10);
};

/**
 * The reports API as a commissioner's tool misuses it: each bad input a 4xx naming its field, never
 * a 500 or a figure of nothing that looks like a real one; a good file never refused for its form.
 */
describe('the reports API under hostile or careless input', () => {
  let h: ReportsHarness;
  beforeAll(async () => {
    h = await reportsHarness('rphostile');
    await h.start();
    for (let i = 0; i < 3; i++)
      await h.publishEvent(
        telecareEvent({
          serial: `PEN-H${i}`,
          residentId: `res_hostile${i}`,
          kind: 'pendant',
          type: 'heartbeat',
          at: '2026-01-15T00:00:00.000Z',
          district: 'GL5',
        }),
      );
    await waitFor(async () => (await h.reports.store.knownResidents(['res_hostile2'])).size === 1, {
      what: 'residents seen',
    });
  });
  afterAll(async () => h?.close());

  // No text a person types reaches an export through the registry (device kinds are one of a
  // list, postcodes are checked), but the EVENTS envelope takes any device kind: what a
  // spreadsheet would run as a formula is written as text.
  it('writes a device kind on EVENTS that starts like a formula as text in export.csv', async () => {
    const kinds = ['  =HYPERLINK("http://example.invalid")', '＠SUM(A1)'];
    const at = new Date(Date.now() - 3_600_000).toISOString();
    for (const [i, kind] of kinds.entries())
      await h.publishEvent(
        telecareEvent({ serial: `ODD-H${i}`, residentId: `res_oddkind${i}`, kind, type: 'heartbeat', at }),
      );
    const csv = await waitFor(
      async () => {
        const text = await (await h.api('/api/reports/export.csv')).text();
        return text.includes('HYPERLINK') && text.includes('SUM(A1)') ? text : undefined;
      },
      { what: 'both device kinds in the export' },
    );
    const rows = parse(csv, { columns: true }) as Record<'chart' | 'row' | 'column' | 'value', string>[];
    const technology = rows.filter((r) => r.chart === 'technology');
    for (const kind of kinds) {
      expect(technology.filter((r) => r.row === `'${kind}`).map((r) => r.column)).toEqual([
        'count',
        'device_kind_label',
      ]);
      expect(technology.find((r) => r.column === 'device_kind_label' && r.row === `'${kind}`)?.value).toBe(
        `'${kind}`,
      );
    }
    // No text in the file starts like a formula but behind the ' (a figure, -3, is a number).
    const formula = /^\s*[=+\-@|＝＋－＠]/u;
    const cells = rows.flatMap((r) => Object.values(r));
    expect(cells.filter((cell) => formula.test(cell) && !Number.isFinite(Number(cell)))).toEqual([]);
  });

  const issuesOf = async (res: Response) =>
    ((await res.json()) as { issues?: { path: string; message: string }[] }).issues ?? [];

  it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'])(
    'a chart named %s (a property of every object) is not a chart: 404, not 500',
    async (chart) => {
      const res = await h.api(`/api/reports/csv/${chart}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toBe('not-found');
    },
  );

  it.each([
    '/api/reports/summary?districts=,',
    '/api/reports/summary?districts=%20',
    '/api/reports/summary?area=%2C%20%2C',
    '/api/reports/export.csv?districts=,',
    '/api/reports/csv/trend?districts=,',
    '/api/reports/bed-days?districts=,',
    '/api/reports/care-hours?area=,',
  ])('%s: a district list naming no district is a 400 naming it, not a report of nothing', async (path) => {
    const res = await h.api(path);
    expect(res.status).toBe(400);
    const field = path.includes('area=') ? 'area' : 'districts';
    expect(await issuesOf(res)).toEqual([{ path: field, message: expect.stringContaining('no district') }]);
  });

  it('still reads an empty district list as every district (a form left blank)', async () => {
    const res = await h.api('/api/reports/summary?districts=');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { districts: unknown }).districts).toBeNull();
  });

  const postEpisodes = (csv: string, query = '') =>
    fetch(`${h.reports.url}/api/reports/hospital-episodes${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'text/csv' },
      body: csv,
    });

  it('imports an episodes file whose lines end in CR alone (a spreadsheet\'s "CSV (Macintosh)") as any other', async () => {
    const res = await postEpisodes(
      'resident,admitted,discharged\rres_hostile0,2026-02-01,2026-02-05\r"res_hostile1",2026-03-01,2026-03-02\r',
    );
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ imported: 2, refused: [] });
    expect(await h.reports.store.staysOf(['res_hostile0', 'res_hostile1'])).toHaveLength(2);
  });

  it('names a refused row by its line in the file, blank lines and a quoted line break counted', async () => {
    const res = await postEpisodes(
      [
        'resident,admitted,discharged',
        '',
        'res_hostile2,2026-04-01,2026-04-03',
        '',
        '"res_nobody',
        'at all",2026-04-01,2026-04-03',
        'res_hostile2,2026-04-09,2026-04-08',
      ].join('\r\n'),
    );
    expect(res.status).toBe(422);
    const { refused } = (await res.json()) as { refused: { line: number; reasons: string[] }[] };
    expect(refused.map((r) => [r.line, r.reasons])).toEqual([
      [5, ['unknown resident "res_nobody\\r\\nat all"']],
      [7, ['discharged before admitted']],
    ]);
  });

  it.each(['yes', '1', 'TRUE', ''])(
    'refuses partial=%s by name (not read as false), and imports nothing',
    async (partial) => {
      const res = await postEpisodes(
        'resident,admitted,discharged\nres_hostile2,2026-05-01,2026-05-02\nres_nobody,2026-05-01,2026-05-02\n',
        `?partial=${partial}`,
      );
      expect(res.status).toBe(400);
      expect(await issuesOf(res)).toEqual([
        { path: 'partial', message: expect.stringContaining('true or false') },
      ]);
      expect(await h.reports.store.staysOf(['res_hostile2'])).toEqual([]);
    },
  );

  it.each([
    '/api/reports/summary?from=2062-11-01&to=2062-12-01',
    '/api/reports/export.csv?from=2062-11-01&to=2062-12-01',
    '/api/reports/csv/trend?from=2062-11-01T00:00:00Z&to=2063-11-01',
  ])(
    '%s: a period not yet begun is a 400 naming from, not figures of nothing labelled measured',
    async (path) => {
      const res = await h.api(path);
      expect(res.status).toBe(400);
      expect(await issuesOf(res)).toEqual([
        { path: 'from', message: expect.stringContaining('not yet begun') },
      ]);
    },
  );

  it.each([
    ['/api/reports/summary?from=2019-01-01', 'from', 'more than five years before now'],
    ['/api/reports/export.csv?from=2019-01-01&districts=GL5', 'from', 'more than five years before now'],
    ['/api/reports/summary?from=2062-11-01', 'from', 'not yet begun'],
  ])('%s (no to): a 400 naming from, in terms of what was sent, not to', async (path, field, says) => {
    const res = await h.api(path);
    expect(res.status).toBe(400);
    const issues = await issuesOf(res);
    expect(issues).toEqual([{ path: field, message: expect.stringContaining(says) }]);
    // `to` was not sent: the message says the period ends now, not what `to` must be.
    expect(issues[0]?.message).not.toMatch(/\bafter from\b|\bbefore to\b/);
  });

  it.each([
    ['/api/reports/summary?from=2026-11-01&from=2026-11-02', ['from']],
    ['/api/reports/summary?districts=GL5&districts=GL6', ['districts']],
    ['/api/reports/csv/trend?to=2026-12-01&to=2026-12-01&area=GL5&area=GL6', ['to', 'area']],
    ['/api/reports/bed-days?districts=GL5&districts=GL5', ['districts']],
  ])('%s: a parameter given more than once is a 400 saying so', async (path, fields) => {
    const res = await h.api(path);
    expect(res.status).toBe(400);
    expect(await issuesOf(res)).toEqual(
      fields.map((field) => ({ path: field, message: expect.stringContaining('given more than once') })),
    );
  });

  it('refuses partial given twice by saying so, and imports nothing', async () => {
    const res = await postEpisodes(
      'resident,admitted,discharged\nres_hostile2,2026-06-01,2026-06-02\n',
      '?partial=true&partial=true',
    );
    expect(res.status).toBe(400);
    expect(await issuesOf(res)).toEqual([
      { path: 'partial', message: expect.stringContaining('given more than once') },
    ]);
    expect(await h.reports.store.staysOf(['res_hostile2'])).toEqual([]);
  });

  it('still names to when both were sent and the period is longer than five years', async () => {
    const res = await h.api('/api/reports/summary?from=2019-01-01&to=2025-01-01');
    expect(res.status).toBe(400);
    expect(await issuesOf(res)).toEqual([{ path: 'to', message: expect.stringContaining('five years') }]);
  });

  it.each([
    `/api/reports/summary?from=${monthStart(-3)}&to=${monthStart(24)}`,
    `/api/reports/csv/trend?from=${monthStart(-3)}&to=${monthStart(2)}`,
    `/api/reports/export.csv?to=${monthStart(1)}T00:00:01Z`,
  ])(
    '%s: a to past the end of this month is a 400 naming to, not a trend of empty months to come',
    async (path) => {
      const res = await h.api(path);
      expect(res.status).toBe(400);
      expect(await issuesOf(res)).toEqual([
        { path: 'to', message: expect.stringContaining(`after the end of this month (${monthStart(1)}`) },
      ]);
    },
  );

  it('still answers a period under way: this month whole, or the last 30 days and the rest of this month', async () => {
    const to = monthStart(1);
    const trend = await h.api(`/api/reports/csv/trend?from=${monthStart(-1)}&to=${to}`);
    expect(trend.status).toBe(200);
    // Last month and this one, none to come.
    const months = new Set((await trend.text()).match(/\b\d{4}-\d{2}\b/g));
    expect([...months].sort()).toEqual([monthStart(-1).slice(0, 7), monthStart(0).slice(0, 7)]);
    const from = new Date(Date.now() - 30 * 86_400_000).toISOString();
    expect((await h.api(`/api/reports/summary?from=${from}&to=${to}`)).status).toBe(200);
  });
});

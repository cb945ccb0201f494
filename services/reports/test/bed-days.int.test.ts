import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BedDaysFigure } from '../src/cohort.ts';
import { type ReportsHarness, reportsHarness, telecareEvent } from './support.ts';

describe('hospital episodes and bed days before and after telecare started', () => {
  let h: ReportsHarness;
  beforeAll(async () => {
    h = await reportsHarness('rpbeddays');
    // The figures depend on what has passed: a fixed day, 3 December 2026.
    await h.start({}, new ManualClock(new Date('2026-12-03T12:00:00Z')));
    // Six residents whose telecare started on 15 January 2026 (their first device event).
    for (let i = 0; i < 6; i++)
      await h.publishEvent(
        telecareEvent({
          serial: `PEN-B${i}`,
          residentId: `res_beddays${i}`,
          kind: 'pendant',
          type: 'heartbeat',
          at: '2026-01-15T00:00:00.000Z',
          district: 'GL3',
        }),
      );
    await waitFor(async () => (await h.reports.store.knownResidents(['res_beddays5'])).size === 1, {
      what: 'residents seen',
    });
  });
  afterAll(async () => h?.close());

  const post = (csv: string, query = '') =>
    fetch(`${h.reports.url}/api/reports/hospital-episodes${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'text/csv' },
      body: csv,
    });

  it('refuses a file with bad rows whole, row by row, unless asked for the good rows', async () => {
    const csv = [
      'resident,admitted,discharged',
      'res_beddays0,2025-10-01,2025-10-11',
      'res_beddays0,2026-03-01,2026-03-05',
      'res_beddays1,2025-12-01,2025-12-07',
      'res_beddays1,2026-04-01,2026-04-09',
      'res_unknown1,2026-02-01,2026-02-03',
      'res_beddays2,2026-02-10,2026-02-01',
      'res_beddays3,2026-13-01,2026-13-02',
      'res_beddays0,2026-03-04,2026-03-06',
    ].join('\n');
    const refused = await post(csv);
    expect(refused.status).toBe(422);
    const body = (await refused.json()) as {
      imported: number;
      refused: { line: number; reasons: string[] }[];
    };
    expect(body.imported).toBe(0);
    expect(body.refused.map((r) => [r.line, r.reasons[0]])).toEqual([
      [6, 'unknown resident "res_unknown1"'],
      [7, 'discharged before admitted'],
      [8, 'admitted: not a date (YYYY-MM-DD): "2026-13-01"'],
      [9, 'overlaps the stay on line 3'],
    ]);
    expect(await h.reports.store.staysOf(null)).toEqual([]);

    const partial = await post(csv, '?partial=true');
    expect(partial.status).toBe(200);
    expect(((await partial.json()) as { imported: number }).imported).toBe(4);
    // The same stays again are left out and counted: a file sent twice changes nothing.
    const again = await post(csv.split('\n').slice(0, 3).join('\n'));
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ imported: 0, alreadyImported: 2, refused: [] });
    // A stay that overlaps a stored one without being it is refused.
    const overlapping = await post(
      ['resident,admitted,discharged', 'res_beddays0,2025-10-05,2025-10-12'].join('\n'),
    );
    expect(overlapping.status).toBe(422);
    expect(await h.reports.store.staysOf(null)).toHaveLength(4);
  });

  it('takes the file as text/csv only, and a file without its header is refused whole', async () => {
    const json = await fetch(`${h.reports.url}/api/reports/hospital-episodes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'application/json' },
      body: '{"resident":"res_beddays0"}',
    });
    expect(json.status).toBe(415);
    expect(await json.json()).toMatchObject({ error: 'unsupported', message: 'send the body as text/csv' });
    const headless = await post('res_beddays0,2025-10-01,2025-10-11');
    expect(headless.status).toBe(400);
    expect(await headless.json()).toMatchObject({ error: 'bad-file', imported: 0 });
  });

  it('refuses a day before 1900 or after today (3 December 2026) by line, not with a 500', async () => {
    const res = await post(
      [
        'resident,admitted,discharged',
        'res_beddays4,0000-01-01,0000-01-05',
        'res_beddays4,2026-12-01,2026-12-04',
        'res_beddays4,2027-01-01,2027-01-05',
        'res_beddays4,2026-11-01,2026-11-03',
      ].join('\n'),
      '?partial=true',
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      imported: 1,
      refused: [
        {
          line: 2,
          reasons: ['admitted: before 1900: "0000-01-01"', 'discharged: before 1900: "0000-01-05"'],
        },
        { line: 3, reasons: ['discharged: after today (2026-12-03): "2026-12-04"'] },
        {
          line: 4,
          reasons: [
            'admitted: after today (2026-12-03): "2027-01-01"',
            'discharged: after today (2026-12-03): "2027-01-05"',
          ],
        },
      ],
    });
    expect(await h.reports.store.staysOf(['res_beddays4'])).toEqual([
      { residentId: 'res_beddays4', admitted: '2026-11-01', discharged: '2026-11-03' },
    ]);
  });

  it('refuses a query parameter that is not one, naming it, and imports nothing', async () => {
    // `parital=true` read as absent would refuse the file whole; read as meant, it would import
    // part of it. Neither: the admin is told.
    const before = await h.reports.store.staysOf(null);
    const res = await post(
      ['resident,admitted,discharged', 'res_beddays4,2025-06-01,2025-06-03'].join('\n'),
      '?parital=true',
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: 'invalid-request',
      issues: [{ path: 'parital', message: 'unknown field' }],
    });
    expect(await h.reports.store.staysOf(null)).toEqual(before);
  });

  it('takes a file sent several times at once once: each other copy finds its stays imported', async () => {
    // Stays long before the windows below, so the figures are not theirs.
    const day = (i: number) => new Date(Date.UTC(2000, 0, 1) + i * 2 * 86_400_000).toISOString().slice(0, 10);
    const rows = Array.from({ length: 2000 }, (_, i) => `res_beddays5,${day(i)},${day(i)}`);
    const csv = ['resident,admitted,discharged', ...rows].join('\n');
    const answers = await Promise.all(Array.from({ length: 4 }, () => post(csv)));
    const bodies = (await Promise.all(answers.map((a) => a.json()))) as {
      importId: string;
      imported: number;
      alreadyImported: number;
    }[];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(bodies.map((b) => b.imported).sort()).toEqual([0, 0, 0, 2000]);
    expect(bodies.map((b) => b.alreadyImported).sort()).toEqual([0, 2000, 2000, 2000]);
    expect(new Set(bodies.map((b) => b.importId)).size).toBe(4);
    expect(await h.reports.store.staysOf(['res_beddays5'])).toHaveLength(2000);
  });

  it('stores a row repeated within a file once, answering each copy by its line, and again nothing on a second import', async () => {
    // Stays long before the windows below, so the figures are not theirs. A same-day stay overlaps
    // no other, so only its being the same row tells its copy from a second stay.
    const csv = [
      'resident,admitted,discharged',
      'res_beddays4,2012-05-05,2012-05-05',
      'res_beddays4,2012-06-01,2012-06-03',
      'res_beddays4,2012-05-05,2012-05-05',
      'res_beddays4,2012-05-06,2012-05-06',
      'res_beddays4,2012-06-01,2012-06-03',
      'res_beddays4,2012-05-05,2012-05-05',
    ].join('\n');
    const first = await post(csv);
    expect(first.status, await first.clone().text()).toBe(200);
    expect(await first.json()).toMatchObject({
      imported: 3,
      alreadyImported: 0,
      duplicates: [
        { line: 4, copyOf: 2 },
        { line: 6, copyOf: 3 },
        { line: 7, copyOf: 2 },
      ],
      refused: [],
    });
    const stays = async () =>
      (await h.reports.store.staysOf(['res_beddays4'])).filter((s) => s.admitted.startsWith('2012'));
    expect((await stays()).map((s) => `${s.admitted} ${s.discharged}`).sort()).toEqual([
      '2012-05-05 2012-05-05',
      '2012-05-06 2012-05-06',
      '2012-06-01 2012-06-03',
    ]);

    const again = await post(csv);
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({
      imported: 0,
      alreadyImported: 3,
      duplicates: [
        { line: 4, copyOf: 2 },
        { line: 6, copyOf: 3 },
        { line: 7, copyOf: 2 },
      ],
      refused: [],
    });
    expect(await stays()).toHaveLength(3);
  });

  it('gives the six-month window, observational, with its interval and caveat', async () => {
    const made = await h.api('/api/tokens', {
      method: 'POST',
      body: JSON.stringify({ role: 'commissioner', recipient: 'bd' }),
    });
    const token = ((await made.json()) as { token: string }).token;
    const res = await h.api('/api/reports/bed-days?districts=GL3', { token });
    expect(res.status).toBe(200);
    const { windows } = (await res.json()) as { windows: BedDaysFigure[] };
    const [six, twelve] = windows;
    // Before: 10 + 6 nights; after: 4 + 8; six residents. Change: −6, +2, 0 × 4. Published: 5
    // residents, 20 and 10 nights, 4 and 2 a resident, a change of −2, as at 1 December.
    expect(six).toMatchObject({
      evidence: 'observational',
      months: 6,
      asOf: '2026-12-01',
      residents: 5,
      bedDaysBefore: 20,
      bedDaysAfter: 10,
      meanBefore: 4,
      meanAfter: 2,
      comparison: null,
    });
    expect(six?.meanChange?.mean).toBe(-2);
    expect(six?.caveat).toMatch(/no causal claim/);
    // Twelve months after 15 January 2026 have not passed.
    expect(twelve?.residents).toBe(0);
    expect(
      (await h.api('/api/reports/hospital-episodes', { method: 'POST', token, body: '{}' })).status,
    ).toBe(403);
  });
});

import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BedDaysFigure } from '../src/cohort.ts';
import { type ReportsHarness, reportsHarness, telecareEvent } from './support.ts';

describe('bed days asked again as the cohort grows', () => {
  let h: ReportsHarness;
  const clock = new ManualClock(new Date('2026-12-02T12:00:00Z'));
  // Ten residents of GL5 whose telecare started on 15 January 2026, and one more on 3 June 2026,
  // whose six-month window ends on 3 December: between two answers a day apart.
  const early = Array.from({ length: 10 }, (_, i) => `res_overtime${i}`);
  const late = 'res_overtimelate';
  beforeAll(async () => {
    h = await reportsHarness('rpovertime');
    await h.start({}, clock);
    const started = [
      ...early.map((id) => [id, '2026-01-15T00:00:00.000Z'] as const),
      [late, '2026-06-03T00:00:00.000Z'] as const,
    ];
    for (const [i, [residentId, at]] of started.entries())
      await h.publishEvent(
        telecareEvent({
          serial: `PEN-OT${i}`,
          residentId,
          kind: 'pendant',
          type: 'heartbeat',
          at,
          district: 'GL5',
        }),
      );
    await waitFor(async () => (await h.reports.store.knownResidents([late])).size === 1, {
      what: 'residents seen',
    });
    // Three nights each before the start; the late resident thirty.
    const csv = [
      'resident,admitted,discharged',
      ...early.map((id) => `${id},2025-12-01,2025-12-04`),
      `${late},2026-04-01,2026-05-01`,
    ].join('\n');
    const imported = await fetch(`${h.reports.url}/api/reports/hospital-episodes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.adminToken}`, 'content-type': 'text/csv' },
      body: csv,
    });
    expect(imported.status).toBe(200);
  });
  afterAll(async () => h?.close());

  const sixMonths = async () => {
    const res = await h.api('/api/reports/bed-days?districts=GL5');
    expect(res.status).toBe(200);
    return ((await res.json()) as { windows: BedDaysFigure[] }).windows[0];
  };

  it('gives the same figure a day apart, so the difference is not one resident', async () => {
    const before = await sixMonths();
    clock.set(new Date('2026-12-03T12:00:00Z'));
    const after = await sixMonths();
    expect(after).toEqual(before);
    expect(before).toMatchObject({ residents: 10, bedDaysBefore: 30, bedDaysAfter: 0, asOf: '2026-12-01' });
  });

  it('takes the resident in from the next month, rounded as every figure is', async () => {
    clock.set(new Date('2027-01-02T12:00:00Z'));
    // Eleven residents, shown 10; 60 nights before; means worked from the rounded figures.
    expect(await sixMonths()).toMatchObject({
      residents: 10,
      bedDaysBefore: 60,
      meanBefore: 6,
      asOf: '2027-01-01',
    });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monthsOf } from '../src/figures.ts';
import { applySeed, DEMO_DISTRICTS } from '../src/seed.ts';
import type { Scope } from '../src/store.ts';
import { summarise, summariseCounts } from '../src/summary.ts';
import { type ReportsHarness, reportsHarness } from './support.ts';

/**
 * The summary counted by PostgreSQL (`store.counts`: groups and middle values) gives every figure
 * the rows counted in Node give (`store.rows` then `summarise`), on a generated half year in twelve
 * districts, for the whole period and parts of it, all districts and some, with calls still open.
 */
describe('a summary counted in the database', () => {
  let h: ReportsHarness;
  beforeAll(async () => {
    h = await reportsHarness('rpcounts');
    await h.start();
    for (const seed of [1, 2])
      await applySeed(
        h.reports.store,
        {
          from: new Date('2026-06-01T00:00:00Z'),
          to: new Date('2026-12-01T00:00:00Z'),
          residents: 150,
          districts: DEMO_DISTRICTS,
          seed,
        },
        new Date('2026-12-01T00:00:00Z'),
      );
  }, 300_000);
  afterAll(async () => h?.close());

  const scopes: [string, Scope, Date][] = [
    [
      'half a year, every district',
      scope('2026-06-01', '2026-12-01', null),
      new Date('2026-12-01T00:00:00Z'),
    ],
    [
      'a month in three districts',
      scope('2026-09-01', '2026-10-01', ['GL1', 'GL2', 'GL7']),
      new Date('2026-10-01'),
    ],
    [
      'mid-month to mid-month in one',
      scope('2026-07-15T12:00:00Z', '2026-10-15', ['GL4']),
      new Date('2026-10-15'),
    ],
    // `now` inside the period: the calls still open wait until now.
    ['a period not yet over', scope('2026-11-01', '2026-12-01', null), new Date('2026-11-20T08:00:00Z')],
    ['a district with nothing', scope('2026-06-01', '2026-12-01', ['ZZ9']), new Date('2026-12-01')],
  ];

  it.each(scopes)('%s: every figure the same', async (_name, s, now) => {
    const rows = await h.reports.store.rows(s);
    const counts = await h.reports.store.counts(s, monthsOf(s.from, s.to), now);
    expect(counts.unplaced).toBe(rows.unplaced);
    const options = { ...s, now, unplaced: rows.unplaced, clusterAlertsPer30Days: 300 };
    const fromRows = summarise(rows, options);
    const fromCounts = summariseCounts(counts, options);
    expect(fromCounts).toEqual(fromRows);
    if (s.districts === null) {
      // What is compared is not empty: calls, visits, falls, medians, centiles and the open calls.
      expect(rows.cases.length).toBeGreaterThan(100);
      expect(fromRows.attendance.visits).toBeGreaterThan(0);
      expect(fromRows.answer.medianSeconds).not.toBeNull();
      expect(fromRows.attendance.medianMinutes).not.toBeNull();
      expect(fromRows.falls.medianMinutesOnFloor).not.toBeNull();
      expect(Object.values(fromRows.demand.attendanceP90).some((v) => v !== null)).toBe(true);
      expect(fromRows.answer.within60s.of).not.toBeNull();
    }
  });
});

function scope(from: string, to: string, districts: string[] | null): Scope {
  return { from: new Date(from), to: new Date(to), districts };
}

import { describe, expect, it } from 'vitest';
import { bedDaysBeforeAfter, bedDaysIn, bootstrapMean, careHoursBeforeAfter, careHoursIn } from './cohort.ts';
import { checkEpisodes } from './hospital.ts';

describe('hospital episodes file', () => {
  const known = new Set(['res_a', 'res_b']);
  const existing = new Map([['res_b', [{ admitted: '2026-01-10', discharged: '2026-01-20' }]]]);

  it('refuses row by row with every reason', () => {
    const checked = checkEpisodes(
      [
        'resident,admitted,discharged',
        'res_a,2026-02-01,2026-02-05',
        'res_x,2026-02-01,2026-02-05',
        'res_a,2026-02-30,2026-03-01',
        'res_a,2026-03-10,2026-03-01',
        'res_a,2026-02-04,2026-02-08',
        'res_b,2026-01-15,2026-01-25',
        'res_b,2026-01-20,2026-01-22',
      ].join('\n'),
      known,
      existing,
    );
    expect(checked.accepted.map((s) => s.line)).toEqual([2, 8]);
    expect(checked.refused).toEqual([
      { line: 3, reasons: ['unknown resident "res_x"'] },
      { line: 4, reasons: ['admitted: not a date (YYYY-MM-DD): "2026-02-30"'] },
      { line: 5, reasons: ['discharged before admitted'] },
      { line: 6, reasons: ['overlaps the stay on line 2'] },
      { line: 7, reasons: ['overlaps a stay already imported'] },
    ]);
  });

  it('refuses a file without the header', () => {
    expect(checkEpisodes('id,from,to\nres_a,2026-01-01,2026-01-02', known, new Map()).fileError).toMatch(
      /first line/,
    );
  });
});

describe('bed days before and after telecare started (observational)', () => {
  it('counts nights, clipped to the window', () => {
    const stays = [{ residentId: 'r', admitted: '2026-01-28', discharged: '2026-02-03' }];
    expect(bedDaysIn(stays, new Date('2026-02-01T00:00:00Z'), new Date('2026-03-01T00:00:00Z'))).toBe(2);
    expect(bedDaysIn(stays, new Date('2026-01-01T00:00:00Z'), new Date('2026-02-01T00:00:00Z'))).toBe(4);
  });

  it('gives a deterministic bootstrap interval around the mean', () => {
    const values = [-10, -4, -2, 0, 0, 0, 1, 3];
    const a = bootstrapMean(values);
    expect(a).toEqual(bootstrapMean(values));
    expect(a.mean).toBe(-1.5);
    expect(a.low).toBeLessThan(a.mean);
    expect(a.high).toBeGreaterThan(a.mean);
    // A constant sample has no spread.
    expect(bootstrapMean([2, 2, 2, 2, 2])).toEqual({ mean: 2, low: 2, high: 2 });
  });

  it('compares each resident with themselves, says so, and shows nothing for fewer than five', () => {
    const started = new Date('2025-07-01T00:00:00Z');
    const cohort = Array.from({ length: 6 }, (_, i) => ({ residentId: `r${i}`, startedAt: started }));
    // r0: 10 nights before, 4 after; r1: 6 before, 8 after; the rest none.
    // Change per resident: −6, +2, 0 × 4: mean −4 / 6 = −0.67.
    const stays = [
      { residentId: 'r0', admitted: '2025-03-01', discharged: '2025-03-11' },
      { residentId: 'r0', admitted: '2025-09-01', discharged: '2025-09-05' },
      { residentId: 'r1', admitted: '2025-05-01', discharged: '2025-05-07' },
      { residentId: 'r1', admitted: '2025-11-01', discharged: '2025-11-09' },
    ];
    const figure = bedDaysBeforeAfter(cohort, stays, 6, new Date('2026-02-01T00:00:00Z'));
    expect(figure).toMatchObject({
      evidence: 'observational',
      residents: 6,
      bedDaysBefore: 16,
      bedDaysAfter: 12,
      meanBefore: 2.67,
      meanAfter: 2,
      comparison: null,
    });
    expect(figure.meanChange?.mean).toBe(-0.67);
    expect(figure.meanChange?.low).toBeLessThan(0);
    expect(figure.meanChange?.high).toBeGreaterThan(0);
    // 4 nights after in all would be suppressed, and every mean with it.
    const fewer = bedDaysBeforeAfter(cohort, stays.slice(0, 3), 6, new Date('2026-02-01T00:00:00Z'));
    expect(fewer).toMatchObject({
      bedDaysBefore: 16,
      bedDaysAfter: null,
      meanBefore: null,
      meanChange: null,
    });
    expect(figure.caveat).toMatch(/no causal claim/);
    // Twelve months after has not passed yet for anyone.
    expect(bedDaysBeforeAfter(cohort, stays, 12, new Date('2026-02-01T00:00:00Z')).residents).toBe(0);
    expect(
      bedDaysBeforeAfter(cohort.slice(0, 4), stays, 6, new Date('2026-02-01T00:00:00Z')).meanChange,
    ).toBeNull();
  });

  it('counts care hours as weekly hours over the days a package overlaps the window', () => {
    const packages = [
      // 2025-01-08 to 2025-01-14 inside: 7 days of 7 h a week.
      { residentId: 'r0', hoursPerWeek: 7, from: '2025-01-01', to: '2025-01-14' },
      // Still running: 2025-01-29, 30, 31 inside: 3 days of 14 h a week.
      { residentId: 'r0', hoursPerWeek: 14, from: '2025-01-29', to: null },
    ];
    expect(careHoursIn(packages, new Date('2025-01-08T00:00:00Z'), new Date('2025-02-01T00:00:00Z'))).toBe(
      13,
    );
    expect(careHoursIn(packages, new Date('2024-01-01T00:00:00Z'), new Date('2025-01-01T00:00:00Z'))).toBe(0);
  });

  it('gives care hours before and after telecare started, observational, nothing under five', () => {
    const started = new Date('2025-07-01T00:00:00Z');
    const cohort = Array.from({ length: 6 }, (_, i) => ({ residentId: `r${i}`, startedAt: started }));
    // Six months before: 181 days; after: 184 days.
    // r0: 7 h/week for the 181 days before (181 h), 14 h/week after (368 h): +187.
    // r1: 3.5 h/week throughout: 90.5 before, 92 after: +1.5. r2–r5: none.
    // Totals 271.5 and 460; means 45.25 and 76.67; mean change 188.5 / 6 = 31.42.
    const packages = [
      { residentId: 'r0', hoursPerWeek: 7, from: '2025-01-01', to: '2025-06-30' },
      { residentId: 'r0', hoursPerWeek: 14, from: '2025-07-01', to: null },
      { residentId: 'r1', hoursPerWeek: 3.5, from: '2024-01-01', to: null },
    ];
    const now = new Date('2026-02-01T00:00:00Z');
    const figure = careHoursBeforeAfter(cohort, packages, 6, now);
    expect(figure).toMatchObject({
      evidence: 'observational',
      months: 6,
      residents: 6,
      careHoursBefore: 271.5,
      careHoursAfter: 460,
      meanBefore: 45.25,
      meanAfter: 76.67,
      comparison: null,
    });
    expect(figure.meanChange?.mean).toBe(31.42);
    expect(figure.meanChange?.low).toBeLessThanOrEqual(figure.meanChange?.mean ?? 0);
    expect(figure.meanChange?.high).toBeGreaterThan(31.42);
    expect(figure.caveat).toMatch(/no causal claim/);
    expect(careHoursBeforeAfter(cohort.slice(0, 4), packages, 6, now)).toMatchObject({
      residents: null,
      careHoursBefore: null,
      meanChange: null,
    });
    expect(careHoursBeforeAfter(cohort, packages, 12, now).residents).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import { bedDaysBeforeAfter, bedDaysIn, bootstrapMean } from './cohort.ts';
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
});

import { describe, expect, it } from 'vitest';
import type { BedDaysFigure } from './cohort.ts';
import { beforeAfterTable, toCsv } from './csv.ts';

const window: BedDaysFigure = {
  evidence: 'observational',
  months: 6,
  asOf: '2026-12-01T00:00:00.000Z',
  roundedTo: { residents: 5, total: 10 },
  residents: 25,
  bedDaysBefore: 140,
  bedDaysAfter: 90,
  meanBefore: 5.6,
  meanAfter: 3.6,
  meanChange: { mean: -2, low: -3, high: -1 },
  comparison: null,
  comparisonWhy: 'no referral dates',
  caveat: 'observational',
};

describe('the bed days CSV', () => {
  it('says as at which day the cohort was counted and what its figures are rounded to, as the JSON does', () => {
    const [header, row] = toCsv(beforeAfterTable([window], 'bedDaysBefore', 'bedDaysAfter'))
      .trim()
      .split('\r\n');
    const columns = header?.split(',') ?? [];
    const cells = row?.split(',') ?? [];
    const cell = (name: string) => cells[columns.indexOf(name)];
    expect(cell('as_of')).toBe('2026-12-01');
    expect(cell('residents_rounded_to')).toBe('5');
    expect(cell('total_rounded_to')).toBe('10');
    // The columns before stay where they were, for files already read by position.
    expect(columns.slice(0, 3)).toEqual(['months', 'group', 'residents']);
    expect(cell('before')).toBe('140');
    // A fall in bed days is a negative figure: written as a number, not as text behind a '.
    expect([cell('mean_change'), cell('change_low_95'), cell('change_high_95')]).toEqual(['-2', '-3', '-1']);
  });
});

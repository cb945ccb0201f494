import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bedDaysBeforeAfter,
  bedDaysIn,
  bootstrapDifference,
  bootstrapMean,
  careHoursBeforeAfter,
  careHoursIn,
} from './cohort.ts';
import { checkEpisodes } from './hospital.ts';

describe('hospital episodes file', () => {
  const known = new Set(['res_a', 'res_b']);
  const existing = new Map([['res_b', [{ admitted: '2026-01-10', discharged: '2026-01-20' }]]]);
  const TODAY = '2026-12-31';

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
      TODAY,
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

  it('leaves out a row identical to a stay already imported, counted, so a file sent again changes nothing', () => {
    const checked = checkEpisodes(
      ['resident,admitted,discharged', 'res_b,2026-01-10,2026-01-20', 'res_b,2026-01-12,2026-01-20'].join(
        '\n',
      ),
      known,
      existing,
      TODAY,
    );
    expect(checked.alreadyImported).toBe(1);
    expect(checked.accepted).toEqual([]);
    expect(checked.refused).toEqual([{ line: 3, reasons: ['overlaps a stay already imported'] }]);
  });

  it('takes a row repeated in the file as a copy of the first, named by line, a same-day stay too', () => {
    const checked = checkEpisodes(
      [
        'resident,admitted,discharged',
        'res_a,2026-02-01,2026-02-01',
        'res_a,2026-02-01,2026-02-01',
        'res_a,2026-02-02,2026-02-02',
        'res_b,2026-01-10,2026-01-20',
        'res_b,2026-01-10,2026-01-20',
        'res_x,2026-02-01,2026-02-01',
        'res_x,2026-02-01,2026-02-01',
      ].join('\n'),
      known,
      existing,
      TODAY,
    );
    expect(checked.accepted.map((s) => s.line)).toEqual([2, 4]);
    expect(checked.alreadyImported).toBe(1);
    expect(checked.duplicates).toEqual([
      { line: 3, copyOf: 2 },
      { line: 6, copyOf: 5 },
    ]);
    // A copy of a refused row is refused for the same reasons, each by its line.
    expect(checked.refused).toEqual([
      { line: 7, reasons: ['unknown resident "res_x"'] },
      { line: 8, reasons: ['unknown resident "res_x"'] },
    ]);
  });

  it('refuses a day before 1900 or after today, which no stay in a trust file can have', () => {
    const checked = checkEpisodes(
      [
        'resident,admitted,discharged',
        'res_a,0000-01-01,0000-01-02',
        'res_a,1899-12-31,1900-01-02',
        'res_a,2026-03-01,2026-03-05',
        'res_a,2026-03-04,2026-03-06',
        'res_a,2026-03-07,2026-03-10',
      ].join('\n'),
      known,
      new Map(),
      '2026-03-09',
    );
    expect(checked.refused).toEqual([
      { line: 2, reasons: ['admitted: before 1900: "0000-01-01"', 'discharged: before 1900: "0000-01-02"'] },
      { line: 3, reasons: ['admitted: before 1900: "1899-12-31"'] },
      { line: 5, reasons: ['overlaps the stay on line 4'] },
      { line: 6, reasons: ['discharged: after today (2026-03-09): "2026-03-10"'] },
    ]);
    expect(checked.accepted.map((s) => s.line)).toEqual([4]);
  });

  it('refuses a file without the header', () => {
    expect(
      checkEpisodes('id,from,to\nres_a,2026-01-01,2026-01-02', known, new Map(), TODAY).fileError,
    ).toMatch(/first line/);
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

const round = (x: number) => Math.round(x * 100) / 100;

describe('comparison with residents referred and still waiting (difference in differences)', () => {
  const started = new Date('2025-07-01T00:00:00Z');
  const now = new Date('2026-02-01T00:00:00Z');
  // Referred and installed the same day, so their windows around the referral are those around the install.
  const installed = Array.from({ length: 6 }, (_, i) => ({
    residentId: `r${i}`,
    startedAt: started,
    referredAt: started,
  }));
  const waiting = Array.from({ length: 5 }, (_, i) => ({ residentId: `w${i}`, startedAt: started }));
  // Installed: r0 −6, r1 +2, four 0: mean change −0.67 (as above).
  // Waiting, around their referral: w0 0 before and 10 after, w1 5 and 5, three none: +10, 0 × 4,
  // mean change 2; totals 5 before, 15 after. Difference in differences −4/6 − 10/5 = −2.67.
  const stays = [
    { residentId: 'r0', admitted: '2025-03-01', discharged: '2025-03-11' },
    { residentId: 'r0', admitted: '2025-09-01', discharged: '2025-09-05' },
    { residentId: 'r1', admitted: '2025-05-01', discharged: '2025-05-07' },
    { residentId: 'r1', admitted: '2025-11-01', discharged: '2025-11-09' },
    { residentId: 'w0', admitted: '2025-10-01', discharged: '2025-10-11' },
    { residentId: 'w1', admitted: '2025-04-01', discharged: '2025-04-06' },
    { residentId: 'w1', admitted: '2025-12-01', discharged: '2025-12-06' },
  ];

  it('gives the waiting group over the same windows and the difference with its interval', () => {
    const figure = bedDaysBeforeAfter(installed, stays, 6, now, { referred: waiting });
    expect(figure.comparisonWhy).toBeNull();
    expect(figure.comparison).toMatchObject({
      group: 'referred-not-yet-installed',
      residents: 5,
      before: 5,
      after: 15,
      meanBefore: 1,
      meanAfter: 3,
      meanChange: expect.objectContaining({ mean: 2 }),
      installedResidents: 6,
      installedMeanChange: expect.objectContaining({ mean: -0.67 }),
      difference: expect.objectContaining({ mean: -2.67 }),
    });
    const difference = figure.comparison?.difference;
    expect(difference?.low).toBeLessThan(-2.67);
    expect(difference?.high).toBeGreaterThan(-2.67);
    expect(figure.evidence).toBe('observational');
    expect(figure.caveat).toMatch(/not randomised/);
    expect(figure.caveat).toMatch(/would have changed alike/);
  });

  it('measures both groups from their referral: the installed a month before their install', () => {
    // Referred on 1 June, installed on 1 July; r1's May stay moved to 10–16 June: after the
    // referral, before the install. From the install: r0 10 before, 4 after (−6); r1 6 before,
    // 8 after (+2): mean −4 / 6. From the referral: r0 the same; r1 0 before, 14 after (+14):
    // mean 8 / 6. The waiting, as above: +2. Difference 8 / 6 − 2.
    const early = installed.map((r) => ({ ...r, referredAt: new Date('2025-06-01T00:00:00Z') }));
    const moved = stays.map((s) =>
      s.residentId === 'r1' && s.admitted === '2025-05-01'
        ? { ...s, admitted: '2025-06-10', discharged: '2025-06-16' }
        : s,
    );
    const figure = bedDaysBeforeAfter(early, moved, 6, now, { referred: waiting });
    expect(figure.meanChange?.mean).toBe(round(-4 / 6));
    expect(figure.comparison?.installedMeanChange?.mean).toBe(round(8 / 6));
    expect(figure.comparison?.difference?.mean).toBe(round(8 / 6 - 2));
    // An installed resident with no referral date is left out of the comparison.
    const unreferred = installed.map(({ referredAt: _r, ...r }) => r);
    expect(bedDaysBeforeAfter(unreferred, stays, 6, now, { referred: waiting }).comparison).toMatchObject({
      residents: 5,
      installedResidents: 0,
      installedWithoutReferral: 6,
      difference: null,
    });
    expect(figure.comparison?.installedWithoutReferral).toBe(0);
  });

  it('says why there is none: no referrals, or none waiting a whole window', () => {
    expect(bedDaysBeforeAfter(installed, stays, 6, now)).toMatchObject({
      comparison: null,
      comparisonWhy: expect.stringMatching(/no comparison group/),
      caveat: expect.stringMatching(/with no comparison group/),
    });
    const recent = waiting.map((w) => ({ ...w, startedAt: new Date('2025-12-01T00:00:00Z') }));
    expect(bedDaysBeforeAfter(installed, stays, 6, now, { referred: recent })).toMatchObject({
      comparison: null,
      comparisonWhy: expect.stringMatching(/still waiting/),
    });
  });

  it('shows no means or difference for fewer than five waiting, nor a bed-day total under five', () => {
    const four = bedDaysBeforeAfter(installed, stays, 6, now, { referred: waiting.slice(0, 4) });
    expect(four.comparison).toMatchObject({ residents: null, meanChange: null, difference: null });
    // Only w1's 3 nights before the referral: a total under five, so no mean and no difference.
    const three = [
      ...stays.slice(0, 4),
      { residentId: 'w1', admitted: '2025-04-01', discharged: '2025-04-04' },
    ];
    expect(bedDaysBeforeAfter(installed, three, 6, now, { referred: waiting }).comparison).toMatchObject({
      before: null,
      after: 0,
      meanBefore: null,
      difference: null,
    });
  });

  it('compares care hours the same way', () => {
    // Installed r0: 7 h/week before, 14 after (+187); waiting w0: 7 h/week throughout (181 h, 184 h: +3).
    const packages = [
      { residentId: 'r0', hoursPerWeek: 7, from: '2025-01-01', to: '2025-06-30' },
      { residentId: 'r0', hoursPerWeek: 14, from: '2025-07-01', to: null },
      { residentId: 'w0', hoursPerWeek: 7, from: '2024-01-01', to: null },
    ];
    const figure = careHoursBeforeAfter(installed, packages, 6, now, { referred: waiting });
    // 187 / 6 − 3 / 10 = 31.17 − 0.6 = 30.57 (hours are not suppressed as counts).
    expect(figure.comparison).toMatchObject({
      residents: 5,
      before: 181,
      after: 184,
      difference: expect.objectContaining({ mean: 30.57 }),
    });
  });
});

describe('bootstrap difference of two means', () => {
  const sample = fc.array(fc.integer({ min: -50, max: 50 }), { minLength: 1, maxLength: 30 });

  it('is the difference of the means, deterministic, with low ≤ mean ≤ high', () => {
    fc.assert(
      fc.property(sample, sample, (a, b) => {
        const d = bootstrapDifference(a, b, { resamples: 200 });
        expect(d).toEqual(bootstrapDifference(a, b, { resamples: 200 }));
        const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
        expect(d.mean).toBeCloseTo(mean(a) - mean(b), 1);
        expect(d.low).toBeLessThanOrEqual(d.high);
      }),
    );
  });

  it('moves with the first group: adding c to every value adds c to the mean and interval', () => {
    fc.assert(
      fc.property(sample, sample, fc.integer({ min: -20, max: 20 }), (a, b, c) => {
        const d = bootstrapDifference(a, b, { resamples: 200 });
        const shifted = bootstrapDifference(
          a.map((x) => x + c),
          b,
          { resamples: 200 },
        );
        expect(Math.abs(shifted.mean - (d.mean + c))).toBeLessThan(0.02);
        expect(Math.abs(shifted.low - (d.low + c))).toBeLessThan(0.02);
        expect(Math.abs(shifted.high - (d.high + c))).toBeLessThan(0.02);
      }),
    );
  });

  it('finds nothing between a group and itself: the interval holds zero', () => {
    fc.assert(
      fc.property(sample, (a) => {
        const d = bootstrapDifference(a, a, { resamples: 400 });
        expect(d.mean).toBe(0);
        expect(d.low).toBeLessThanOrEqual(0);
        expect(d.high).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});

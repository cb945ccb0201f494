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
    // Published: 6 residents shown 5, 16 nights 20, 12 nights 10; the means of those: 4 and 2,
    // and the change (10 − 20) / 5 = −2 (exactly, −0.67).
    expect(figure).toMatchObject({
      evidence: 'observational',
      asOf: '2026-02-01',
      roundedTo: { residents: 5, total: 10 },
      residents: 5,
      bedDaysBefore: 20,
      bedDaysAfter: 10,
      meanBefore: 4,
      meanAfter: 2,
      comparison: null,
    });
    expect(figure.meanChange?.mean).toBe(-2);
    // Wide: it holds the exact interval and what the rounding can have moved the mean by.
    expect(figure.meanChange?.low).toBeLessThan(-2);
    expect(figure.meanChange?.high).toBeGreaterThan(0);
    // 4 nights after in all would be suppressed, and every mean with it.
    const fewer = bedDaysBeforeAfter(cohort, stays.slice(0, 3), 6, new Date('2026-02-01T00:00:00Z'));
    expect(fewer).toMatchObject({
      bedDaysBefore: 20,
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
    // Totals 271.5 and 460; means 45.25 and 76.67; mean change 188.5 / 6 = 31.42. Published: 5
    // residents, 250 and 500 hours, means 50 and 100, change 50.
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
      roundedTo: { residents: 5, total: 250 },
      residents: 5,
      careHoursBefore: 250,
      careHoursAfter: 500,
      meanBefore: 50,
      meanAfter: 100,
      comparison: null,
    });
    expect(figure.meanChange?.mean).toBe(50);
    expect(figure.meanChange?.low).toBeLessThan(31.42);
    expect(figure.meanChange?.high).toBeGreaterThan(50);
    expect(figure.caveat).toMatch(/no causal claim/);
    expect(careHoursBeforeAfter(cohort.slice(0, 4), packages, 6, now)).toMatchObject({
      residents: null,
      careHoursBefore: null,
      meanChange: null,
    });
    expect(careHoursBeforeAfter(cohort, packages, 12, now).residents).toBe(0);
  });
});

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
  // Installed: r0 −6, r1 +2, four 0: mean change −0.67 (as above), published −2.
  // Waiting, around their referral: w0 0 before and 10 after, w1 5 and 5, three none: +10, 0 × 4,
  // mean change 2; totals 5 before, 15 after, published 10 and 20, so 2 and 4 a resident and a
  // change of 2. Difference in differences, of the published changes: −2 − 2 = −4.
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
      before: 10,
      after: 20,
      meanBefore: 2,
      meanAfter: 4,
      meanChange: expect.objectContaining({ mean: 2 }),
      installedResidents: 5,
      installedMeanChange: expect.objectContaining({ mean: -2 }),
      difference: expect.objectContaining({ mean: -4 }),
    });
    const difference = figure.comparison?.difference;
    expect(difference?.low).toBeLessThan(-4);
    expect(difference?.high).toBeGreaterThan(-2.67);
    expect(figure.evidence).toBe('observational');
    expect(figure.caveat).toMatch(/not randomised/);
    expect(figure.caveat).toMatch(/would have changed alike/);
  });

  it('measures both groups from their referral: the installed a month before their install', () => {
    // Referred on 1 June, installed on 1 July; r1's May stay moved to 10–16 June: after the
    // referral, before the install. From the install: r0 10 before, 4 after (−6); r1 6 before,
    // 8 after (+2): mean −4 / 6. From the referral: r0 the same; r1 0 before, 14 after (+14):
    // mean 8 / 6. The waiting, as above: +2. Difference 8 / 6 − 2. Published: from the install
    // (10 − 20) / 5 = −2; from the referral 10 nights before, 18 after, (20 − 10) / 5 = 2; the
    // waiting 2; the difference 0.
    const early = installed.map((r) => ({ ...r, referredAt: new Date('2025-06-01T00:00:00Z') }));
    const moved = stays.map((s) =>
      s.residentId === 'r1' && s.admitted === '2025-05-01'
        ? { ...s, admitted: '2025-06-10', discharged: '2025-06-16' }
        : s,
    );
    const figure = bedDaysBeforeAfter(early, moved, 6, now, { referred: waiting });
    expect(figure.meanChange?.mean).toBe(-2);
    expect(figure.comparison?.installedMeanChange?.mean).toBe(2);
    expect(figure.comparison?.difference?.mean).toBe(0);
    // An installed resident with no referral date is left out of the comparison.
    const unreferred = installed.map(({ referredAt: _r, ...r }) => r);
    expect(bedDaysBeforeAfter(unreferred, stays, 6, now, { referred: waiting }).comparison).toMatchObject({
      residents: 5,
      installedResidents: 0,
      installedWithoutReferral: 5,
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
    // Exactly 187 / 6 − 3 / 5 = 30.57. Published, each total to 250 hours: the installed 181
    // and 368 hours are 250 and 250, the waiting 181 and 184 are 250 and 250: no change either way,
    // and a difference of 0, with an interval that holds the exact one.
    expect(figure.comparison).toMatchObject({
      residents: 5,
      before: 250,
      after: 250,
      difference: expect.objectContaining({ mean: 0 }),
    });
    expect(figure.comparison?.difference?.high).toBeGreaterThan(30.57);
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

const day = (from: string, plus: number) =>
  new Date(Date.parse(`${from}T00:00:00Z`) + plus * 86_400_000).toISOString().slice(0, 10);

describe('bed days for overlapping district sets', () => {
  const NOW = new Date('2026-12-01T00:00:00Z');
  const START = new Date('2025-06-01T00:00:00Z');
  // Ten residents in GL1 with a 10-day stay before their start; two in GL2 with 30 and 40 days.
  const gl1 = Array.from({ length: 10 }, (_, i) => ({
    residentId: `res_gl1${i}`,
    startedAt: START,
    district: 'GL1',
  }));
  const gl2 = [0, 1].map((i) => ({ residentId: `res_gl2${i}`, startedAt: START, district: 'GL2' }));
  const stays = [
    ...gl1.map((r) => ({ residentId: r.residentId, admitted: '2025-03-01', discharged: '2025-03-11' })),
    { residentId: 'res_gl20', admitted: '2025-02-01', discharged: '2025-03-03' },
    { residentId: 'res_gl21', admitted: '2025-02-01', discharged: '2025-03-13' },
  ];

  it('do not give back the two residents of a small district by subtraction', () => {
    const both = bedDaysBeforeAfter([...gl1, ...gl2], stays, 6, NOW);
    const one = bedDaysBeforeAfter(gl1, stays, 6, NOW);
    expect(bedDaysBeforeAfter(gl2, stays, 6, NOW).residents).toBeNull();
    // A district with fewer than five residents in a window is in no set's figure for it.
    expect(both.residents).toBe(one.residents);
    expect(both.bedDaysBefore).toBe(one.bedDaysBefore);
    expect(both.meanChange).toEqual(one.meanChange);
  });

  it('count small districts as one pool, shown only whole and only when it holds five', () => {
    const gl3 = [0, 1, 2].map((i) => ({ residentId: `res_gl3${i}`, startedAt: START, district: 'GL3' }));
    const all = [...gl1, ...gl2, ...gl3];
    // GL2 (2) and GL3 (3) pooled hold five: in every figure that covers both, in none that covers one.
    expect(bedDaysBeforeAfter(all, stays, 6, NOW).residents).toBe(15);
    expect(bedDaysBeforeAfter(all, stays, 6, NOW, undefined, ['GL2', 'GL3']).residents).toBe(5);
    expect(bedDaysBeforeAfter(all, stays, 6, NOW, undefined, ['GL1', 'GL2']).residents).toBe(10);
    expect(bedDaysBeforeAfter(all, stays, 6, NOW, undefined, ['GL2']).residents).toBeNull();
  });
});

describe('cohort figures asked again over time', () => {
  // Ten residents of GL1 started on 15 January 2025, each with 3 nights in hospital before; one more
  // started on 3 June 2025, with 30 nights before, whose six-month window ends on 3 December 2025.
  const early = Array.from({ length: 10 }, (_, i) => ({
    residentId: `res_t${i}`,
    startedAt: new Date('2025-01-15T00:00:00Z'),
    referredAt: new Date('2025-01-15T00:00:00Z'),
    district: 'GL1',
  }));
  const late = {
    residentId: 'res_tlate',
    startedAt: new Date('2025-06-03T00:00:00Z'),
    referredAt: new Date('2025-06-03T00:00:00Z'),
    district: 'GL1',
  };
  const stays = [
    ...early.map((r) => ({ residentId: r.residentId, admitted: '2024-12-01', discharged: '2024-12-04' })),
    { residentId: late.residentId, admitted: '2025-04-01', discharged: '2025-05-01' },
  ];
  const packages = [
    ...early.map((r) => ({ residentId: r.residentId, hoursPerWeek: 3, from: '2024-01-01', to: null })),
    { residentId: late.residentId, hoursPerWeek: 14, from: '2024-01-01', to: null },
  ];
  const waiting = Array.from({ length: 6 }, (_, i) => ({
    residentId: `res_tw${i}`,
    startedAt: new Date('2025-01-15T00:00:00Z'),
    district: 'GL1',
  }));
  const dayBefore = new Date('2025-12-02T12:00:00Z');
  const dayAfter = new Date('2025-12-04T12:00:00Z');

  it('give the same answer a day apart as one resident joins: the cohort is taken at the month', () => {
    const cohort = [...early, late];
    expect(bedDaysBeforeAfter(cohort, stays, 6, dayAfter, { referred: waiting })).toEqual(
      bedDaysBeforeAfter(cohort, stays, 6, dayBefore, { referred: waiting }),
    );
    expect(careHoursBeforeAfter(cohort, packages, 6, dayAfter, { referred: waiting })).toEqual(
      careHoursBeforeAfter(cohort, packages, 6, dayBefore, { referred: waiting }),
    );
  });

  it('publish residents to 5, bed days to 10 and care hours to 250, means worked from them', () => {
    // A month on, the eleventh has joined: 11 residents, 60 nights before, 0 after.
    const figure = bedDaysBeforeAfter([...early, late], stays, 6, new Date('2026-01-02T00:00:00Z'), {
      referred: waiting,
    });
    expect(figure).toMatchObject({ residents: 10, bedDaysBefore: 60, bedDaysAfter: 0 });
    expect(figure.meanBefore).toBe(6);
    expect(figure.meanChange?.mean).toBe(-6);
    // The interval holds the mean it is shown with.
    expect(figure.meanChange?.low).toBeLessThanOrEqual(-6);
    expect(figure.meanChange?.high).toBeGreaterThanOrEqual(-6);
    expect(figure.comparison).toMatchObject({ residents: 5, installedResidents: 10 });
    const hours = careHoursBeforeAfter([...early, late], packages, 6, new Date('2026-01-02T00:00:00Z'), {
      referred: waiting,
    });
    for (const total of [hours.careHoursBefore, hours.careHoursAfter, hours.comparison?.before])
      expect((total as number) % 250).toBe(0);
    expect(hours.meanBefore).toBe(Math.round(((hours.careHoursBefore as number) / 10) * 10) / 10);
  });

  it('hide in the rounding one resident joining with a short stay', () => {
    // Fourteen residents with 40 nights before between them (shown 40); a fifteenth, joining a
    // month later, with 4 nights (44, still shown 40).
    const nights = [0, 0, 1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 6, 0];
    const more = nights.map((_, i) => ({
      ...late,
      residentId: `res_s${i}`,
      startedAt: new Date('2025-01-15T00:00:00Z'),
    }));
    const moreStays = more.flatMap((r, i) =>
      nights[i]
        ? [
            {
              residentId: r.residentId,
              admitted: '2024-12-01',
              discharged: `2024-12-${String(1 + (nights[i] as number)).padStart(2, '0')}`,
            },
          ]
        : [],
    );
    const joiner = { ...late, residentId: 'res_sjoin' };
    const shortStay = { residentId: 'res_sjoin', admitted: '2025-04-01', discharged: '2025-04-05' };
    const ask = (now: string) =>
      bedDaysBeforeAfter([...more, joiner], [...moreStays, shortStay], 6, new Date(now));
    const before = ask('2025-12-15T00:00:00Z');
    const after = ask('2026-01-15T00:00:00Z');
    expect(before).toMatchObject({ residents: 15, bedDaysBefore: 40, asOf: '2025-12-01' });
    // Residents, totals, means and the mean change are the same. The interval's ends come from the
    // exact changes, rounded up to a significant figure: they may step (docs: "What remains").
    const published = ({ meanChange, asOf: _a, ...f }: typeof before) => ({ ...f, mean: meanChange?.mean });
    expect(published(after)).toEqual(published(before));
    expect(after.meanChange?.low).toBeLessThanOrEqual(after.meanChange?.mean as number);
    expect(after.meanChange?.high).toBeGreaterThanOrEqual(after.meanChange?.mean as number);
  });
});

describe('the published change and its interval', () => {
  it('holds the exact mean change and its exact interval, whatever the rounding did', () => {
    const START = new Date('2025-01-15T00:00:00Z');
    const NOW = new Date('2026-01-02T00:00:00Z');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })), {
          minLength: 5,
          maxLength: 40,
        }),
        (nights) => {
          const cohort = nights.map((_, i) => ({ residentId: `res_p${i}`, startedAt: START }));
          const stays = nights.flatMap(([before, after], i) => [
            ...(before
              ? [{ residentId: `res_p${i}`, admitted: '2024-08-01', discharged: day('2024-08-01', before) }]
              : []),
            ...(after
              ? [{ residentId: `res_p${i}`, admitted: '2025-03-01', discharged: day('2025-03-01', after) }]
              : []),
          ]);
          const change = bedDaysBeforeAfter(cohort, stays, 6, NOW).meanChange;
          if (change === null) return;
          const changes = nights.map(([b, a]) => a - b);
          const exact = bootstrapMean(changes);
          expect(change.low).toBeLessThanOrEqual(exact.low);
          expect(change.high).toBeGreaterThanOrEqual(exact.high);
          expect(change.low).toBeLessThanOrEqual(exact.mean);
          expect(change.high).toBeGreaterThanOrEqual(exact.mean);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('installed residents without a referral date, in the comparison', () => {
  const NOW = new Date('2026-12-01T00:00:00Z');
  const START = new Date('2025-06-01T00:00:00Z');
  const resident = (id: string, district: string, referred: boolean) => ({
    residentId: id,
    startedAt: START,
    district,
    ...(referred ? { referredAt: START } : {}),
  });
  // GL1: 10 referred and 7 not; GL2: 6 referred and 3 not (a small count of its own).
  const cohort = [
    ...Array.from({ length: 10 }, (_, i) => resident(`res_r1${i}`, 'GL1', true)),
    ...Array.from({ length: 7 }, (_, i) => resident(`res_u1${i}`, 'GL1', false)),
    ...Array.from({ length: 6 }, (_, i) => resident(`res_r2${i}`, 'GL2', true)),
    ...Array.from({ length: 3 }, (_, i) => resident(`res_u2${i}`, 'GL2', false)),
  ];
  const waiting = Array.from({ length: 12 }, (_, i) => ({
    residentId: `res_w${i}`,
    startedAt: START,
    district: i % 2 ? 'GL1' : 'GL2',
  }));

  it('are pooled and rounded as the rest, so two district sets do not give back a small one', () => {
    const both = bedDaysBeforeAfter(cohort, [], 6, NOW, { referred: waiting }, ['GL1', 'GL2']);
    const one = bedDaysBeforeAfter(cohort, [], 6, NOW, { referred: waiting }, ['GL1']);
    expect(one.comparison?.installedWithoutReferral).toBe(5);
    expect(both.comparison?.installedWithoutReferral).toBe(one.comparison?.installedWithoutReferral);
    expect(
      bedDaysBeforeAfter(cohort, [], 6, NOW, { referred: waiting }, ['GL2']).comparison
        ?.installedWithoutReferral,
    ).toBeNull();
  });
});

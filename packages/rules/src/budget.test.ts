import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RHYTHM_RULE } from './default-rules.ts';
import { RhythmRule } from './model.ts';
import { cellsPerDay, dailyMaxModel, gapLimit, initialRhythm, RHYTHM_DAYS } from './rhythm.ts';
import { epochDay } from './time.ts';

const RULE = RhythmRule.parse({ ...RHYTHM_RULE, falseAlertBudget: 0.05 });
const TZ = 'Europe/London';
/** 10 Nov 2026 (November: London is UTC). */
const DAY = '2026-11-10';
const MORNING = Date.parse(`${DAY}T10:00:00.000Z`); // part 3 of the day (09:00–12:00)
const PART = 3;
const TODAY = epochDay(DAY) % RHYTHM_DAYS;

/** A rhythm whose daily longest silences at home in the morning were `maxima` (minutes, 0: not there). */
function rhythmWith(maxima: readonly number[], elsewhere = 0) {
  const rhythm = initialRhythm(DAY);
  const gaps = [...rhythm.gaps];
  maxima.forEach((minutes, i) => {
    const ring = (TODAY + 1 + i) % RHYTHM_DAYS; // the days before today, never today's slot
    gaps[(0 * 8 + PART) * RHYTHM_DAYS + ring] = minutes;
    // Other places and times of day the person passes through that day.
    for (let part = 0; part < elsewhere; part++) if (part !== PART) gaps[part * RHYTHM_DAYS + ring] = 20;
  });
  return { ...rhythm, days: RHYTHM_DAYS, gaps };
}

describe('the false-alert budget sets the silence limit', () => {
  it('a Gumbel fit by probability-weighted moments finds the quantile of a large sample', () => {
    // Gumbel(mu 60, beta 15) by its inverse, at evenly spaced probabilities.
    const n = 400;
    const sample = Array.from({ length: n }, (_, i) => 60 - 15 * Math.log(-Math.log((i + 0.5) / n)));
    const model = dailyMaxModel(sample);
    const truth = 60 - 15 * Math.log(-Math.log(1 - 0.01));
    expect(model.quantile(0.01)).toBeCloseTo(truth, 0);
    expect(model.exceed(model.quantile(0.01))).toBeCloseTo(0.01, 6);
  });

  it('days all alike still leave a spread; fewer than five days take the exponential tail', () => {
    const alike = dailyMaxModel([30, 30, 30, 30, 30, 30, 30, 30]);
    expect(alike.quantile(0.01)).toBeGreaterThan(30 + 10);
    const few = dailyMaxModel([20, 30, 40]);
    // Exponential above the least (20) with the mean excess (10): 20 + 10 ln 100.
    expect(few.quantile(0.01)).toBeCloseTo(20 + 10 * Math.log(100), 6);
    expect(few.exceed(20 + 10 * Math.log(100))).toBeCloseTo(0.01, 6);
  });

  it('the budget is shared over the places and times of day a day passes through', () => {
    expect(cellsPerDay(rhythmWith([30, 30, 30, 30, 30]))).toBe(1);
    expect(cellsPerDay(rhythmWith([30, 30, 30, 30, 30], 8))).toBe(8);
    // A person there on more parts of the day: each has a smaller share, and a longer limit.
    const alone = gapLimit(RULE, rhythmWith([20, 35, 25, 40, 30, 28, 33]), 'home', MORNING, TZ);
    const shared = gapLimit(RULE, rhythmWith([20, 35, 25, 40, 30, 28, 33], 8), 'home', MORNING, TZ);
    expect(shared.ms).toBeGreaterThanOrEqual(alone.ms);
  });

  it('a person with varied mornings: the budget quantile, longer than their longest, with its chance', () => {
    const limit = gapLimit(
      RULE,
      rhythmWith([20, 40, 60, 80, 30, 50, 70, 45, 35, 65], 8),
      'home',
      MORNING,
      TZ,
    );
    expect(limit.by).toBe('budget');
    expect(limit.longestMin).toBe(80);
    expect(limit.ms).toBeGreaterThan((80 + 30) * 60_000);
    expect(limit.ms).toBeLessThan((80 * 1.5 + 30) * 60_000);
    // Its chance on a day there is this time of day's share: 0.05 over 8 places and times.
    expect(limit.chance).toBeCloseTo(0.05 / 8, 6);
  });

  it('never before the longest + 30 min, never after the prior (3 h at home) nor the longest × 1.5 + 30 min', () => {
    const steady = gapLimit(RULE, rhythmWith([6, 6, 6, 6, 6, 6, 6, 6], 8), 'home', MORNING, TZ);
    expect(steady).toMatchObject({ by: 'floor', ms: (6 + 30) * 60_000 });
    const wild = gapLimit(RULE, rhythmWith([20, 150, 30, 90, 15, 120, 60, 100], 8), 'home', MORNING, TZ);
    expect(wild).toMatchObject({ by: 'prior', ms: 3 * 3_600_000 });
    // A silence that starts in the quiet hours (asleep, where no bed sensor says so) is not capped.
    const night = gapLimit(
      RULE,
      rhythmWith([20, 150, 30, 90, 15, 120, 60, 100], 8),
      'home',
      MORNING,
      TZ,
      0.05,
      false,
    );
    expect(night.by).toBe('factor');
    expect(night.ms).toBe((150 * 1.5 + 30) * 60_000);
    // Someone still longer than the prior at home is not raised within their own longest.
    const long = gapLimit(RULE, rhythmWith([170, 150, 175, 160, 168, 172, 165, 171], 8), 'home', MORNING, TZ);
    expect(long).toMatchObject({ by: 'floor', ms: (175 + 30) * 60_000 });
  });

  it('property: the limit lies between the floor and the cap, and a smaller budget never makes it shorter', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 0, maxLength: RHYTHM_DAYS - 1 }),
        fc.integer({ min: 0, max: 8 }),
        fc.double({ min: 0.001, max: 1, noNaN: true }),
        fc.double({ min: 0.001, max: 1, noNaN: true }),
        (maxima, elsewhere, a, b) => {
          const rhythm = rhythmWith(maxima, elsewhere);
          const place = 'home';
          const prior = RULE.prior.homeS * 1000;
          const [small, large] = a < b ? [a, b] : [b, a];
          const tight = gapLimit(RULE, rhythm, place, MORNING, TZ, large);
          const loose = gapLimit(RULE, rhythm, place, MORNING, TZ, small);
          expect(loose.ms).toBeGreaterThanOrEqual(tight.ms);
          const longest = Math.max(0, ...maxima);
          if (longest === 0) expect(tight.ms).toBe(prior);
          else if (tight.by !== undefined) {
            const floor = (longest + 30) * 60_000;
            const cap = Math.min(prior, Math.min(12 * 3_600_000, (longest * 1.5 + 30) * 60_000));
            expect(tight.ms).toBeGreaterThanOrEqual(floor);
            expect(tight.ms).toBeLessThanOrEqual(Math.max(floor, cap));
            expect(tight.chance).toBeGreaterThanOrEqual(0);
            expect(tight.chance).toBeLessThanOrEqual(1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

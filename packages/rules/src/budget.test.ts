import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RHYTHM_RULE } from './default-rules.ts';
import { RhythmRule } from './model.ts';
import { cellsPerDay, gapLimit, initialRhythm, RHYTHM_DAYS, silenceTail } from './rhythm.ts';
import { epochDay } from './time.ts';

const RULE = RhythmRule.parse(RHYTHM_RULE);
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
  it('is on by default at 0.05 false alerts per resident-day; null turns it off', () => {
    expect(RULE.falseAlertBudget).toBe(0.05);
    expect(RhythmRule.parse({ ...RHYTHM_RULE, falseAlertBudget: null }).falseAlertBudget).toBeNull();
    expect(() => RhythmRule.parse({ ...RHYTHM_RULE, falseAlertBudget: 0 })).toThrow();
    expect(() => RhythmRule.parse({ ...RHYTHM_RULE, falseAlertBudget: 2 })).toThrow();
  });

  it('within the days seen, the share of days that outlasted it, by the rule of succession', () => {
    const tail = silenceTail([10, 20, 30, 40]);
    // Five outcomes: four days and one unlike them. 25 min was outlasted by 2 of the 4 days.
    expect(tail.exceed(25)).toBeCloseTo(3 / 5, 9);
    expect(tail.exceed(5)).toBeCloseTo(5 / 5, 9);
    // At or past the longest: only a day unlike every one seen, 1 in 5.
    expect(tail.exceed(40)).toBeCloseTo(1 / 5, 9);
    expect(tail.quantile(3 / 5)).toBe(20);
    expect(tail.quantile(2 / 5)).toBe(30);
  });

  it('past the longest, an exponential tail whose chance only more days make smaller', () => {
    const week = silenceTail([30, 30, 30, 30, 30, 30, 30]);
    const fortnight = silenceTail([30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30]);
    // Mean excess: a fifth of the longest + 12 min = 18 min.
    expect(week.exceed(30 + 18)).toBeCloseTo((1 / 8) * Math.exp(-1), 9);
    expect(week.quantile(0.005)).toBeCloseTo(30 + 18 * Math.log(1 / 8 / 0.005), 6);
    expect(week.exceed(week.quantile(0.005))).toBeCloseTo(0.005, 9);
    // The same days for longer say more: the same chance is a shorter silence.
    expect(fortnight.quantile(0.005)).toBeLessThan(week.quantile(0.005));
    expect(fortnight.quantile(0.005)).toBeGreaterThan(30);
  });

  it('the budget is shared over the places and times of day a day passes through', () => {
    expect(cellsPerDay(rhythmWith([30, 30, 30, 30, 30]))).toBe(1);
    expect(cellsPerDay(rhythmWith([30, 30, 30, 30, 30], 8))).toBe(8);
    // A person there on more parts of the day: each has a smaller share, and a longer limit.
    const alone = gapLimit(RULE, rhythmWith([20, 35, 25, 40, 30, 28, 33]), 'home', MORNING, TZ);
    const shared = gapLimit(RULE, rhythmWith([20, 35, 25, 40, 30, 28, 33], 8), 'home', MORNING, TZ);
    expect(shared.ms).toBeGreaterThan(alone.ms);
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
    expect(limit.ms).toBeLessThan(3 * 3_600_000);
    // Its chance on a day there is this time of day's share: 0.05 over 8 places and times.
    expect(limit.chance).toBeCloseTo(0.05 / 8, 4);
    // A larger budget (an operator's choice for this resident) raises sooner.
    const eager = gapLimit(
      RULE,
      rhythmWith([20, 40, 60, 80, 30, 50, 70, 45, 35, 65], 8),
      'home',
      MORNING,
      TZ,
      0.2,
    );
    expect(eager.ms).toBeLessThan(limit.ms);
  });

  it('a fortnight of steady days comes close to the longest × 1.5 + 30 min; a week is more cautious', () => {
    const fortnight = gapLimit(RULE, rhythmWith(Array(RHYTHM_DAYS - 1).fill(40), 8), 'home', MORNING, TZ);
    const week = gapLimit(RULE, rhythmWith(Array(7).fill(40), 8), 'home', MORNING, TZ);
    expect(fortnight.by).toBe('budget');
    expect(Math.abs(fortnight.ms / 60_000 - (40 * 1.5 + 30))).toBeLessThan(10);
    expect(week.ms).toBeGreaterThan(fortnight.ms);
  });

  it('never before the longest + 30 min, never after the prior by day (3 h at home) nor 12 h', () => {
    const eager = gapLimit(
      RULE,
      rhythmWith([6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], 8),
      'home',
      MORNING,
      TZ,
      1,
    );
    expect(eager).toMatchObject({ by: 'floor', ms: (6 + 30) * 60_000 });
    const wild = gapLimit(RULE, rhythmWith([20, 150, 30, 90, 15, 120, 60, 100], 8), 'home', MORNING, TZ);
    expect(wild).toMatchObject({ by: 'prior', ms: 3 * 3_600_000 });
    // A silence that starts in the quiet hours (asleep, where no bed sensor says so) is not capped
    // at the prior, but at 12 h.
    const night = gapLimit(
      RULE,
      rhythmWith([20, 150, 30, 90, 15, 120, 60, 100], 8),
      'home',
      MORNING,
      TZ,
      0.05,
      false,
    );
    expect(night.by).toBe('budget');
    expect(night.ms).toBeGreaterThan(3 * 3_600_000);
    const sleeper = gapLimit(
      RULE,
      rhythmWith([600, 610, 620, 605, 615, 600, 612, 608], 8),
      'home',
      MORNING,
      TZ,
      0.05,
      false,
    );
    expect(sleeper).toMatchObject({ by: 'cap', ms: 12 * 3_600_000 });
    // Someone still longer than the prior at home is not raised within their own longest.
    const long = gapLimit(
      RULE,
      rhythmWith([170, 150, 175, 160, 168, 172, 165, 171], 8),
      'home',
      MORNING,
      TZ,
      1,
    );
    expect(long).toMatchObject({ by: 'floor', ms: (175 + 30) * 60_000 });
  });

  it('without a budget: the longest × 1.5 + 30 min', () => {
    const limit = gapLimit(
      RULE,
      rhythmWith([20, 40, 60, 80, 30, 50, 70, 45, 35, 65], 8),
      'home',
      MORNING,
      TZ,
      null,
    );
    expect(limit).toMatchObject({ by: 'factor', ms: (80 * 1.5 + 30) * 60_000 });
  });

  it('property: the limit lies between the floor and the cap, and a smaller budget never makes it shorter', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 0, maxLength: RHYTHM_DAYS - 1 }),
        fc.integer({ min: 0, max: 8 }),
        fc.double({ min: 0.001, max: 1, noNaN: true }),
        fc.double({ min: 0.001, max: 1, noNaN: true }),
        fc.boolean(),
        (maxima, elsewhere, a, b, byDay) => {
          const rhythm = rhythmWith(maxima, elsewhere);
          const place = 'home';
          const prior = RULE.prior.homeS * 1000;
          const [small, large] = a < b ? [a, b] : [b, a];
          const tight = gapLimit(RULE, rhythm, place, MORNING, TZ, large, byDay);
          const loose = gapLimit(RULE, rhythm, place, MORNING, TZ, small, byDay);
          expect(loose.ms).toBeGreaterThanOrEqual(tight.ms);
          const longest = Math.max(0, ...maxima);
          if (longest === 0) expect(tight.ms).toBe(prior);
          else if (tight.by !== undefined) {
            const floor = (longest + 30) * 60_000;
            const twelve = 12 * 3_600_000;
            // By day the prior, unless their own longest + 30 min outlasts it; 12 h unless silences
            // longer were seen here on three days or more.
            const cap = byDay && prior >= floor ? prior : Math.max(twelve, floor);
            expect(tight.ms).toBeGreaterThanOrEqual(Math.min(floor, twelve));
            expect(tight.ms).toBeLessThanOrEqual(cap);
            expect(tight.chance).toBeGreaterThanOrEqual(0);
            expect(tight.chance).toBeLessThanOrEqual(1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

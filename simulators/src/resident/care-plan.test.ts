import { describe, expect, it } from 'vitest';
import { carePlanOf } from './care-plan.ts';
import { PROFILE_NAMES, PROFILES } from './profiles.ts';
import { dayPlan, MINUTE } from './routine.ts';

const minuteOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));

describe('carePlanOf', () => {
  it('gives the carer visits of the care package and the nights and mornings of the profile', () => {
    expect(carePlanOf('carer-four-times').visits).toEqual(['08:00', '12:30', '17:00', '21:00']);
    expect(carePlanOf('early-riser')).toMatchObject({
      quietHours: { from: '21:00', to: '04:45' },
      wakeUp: { from: '04:45', to: '06:30' },
      visits: [],
    });
  });

  // The irregular profiles are there to show what a care plan misses: their days go past it.
  it.each(PROFILE_NAMES.filter((name) => !PROFILES[name].irregular))(
    '%s: sixty drawn mornings all get up inside the wake-up window, after the night',
    (name) => {
      const plan = carePlanOf(name);
      const home = { key: 'H1', profile: name, postcode: 'GL1 2AB', seed: 7 };
      for (let day = 0; day < 60; day++) {
        const p = dayPlan(home, 0, day);
        const wake = (p.wake - p.start) / MINUTE;
        expect(wake).toBeGreaterThanOrEqual(minuteOf(plan.quietHours.to));
        expect(wake).toBeLessThan(minuteOf(plan.wakeUp.to));
      }
      // Up by the end of the window means detected within three hours of the usual time.
      expect(minuteOf(plan.wakeUp.to) - PROFILES[name].wake.mean).toBeLessThanOrEqual(3 * 60 - 15);
    },
  );

  it.each(PROFILE_NAMES.filter((name) => PROFILES[name].irregular))(
    '%s: some drawn mornings are later than the care plan’s wake-up window (what real homes showed)',
    (name) => {
      const plan = carePlanOf(name);
      const home = { key: 'H1', profile: name, postcode: 'GL1 2AB', seed: 7 };
      const late = Array.from({ length: 60 }, (_, day) => dayPlan(home, 0, day)).filter(
        (p) => (p.wake - p.start) / MINUTE >= minuteOf(plan.wakeUp.to),
      );
      expect(late.length).toBeGreaterThan(0);
    },
  );
});

import { describe, expect, it } from 'vitest';
import type { SimEvent } from './events.ts';
import type { HomeSpec } from './household.ts';
import type { ProfileName } from './profiles.ts';
import { PROFILES } from './profiles.ts';
import { DAY, dayPlan, HOUR, homeTimeline, indoorSeries, MINUTE, residentDay } from './routine.ts';

const ORIGIN = Date.parse('2025-01-13T00:00:00.000Z');
const home = (profile: ProfileName, seed = 7): HomeSpec => ({
  key: 'H1',
  profile,
  seed,
  postcode: 'GL1 2AB',
});
const minuteOfDay = (at: number) => ((at - ORIGIN) % DAY) / MINUTE;
const firstMovement = (events: SimEvent[]) =>
  events.find((e) => e.type === 'motion' && e.actor === 'resident');

describe('a resident day', () => {
  it('is the same for the same seed and day, and differs between days and seeds', () => {
    const a = residentDay(home('lives-alone'), ORIGIN, 3);
    expect(residentDay(home('lives-alone'), ORIGIN, 3)).toEqual(a);
    expect(residentDay(home('lives-alone'), ORIGIN, 4)).not.toEqual(a);
    expect(residentDay(home('lives-alone', 8), ORIGIN, 3)).not.toEqual(a);
  });

  it('gets up, moves through kitchen, bathroom and lounge, and goes to bed', () => {
    const events = residentDay(home('lives-alone'), ORIGIN, 0);
    const rooms = new Set(events.filter((e) => e.type === 'motion').map((e) => e.device));
    for (const room of ['pir.kitchen', 'pir.bathroom', 'pir.lounge', 'pir.bedroom', 'pir.hall'])
      expect(rooms).toContain(room);
    expect(events[0]?.type).toBe('bed.vacated');
    expect(events.some((e) => e.type === 'bed.occupied')).toBe(true);
    expect(events.some((e) => e.type === 'chair.occupied')).toBe(true);
    const sorted = [...events].sort((x, y) => x.at - y.at);
    expect(events.map((e) => e.at)).toEqual(sorted.map((e) => e.at));
  });

  it('varies from day to day around the profile', () => {
    const wakes = Array.from({ length: 20 }, (_, d) =>
      minuteOfDay(dayPlan(home('lives-alone'), ORIGIN, d).wake),
    );
    expect(new Set(wakes).size).toBeGreaterThan(10);
    const mean = wakes.reduce((s, w) => s + w, 0) / wakes.length;
    expect(Math.abs(mean - PROFILES['lives-alone'].wake.mean)).toBeLessThan(20);
  });

  it("puts an early riser's first movement earlier than someone who lives alone", () => {
    for (let day = 0; day < 10; day++) {
      const early = firstMovement(residentDay(home('early-riser'), ORIGIN, day));
      const late = firstMovement(residentDay(home('lives-alone'), ORIGIN, day));
      expect(minuteOfDay(early?.at ?? 0)).toBeLessThan(minuteOfDay(late?.at ?? 0));
      expect(minuteOfDay(early?.at ?? 0)).toBeLessThan(6.5 * 60);
    }
  });

  it('night-time toileting leaves the bed at night and comes back each time', () => {
    let trips = 0;
    for (let day = 0; day < 10; day++) {
      const plan = dayPlan(home('night-toileting'), ORIGIN, day);
      const bed = residentDay(home('night-toileting'), ORIGIN, day).filter(
        (e) => e.device === 'bed' && e.at > plan.bed,
      );
      const night = bed.filter((e) => minuteOfDay(e.at) < 6 * 60 || minuteOfDay(e.at) > 23 * 60);
      const vacated = night.filter((e) => e.type === 'bed.vacated');
      trips += vacated.length;
      for (const out of vacated) {
        const back = bed.find((e) => e.type === 'bed.occupied' && e.at > out.at);
        expect(back).toBeDefined();
        expect((back?.at ?? Infinity) - out.at).toBeLessThan(45 * MINUTE);
      }
    }
    expect(trips).toBeGreaterThan(10);
  });

  it('a carer four times a day arrives within the jitter of each visit and leaves again', () => {
    const profile = PROFILES['carer-four-times'];
    for (let day = 0; day < 5; day++) {
      const events = residentDay(home('carer-four-times'), ORIGIN, day);
      const arrivals = events.filter((e) => e.type === 'carer.arrived');
      expect(arrivals).toHaveLength(4);
      arrivals.forEach((a, i) => {
        expect(Math.abs(minuteOfDay(a.at) - (profile.carerVisits[i] ?? 0))).toBeLessThanOrEqual(
          profile.carerJitter + 1,
        );
        expect(events.some((e) => e.type === 'carer.left' && e.tag === a.tag && e.at > a.at)).toBe(true);
      });
    }
  });

  it('medication is due on the schedule and taken within the profile delay', () => {
    const events = residentDay(home('carer-four-times'), ORIGIN, 2);
    const due = events.filter((e) => e.type === 'medication.due');
    expect(due).toHaveLength(PROFILES['carer-four-times'].doses.length);
    for (const d of due) {
      const taken = events.find((e) => e.type === 'medication.taken' && e.tag === d.tag);
      expect((taken?.at ?? Infinity) - d.at).toBeLessThanOrEqual(
        PROFILES['carer-four-times'].doseDelayMax * MINUTE,
      );
    }
  });

  it('mild dementia wanders at night without going out', () => {
    let wanders = 0;
    for (let day = 0; day < 10; day++) {
      const plan = dayPlan(home('dementia-night-wandering'), ORIGIN, day);
      const night = residentDay(home('dementia-night-wandering'), ORIGIN, day).filter(
        (e) => e.at > plan.bed + HOUR,
      );
      if (night.some((e) => e.device === 'pir.kitchen' || e.device === 'pir.lounge')) wanders++;
      expect(night.some((e) => e.device === 'door' && e.actor === 'resident')).toBe(false);
    }
    expect(wanders).toBeGreaterThan(2);
  });
});

describe('a home timeline', () => {
  it('sends heartbeats on each device interval, with batteries draining and one low-battery report', () => {
    const tl = homeTimeline(
      { ...home('lives-alone'), batteries: { pendant: 16 } },
      { origin: ORIGIN, days: 6, weatherSeed: 1 },
    );
    const beats = tl.events.filter((e) => e.device === 'pendant' && e.type === 'heartbeat');
    expect(beats.length).toBeGreaterThanOrEqual(35);
    for (let i = 1; i < beats.length; i++)
      expect((beats[i]?.at ?? 0) - (beats[i - 1]?.at ?? 0)).toBe(4 * HOUR);
    const levels = beats.map((b) => Number(b.data?.batteryPercent));
    expect(levels.at(-1)).toBeLessThan(levels[0] ?? 0);
    expect(tl.events.filter((e) => e.type === 'battery.low')).toHaveLength(1);
    expect(tl.expectations.map((e) => e.kind)).toEqual(['battery.low']);
    const hubBeats = tl.events.filter((e) => e.device === 'hub' && e.type === 'heartbeat');
    expect(hubBeats.length).toBe(6 * 24);
    expect(hubBeats[0]?.data).toMatchObject({ mains: true });
  });

  it('reports the temperature every half hour, heated by day and cooler at night', () => {
    const tl = homeTimeline(home('lives-alone'), { origin: ORIGIN, days: 2, weatherSeed: 1 });
    const temps = tl.events.filter((e) => e.type === 'temperature');
    expect(temps.length).toBe(96);
    const at = (h: number) => Number(temps.find((e) => minuteOfDay(e.at) >= h * 60)?.data?.celsius);
    expect(at(15)).toBeGreaterThan(19.5);
    expect(at(4)).toBeLessThan(at(15));
    expect(Math.min(...temps.map((e) => Number(e.data?.celsius)))).toBeGreaterThanOrEqual(16.5);
  });

  it('cools below 16 °C some hours after the heating fails', () => {
    const failAt = ORIGIN + 15 * HOUR;
    const series = indoorSeries(1, ORIGIN, ORIGIN, ORIGIN + 2 * DAY, [{ from: failAt, to: failAt + DAY }]);
    const cold = series.find((s) => s.celsius < 16);
    expect(cold).toBeDefined();
    expect((cold?.at ?? 0) - failAt).toBeGreaterThan(2 * HOUR);
    expect((cold?.at ?? 0) - failAt).toBeLessThan(16 * HOUR);
  });
});

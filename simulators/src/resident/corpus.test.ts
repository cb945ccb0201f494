import { describe, expect, it } from 'vitest';
import { buildScenario, SCENARIOS } from './corpus.ts';
import type { HomeSpec } from './household.ts';
import { type DayPlan, dayPlan } from './routine.ts';

describe('the scenario corpus', () => {
  it.each(Object.keys(SCENARIOS))(
    '%s builds, deterministically, with ground truth inside the run',
    (name) => {
      const spec = SCENARIOS[name];
      if (!spec) throw new Error(name);
      const built = buildScenario(spec);
      expect(buildScenario(spec).events).toEqual(built.events);
      for (const e of built.expectations) {
        expect(e.at).toBeGreaterThanOrEqual(built.origin);
        expect(e.at + e.deadlineS * 1000).toBeLessThan(built.end + 86_400_000);
      }
      for (let i = 1; i < built.events.length; i++)
        expect(built.events[i]?.at).toBeGreaterThanOrEqual(built.events[i - 1]?.at ?? 0);
      const injected = spec.incidents.filter((i) => i.kind !== 'cold-home' && i.kind !== 'medication.missed');
      expect(new Set(built.expectations.map((e) => e.kind))).toEqual(
        new Set([
          ...spec.incidents.map((i) => i.kind),
          ...built.expectations.filter((e) => e.kind === 'battery.low').map((e) => e.kind),
        ]),
      );
      expect(injected.length).toBeLessThanOrEqual(built.expectations.length);
    },
    // The irregular corpus is 280 resident-days, built twice.
    60_000,
  );

  describe('the irregular corpus', () => {
    const built = buildScenario(SCENARIOS.irregular as NonNullable<(typeof SCENARIOS)['irregular']>);
    const ofHome = (key: string) => built.timelines.get(key)?.events ?? [];
    const minuteOfDay = (at: number) => ((at - built.origin) % 86_400_000) / 60_000;

    it('late risers get up anywhere from 09:30 to past 12:45, later at weekends; the others mostly 07:40–10:40', () => {
      const late = ofHome('H1');
      const ups = Array.from({ length: 35 }, (_, day) =>
        dayPlan(built.timelines.get('H1')?.home as HomeSpec, built.origin, day),
      );
      const wakes = ups.map((p) => (p.wake - p.start) / 60_000);
      expect(Math.min(...wakes)).toBeGreaterThanOrEqual(9 * 60 + 30);
      expect(Math.max(...wakes)).toBeGreaterThan(12 * 60 + 45);
      const weekend = ups.filter((p) => [0, 6].includes(new Date(p.start).getUTCDay()));
      const weekday = ups.filter((p) => ![0, 6].includes(new Date(p.start).getUTCDay()));
      const mean = (xs: DayPlan[]) => xs.reduce((n, p) => n + (p.wake - p.start), 0) / xs.length;
      expect(mean(weekend)).toBeGreaterThan(mean(weekday));
      expect(late.some((e) => e.type === 'bed.vacated')).toBe(true);
      const other = Array.from({ length: 35 }, (_, day) =>
        dayPlan(built.timelines.get('H2')?.home as HomeSpec, built.origin, day),
      ).map((p) => (p.wake - p.start) / 60_000);
      expect(Math.min(...other)).toBeGreaterThanOrEqual(7 * 60 + 40);
    });

    it('several outings a day, 20 min to 4 h; long evenings in the chair; naps in bed', () => {
      const events = ofHome('H2').filter((e) => e.tag === 'outing' && e.type === 'door.opened');
      const perDay = new Map<number, number>();
      for (const e of events) {
        const day = Math.floor((e.at - built.origin) / 86_400_000);
        perDay.set(day, (perDay.get(day) ?? 0) + 1);
      }
      expect(Math.max(...perDay.values())).toBeGreaterThanOrEqual(3);
      const h1 = ofHome('H1');
      const chairs = h1.filter((e) => e.device === 'chair' && e.type !== 'heartbeat');
      const longest = Math.max(
        ...chairs.flatMap((e, i) =>
          e.type === 'chair.occupied' && chairs[i + 1]?.type === 'chair.vacated'
            ? [((chairs[i + 1]?.at ?? 0) - e.at) / 60_000]
            : [],
        ),
      );
      expect(longest).toBeGreaterThanOrEqual(120);
      const afternoonBed = h1.filter(
        (e) => e.type === 'bed.occupied' && minuteOfDay(e.at) > 13 * 60 && minuteOfDay(e.at) < 17 * 60,
      );
      expect(afternoonBed.length).toBeGreaterThan(0);
    });

    it('each home has a collapse after getting up, a night it never got up and an evening out and not back', () => {
      for (const kind of ['collapse.after-getup', 'never-up', 'out.not-back'])
        expect(built.expectations.filter((e) => e.kind === kind)).toHaveLength(8);
      const out = built.expectations.find((e) => e.kind === 'out.not-back' && e.homes[0] === 'H1');
      const h1 = ofHome('H1');
      const door = h1.filter((e) => e.at >= (out?.at ?? 0) && e.device === 'door');
      expect(door[0]?.type).toBe('door.opened');
      // Nothing from the resident inside until brought back.
      const inside = h1.filter(
        (e) => e.at > (out?.at ?? 0) + 30_000 && e.at < (out?.until ?? 0) && e.actor === 'resident',
      );
      expect(inside).toEqual([]);
    });
  });

  it('marks falls seen by a device, presses, smoke, heat and CO as life-critical, at P1, due within a minute of the signal', () => {
    const built = buildScenario(
      SCENARIOS['life-critical'] as NonNullable<(typeof SCENARIOS)['life-critical']>,
    );
    const lc = built.expectations.filter((e) => e.lifeCritical);
    expect(lc).toHaveLength(8);
    for (const e of lc) {
      expect(e.priority).toBe(1);
      expect(e.deadlineS).toBeLessThanOrEqual(60 + 75);
    }
  });

  it('a fall with the detector firing sends fall.detected and then nothing from the resident for hours', () => {
    const built = buildScenario(
      SCENARIOS['life-critical'] as NonNullable<(typeof SCENARIOS)['life-critical']>,
    );
    const fall = built.expectations.find((e) => e.kind === 'fall.detector');
    const h1 = built.timelines.get('H1');
    const signal = h1?.events.find((e) => e.type === 'fall.detected');
    expect(signal?.at).toBe((fall?.at ?? 0) + 5_000);
    const after = h1?.events.filter(
      (e) =>
        e.actor === 'resident' &&
        !e.incident &&
        e.at > (fall?.at ?? 0) &&
        e.at < (fall?.at ?? 0) + 3 * 3_600_000,
    );
    expect(after).toEqual([]);
  });

  it('a missed dose keeps its due event and loses the taken one; a carer no-show loses the whole visit', () => {
    const built = buildScenario(SCENARIOS.wellbeing as NonNullable<(typeof SCENARIOS)['wellbeing']>);
    const h2 = built.timelines.get('H2')?.events ?? [];
    expect(h2.some((e) => e.type === 'medication.due' && e.tag === 'dose-d1-1')).toBe(true);
    expect(h2.some((e) => e.type === 'medication.taken' && e.tag === 'dose-d1-1')).toBe(false);
    const h3 = built.timelines.get('H3')?.events ?? [];
    expect(h3.filter((e) => e.tag === 'carer-d1-v1')).toEqual([]);
    expect(h3.filter((e) => e.type === 'carer.arrived')).toHaveLength(7);
  });

  it('an area mains failure reaches every hub in the district, and only there', () => {
    const built = buildScenario(SCENARIOS.technical as NonNullable<(typeof SCENARIOS)['technical']>);
    const lost = built.events.filter((e) => e.type === 'mains.lost');
    const gl4 = SCENARIOS.technical?.homes.filter((h) => h.postcode.startsWith('GL4 ')).map((h) => h.key);
    // At least the ten homes the area rule needs in one district.
    expect(gl4?.length).toBeGreaterThanOrEqual(10);
    expect(lost.map((e) => e.home).sort()).toEqual([...(gl4 ?? [])].sort());
    expect(built.events.filter((e) => e.type === 'mains.restored')).toHaveLength(gl4?.length ?? 0);
    const area = built.expectations.find((e) => e.kind === 'area.mains-lost');
    expect(area?.homes).toHaveLength(gl4?.length ?? 0);
    expect(area?.area).toBe(true);
    expect(
      built.events.some((e) => e.device === 'hub' && e.type === 'heartbeat' && e.data?.mains === false),
    ).toBe(true);
  });

  it('a silent device sends nothing after it dies, and is due before its supervision runs out', () => {
    const built = buildScenario(SCENARIOS.technical as NonNullable<(typeof SCENARIOS)['technical']>);
    const silent = built.expectations.find((e) => e.kind === 'device.silent');
    const h7 = built.timelines.get('H7')?.events ?? [];
    expect(h7.some((e) => e.device === 'smoke' && e.at >= (silent?.at ?? 0))).toBe(false);
    expect(silent?.deadlineS).toBeLessThanOrEqual(9 * 3600 + 900 + 900);
  });

  it('a fallen resident is out of the chair: the sensor reports it vacated before the fall', () => {
    const built = buildScenario(SCENARIOS.month as NonNullable<(typeof SCENARIOS)['month']>);
    const fall = built.expectations.find((e) => e.kind === 'fall.detector');
    const chair = built.timelines
      .get('H1')
      ?.events.filter((e) => e.device === 'chair' && e.type !== 'heartbeat' && e.at < (fall?.at ?? 0));
    expect(chair?.at(-1)?.type).toBe('chair.vacated');
    expect(fall?.until).toBe((fall?.at ?? 0) + 3 * 3_600_000);
  });

  it('a night exit pulls the door shut, or leaves it open until brought back', () => {
    const built = buildScenario(SCENARIOS.wellbeing as NonNullable<(typeof SCENARIOS)['wellbeing']>);
    const doorOf = (home: string, kind: string) => {
      const e = built.expectations.find((x) => x.kind === kind);
      return built.timelines
        .get(home)
        ?.events.filter((x) => x.device === 'door' && x.type !== 'heartbeat' && x.at >= (e?.at ?? 0))
        .slice(0, 2)
        .map((x) => [x.type, Math.round((x.at - (e?.at ?? 0)) / 60_000)]);
    };
    expect(doorOf('H5', 'night-exit')).toEqual([
      ['door.opened', 0],
      ['door.closed', 0],
    ]);
    expect(doorOf('H2', 'night-exit.door-open')).toEqual([
      ['door.opened', 0],
      ['door.closed', 51],
    ]);
  });

  it('a cancelled press is expected raised, then closed as a false alarm', () => {
    const built = buildScenario(SCENARIOS.pendant as NonNullable<(typeof SCENARIOS)['pendant']>);
    const cancelled = built.expectations.filter((e) => e.kind === 'pendant.cancelled');
    expect(cancelled).toHaveLength(2);
    for (const e of cancelled)
      expect(e).toMatchObject({ expect: ['pendant.pressed'], closedAs: 'false-alarm' });
  });

  it('a cold home is due from the first reading below 16 °C', () => {
    const built = buildScenario(SCENARIOS.wellbeing as NonNullable<(typeof SCENARIOS)['wellbeing']>);
    const cold = built.expectations.find((e) => e.kind === 'cold-home');
    const reading = built.timelines
      .get('H4')
      ?.events.find((e) => e.at === cold?.at && e.type === 'temperature');
    expect(Number(reading?.data?.celsius)).toBeLessThan(16);
  });
});

import { describe, expect, it } from 'vitest';
import { buildScenario, SCENARIOS } from './corpus.ts';

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
  );

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

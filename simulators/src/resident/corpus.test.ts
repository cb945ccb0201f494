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
    expect(lost.map((e) => e.home).sort()).toEqual(['H1', 'H2', 'H3', 'H4', 'H5', 'H6']);
    expect(built.events.filter((e) => e.type === 'mains.restored')).toHaveLength(6);
    const area = built.expectations.find((e) => e.kind === 'area.mains-lost');
    expect(area?.homes).toHaveLength(6);
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

  it('a cold home is due from the first reading below 16 °C', () => {
    const built = buildScenario(SCENARIOS.wellbeing as NonNullable<(typeof SCENARIOS)['wellbeing']>);
    const cold = built.expectations.find((e) => e.kind === 'cold-home');
    const reading = built.timelines
      .get('H4')
      ?.events.find((e) => e.at === cold?.at && e.type === 'temperature');
    expect(Number(reading?.data?.celsius)).toBeLessThan(16);
  });
});

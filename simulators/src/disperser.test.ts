import { describe, expect, it } from 'vitest';
import { viaDisperser } from './disperser.ts';
import { buildScenario, SCENARIOS } from './resident/corpus.ts';
import type { SimEvent } from './resident/events.ts';

describe('viaDisperser', () => {
  const spec = SCENARIOS['life-critical'];
  if (!spec) throw new Error('no life-critical scenario');
  const built = buildScenario(spec);
  const dc09 = new Set(spec.homes.filter((h) => h.via === 'dc09').map((h) => h.key));
  const events = viaDisperser(built.events, dc09);

  it("sends a DC-09 home's alarms, mains and a poll per hub heartbeat through the disperser, with their zone", () => {
    expect(dc09.size).toBeGreaterThan(0);
    const carried = events.filter((e) => e.via === 'dc09');
    expect(new Set(carried.map((e) => e.home))).toEqual(dc09);
    for (const type of ['pendant.pressed', 'fall.detected', 'heat.detected', 'co.detected'])
      expect(carried.some((e) => e.type === type)).toBe(true);
    expect(carried.find((e) => e.type === 'fall.detected')?.data).toEqual({ zone: '003' });
    const hubBeats = built.events.filter(
      (e) => dc09.has(e.home) && e.device === 'hub' && e.type === 'heartbeat',
    );
    expect(carried.filter((e) => e.type === 'heartbeat')).toHaveLength(hubBeats.length);
  });

  it('restores a press or fall zone by itself two seconds on, as real panels do, in time order', () => {
    const carried = events.filter((e) => e.via === 'dc09');
    const triggers = carried.filter((e) => e.type === 'pendant.pressed' || e.type === 'fall.detected');
    expect(triggers.length).toBeGreaterThan(0);
    for (const t of triggers)
      expect(carried).toContainEqual(
        expect.objectContaining({ home: t.home, device: t.device, type: 'alarm.restored', at: t.at + 2_000 }),
      );
    expect(carried.filter((e) => e.type === 'alarm.restored')).toHaveLength(triggers.length);
    const times = events.map((e) => e.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it("keeps the radio triggers' own heartbeats off the air, and every other home and sensor unchanged", () => {
    expect(events.some((e) => dc09.has(e.home) && e.device === 'pendant' && e.type === 'heartbeat')).toBe(
      false,
    );
    const others = (list: readonly SimEvent[]) =>
      list.filter((e) => !dc09.has(e.home) || e.device.startsWith('pir.'));
    expect(others(events)).toEqual(others(built.events));
    // Carer visits come from the MQTT hub, as before.
    expect(events.filter((e) => e.type === 'carer.arrived' && !e.via).length).toBe(
      built.events.filter((e) => e.type === 'carer.arrived').length,
    );
  });
});

describe('a fire trouble through the disperser', () => {
  const spec = SCENARIOS.technical;
  if (!spec) throw new Error('no technical scenario');
  const built = buildScenario(spec);
  const dc09 = new Set(spec.homes.filter((h) => h.via === 'dc09').map((h) => h.key));
  const events = viaDisperser(built.events, dc09);

  it("is carried with its fire zone, and its restore, as a panel reports a detector's trouble", () => {
    const troubles = events.filter(
      (e) => e.via === 'dc09' && (e.type === 'device.fault' || e.type === 'fault.restored'),
    );
    expect(troubles.map((e) => [e.home, e.device, e.type, e.data])).toEqual([
      ['H8', 'smoke', 'device.fault', { zone: '010' }],
      ['H8', 'smoke', 'fault.restored', { zone: '010' }],
    ]);
    expect(built.expectations).toContainEqual(
      expect.objectContaining({ kind: 'fire.trouble', homes: ['H8'], expect: ['device.fault'], priority: 3 }),
    );
  });
});

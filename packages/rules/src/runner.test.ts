import type { Alert } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { parseRuleSet } from './parse.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

const T = Date.parse('2026-11-22T10:00:00.000Z');
const WINDOW_AND_GRACE_MS = 330_000;

const mainsLost = (home: string, district: string | undefined, at: number) =>
  makeEvent({
    type: 'mains.lost',
    time: new Date(at).toISOString(),
    residentid: `res_${home}`,
    subject: `HUB-${home}`,
    devicekind: 'home-unit',
    deviceEventId: `ml-${home}`,
    ...(district ? { postcodedistrict: district } : {}),
  });

/** Each event at its own time (arriving 2 s later), then the clock runs on until every hold is decided. */
function run(runner: RulesRunner, events: ReturnType<typeof mainsLost>[]): Alert[] {
  const alerts: Alert[] = [];
  for (const event of events) alerts.push(...runner.event(event, Date.parse(event.time) + 2_000));
  alerts.push(...runner.advance(T + 2 * WINDOW_AND_GRACE_MS));
  return alerts;
}

const byType = (alerts: readonly Alert[], type: string) => alerts.filter((alert) => alert.type === type);

describe('RulesRunner applies area holds as triage does', () => {
  it('50 homes of one district: one area incident, no per-home mains.lost; a lone home elsewhere alerts', () => {
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const district = Array.from({ length: 50 }, (_, i) => mainsLost(`gl${i}`, 'GL1', T + 10_000 + i * 1_000));
    const lone = mainsLost('lone', 'GL9', T + 30_000);
    const events = [...district.slice(0, 25), lone, ...district.slice(25)];
    const alerts = run(runner, events);

    const incidents = byType(alerts, 'area.mains-lost');
    expect(incidents).toHaveLength(1);
    expect(incidents[0]).toMatchObject({ residentId: 'area:GL1', priority: 3 });
    const homes = byType(alerts, 'mains.lost');
    expect(homes.map((alert) => alert.residentId)).toEqual(['res_lone']);
    expect(runner.withheld.map((alert) => alert.residentId).sort()).toEqual(
      district.map((event) => event.residentid).sort(),
    );
  });

  it('holds a per-home alert until its window has closed, then releases it as raised', () => {
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const event = mainsLost('alone', 'GL2', T + 10_000);
    expect(runner.event(event, T + 12_000)).toEqual([]);
    expect(runner.advance(T + WINDOW_AND_GRACE_MS - 1)).toEqual([]);
    const released = runner.advance(T + WINDOW_AND_GRACE_MS);
    expect(released).toHaveLength(1);
    expect(released[0]).toMatchObject({ type: 'mains.lost', residentId: 'res_alone', evidence: [event.id] });
    // Raised when the event was taken, as the alert triage stores with its hold.
    expect(released[0]?.raisedAt).toBe(new Date(T + 12_000).toISOString());
    expect(runner.withheld).toEqual([]);
  });

  it('never holds a home with no district, nor without area rules', () => {
    const noDistrict = new RulesRunner(DEFAULT_RULE_SET);
    expect(byType(noDistrict.event(mainsLost('nod', undefined, T), T + 1_000), 'mains.lost')).toHaveLength(1);

    const noArea = new RulesRunner(
      parseRuleSet({ ...DEFAULT_RULE_SET, rules: DEFAULT_RULE_SET.rules.filter((r) => r.kind !== 'area') }),
    );
    const alerts = run(
      noArea,
      Array.from({ length: 12 }, (_, i) => mainsLost(`na${i}`, 'GL3', T + i * 1_000)),
    );
    expect(byType(alerts, 'mains.lost')).toHaveLength(12);
    expect(byType(alerts, 'area.mains-lost')).toEqual([]);
  });
});

describe('RulesRunner keeps each resident’s timers in force', () => {
  const supervisionOnly = parseRuleSet({
    ...DEFAULT_RULE_SET,
    rules: DEFAULT_RULE_SET.rules
      .filter((rule) => rule.id === 'absence.supervision')
      .map((rule) =>
        rule.kind === 'absence' ? { ...rule, window: { kind: 'supervision', defaultIntervalS: 600 } } : rule,
      ),
  });
  const beat = (home: string, at: number) =>
    makeEvent({
      type: 'heartbeat',
      time: new Date(at).toISOString(),
      residentid: `res_${home}`,
      subject: `HUB-${home}`,
      devicekind: 'home-unit',
      deviceEventId: `hb-${home}-${at}`,
    });

  it('a heartbeat cancels the check before it, for its own resident only; the last checks fire once each', () => {
    const runner = new RulesRunner(supervisionOnly);
    // Two homes whose timer ids differ only by their own heartbeats, beating in turn.
    for (const at of [T, T + 300_000, T + 600_000]) runner.event(beat('a', at), at + 1_000);
    runner.event(beat('b', T + 100_000), T + 101_000);
    expect(runner.pendingTimers).toBe(2);
    const alerts = runner.advance(T + 3_600_000);
    expect(alerts.map((alert) => [alert.type, alert.residentId]).sort()).toEqual([
      ['supervision.lost', 'res_a'],
      ['supervision.lost', 'res_b'],
    ]);
    expect(runner.pendingTimers).toBe(0);
  });

  it('a check each heartbeat moves later fires once, at the last heartbeat’s check: not at an earlier one, nor twice', () => {
    const runner = new RulesRunner(supervisionOnly);
    const graceMs = supervisionOnly.settings.reorderGraceS * 1000;
    const beats = [T, T + 300_000, T + 500_000, T + 550_000];
    for (const at of beats) expect(runner.event(beat('c', at), at + 1_000)).toEqual([]);
    expect(runner.pendingTimers).toBe(1);
    const due = T + 550_000 + 600_000 + graceMs;
    // The earlier heartbeats' checks come up on the way (each moved on since): none alerts.
    expect(runner.advance(due - 1)).toEqual([]);
    expect(runner.pendingTimers).toBe(1);
    const alerts = runner.advance(due);
    expect(alerts.map((alert) => [alert.type, alert.raisedAt])).toEqual([
      ['supervision.lost', new Date(due).toISOString()],
    ]);
    expect(runner.pendingTimers).toBe(0);
    expect(runner.advance(due + 86_400_000)).toEqual([]);
    // A heartbeat after the loss is back: its restore, and a check of its own again.
    const back = due + 60_000;
    expect(runner.event(beat('c', back), back).map((alert) => alert.type)).toEqual(['supervision.restored']);
    expect(runner.pendingTimers).toBe(1);
  });
});

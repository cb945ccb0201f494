import type { Alert, EventType, TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import type { RuleSet } from './model.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

/**
 * What real homes and devices do that a simulated home does not: clocks that are wrong, reports
 * delivered days late after an outage, sensors that bounce. Each case here raised false alerts, or
 * a storm of them, before its fix.
 */
const RESIDENT = 'res_realhome1';
const H = 3_600_000;
/** March 2026, before British summer time: Europe/London is UTC. 2 Mar is a Monday. */
const START = Date.parse('2026-03-02T08:00:00.000Z');
const iso = (t: number) => new Date(t).toISOString();

let counter = 0;
function ev(
  type: EventType,
  at: number,
  fields: { receivedAt?: number; subject?: string; devicekind?: string; data?: Record<string, unknown> } = {},
): TelecareEvent {
  return makeEvent({
    type,
    time: iso(at),
    receivedat: iso(fields.receivedAt ?? at),
    residentid: RESIDENT,
    subject: fields.subject ?? 'HUB-0001',
    devicekind: fields.devicekind ?? 'hub',
    location: 'hall',
    deviceEventId: `rh-${++counter}-${type}`,
    ...(fields.data ? { data: fields.data } : {}),
  });
}

/** Runs events, each at the time the platform received it, then timers until `until`. */
function run(
  events: readonly { event: TelecareEvent; now: number }[],
  until: number,
  ruleSet: RuleSet = DEFAULT_RULE_SET,
  intervalS = 3 * 3600,
): Alert[] {
  const runner = new RulesRunner(ruleSet, { device: () => ({ supervisionIntervalS: intervalS }) });
  const alerts: Alert[] = [];
  for (const { event, now } of events) alerts.push(...runner.event(event, now));
  alerts.push(...runner.advance(until));
  return alerts;
}

const ofType = (alerts: readonly Alert[], prefix: string) => alerts.filter((a) => a.type.startsWith(prefix));

describe('supervision measures when the platform heard the device', () => {
  it('a hub whose clock reset to 1970 and beats every hour is not lost and restored every hour', () => {
    // The real-time clock lost its time in a power cut and nothing set it again: every report
    // says 1 Jan 1970, and arrives on time.
    const events = Array.from({ length: 24 }, (_, i) => ({
      event: ev('heartbeat', i * H + 5_000, { receivedAt: START + i * H }),
      now: START + i * H,
    }));
    const alerts = run(events, START + 23 * H + 30 * 60_000);
    expect(ofType(alerts, 'supervision').map((a) => a.type)).toEqual([]);
  });

  it('the same hub, once it stops, is lost once, from its last report', () => {
    const events = Array.from({ length: 6 }, (_, i) => ({
      event: ev('heartbeat', i * H + 5_000, { receivedAt: START + i * H }),
      now: START + i * H,
    }));
    const alerts = ofType(run(events, START + 12 * H), 'supervision');
    expect(alerts.map((a) => a.type)).toEqual(['supervision.lost']);
    // Lost three hours after it was last heard (5 h after the first beat), not in 1970.
    expect(Date.parse(alerts[0]?.raisedAt ?? '')).toBe(START + 8 * H + 30_000);
    expect(alerts[0]?.late).toBe(false);
  });

  it('a hub back from two days offline, its backlog delivered at once, is lost once and restored once', () => {
    const events: { event: TelecareEvent; now: number }[] = [];
    for (let i = 0; i < 10; i++) events.push({ event: ev('heartbeat', START + i * H), now: START + i * H });
    // Its line is down for two days; it kept its hourly beats and sends them when the line is back.
    const back = START + 58 * H;
    for (let i = 10; i < 58; i++)
      events.push({
        event: ev('heartbeat', START + i * H, { receivedAt: back + (i - 10) * 50 }),
        now: back + (i - 10) * 50,
      });
    for (let i = 59; i < 62; i++) events.push({ event: ev('heartbeat', START + i * H), now: START + i * H });
    const alerts = ofType(run(events, START + 62 * H), 'supervision');
    expect(alerts.map((a) => a.type)).toEqual(['supervision.lost', 'supervision.restored']);
    // Lost in real time, three hours after the last beat heard before the outage.
    expect(Date.parse(alerts[0]?.raisedAt ?? '')).toBe(START + 12 * H + 30_000);
  });
});

describe('a busy or bouncing sensor does not push out what a check is waiting for', () => {
  const pir = (at: number) => ({
    event: ev('motion', at, { subject: 'PIR-0001', devicekind: 'pir' }),
    now: at,
  });
  /** A PIR bouncing: 50 reports a minute, from `from` for `forMs`. */
  const bouncing = (from: number, forMs: number) =>
    Array.from({ length: Math.floor(forMs / 1200) }, (_, i) => pir(from + (i + 1) * 1200));

  it('sitting five hours in the chair, the room PIR reporting every minute: the chair is still raised', () => {
    const t0 = START + 4 * H; // 12:00
    const events = [
      { event: ev('chair.occupied', t0, { subject: 'CHAIR-0001', devicekind: 'chair-sensor' }), now: t0 },
      ...Array.from({ length: 300 }, (_, i) => pir(t0 + (i + 1) * 60_000)),
    ];
    const alerts = run(events, t0 + 5 * H);
    expect(ofType(alerts, 'chair.').map((a) => a.type)).toEqual(['chair.too-long']);
  });

  it('a dose offered while a PIR bounces 50 times a minute, never taken: missed', () => {
    const t0 = START; // 08:00
    const events = [
      {
        event: ev('medication.due', t0, {
          subject: 'MED-0001',
          devicekind: 'medication-dispenser',
          data: { doseId: 'morning' },
        }),
        now: t0,
      },
      ...bouncing(t0, H),
    ];
    const alerts = run(events, t0 + H);
    expect(ofType(alerts, 'medication.').map((a) => a.type)).toEqual(['medication.missed']);
  });

  it('out of bed at 02:00 and not back, a PIR bouncing meanwhile: raised at 45 min', () => {
    const t0 = START - 6 * H; // 02:00
    const events = [
      { event: ev('bed.occupied', t0 - H, { subject: 'BED-0001', devicekind: 'bed-sensor' }), now: t0 - H },
      { event: ev('bed.vacated', t0, { subject: 'BED-0001', devicekind: 'bed-sensor' }), now: t0 },
      ...bouncing(t0, H),
    ];
    const alerts = ofType(run(events, t0 + H), 'bed.');
    expect(alerts.map((a) => a.type)).toEqual(['bed.not-returned']);
    expect(Date.parse(alerts[0]?.raisedAt ?? '')).toBe(t0 + 45 * 60_000 + 30_000);
  });
});

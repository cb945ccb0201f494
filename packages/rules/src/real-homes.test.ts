import type { Alert, EventType, TelecareEvent } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState, type RuleSet, type Timer } from './model.ts';
import { parseRuleSet } from './parse.ts';
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

describe('a flapping sensor raises a bounded number of alerts, and a fault it settles in is still raised', () => {
  const SECOND = 1000;
  /** A sensor flapping between an alarm and its restore every `stepMs`, `n` reports, from `from`. */
  const flapping = (
    alarm: EventType,
    restore: EventType,
    from: number,
    n: number,
    stepMs: number,
    subject: string,
  ) =>
    Array.from({ length: n }, (_, i) => ({
      event: ev(i % 2 === 0 ? alarm : restore, from + i * stepMs, { subject, devicekind: 'home-unit' }),
      now: from + i * stepMs,
    }));

  it('a tamper switch bouncing 60 times a minute for ten minutes: at most three tamper alerts, each closed', () => {
    const alerts = run(
      flapping('device.tamper', 'tamper.restored', START, 600, SECOND, 'HUB-0002'),
      START + 2 * H,
    );
    const tamper = ofType(alerts, 'device.tamper');
    expect(tamper.length).toBeLessThanOrEqual(3);
    expect(tamper.length).toBeGreaterThan(0);
    // Every tamper alert raised is closed by its restore; no restore closes one never raised.
    const closes = ofType(alerts, 'tamper.restored').map((a) => a.closes?.alertId);
    expect(new Set(closes)).toEqual(new Set(tamper.map((a) => a.id)));
  });

  it('mains flapping in a brownout, then lost for good: raised again once it settles, saying so', () => {
    // 40 reports, lost and restored every 5 s, the last a loss: the power did not come back.
    const events = flapping('mains.lost', 'mains.restored', START, 41, 5 * SECOND, 'HUB-0003');
    const alerts = run(events, START + 2 * H);
    const lost = ofType(alerts, 'mains.lost');
    expect(lost.length).toBeLessThanOrEqual(4);
    const last = lost.at(-1);
    // The last report, a loss 200 s after the first, is raised once the device has been quiet ten minutes.
    expect(last?.evidence).toEqual([events.at(-1)?.event.id]);
    expect(Date.parse(last?.raisedAt ?? '')).toBe(START + 200 * SECOND + 600 * SECOND + 30 * SECOND);
    expect(last?.reason).toMatch(/reported 21 times since 08:00, 18 not raised/);
    // It is not closed: nothing restored it.
    expect(alerts.filter((a) => a.closes?.alertId === last?.id)).toEqual([]);
  });

  it('mains flapping that settles restored raises nothing more', () => {
    const events = flapping('mains.lost', 'mains.restored', START, 40, 5 * SECOND, 'HUB-0003');
    const lost = ofType(run(events, START + 2 * H), 'mains.lost');
    expect(lost.length).toBe(3);
  });

  it('a smoke detector flapping still raises every alarm: life-critical is never limited', () => {
    const events = flapping('smoke.detected', 'smoke.restored', START, 40, 2 * SECOND, 'SMK-0001');
    expect(ofType(run(events, START + H), 'smoke.detected')).toHaveLength(20);
  });

  it('battery low sent with every hourly beat for two days: one alert', () => {
    const events = Array.from({ length: 48 }, (_, i) => ({
      event: ev('battery.low', START + i * H, { subject: 'PIR-0009', devicekind: 'pir' }),
      now: START + i * H,
    }));
    expect(ofType(run(events, START + 49 * H), 'battery.low')).toHaveLength(1);
  });
});

describe('a limit is never put on an alarm', () => {
  it('refuses a limit on a rule that raises P1, and on a merging rule', () => {
    const limit = { max: 3, withinS: 600 };
    expect(() =>
      parseRuleSet({
        version: 1,
        rules: [
          { id: 'smoke', version: 1, kind: 'trigger', on: ['smoke.detected'], reason: '{what}', limit },
          {
            id: 'tamper',
            version: 1,
            kind: 'trigger',
            on: ['device.tamper'],
            priority: 1,
            reason: '{what}',
            limit,
          },
          {
            id: 'press',
            version: 1,
            kind: 'trigger',
            on: ['bogus-caller.pressed'],
            reason: '{what}',
            mergeWithinS: 300,
            limit,
          },
        ],
      }),
    ).toThrow(
      expect.objectContaining({
        issues: [
          { path: 'rules.0.limit', message: 'a rule that raises P1 is never limited: alarms always alert' },
          { path: 'rules.1.limit', message: 'a rule that raises P1 is never limited: alarms always alert' },
          { path: 'rules.2.limit', message: 'a merging rule (mergeWithinS) cannot also be limited' },
        ],
      }),
    );
  });
});

describe("a home's backlog, delivered late, is read before a check it makes moot decides", () => {
  it('a fall and the movement after it, both sent two hours late: the fall alerts, flagged late; no "then no movement"', () => {
    const fall = START; // 08:00, sent at 10:00 with what followed it
    const back = START + 2 * H;
    const events = [
      {
        event: ev('fall.detected', fall, {
          receivedAt: back,
          subject: 'FALL-0001',
          devicekind: 'fall-detector',
        }),
        now: back,
      },
      ...[1, 2, 3, 4].map((m, i) => ({
        event: ev('motion', fall + m * 60_000, {
          receivedAt: back + 1 + i,
          subject: 'PIR-0001',
          devicekind: 'pir',
        }),
        now: back + 1 + i,
      })),
    ];
    const alerts = run(events, back + H);
    const falls = ofType(alerts, 'fall.');
    expect(falls.map((a) => [a.rule.id, a.late])).toEqual([['trigger.fall', true]]);
  });

  it('a day of activity held back by a line down four hours raises no silence for each report it delivers', () => {
    const intervals = (event: TelecareEvent) => ({
      supervisionIntervalS: event.subject === 'HUB-0001' ? 2 * 3600 : 25 * 3600,
    });
    const runner = new RulesRunner(DEFAULT_RULE_SET, { device: intervals });
    const day0 = Date.parse('2026-03-02T00:00:00.000Z');
    const sends: { event: TelecareEvent; now: number }[] = [];
    for (let d = 0; d < 10; d++) {
      const base = day0 + d * 24 * H;
      // On the last day the line is down from 10:00 to 14:00; the hub sends what it held at 14:00.
      const sent = (at: number) =>
        d === 9 && at >= base + 10 * H && at < base + 14 * H
          ? base + 14 * H + (at - base - 10 * H) / 1000
          : at;
      const add = (type: EventType, at: number, subject: string, devicekind: string) =>
        sends.push({ event: ev(type, at, { receivedAt: sent(at), subject, devicekind }), now: sent(at) });
      for (let h = 0; h < 24; h++) {
        const t = base + h * H;
        add('heartbeat', t, 'HUB-0001', 'hub');
        if (h === 7) add('bed.vacated', t + 60_000, 'BED-0001', 'bed-sensor');
        if (h >= 7 && h < 22)
          for (let m = 5; m < 60; m += 15) add('motion', t + m * 60_000, 'PIR-0001', 'pir');
        if (h === 22) add('bed.occupied', t + 60_000, 'BED-0001', 'bed-sensor');
      }
    }
    sends.sort((a, b) => a.now - b.now);
    const alerts: Alert[] = [];
    for (const { event, now } of sends) alerts.push(...runner.event(event, now));
    alerts.push(...runner.advance(day0 + 10 * 24 * H));
    // While the line was down nothing arrived: one silence raised then, in real time, and the
    // hub's loss. The reports delivered at 14:00 each end the silence before them.
    const silences = ofType(alerts, 'inactivity.');
    expect(silences.length).toBeLessThanOrEqual(1);
    expect(silences.every((a) => Date.parse(a.raisedAt) < day0 + 9 * 24 * H + 14 * H)).toBe(true);
    // That one, raised while the hub was silent too (its 10:00 beat held back), says so: the
    // whole home silent since the last movement at 09:50, not only no movement.
    expect(silences).toHaveLength(1);
    for (const silence of silences) {
      expect(silence.reason).toMatch(/^The whole home is silent, hub included, since 09:50 today/);
      expect(silence.thresholds.homeSilentSince).toBe(iso(day0 + 9 * 24 * H + 9 * H + 50 * 60_000));
    }
  });
});

describe('a device that left the home is not supervised there', () => {
  const A = 'res_realhomeA';
  const beat = (at: number) =>
    makeEvent({
      type: 'heartbeat',
      time: iso(at),
      residentid: A,
      subject: 'PND-0042',
      devicekind: 'pendant',
      deviceEventId: `left-${at}`,
    });
  /** A's state after two hourly beats, and the device's check the last one set. */
  function armed() {
    let state = initialState(A);
    let check: Timer | undefined;
    for (const at of [START, START + H]) {
      const result = evaluate(
        state,
        { kind: 'event', event: beat(at), now: at, device: { supervisionIntervalS: 3600 } },
        DEFAULT_RULE_SET,
      );
      state = result.state;
      for (const command of result.timers)
        if (command.op === 'set' && command.timer.ruleId === 'absence.supervision') check = command.timer;
    }
    if (!check) throw new Error('no supervision check set');
    return { state, check };
  }
  const tick = (device: { residentId: string | null } | undefined) => {
    const { state, check } = armed();
    return evaluate(
      state,
      { kind: 'tick', timer: check, now: check.dueAt, ...(device ? { device } : {}) },
      DEFAULT_RULE_SET,
    );
  };

  it('a pendant re-paired to another resident: its check at the first home raises nothing and forgets it', () => {
    const result = tick({ residentId: 'res_realhomeB' });
    expect(result.alerts).toEqual([]);
    expect(result.state.devices['PND-0042']).toBeUndefined();
  });

  it('a pendant decommissioned while its check was due: nothing raised', () => {
    expect(tick({ residentId: null }).alerts).toEqual([]);
  });

  it('still its resident’s, or not known (the map unreadable): the loss is raised as before', () => {
    expect(tick({ residentId: A }).alerts.map((a) => a.type)).toEqual(['supervision.lost']);
    expect(tick(undefined).alerts.map((a) => a.type)).toEqual(['supervision.lost']);
  });
});

describe('a temperature sensor that reports its power-on value', () => {
  const reading = (at: number, celsius: number) => ({
    event: ev('temperature', at, {
      subject: 'TMP-0001',
      devicekind: 'temperature-sensor',
      data: { celsius },
    }),
    now: at,
  });
  const MIN = 60_000;

  it('a cold home whose sensor resets in the cold (85.0 °C, a DS18B20 at power-on) is still raised at 60 min', () => {
    const t0 = START;
    const events = [0, 15, 30, 45, 60, 75].map((m) => reading(t0 + m * MIN, m === 30 ? 85 : 13.5));
    const cold = ofType(run(events, t0 + 2 * H), 'temperature.');
    expect(cold.map((a) => [a.type, a.evidence[0]])).toEqual([['temperature.low', events[0]?.event.id]]);
  });

  it('a sensor that reports 85.0 once at power-on and then nothing for two hours: no overheating', () => {
    const t0 = START;
    const events = [reading(t0, 19.5), reading(t0 + 30 * MIN, 85), reading(t0 + 150 * MIN, 19.5)];
    expect(ofType(run(events, t0 + 3 * H), 'temperature.')).toEqual([]);
  });
});

describe('a brownout across a district', () => {
  it('mains flapping that ends lost in a home with a postcode district: no settle alert past the area hold', () => {
    const events = Array.from({ length: 41 }, (_, i) => {
      const at = START + i * 5_000;
      const event = makeEvent({
        type: i % 2 === 0 ? 'mains.lost' : 'mains.restored',
        time: iso(at),
        residentid: RESIDENT,
        subject: 'HUB-0003',
        devicekind: 'home-unit',
        deviceEventId: `district-${i}`,
        postcodedistrict: 'GL4',
      });
      return { event, now: at };
    });
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const alerts: Alert[] = [];
    for (const { event, now } of events) alerts.push(...runner.event(event, now));
    alerts.push(...runner.advance(START + 2 * H));
    // The first three, held for the district's decision and released (no incident), as before; no fourth.
    expect(ofType(alerts, 'mains.lost')).toHaveLength(3);
  });
});

describe('heartbeats as a hub really sends them (fast-check)', () => {
  it('delayed, in bursts after a reboot, duplicated and out of order: never lost while heard within the interval; lost once when silent', () => {
    fc.assert(
      fc.property(
        // Per beat of a day of hourly beats: how late it was delivered (a hub that reboots sends
        // what it held at once, so several arrive together) and how many times (redeliveries).
        fc.array(
          fc.record({ delayMin: fc.integer({ min: 0, max: 90 }), copies: fc.integer({ min: 1, max: 3 }) }),
          {
            minLength: 24,
            maxLength: 24,
          },
        ),
        fc.integer({ min: 0, max: 1_000 }),
        (beats, seed) => {
          const arrivals: { event: TelecareEvent; now: number }[] = [];
          beats.forEach(({ delayMin, copies }, i) => {
            const at = START + i * H;
            const event = ev('heartbeat', at, { receivedAt: at + delayMin * 60_000 });
            for (let c = 0; c < copies; c++)
              arrivals.push({ event, now: at + delayMin * 60_000 + c * ((seed % 7) + 1) * 1000 });
          });
          arrivals.sort((a, b) => a.now - b.now);
          const last = Math.max(...arrivals.map((a) => a.now));
          // Heard at least every 1 h 30 + 1 h: within the 3 h interval until the last beat.
          const alerts = ofType(run(arrivals, last + 2 * H), 'supervision');
          expect(alerts).toEqual([]);
          const silent = ofType(run(arrivals, last + 6 * H), 'supervision');
          expect(silent.map((a) => a.type)).toEqual(['supervision.lost']);
        },
      ),
      { numRuns: 40 },
    );
  });
});

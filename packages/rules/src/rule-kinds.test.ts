import { Alert, type EventType, type TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { CARE_PLAN_WAKE_UP_RULE, DEFAULT_RULE_SET, SHARE_ROUTINE_RULE } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState, type RuleSet, type RuleSetInput } from './model.ts';
import { parseRuleSet } from './parse.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

/** November: Europe/London is UTC, so local times read as written. */
const DAY = '2026-11-22';
const T = (hhmm: string, day = DAY) => Date.parse(`${day}T${hhmm}:00.000Z`);
const RESIDENT = 'res_kinds0001';
const GRACE = DEFAULT_RULE_SET.settings.reorderGraceS * 1000;

let counter = 0;
function ev(
  type: EventType,
  at: number,
  extra: Partial<Parameters<typeof makeEvent>[0]> = {},
): TelecareEvent {
  counter++;
  return makeEvent({
    type,
    time: new Date(at).toISOString(),
    residentid: RESIDENT,
    deviceEventId: `k-${counter}-${type}`,
    ...extra,
  });
}

/** Feeds events in order at their own time (plus one second), then runs the clock to `until`. */
function run(
  events: TelecareEvent[],
  until: number,
  ruleSet: RuleSet = DEFAULT_RULE_SET,
  runner = new RulesRunner(ruleSet),
) {
  const alerts: Alert[] = [];
  for (const event of events) alerts.push(...runner.event(event, Date.parse(event.time) + 1000));
  alerts.push(...runner.advance(until));
  for (const alert of alerts) Alert.parse(alert);
  return { alerts, runner };
}

const byRule = (alerts: readonly Alert[], ruleId: string) =>
  alerts.filter((alert) => alert.rule.id === ruleId);

function withResident(overrides: RuleSetInput['residents'], base: RuleSet = DEFAULT_RULE_SET): RuleSet {
  return parseRuleSet({ ...JSON.parse(JSON.stringify(base)), residents: overrides });
}

/** The defaults with the rules `rhythm.learned` replaced: the care plan's wake-up window, the hourly share. */
const LEGACY: RuleSet = parseRuleSet({
  ...JSON.parse(JSON.stringify(DEFAULT_RULE_SET)),
  rules: [
    ...DEFAULT_RULE_SET.rules.filter((rule) => rule.id !== 'rhythm.learned'),
    CARE_PLAN_WAKE_UP_RULE,
    SHARE_ROUTINE_RULE,
  ],
});

describe('sustained', () => {
  const temp = (hhmm: string, celsius: number) =>
    ev('temperature', T(hhmm), {
      devicekind: 'temperature-sensor',
      subject: 'TS-1',
      location: 'lounge',
      data: { celsius },
    });

  it('cold home: below 16 °C for 60 min raises temperature.low once, explained', () => {
    const first = temp('06:00', 15);
    const { alerts } = run([first, temp('06:20', 15.5), temp('06:40', 14.5), temp('07:10', 14)], T('09:00'));
    const cold = byRule(alerts, 'sustained.cold-home');
    expect(cold).toHaveLength(1);
    expect(cold[0]).toMatchObject({
      type: 'temperature.low',
      priority: 2,
      evidence: expect.arrayContaining([first.id]),
      thresholds: { forS: 3600, below: 16 },
      raisedAt: new Date(T('07:00') + GRACE).toISOString(),
      late: false,
    });
    expect(cold[0]?.reason).toBe(
      'Home too cold: below 16 °C since 06:00 today (Sun 22 Nov) for 60 min; last reading 14.5 °C (rule sustained.cold-home v1)',
    );
  });

  it('cold home: a reading back in range within the hour raises nothing; the threshold is per resident', () => {
    expect(
      byRule(run([temp('06:00', 15), temp('06:40', 17)], T('09:00')).alerts, 'sustained.cold-home'),
    ).toEqual([]);
    const warmer = withResident({
      [RESIDENT]: { thresholds: { 'sustained.cold-home': { below: 18, forS: 1800 } } },
    });
    const alerts = byRule(run([temp('06:00', 17)], T('09:00'), warmer).alerts, 'sustained.cold-home');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.thresholds).toEqual({ forS: 1800, below: 18 });
  });

  it('overheating: above 30 °C for 60 min raises temperature.high', () => {
    const alerts = byRule(
      run([temp('13:00', 31), temp('13:30', 32)], T('15:00')).alerts,
      'sustained.overheating',
    );
    expect(alerts.map((alert) => alert.type)).toEqual(['temperature.high']);
  });

  it('out of bed at night and not back within 45 min; back in time or by day raises nothing', () => {
    const bed = { devicekind: 'bed-sensor', subject: 'BS-1', location: 'bedroom' };
    const out = ev('bed.vacated', T('02:00'), bed);
    const { alerts } = run([out], T('04:00'));
    expect(byRule(alerts, 'sustained.out-of-bed-at-night')).toMatchObject([
      {
        type: 'bed.not-returned',
        priority: 2,
        evidence: [out.id],
        raisedAt: new Date(T('02:45') + GRACE).toISOString(),
      },
    ]);
    expect(byRule(alerts, 'sustained.out-of-bed-at-night')[0]?.reason).toBe(
      'Out of bed at night and not back: bed vacated at 02:00 today (Sun 22 Nov) and no bed.occupied within 45 min (rule sustained.out-of-bed-at-night v1)',
    );
    const back = run([ev('bed.vacated', T('02:00'), bed), ev('bed.occupied', T('02:30'), bed)], T('04:00'));
    expect(byRule(back.alerts, 'sustained.out-of-bed-at-night')).toEqual([]);
    const byDay = run([ev('bed.vacated', T('14:00'), bed)], T('16:00'));
    expect(byRule(byDay.alerts, 'sustained.out-of-bed-at-night')).toEqual([]);
  });

  it('chair occupied over 4 h', () => {
    const chair = { devicekind: 'chair-sensor', subject: 'CS-1' };
    const { alerts } = run([ev('chair.occupied', T('10:00'), chair)], T('15:00'));
    expect(byRule(alerts, 'sustained.chair-too-long').map((a) => a.raisedAt)).toEqual([
      new Date(T('14:00') + GRACE).toISOString(),
    ]);
    const up = run(
      [ev('chair.occupied', T('10:00'), chair), ev('chair.vacated', T('13:59'), chair)],
      T('15:00'),
    );
    expect(byRule(up.alerts, 'sustained.chair-too-long')).toEqual([]);
  });

  it('door open at night for 10 min, within the resident’s own quiet hours', () => {
    const door = { devicekind: 'door-contact', subject: 'DC-1', location: 'front door' };
    const { alerts } = run([ev('door.opened', T('23:30'), door)], T('23:59'));
    expect(byRule(alerts, 'sustained.door-open-at-night')).toMatchObject([
      { type: 'door.exit-at-night', priority: 2 },
    ]);
    const closed = run(
      [ev('door.opened', T('23:30'), door), ev('door.closed', T('23:35'), door)],
      T('23:59'),
    );
    expect(byRule(closed.alerts, 'sustained.door-open-at-night')).toEqual([]);
    // This resident's night starts at midnight, so 23:30 is not night for them.
    const late = withResident({ [RESIDENT]: { quietHours: { from: '00:00', to: '06:00' } } });
    expect(
      byRule(
        run([ev('door.opened', T('23:30'), door)], T('23:59'), late).alerts,
        'sustained.door-open-at-night',
      ),
    ).toEqual([]);
  });
});

describe('absence', () => {
  it('did not get up: no movement by the end of the wake-up window', () => {
    const evening = ev('motion', T('21:00', '2026-11-21'), {
      devicekind: 'pir',
      subject: 'PIR-1',
      location: 'hall',
    });
    const { alerts } = run([evening], T('11:00'), LEGACY);
    const noWake = byRule(alerts, 'absence.no-wake');
    expect(noWake).toHaveLength(1);
    expect(noWake[0]).toMatchObject({
      type: 'inactivity.no-wake',
      priority: 2,
      evidence: [evening.id],
      raisedAt: new Date(T('10:00') + GRACE).toISOString(),
      thresholds: { wakeUpFrom: '07:00', wakeUpTo: '10:00' },
    });
    expect(noWake[0]?.reason).toBe(
      'No movement by the end of the wake-up window: no movement between 07:00 and 10:00 today (Sun 22 Nov); expected movement by 10:00, seen last movement at 21:00 yesterday (Sat 21 Nov) (movement sensor in hall) (rule absence.no-wake v1)',
    );
    const up = run([evening, ev('motion', T('08:10'))], T('11:00'), LEGACY);
    expect(byRule(up.alerts, 'absence.no-wake')).toEqual([]);
    // A resident whose wake-up window ends at 11:30 is not checked at 10:00.
    const lateRiser = withResident({ [RESIDENT]: { wakeUp: { from: '09:00', to: '11:30' } } }, LEGACY);
    expect(
      byRule(run([evening, ev('motion', T('11:00'))], T('12:00'), lateRiser).alerts, 'absence.no-wake'),
    ).toEqual([]);
  });

  it("checks every resident's wake-up, not only the last one to schedule it (timer ids name the resident)", () => {
    const runner = new RulesRunner(LEGACY);
    const residents = ['res_kindsA', 'res_kindsB', 'res_kindsC'];
    for (const residentid of residents) {
      runner.event(
        ev('motion', T('21:00', '2026-11-21'), {
          residentid,
          devicekind: 'pir',
          subject: `PIR-${residentid}`,
        }),
        T('21:00', '2026-11-21') + 1000,
      );
    }
    const alerts = runner.advance(T('11:00'));
    const noWake = byRule(alerts, 'absence.no-wake');
    expect(noWake.map((a) => a.residentId).sort()).toEqual(residents);
  });

  it('medication not taken within 30 min of the dose (schedule arrives as medication.due)', () => {
    const dispenser = { devicekind: 'medication-dispenser', subject: 'MD-1' };
    const due = ev('medication.due', T('08:00'), { ...dispenser, data: { doseId: 'am' } });
    const missed = byRule(run([due], T('09:00')).alerts, 'absence.medication');
    expect(missed).toMatchObject([
      { type: 'medication.missed', priority: 2, evidence: [due.id], thresholds: { withinS: 1800 } },
    ]);
    expect(missed[0]?.reason).toContain('expected medication.taken by 08:30, seen none');
    const taken = run(
      [due, ev('medication.taken', T('08:20'), { ...dispenser, data: { doseId: 'am' } })],
      T('09:00'),
    );
    expect(byRule(taken.alerts, 'absence.medication')).toEqual([]);
    // Taking another dose does not count for this one.
    const wrong = run(
      [due, ev('medication.taken', T('08:20'), { ...dispenser, data: { doseId: 'pm' } })],
      T('09:00'),
    );
    expect(byRule(wrong.alerts, 'absence.medication')).toHaveLength(1);
  });

  it('carer not arrived within ±30 min of a visit in the resident’s schedule', () => {
    const visits = withResident({ [RESIDENT]: { visits: ['09:00', '18:00'] } });
    const start = ev('motion', T('07:30'));
    const { alerts } = run([start, ev('carer.arrived', T('08:40'))], T('20:00'), visits);
    const noShow = byRule(alerts, 'absence.carer');
    // 09:00 was met (08:40 is within 30 min); 18:00 was not.
    expect(noShow).toHaveLength(1);
    expect(noShow[0]).toMatchObject({
      type: 'carer.no-show',
      thresholds: { toleranceS: 1800, visitAt: '18:00' },
    });
    expect(noShow[0]?.reason).toContain('expected carer.arrived between 17:30 and 18:30, seen none');
    expect(noShow[0]?.raisedAt).toBe(new Date(T('18:30') + GRACE).toISOString());
  });

  describe('supervision', () => {
    const hb = (at: number) =>
      ev('heartbeat', at, { devicekind: 'smoke-detector', subject: 'SM-9', location: 'kitchen' });
    const withInterval = (intervalS: number) =>
      new RulesRunner(DEFAULT_RULE_SET, { device: () => ({ supervisionIntervalS: intervalS }) });

    it('raises supervision.lost once while the device stays silent, and restores on the next heartbeat', () => {
      const runner = withInterval(3600);
      const first = hb(T('00:00'));
      const silent = run([first], T('05:00'), DEFAULT_RULE_SET, runner).alerts;
      const lost = byRule(silent, 'absence.supervision');
      expect(lost).toHaveLength(1);
      expect(lost[0]).toMatchObject({
        type: 'supervision.lost',
        priority: 3,
        evidence: [first.id],
        deviceSerial: 'SM-9',
        thresholds: { intervalS: 3600 },
        raisedAt: new Date(T('01:00') + GRACE).toISOString(),
      });
      expect(lost[0]?.reason).toContain(
        'smoke detector SM-9 silent since 00:00 today (Sun 22 Nov); expected a heartbeat every 60 min',
      );

      const back = hb(T('05:10'));
      const restored = byRule(
        run([back], T('05:20'), DEFAULT_RULE_SET, runner).alerts,
        'absence.supervision',
      );
      expect(restored).toMatchObject([
        { type: 'supervision.restored', priority: 5, closes: { alertId: lost[0]?.id, outcome: 'restored' } },
      ]);
      // Silent again: a new loss, with its own id.
      const again = byRule(run([], T('07:00'), DEFAULT_RULE_SET, runner).alerts, 'absence.supervision');
      expect(again).toHaveLength(1);
      expect(again[0]?.id).not.toBe(lost[0]?.id);
    });

    it('keeps the kind of device in its record, and names it in the loss and the restore, whatever the state still holds', () => {
      // A day's interval: the heartbeat the silence began with is long gone from the recent events
      // (a busy home's 200), so the loss reads what the device's record keeps.
      const runner = withInterval(26 * 3600);
      const first = hb(T('00:00'));
      const busy = Array.from({ length: 240 }, (_, i) =>
        ev('motion', T('01:00') + i * 60_000, { devicekind: 'pir', subject: 'PIR-1', location: 'hall' }),
      );
      const { alerts } = run([first, ...busy], T('04:00', '2026-11-23'), DEFAULT_RULE_SET, runner);
      expect(runner.states.get(RESIDENT)?.devices['SM-9']).toMatchObject({ kind: 'smoke-detector' });
      const lost = byRule(alerts, 'absence.supervision');
      expect(lost).toHaveLength(1);
      expect(lost[0]).toMatchObject({
        type: 'supervision.lost',
        evidence: [first.id],
        deviceKind: 'smoke-detector',
      });
      expect(lost[0]?.reason).toContain('smoke detector SM-9 silent since 00:00 yesterday');
      expect(runner.states.get(RESIDENT)?.devices['SM-9']).toMatchObject({ kind: 'smoke-detector' });
      const back = byRule(
        run([hb(T('05:00', '2026-11-23'))], T('05:10', '2026-11-23'), DEFAULT_RULE_SET, runner).alerts,
        'absence.supervision',
      );
      expect(back).toMatchObject([{ type: 'supervision.restored', deviceKind: 'smoke-detector' }]);
      expect(back[0]?.reason).toContain('smoke detector SM-9 heard again at 05:00');
    });

    it('a device that keeps its heartbeat raises nothing', () => {
      const runner = withInterval(3600);
      const beats = ['00:00', '00:50', '01:40', '02:30'].map((hhmm) => hb(T(hhmm)));
      expect(byRule(run(beats, T('03:00'), DEFAULT_RULE_SET, runner).alerts, 'absence.supervision')).toEqual(
        [],
      );
    });
  });
});

describe('correlation', () => {
  const pendant = { devicekind: 'pendant', subject: 'PX-1' };

  it('a fall then no movement raises an escalated P1; movement in time does not', () => {
    const fall = ev('fall.detected', T('10:00'), { devicekind: 'fall-detector', subject: 'FD-1' });
    const { alerts } = run([fall], T('11:00'));
    expect(byRule(alerts, 'trigger.fall')).toHaveLength(1);
    const escalated = byRule(alerts, 'correlation.fall-no-movement');
    expect(escalated).toMatchObject([
      { type: 'fall.detected', priority: 1, evidence: [fall.id], thresholds: { withinS: 300 } },
    ]);
    expect(escalated[0]?.reason).toContain('then no movement');
    const moved = run([fall, ev('motion', T('10:03'))], T('11:00'));
    expect(byRule(moved.alerts, 'correlation.fall-no-movement')).toEqual([]);
  });

  describe('night exit through a door pulled shut', () => {
    const door = { devicekind: 'door-contact', subject: 'DC-1', location: 'front door' };
    const bed = { devicekind: 'bed-sensor', subject: 'BS-1', location: 'bedroom' };
    const chair = { devicekind: 'chair-sensor', subject: 'CS-1', location: 'lounge' };
    const hall = { devicekind: 'pir', subject: 'PIR-H', location: 'hall' };
    /** Up from bed, through the hall, out of the front door and shut behind them at `hhmm` + 25 s. */
    const leaves = (hhmm: string, day = DAY) => {
      const up = ev('bed.vacated', T(hhmm, day) - 120_000, bed);
      const closed = ev('door.closed', T(hhmm, day) + 25_000, door);
      return {
        up,
        closed,
        events: [
          up,
          ev('motion', T(hhmm, day) - 50_000, hall),
          ev('door.opened', T(hhmm, day), door),
          closed,
        ],
      };
    };

    it('the door closes at night, then the home is silent for 10 min: door.exit-at-night, explained', () => {
      const { up, closed, events } = leaves('02:02');
      const { alerts } = run(events, T('04:00'));
      const exit = byRule(alerts, 'correlation.night-exit');
      expect(exit).toMatchObject([
        {
          type: 'door.exit-at-night',
          priority: 2,
          evidence: [closed.id, up.id],
          thresholds: { withinS: 600, atNight: true },
          deviceSerial: 'DC-1',
          raisedAt: new Date(T('02:12') + 25_000 + GRACE).toISOString(),
          late: false,
        },
      ]);
      expect(exit[0]?.reason).toBe(
        'Property exit at night: door closed at 02:02 today (Sun 22 Nov), then no motion or bed.occupied or chair.occupied or door.opened for 10 min; before it: bed vacated at 02:00 (rule correlation.night-exit v3)',
      );
      // The door held open is the other rule's: this one waits for the door to close.
      const open = run(events.slice(0, 3), T('04:00'));
      expect(byRule(open.alerts, 'correlation.night-exit')).toEqual([]);
      expect(byRule(open.alerts, 'sustained.door-open-at-night')).toHaveLength(1);
    });

    it('not when someone is still in the home: movement, back to bed or the door again within 10 min', () => {
      const { events } = leaves('02:02');
      for (const sign of [
        ev('motion', T('02:10'), hall),
        ev('bed.occupied', T('02:11'), bed),
        ev('door.opened', T('02:12'), door),
      ])
        expect(byRule(run([...events, sign], T('04:00')).alerts, 'correlation.night-exit')).toEqual([]);
    });

    it('not the door closing behind the resident coming home at night into an empty home', () => {
      // Out at 20:00; home at 23:39 (the hall's PIR as the door opens), then sitting down where no
      // sensor sees: not leaving.
      const out = [
        ev('motion', T('19:59'), hall),
        ev('door.opened', T('20:00'), door),
        ev('door.closed', T('20:00') + 5_000, door),
      ];
      const home = [
        ev('door.opened', T('23:39'), door),
        ev('motion', T('23:39'), hall),
        ev('door.closed', T('23:39') + 4_000, door),
      ];
      expect(byRule(run([...out, ...home], T('23:59') + 59_000).alerts, 'correlation.night-exit')).toEqual(
        [],
      );
      // Leaving, with the door opened and shut twice on the way out: still a night exit.
      const { events } = leaves('02:02');
      const twice = [
        ...events,
        ev('door.opened', T('02:02') + 40_000, door),
        ev('door.closed', T('02:02') + 50_000, door),
      ];
      expect(byRule(run(twice, T('04:00')).alerts, 'correlation.night-exit')).toHaveLength(1);
    });

    it('not a door closed behind a carer while the resident is in bed or in the chair', () => {
      const carer = { devicekind: 'hub', subject: 'HUB-1' };
      const visit = (inBed: TelecareEvent) => [
        inBed,
        ev('carer.left', T('22:48'), carer),
        ev('door.opened', T('22:48') + 30_000, door),
        ev('door.closed', T('22:49'), door),
      ];
      const asleep = run(visit(ev('bed.occupied', T('22:20'), bed)), T('23:59'));
      expect(byRule(asleep.alerts, 'correlation.night-exit')).toEqual([]);
      const dozing = run(visit(ev('chair.occupied', T('22:20'), chair)), T('23:59'));
      expect(byRule(dozing.alerts, 'correlation.night-exit')).toEqual([]);
      // Out of the chair before the door: counts, with the chair's last word as evidence.
      const vacated = ev('chair.vacated', T('22:40'), chair);
      const up = run(
        [ev('chair.occupied', T('22:20'), chair), vacated, ...visit(vacated).slice(1)],
        T('23:59'),
      );
      expect(byRule(up.alerts, 'correlation.night-exit').map((a) => a.evidence.slice(1))).toEqual([
        [vacated.id],
      ]);
    });

    it('by day, or outside this resident’s quiet hours, it is not a night exit; the wait is per resident', () => {
      expect(byRule(run(leaves('14:02').events, T('16:00')).alerts, 'correlation.night-exit')).toEqual([]);
      const late = withResident({ [RESIDENT]: { quietHours: { from: '03:00', to: '07:00' } } });
      expect(byRule(run(leaves('02:02').events, T('04:00'), late).alerts, 'correlation.night-exit')).toEqual(
        [],
      );
      const longer = withResident({
        [RESIDENT]: { thresholds: { 'correlation.night-exit': { withinS: 900 } } },
      });
      expect(
        byRule(run(leaves('02:02').events, T('04:00'), longer).alerts, 'correlation.night-exit').map((a) => [
          a.raisedAt,
          a.thresholds,
        ]),
      ).toEqual([[new Date(T('02:17') + 25_000 + GRACE).toISOString(), { withinS: 900, atNight: true }]]);
      const off = withResident({ [RESIDENT]: { disabled: ['correlation.night-exit'] } });
      expect(byRule(run(leaves('02:02').events, T('04:00'), off).alerts, 'correlation.night-exit')).toEqual(
        [],
      );
    });

    /** Opened and closed twice within four seconds: the door settling, or the wind. */
    const bounce = (t: number) => [
      ev('door.opened', t, door),
      ev('door.closed', t + 1_000, door),
      ev('door.opened', t + 3_000, door),
      ev('door.closed', t + 4_000, door),
    ];

    it('a door bouncing in the wind at night, the resident up and still indoors, is no exit', () => {
      const up = [ev('bed.vacated', T('01:50'), bed), ev('motion', T('01:52'), hall)];
      expect(
        byRule(run([...up, ...bounce(T('02:00'))], T('04:00')).alerts, 'correlation.night-exit'),
      ).toEqual([]);
    });

    it('a way out, the door settling after it, is still an exit, and the bounce is counted', () => {
      const { up, closed, events } = leaves('02:02');
      const settling = bounce(T('02:02') + 26_000).slice(0, 2);
      const exit = byRule(run([...events, ...settling], T('04:00')).alerts, 'correlation.night-exit');
      expect(exit.map((a) => [a.evidence, a.thresholds])).toEqual([
        [[closed.id, up.id], { withinS: 600, atNight: true, doorBouncesIgnored: 1 }],
      ]);
      expect(exit[0]?.reason).toContain('1 door opening of under 3 s after it ignored as a bounce');
    });

    it('a bounce earlier in the night is not a return that hides the exit after it', () => {
      // Up at 00:50, the door bouncing at 01:00, then out at 02:02 with no sensor seeing them go.
      const earlier = [
        ev('bed.vacated', T('00:50'), bed),
        ev('motion', T('00:55'), hall),
        ...bounce(T('01:00')),
      ];
      const closed = ev('door.closed', T('02:02') + 25_000, door);
      const out = [ev('door.opened', T('02:02'), door), closed];
      expect(
        byRule(run([...earlier, ...out], T('04:00')).alerts, 'correlation.night-exit').map(
          (a) => a.evidence[0],
        ),
      ).toEqual([closed.id]);
    });
  });

  it('repeated presses merge into the open alert instead of raising new ones', () => {
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const presses = ['10:00', '10:01', '10:03'].map((hhmm) => ev('pendant.pressed', T(hhmm), pendant));
    const raised = presses.map((press) =>
      byRule(runner.event(press, Date.parse(press.time) + 500), 'trigger.pendant'),
    );
    // One alert for the group; each later press only repeats it.
    expect(raised.map((alerts) => alerts.filter((alert) => !alert.repeats).length)).toEqual([1, 0, 0]);
    expect(raised[0]?.[0]?.thresholds).toMatchObject({ mergeWithinS: 300 });
    const direct = evaluate(
      runner.states.get(RESIDENT) ?? initialState(RESIDENT),
      { kind: 'event', event: ev('pendant.pressed', T('10:04'), pendant), now: T('10:04') },
      DEFAULT_RULE_SET,
    );
    expect(direct.merged).toEqual([{ alertId: raised[0]?.[0]?.id, eventId: expect.any(String) }]);
  });

  it('every merged press raises a repeat that names its group’s alert, so the helpline sees each press', () => {
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const presses = ['10:00:00', '10:00:40', '10:03:15'].map((hms) =>
      ev('pendant.pressed', Date.parse(`${DAY}T${hms}.000Z`), pendant),
    );
    const raised = presses.map((press) =>
      byRule(runner.event(press, Date.parse(press.time) + 500), 'trigger.pendant'),
    );
    const anchor = raised[0]?.[0];
    expect(raised.map((alerts) => alerts.length)).toEqual([1, 1, 1]);
    expect(anchor?.repeats).toBeUndefined();
    for (const [i, alerts] of raised.slice(1).entries()) {
      const press = presses[i + 1] as TelecareEvent;
      expect(alerts[0]).toMatchObject({
        type: 'pendant.pressed',
        priority: 1,
        evidence: [press.id],
        repeats: { alertId: anchor?.id },
        raisedAt: new Date(Date.parse(press.time) + 500).toISOString(),
        testMode: false,
        deviceSerial: 'PX-1',
      });
      expect(alerts[0]?.id).not.toBe(anchor?.id);
    }
    expect(raised[2]?.[0]?.reason).toMatch(/; pressed again 3 min 15 s after the first press at 10:00:00$/);
    expect(raised[1]?.[0]?.reason).toMatch(/; pressed again 40 s after the first press at 10:00:00$/);
    // The id is the repeat press's own: the same presses again give the same ids.
    const again = run(presses, T('10:30')).alerts.map((alert) => alert.id);
    expect(again).toEqual(raised.flat().map((alert) => alert.id));
    expect(new Set(again).size).toBe(3);
  });

  it("an installer's test press never absorbs a real press in the same merge window", () => {
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const test = ev('pendant.pressed', T('11:00'), { ...pendant, testmode: true });
    const real = ev('pendant.pressed', T('11:01'), pendant);
    const [testAlert] = byRule(runner.event(test, T('11:00') + 500), 'trigger.pendant');
    const [realAlert] = byRule(runner.event(real, T('11:01') + 500), 'trigger.pendant');
    expect(testAlert?.testMode).toBe(true);
    expect(realAlert?.testMode).toBe(false);
    expect(realAlert?.id).not.toBe(testAlert?.id);
  });

  describe('repeated presses: groups that open at the first press', () => {
    const press = (at: number) => ev('pendant.pressed', at, pendant);
    const cancel = (at: number) => ev('alarm.cancelled', at, pendant);
    const S = 1000;
    /** Feeds each event at the given arrival time, then runs the clock on. */
    const arrive = (arrivals: Array<[TelecareEvent, number]>, ruleSet = DEFAULT_RULE_SET) => {
      const runner = new RulesRunner(ruleSet);
      return arrivals.map(([event, at]) => runner.event(event, at));
    };
    /** The alerts the groups raise (a repeat only points at one of them). */
    const presses = (alerts: readonly Alert[]) =>
      byRule(alerts, 'trigger.pendant').filter((alert) => !alert.repeats);
    const repeats = (alerts: readonly Alert[]) =>
      byRule(alerts, 'trigger.pendant').filter((alert) => alert.repeats);
    const closes = (alerts: readonly Alert[]) => byRule(alerts, 'correlation.pre-alarm-cancel');

    it('merges two presses 15 s apart either side of a five-minute boundary into one alert', () => {
      const first = press(T('10:04') + 50 * S);
      const second = press(T('10:05') + 5 * S);
      const runner = new RulesRunner(DEFAULT_RULE_SET);
      expect(presses(runner.event(first, T('10:05')))).toHaveLength(1);
      const state = runner.states.get(RESIDENT) ?? initialState(RESIDENT);
      const merged = evaluate(state, { kind: 'event', event: second, now: T('10:06') }, DEFAULT_RULE_SET);
      expect(presses(merged.alerts)).toEqual([]);
      expect(merged.merged).toEqual([{ alertId: expect.any(String), eventId: second.id }]);
    });

    it('raises a new alert for the first press more than five minutes after its group began', () => {
      const chain = ['10:00', '10:01', '10:02', '10:03', '10:04', '10:05', '10:06'].map((hhmm) =>
        press(T(hhmm)),
      );
      const raised = arrive(chain.map((event) => [event, Date.parse(event.time) + S])).map(presses);
      expect(raised.map((alerts) => alerts.length)).toEqual([1, 0, 0, 0, 0, 0, 1]);
      expect(raised[6]?.[0]).toMatchObject({ evidence: [chain[6]?.id], rule: { id: 'trigger.pendant' } });
      expect(raised[6]?.[0]?.id).not.toBe(raised[0]?.[0]?.id);
    });

    it('never merges a press into an alert the resident cancelled: press, cancel, press raise two alerts', () => {
      const first = press(T('10:00'));
      const cancelled = cancel(T('10:00') + 20 * S);
      const again = press(T('10:02'));
      const { alerts } = run([first, cancelled, again], T('10:30'));
      const [one, two] = presses(alerts);
      expect(presses(alerts)).toHaveLength(2);
      expect(two).toMatchObject({ evidence: [again.id], priority: 1 });
      expect(closes(alerts).map((alert) => alert.closes?.alertId)).toEqual([one?.id]);
      // The same press without the cancel merges into the first alert.
      expect(presses(run([press(T('10:00')), press(T('10:02'))], T('10:30')).alerts)).toHaveLength(1);
    });

    it('raises the press after a cancel when the cancel arrives after the press merged (the alarm lane read it first)', () => {
      const first = press(T('10:00'));
      const cancelled = cancel(T('10:00') + 20 * S);
      const again = press(T('10:02'));
      const [onFirst, onAgain, onCancel] = arrive([
        [first, T('10:00') + S],
        [again, T('10:02') + S],
        [cancelled, T('10:02') + 5 * S],
      ]);
      expect(presses(onAgain ?? [])).toEqual([]);
      // Merged on arrival, it still reaches the helpline, as a repeat of the first alert.
      expect(repeats(onAgain ?? [])).toMatchObject([
        { evidence: [again.id], repeats: { alertId: presses(onFirst ?? [])[0]?.id } },
      ]);
      // The cancel closes the first alert and splits the group: the later press raises its own.
      expect(presses(onCancel ?? [])).toMatchObject([{ evidence: [again.id], type: 'pendant.pressed' }]);
      expect(closes(onCancel ?? []).map((alert) => alert.closes?.alertId)).toEqual([
        presses(onFirst ?? [])[0]?.id,
      ]);
      const inOrder = run([first, cancelled, again], T('10:30')).alerts;
      // Everything raised in order is raised; out of order, only the repeat is more.
      expect(new Set([...(onFirst ?? []), ...(onAgain ?? []), ...(onCancel ?? [])].map((a) => a.id))).toEqual(
        new Set([
          ...inOrder.filter((a) => a.rule.id !== 'correlation.fall-no-movement').map((a) => a.id),
          repeats(onAgain ?? [])[0]?.id,
        ]),
      );
    });

    it('raises a late press that comes before a known anchor; the alert already raised stays', () => {
      const later = press(T('10:03'));
      const early = press(T('10:00'));
      const next = press(T('10:04'));
      const arrived = arrive([
        [later, T('10:03') + S],
        [early, T('10:03') + 2 * S],
        [next, T('10:04') + S],
      ]);
      const [onLater, onEarly, onNext] = arrived.map(presses);
      expect(onLater).toMatchObject([{ evidence: [later.id] }]);
      expect(onEarly).toMatchObject([{ evidence: [early.id] }]);
      // The group now begins at the early press: the next press merges into its alert.
      expect(onNext).toEqual([]);
      const group = onEarly?.[0]?.id;
      // The later press, now a member of the early press's group, is a repeat of it too, as the
      // next press is: in order, the same repeats are raised.
      const [, repeatedLater, repeatedNext] = arrived.map(repeats);
      expect(repeatedLater).toMatchObject([{ evidence: [later.id], repeats: { alertId: group } }]);
      expect(repeatedNext).toMatchObject([{ evidence: [next.id], repeats: { alertId: group } }]);
      const inOrder = run([early, later, next], T('10:30')).alerts;
      expect(presses(inOrder).map((alert) => alert.id)).toEqual([group]);
      expect(repeats(inOrder).map((alert) => alert.id)).toEqual([
        repeatedLater?.[0]?.id,
        repeatedNext?.[0]?.id,
      ]);
    });

    it('a cancel at the same instant as a press closes it and ends its group, whichever id sorts first', () => {
      const orders = new Set<boolean>();
      for (let i = 0; orders.size < 2 || i < 4; i++) {
        const first = press(T('10:00'));
        const cancelled = cancel(T('10:00'));
        orders.add(cancelled.id < first.id);
        const again = press(T('10:01'));
        const { alerts } = run([first, cancelled, again], T('10:30'));
        const [one, two] = presses(alerts);
        expect(closes(alerts).map((alert) => alert.closes?.alertId)).toEqual([one?.id]);
        expect(two?.evidence).toEqual([again.id]);
      }
    });

    it('a press whose group reaches back past what the state remembers raises instead of merging', () => {
      const small = parseRuleSet({
        ...JSON.parse(JSON.stringify(DEFAULT_RULE_SET)),
        settings: { keepEvents: 3 },
      });
      const chain = ['10:00', '10:01', '10:02', '10:03'].map((hhmm) => press(T(hhmm)));
      const raised = arrive(
        chain.map((event) => [event, Date.parse(event.time) + S]),
        small,
      ).map(presses);
      // 10:03 arrives when 10:00 is forgotten: the group may have begun earlier, so it is not merged
      // into an alert that may never have been raised.
      expect(raised.map((alerts) => alerts.length)).toEqual([1, 0, 0, 1]);
      expect(raised[3]?.[0]?.evidence).toEqual([chain[3]?.id]);
    });
  });

  it('a resident cancel within the pre-alarm window closes the alarm as a recorded false alarm, in either order', () => {
    const press = ev('pendant.pressed', T('10:00'), pendant);
    const cancel = ev('alarm.cancelled', Date.parse(press.time) + 20_000, pendant);
    const inOrder = run([press, cancel], T('10:10')).alerts;
    const pressAlert = byRule(inOrder, 'trigger.pendant')[0];
    const closing = byRule(inOrder, 'correlation.pre-alarm-cancel');
    expect(closing).toMatchObject([
      {
        type: 'alarm.cancelled',
        priority: 5,
        evidence: [press.id, cancel.id],
        closes: { alertId: pressAlert?.id, outcome: 'false-alarm' },
        thresholds: { preAlarmCancelS: 60 },
      },
    ]);
    expect(closing[0]?.reason).toContain(
      'cancelled by the resident 20 s after the alarm: recorded as a false alarm',
    );

    // The press's first sending lost: its resend is received after the cancel, and still closed.
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const resent = { ...press, receivedat: new Date(T('10:00') + 30_000).toISOString() };
    const reversed = [...runner.event(cancel, T('10:01')), ...runner.event(resent, T('10:01'))];
    expect(new Set(reversed.map((a) => a.id))).toEqual(
      new Set(inOrder.filter((a) => a.rule.id !== 'correlation.fall-no-movement').map((a) => a.id)),
    );

    const tooLate = run([press, ev('alarm.cancelled', Date.parse(press.time) + 90_000, pendant)], T('10:10'));
    expect(byRule(tooLate.alerts, 'correlation.pre-alarm-cancel')).toEqual([]);
    const longer = withResident({ [RESIDENT]: { preAlarmCancelS: 120 } });
    const patient = run(
      [press, ev('alarm.cancelled', Date.parse(press.time) + 90_000, pendant)],
      T('10:10'),
      longer,
    );
    expect(byRule(patient.alerts, 'correlation.pre-alarm-cancel')).toHaveLength(1);
  });

  it('a cancel that arrived before the press, dated after the press arrived, closes nothing: a press made after a cancel is not cancelled by it', () => {
    // A stolen login's cancel dated 30 s ahead of its arrival at 10:00, then the resident's press
    // at 10:00:10, received at once: the press is timed before the cancel, within the window, but
    // was made after the cancel had arrived.
    const cancel = {
      ...ev('alarm.cancelled', T('10:00') + 30_000, pendant),
      receivedat: new Date(T('10:00')).toISOString(),
    };
    const press = ev('pendant.pressed', T('10:00') + 10_000, pendant);
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const alerts = [...runner.event(cancel, T('10:00')), ...runner.event(press, T('10:00') + 10_000)];
    expect(byRule(alerts, 'trigger.pendant')).toHaveLength(1);
    expect(byRule(alerts, 'correlation.pre-alarm-cancel')).toEqual([]);
    // The same cancel arriving after the press closes it, as a cancel pressed after an alarm does.
    const after = run([press, cancel], T('10:10')).alerts;
    expect(byRule(after, 'correlation.pre-alarm-cancel')).toHaveLength(1);

    // A cancel dated every 10 s of the next two minutes, all received at 11:00, and a pendant
    // whose clock is 10 s slow: its press made at 11:00:30 is timed 11:00:20, received 11:00:30,
    // with a cancel timed between the two. It was still made after every cancel had arrived.
    const burst = new RulesRunner(DEFAULT_RULE_SET);
    const cancels = Array.from({ length: 12 }, (_, i) => ({
      ...ev('alarm.cancelled', T('11:00') + (i + 1) * 10_000, pendant),
      receivedat: new Date(T('11:00')).toISOString(),
    }));
    const slow = {
      ...ev('pendant.pressed', T('11:00') + 20_000, pendant),
      receivedat: new Date(T('11:00') + 30_000).toISOString(),
    };
    const raised = [
      ...cancels.flatMap((c) => burst.event(c, T('11:00'))),
      ...burst.event(slow, T('11:00') + 30_000),
    ];
    expect(byRule(raised, 'trigger.pendant')).toHaveLength(1);
    expect(byRule(raised, 'correlation.pre-alarm-cancel')).toEqual([]);
  });

  it('only a device a resident cancels on (pendant, pull-cord, fall detector, home unit) closes an alarm; a sensor sending a cancel closes nothing', () => {
    const press = ev('pendant.pressed', T('10:00'), pendant);
    const fall = ev('fall.detected', T('10:00') + 1_000, { devicekind: 'fall-detector', subject: 'FD-1' });
    for (const sensor of [
      { devicekind: 'pir', subject: 'PIR-1' },
      { devicekind: 'door-contact', subject: 'DC-1' },
      { devicekind: 'smoke-detector', subject: 'SM-1' },
      { devicekind: 'temperature-sensor', subject: 'TS-1' },
    ]) {
      // A sensor's login (stolen, or a sensor that forwards what it should not) speaks for no one
      // else: its cancel must not close the resident's press or fall as a false alarm.
      const forged = ev('alarm.cancelled', Date.parse(press.time) + 10_000, sensor);
      const { alerts } = run([press, fall, forged], T('10:10'));
      expect(byRule(alerts, 'correlation.pre-alarm-cancel')).toEqual([]);
      // Nor end the press's group: a second press still merges as a repeat, not a new alert.
      const again = ev('pendant.pressed', Date.parse(press.time) + 20_000, pendant);
      const merged = run([press, forged, again], T('10:10')).alerts;
      expect(byRule(merged, 'trigger.pendant').filter((alert) => !alert.repeats)).toHaveLength(1);
    }
    const homeUnit = ev('alarm.cancelled', Date.parse(press.time) + 10_000, {
      devicekind: 'home-unit',
      subject: 'HU-1',
    });
    expect(
      byRule(run([press, fall, homeUnit], T('10:10')).alerts, 'correlation.pre-alarm-cancel'),
    ).toHaveLength(2);
  });

  it('a pull-cord pull from a pendant’s login is its own alarm: it joins no pull-cord group, says what sent it, and no cancel closes it', () => {
    const cord = { devicekind: 'pullcord', subject: 'PC-1', location: 'bathroom' };
    // Stored by the gateway all the same (an alarm is never lost), marked `unexpectedkind`.
    const forgedPull = (at: number) => ev('pullcord.pulled', at, { ...pendant, unexpectedkind: true });
    const pulls = (alerts: readonly Alert[]) => byRule(alerts, 'trigger.pullcord');

    // The pendant's login pulls first, the resident's pull-cord 20 s later, the pendant cancels.
    const forged = forgedPull(T('10:00'));
    const real = ev('pullcord.pulled', T('10:00') + 20_000, cord);
    const cancel = ev('alarm.cancelled', T('10:00') + 30_000, pendant);
    const { alerts } = run([forged, real, cancel], T('10:10'));
    const raised = pulls(alerts);
    // Two alerts, neither a repeat of the other: the real pull did not merge into the forged group.
    expect(raised.map((a) => ({ evidence: a.evidence, repeats: a.repeats }))).toEqual([
      { evidence: [forged.id], repeats: undefined },
      { evidence: [real.id], repeats: undefined },
    ]);
    expect(raised[0]?.reason).toMatch(
      /; sent by a pendant, which does not report pullcord\.pulled: check the device/,
    );
    expect(raised[1]?.reason).not.toMatch(/sent by a/);
    // The pendant's cancel closes neither.
    expect(byRule(alerts, 'correlation.pre-alarm-cancel')).toEqual([]);

    // The other way round: the real pull opens the group, the forged pull does not join it (no
    // repeat on the resident's case under the pull-cord's alert), and the cancel closes nothing.
    const first = ev('pullcord.pulled', T('11:00'), cord);
    const later = forgedPull(T('11:00') + 20_000);
    const cancelled = ev('alarm.cancelled', T('11:00') + 30_000, pendant);
    const other = run([first, later, cancelled], T('11:10')).alerts;
    expect(pulls(other).filter((a) => a.repeats)).toEqual([]);
    expect(pulls(other).map((a) => a.evidence)).toEqual([[first.id], [later.id]]);
    expect(byRule(other, 'correlation.pre-alarm-cancel')).toEqual([]);

    // Nor the home unit's cancel button: an operator answers it.
    const homeUnit = ev('alarm.cancelled', T('12:00') + 10_000, { devicekind: 'home-unit', subject: 'HU-1' });
    expect(
      byRule(run([forgedPull(T('12:00')), homeUnit], T('12:10')).alerts, 'correlation.pre-alarm-cancel'),
    ).toEqual([]);

    // An alert a check raises later from it says so too: a fall from the pendant's login, then no movement.
    const fall = ev('fall.detected', T('14:00'), { ...pendant, unexpectedkind: true });
    const lying = byRule(run([fall], T('14:30')).alerts, 'correlation.fall-no-movement');
    expect(lying).toHaveLength(1);
    expect(lying[0]?.reason).toMatch(
      /; sent by a pendant, which does not report fall\.detected: check the device/,
    );

    // The same login's forged pulls merge with each other, as any device's repeated presses.
    const again = run([forgedPull(T('13:00')), forgedPull(T('13:00') + 15_000)], T('13:10')).alerts;
    expect(pulls(again).filter((a) => !a.repeats)).toHaveLength(1);
    expect(pulls(again).filter((a) => a.repeats)).toHaveLength(1);
  });

  it('a restore from the device clears its alarm', () => {
    const smoke = { devicekind: 'smoke-detector', subject: 'SM-1', location: 'kitchen' };
    const detected = ev('smoke.detected', T('12:00'), smoke);
    const { alerts } = run([detected, ev('smoke.restored', T('12:04'), smoke)], T('12:10'));
    const smokeAlert = byRule(alerts, 'trigger.smoke')[0];
    expect(byRule(alerts, 'correlation.restore')).toMatchObject([
      { type: 'smoke.restored', priority: 5, closes: { alertId: smokeAlert?.id, outcome: 'restored' } },
    ]);
    // A restore from another device clears nothing.
    const other = run(
      [detected, ev('smoke.restored', T('12:04'), { ...smoke, subject: 'SM-2' })],
      T('12:10'),
    );
    expect(byRule(other.alerts, 'correlation.restore')).toEqual([]);
  });

  it('a restore that arrived before the alarm, dated after the alarm arrived, clears nothing; a resent alarm it follows, it clears', () => {
    // A stolen login's restore dated 4 min ahead of its arrival at 12:00, then the device's real
    // fault at 12:01, received at once: the fault was raised after the restore had arrived.
    const hub = { devicekind: 'home-unit', subject: 'HU-R1' };
    const restored = {
      ...ev('mains.restored', T('12:04'), hub),
      receivedat: new Date(T('12:00')).toISOString(),
    };
    const lost = ev('mains.lost', T('12:01'), hub);
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const alerts = [...runner.event(restored, T('12:00')), ...runner.event(lost, T('12:01'))];
    expect(byRule(alerts, 'correlation.restore')).toEqual([]);
    // A fault whose first sending was lost, resent after its restore arrived, is still cleared.
    const again = new RulesRunner(DEFAULT_RULE_SET);
    const lostEarlier = {
      ...ev('mains.lost', T('13:00'), hub),
      receivedat: new Date(T('13:06')).toISOString(),
    };
    const cleared = [
      ...again.event(ev('mains.restored', T('13:05'), hub), T('13:05')),
      ...again.event(lostEarlier, T('13:06')),
    ];
    expect(byRule(cleared, 'correlation.restore')).toHaveLength(1);
  });

  it('many homes in one postcode district losing mains within minutes become one area incident', () => {
    const runner = new RulesRunner(DEFAULT_RULE_SET);
    const outage = (i: number, district: string) =>
      makeEvent({
        type: 'mains.lost',
        time: new Date(T('18:00') + i * 10_000).toISOString(),
        residentid: `res_area${district}${i}`,
        deviceEventId: `ml-${district}-${i}`,
        subject: `HU-${district}-${i}`,
        devicekind: 'home-unit',
        postcodedistrict: district,
      });
    const alerts: Alert[] = [];
    for (let i = 0; i < 25; i++) alerts.push(...runner.event(outage(i, 'GL1'), T('18:05')));
    for (let i = 0; i < 9; i++) alerts.push(...runner.event(outage(i, 'GL2'), T('18:05')));
    alerts.push(...runner.event(outage(3, 'GL1'), T('18:06'))); // redelivered
    const area = byRule(alerts, 'area.mains-lost');
    expect(area).toHaveLength(1);
    expect(area[0]).toMatchObject({
      type: 'area.mains-lost',
      priority: 3,
      residentId: 'area:GL1',
      thresholds: { minResidents: 10, withinS: 300, district: 'GL1' },
    });
    expect(area[0]?.evidence).toHaveLength(10);
    expect(area[0]?.reason).toContain('10 homes in GL1 reported mains.lost between 18:00 and 18:05 UTC');
  });
});

describe('learned routine', () => {
  const kitchen = { devicekind: 'pir', subject: 'PIR-K', location: 'kitchen' };

  it('learns when this resident is usually active and flags the hour they are not, with expected and seen', () => {
    const events: TelecareEvent[] = [];
    for (let d = 1; d <= 9; d++) {
      const day = `2026-11-${String(d).padStart(2, '0')}`;
      events.push(ev('motion', T('07:45', day), kitchen), ev('motion', T('09:20', day), kitchen));
    }
    const day10 = ev('motion', T('07:40', '2026-11-10'), kitchen);
    const { alerts } = run([...events, day10], T('11:00', '2026-11-10'), LEGACY);
    const unusual = byRule(alerts, 'routine.inactivity');
    expect(unusual).toHaveLength(1);
    expect(unusual[0]).toMatchObject({ type: 'inactivity.unusual', priority: 2, evidence: [day10.id] });
    expect(unusual[0]?.reason).toBe(
      'Inactivity unusual for this resident: no activity since 07:40 today (Tue 10 Nov), movement seen (movement sensor in kitchen); expected activity 09:00–10:00: the resident was active then on 9 of the last 9 days, seen none (rule routine.inactivity v1)',
    );
  });

  it('raises one alert for one stretch of inactivity, not one per usually-active hour', () => {
    const events: TelecareEvent[] = [];
    for (let d = 1; d <= 9; d++) {
      const day = `2026-11-${String(d).padStart(2, '0')}`;
      for (const hhmm of ['07:45', '09:20', '10:20', '11:20', '12:20'])
        events.push(ev('motion', T(hhmm, day), kitchen));
    }
    const day10 = ev('motion', T('07:40', '2026-11-10'), kitchen);
    const silent = run([...events, day10], T('14:00', '2026-11-10'), LEGACY);
    expect(byRule(silent.alerts, 'routine.inactivity')).toHaveLength(1);
    // Activity ends the stretch: a new silent stretch later is a new alert.
    const back = ev('motion', T('10:30', '2026-11-10'), kitchen);
    const twice = run([...events, day10, back], T('14:00', '2026-11-10'), LEGACY);
    expect(byRule(twice.alerts, 'routine.inactivity')).toHaveLength(2);
  });

  it('raises one alert for a stretch that crosses hours the resident is not usually active in, and the night', () => {
    // Usually active 09–11, not at 11, again 12–14 and in the evening at 20; nights 22:00–07:00.
    const events: TelecareEvent[] = [];
    for (let d = 1; d <= 9; d++) {
      const day = `2026-11-${String(d).padStart(2, '0')}`;
      for (const hhmm of ['07:45', '09:20', '10:20', '12:20', '13:20', '20:20'])
        events.push(ev('motion', T(hhmm, day), kitchen));
    }
    const day10 = ev('motion', T('07:40', '2026-11-10'), kitchen);
    const silent = run([...events, day10], T('11:00', '2026-11-11'), LEGACY);
    const unusual = byRule(silent.alerts, 'routine.inactivity');
    expect(unusual).toHaveLength(1);
    expect(unusual[0]).toMatchObject({
      evidence: [day10.id],
      raisedAt: new Date(T('10:00', '2026-11-10') + GRACE).toISOString(),
    });
    // Activity after the usual hours were missed starts a new stretch, raised once at its first usual hour.
    const evening = ev('motion', T('18:10', '2026-11-10'), kitchen);
    const again = byRule(
      run([...events, day10, evening], T('11:00', '2026-11-11'), LEGACY).alerts,
      'routine.inactivity',
    );
    expect(again.map((a) => [a.evidence, a.raisedAt])).toEqual([
      [[day10.id], new Date(T('10:00', '2026-11-10') + GRACE).toISOString()],
      [[evening.id], new Date(T('21:00', '2026-11-10') + GRACE).toISOString()],
    ]);
    // A stretch longer than the state remembers events (its last activity aged out) is the same one.
    const short = parseRuleSet({
      ...JSON.parse(JSON.stringify(LEGACY)),
      settings: { keepEventsForS: 3 * 3600 },
    });
    const readings = Array.from({ length: 12 }, (_, i) =>
      ev('temperature', T('08:00', '2026-11-10') + i * 1_800_000, {
        devicekind: 'temperature-sensor',
        subject: 'TS-1',
        data: { celsius: 20 },
      }),
    );
    const forgotten = run([...events, day10, ...readings], T('15:00', '2026-11-10'), short);
    expect(byRule(forgotten.alerts, 'routine.inactivity').map((a) => a.evidence)).toEqual([[day10.id]]);
  });

  it('a later, longer silence is a stretch of its own even when heartbeats push its last activity out of memory', () => {
    const events: TelecareEvent[] = [];
    for (let d = 1; d <= 9; d++) {
      const day = `2026-11-${String(d).padStart(2, '0')}`;
      events.push(ev('motion', T('07:45', day), kitchen), ev('motion', T('09:20', day), kitchen));
    }
    // Day 10: a silence raised at 10:00. Day 11: active at 07:40, then silent again, while the
    // smoke detector's heartbeats fill the events the state keeps.
    const day10 = ev('motion', T('07:40', '2026-11-10'), kitchen);
    const day11 = ev('motion', T('07:40', '2026-11-11'), kitchen);
    const beats = Array.from({ length: 30 }, (_, i) =>
      ev('heartbeat', T('07:41', '2026-11-11') + i * 240_000, {
        devicekind: 'smoke-detector',
        subject: 'SM-1',
      }),
    );
    const few = parseRuleSet({
      ...JSON.parse(JSON.stringify(LEGACY)),
      settings: { keepEvents: 12 },
    });
    const { alerts } = run([...events, day10, day11, ...beats], T('11:00', '2026-11-11'), few);
    expect(byRule(alerts, 'routine.inactivity').map((a) => [a.evidence, a.raisedAt])).toEqual([
      [[day10.id], new Date(T('10:00', '2026-11-10') + GRACE).toISOString()],
      [[day11.id], new Date(T('10:00', '2026-11-11') + GRACE).toISOString()],
    ]);
  });

  it('says nothing for a resident not usually active then, or before enough days are learned', () => {
    const events: TelecareEvent[] = [];
    for (let d = 1; d <= 9; d++)
      events.push(ev('motion', T('07:45', `2026-11-${String(d).padStart(2, '0')}`), kitchen));
    expect(byRule(run(events, T('23:00', '2026-11-09'), LEGACY).alerts, 'routine.inactivity')).toEqual([]);
    const few: TelecareEvent[] = [];
    for (let d = 1; d <= 3; d++)
      few.push(ev('motion', T('09:10', `2026-11-${String(d).padStart(2, '0')}`), kitchen));
    expect(byRule(run(few, T('11:00', '2026-11-04'), LEGACY).alerts, 'routine.inactivity')).toEqual([]);
  });
});

describe('timers are data', () => {
  it('a timer survives JSON and its tick gives the same alert as the runner', () => {
    const bed = ev('bed.vacated', T('02:00'), { devicekind: 'bed-sensor' });
    const first = evaluate(
      initialState(RESIDENT),
      { kind: 'event', event: bed, now: T('02:00') },
      DEFAULT_RULE_SET,
    );
    const set = first.timers.find(
      (command) => command.op === 'set' && command.timer.ruleId === 'sustained.out-of-bed-at-night',
    );
    expect(set).toBeDefined();
    const timer = JSON.parse(JSON.stringify(set?.op === 'set' ? set.timer : undefined));
    expect(timer).toMatchObject({ checkAt: T('02:45'), dueAt: T('02:45') + GRACE, eventId: bed.id });
    const state = JSON.parse(JSON.stringify(first.state));
    const tick = evaluate(state, { kind: 'tick', timer, now: T('02:46') }, DEFAULT_RULE_SET);
    expect(tick.alerts.map((a) => a.id)).toEqual(
      byRule(run([bed], T('03:00')).alerts, 'sustained.out-of-bed-at-night').map((a) => a.id),
    );
    // A tick for a rule no longer in the set checks nothing.
    const other = parseRuleSet({
      version: 2,
      rules: [{ id: 'x', version: 1, kind: 'trigger', on: ['fall.detected'], reason: '{what}' }],
    });
    expect(evaluate(state, { kind: 'tick', timer, now: T('02:46') }, other).alerts).toEqual([]);
  });

  it('a tick hours late still alerts, flagged late', () => {
    const bed = ev('bed.vacated', T('02:00'), { devicekind: 'bed-sensor' });
    const first = evaluate(
      initialState(RESIDENT),
      { kind: 'event', event: bed, now: T('02:00') },
      DEFAULT_RULE_SET,
    );
    const set = first.timers.find(
      (command) => command.op === 'set' && command.timer.ruleId === 'sustained.out-of-bed-at-night',
    );
    if (set?.op !== 'set') throw new Error('no timer');
    const tick = evaluate(first.state, { kind: 'tick', timer: set.timer, now: T('05:00') }, DEFAULT_RULE_SET);
    expect(tick.alerts[0]?.late).toBe(true);
    expect(tick.alerts[0]?.reason).toMatch(/late: decided 2 h before triage$/);
  });
});

import { Alert, type EventType, type TelecareEvent } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { RulesRunner } from './runner.ts';
import { decodeState, decodeStateList, encodeState, encodeStateList } from './state-codec.ts';
import { handShell, makeEvent } from './testing.ts';

/**
 * What a panel says of an alarm after it raised it: its zone back to normal (`alarm.restored`, a
 * Contact ID Q=3 or a SIA restoral) and the alarm still present (a Contact ID Q=6 status report).
 */

/** November: Europe/London is UTC, so local times read as written. */
const T = (hhmm: string) => Date.parse(`2026-11-22T${hhmm}:00.000Z`);
const S = 1000;
const RESIDENT = 'res_status0001';
const pendant = { devicekind: 'pendant', subject: 'PND-S1', location: 'hall' };

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
    deviceEventId: `s-${counter}-${type}`,
    ...pendant,
    ...extra,
  });
}

const press = (at: number, extra = {}) => ev('pendant.pressed', at, extra);
const stillPresent = (at: number, extra = {}) =>
  ev('pendant.pressed', at, { data: { zone: '1', condition: 'still-present' }, ...extra });
const restore = (at: number, extra = {}) =>
  ev('alarm.restored', at, { data: { condition: 'restore' }, ...extra });
const cancel = (at: number, extra = {}) => ev('alarm.cancelled', at, extra);

/** Feeds each event at its own time plus a second (or at the arrival given), then runs the clock. */
function run(
  events: Array<TelecareEvent | [TelecareEvent, number]>,
  until: number,
  runner = new RulesRunner(DEFAULT_RULE_SET),
) {
  const alerts: Alert[] = [];
  for (const item of events) {
    const [event, at] = Array.isArray(item) ? item : [item, Date.parse(item.time) + S];
    alerts.push(...runner.event(event, at));
  }
  alerts.push(...runner.advance(until));
  for (const alert of alerts) Alert.parse(alert);
  return { alerts, runner };
}

/**
 * A press and what the panel says of it (`after`) stamped the same second, fed in both orders,
 * until both have sorted first by id: `check` is given each run's alerts.
 */
function sameSecond(
  after: (at: number) => TelecareEvent,
  check: (alerts: Alert[], pressed: TelecareEvent, said: TelecareEvent, pressFirst: boolean) => void,
) {
  const sorts = new Set<boolean>();
  for (let i = 0; sorts.size < 2 || i < 4; i++) {
    const pressed = press(T('13:00'));
    const said = after(T('13:00'));
    sorts.add(said.id < pressed.id);
    for (const order of [
      [pressed, said],
      [said, pressed],
    ]) {
      const { alerts } = run(
        order.map((event): [TelecareEvent, number] => [event, T('13:00') + S]),
        T('13:30'),
      );
      check(alerts, pressed, said, order[0] === pressed);
    }
  }
}

const byRule = (alerts: readonly Alert[], ruleId: string) =>
  alerts.filter((alert) => alert.rule.id === ruleId);
const raisedPresses = (alerts: readonly Alert[]) =>
  byRule(alerts, 'trigger.pendant').filter((alert) => alert.type === 'pendant.pressed' && !alert.repeats);
const repeatPresses = (alerts: readonly Alert[]) =>
  byRule(alerts, 'trigger.pendant').filter((alert) => alert.type === 'pendant.pressed' && alert.repeats);
const stillPresentNotes = (alerts: readonly Alert[]) =>
  alerts.filter((alert) => alert.type === 'alarm.still-present');
const restores = (alerts: readonly Alert[]) => byRule(alerts, 'correlation.alarm-restore');
const cancels = (alerts: readonly Alert[]) => byRule(alerts, 'correlation.pre-alarm-cancel');

describe("an alarm's restore reaches the alarm's alert, never as a cancel", () => {
  it('a press restored 2 s later: a record naming the press alert as restored, nothing closed as a false alarm', () => {
    const pressed = press(T('14:01') + 58 * S);
    const restored = restore(T('14:02'));
    const { alerts } = run([pressed, restored], T('14:30'));
    const [alarm] = raisedPresses(alerts);
    expect(alarm).toMatchObject({ priority: 1, evidence: [pressed.id] });
    expect(restores(alerts)).toMatchObject([
      {
        type: 'alarm.restored',
        priority: 5,
        evidence: [pressed.id, restored.id],
        closes: { alertId: alarm?.id, outcome: 'restored' },
      },
    ]);
    expect(restores(alerts)[0]?.reason).toBe(
      'Alarm restore: alarm button back to normal (not a cancel) at 14:02 (pendant in hall); the alarm stands until an operator answers it (rule correlation.alarm-restore v1)',
    );
    expect(cancels(alerts)).toEqual([]);
    expect(alerts.filter((alert) => alert.closes?.outcome === 'false-alarm')).toEqual([]);
  });

  it("the restore's line on the case says the panel's code it came as; one without a code says none", () => {
    const pressed = press(T('14:01'), { sourcecode: 'CID 1101' });
    const restored = restore(T('14:02'), { sourcecode: 'CID 3101' });
    const { alerts } = run([pressed, restored], T('14:30'));
    expect(restores(alerts)[0]?.reason).toBe(
      'Alarm restore: alarm button back to normal (not a cancel) at 14:02, sent as CID 3101 (pendant in hall); the alarm stands until an operator answers it (rule correlation.alarm-restore v1)',
    );
    const smokeDevice = { devicekind: 'smoke-detector', subject: 'SD-C1', location: 'kitchen' };
    const smoke = run(
      [
        ev('smoke.detected', T('15:00'), { ...smokeDevice, sourcecode: 'SIA FA' }),
        ev('smoke.restored', T('15:05'), { ...smokeDevice, sourcecode: 'SIA FH' }),
      ],
      T('15:30'),
    );
    expect(byRule(smoke.alerts, 'correlation.restore')[0]?.reason).toContain(
      'smoke cleared at 15:05, sent as SIA FH',
    );
    const cancelled = run(
      [press(T('16:00')), cancel(T('16:00') + 5 * S, { sourcecode: 'CID 1406' })],
      T('16:30'),
    );
    expect(cancels(cancelled.alerts)[0]?.reason).toContain('recorded as a false alarm, sent as CID 1406');
  });

  it('press, restore 2 s later, cancel 10 s later: the cancel still closes the press as a false alarm', () => {
    const pressed = press(T('14:00'));
    const { alerts } = run([pressed, restore(T('14:00') + 2 * S), cancel(T('14:00') + 10 * S)], T('14:30'));
    const [alarm] = raisedPresses(alerts);
    expect(restores(alerts).map((alert) => alert.closes)).toEqual([
      { alertId: alarm?.id, outcome: 'restored' },
    ]);
    expect(cancels(alerts).map((alert) => alert.closes)).toEqual([
      { alertId: alarm?.id, outcome: 'false-alarm' },
    ]);
  });

  it('a restore after a repeat press names the group alert; a restore with no alarm before it, or from another device, names nothing', () => {
    const first = press(T('09:00'));
    const again = press(T('09:00') + 40 * S);
    const { alerts } = run([first, again, restore(T('09:00') + 42 * S)], T('09:30'));
    const [group] = raisedPresses(alerts);
    expect(repeatPresses(alerts)).toHaveLength(1);
    expect(restores(alerts).map((alert) => alert.closes?.alertId)).toEqual([group?.id]);

    expect(restores(run([restore(T('10:00')), press(T('10:01'))], T('10:30')).alerts)).toEqual([]);
    const other = run([press(T('11:00')), restore(T('11:00') + 2 * S, { subject: 'PND-S2' })], T('11:30'));
    expect(restores(other.alerts)).toEqual([]);
  });

  it("restores a pull-cord's and a fall detector's alarm too", () => {
    const cord = { devicekind: 'pullcord', subject: 'PC-S1', location: 'bathroom' };
    const pulled = ev('pullcord.pulled', T('12:00'), cord);
    const fallDevice = { devicekind: 'fall-detector', subject: 'FD-S1', location: 'hall' };
    const fell = ev('fall.detected', T('12:10'), fallDevice);
    const { alerts } = run(
      [pulled, restore(T('12:00') + 2 * S, cord), fell, restore(T('12:10') + 2 * S, fallDevice)],
      T('12:12'),
    );
    const cordAlert = byRule(alerts, 'trigger.pullcord')[0];
    const fallAlert = byRule(alerts, 'trigger.fall')[0];
    expect(restores(alerts).map((alert) => alert.closes?.alertId)).toEqual([cordAlert?.id, fallAlert?.id]);
  });

  it('a restore stamped the same second as its press names it, whichever id sorts first', () => {
    sameSecond(restore, (alerts) => {
      const [alarm] = raisedPresses(alerts);
      expect(restores(alerts).map((alert) => alert.closes?.alertId)).toEqual([alarm?.id]);
    });
  });

  it('a restore that arrives before its press (the alarm lane behind) still names the press alert', () => {
    const pressed = press(T('15:00'), { receivedat: new Date(T('15:00') + 4 * S).toISOString() });
    const restored = restore(T('15:00') + 2 * S);
    const { alerts } = run(
      [
        [restored, T('15:00') + 3 * S],
        [pressed, T('15:00') + 4 * S],
      ],
      T('15:30'),
    );
    const [alarm] = raisedPresses(alerts);
    expect(restores(alerts).map((alert) => alert.closes?.alertId)).toEqual([alarm?.id]);
  });
});

describe('a still-present report (Contact ID Q=6) is never a press', () => {
  it('on a group: a record of its own type on the group alert, no repeat press', () => {
    const first = press(T('14:00'));
    const status = stillPresent(T('14:00') + 40 * S);
    const { alerts } = run([first, status], T('14:30'));
    const [group] = raisedPresses(alerts);
    expect(raisedPresses(alerts)).toHaveLength(1);
    expect(repeatPresses(alerts)).toEqual([]);
    expect(stillPresentNotes(alerts)).toMatchObject([
      {
        priority: 5,
        evidence: [status.id],
        repeats: { alertId: group?.id },
        rule: { id: 'trigger.pendant' },
      },
    ]);
    expect(stillPresentNotes(alerts)[0]?.reason).toBe(
      'Panel reports the alarm still present (a status report, not a press): pendant in hall, 40 s after the first press at 14:00:00 (rule trigger.pendant v2)',
    );
    // A real press after it is the group's repeat, as it was.
    const later = run([first, status, press(T('14:01'))], T('14:30'));
    expect(repeatPresses(later.alerts)).toHaveLength(1);
    // A cancel of the group closes its alert once, as without the report.
    const cancelled = run([first, status, cancel(T('14:00') + 50 * S)], T('14:30'));
    expect(cancels(cancelled.alerts).map((alert) => alert.closes)).toEqual([
      { alertId: group?.id, outcome: 'false-alarm' },
    ]);
  });

  it('with nothing raised to show it on, it raises the alarm, saying it is a status report', () => {
    const status = stillPresent(T('16:00'));
    const { alerts } = run([status], T('16:30'));
    expect(raisedPresses(alerts)).toMatchObject([{ priority: 1, evidence: [status.id] }]);
    expect(raisedPresses(alerts)[0]?.reason).toContain(
      'reported by the panel as still present (a status report, not a new press): its first report may have been lost',
    );
    expect(stillPresentNotes(alerts)).toEqual([]);
    // After a press the resident cancelled, the status report raises the alarm again.
    const afterCancel = run(
      [press(T('17:00')), cancel(T('17:00') + 5 * S), stillPresent(T('17:01'))],
      T('17:30'),
    );
    expect(raisedPresses(afterCancel.alerts).map((alert) => alert.evidence)).toHaveLength(2);
    // A press within the window after it anchors the group (the press, never the report), and
    // the report shows on the press's alert; its own alert stays raised (nothing is unraised).
    const later = press(T('16:01'));
    const pressedAfter = run([status, later], T('16:30'));
    const group = raisedPresses(pressedAfter.alerts).find((alert) => alert.evidence[0] === later.id);
    expect(repeatPresses(pressedAfter.alerts)).toEqual([]);
    expect(stillPresentNotes(pressedAfter.alerts)).toMatchObject([
      { evidence: [status.id], repeats: { alertId: group?.id } },
    ]);
    expect(stillPresentNotes(pressedAfter.alerts)[0]?.reason).toContain('1 min before the press at 16:01:00');
  });

  it('stamped the same second as its press, the press anchors the group, whichever id sorts first and whichever arrives first', () => {
    sameSecond(stillPresent, (alerts, pressed, status, pressFirst) => {
      const group = raisedPresses(alerts).find((alert) => alert.evidence[0] === pressed.id);
      expect(group).toBeDefined();
      expect(repeatPresses(alerts)).toEqual([]);
      expect(stillPresentNotes(alerts)).toMatchObject([
        { evidence: [status.id], repeats: { alertId: group?.id } },
      ]);
      // In order, the press alone is raised; a report that came first raised the alarm before it.
      expect(raisedPresses(alerts)).toHaveLength(pressFirst ? 1 : 2);
    });
  });

  it('stamped before its press and arriving first, the press still anchors the group; a press after that merges into it', () => {
    const status = stillPresent(T('12:00'));
    const pressed = press(T('12:00') + 2 * S);
    const again = press(T('12:02'));
    const { alerts } = run([status, pressed, again], T('12:30'));
    const group = raisedPresses(alerts).find((alert) => alert.evidence[0] === pressed.id);
    expect(stillPresentNotes(alerts)).toMatchObject([
      { evidence: [status.id], repeats: { alertId: group?.id } },
    ]);
    expect(repeatPresses(alerts)).toMatchObject([{ evidence: [again.id], repeats: { alertId: group?.id } }]);
  });

  it('a press arriving after a later status report regroups it: the report stays a record, never a repeat press', () => {
    const first = press(T('18:00'));
    const status = stillPresent(T('18:00') + 30 * S);
    const { alerts } = run(
      [
        [status, T('18:00') + 31 * S],
        [first, T('18:00') + 32 * S],
      ],
      T('18:30'),
    );
    const group = raisedPresses(alerts).find((alert) => alert.evidence[0] === first.id);
    expect(repeatPresses(alerts)).toEqual([]);
    expect(stillPresentNotes(alerts)).toMatchObject([
      { evidence: [status.id], repeats: { alertId: group?.id } },
    ]);
  });

  it('whatever their stamps (to the second, from 3 s before the press) and arrival order, the press anchors the group and no report is a press', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -3, max: 120 }), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (offsets, at) => {
          const pressed = press(T('11:00'));
          const reports = offsets.map((s) => stillPresent(T('11:00') + s * S));
          const events = [pressed, ...reports];
          // The press arrives at any place among the reports, each a second after the latest stamp.
          const order = [...reports];
          order.splice(at % (reports.length + 1), 0, pressed);
          const { alerts } = run(
            order.map((event): [TelecareEvent, number] => [
              event,
              T('11:02') + (events.indexOf(event) + 1) * S,
            ]),
            T('11:30'),
          );
          const group = raisedPresses(alerts).find((alert) => alert.evidence[0] === pressed.id);
          expect(group).toBeDefined();
          expect(repeatPresses(alerts)).toEqual([]);
          // Reports that came before the press raised the alarm (nothing is unraised): their own
          // alerts, or the press's, are the only ones a report shows on.
          const raisedByReports = raisedPresses(alerts).filter((alert) => alert !== group);
          const before = new Set(order.slice(0, order.indexOf(pressed)).map((event) => event.id));
          for (const alert of raisedByReports) expect(before.has(alert.evidence[0] as string)).toBe(true);
          const shownOn = new Set([group?.id, ...raisedByReports.map((alert) => alert.id)]);
          for (const note of stillPresentNotes(alerts)) expect(shownOn.has(note.repeats?.alertId)).toBe(true);
          // In order (the press first), every report shows on the press's alert.
          if (order[0] === pressed)
            expect(new Set(stillPresentNotes(alerts).map((note) => note.repeats?.alertId))).toEqual(
              new Set([group?.id]),
            );
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the state keeps which remembered presses were status reports, stored and read back', () => {
    const { runner } = run([press(T('19:00')), stillPresent(T('19:00') + 20 * S)], T('19:01'));
    const state = runner.states.get(RESIDENT);
    expect(state?.recent.map((entry) => entry.stillPresent)).toEqual([undefined, true]);
    if (!state) return;
    expect(decodeState(encodeState(state))).toEqual(state);
    const list = encodeStateList(state);
    expect(decodeStateList(list.elements).state.recent).toEqual(state.recent);
  });
});

describe("a still-present report of any alarm is a status on the alarm's alert, never a new alarm where it can join one", () => {
  const FALL = { devicekind: 'fall-detector', subject: 'FD-S1', location: 'bedroom' };
  const fall = (at: number, extra = {}) => ev('fall.detected', at, { ...FALL, ...extra });
  const fallStill = (at: number) => fall(at, { data: { zone: '2', condition: 'still-present' } });
  const raisedOf = (alerts: readonly Alert[], ruleId: string) =>
    byRule(alerts, ruleId).filter((alert) => alert.priority < 5 && !alert.repeats);
  const stillLying = (alerts: readonly Alert[]) => byRule(alerts, 'correlation.fall-no-movement');

  it('a fall, then its still-present report: one fall alert with the report on it, one check for no movement', () => {
    const fell = fall(T('14:00'));
    const status = fallStill(T('14:00') + 40 * S);
    const { alerts, runner } = run([fell, status], T('14:01'));
    const [alarm] = raisedOf(alerts, 'trigger.fall');
    expect(raisedOf(alerts, 'trigger.fall')).toHaveLength(1);
    expect(stillPresentNotes(alerts)).toMatchObject([
      { priority: 5, evidence: [status.id], repeats: { alertId: alarm?.id }, rule: { id: 'trigger.fall' } },
    ]);
    expect(stillPresentNotes(alerts)[0]?.reason).toBe(
      'Panel reports the alarm still present (a status report, not a press): fall detector in bedroom, 40 s after the alarm at 14:00:00 (rule trigger.fall v1)',
    );
    // Before: a second P1 fall alert, and a second check that raised a second "fall, then no movement".
    const later = runner.advance(T('14:30'));
    expect(stillLying(later)).toMatchObject([{ evidence: [fell.id] }]);
  });

  it('stamped the same second as the fall, whichever arrives first: one check for no movement', () => {
    for (const first of ['fall', 'status'] as const) {
      const fell = fall(T('15:00'));
      const status = fallStill(T('15:00'));
      const order = first === 'fall' ? [fell, status] : [status, fell];
      const { alerts } = run(
        order.map((event): [TelecareEvent, number] => [event, T('15:00') + S]),
        T('15:30'),
      );
      expect(stillLying(alerts)).toHaveLength(1);
      if (first === 'fall') expect(raisedOf(alerts, 'trigger.fall')).toHaveLength(1);
    }
  });

  it('smoke, heat, CO, gas, a seizure and a pull-cord: the report shows on the alarm, never a second alarm', () => {
    const devices = [
      ['smoke.detected', 'smoke-detector', 'trigger.smoke'],
      ['heat.detected', 'heat-detector', 'trigger.heat'],
      ['co.detected', 'co-detector', 'trigger.co'],
      ['gas.detected', 'gas-detector', 'trigger.gas'],
      ['epilepsy.seizure', 'epilepsy-sensor', 'trigger.epilepsy'],
      ['pullcord.pulled', 'pullcord', 'trigger.pullcord'],
    ] as const;
    for (const [type, devicekind, ruleId] of devices) {
      const device = { devicekind, subject: `${devicekind}-1`, location: 'kitchen' };
      const alarm = ev(type, T('16:00'), device);
      const status = ev(type, T('16:01'), { ...device, data: { zone: '3', condition: 'still-present' } });
      const { alerts } = run([alarm, status], T('16:30'));
      const raised = raisedOf(alerts, ruleId);
      expect(raised, type).toMatchObject([{ priority: 1, evidence: [alarm.id] }]);
      expect(stillPresentNotes(alerts), type).toMatchObject([
        { evidence: [status.id], repeats: { alertId: raised[0]?.id } },
      ]);
    }
  });

  it('reports alone: the first raises the alarm, saying so; the next ones, each within 5 min of the one before, show on it', () => {
    const reports = [0, 4, 8].map((m) => fallStill(T('17:00') + m * 60 * S));
    const { alerts } = run(reports, T('17:30'));
    const raised = raisedOf(alerts, 'trigger.fall');
    expect(raised).toMatchObject([{ priority: 1, evidence: [reports[0]?.id] }]);
    expect(raised[0]?.reason).toContain('reported by the panel as still present');
    expect(stillPresentNotes(alerts).map((note) => note.repeats?.alertId)).toEqual([
      raised[0]?.id,
      raised[0]?.id,
    ]);
    expect(stillLying(alerts)).toHaveLength(1);
  });

  it('after the alarm was restored, cancelled, or more than 5 min of silence, a report raises the alarm again', () => {
    const device = { devicekind: 'smoke-detector', subject: 'SD-S1', location: 'kitchen' };
    const smoke = (at: number, extra = {}) => ev('smoke.detected', at, { ...device, ...extra });
    const smokeStill = (at: number) => smoke(at, { data: { zone: '4', condition: 'still-present' } });
    const restored = run(
      [smoke(T('18:00')), ev('smoke.restored', T('18:01'), device), smokeStill(T('18:02'))],
      T('18:30'),
    );
    expect(raisedOf(restored.alerts, 'trigger.smoke')).toHaveLength(2);
    const silence = run([smoke(T('19:00')), smokeStill(T('19:06'))], T('19:30'));
    expect(raisedOf(silence.alerts, 'trigger.smoke')).toHaveLength(2);
    const cancelled = run(
      [fall(T('20:00')), cancel(T('20:00') + 10 * S, FALL), fallStill(T('20:01'))],
      T('20:30'),
    );
    expect(raisedOf(cancelled.alerts, 'trigger.fall')).toHaveLength(2);
  });

  it("a cancel after the fall and its report closes the fall's alert once, and no alert that was never raised", () => {
    const fell = fall(T('21:00'));
    const { alerts } = run(
      [fell, fallStill(T('21:00') + 5 * S), cancel(T('21:00') + 10 * S, FALL)],
      T('21:30'),
    );
    const [alarm] = raisedOf(alerts, 'trigger.fall');
    expect(cancels(alerts).map((alert) => alert.closes)).toEqual([
      { alertId: alarm?.id, outcome: 'false-alarm' },
    ]);
    // A restore of the report's zone names the fall's alert too.
    const restoredAfter = run(
      [fall(T('22:00')), fallStill(T('22:00') + 5 * S), restore(T('22:00') + 9 * S, FALL)],
      T('22:30'),
    );
    const [fallAlert] = raisedOf(restoredAfter.alerts, 'trigger.fall');
    expect(restores(restoredAfter.alerts).map((alert) => alert.closes?.alertId)).toEqual([fallAlert?.id]);
  });
});

describe("a limited trigger's still-present report (flood, enuresis, mains, tamper) is a status on its alert, never a fresh report of the fault", () => {
  const FLOOD = { devicekind: 'flood-detector', subject: 'FLD-S1', location: 'kitchen' };
  const ENURESIS = { devicekind: 'enuresis-sensor', subject: 'ENS-S1', location: 'bedroom' };
  const still = (extra: Partial<Parameters<typeof makeEvent>[0]>) => ({
    ...extra,
    data: { zone: '5', condition: 'still-present' },
  });
  const flood = (at: number) => ev('flood.detected', at, FLOOD);
  const floodStill = (at: number) => ev('flood.detected', at, still(FLOOD));
  const raisedOf = (alerts: readonly Alert[], ruleId: string) =>
    byRule(alerts, ruleId).filter((alert) => alert.priority < 5 && !alert.repeats);
  const M = 60 * S;
  /** The panel's report every 2 to 4 minutes for 20 minutes after `from`. */
  const everyFewMinutes = (from: number, report: (at: number) => TelecareEvent) =>
    [3, 5, 8, 12, 14, 17, 20].map((m) => report(from + m * M));

  /**
   * Each event read a second after its time, timers fired as they come due, until `until`: the
   * suppressed reports and the settle checks set are kept for the test to read.
   */
  function shell(events: readonly TelecareEvent[], until: number) {
    const hand = handShell(RESIDENT, DEFAULT_RULE_SET);
    const settles = new Set<string>();
    for (const event of events) {
      hand.fire(Date.parse(event.time) + S);
      hand.read(event);
      for (const id of hand.timers.keys()) if (id.endsWith(':settle')) settles.add(id);
    }
    hand.fire(until);
    for (const alert of hand.raised) Alert.parse(alert);
    return { alerts: hand.raised, suppressed: hand.suppressed, settles };
  }

  it('a flood, then its reports every 2–4 min for 20 min: one flood alert, each report a record on it, nothing counted as flapping, no settle check', () => {
    const detected = flood(T('10:00'));
    const reports = everyFewMinutes(T('10:00'), floodStill);
    const { alerts, suppressed, settles } = shell([detected, ...reports], T('11:00'));
    const raised = raisedOf(alerts, 'trigger.flood');
    expect(raised).toMatchObject([{ priority: 2, type: 'flood.detected', evidence: [detected.id] }]);
    expect(stillPresentNotes(alerts)).toMatchObject(
      reports.map((report) => ({
        priority: 5,
        evidence: [report.id],
        repeats: { alertId: raised[0]?.id },
        rule: { id: 'trigger.flood' },
      })),
    );
    expect(stillPresentNotes(alerts)[0]?.reason).toBe(
      'Panel reports the alarm still present (a status report, not a press): flood detector in kitchen, 3 min after the alarm at 10:00:00 (rule trigger.flood v2)',
    );
    // Before: three P2 flood alerts, the rest suppressed as flapping, and the latest raised again
    // by the settle check ten minutes after it.
    expect(suppressed).toEqual([]);
    expect(settles).toEqual(new Set());
    expect(alerts).toHaveLength(1 + reports.length);
  });

  it('reports with no flood before them: the first raises the flood alert once, saying it came from a status report; the next show on it', () => {
    const reports = everyFewMinutes(T('12:00'), floodStill);
    const { alerts, suppressed, settles } = shell(reports, T('13:00'));
    const raised = raisedOf(alerts, 'trigger.flood');
    expect(raised).toMatchObject([{ priority: 2, evidence: [reports[0]?.id] }]);
    expect(raised[0]?.reason).toBe(
      'Flood detected: flood detector in kitchen (rule trigger.flood v2); reported by the panel as still present (a status report, not a new press): its first report may have been lost',
    );
    expect(stillPresentNotes(alerts).map((note) => note.repeats?.alertId)).toEqual(
      reports.slice(1).map(() => raised[0]?.id),
    );
    expect(suppressed).toEqual([]);
    expect(settles).toEqual(new Set());
    expect(alerts).toHaveLength(reports.length);
  });

  it('enuresis: the sensor wet, then its reports, is one alert; reports alone raise it once, saying so', () => {
    const wet = ev('enuresis.detected', T('02:00'), ENURESIS);
    const wetStill = (at: number) => ev('enuresis.detected', at, still(ENURESIS));
    const reports = everyFewMinutes(T('02:00'), wetStill);
    const after = shell([wet, ...reports], T('03:00'));
    const raised = raisedOf(after.alerts, 'trigger.enuresis');
    expect(raised).toMatchObject([{ priority: 2, evidence: [wet.id] }]);
    expect(stillPresentNotes(after.alerts).map((note) => note.repeats?.alertId)).toEqual(
      reports.map(() => raised[0]?.id),
    );
    expect(after.suppressed).toEqual([]);
    expect(after.alerts).toHaveLength(1 + reports.length);

    const alone = everyFewMinutes(T('04:00'), wetStill);
    const { alerts, suppressed } = shell(alone, T('05:00'));
    const first = raisedOf(alerts, 'trigger.enuresis');
    expect(first).toMatchObject([{ evidence: [alone[0]?.id] }]);
    expect(first[0]?.reason).toContain('reported by the panel as still present (a status report');
    expect(suppressed).toEqual([]);
    expect(alerts).toHaveLength(alone.length);
  });

  it('a restore after the reports closes the one flood alert', () => {
    const detected = flood(T('14:00'));
    const reports = [3, 6, 9].map((m) => floodStill(T('14:00') + m * M));
    const cleared = ev('flood.restored', T('14:11'), FLOOD);
    const { alerts } = shell([detected, ...reports, cleared], T('15:00'));
    const [raised] = raisedOf(alerts, 'trigger.flood');
    expect(raisedOf(alerts, 'trigger.flood')).toHaveLength(1);
    expect(alerts.filter((alert) => alert.closes).map((alert) => alert.closes)).toEqual([
      { alertId: raised?.id, outcome: 'restored' },
    ]);
    // After the restore, a report is the flood back: it raises the alarm again, saying so.
    const back = floodStill(T('14:13'));
    const again = shell([detected, ...reports, cleared, back], T('15:00'));
    expect(raisedOf(again.alerts, 'trigger.flood').map((alert) => alert.evidence)).toEqual([
      [detected.id],
      [back.id],
    ]);
  });

  it('a flapping probe (flood, cleared, flood…) is still limited, and a report after a restore counts as the flood back', () => {
    const flapping = ['16:00', '16:01', '16:02', '16:03'].flatMap((hhmm) => [
      flood(T(hhmm)),
      ev('flood.restored', T(hhmm) + 30 * S, FLOOD),
    ]);
    const report = floodStill(T('16:04'));
    const { alerts, suppressed } = shell([...flapping, report], T('17:00'));
    // Three raised in ten minutes; the fourth flood and the report after its restore suppressed,
    // and the report, not restored, raised by the settle check ten minutes after it.
    expect(suppressed.map((entry) => entry.eventId)).toEqual([flapping[6]?.id, report.id]);
    const raised = raisedOf(alerts, 'trigger.flood');
    expect(raised.map((alert) => alert.evidence)).toEqual([
      [flapping[0]?.id],
      [flapping[2]?.id],
      [flapping[4]?.id],
      [report.id],
    ]);
    expect(raised[3]?.reason).toContain('reported 5 times since 16:00, 2 not raised (flapping)');
    expect(stillPresentNotes(alerts)).toEqual([]);
  });

  it('a probe that flapped and then stays wet: the reports show on its suppressed report, which the settle check raises', () => {
    const flapping = ['16:00', '16:01', '16:02'].flatMap((hhmm) => [
      flood(T(hhmm)),
      ev('flood.restored', T(hhmm) + 30 * S, FLOOD),
    ]);
    const wet = flood(T('16:03'));
    const reports = [6, 9, 12, 15].map((m) => floodStill(T('16:00') + m * M));
    const { alerts, suppressed } = shell([...flapping, wet, ...reports], T('17:00'));
    // Only the fourth flood is over the limit; the reports are no flaps and do not move its check.
    expect(suppressed.map((entry) => entry.eventId)).toEqual([wet.id]);
    const raised = raisedOf(alerts, 'trigger.flood');
    expect(raised.map((alert) => alert.evidence)).toEqual([
      [flapping[0]?.id],
      [flapping[2]?.id],
      [flapping[4]?.id],
      [wet.id],
    ]);
    expect(raised[3]?.reason).toContain('reported 4 times since 16:00, 1 not raised (flapping)');
    expect(raised[3]?.raisedAt).toBe(new Date(T('16:13') + 30 * S).toISOString());
    expect(stillPresentNotes(alerts).map((note) => note.repeats?.alertId)).toEqual(
      reports.map(() => raised[3]?.id),
    );
  });

  it('mains lost and tamper, limited too: the reports show on the one alert, nothing suppressed', () => {
    const devices = [
      ['mains.lost', { devicekind: 'home-unit', subject: 'HUB-S1', location: 'hall' }, 'trigger.mains-lost'],
      ['device.tamper', { devicekind: 'home-unit', subject: 'HUB-S2', location: 'hall' }, 'trigger.tamper'],
    ] as const;
    for (const [type, device, ruleId] of devices) {
      const fault = ev(type, T('18:00'), device);
      const reports = everyFewMinutes(T('18:00'), (at) => ev(type, at, still(device)));
      const { alerts, suppressed, settles } = shell([fault, ...reports], T('19:00'));
      const raised = raisedOf(alerts, ruleId);
      expect(raised, type).toMatchObject([{ evidence: [fault.id] }]);
      expect(
        stillPresentNotes(alerts).map((note) => note.repeats?.alertId),
        type,
      ).toEqual(reports.map(() => raised[0]?.id));
      expect(suppressed, type).toEqual([]);
      expect(settles, type).toEqual(new Set());
    }
  });
});

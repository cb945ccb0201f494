import { type Alert, alertIdFor, type EventType, type TelecareEvent } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { toRecent } from './evaluate.ts';
import type { RecentEvent, RuleSet, TriggerRule } from './model.ts';
import { parseRuleSet } from './parse.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

const START = Date.parse('2026-11-22T10:30:00.000Z');
const SPAN_MS = 4 * 3600_000;
const RESIDENT = 'res_prop0001';
const SUPERVISION_S = 1800;
/** Out-of-order bound of the generated streams: below the rule set's reorder grace (30 s). */
const JITTER_MS = 25_000;

/**
 * The default rules for one resident whose night covers the generated span, so the night-only
 * rules take part, and whose devices report every half hour.
 */
const RULES: RuleSet = parseRuleSet({
  ...JSON.parse(JSON.stringify(DEFAULT_RULE_SET)),
  residents: {
    [RESIDENT]: {
      quietHours: { from: '12:00', to: '13:30' },
      visits: ['11:00', '13:00'],
      thresholds: { 'absence.supervision': { withinS: SUPERVISION_S } },
    },
  },
});

/** Types that exercise every resident rule, with the device that sends each. */
const TYPES: ReadonlyArray<[EventType, string, string]> = [
  ['pendant.pressed', 'pendant', 'PX-1'],
  ['alarm.cancelled', 'pendant', 'PX-1'],
  ['fall.detected', 'fall-detector', 'FD-1'],
  ['motion', 'pir', 'PIR-1'],
  ['bed.vacated', 'bed-sensor', 'BS-1'],
  ['bed.occupied', 'bed-sensor', 'BS-1'],
  ['chair.occupied', 'chair-sensor', 'CS-1'],
  ['chair.vacated', 'chair-sensor', 'CS-1'],
  ['door.opened', 'door-contact', 'DC-1'],
  ['door.closed', 'door-contact', 'DC-1'],
  ['medication.due', 'medication-dispenser', 'MD-1'],
  ['medication.taken', 'medication-dispenser', 'MD-1'],
  ['heartbeat', 'smoke-detector', 'SM-1'],
  ['smoke.detected', 'smoke-detector', 'SM-1'],
  ['smoke.restored', 'smoke-detector', 'SM-1'],
  ['carer.arrived', 'pendant', 'PX-1'],
  ['temperature', 'temperature-sensor', 'TS-1'],
];

const eventsArb = fc
  .uniqueArray(
    fc.record({
      id: fc.stringMatching(/^[a-z0-9]{10}$/),
      kind: fc.nat({ max: TYPES.length - 1 }),
      offsetMs: fc.integer({ min: 1_000, max: SPAN_MS }),
      celsius: fc.constantFrom(12, 15, 17, 20, 29, 31),
      dose: fc.constantFrom('am', 'pm'),
    }),
    { minLength: 1, maxLength: 60, selector: (spec) => spec.id },
  )
  .map((specs) => [
    // Recurring checks (visits, wake-up, routine) start with a resident's first event; a fixed
    // first event makes that start the same in every order.
    makeEvent({
      type: 'motion',
      devicekind: 'pir',
      subject: 'PIR-1',
      residentid: RESIDENT,
      deviceEventId: 'anchor-0',
      time: new Date(START).toISOString(),
    }),
    ...specs.map((spec) => {
      const [type, devicekind, subject] = TYPES[spec.kind] as [EventType, string, string];
      const data =
        type === 'temperature'
          ? { celsius: spec.celsius }
          : type.startsWith('medication.')
            ? { doseId: spec.dose }
            : {};
      return makeEvent({
        type,
        devicekind,
        subject,
        residentid: RESIDENT,
        deviceEventId: spec.id,
        time: new Date(START + spec.offsetMs).toISOString(),
        data,
      });
    }),
  ]);

/** Each event arrives within the bound after its time; some arrive again (redelivery). */
const arrivalsArb = eventsArb.chain((events) =>
  fc
    .tuple(
      fc.array(fc.integer({ min: 0, max: JITTER_MS }), {
        minLength: events.length,
        maxLength: events.length,
      }),
      fc.array(fc.tuple(fc.nat({ max: events.length - 1 }), fc.integer({ min: 0, max: JITTER_MS })), {
        maxLength: 20,
      }),
    )
    .map(([jitters, repeats]) => {
      const arrivals = events.map((event, i) => ({
        event,
        at: Date.parse(event.time) + (i === 0 ? 0 : (jitters[i] ?? 0)),
      }));
      for (const [i, jitter] of repeats) {
        const event = events[i] as TelecareEvent;
        arrivals.push({ event, at: Date.parse(event.time) + jitter });
      }
      return { events, arrivals };
    }),
);

const END = START + SPAN_MS + 6 * 3600_000;

function runArrivals(arrivals: ReadonlyArray<{ event: TelecareEvent; at: number }>, ruleSet = RULES) {
  const runner = new RulesRunner(ruleSet);
  const alerts: Alert[] = [];
  const sorted = [...arrivals].sort((a, b) => a.at - b.at);
  for (const { event, at } of sorted) alerts.push(...runner.event(event, at));
  alerts.push(...runner.advance(END));
  return { alerts, runner };
}

function inOrder(events: readonly TelecareEvent[]) {
  return runArrivals(events.map((event) => ({ event, at: Date.parse(event.time) })));
}

const ids = (alerts: readonly Alert[]) => new Set(alerts.map((alert) => alert.id));

describe('order, duplicates and redelivery never change what is raised', () => {
  it('arrival shuffled within the reorder bound, with duplicates, raises the same set of alert ids', () => {
    fc.assert(
      fc.property(arrivalsArb, ({ events, arrivals }) => {
        expect(ids(runArrivals(arrivals).alerts)).toEqual(ids(inOrder(events).alerts));
      }),
      { numRuns: 300 },
    );
  });

  it('a redelivered event raises nothing new, whenever it comes back', () => {
    fc.assert(
      fc.property(eventsArb, fc.nat(), (events, pick) => {
        const { alerts, runner } = inOrder(events);
        const again = events[pick % events.length] as TelecareEvent;
        expect(runner.event(again, END)).toEqual([]);
        expect(ids(alerts).size).toBe(alerts.length);
      }),
      { numRuns: 100 },
    );
  });
});

/**
 * A simple reference: the whole stream at once, sorted by event time, each rule written as the
 * sentence in DESIGN §5. It shares nothing with the core but the id function.
 */
function reference(events: readonly TelecareEvent[]): Set<string> {
  const all = events.map(toRecent).sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
  const out = new Set<string>();
  const id = (rule: string, key: string) => out.add(alertIdFor(rule, RESIDENT, key));
  const of = (...types: EventType[]) => all.filter((e) => types.includes(e.type));
  const any = (
    types: EventType[],
    from: number,
    to: number,
    pred: (e: RecentEvent) => boolean = () => true,
  ) => all.some((e) => types.includes(e.type) && e.at > from && e.at <= to && pred(e));
  const night = (at: number) => {
    const minute = new Date(at).getUTCHours() * 60 + new Date(at).getUTCMinutes();
    return minute >= 12 * 60 && minute < 13 * 60 + 30;
  };
  const triggerId = (rule: TriggerRule, e: RecentEvent) =>
    alertIdFor(
      rule.id,
      RESIDENT,
      rule.mergeWithinS ? `merge:${Math.floor(e.at / (rule.mergeWithinS * 1000))}` : e.id,
    );

  for (const rule of RULES.rules)
    if (rule.kind === 'trigger') for (const e of of(...rule.on)) out.add(triggerId(rule, e));

  const held = (rule: string, starts: EventType[], ends: EventType[], forS: number, atNight: boolean) => {
    for (const s of of(...starts))
      if ((!atNight || night(s.at)) && !any(ends, s.at, s.at + forS * 1000)) id(rule, s.id);
  };
  held('sustained.out-of-bed-at-night', ['bed.vacated'], ['bed.occupied'], 2700, true);
  held('sustained.chair-too-long', ['chair.occupied'], ['chair.vacated'], 4 * 3600, false);
  held('sustained.door-open-at-night', ['door.opened'], ['door.closed'], 600, true);

  const readings = of('temperature');
  const runs = (rule: string, beyond: (c: number) => boolean) =>
    readings.forEach((r, i) => {
      const previous = readings[i - 1];
      if (!beyond(r.celsius as number) || (previous && beyond(previous.celsius as number))) return;
      if (!readings.some((o) => o.at > r.at && o.at <= r.at + 3600_000 && !beyond(o.celsius as number)))
        id(rule, r.id);
    });
  runs('sustained.cold-home', (c) => c < 16);
  runs('sustained.overheating', (c) => c > 30);

  for (const due of of('medication.due'))
    if (!any(['medication.taken'], due.at - 1, due.at + 1800_000, (t) => t.doseId === due.doseId))
      id('absence.medication', due.id);

  for (const fall of of('fall.detected'))
    if (
      !any(
        ['motion', 'bed.occupied', 'chair.occupied', 'door.opened', 'alarm.cancelled'],
        fall.at,
        fall.at + 300_000,
      )
    )
      id('correlation.fall-no-movement', fall.id);

  // In a state (in bed, in the chair) when the latest of its events before `e` started it.
  const during = (starts: EventType[], ends: EventType[], e: RecentEvent) => {
    const latest = all
      .filter((o) => [...starts, ...ends].includes(o.type) && (o.at < e.at || (o.at === e.at && o.id < e.id)))
      .at(-1);
    return latest !== undefined && starts.includes(latest.type);
  };
  for (const closed of of('door.closed'))
    if (
      night(closed.at) &&
      !during(['bed.occupied'], ['bed.vacated'], closed) &&
      !during(['chair.occupied'], ['chair.vacated'], closed) &&
      !any(['motion', 'bed.occupied', 'chair.occupied', 'door.opened'], closed.at, closed.at + 600_000)
    )
      id('correlation.night-exit', closed.id);

  const pendant = RULES.rules.find((rule) => rule.id === 'trigger.pendant') as TriggerRule;
  const fall = RULES.rules.find((rule) => rule.id === 'trigger.fall') as TriggerRule;
  for (const cancel of of('alarm.cancelled'))
    for (const alarm of of('pendant.pressed', 'fall.detected'))
      if (alarm.at <= cancel.at && cancel.at - alarm.at <= 60_000)
        id(
          'correlation.pre-alarm-cancel',
          `${triggerId(alarm.type === 'fall.detected' ? fall : pendant, alarm)}:${cancel.id}`,
        );

  for (const restore of of('smoke.restored')) {
    const alarm = of('smoke.detected')
      .filter((a) => a.at < restore.at || (a.at === restore.at && a.id < restore.id))
      .at(-1);
    if (alarm) {
      const smoke = RULES.rules.find((rule) => rule.id === 'trigger.smoke') as TriggerRule;
      id('correlation.restore', `${triggerId(smoke, alarm)}:${restore.id}`);
    }
  }

  const beats = of('heartbeat');
  beats.forEach((beat, i) => {
    const next = beats[i + 1];
    if (next && next.at <= beat.at + SUPERVISION_S * 1000) return;
    const lost = alertIdFor('absence.supervision', RESIDENT, `SM-1:${beat.id}`);
    out.add(lost);
    if (next) id('absence.supervision', `restored:${lost}`);
  });

  for (const visit of ['11:00', '13:00']) {
    const at = Date.parse(`2026-11-22T${visit}:00.000Z`);
    if (at + 1800_000 > START && !any(['carer.arrived'], at - 1800_001, at + 1800_000))
      id('absence.carer', `visit:2026-11-22T${visit}@${at}`);
  }
  return out;
}

describe('the core agrees with a simple reference evaluator', () => {
  it('on generated streams, for every resident rule that can fire in the span', () => {
    fc.assert(
      fc.property(eventsArb, (events) => {
        const core = inOrder(events).alerts.filter(
          (alert) =>
            // The next day's wake-up check and the routine (no days learned) are not in the span.
            alert.rule.id !== 'absence.no-wake' && alert.rule.id !== 'routine.inactivity',
        );
        expect(ids(core)).toEqual(reference(events));
      }),
      { numRuns: 300 },
    );
  });
});

describe('state stays bounded', () => {
  it('per resident, however long the stream', () => {
    const small = parseRuleSet({
      ...JSON.parse(JSON.stringify(RULES)),
      settings: { keepEvents: 50, keepEventsForS: 3600 },
    });
    fc.assert(
      fc.property(eventsArb, eventsArb, eventsArb, (a, b, c) => {
        const runner = new RulesRunner(small);
        const events = [...a, ...b, ...c].sort((x, y) => Date.parse(x.time) - Date.parse(y.time));
        for (const event of events) runner.event(event, Date.parse(event.time));
        runner.advance(END);
        const state = runner.states.get(RESIDENT);
        expect(state?.recent.length ?? 0).toBeLessThanOrEqual(50);
        // One supervision entry per device, one schedule per recurring rule, one routine per rule.
        expect(Object.keys(state?.devices ?? {}).length).toBeLessThanOrEqual(TYPES.length);
        expect(Object.keys(state?.scheduled ?? {}).length).toBeLessThanOrEqual(3);
        expect(JSON.stringify(state).length).toBeLessThan(30_000);
        // Timers do not pile up either: every event's timer fires or is cancelled.
        expect(runner.pendingTimers).toBeLessThanOrEqual(10);
      }),
      { numRuns: 100 },
    );
  });
});

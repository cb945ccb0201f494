import { type Alert, alertIdFor, type EventType, TAXONOMY, type TelecareEvent } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate, toRecent } from './evaluate.ts';
import {
  initialState,
  type RecentEvent,
  type ResidentState,
  type RuleSet,
  type TriggerRule,
} from './model.ts';
import { parseRuleSet } from './parse.ts';
import { RulesRunner } from './runner.ts';
import { encodeState } from './state-codec.ts';
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

/**
 * Types that exercise every resident rule, with the device that sends each: presses and cancels
 * are weighted up, and a second pendant is an installer's, in test mode.
 */
const TYPES: ReadonlyArray<[EventType, string, string, boolean?]> = [
  ['pendant.pressed', 'pendant', 'PX-1'],
  ['pendant.pressed', 'pendant', 'PX-1'],
  ['pendant.pressed', 'pendant', 'PX-T', true],
  ['pullcord.pulled', 'pullcord', 'PC-1'],
  ['alarm.cancelled', 'pendant', 'PX-1'],
  ['alarm.cancelled', 'pendant', 'PX-1'],
  // The home unit's cancel button, which closes any of the home's alarms (a pendant's, its own).
  ['alarm.cancelled', 'home-unit', 'HU-1'],
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
  ['carer.arrived', 'carer-fob', 'CF-1'],
  ['temperature', 'temperature-sensor', 'TS-1'],
];

/** A quarter hour in which a home's alarms and cancels crowd, so that they meet in the merge window. */
const BUSY_FROM_MS = 3600_000;
const BUSY_MS = 15 * 60_000;
const ALARMS_AND_CANCELS = TYPES.flatMap(([type], kind) =>
  type === 'pendant.pressed' || type === 'pullcord.pulled' || type === 'alarm.cancelled' ? [kind] : [],
);

const specArb = (kind: fc.Arbitrary<number>, from: number, to: number) =>
  fc.record({
    id: fc.stringMatching(/^[a-z0-9]{10}$/),
    kind,
    offsetMs: fc.integer({ min: from, max: to }),
    celsius: fc.constantFrom(12, 15, 17, 20, 29, 31),
    dose: fc.constantFrom('am', 'pm'),
  });

type Spec = { id: string; kind: number; offsetMs: number; celsius: number; dose: string };

const toEvents = (specs: readonly Spec[]): TelecareEvent[] => [
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
  ...specs.map((spec, i) => {
    const [type, devicekind, subject, testmode = false] = TYPES[spec.kind] as (typeof TYPES)[number];
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
      testmode,
      residentid: RESIDENT,
      deviceEventId: `${i}-${spec.id}`,
      time: new Date(START + spec.offsetMs).toISOString(),
      data,
    });
  }),
];

const busyArb = specArb(fc.constantFrom(...ALARMS_AND_CANCELS), BUSY_FROM_MS, BUSY_FROM_MS + BUSY_MS);

// Distinct times: what "the order it was sent" means is then never a matter of ties.
const eventsArb = fc
  .uniqueArray(fc.oneof(specArb(fc.nat({ max: TYPES.length - 1 }), 1_000, SPAN_MS), busyArb), {
    minLength: 1,
    maxLength: 60,
    selector: (spec) => spec.offsetMs,
  })
  .map(toEvents);

/** Only presses and cancels, many of them, in one quarter hour. */
const burstArb = fc
  .uniqueArray(busyArb, { minLength: 1, maxLength: 40, size: 'medium', selector: (spec) => spec.offsetMs })
  .map(toEvents);

/** The resident's alarms and cancels: the home unit relays them, in the order they happened. */
const ALARM_PATH: ReadonlySet<EventType> = new Set([
  'pendant.pressed',
  'pullcord.pulled',
  'fall.detected',
  'alarm.cancelled',
]);
const sender = (event: TelecareEvent): string => (ALARM_PATH.has(event.type) ? 'home-unit' : event.subject);

type Arrival = { event: TelecareEvent; at: number };

/**
 * Each event arrives within the bound after its time, but never before an event its sender sent
 * earlier: EVENTS keeps what one sender's connection delivers in order, and the partition lane
 * reads a resident's events in that order (see the first property below).
 */
function inSenderOrder(events: readonly TelecareEvent[], jitters: readonly number[]): Arrival[] {
  const last = new Map<string, number>();
  const arrivals = events
    .map((event, i) => ({ event, at: Date.parse(event.time) + (i === 0 ? 0 : (jitters[i] ?? 0)) }))
    .sort((a, b) => Date.parse(a.event.time) - Date.parse(b.event.time));
  for (const arrival of arrivals) {
    arrival.at = Math.max(arrival.at, last.get(sender(arrival.event)) ?? arrival.at);
    last.set(sender(arrival.event), arrival.at);
  }
  return arrivals;
}

/** Arrivals within the bound in each sender's order; some events arrive again (redelivery). */
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
      const arrivals = inSenderOrder(events, jitters);
      // A redelivery comes after the first delivery.
      for (const [i, jitter] of repeats) {
        const first = arrivals[i] as Arrival;
        arrivals.push({ event: first.event, at: first.at + jitter });
      }
      return { events, arrivals };
    }),
);

const END = START + SPAN_MS + 6 * 3600_000;

/**
 * How far past the end a run compared by order goes on: a check due near the end fires a reorder
 * grace after the input that moved it last, so in one order it fires just before the end and in
 * another just after, though it is the same alert, raised at the same moment (`raisedAt` counts
 * from the check). Run on past it and compared by what was raised by the end, both hold it.
 */
const SETTLE_MS = 3600_000;

/** The alerts raised by the end of the generated span's run (`raisedAt`), fired then or since. */
const byEnd = (alerts: readonly Alert[]) => alerts.filter((alert) => Date.parse(alert.raisedAt) <= END);

function runArrivals(arrivals: readonly Arrival[], ruleSet = RULES, until = END) {
  const runner = new RulesRunner(ruleSet);
  const alerts: Alert[] = [];
  // Arrivals at the same moment keep the order their events happened in.
  const sorted = [...arrivals].sort(
    (a, b) => a.at - b.at || Date.parse(a.event.time) - Date.parse(b.event.time),
  );
  for (const { event, at } of sorted) alerts.push(...runner.event(event, at));
  alerts.push(...runner.advance(until));
  return { alerts, runner };
}

function inOrder(events: readonly TelecareEvent[], until = END) {
  return runArrivals(
    events.map((event) => ({ event, at: Date.parse(event.time) })),
    RULES,
    until,
  );
}

const ids = (alerts: readonly Alert[]) => new Set(alerts.map((alert) => alert.id));

const MERGING = RULES.rules.filter(
  (rule): rule is TriggerRule => rule.kind === 'trigger' && rule.mergeWithinS !== undefined,
);
const mergingIds = (alerts: readonly Alert[]) =>
  ids(alerts.filter((alert) => MERGING.some((rule) => rule.id === alert.rule.id) && !alert.closes));

/** The alert a group anchored by `anchor` raises (the id is the contract the core must keep). */
const groupId = (rule: TriggerRule, anchor: { id: string; testmode: boolean }) =>
  alertIdFor(rule.id, RESIDENT, `merge:${anchor.testmode ? 'test:' : ''}${anchor.id}`);

/**
 * What the order properties assume, and why it holds:
 *
 * - Partition lane (the first property): one sender's events reach the core in the order it sent
 *   them. MQTT QoS 1 delivers one client's messages in order; gateway-mqtt stores each device's
 *   messages one at a time in that order (`AdmissionQueue`), gateway-dc09 one frame at a time per
 *   TCP connection, so EVENTS holds them in order; triage reads a partition with one durable
 *   consumer at `max_ack_pending: 1`, and all of a resident's events are on one partition. Events
 *   of different senders interleave within the reorder bound (the generated jitter). Here a home's
 *   pendant, pull-cord, fall detector and cancel share one sender, as when its home unit relays
 *   them. It does not hold across devices that each publish over MQTT, nor for a store
 *   gateway-mqtt gave up on (its connection replaced): the device's resend is stored after what it
 *   sent since.
 * - Alarm lane (the second): triage also reads every P1 alarm on a lane of its own, ahead of its
 *   partition, so a press is evaluated before the cancel its device sent just before it. Sender
 *   order does not hold there, so that case is checked in the "never lose" form, and every other
 *   order by the third property.
 */
describe('order, duplicates and redelivery never change what is raised', () => {
  it('arrival shuffled within the reorder bound in each sender’s order, with duplicates, raises the same set of alert ids', () => {
    fc.assert(
      fc.property(arrivalsArb, ({ events, arrivals }) => {
        const arrived = byEnd(runArrivals(arrivals, RULES, END + SETTLE_MS).alerts);
        expect(ids(arrived)).toEqual(ids(byEnd(inOrder(events, END + SETTLE_MS).alerts)));
      }),
      // A fixed seed by default, so that a run of the suite is repeatable; PROP_X runs draw anew. Seed
      // 1496307401 found two arrival orders that raised other alert ids than time order, each now a
      // case of late-door.test.ts (a late door behind the PIR at the outing's check, and a bounce).
      { numRuns: Number(process.env.PROP_X ?? 1) * 300, ...(process.env.PROP_X ? {} : { seed: 20261206 }) },
    );
  });

  it('alarms read ahead by the alarm lane lose nothing: every alert is still raised, and only a merging rule adds any', () => {
    fc.assert(
      fc.property(arrivalsArb, ({ events, arrivals }) => {
        const lane = events
          .filter((event) => TAXONOMY[event.type].priority === 1)
          .map((event) => ({ event, at: Date.parse(event.time) }));
        const alerts = byEnd(runArrivals([...lane, ...arrivals], RULES, END + SETTLE_MS).alerts);
        const raised = ids(alerts);
        const expected = ids(byEnd(inOrder(events, END + SETTLE_MS).alerts));
        for (const id of expected) expect(raised).toContain(id);
        const merging = mergingIds(alerts);
        for (const id of raised) if (!expected.has(id)) expect(merging).toContain(id);
      }),
      { numRuns: Number(process.env.PROP_X ?? 1) * 200 },
    );
  });

  it('in any arrival order, every merged group is raised, every press reaches the helpline, and no press only merges into an alert a cancel before it closed', () => {
    const shuffled = burstArb.chain((events) =>
      fc
        .shuffledSubarray(events, { minLength: events.length, maxLength: events.length })
        .map((order) => ({ events, order })),
    );
    fc.assert(
      fc.property(shuffled, ({ events, order }) => {
        const { alerts } = runArrivals(order.map((event, i) => ({ event, at: END + i * 1000 })));
        // Never lose: every alert the presses raise in order is raised.
        const raised = mergingIds(alerts);
        for (const id of mergingIds(inOrder(events).alerts)) expect(raised).toContain(id);
        // Each press has an alert of its rule, anchored at or before it within the window, that
        // no cancel before the press closed. (A cancel at the press's own instant pairs with the
        // press itself, as the cancel rule always has: that press is cancelled, not lost.)
        const time = new Map(events.map((event) => [event.id, Date.parse(event.time)]));
        const closedBefore = (alertId: string, at: number) =>
          alerts.some(
            (alert) =>
              alert.closes?.alertId === alertId && (time.get(alert.evidence[1] ?? '') ?? Infinity) < at,
          );
        for (const rule of MERGING) {
          const presses = events.filter((event) => rule.on.includes(event.type));
          for (const press of presses) {
            const at = Date.parse(press.time);
            const open = presses.filter(
              (anchor) =>
                anchor.testmode === press.testmode &&
                Date.parse(anchor.time) <= at &&
                at - Date.parse(anchor.time) <= (rule.mergeWithinS ?? 0) * 1000 &&
                raised.has(groupId(rule, anchor)) &&
                !closedBefore(groupId(rule, anchor), at),
            );
            expect(open.length, `press ${press.id} at ${press.time}`).toBeGreaterThan(0);
            // Every press reaches a person: an alert of its own (its group's, or a repeat of it)
            // carries it as evidence, so the helpline can count it or open a case for it.
            expect(
              alerts.some(
                (alert) => alert.rule.id === rule.id && !alert.closes && alert.evidence[0] === press.id,
              ),
              `press ${press.id} at ${press.time} reached no one`,
            ).toBe(true);
          }
        }
      }),
      { numRuns: Number(process.env.PROP_X ?? 1) * 300 },
    );
  });

  it('a redelivered event raises nothing new, whenever it comes back', () => {
    fc.assert(
      fc.property(eventsArb, fc.nat(), (events, pick) => {
        const { alerts, runner } = inOrder(events);
        const again = events[pick % events.length] as TelecareEvent;
        expect(runner.event(again, END)).toEqual([]);
        // A cancel not taken raises its alarm's one note again for each later cancel of the stream
        // within the window (its id names the alarm: ALERTS and the helpline take it once); every
        // other alert is raised once.
        const once = alerts.filter((alert) => alert.thresholds.orphanCancels === undefined);
        expect(ids(once).size).toBe(once.length);
      }),
      { numRuns: Number(process.env.PROP_X ?? 1) * 100 },
    );
  });
});

/**
 * A simple reference: the whole stream at once, sorted by event time, each rule written as the
 * sentence in DESIGN §5. It shares nothing with the core but the id function.
 */
function reference(events: readonly TelecareEvent[]): Set<string> {
  const all = events.map((event) => toRecent(event)).sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
  const out = new Set<string>();
  const id = (rule: string, key: string) => out.add(alertIdFor(rule, RESIDENT, key));
  const of = (...types: EventType[]) => all.filter((e) => types.includes(e.type));
  // A trigger's cancel closes its own device's alarms; the home unit's, any of the home's.
  const closesPair = (cancel: RecentEvent, alarm: RecentEvent) =>
    cancel.serial === alarm.serial || cancel.deviceKind === 'home-unit';
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
  // Merging: by event time, a press within the window of its group's first press joins that
  // group, unless a cancel since (before this press) closed one of the group's presses.
  const anchors = new Map<string, RecentEvent>();
  for (const rule of RULES.rules) {
    if (rule.kind !== 'trigger' || rule.mergeWithinS === undefined) continue;
    for (const testMode of [false, true]) {
      let group: RecentEvent[] = [];
      for (const press of all.filter((e) => rule.on.includes(e.type) && e.testMode === testMode)) {
        const first = group[0];
        const cancelled = of('alarm.cancelled').some(
          (c) =>
            c.at < press.at && group.some((m) => m.at <= c.at && c.at - m.at <= 60_000 && closesPair(c, m)),
        );
        if (first && press.at - first.at <= rule.mergeWithinS * 1000 && !cancelled) group.push(press);
        else group = [press];
        anchors.set(press.id, group[0] as RecentEvent);
      }
    }
  }
  const triggerId = (rule: TriggerRule, e: RecentEvent) => {
    const anchor = anchors.get(e.id);
    return rule.mergeWithinS && anchor
      ? groupId(rule, { id: anchor.id, testmode: anchor.testMode })
      : alertIdFor(rule.id, RESIDENT, e.id);
  };

  for (const rule of RULES.rules)
    if (rule.kind === 'trigger') for (const e of of(...rule.on)) out.add(triggerId(rule, e));
  // Every press that merged reaches the helpline too, as a repeat named by the press itself.
  for (const rule of MERGING)
    for (const e of of(...rule.on))
      if (anchors.get(e.id) !== e) id(rule.id, `repeat:${e.testMode ? 'test:' : ''}${e.id}`);

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

  // In a state (in bed, in the chair) when the latest of its events before `e` started it.
  const during = (starts: EventType[], ends: EventType[], e: RecentEvent) => {
    const latest = all
      .filter((o) => [...starts, ...ends].includes(o.type) && (o.at < e.at || (o.at === e.at && o.id < e.id)))
      .at(-1);
    return latest !== undefined && starts.includes(latest.type);
  };
  // Coming home (`notReturn`): the door reports chained back from this close, each within two
  // minutes of the next, are one passage; before it, the last thing the rule counts was a close.
  const counted: EventType[] = [
    'door.closed',
    'door.opened',
    'motion',
    'bed.occupied',
    'bed.vacated',
    'chair.occupied',
    'chair.vacated',
  ];
  // A bounce: a door open for under 3 s (`doorBounceS`), its opening and its closing, is nobody.
  const doors = of('door.opened', 'door.closed');
  const bounce = (e: RecentEvent) => {
    const i = doors.indexOf(e);
    if (e.type === 'door.opened') {
      const next = doors.slice(i + 1).find((o) => o.serial === e.serial);
      return next?.type === 'door.closed' && next.at - e.at < 3000;
    }
    const previous = doors.slice(0, i).findLast((o) => o.serial === e.serial);
    return previous?.type === 'door.opened' && e.at - previous.at < 3000;
  };
  const isDoor = (type: EventType) => type === 'door.opened' || type === 'door.closed';
  const isReturn = (closed: RecentEvent) => {
    const earlier = all.filter((o) => o.at < closed.at || (o.at === closed.at && o.id < closed.id)).reverse();
    let from = closed.at;
    for (const seen of earlier) {
      if (seen.at < from - 120_000) break;
      if (isDoor(seen.type) && !bounce(seen)) from = Math.min(from, seen.at);
    }
    return (
      earlier.find((o) => o.at < from && counted.includes(o.type) && !(isDoor(o.type) && bounce(o)))?.type ===
      'door.closed'
    );
  };
  for (const closed of of('door.closed'))
    if (
      night(closed.at) &&
      !bounce(closed) &&
      !isReturn(closed) &&
      !during(['bed.occupied'], ['bed.vacated'], closed) &&
      !during(['chair.occupied'], ['chair.vacated'], closed) &&
      !any(
        ['motion', 'bed.occupied', 'chair.occupied', 'door.opened'],
        closed.at,
        closed.at + 600_000,
        (o) => !(o.type === 'door.opened' && bounce(o)),
      )
    )
      id('correlation.night-exit', closed.id);

  const triggerOf = (type: EventType) =>
    RULES.rules.find((rule) => rule.kind === 'trigger' && rule.on.includes(type)) as TriggerRule;
  // A cancel is taken unless its device sent two or more cancels (not in test mode) in the hour
  // before it with no alarm in the minute up to each: then the alarm gets a note, not a close.
  const alarms = of('pendant.pressed', 'pullcord.pulled', 'fall.detected');
  const orphan = (c: RecentEvent) =>
    !c.testMode && !alarms.some((a) => a.at <= c.at && c.at - a.at <= 60_000);
  const distrusted = (cancel: RecentEvent) =>
    of('alarm.cancelled').filter(
      (c) =>
        c.serial === cancel.serial &&
        cancel.at - c.at <= 3_600_000 &&
        (c.at < cancel.at || (c.at === cancel.at && c.id < cancel.id)) &&
        orphan(c),
    ).length >= 2;
  for (const cancel of of('alarm.cancelled'))
    for (const alarm of alarms)
      if (alarm.at <= cancel.at && cancel.at - alarm.at <= 60_000 && closesPair(cancel, alarm)) {
        const alarmId = triggerId(triggerOf(alarm.type), alarm);
        if (distrusted(cancel)) id('correlation.pre-alarm-cancel', `${alarmId}:cancel-not-taken`);
        else id('correlation.pre-alarm-cancel', `${alarmId}:${cancel.id}`);
      }

  // Movement ends a fall's check; a cancel only one that could close the fall, and is taken.
  for (const fall of of('fall.detected'))
    if (
      !any(['motion', 'bed.occupied', 'chair.occupied', 'door.opened'], fall.at, fall.at + 300_000) &&
      !any(['alarm.cancelled'], fall.at, fall.at + 300_000, (c) => closesPair(c, fall) && !distrusted(c))
    )
      id('correlation.fall-no-movement', fall.id);

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
            alert.rule.id !== 'absence.no-wake' &&
            alert.rule.id !== 'routine.inactivity' &&
            // The learned rhythm has its own properties (rhythm.property.test.ts).
            alert.rule.id !== 'rhythm.learned',
        );
        expect(ids(core)).toEqual(reference(events));
      }),
      { numRuns: Number(process.env.PROP_X ?? 1) * 300 },
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
      { numRuns: Number(process.env.PROP_X ?? 1) * 100 },
    );
  });
});

describe('a state given up to the core (reuse) gives the same evaluations', () => {
  it('in any arrival order, with redeliveries, and with the list cut by count and age', () => {
    const small = parseRuleSet({
      ...JSON.parse(JSON.stringify(RULES)),
      settings: { keepEvents: 12, keepEventsForS: 1800, keepSeen: 3 },
    });
    fc.assert(
      fc.property(arrivalsArb, ({ arrivals }) => {
        const sorted = [...arrivals].sort((a, b) => a.at - b.at);
        let kept: ResidentState = initialState(RESIDENT);
        let given: ResidentState = initialState(RESIDENT);
        for (const { event, at } of sorted) {
          const input = { kind: 'event', event, now: at } as const;
          const pure = evaluate(kept, input, small);
          const reused = evaluate(given, input, small, { reuse: true });
          const { state: pureState, ...pureRest } = pure;
          const { state: reusedState, ...reusedRest } = reused;
          expect(reusedRest).toEqual(pureRest);
          expect(reusedState).toEqual(pureState);
          expect(encodeState(reusedState)).toBe(encodeState(pureState));
          kept = pureState;
          given = reusedState;
        }
      }),
      { numRuns: Number(process.env.PROP_X ?? 1) * 100 },
    );
    // Every step compared whole, twice: seconds on a quiet machine, over 30 s on a busy one.
  }, 120_000);
});

describe('alarms from a device whose kind does not report them (unexpectedkind)', () => {
  /** A pendant's login sending pull-cord pulls and presses marked so by the gateway, and its cancels. */
  const forgedArb = fc.uniqueArray(
    fc.record({
      offsetMs: fc.integer({ min: BUSY_FROM_MS, max: BUSY_FROM_MS + BUSY_MS }),
      type: fc.constantFrom<EventType>('pullcord.pulled', 'pendant.pressed', 'alarm.cancelled'),
    }),
    { minLength: 1, maxLength: 15, selector: (spec) => spec.offsetMs },
  );
  const forgedEvents = (specs: ReadonlyArray<{ offsetMs: number; type: EventType }>) =>
    specs.map(({ offsetMs, type }, i) =>
      makeEvent({
        type,
        // A pendant: its pull-cord pulls are of a kind it does not report; its presses its own.
        devicekind: 'pendant',
        subject: 'PX-9',
        residentid: RESIDENT,
        deviceEventId: `forged-${i}`,
        time: new Date(START + offsetMs + 1).toISOString(),
        ...(type === 'pullcord.pulled' ? { unexpectedkind: true as const } : {}),
      }),
    );

  it('change nothing of what the home’s own presses and cancels raise, and no cancel closes them', () => {
    fc.assert(
      fc.property(burstArb, forgedArb, (events, forged) => {
        const own = inOrder(events).alerts;
        const forgedList = forgedEvents(forged);
        const mixed = inOrder([...events, ...forgedList]).alerts;
        const forgedIds = new Set(forgedList.map((e) => e.id));
        const fromOwn = (alerts: readonly Alert[]) =>
          alerts.filter((alert) => alert.evidence.every((id) => !forgedIds.has(id))).map((a) => a.id);
        // The home's own alerts and their closing are the same with the forged ones among them,
        // bar what the pendant's own cancels close of its own presses (its device, its alarms).
        const ownPulls = (alerts: readonly Alert[]) =>
          new Set(fromOwn(alerts.filter((alert) => alert.rule.id === 'trigger.pullcord')));
        expect(ownPulls(mixed)).toEqual(ownPulls(own));
        const unexpected = new Set(forgedList.filter((e) => e.unexpectedkind).map((e) => e.id));
        const raisedBy = new Set(
          mixed.filter((alert) => alert.evidence.some((id) => unexpected.has(id))).map((alert) => alert.id),
        );
        // Every forged pull reached someone, and nothing closed what it raised.
        for (const id of unexpected)
          expect(mixed.some((alert) => !alert.closes && alert.evidence.includes(id))).toBe(true);
        expect(mixed.filter((alert) => alert.closes && raisedBy.has(alert.closes.alertId))).toEqual([]);
        // Nor did a home's pull-cord pull merge into a forged group, or a forged pull into the home's.
        for (const alert of mixed.filter(
          (a) => a.repeats !== undefined && a.rule.id === 'trigger.pullcord',
        )) {
          const group = mixed.find((a) => a.id === alert.repeats?.alertId);
          const forgedRepeat = alert.evidence.some((id) => unexpected.has(id));
          const forgedGroup = group?.evidence.some((id) => unexpected.has(id)) ?? forgedRepeat;
          expect(forgedRepeat).toBe(forgedGroup);
        }
      }),
      { numRuns: Number(process.env.PROP_X ?? 1) * 150 },
    );
  });
});

import { DEVICE_EVENT_TYPES, type EventType, type TelecareEvent } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET } from './default-rules.ts';
import { evaluate } from './evaluate.ts';
import { initialState, type ResidentState, type RuleSet } from './model.ts';
import { makeEvent } from './testing.ts';

const NOW = Date.parse('2026-11-22T10:00:00.000Z');
const RESIDENT = 'res_prop0001';

/** Distinct events for one resident: any device type, any time in the last two hours. */
const eventsArb = fc
  .uniqueArray(
    fc.record({
      deviceEventId: fc.stringMatching(/^[a-z0-9]{8,12}$/),
      type: fc.constantFrom(...(DEVICE_EVENT_TYPES as EventType[])),
      ageMs: fc.integer({ min: 0, max: 2 * 3600_000 }),
      serial: fc.constantFrom('PX-0001', 'SM-0002', 'HU-0003'),
    }),
    { minLength: 1, maxLength: 40, selector: (e) => `${e.serial}/${e.deviceEventId}` },
  )
  .map((specs) =>
    specs.map((spec) =>
      makeEvent({
        type: spec.type,
        deviceEventId: spec.deviceEventId,
        subject: spec.serial,
        residentid: RESIDENT,
        time: new Date(NOW - spec.ageMs).toISOString(),
      }),
    ),
  );

/** The events in a different order, each at least once and some several times (redelivery). */
const streamsArb = eventsArb.chain((events) =>
  fc.array(fc.nat({ max: events.length - 1 }), { maxLength: 30 }).chain((repeats) => {
    const indexes = [...events.keys(), ...repeats];
    return fc
      .shuffledSubarray(indexes, { minLength: indexes.length, maxLength: indexes.length })
      .map((order) => ({ events, stream: order.map((i) => events[i] as TelecareEvent) }));
  }),
);

function run(events: readonly TelecareEvent[], ruleSet: RuleSet, nowOf: (i: number) => number) {
  let state: ResidentState = initialState(RESIDENT);
  const alertIds: string[] = [];
  events.forEach((event, i) => {
    const result = evaluate(state, { kind: 'event', event, now: nowOf(i) }, ruleSet);
    state = result.state;
    for (const alert of result.alerts) alertIds.push(alert.id);
  });
  return { state, alertIds: new Set(alertIds) };
}

const tiny: RuleSet = { ...DEFAULT_RULE_SET, settings: { ...DEFAULT_RULE_SET.settings, keepEvents: 4 } };

describe('order and duplicates never change what is raised', () => {
  it.each([
    ['the default bounds', DEFAULT_RULE_SET],
    ['a state bound smaller than the stream', tiny],
  ])('with %s, shuffled and duplicated streams raise the same set of alert ids', (_label, ruleSet) => {
    fc.assert(
      fc.property(streamsArb, fc.integer({ min: 0, max: 3600_000 }), ({ events, stream }, drift) => {
        const inOrder = run(events, ruleSet, () => NOW);
        // Triage's clock moves on while the shuffled stream is processed.
        const shuffled = run(stream, ruleSet, (i) => NOW + Math.floor((drift * i) / stream.length));
        expect(shuffled.alertIds).toEqual(inOrder.alertIds);
      }),
      { numRuns: 300 },
    );
  });

  it('with a fixed clock, the final state does not depend on arrival order or duplicates', () => {
    fc.assert(
      fc.property(streamsArb, ({ events, stream }) => {
        for (const ruleSet of [DEFAULT_RULE_SET, tiny]) {
          expect(run(stream, ruleSet, () => NOW).state).toEqual(run(events, ruleSet, () => NOW).state);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('every alert id is one per (rule, evidence): P1–P4 events alert exactly once each', () => {
    fc.assert(
      fc.property(streamsArb, ({ events, stream }) => {
        const alerting = events.filter((event) =>
          DEFAULT_RULE_SET.rules.some((rule) => rule.on.includes(event.type)),
        );
        expect(run(stream, DEFAULT_RULE_SET, () => NOW).alertIds.size).toBe(alerting.length);
      }),
      { numRuns: 200 },
    );
  });
});

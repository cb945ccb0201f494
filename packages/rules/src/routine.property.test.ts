import type { Alert, TelecareEvent } from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RULE_SET, RHYTHM_RULE, SHARE_ROUTINE_RULE } from './default-rules.ts';
import type { RuleSet } from './model.ts';
import { parseRuleSet } from './parse.ts';
import { RulesRunner } from './runner.ts';
import { makeEvent } from './testing.ts';

const RESIDENT = 'res_routine01';
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
/** Learning starts at midnight of 1 Nov 2026 (Europe/London is UTC then). */
const LEARN_FROM = Date.parse('2026-11-01T00:00:00.000Z');
const LEARN_DAYS = 8;
const TEST_FROM = LEARN_FROM + LEARN_DAYS * DAY_MS;
const TEST_DAYS = 3;
const TEST_TO = TEST_FROM + TEST_DAYS * DAY_MS;
/** Quiet hours 22:00–07:00 (the defaults): the usual hours are 07–22. */
const FIRST_HOUR = 7;
const LAST_HOUR = 22;

/**
 * The routine rule alone, learning what share 0.5 calls usual, with a state that keeps few
 * events: heartbeats push an activity out of memory within the hour, which is what the stretch
 * bookkeeping must survive. Every hour 07–22 is learned as usual, and three test days can miss at
 * most three of eleven, so every one of those hours stays usual for the whole run.
 */
const RULES: RuleSet = parseRuleSet({
  version: 1,
  settings: { keepEvents: 6 },
  rules: [
    {
      ...SHARE_ROUTINE_RULE,
      expectShare: 0.5,
    },
    // Reads heartbeats back, as the default rule set does, so they take room in the state.
    DEFAULT_RULE_SET.rules.find((rule) => rule.id === 'absence.supervision'),
  ],
});

let counter = 0;
const motion = (at: number) =>
  makeEvent({
    type: 'motion',
    devicekind: 'pir',
    subject: 'PIR-1',
    location: 'kitchen',
    residentid: RESIDENT,
    deviceEventId: `m-${counter++}`,
    time: new Date(at).toISOString(),
  });
const heartbeat = (at: number, serial: string) =>
  makeEvent({
    type: 'heartbeat',
    devicekind: 'smoke-detector',
    subject: serial,
    residentid: RESIDENT,
    deviceEventId: `h-${counter++}`,
    time: new Date(at).toISOString(),
  });

const learning = (): TelecareEvent[] => {
  const events: TelecareEvent[] = [];
  for (let d = 0; d < LEARN_DAYS; d++)
    for (let h = FIRST_HOUR; h < LAST_HOUR; h++)
      events.push(motion(LEARN_FROM + d * DAY_MS + h * HOUR_MS + 600_000));
  return events;
};

/**
 * What the routine must raise: one alert per stretch of inactivity (between two activities, or
 * after the last) that holds a whole usual hour ending by the end of the run, with that stretch's
 * last activity as its evidence.
 */
function expected(activity: readonly number[]): number[] {
  const stretches: number[] = [];
  const last = LEARN_FROM + (LEARN_DAYS - 1) * DAY_MS + (LAST_HOUR - 1) * HOUR_MS + 600_000;
  const times = [last, ...activity];
  for (let i = 0; i < times.length; i++) {
    const from = times[i] as number;
    const to = times[i + 1] ?? TEST_TO;
    for (
      let hourStart = Math.ceil(from / HOUR_MS) * HOUR_MS;
      hourStart + HOUR_MS <= to;
      hourStart += HOUR_MS
    ) {
      const hour = new Date(hourStart).getUTCHours();
      if (hourStart > from && hour >= FIRST_HOUR && hour < LAST_HOUR) {
        stretches.push(from);
        break;
      }
    }
  }
  return stretches;
}

describe('learned routine: one alert per stretch of inactivity', () => {
  it('over random silences and heartbeats, every stretch that misses a usual hour is raised once, by its last activity', () => {
    const learned = learning();
    fc.assert(
      fc.property(
        // Activity at odd seconds, so none falls on an hour's edge.
        fc.uniqueArray(fc.integer({ min: 0, max: (TEST_DAYS * DAY_MS) / 1000 - 1 }), { maxLength: 25 }),
        // Two devices beating every 4 min to 2 h, each from a random moment: sometimes many beats
        // in one silence, sometimes none.
        fc.array(fc.record({ everyS: fc.integer({ min: 240, max: 7200 }), phaseS: fc.nat({ max: 7200 }) }), {
          maxLength: 2,
        }),
        (activitySeconds, devices) => {
          const activity = activitySeconds.map((s) => TEST_FROM + s * 1000 + 17).sort((a, b) => a - b);
          const events = [
            ...learned,
            ...activity.map(motion),
            ...devices.flatMap(({ everyS, phaseS }, d) =>
              Array.from({ length: Math.floor(((TEST_DAYS * DAY_MS) / 1000 - phaseS) / everyS) }, (_, i) =>
                heartbeat(TEST_FROM + (phaseS + i * everyS) * 1000 + 3, `SM-${d}`),
              ),
            ),
          ].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
          const runner = new RulesRunner(RULES);
          const alerts: Alert[] = [];
          for (const event of events) alerts.push(...runner.event(event, Date.parse(event.time)));
          alerts.push(...runner.advance(TEST_TO + HOUR_MS));
          const byId = new Map(events.map((event) => [event.id, Date.parse(event.time)]));
          const raised = alerts
            .filter((alert) => alert.rule.id === 'routine.inactivity')
            .map((alert) => (alert.evidence.length === 1 ? byId.get(alert.evidence[0] ?? '') : undefined));
          expect(raised).toEqual(expected(activity));
        },
      ),
      { numRuns: 60 },
    );
  });
});

/** The learned rhythm alone, before anything is learned: a silence at home is unusual after 3 h. */
const RHYTHM: RuleSet = parseRuleSet({
  version: 1,
  settings: { keepEvents: 6 },
  rules: [RHYTHM_RULE, DEFAULT_RULE_SET.rules.find((rule) => rule.id === 'absence.supervision')],
});
const PRIOR_MS = 3 * HOUR_MS;

describe('learned rhythm: one alert per silence at home', () => {
  it('over random silences and heartbeats, every silence by day longer than the limit is raised once, by its last activity, at the limit', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: (2 * DAY_MS) / 1000 - 1 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.record({ everyS: fc.integer({ min: 240, max: 7200 }), phaseS: fc.nat({ max: 7200 }) }), {
          maxLength: 2,
        }),
        (activitySeconds, devices) => {
          const activity = activitySeconds.map((s) => TEST_FROM + s * 1000 + 17).sort((a, b) => a - b);
          const end = TEST_FROM + 2 * DAY_MS;
          const events = [
            ...activity.map(motion),
            ...devices.flatMap(({ everyS, phaseS }, d) =>
              Array.from({ length: Math.floor(((2 * DAY_MS) / 1000 - phaseS) / everyS) }, (_, i) =>
                heartbeat(TEST_FROM + (phaseS + i * everyS) * 1000 + 3, `SM-${d}`),
              ),
            ),
          ].sort((a, b) => Date.parse(a.time) - Date.parse(b.time));
          const runner = new RulesRunner(RHYTHM);
          const alerts: Alert[] = [];
          for (const event of events) alerts.push(...runner.event(event, Date.parse(event.time)));
          alerts.push(...runner.advance(end + 4 * HOUR_MS));
          const byId = new Map(events.map((event) => [event.id, Date.parse(event.time)]));
          const raised = alerts
            .filter((alert) => alert.type === 'inactivity.unusual')
            .map((alert) => [byId.get(alert.evidence[0] ?? ''), Date.parse(alert.raisedAt)]);
          // A silence ends at the next activity; one that reaches the limit first is raised then.
          // No bed sensor here: a silence that reaches the quiet hours (22:00–07:00) within the
          // limit is the person asleep as far as anyone can tell, the morning check's to raise.
          const nightly = (at: number) => {
            const ofDay = at % DAY_MS;
            return ofDay < 7 * HOUR_MS || ofDay + PRIOR_MS > 22 * HOUR_MS;
          };
          const expected = activity.flatMap((at, i) => {
            const next = activity[i + 1] ?? Infinity;
            return next > at + PRIOR_MS && !nightly(at)
              ? [[at, at + PRIOR_MS + RHYTHM.settings.reorderGraceS * 1000]]
              : [];
          });
          expect(raised).toEqual(expected);
        },
      ),
      { numRuns: 60 },
    );
  });
});

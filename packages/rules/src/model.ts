import {
  AwayPeriod,
  defaultPriority,
  type EventType,
  EventTypeSchema,
  isEventType,
  Priority,
  type TelecareEvent,
} from '@telecare/contracts';
import { z } from 'zod';
import { templateIssues } from './reason.ts';

/**
 * Rule ids are stable, readable keys: they appear in alert ids, reasons and metrics, so a rule
 * keeps its id across versions and a changed meaning bumps `version` instead.
 */
export const RuleId = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{0,63}$/, 'rule id must be 1–64 lower-case letters, digits, "." or "-"');

const ReasonTemplate = z
  .string()
  .min(1)
  .max(200)
  .superRefine((template, ctx) => {
    for (const message of templateIssues(template)) ctx.addIssue({ code: 'custom', message });
  });

/** An event type from the taxonomy, with a short message instead of the whole list when it is not. */
const RuleEventType = z.custom<EventType>((value) => typeof value === 'string' && isEventType(value), {
  error: (issue) => `unknown event type ${JSON.stringify(issue.input)} (see TAXONOMY in @telecare/contracts)`,
});

const ruleBase = {
  id: RuleId,
  version: z.number().int().positive(),
  description: z.string().max(200).optional(),
};

/** An event type raises an alert at a priority (pendant, fall, smoke…). DESIGN §5. */
export const TriggerRule = z.strictObject({
  ...ruleBase,
  kind: z.literal('trigger'),
  on: z.array(RuleEventType).min(1),
  /** Defaults to the taxonomy priority of the event type. */
  priority: Priority.optional(),
  /** One line for the operator; see RULES placeholders in reason.ts. */
  reason: ReasonTemplate,
  /** Overrides the rule set's `settings.lateAfterS` for this rule. */
  lateAfterS: z.number().int().positive().optional(),
  /**
   * Repeated events of this rule merge into the open alert. By event time, the first press
   * anchors a group and raises its alert; a later press within `mergeWithinS` of its group's
   * anchor merges into it; the first press beyond that anchors a new group (a new alert). A cancel
   * that closes the group's alert (a `cancel` correlation) ends the group: the next press always
   * raises a new alert. Test and real presses never share a group. See the README for arrivals
   * out of order.
   */
  mergeWithinS: z.number().int().positive().optional(),
  /**
   * A bound on a flapping sensor: an event of this rule raises its alert only while fewer than
   * `max` of the rule's events from the same device came in the `withinS` before it (by event
   * time); the others are suppressed (`Evaluation.suppressed`, counted by the shell). When the
   * device has then been quiet for `withinS` and its latest report was suppressed and not restored,
   * that report is raised after all, saying how often the device reported. A panel's status report
   * that the fault is still present, following a report of it, is a record on that report's alert
   * and no event of the rule here: it counts towards no limit. Never on a rule that can raise P1:
   * alarms always alert.
   */
  limit: z
    .strictObject({ max: z.number().int().min(1).max(100), withinS: z.number().int().positive() })
    .optional(),
});
export type TriggerRule = z.infer<typeof TriggerRule>;

const Hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time of day, HH:MM');
const Span = z.strictObject({ from: Hhmm, to: Hhmm });
const Seconds = z.number().int().positive();

/**
 * A state from a `starts` event until an `ends` event (in bed, in the chair): at a given moment,
 * the latest of them by event time says whether it holds.
 */
const Between = z.strictObject({
  starts: z.array(RuleEventType).min(1),
  ends: z.array(RuleEventType).min(1),
});

/** A derived alert type: what the operator sees for a rule that is not a plain trigger. */
const AlertType = RuleEventType;

const derivedBase = {
  ...ruleBase,
  /** The alert type raised (a derived type such as `temperature.low`). */
  type: AlertType,
  /** Defaults to the taxonomy priority of `type`. */
  priority: Priority.optional(),
  reason: ReasonTemplate,
};

/**
 * A condition holds for a duration (DESIGN §5). It starts at a `starts` event (or a reading
 * beyond the threshold) and ends at an `ends` event (or a reading back in range). Checked at a
 * timer tick from the resident's events sorted by event time, so arrival order does not matter.
 */
export const SustainedRule = z.strictObject({
  ...derivedBase,
  kind: z.literal('sustained'),
  condition: z.union([
    z.strictObject({
      reading: z.literal('temperature'),
      below: z.number().optional(),
      above: z.number().optional(),
    }),
    Between,
  ]),
  forS: Seconds,
  /** Only when the condition starts inside the resident's quiet hours (night). */
  atNight: z.boolean().default(false),
});
export type SustainedRule = z.infer<typeof SustainedRule>;

/**
 * Something expected did not happen in a window (DESIGN §5):
 * - `wake-up`: no `expect` event in the resident's wake-up window, checked at its end;
 * - `after-event`: after a `after` event (e.g. `medication.due`) no `expect` event within `withinS`;
 * - `visit`: no `expect` event within ±`toleranceS` of each visit time in the resident's schedule;
 * - `supervision`: no heartbeat from a device within its supervision interval (from the device
 *   map, else `defaultIntervalS`); raises once while the device stays silent, cleared by the next.
 */
export const AbsenceRule = z.strictObject({
  ...derivedBase,
  kind: z.literal('absence'),
  expect: z.array(RuleEventType).min(1),
  window: z.discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('wake-up') }),
    z.strictObject({
      kind: z.literal('after-event'),
      after: z.array(RuleEventType).min(1),
      withinS: Seconds,
    }),
    z.strictObject({ kind: z.literal('visit'), toleranceS: Seconds }),
    z.strictObject({ kind: z.literal('supervision'), defaultIntervalS: Seconds }),
  ]),
});
export type AbsenceRule = z.infer<typeof AbsenceRule>;

/** A door opening shorter than this many seconds is a bounce, not a passage (rules README). */
const DoorBounceS = z.number().int().min(1).max(30);

/**
 * Events that mean something together (DESIGN §5):
 * - `then-absent`: a `first` event not followed by any `absent` event within `withinS` raises
 *   `type` at `priority` (fall then no movement). With `atNight`, only a `first` event inside the
 *   resident's quiet hours counts; with `notDuring`, not one that came while one of those states
 *   held (a door closed behind a carer while the resident is in bed is not a night exit); with
 *   `notReturn`, not one that ends a passage through the door into an empty home (coming back);
 * - `cancel`: a `cancel` event within the pre-alarm window after an alarm closes that alarm's
 *   alert as a recorded false alarm;
 * - `restore`: a restore event (taxonomy `restores`, or one of `alarm`) from the same device clears
 *   its alarm: a record-only alert closes it (`closes.outcome: 'restored'`); the helpline decides
 *   what that does to the case (an alarm's restore only shows on it).
 * Repeated presses merging into one alert is `mergeWithinS` on the trigger rule.
 */
export const CorrelationRule = z.strictObject({
  ...derivedBase,
  kind: z.literal('correlation'),
  pattern: z.discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('then-absent'),
      first: z.array(RuleEventType).min(1),
      absent: z.array(RuleEventType).min(1),
      withinS: Seconds,
      atNight: z.boolean().default(false),
      notDuring: z.array(Between).max(8).default([]),
      /**
       * Not a door closing behind someone coming in: the passage through the door it ends (door
       * reports within two minutes of each other) began when the last activity before it was
       * the door closing, so the home had been empty.
       */
      notReturn: z.boolean().default(false),
      /**
       * A door opening shorter than this is a bounce (a contact chattering as the door settles, or
       * in the wind), not a passage: its closing is no `first` event, and its opening no `absent`
       * one, nor a return's door. None: every report counts.
       */
      doorBounceS: DoorBounceS.optional(),
      /**
       * In a home shared with another person (the resident's `sharedHome`): `reports` (those of
       * `absent` and of the `notDuring` states' starts) may be the other person's, so they neither
       * show the resident in after the `first` event nor, as the state a `notDuring` start begins,
       * hold the rule off before it; the alert says what they were and is raised at `priority` (a
       * lower one: the operator asks who is home). A `first` door closing behind someone come in
       * (nobody inside seen in the two minutes before the door opened; or the door closed before
       * it within `withinS`, nothing but `reports` since, and some activity after it) is no exit.
       * Not set, or a home not shared: every report counts as the resident.
       */
      shared: z.strictObject({ reports: z.array(RuleEventType).min(1), priority: Priority }).optional(),
    }),
    z.strictObject({
      kind: z.literal('cancel'),
      alarm: z.array(RuleEventType).min(1),
      cancel: z.array(RuleEventType).min(1),
      /** The pre-alarm window; a resident's `preAlarmCancelS` overrides it. */
      withinS: Seconds,
    }),
    z.strictObject({
      kind: z.literal('restore'),
      on: z.array(RuleEventType).min(1),
      /**
       * The alarms a restore of `on` clears, for a restore that names no one type (`alarm.restored`,
       * a personal alarm's zone back to normal): the latest of them from its device. Not set: the
       * taxonomy's `restores` of each.
       */
      alarm: z.array(RuleEventType).min(1).optional(),
    }),
  ]),
});
export type CorrelationRule = z.infer<typeof CorrelationRule>;

/**
 * Many homes in one postcode district reporting the same fault within minutes become one area
 * incident. It spans residents, so it runs on a district state (`evaluateArea`), not a resident's.
 */
export const AreaRule = z.strictObject({
  ...derivedBase,
  kind: z.literal('area'),
  on: z.array(RuleEventType).min(1),
  minResidents: z.number().int().min(2),
  withinS: Seconds,
});
export type AreaRule = z.infer<typeof AreaRule>;

/**
 * A per-resident baseline of activity by hour of day, learned from that resident's own events.
 * At the end of each hour outside quiet hours: if the resident was active in that hour on at
 * least `expectShare` of the last learned days (and at least `minDays` are learned), and nothing
 * was seen in it today, it alerts with what was expected and what was seen.
 */
export const RoutineRule = z.strictObject({
  ...derivedBase,
  kind: z.literal('routine'),
  activity: z.array(RuleEventType).min(1),
  minDays: z.number().int().min(1).max(60).default(7),
  expectShare: z.number().gt(0).max(1).default(0.9),
});
export type RoutineRule = z.infer<typeof RoutineRule>;

/**
 * A per-resident model of normal activity, learned from the resident's own events (DESIGN §5,
 * "learned routine"): for each part of the day and each place the sensors say the person is (in
 * bed, in the chair, at home and moving, out), how long this person's silences last; when they
 * get up; how long they are out. It raises
 * - `inactivity.unusual` when a silence at home is unlikely for this person at that time of day and
 *   place, by a `falseAlertBudget` (false alerts per resident-day, default 0.05): past the length
 *   of their daily longest silences there and then whose chance is this time of day's share of
 *   the budget, no later than (by day) the prior, never before their longest plus
 *   `budgetMarginS`; with no budget, past their longest times `gapFactor` plus `gapMarginS`;
 *   never while they are out or in bed;
 * - `inactivity.no-wake` when they are not up by their latest learned get-up time plus
 *   `wakeMarginS` (the care plan's wake-up window until `minDays` mornings are learned), saying
 *   whether they never left the bed since the night before;
 * - `outing.not-returned` when they went out of the front door and nothing moved inside since, by
 *   their longest learned outing (times `gapFactor`, plus `gapMarginS`) or their usual return from
 *   that time of day (plus `returnMarginS`), and at the latest `nightReturnS` after the start of
 *   their quiet hours or after the latest they came home at night (rules README).
 * Before `minDays` days are learned, the `prior` silences hold (seeded as a care plan would).
 */
export const RhythmRule = z.strictObject({
  ...derivedBase,
  kind: z.literal('rhythm'),
  /** Events that show the person (movement, doors, bed and chair). */
  activity: z.array(RuleEventType).min(1),
  minDays: z.number().int().min(1).max(14).default(7),
  gapFactor: z.number().min(1).max(10).default(1.5),
  gapMarginS: Seconds.default(1800),
  /**
   * The false silence alerts allowed per resident-day, shared over the places and times of day
   * (default 0.05: one in 20 days). `null`: no budget, the silence limit is the longest ×
   * `gapFactor` + `gapMarginS` (rules README, "The learned rhythm").
   */
  falseAlertBudget: z.number().gt(0).max(1).nullable().default(0.05),
  /** With a budget, a silence limit is at least the person's longest there and then plus this. */
  budgetMarginS: Seconds.default(1800),
  wakeMarginS: Seconds.default(2700),
  nightReturnS: Seconds.default(2700),
  /**
   * Not back this long after the latest they came home from going out at this time of day; and
   * after the latest they came home at night, while they did on a night or two only.
   */
  returnMarginS: Seconds.default(9000),
  /**
   * A door opening shorter than this is a bounce (the door settling, or the wind), not the person:
   * not a way out, a way in or an activity. None: every door report counts.
   */
  doorBounceS: DoorBounceS.optional(),
  /**
   * A movement sensor reporting `reports` times or more within `withinS` (far beyond what a
   * person makes: a PIR that sees a heater, a curtain or the sun) is noisy until `quietS` after its
   * latest such report: its movement is then taken as the person only when another device saw
   * activity within `withinS` before it. Found noisy, it is raised as a device fault
   * (`sensor.noisy`, once while it stays noisy), closed by `sensor.quiet` once it has been calm
   * for `quietS`. None: every report counts.
   */
  /**
   * A movement sensor seen every day of the `days` before its silence, silent for `silentS` while
   * the resident is seen elsewhere and its heartbeats go on, is raised as a device fault
   * (`sensor.no-activity`), and nothing is learned of the rhythm while it is. None: not checked.
   */
  deadSensor: z
    .strictObject({
      days: z.number().int().min(2).max(14),
      silentS: z
        .number()
        .int()
        .min(3600)
        .max(14 * 86_400),
    })
    .optional(),
  chatter: z
    .strictObject({
      reports: z.number().int().min(5).max(1000),
      withinS: z.number().int().min(10).max(3600),
      quietS: z.number().int().min(60).max(86_400),
    })
    .optional(),
  prior: z
    .strictObject({ homeS: Seconds, chairS: Seconds, outS: Seconds })
    .default({ homeS: 3 * 3600, chairS: 6 * 3600, outS: 6 * 3600 }),
});
export type RhythmRule = z.infer<typeof RhythmRule>;

/** Per-resident settings; each field overrides the rule set's `defaults`. */
export const ResidentOverrides = z.strictObject({
  /** IANA zone the local times below are in. */
  timeZone: z.string().min(1).optional(),
  quietHours: Span.optional(),
  wakeUp: Span.optional(),
  /**
   * The care plan's hard latest wake-up time (local `HH:MM`): the learned rhythm's "not up" check
   * never runs later than this, however late the person's mornings have been.
   */
  wakeUpLatest: Hhmm.optional(),
  /** Daily carer visits, local times (the care package). */
  visits: z.array(Hhmm).max(12).optional(),
  /**
   * Someone else lives in the home (a partner): movement in another room while the resident's bed
   * says occupied is not taken as the resident up (the learned rhythm's "not up"), nor while their
   * chair does as the end of their silence in it, nor the bed taken while they are out, with nobody
   * come in since, as their return (the bed the two share).
   */
  sharedHome: z.boolean().optional(),
  /** The pre-alarm window in which a resident's cancel is a false alarm. */
  preAlarmCancelS: Seconds.optional(),
  /** Per rule id: threshold overrides. */
  thresholds: z
    .record(
      RuleId,
      z.strictObject({
        forS: Seconds.optional(),
        withinS: Seconds.optional(),
        below: z.number().optional(),
        above: z.number().optional(),
        /** The learned rhythm's false silence alerts allowed per resident-day. */
        falseAlertBudget: z.number().gt(0).max(1).optional(),
      }),
    )
    .optional(),
  /** Rule ids that do not apply to this resident. */
  disabled: z.array(RuleId).optional(),
  /**
   * Declared time away written into the rule set (replay, a static care plan). Triage also takes
   * the registry's periods with each input (`EventInput.away`); the two are read together.
   */
  away: z.array(AwayPeriod).max(32).optional(),
});
export type ResidentOverrides = z.infer<typeof ResidentOverrides>;

/**
 * Every rule kind; `evaluate` switches on `kind`, so a new kind is one more member and one more
 * case (the exhaustiveness check shows where).
 */
export const Rule = z.discriminatedUnion('kind', [
  TriggerRule,
  SustainedRule,
  AbsenceRule,
  CorrelationRule,
  AreaRule,
  RoutineRule,
  RhythmRule,
]);
export type Rule = z.infer<typeof Rule>;
export type RuleInput = z.input<typeof Rule>;

export const RuleSetSettings = z.strictObject({
  /** An event older than this when triage sees it still alerts, flagged late. */
  lateAfterS: z.number().int().positive().default(300),
  /** How many recent events a resident's state keeps (the bound on state size). */
  keepEvents: z.number().int().min(1).max(10_000).default(200),
  /**
   * How many event ids a resident's state remembers to drop redeliveries. A lane redelivers only
   * the event in hand (`max_ack_pending: 1`), so a few suffice; the event types rules read back are
   * also found in `recent`. Beyond both, a redelivered event raises its alerts again under the same
   * ids, and ALERTS and the helpline collapse them. (Measured: 32 ids cost 2 µs an event, 8 cost 0.5.)
   */
  keepSeen: z.number().int().min(1).max(1_000).default(8),
  /** How far back (from `now`) a resident's state keeps events. */
  keepEventsForS: z
    .number()
    .int()
    .positive()
    .default(24 * 60 * 60),
  /**
   * How late an event may arrive and still count for a timed rule: each timer fires this long
   * after the moment it checks, so out-of-order arrival within the bound gives the same alerts.
   */
  reorderGraceS: z.number().int().min(0).max(3600).default(30),
});
export type RuleSetSettings = z.infer<typeof RuleSetSettings>;

/** What a resident gets when the rule set says nothing about them. */
export const ResidentDefaults = z.strictObject({
  timeZone: z.string().min(1).default('Europe/London'),
  quietHours: Span.default({ from: '22:00', to: '07:00' }),
  wakeUp: Span.default({ from: '07:00', to: '10:00' }),
  visits: z.array(Hhmm).max(12).default([]),
  preAlarmCancelS: Seconds.default(60),
});
export type ResidentDefaults = z.infer<typeof ResidentDefaults>;

/**
 * Duplicate rule ids, found on the raw input so they are reported alongside every other problem
 * (zod skips whole-object refinements once a field has failed).
 */
export function duplicateRuleIds(rules: unknown): Array<{ index: number; message: string }> {
  if (!Array.isArray(rules)) return [];
  const seen = new Map<string, number>();
  const duplicates: Array<{ index: number; message: string }> = [];
  rules.forEach((rule: unknown, index) => {
    const id = typeof rule === 'object' && rule !== null ? (rule as { id?: unknown }).id : undefined;
    if (typeof id !== 'string') return;
    const first = seen.get(id);
    if (first === undefined) seen.set(id, index);
    else
      duplicates.push({
        index,
        message: `duplicate rule id ${JSON.stringify(id)} (first at rules.${first})`,
      });
  });
  return duplicates;
}

export const RuleSet = z
  .strictObject({
    version: z.number().int().positive(),
    settings: RuleSetSettings.default(RuleSetSettings.parse({})),
    defaults: ResidentDefaults.default(ResidentDefaults.parse({})),
    /** Per-resident overrides, keyed by resident id (schedules, quiet hours, thresholds). */
    residents: z.record(z.string().min(1), ResidentOverrides).default({}),
    rules: z.array(Rule).min(1),
  })
  .superRefine((set, ctx) => {
    for (const { index, message } of duplicateRuleIds(set.rules)) {
      ctx.addIssue({ code: 'custom', path: ['rules', index, 'id'], message });
    }
    set.rules.forEach((rule, index) => {
      if (rule.kind === 'trigger' && rule.limit !== undefined) {
        const lifeCritical =
          rule.priority === undefined
            ? rule.on.some((type) => defaultPriority(type) === 1)
            : rule.priority === 1;
        if (lifeCritical)
          ctx.addIssue({
            code: 'custom',
            path: ['rules', index, 'limit'],
            message: 'a rule that raises P1 is never limited: alarms always alert',
          });
        if (rule.mergeWithinS !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['rules', index, 'limit'],
            message: 'a merging rule (mergeWithinS) cannot also be limited',
          });
      }
      if (rule.kind === 'correlation' && rule.pattern.kind === 'then-absent') {
        const { absent, notDuring, shared } = rule.pattern;
        shared?.reports.forEach((type, at) => {
          if (!absent.includes(type) && !notDuring.some((state) => state.starts.includes(type)))
            ctx.addIssue({
              code: 'custom',
              path: ['rules', index, 'pattern', 'shared', 'reports', at],
              message: `"${type}" is neither an absent event nor a notDuring start: sharing it changes nothing`,
            });
        });
      }
      if (rule.kind === 'sustained' && 'reading' in rule.condition) {
        if ((rule.condition.below === undefined) === (rule.condition.above === undefined))
          ctx.addIssue({
            code: 'custom',
            path: ['rules', index, 'condition'],
            message: 'a reading condition needs exactly one of below or above',
          });
      }
    });
    const ids = new Set(set.rules.map((rule) => rule.id));
    for (const [residentId, overrides] of Object.entries(set.residents)) {
      for (const ruleId of [...Object.keys(overrides.thresholds ?? {}), ...(overrides.disabled ?? [])])
        if (!ids.has(ruleId))
          ctx.addIssue({
            code: 'custom',
            path: ['residents', residentId],
            message: `override for unknown rule ${JSON.stringify(ruleId)}`,
          });
      for (const zone of [overrides.timeZone].filter((z) => z !== undefined))
        if (!validZone(zone))
          ctx.addIssue({
            code: 'custom',
            path: ['residents', residentId, 'timeZone'],
            message: `unknown time zone ${JSON.stringify(zone)}`,
          });
    }
    if (!validZone(set.defaults.timeZone))
      ctx.addIssue({
        code: 'custom',
        path: ['defaults', 'timeZone'],
        message: `unknown time zone ${JSON.stringify(set.defaults.timeZone)}`,
      });
  });
export type RuleSet = z.infer<typeof RuleSet>;
export type RuleSetInput = z.input<typeof RuleSet>;

function validZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** What a resident's state remembers of one event: ids, places and a reading, never names. */
export const RecentEvent = z.object({
  id: z.string(),
  type: EventTypeSchema,
  /** Event time, epoch ms. */
  at: z.number(),
  serial: z.string(),
  deviceKind: z.string(),
  location: z.string().optional(),
  testMode: z.boolean(),
  /** A temperature reading (°C), the only data field a rule reads. */
  celsius: z.number().optional(),
  /** Matches a `medication.taken` to its `medication.due`. */
  doseId: z.string().optional(),
  /**
   * A life-critical alarm of a type its device's kind does not report (the event's
   * `unexpectedkind`): it groups only with its own device's such alarms, and no cancel closes it.
   */
  unexpectedKind: z.literal(true).optional(),
  /**
   * A life-critical alarm the DC-09 gateway took from a frame whose pad broke the style its panel
   * has shown (the event's `data.padBroken`): an alert raised from it, now or decided later, says so.
   */
  padBroken: z.literal(true).optional(),
  /**
   * A status report of an alarm already reported (the event's `data.condition: 'still-present'`, a
   * Contact ID Q=6): never a new press. It raises its alarm only where nothing it could belong to
   * was raised (no group to merge into), and says so; on a group, it only shows on its alert.
   */
  stillPresent: z.literal(true).optional(),
  /**
   * The event happened at this home, which its device has since left (the event's `movedat`): an
   * alert a timed rule decides from it later says so too.
   */
  movedAt: z.string().optional(),
  /**
   * The other instant the device's clock could mean (the event's `alttime`: the hour repeated when
   * the clocks go back, a panel that may be on UTC): an alert decided from it later says so too.
   */
  alttime: z.string().optional(),
  /**
   * A cancel or restore timed ahead of its arrival (the gateway keeps a device's time up to 5
   * minutes ahead): by how many ms. An alarm arriving after it is closed by it only when timed at
   * or before its arrival (`at - aheadMs`).
   */
  aheadMs: z.number().optional(),
  /**
   * A cancel's or restore's source code (the event's `sourcecode`: a panel's Contact ID or SIA code,
   * `CID 3101`), shown on what it closes; other events keep none, so the state stays small.
   */
  sourceCode: z.string().optional(),
});
export type RecentEvent = z.infer<typeof RecentEvent>;

/** One device's supervision: its last heartbeat and whether `supervision.lost` is open. */
export const DeviceSupervision = z.object({
  lastAt: z.number(),
  lastId: z.string(),
  intervalS: z.number(),
  /** The open `supervision.lost` alert id. */
  lost: z.string().optional(),
  /**
   * When the latest heartbeat's check is stored, under the device's one timer id
   * (`supervisionTimerId`: each heartbeat in order moves it); 0 when none is stored (the loss was
   * raised). Absent in a record of the version before, whose checks were stored per heartbeat.
   */
  checkAt: z.number().optional(),
  /**
   * The kind of device, as its latest heartbeat said (`devicekind`): a loss decided after that
   * heartbeat left the recent events (an interval of a day, a busy home's last 200) still names
   * the pendant or the smoke detector. Absent in a record of the version before.
   */
  kind: z.string().optional(),
  /** The latest heartbeat was sent in test mode (its loss goes to the installer). */
  testMode: z.boolean().optional(),
});
export type DeviceSupervision = z.infer<typeof DeviceSupervision>;

/** The learned routine: for each local hour, on how many learned days there was activity. */
export const Routine = z.object({
  /** Local date being observed now. */
  day: z.string(),
  /** Bit h set: activity seen in local hour h of `day`. */
  today: z.number().int(),
  /** Days learned (the most recent `window` days count). */
  days: z.number().int(),
  /** Per local hour, days with activity in that hour. */
  active: z.array(z.number()).length(24),
  /**
   * The stretch of inactivity already alerted, named by its last activity's event id (`''` when
   * none was remembered): the stretch goes on, however many hours it crosses, until activity
   * newer than that comes.
   */
  raised: z.string().optional(),
  /**
   * The latest activity learned and the one before it (by time, then id). `recent` may drop them
   * (by count, under a flood of heartbeats, or by age), yet a stretch must still be named by its
   * own last activity; the one before covers an activity that came after the hour checked but
   * before the check (within the reorder grace).
   */
  last: RecentEvent.optional(),
  prior: RecentEvent.optional(),
});
export type Routine = z.infer<typeof Routine>;

/** Where the sensors last said the person is. */
export const Place = z.enum(['home', 'bed', 'chair', 'out']);
export type Place = z.infer<typeof Place>;

/**
 * What the rhythm rule has learned of one resident. Rings of `RHYTHM_DAYS` days, indexed by the
 * local day number modulo the ring: per place (home, chair) and three-hour part of the day, the
 * longest silence in minutes; per day the get-up minute (-1 unknown) and the longest outing.
 */
export const Rhythm = z.object({
  /** Local date of the newest day learned. */
  day: z.string(),
  /** Days learned, up to the ring's length. */
  days: z.number().int(),
  /** [place 0 home, 1 chair][part of day 0–7][ring day], flattened; minutes. */
  gaps: z.array(z.number()),
  up: z.array(z.number()),
  outs: z.array(z.number()),
  /** [ring day]: the bedtime that night, minutes after noon (0: none seen); none before it was learned. */
  beds: z.array(z.number()).optional(),
  /**
   * [part of day the outing left in, 0–7][ring day], flattened: how long after the start of that
   * part the person was back, at the latest that day (minutes; 0: no outing then). A state from
   * before it has none and learns it.
   */
  backs: z.array(z.number()).optional(),
  /**
   * The latest activity (the stretch now running is named by it), and when its silence is checked
   * (none once that check was decided, or in bed).
   */
  last: RecentEvent.optional(),
  checkAt: z.number().optional(),
  /**
   * When the rule's one stretch timer (`stretchTimerId`) is stored for: at or before `checkAt`
   * (a later activity does not write it again; its tick sets it for `checkAt`), 0 when none is
   * stored. Absent in a rhythm of the version before, whose checks were stored per activity.
   */
  armedAt: z.number().optional(),
  /** Times of the bed's and the chair's latest reports, so a late one is placed in order. */
  bedTs: z.number().optional(),
  chairTs: z.number().optional(),
  place: Place,
  /**
   * When the front door opened while the person was out: its closing is them coming in, not
   * going out again (a home with no movement sensor by the door sees nothing else of a return).
   * Door and hall reports within two minutes of it are the same passage.
   */
  returning: z.number().optional(),
  /**
   * The latest activity and `returning` before the latest door opening at home: a bounce (the
   * door closed again within `doorBounceS`) is undone to them.
   */
  beforeDoor: z
    .object({
      last: RecentEvent,
      returning: z.number().optional(),
      checkAt: z.number().optional(),
      /** The opening's time and door. */
      openedAt: z.number(),
      serial: z.string(),
    })
    .optional(),
  /**
   * What activity inside that ended an outing changed (or a carer's "arrived" that took the door
   * closing before it for their coming in, which teaches nothing), to undo it when a carer's report, or a
   * report older than one, is taken after a newer one (the fob, the door contact and the PIRs
   * are separate senders, taken in any order within the reorder bound): the outing is then
   * learned again from its door, in time order (`returnUndone`). Kept up to a visit's longest
   * (`VISIT_MAX_MS`) after it, whatever follows.
   */
  beforeReturn: z
    .object({
      /** The activity that ended the outing: its time and id. */
      at: z.number(),
      id: z.string(),
      /** The outing's start (the door closing) and what the rhythm said of it then. */
      last: RecentEvent,
      returning: z.number().optional(),
      checkAt: z.number().optional(),
      visit: z.number().optional(),
      visitEnd: z.number().optional(),
      bed: z.boolean(),
      chair: z.boolean(),
      bedTs: z.number().optional(),
      chairTs: z.number().optional(),
      /**
       * The learned cells the return may have raised, as they were before it: [index, minutes] in
       * `outs`, in `backs` and in `gaps` (the silence at home from the door); index -1: none.
       */
      outs: z.tuple([z.number().int(), z.number()]),
      backs: z.tuple([z.number().int(), z.number()]),
      gaps: z.tuple([z.number().int(), z.number()]),
    })
    .optional(),
  /**
   * When a carer's visit began (`carer.arrived`, or the door that let them in, until `carer.left`;
   * a second carer's "arrived" during it joins it): what moves then is not the resident coming
   * home, and a resident seen home after it came in with the carer, by that door.
   */
  visit: z.number().optional(),
  /** When that visit ended (`carer.left`): the door just after it is the carer going. */
  visitEnd: z.number().optional(),
  /**
   * How many carers of the open visit have not pressed "left" yet, when more than one came
   * (double-handed care: "arrived", "arrived", "left", "left"); absent, one.
   */
  visitors: z.number().int().optional(),
  /**
   * Movement sensors found noisy (`RhythmRule.chatter`), by serial: since when, until when (the
   * latest noisy report plus `quietS`), where (for the reason), its kind (for the `sensor.quiet`
   * that closes its fault; absent in a record of the version before), and the `sensor.noisy` alert
   * raised for it and not yet closed (absent in a rhythm of the version before, and once the
   * sensor's `sensor.quiet` closed it).
   */
  noisy: z
    .record(
      z.string(),
      z.object({
        since: z.number(),
        until: z.number(),
        device: z.string(),
        kind: z.string().optional(),
        raised: z.string().optional(),
      }),
    )
    .optional(),
  /**
   * Movement sensors by serial (`RhythmRule.deadSensor`): the local days (day numbers, the last 14)
   * each reported on, its latest report (to the nearest 10 min), and the fault raised for it.
   */
  sensors: z
    .record(
      z.string(),
      z.object({
        days: z.array(z.number()),
        lastAt: z.number(),
        lastId: z.string(),
        kind: z.string(),
        location: z.string().optional(),
        raised: z.string().optional(),
      }),
    )
    .optional(),
  bed: z.boolean(),
  chair: z.boolean(),
  /** Leaving the bed after 04:00: confirmed as getting up after 20 minutes up. */
  leftBed: z.number().optional(),
  /** Local date the resident was last seen to get up. */
  upOn: z.string().optional(),
  /** When the resident last went to bed, and whether anything moved since. */
  bedAt: z.number().optional(),
  upInNight: z.boolean().optional(),
  /**
   * [ring day]: the first activity (not a bed occupied) at or after the care plan's wake-up window
   * opened that day, in ms since local midnight (-1: none yet). A morning check decided further
   * behind than `recent` reaches reads it where no get-up was learned (a home with no bed sensor).
   * Absent in a rhythm of the version before, which learns it from its next day.
   */
  woke: z.array(z.number()).optional(),
});
export type Rhythm = z.infer<typeof Rhythm>;

/**
 * Per-resident state: plain JSON, so the shell can keep it anywhere (Redis now) and rebuild it
 * by replaying EVENTS. `v` lets a later shape migrate or discard an old one.
 */
export const ResidentState = z.object({
  v: z.literal(2),
  residentId: z.string().min(1),
  /**
   * The events some rule reads back (types no rule looks at are not kept), sorted by (at, id);
   * bounded by settings.keepEvents and settings.keepEventsForS.
   */
  recent: z.array(RecentEvent),
  /** Ids of the last `settings.keepSeen` events taken, of any type: redeliveries raise nothing. */
  seen: z.array(z.string()),
  /** Per device serial, bounded by the resident's devices. */
  devices: z.record(z.string(), DeviceSupervision),
  /**
   * Per recurring rule id (wake-up, visits, routine): the next check already scheduled. And per
   * visit whose carer came (`<rule id>@<its check time>`): when they arrived, kept until its check
   * is decided, which may be hours behind, past what `recent` keeps.
   */
  scheduled: z.record(z.string(), z.number()),
  /** Per routine rule id. */
  routines: z.record(z.string(), Routine),
  /** Per rhythm rule id. */
  rhythms: z.record(z.string(), Rhythm).optional(),
  /**
   * The declared away period the latest activity fell in: whether the person was out during it
   * (the front door closed behind them, or out when it began), and when activity at home after
   * that showed them back. Dropped once no period names it.
   */
  away: z.object({ id: z.string(), out: z.boolean(), back: z.number().optional() }).optional(),
  /**
   * The latest event time `recent` has dropped (by age or count): what came before it is no
   * longer known, so a group of merged presses reaching back to it is not known from its start.
   */
  forgottenUntil: z.number().optional(),
});
export type ResidentState = z.infer<typeof ResidentState>;

export function initialState(residentId: string): ResidentState {
  return shapedState({ v: 2, residentId, recent: [], seen: [], devices: {}, scheduled: {}, routines: {} });
}

/**
 * The state with every field in one order, those it lacks present as `undefined` (which stored
 * JSON leaves out). Every state the core builds has this one shape (a copy with a field changed
 * keeps it), so the fields read on every input stay fixed-offset loads rather than megamorphic ones.
 */
export function shapedState(state: ResidentState): ResidentState {
  return {
    v: state.v,
    residentId: state.residentId,
    recent: state.recent,
    seen: state.seen,
    devices: state.devices,
    scheduled: state.scheduled,
    routines: state.routines,
    forgottenUntil: state.forgottenUntil,
    rhythms: state.rhythms,
    away: state.away,
  };
}

/**
 * A timer is data: the shell stores it durably and feeds it back as a tick when due. Ids are
 * deterministic, so setting the same timer twice is harmless and a later set moves it.
 */
export const Timer = z.object({
  id: z.string().min(1),
  ruleId: RuleId,
  residentId: z.string().min(1),
  /** Epoch ms. */
  dueAt: z.number(),
  /**
   * The moment the rule checks: `dueAt` less the reorder grace, or less more than that when the
   * timer was set after its check had passed (it then fires the grace after the input that set it).
   */
  checkAt: z.number(),
  /** The event that started it, when one did. */
  eventId: z.string().optional(),
  /**
   * That event's time (epoch ms), so the check can still be decided when the resident's state was
   * lost after it (Redis flushed): a supervision check then knows since when the device is silent.
   */
  eventAt: z.number().optional(),
  /** Device serial or schedule key, when the rule needs one. */
  key: z.string().optional(),
  /**
   * The activity a silence check follows, when the check was found past due by a later activity
   * (triage behind, or back after an outage): by the time it is decided the activity may have left
   * the day of events the state keeps, and a collapse found the next day was then never raised.
   * Likewise the event an after-event check waits on (the dose offered).
   */
  event: RecentEvent.optional(),
});
export type Timer = z.infer<typeof Timer>;

export type TimerCommand = { op: 'set'; timer: Timer } | { op: 'cancel'; id: string };

/** What the device map says about the device that sent an event (the shell looks it up). */
export interface DeviceContext {
  readonly supervisionIntervalS?: number | null;
  /**
   * Whose the device is now, by the device map (null: not in it, or decommissioned). Read on a
   * supervision check's tick: a device re-paired to another resident, or removed, while its check
   * at this home was due is no longer this home's to supervise. Absent: not known (the map could
   * not be read), and the check decides as before.
   */
  readonly residentId?: string | null;
  /**
   * The device's kind by the device map, where known: a supervision check that finds neither the
   * heartbeat nor the device's record (the state lost) names the device by it.
   */
  readonly kind?: string;
}

/** `now` is epoch ms from the shell's clock: the core never reads one. */
export interface EventInput {
  readonly kind: 'event';
  readonly event: TelecareEvent;
  readonly now: number;
  readonly device?: DeviceContext;
  /** The resident's declared away periods (the shell looks them up: the registry's bucket). */
  readonly away?: readonly AwayPeriod[];
}

/** A stored timer come due. `now` may be later than `timer.dueAt` (the shell was down). */
export interface TickInput {
  readonly kind: 'tick';
  readonly timer: Timer;
  readonly now: number;
  readonly away?: readonly AwayPeriod[];
  /** For a supervision check (`supervisedSerial`): what the device map says of its device now. */
  readonly device?: DeviceContext;
}

export type RulesInput = EventInput | TickInput;

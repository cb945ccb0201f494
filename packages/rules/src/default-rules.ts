import type { RuleSetInput } from './model.ts';
import { parseRuleSet } from './parse.ts';

/** The line an operator reads for a trigger alert, e.g. "Smoke detected: smoke detector in kitchen (rule trigger.smoke v1)". */
export const TRIGGER_REASON = '{what}: {device} (rule {rule})';
/** For a rule that watches over time: what held and since when. */
export const SUSTAINED_REASON = '{what}: {detail} (rule {rule})';
/** For an absence or routine rule: what was expected and what was seen instead. */
export const ABSENCE_REASON = '{what}: {detail}; expected {expected}, seen {seen} (rule {rule})';

/** The bound on a flapping sensor's alerts, per device: three in ten minutes (`TriggerRule.limit`). */
const FLAPPING = { max: 3, withinS: 600 } as const;

/** Activity: what shows the person is about. */
const ACTIVITY = [
  'motion',
  'door.opened',
  'door.closed',
  'bed.occupied',
  'bed.vacated',
  'chair.occupied',
  'chair.vacated',
  'carer.arrived',
  'carer.left',
] as const;

/** A front door open for less than this is a bounce (the door settling, or the wind), not a passage. */
const DOOR_BOUNCE_S = 3;

/** The learned rhythm (`rhythm.learned`): see the rules README. */
export const RHYTHM_RULE = {
  id: 'rhythm.learned',
  // v2: door bounces and a noisy PIR on its own are not the person; out, only activity inside
  // (not a carer's visit) brings them home.
  version: 2,
  kind: 'rhythm',
  type: 'inactivity.unusual',
  activity: [...ACTIVITY],
  minDays: 7,
  doorBounceS: DOOR_BOUNCE_S,
  // A PIR that sees a heater, a curtain or the sun reports every few seconds for hours; a person
  // behind a PIR's lockout does not. 40 in 5 min stays under what `recent` keeps of one sensor.
  chatter: { reports: 40, withinS: 300, quietS: 3600 },
  // A PIR the resident passed every day of a week, silent a day and a half while they are about
  // elsewhere and it beats: a dead or covered sensor.
  deadSensor: { days: 7, silentS: 36 * 3600 },
  reason: ABSENCE_REASON,
} as const satisfies RuleSetInput['rules'][number];

/**
 * Earlier default rules, replaced by `rhythm.learned`: a fixed wake-up window from the care plan,
 * and a share of days active per hour. Kept as rule kinds a rule set may still use.
 */
export const CARE_PLAN_WAKE_UP_RULE = {
  id: 'absence.no-wake',
  version: 1,
  kind: 'absence',
  type: 'inactivity.no-wake',
  expect: ['motion', 'bed.vacated', 'door.opened', 'chair.occupied'],
  window: { kind: 'wake-up' },
  reason: ABSENCE_REASON,
} as const satisfies RuleSetInput['rules'][number];

export const SHARE_ROUTINE_RULE = {
  id: 'routine.inactivity',
  version: 1,
  kind: 'routine',
  type: 'inactivity.unusual',
  activity: ['motion', 'door.opened', 'bed.vacated', 'chair.occupied', 'chair.vacated', 'carer.arrived'],
  minDays: 7,
  expectShare: 0.9,
  reason: ABSENCE_REASON,
} as const satisfies RuleSetInput['rules'][number];

/**
 * The default rules: one trigger per P1–P4 type a device can send, at its taxonomy priority, and
 * the sustained, absence, correlation, area and routine rules of DESIGN §5 for the derived types.
 */
const DEFAULT_RULES: RuleSetInput = {
  version: 1,
  settings: { lateAfterS: 300 },
  rules: [
    // P1 life-critical
    // Repeated presses within five minutes of the first merge into its alert, until a cancel
    // closes it. Version 2: groups open at the first press (version 1 used fixed five-minute slots).
    {
      id: 'trigger.pendant',
      version: 2,
      kind: 'trigger',
      on: ['pendant.pressed'],
      reason: TRIGGER_REASON,
      mergeWithinS: 300,
    },
    {
      id: 'trigger.pullcord',
      version: 2,
      kind: 'trigger',
      on: ['pullcord.pulled'],
      reason: TRIGGER_REASON,
      mergeWithinS: 300,
    },
    { id: 'trigger.fall', version: 1, kind: 'trigger', on: ['fall.detected'], reason: TRIGGER_REASON },
    { id: 'trigger.smoke', version: 1, kind: 'trigger', on: ['smoke.detected'], reason: TRIGGER_REASON },
    { id: 'trigger.heat', version: 1, kind: 'trigger', on: ['heat.detected'], reason: TRIGGER_REASON },
    { id: 'trigger.co', version: 1, kind: 'trigger', on: ['co.detected'], reason: TRIGGER_REASON },
    { id: 'trigger.gas', version: 1, kind: 'trigger', on: ['gas.detected'], reason: TRIGGER_REASON },
    { id: 'trigger.epilepsy', version: 1, kind: 'trigger', on: ['epilepsy.seizure'], reason: TRIGGER_REASON },
    // P2 urgent wellbeing. Below P1 a rule is limited: a sensor flapping (a flood probe at the
    // water's edge, a tamper switch, mains in a brownout) raises at most three alerts in ten
    // minutes per device, and its latest report is raised after all if it settles in the fault.
    {
      id: 'trigger.flood',
      version: 2,
      kind: 'trigger',
      on: ['flood.detected'],
      reason: TRIGGER_REASON,
      limit: FLAPPING,
    },
    {
      id: 'trigger.bogus-caller',
      version: 1,
      kind: 'trigger',
      on: ['bogus-caller.pressed'],
      reason: TRIGGER_REASON,
    },
    {
      id: 'trigger.enuresis',
      version: 2,
      kind: 'trigger',
      on: ['enuresis.detected'],
      reason: TRIGGER_REASON,
      limit: FLAPPING,
    },
    {
      id: 'trigger.medication-missed',
      version: 1,
      kind: 'trigger',
      on: ['medication.missed'],
      reason: TRIGGER_REASON,
    },
    // P3 technical, urgent
    {
      id: 'trigger.mains-lost',
      version: 2,
      kind: 'trigger',
      on: ['mains.lost'],
      reason: TRIGGER_REASON,
      limit: FLAPPING,
    },
    {
      id: 'trigger.line-fault',
      version: 2,
      kind: 'trigger',
      on: ['line.fault'],
      reason: TRIGGER_REASON,
      limit: FLAPPING,
    },
    {
      id: 'trigger.rf-jammed',
      version: 2,
      kind: 'trigger',
      on: ['rf.jammed'],
      reason: TRIGGER_REASON,
      limit: FLAPPING,
    },
    {
      id: 'trigger.tamper',
      version: 2,
      kind: 'trigger',
      on: ['device.tamper'],
      reason: TRIGGER_REASON,
      limit: FLAPPING,
    },
    // A detector's own fault (dirty, out of range, its self-test failed): a limit of its own, apart
    // from the panel's line, so neither's repeats silence the other.
    {
      id: 'trigger.device-fault',
      version: 1,
      kind: 'trigger',
      on: ['device.fault'],
      reason: TRIGGER_REASON,
      limit: FLAPPING,
    },
    // The gateway raises it at most once per 10 minutes a login is fought over.
    {
      id: 'trigger.login-contested',
      version: 1,
      kind: 'trigger',
      on: ['device.login-contested'],
      reason: TRIGGER_REASON,
      limit: FLAPPING,
    },
    // P4 maintenance
    // A device that says so with every beat: one alert while it keeps saying it, a day at a time.
    {
      id: 'trigger.battery-low',
      version: 2,
      kind: 'trigger',
      on: ['battery.low'],
      reason: TRIGGER_REASON,
      limit: { max: 1, withinS: 86_400 },
    },

    // Sustained: a condition that holds for a duration.
    {
      id: 'sustained.cold-home',
      version: 1,
      kind: 'sustained',
      type: 'temperature.low',
      condition: { reading: 'temperature', below: 16 },
      forS: 3600,
      reason: SUSTAINED_REASON,
    },
    {
      id: 'sustained.overheating',
      version: 1,
      kind: 'sustained',
      type: 'temperature.high',
      condition: { reading: 'temperature', above: 30 },
      forS: 3600,
      reason: SUSTAINED_REASON,
    },
    {
      id: 'sustained.out-of-bed-at-night',
      version: 1,
      kind: 'sustained',
      type: 'bed.not-returned',
      condition: { starts: ['bed.vacated'], ends: ['bed.occupied'] },
      forS: 45 * 60,
      atNight: true,
      reason: SUSTAINED_REASON,
    },
    {
      id: 'sustained.chair-too-long',
      version: 1,
      kind: 'sustained',
      type: 'chair.too-long',
      condition: { starts: ['chair.occupied'], ends: ['chair.vacated'] },
      forS: 4 * 3600,
      reason: SUSTAINED_REASON,
    },
    {
      id: 'sustained.door-open-at-night',
      version: 1,
      kind: 'sustained',
      type: 'door.exit-at-night',
      condition: { starts: ['door.opened'], ends: ['door.closed'] },
      forS: 600,
      atNight: true,
      reason: SUSTAINED_REASON,
    },

    // Absence: something expected did not happen in a window.
    {
      id: 'absence.medication',
      version: 1,
      kind: 'absence',
      type: 'medication.missed',
      expect: ['medication.taken'],
      window: { kind: 'after-event', after: ['medication.due'], withinS: 1800 },
      reason: ABSENCE_REASON,
    },
    {
      id: 'absence.carer',
      version: 1,
      kind: 'absence',
      type: 'carer.no-show',
      expect: ['carer.arrived'],
      window: { kind: 'visit', toleranceS: 1800 },
      reason: ABSENCE_REASON,
    },
    {
      id: 'absence.supervision',
      version: 1,
      kind: 'absence',
      type: 'supervision.lost',
      expect: ['heartbeat', 'test.periodic'],
      window: { kind: 'supervision', defaultIntervalS: 25 * 3600 },
      reason: ABSENCE_REASON,
    },

    // Correlation: events that mean something together.
    {
      id: 'correlation.fall-no-movement',
      // v2: a cancel ends the check only where it could close the fall (its own device's or the
      // home unit's, and taken): another pendant's cancel of its own press ends nothing.
      version: 2,
      kind: 'correlation',
      type: 'fall.detected',
      priority: 1,
      pattern: {
        kind: 'then-absent',
        first: ['fall.detected'],
        absent: ['motion', 'bed.occupied', 'chair.occupied', 'door.opened', 'alarm.cancelled'],
        withinS: 300,
      },
      reason: '{what}, then no movement: {detail}; raised to {priority} (rule {rule})',
    },
    // A resident who leaves at night and pulls the door shut behind them: the door closes, then
    // the home is silent (a door held open is `sustained.door-open-at-night`). A door closing
    // behind a carer or visitor while the resident is in bed or in the chair is not an exit: a
    // carer leaving after putting the resident to bed looks otherwise the same. In a shared home,
    // the bed and movement may be the other person's: raised at P3, asking who is home.
    {
      id: 'correlation.night-exit',
      // v2: a door bounce is no exit, no one coming in and no return.
      // v3: in a shared home, the bed and movement are not taken as the resident in (`shared`).
      version: 3,
      kind: 'correlation',
      type: 'door.exit-at-night',
      pattern: {
        kind: 'then-absent',
        first: ['door.closed'],
        absent: ['motion', 'bed.occupied', 'chair.occupied', 'door.opened'],
        withinS: 600,
        atNight: true,
        notDuring: [
          { starts: ['bed.occupied'], ends: ['bed.vacated'] },
          { starts: ['chair.occupied'], ends: ['chair.vacated'] },
        ],
        // Coming home at night and sitting down where no sensor sees is not leaving.
        notReturn: true,
        doorBounceS: DOOR_BOUNCE_S,
        // The other person asleep on the bed the two share, turning over, up to the toilet: not
        // the resident in. Their own chair is; so is the door opened again.
        shared: { reports: ['motion', 'bed.occupied'], priority: 3 },
      },
      reason: SUSTAINED_REASON,
    },
    {
      id: 'correlation.pre-alarm-cancel',
      version: 1,
      kind: 'correlation',
      type: 'alarm.cancelled',
      pattern: {
        kind: 'cancel',
        alarm: ['pendant.pressed', 'pullcord.pulled', 'fall.detected'],
        cancel: ['alarm.cancelled'],
        withinS: 60,
      },
      reason: SUSTAINED_REASON,
    },
    {
      id: 'correlation.restore',
      version: 1,
      kind: 'correlation',
      type: 'mains.restored',
      pattern: {
        kind: 'restore',
        on: [
          'smoke.restored',
          'heat.restored',
          'co.restored',
          'gas.restored',
          'flood.restored',
          'mains.restored',
          'line.restored',
          'rf.restored',
          'tamper.restored',
          'fault.restored',
          'battery.restored',
        ],
      },
      reason: SUSTAINED_REASON,
    },
    // A personal alarm's zone back to normal (a panel's restore as the button or cord is let go):
    // shown on the case of the alarm it follows, which it never closes: the operator still answers.
    // Only a cancel (`alarm.cancelled`) within the pre-alarm window makes the alarm a false one.
    {
      id: 'correlation.alarm-restore',
      version: 1,
      kind: 'correlation',
      type: 'alarm.restored',
      pattern: {
        kind: 'restore',
        on: ['alarm.restored'],
        alarm: ['pendant.pressed', 'pullcord.pulled', 'fall.detected'],
      },
      reason:
        'Alarm restore: {detail} ({device}); the alarm stands until an operator answers it (rule {rule})',
    },

    // Area: many homes in one postcode district lose mains within minutes.
    {
      id: 'area.mains-lost',
      version: 1,
      kind: 'area',
      type: 'area.mains-lost',
      on: ['mains.lost'],
      minResidents: 10,
      withinS: 300,
      reason: SUSTAINED_REASON,
    },

    // Learned rhythm: this person's own silences, get-up time and outings (the wake-up check
    // falls back to the care plan's window until a week of mornings is learned).
    RHYTHM_RULE,
  ],
};

/** Validated at load, so a mistake here fails every test rather than a night shift. */
export const DEFAULT_RULE_SET = parseRuleSet(DEFAULT_RULES);

import { type Alert, MOVED_DEVICE_REASON } from '@telecare/contracts';
import { areaRules } from './area.ts';
import { flat } from './ids.ts';
import { absenceOnEvent, absenceOnTick } from './kinds/absence.ts';
import {
  type AwayWindow,
  awayInForce,
  awayWindows,
  deviceFault,
  heldWhileAway,
  trackAway,
} from './kinds/away.ts';
import { correlationOnEvent, correlationOnTick } from './kinds/correlation.ts';
import {
  assertNever,
  type CancelNotTaken,
  NO_CANCELS_REFUSED,
  NONE_SUPPRESSED,
  Output,
  type SuppressedAlert,
} from './kinds/output.ts';
import { NO_TYPE_PLAN, planOf } from './kinds/plan.ts';
import { hasEvent, remember, taken, toRecent, unscheduled } from './kinds/recent.ts';
import { rhythmOnEvent, rhythmOnTick } from './kinds/rhythm.ts';
import { learn, routineOnTick } from './kinds/routine.ts';
import { ensureSchedules } from './kinds/schedule.ts';
import { residentSettings } from './kinds/settings.ts';
import { sustainedOnEvent, sustainedOnTick } from './kinds/sustained.ts';
import { cancelled, limitedTrigger, limitTick, pressed, reported } from './kinds/trigger.ts';
import type {
  EventInput,
  ResidentState,
  Rule,
  RuleSet,
  RulesInput,
  TickInput,
  TimerCommand,
  TriggerRule,
} from './model.ts';
import { parseEventTime } from './time.ts';

export interface Evaluation {
  /**
   * The next state; the same object as the input state when nothing changed (and, for a caller
   * that gave the input state up with `reuse`, the same object whatever changed: it is updated in
   * place).
   */
  readonly state: ResidentState;
  readonly alerts: readonly Alert[];
  /** Timers to set or cancel; the shell stores them durably and feeds them back as ticks. */
  readonly timers: readonly TimerCommand[];
  /** Events that merged into an alert already raised instead of raising their own. */
  readonly merged: ReadonlyArray<{ readonly alertId: string; readonly eventId: string }>;
  /**
   * The event was already taken (in `seen` or `recent`): a redelivery or a repeat, which raised
   * nothing. An event that no rule concerns also leaves the state as it was, but is not a
   * duplicate: the state is the same object in both cases, so only this tells them apart.
   */
  readonly duplicate: boolean;
  /**
   * Alerts not raised because the resident is declared away (see `kinds/away.ts`): the rule, the
   * resident, the alert type and the period, nothing personal, for the shell to log and count.
   */
  readonly held: readonly HeldAlert[];
  /**
   * Reports of a limited trigger rule (`limit`) not raised: a device that sent `max` of them within
   * the rule's window (a flapping sensor). For the shell to count; the latest is raised after all
   * if the device then settles in the fault (see `TriggerRule.limit`).
   */
  readonly suppressed: readonly SuppressedAlert[];
  /**
   * Cancels that paired with an alarm and did not close it: their device had sent cancels with
   * nothing to cancel (see `kinds/cancel-trust.ts`), or the alarm's alert holds another device's
   * press the cancel may not close. For the shell to count and log; the alarm's
   * case gets a note saying why (an alert of the cancel rule).
   */
  readonly cancelsNotTaken: readonly CancelNotTaken[];
}

export type { CancelNotTaken, SuppressedAlert };

/** An alert a declared away period held. */
export interface HeldAlert {
  readonly ruleId: string;
  readonly residentId: string;
  readonly type: Alert['type'];
  /** The period in force. */
  readonly awayId: string;
}

/** The state belongs to another resident: a bug in the shell, never retried. */
export class ResidentMismatchError extends Error {
  readonly stateResidentId: string;
  readonly eventResidentId: string;
  constructor(stateResidentId: string, eventResidentId: string) {
    super(`state of ${stateResidentId} given an input of ${eventResidentId}`);
    this.name = 'ResidentMismatchError';
    this.stateResidentId = stateResidentId;
    this.eventResidentId = eventResidentId;
  }
}

const NOTHING: Evaluation['merged'] = Object.freeze([]);
const NO_ALERTS: readonly Alert[] = Object.freeze([]);
const NO_TIMERS: readonly TimerCommand[] = Object.freeze([]);
const NONE_HELD: readonly HeldAlert[] = Object.freeze([]);

export interface EvaluateOptions {
  /**
   * The caller gives up `state` (it keeps only the evaluation's state, as the runner and triage
   * do): the state object itself, its lists (`recent`, `seen`), its devices' supervision and its
   * learned rhythm may be updated in place instead of copied, so the input state (and anything that
   * shares them with it) may read differently afterwards, and the evaluation's state may be the
   * input object. The evaluation is the same either way. Off, the input state is never changed.
   */
  readonly reuse?: boolean;
}

/** What an input that changes nothing gives: the same state, shared empty lists. */
const unchanged = (state: ResidentState, duplicate: boolean): Evaluation => ({
  state,
  alerts: NO_ALERTS,
  timers: NO_TIMERS,
  merged: NOTHING,
  duplicate,
  held: NONE_HELD,
  suppressed: NONE_SUPPRESSED,
  cancelsNotTaken: NO_CANCELS_REFUSED,
});

/**
 * The triage core: `(state, input) → (state, alerts, timers)`. Pure — no I/O, no clock, no
 * randomness — so the same inputs always raise the same alerts, with the same ids.
 *
 * Timed rules never decide on arrival: an event sets a timer, and the tick checks the resident's
 * events sorted by event time. Each timer fires `reorderGraceS` after the moment it checks, so
 * events that arrive out of order within that bound give the same alerts.
 */
export function evaluate(
  state: ResidentState,
  input: RulesInput,
  ruleSet: RuleSet,
  options?: EvaluateOptions,
): Evaluation {
  switch (input.kind) {
    case 'event':
      return onEvent(state, input, ruleSet, options?.reuse === true);
    case 'tick':
      return onTick(state, input, ruleSet);
    default:
      return assertNever(input);
  }
}

function onEvent(state: ResidentState, input: EventInput, ruleSet: RuleSet, reuse: boolean): Evaluation {
  const { event, now } = input;
  if (state.residentId !== event.residentid)
    throw new ResidentMismatchError(state.residentId, event.residentid);
  const plan = planOf(ruleSet);
  const typePlan = plan.types.get(event.type) ?? NO_TYPE_PLAN;
  const kept = typePlan.kept;
  const rules = typePlan.rules;
  // Most events concern no rule and are not read back (heartbeats, movement, with triggers
  // alone): they change nothing, so the state comes back as it was — not even `seen` takes
  // them, and `seen` keeps its slots for the events that did something. Delivered again, such
  // an event takes this same path and raises nothing, so it needs no redelivery check. Its
  // time is not even parsed.
  if (!kept && rules.length === 0 && !unscheduled(plan, state)) return unchanged(state, false);
  // A redelivered event changes nothing: its alerts were raised the first time. (If it has
  // aged out of `recent`, it alerts again with the same deterministic ids, which collapse downstream.)
  if (taken(state.seen, flat(event.id))) return unchanged(state, true);

  const entry = toRecent(event, kept && plan.beatsOnly.has(event.type));
  if (kept && hasEvent(state.recent, entry)) return unchanged(state, true);

  const out = new Output(ruleSet, state.residentId, residentSettings(ruleSet, state.residentId), now);
  const away = awayWindows(out.settings.away, input.away);
  // A declared away period reads the state as it was before this event (`trackAway`): kept whole.
  out.reuse = reuse && away.length === 0;
  let next: ResidentState = remember(state, entry, kept, now, ruleSet, out.reuse);
  out.owned = next;
  if (away.length > 0 || next.away !== undefined) {
    out.away = away;
    next = trackAway(next, state, entry, away);
  }

  // Indexed, not for…of: a type no rule concerns has the plan's frozen empty list, and iterating
  // lists of two element kinds is not inlined (an iterator result object per rule).
  for (let r = 0; r < rules.length; r++) {
    const rule = rules[r] as Rule;
    if (out.settings.disabled.size > 0 && out.settings.disabled.has(rule.id)) continue;
    switch (rule.kind) {
      case 'trigger':
        if (rule.mergeWithinS !== undefined) pressed(rule, entry, next, out);
        else if (rule.limit !== undefined)
          limitedTrigger(rule, entry, next, out, !(event.postcodedistrict && areaCounted(rule, ruleSet)));
        else reported(rule, entry, next, out);
        break;
      case 'sustained':
        sustainedOnEvent(rule, entry, next.recent, out);
        break;
      case 'absence':
        next = absenceOnEvent(rule, entry, next, input, out);
        break;
      case 'correlation':
        correlationOnEvent(rule, entry, next.recent, out, parseEventTime(event.receivedat));
        break;
      case 'routine':
        if (rule.activity.includes(entry.type)) next = learn(rule, next, entry, out.settings, out);
        break;
      case 'rhythm':
        next = rhythmOnEvent(rule, entry, next, out);
        break;
      case 'area':
        break; // Spans residents: see evaluateArea.
      default:
        assertNever(rule);
    }
  }
  // A cancel that arrives after later presses merged into the group it closes splits that group.
  const ends = typePlan.ends;
  if (ends) for (let r = 0; r < ends.length; r++) cancelled(ends[r] as TriggerRule, entry, next.recent, out);
  next = ensureSchedules(next, out, now);
  // An event whose time is uncertain (`alttime`) needs nothing here: its remembered entry carries
  // it, and every alert built from it says so (`withUncertainTime`), now or decided later.
  const raised =
    event.movedat !== undefined && out.alerts.length > 0
      ? fromPreviousHome(out.alerts, entry.id, event.movedat)
      : out.alerts;
  if (raised.length > 0 && away.length > 0) {
    const { alerts, held } = whileAway(raised, plan.byId, next, away, entry.at);
    return {
      state: next,
      alerts,
      timers: out.timers,
      merged: out.merged,
      duplicate: false,
      held,
      suppressed: out.suppressed,
      cancelsNotTaken: out.cancelsNotTaken,
    };
  }
  return {
    state: next,
    alerts: raised,
    timers: out.timers,
    merged: out.merged,
    duplicate: false,
    held: NONE_HELD,
    suppressed: out.suppressed,
    cancelsNotTaken: out.cancelsNotTaken,
  };
}

/**
 * The alerts an event from a moved device's previous home raised (the event's `movedat`), each
 * saying so: the event is this resident's, but the device now sits in another home, and an
 * operator must not send help there. A derived alert whose first evidence is such an event says so
 * itself (`derivedAlert`, from the remembered event's `movedAt`), here or decided later by a tick.
 */
function fromPreviousHome(alerts: readonly Alert[], eventId: string, movedAt: string): readonly Alert[] {
  return alerts.map((alert) =>
    alert.evidence.includes(eventId) && alert.deviceMovedAt === undefined
      ? { ...alert, reason: `${alert.reason}; ${MOVED_DEVICE_REASON}`, deviceMovedAt: movedAt }
      : alert,
  );
}

function onTick(state: ResidentState, input: TickInput, ruleSet: RuleSet): Evaluation {
  const { timer, now } = input;
  if (state.residentId !== timer.residentId)
    throw new ResidentMismatchError(state.residentId, timer.residentId);
  const out = new Output(ruleSet, state.residentId, residentSettings(ruleSet, state.residentId), now);
  const rule = planOf(ruleSet).byId.get(timer.ruleId);
  // A timer of a rule that is gone or disabled (the rule set changed) checks nothing.
  if (!rule || out.settings.disabled.has(rule.id)) return unchanged(state, false);
  out.away = awayWindows(out.settings.away, input.away);
  out.device = input.device;
  out.ticked = state;
  let next = state;
  switch (rule.kind) {
    case 'sustained':
      sustainedOnTick(rule, timer, state.recent, out);
      break;
    case 'absence':
      next = absenceOnTick(rule, timer, state, out);
      break;
    case 'correlation':
      correlationOnTick(rule, timer, state.recent, out);
      break;
    case 'routine':
      next = routineOnTick(rule, timer, state, out);
      break;
    case 'rhythm':
      next = rhythmOnTick(rule, timer, state, out);
      break;
    case 'trigger':
      limitTick(rule, timer, state, out);
      break;
    case 'area':
      break;
    default:
      assertNever(rule);
  }
  // Declared away and not seen back: an absence-type check raises nothing (its recurring checks
  // are still scheduled above); what it tells of a device is raised all the same.
  const inForce =
    out.alerts.length > 0 && heldWhileAway(rule) ? awayInForce(next, out.away, timer.checkAt) : undefined;
  if (inForce) {
    const raised = out.alerts.filter((alert) => deviceFault(alert.type));
    const held = out.alerts
      .filter((alert) => !deviceFault(alert.type))
      .map((alert) => heldBy(alert, inForce));
    return {
      state: next,
      alerts: raised.length > 0 ? raised : NO_ALERTS,
      timers: out.timers,
      merged: NOTHING,
      duplicate: false,
      held: held.length > 0 ? held : NONE_HELD,
      suppressed: NONE_SUPPRESSED,
      cancelsNotTaken: NO_CANCELS_REFUSED,
    };
  }
  return {
    state: next,
    alerts: out.alerts,
    timers: out.timers,
    merged: NOTHING,
    duplicate: false,
    held: NONE_HELD,
    suppressed: NONE_SUPPRESSED,
    cancelsNotTaken: NO_CANCELS_REFUSED,
  };
}

/**
 * Whether an area rule counts this trigger's types: its alerts from a home in a district are held
 * for the district's decision, which a settle check's tick (no event, no district) would bypass.
 */
const areaCounted = (rule: TriggerRule, ruleSet: RuleSet): boolean =>
  areaRules(ruleSet).some((area) => area.on.some((type) => rule.on.includes(type)));

const heldBy = (alert: Alert, away: AwayWindow): HeldAlert => ({
  ruleId: alert.rule.id,
  residentId: alert.residentId,
  type: alert.type,
  awayId: away.id,
});

/**
 * The alerts an event raised, less those of rules held while the resident is declared away (what
 * tells of a device, `deviceFault`, is raised all the same).
 */
function whileAway(
  alerts: readonly Alert[],
  byId: ReadonlyMap<string, Rule>,
  state: ResidentState,
  away: readonly AwayWindow[],
  at: number,
): { alerts: readonly Alert[]; held: readonly HeldAlert[] } {
  const inForce = awayInForce(state, away, at);
  if (!inForce) return { alerts, held: NONE_HELD };
  const raised: Alert[] = [];
  const held: HeldAlert[] = [];
  for (const alert of alerts) {
    const rule = byId.get(alert.rule.id);
    if (rule && heldWhileAway(rule) && !deviceFault(alert.type)) held.push(heldBy(alert, inForce));
    else raised.push(alert);
  }
  return { alerts: raised, held: held.length > 0 ? held : NONE_HELD };
}

export { supervisedSerial } from './kinds/absence.ts';
export { byTimeThenId, toRecent } from './kinds/recent.ts';
export { type ResidentSettings, residentSettings } from './kinds/settings.ts';

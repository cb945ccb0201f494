import {
  type Alert,
  defaultPriority,
  type EventType,
  type Priority,
  TAXONOMY,
  type TelecareEvent,
} from '@telecare/contracts';
import { alertId as alertIdFor } from './ids.ts';
import { anchorOf, type Ender, type PressGroups, regroup } from './merge.ts';
import type {
  AbsenceRule,
  CorrelationRule,
  EventInput,
  RecentEvent,
  ResidentState,
  Rhythm,
  RhythmRule,
  Routine,
  RoutineRule,
  Rule,
  RuleSet,
  RulesInput,
  SustainedRule,
  TickInput,
  Timer,
  TimerCommand,
  TriggerRule,
} from './model.ts';
import { type ReasonValues, renderReason } from './reason.ts';
import { gapLimit, getUps, learnRhythm, outLimit, usualBedMinute } from './rhythm.ts';
import {
  addDays,
  formatAlso,
  formatHhmm,
  formatIso,
  formatWhen,
  inSpan,
  localTime,
  minuteOf,
  parseEventTime,
  zonedInstant,
} from './time.ts';

export interface Evaluation {
  /** The next state; the same object as the input state when nothing changed. */
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

/** A resident's settings: the rule set's defaults with that resident's overrides on top. */
export interface ResidentSettings {
  readonly timeZone: string;
  readonly quietFrom: number;
  readonly quietTo: number;
  readonly wakeFrom: number;
  readonly wakeTo: number;
  /** The care plan's hard latest wake-up minute, if it sets one. */
  readonly wakeLatest?: number;
  readonly visits: readonly string[];
  readonly preAlarmCancelS: number;
  readonly disabled: ReadonlySet<string>;
  readonly thresholds: Readonly<
    Record<string, { forS?: number; withinS?: number; below?: number; above?: number }>
  >;
}

const settingsCache = new WeakMap<RuleSet, Map<string, ResidentSettings>>();

export function residentSettings(ruleSet: RuleSet, residentId: string): ResidentSettings {
  let perSet = settingsCache.get(ruleSet);
  if (!perSet) {
    perSet = new Map();
    settingsCache.set(ruleSet, perSet);
  }
  // Most residents have no overrides: they share the defaults' settings, found without a lookup.
  const key = perSet.has(residentId) || Object.hasOwn(ruleSet.residents, residentId) ? residentId : '';
  let settings = perSet.get(key);
  if (!settings) {
    const d = ruleSet.defaults;
    const o = key ? (ruleSet.residents[key] ?? {}) : {};
    const quiet = o.quietHours ?? d.quietHours;
    const wake = o.wakeUp ?? d.wakeUp;
    settings = {
      timeZone: o.timeZone ?? d.timeZone,
      quietFrom: minuteOf(quiet.from),
      quietTo: minuteOf(quiet.to),
      wakeFrom: minuteOf(wake.from),
      wakeTo: minuteOf(wake.to),
      ...(o.wakeUpLatest ? { wakeLatest: minuteOf(o.wakeUpLatest) } : {}),
      visits: [...(o.visits ?? d.visits)].sort(),
      preAlarmCancelS: o.preAlarmCancelS ?? d.preAlarmCancelS,
      disabled: new Set(o.disabled ?? []),
      thresholds: o.thresholds ?? {},
    };
    perSet.set(key, settings);
  }
  return settings;
}

const NOTHING: Evaluation['merged'] = Object.freeze([]);
const NO_ALERTS: readonly Alert[] = Object.freeze([]);
const NO_TIMERS: readonly TimerCommand[] = Object.freeze([]);
const NO_RULES: readonly Rule[] = [];

/** What an input that changes nothing gives: the same state, shared empty lists. */
const unchanged = (state: ResidentState, duplicate: boolean): Evaluation => ({
  state,
  alerts: NO_ALERTS,
  timers: NO_TIMERS,
  merged: NOTHING,
  duplicate,
});

/** Which rules an event type concerns, and which rules recur: worked out once per rule set. */
interface Plan {
  readonly byType: ReadonlyMap<EventType, readonly Rule[]>;
  /** Types some rule reads back from `recent`; the others are only deduplicated. */
  readonly history: ReadonlySet<EventType>;
  /**
   * Types only supervision reads back (heartbeats, periodic tests): it needs a device's latest
   * beat and whether one came after it, so `recent` keeps the last `KEEP_BEATS` per device.
   */
  readonly beatsOnly: ReadonlySet<EventType>;
  readonly recurring: readonly Recurring[];
  readonly byId: ReadonlyMap<string, Rule>;
  /** Per merging trigger rule: the cancel rules whose cancel closes its alert (and ends a group). */
  readonly cancels: ReadonlyMap<TriggerRule, readonly CorrelationRule[]>;
  /** Per cancel type: the merging trigger rules whose groups it can end. */
  readonly ends: ReadonlyMap<EventType, readonly TriggerRule[]>;
}

const plans = new WeakMap<RuleSet, Plan>();

function concerns(rule: Rule, type: EventType): boolean {
  switch (rule.kind) {
    case 'trigger':
      return rule.on.includes(type);
    case 'sustained':
      return 'reading' in rule.condition ? type === 'temperature' : rule.condition.starts.includes(type);
    case 'absence':
      if (rule.window.kind === 'after-event') return rule.window.after.includes(type);
      return rule.window.kind === 'supervision' && rule.expect.includes(type);
    case 'correlation': {
      const p = rule.pattern;
      if (p.kind === 'then-absent') return p.first.includes(type);
      if (p.kind === 'cancel') return p.alarm.includes(type) || p.cancel.includes(type);
      return p.on.includes(type) || p.on.some((restore) => restoredType(restore) === type);
    }
    case 'routine':
    case 'rhythm':
      return rule.activity.includes(type);
    case 'area':
      return false;
    default:
      return assertNever(rule);
  }
}

/** The types only supervision reads back: every type it expects that no other rule reads. */
function beatTypes(ruleSet: RuleSet): Set<EventType> {
  const beats = new Set<EventType>();
  for (const rule of ruleSet.rules)
    if (rule.kind === 'absence' && rule.window.kind === 'supervision')
      for (const t of rule.expect) beats.add(t);
  const others = historyTypes({
    ...ruleSet,
    rules: ruleSet.rules.filter((rule) => !(rule.kind === 'absence' && rule.window.kind === 'supervision')),
  });
  for (const type of others) beats.delete(type);
  return beats;
}

function historyTypes(ruleSet: RuleSet): Set<EventType> {
  const types = new Set<EventType>();
  const add = (list: readonly EventType[]) => {
    for (const type of list) types.add(type);
  };
  for (const rule of ruleSet.rules) {
    switch (rule.kind) {
      case 'trigger':
        // Merging and the cancel and restore pairings look back for alarms.
        add(rule.on);
        break;
      case 'sustained':
        if ('reading' in rule.condition) add(['temperature']);
        else add([...rule.condition.starts, ...rule.condition.ends]);
        break;
      case 'absence':
        add(rule.expect);
        if (rule.window.kind === 'after-event') add(rule.window.after);
        break;
      case 'correlation': {
        const p = rule.pattern;
        if (p.kind === 'then-absent')
          add([...p.first, ...p.absent, ...p.notDuring.flatMap((state) => [...state.starts, ...state.ends])]);
        else if (p.kind === 'cancel') add([...p.alarm, ...p.cancel]);
        else add(p.on);
        break;
      }
      case 'routine':
      case 'rhythm':
        add(rule.activity);
        break;
      case 'area':
        break;
      default:
        assertNever(rule);
    }
  }
  // A trigger-only set reads nothing back: its alerts need no history.
  if (ruleSet.rules.every((rule) => rule.kind === 'trigger' && rule.mergeWithinS === undefined))
    types.clear();
  return types;
}

function planOf(ruleSet: RuleSet): Plan {
  let plan = plans.get(ruleSet);
  if (!plan) {
    const byType = new Map<EventType, Rule[]>();
    for (const type of Object.keys(TAXONOMY) as EventType[]) {
      const rules = ruleSet.rules.filter((rule) => concerns(rule, type));
      if (rules.length > 0) byType.set(type, rules);
    }
    const cancels = new Map<TriggerRule, CorrelationRule[]>();
    const ends = new Map<EventType, TriggerRule[]>();
    for (const rule of ruleSet.rules) {
      if (rule.kind !== 'trigger' || rule.mergeWithinS === undefined) continue;
      const closing = ruleSet.rules.filter(
        (other): other is CorrelationRule =>
          other.kind === 'correlation' &&
          other.pattern.kind === 'cancel' &&
          other.pattern.alarm.some((type) => rule.on.includes(type)),
      );
      cancels.set(rule, closing);
      for (const cancel of closing)
        if (cancel.pattern.kind === 'cancel')
          for (const type of cancel.pattern.cancel) {
            const list = ends.get(type) ?? [];
            if (!list.includes(rule)) list.push(rule);
            ends.set(type, list);
          }
    }
    plan = {
      byType,
      history: historyTypes(ruleSet),
      beatsOnly: beatTypes(ruleSet),
      recurring: ruleSet.rules.filter(isRecurring),
      byId: new Map(ruleSet.rules.map((rule) => [rule.id, rule])),
      cancels,
      ends,
    };
    plans.set(ruleSet, plan);
  }
  return plan;
}

/**
 * The triage core: `(state, input) → (state, alerts, timers)`. Pure — no I/O, no clock, no
 * randomness — so the same inputs always raise the same alerts, with the same ids.
 *
 * Timed rules never decide on arrival: an event sets a timer, and the tick checks the resident's
 * events sorted by event time. Each timer fires `reorderGraceS` after the moment it checks, so
 * events that arrive out of order within that bound give the same alerts.
 */
export function evaluate(state: ResidentState, input: RulesInput, ruleSet: RuleSet): Evaluation {
  switch (input.kind) {
    case 'event':
      return onEvent(state, input, ruleSet);
    case 'tick':
      return onTick(state, input, ruleSet);
    default:
      return assertNever(input);
  }
}

function assertNever(value: never): never {
  throw new TypeError(`unknown input ${JSON.stringify(value)}`);
}

class Output {
  readonly alerts: Alert[] = [];
  readonly timers: TimerCommand[] = [];
  readonly merged: Array<{ alertId: string; eventId: string }> = [];
  constructor(
    readonly ruleSet: RuleSet,
    readonly residentId: string,
    readonly settings: ResidentSettings,
    readonly now: number,
  ) {}

  setTimer(
    rule: Rule,
    checkAt: number,
    extra: { eventId?: string; eventAt?: number; key?: string; id: string },
  ): void {
    const timer: Timer = {
      id: extra.id,
      ruleId: rule.id,
      residentId: this.residentId,
      checkAt,
      dueAt: checkAt + this.ruleSet.settings.reorderGraceS * 1000,
      ...(extra.eventId === undefined ? {} : { eventId: extra.eventId }),
      ...(extra.eventAt === undefined ? {} : { eventAt: extra.eventAt }),
      ...(extra.key === undefined ? {} : { key: extra.key }),
    };
    this.timers.push({ op: 'set', timer });
  }
}

function onEvent(state: ResidentState, input: EventInput, ruleSet: RuleSet): Evaluation {
  const { event, now } = input;
  if (state.residentId !== event.residentid)
    throw new ResidentMismatchError(state.residentId, event.residentid);
  const plan = planOf(ruleSet);
  const kept = plan.history.has(event.type);
  const rules = plan.byType.get(event.type) ?? NO_RULES;
  // Most events concern no rule and are not read back (heartbeats, movement, with triggers
  // alone): they change nothing, so the state comes back as it was — not even `seen` takes
  // them, and `seen` keeps its slots for the events that did something. Delivered again, such
  // an event takes this same path and raises nothing, so it needs no redelivery check. Its
  // time is not even parsed.
  if (!kept && rules.length === 0 && !unscheduled(plan, state)) return unchanged(state, false);
  // A redelivered event changes nothing: its alerts were raised the first time. (If it has
  // aged out of `recent`, it alerts again with the same deterministic ids, which collapse downstream.)
  if (taken(state.seen, event.id)) return unchanged(state, true);

  const entry = toRecent(event);
  if (kept && hasEvent(state.recent, entry)) return unchanged(state, true);

  const out = new Output(ruleSet, state.residentId, residentSettings(ruleSet, state.residentId), now);
  let next: ResidentState = remember(state, entry, kept, now, ruleSet);

  for (const rule of rules) {
    if (out.settings.disabled.size > 0 && out.settings.disabled.has(rule.id)) continue;
    switch (rule.kind) {
      case 'trigger':
        if (rule.mergeWithinS === undefined)
          out.alerts.push(triggerAlert(rule, entry, alertIdFor(rule.id, state.residentId, entry.id), out));
        else pressed(rule, entry, next, out);
        break;
      case 'sustained':
        sustainedOnEvent(rule, entry, next.recent, out);
        break;
      case 'absence':
        next = absenceOnEvent(rule, entry, next, input, out);
        break;
      case 'correlation':
        correlationOnEvent(rule, entry, next.recent, out);
        break;
      case 'routine':
        if (rule.activity.includes(entry.type)) next = learn(rule, next, entry, out.settings);
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
  const ends = plan.ends.get(entry.type);
  if (ends) for (const rule of ends) cancelled(rule, entry, next.recent, out);
  next = ensureSchedules(next, out, now);
  return { state: next, alerts: out.alerts, timers: out.timers, merged: out.merged, duplicate: false };
}

function onTick(state: ResidentState, input: TickInput, ruleSet: RuleSet): Evaluation {
  const { timer, now } = input;
  if (state.residentId !== timer.residentId)
    throw new ResidentMismatchError(state.residentId, timer.residentId);
  const out = new Output(ruleSet, state.residentId, residentSettings(ruleSet, state.residentId), now);
  const rule = planOf(ruleSet).byId.get(timer.ruleId);
  // A timer of a rule that is gone or disabled (the rule set changed) checks nothing.
  if (!rule || out.settings.disabled.has(rule.id)) return unchanged(state, false);
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
    case 'area':
      break;
    default:
      assertNever(rule);
  }
  return { state: next, alerts: out.alerts, timers: out.timers, merged: NOTHING, duplicate: false };
}

// ---------------------------------------------------------------------------------------------
// Alerts

// A test press and a real one never merge: an installer's test must not absorb a real alarm.
function pressGroups(rule: TriggerRule, testMode: boolean, out: Output): PressGroups {
  const enders: Ender[] = [];
  for (const cancel of planOf(out.ruleSet).cancels.get(rule) ?? [])
    if (cancel.pattern.kind === 'cancel' && !out.settings.disabled.has(cancel.id))
      enders.push({
        alarm: cancel.pattern.alarm,
        cancel: cancel.pattern.cancel,
        windowMs: cancelWindowS(cancel, out) * 1000,
      });
  return { on: rule.on, testMode, windowMs: (rule.mergeWithinS ?? 0) * 1000, enders };
}

/** A merged group's alert is named by its anchor, so reprocessing gives the same id. */
const groupAlertId = (rule: TriggerRule, residentId: string, anchor: RecentEvent): string =>
  alertIdFor(rule.id, residentId, `merge:${anchor.testMode ? 'test:' : ''}${anchor.id}`);

/** A press of a merging rule: it anchors a group (an alert) or merges into its group's alert. */
function pressed(rule: TriggerRule, entry: RecentEvent, state: ResidentState, out: Output): void {
  const recent = state.recent;
  const i = indexOf(recent, entry);
  // Too old to be remembered: nothing to merge with that is known, so it alerts.
  if (recent[i]?.id !== entry.id) {
    out.alerts.push(triggerAlert(rule, entry, groupAlertId(rule, out.residentId, entry), out));
    return;
  }
  const groups = pressGroups(rule, entry.testMode, out);
  const { anchor, known } = anchorOf(groups, recent, i, state.forgottenUntil);
  const alertId = groupAlertId(rule, out.residentId, anchor);
  if (anchor === entry || !known) out.alerts.push(triggerAlert(rule, entry, alertId, out));
  else {
    out.merged.push({ alertId, eventId: entry.id });
    out.alerts.push(repeatAlert(rule, entry, anchor, alertId, out));
  }
  raiseNewAnchors(rule, groups, recent, i, out);
}

/**
 * A press that merged into its group's alert still reaches the helpline, as a repeat that names
 * that alert: the helpline counts it on the case while the case is open, and opens a new case when
 * an operator has already resolved it (which triage cannot know). The id is the repeat press's own,
 * not its group's, so reprocessing raises the same repeat and a regrouping never makes a second one.
 */
function repeatAlert(
  rule: TriggerRule,
  press: RecentEvent,
  anchor: RecentEvent,
  alertId: string,
  out: Output,
): Alert {
  const id = alertIdFor(rule.id, out.residentId, `repeat:${press.testMode ? 'test:' : ''}${press.id}`);
  const alert = triggerAlert(rule, press, id, out);
  const after = describeGap(press.at - anchor.at);
  const first = formatHhmmss(anchor.at, out.settings.timeZone);
  return {
    ...alert,
    reason: `${alert.reason}; pressed again ${after} after the first press at ${first}`,
    repeats: { alertId },
  };
}

/** `40 s`, `3 min 15 s`: a repeat press comes seconds or minutes after the first. */
function describeGap(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
}

function formatHhmmss(ms: number, timeZone: string): string {
  const seconds = String(Math.floor(ms / 1000) % 60).padStart(2, '0');
  return `${formatHhmm(ms, timeZone)}:${seconds}`;
}

/** A cancel of a merging rule's alarm: later presses of a group it now closes anchor their own. */
function cancelled(rule: TriggerRule, entry: RecentEvent, recent: readonly RecentEvent[], out: Output): void {
  if (out.settings.disabled.has(rule.id)) return;
  const i = indexOf(recent, entry);
  if (recent[i]?.id !== entry.id) return;
  for (const testMode of [false, true])
    raiseNewAnchors(rule, pressGroups(rule, testMode, out), recent, i, out);
}

/**
 * Never unraise, never lose: a press an arrival made an anchor raises the alert it never had, and a
 * press it made a member of an earlier group raises the repeat it never had.
 */
function raiseNewAnchors(
  rule: TriggerRule,
  groups: PressGroups,
  recent: readonly RecentEvent[],
  i: number,
  out: Output,
): void {
  const { anchors, repeats } = regroup(groups, recent, i);
  for (const anchor of anchors)
    out.alerts.push(triggerAlert(rule, anchor, groupAlertId(rule, out.residentId, anchor), out));
  for (const { press, anchor } of repeats)
    out.alerts.push(repeatAlert(rule, press, anchor, groupAlertId(rule, out.residentId, anchor), out));
}

function deviceValues(
  entry: RecentEvent | undefined,
): Pick<ReasonValues, 'device' | 'kind' | 'location' | 'serial'> {
  if (!entry)
    return { device: 'no device', kind: 'no device', location: 'location not recorded', serial: '-' };
  const location = entry.location?.trim() || undefined;
  return {
    device: location ? `${entry.deviceKind} in ${location}` : entry.deviceKind,
    kind: entry.deviceKind,
    location: location ?? 'location not recorded',
    serial: entry.serial,
  };
}

function triggerAlert(rule: TriggerRule, entry: RecentEvent, id: string, out: Output): Alert {
  const lateAfterS = rule.lateAfterS ?? out.ruleSet.settings.lateAfterS;
  const ageMs = out.now - entry.at;
  const late = ageMs > lateAfterS * 1000;
  const priority = rule.priority ?? defaultPriority(entry.type);
  const reason = renderReason(rule.reason, {
    what: TAXONOMY[entry.type].description,
    type: entry.type,
    ...deviceValues(entry),
    rule: `${rule.id} v${rule.version}`,
    priority: `P${priority}`,
    detail: '',
    expected: '',
    seen: '',
  });
  return {
    id,
    residentId: out.residentId,
    priority,
    type: entry.type,
    raisedAt: formatIso(out.now),
    rule: { id: rule.id, version: rule.version },
    evidence: [entry.id],
    thresholds:
      rule.mergeWithinS === undefined ? { lateAfterS } : { lateAfterS, mergeWithinS: rule.mergeWithinS },
    reason: late ? `${reason}; late: event time ${describeAge(ageMs)} before triage` : reason,
    late,
    testMode: entry.testMode,
    deviceSerial: entry.serial,
  };
}

interface DerivedSpec {
  readonly key: string;
  readonly evidence: readonly RecentEvent[];
  /** The evidence id when no event is evidence (an absence): the schedule key. */
  readonly fallbackEvidence?: string;
  readonly thresholds: Alert['thresholds'];
  readonly detail: string;
  readonly expected?: string;
  readonly seen?: string;
  /** When the rule decided: lateness is measured from here. */
  readonly decidedAt: number;
  readonly type?: EventType;
  readonly priority?: Priority;
  readonly closes?: Alert['closes'];
}

function derivedAlert(rule: Exclude<Rule, TriggerRule>, out: Output, spec: DerivedSpec): Alert {
  const type = spec.type ?? rule.type;
  const priority = spec.priority ?? rule.priority ?? defaultPriority(type);
  const lateAfterS = out.ruleSet.settings.lateAfterS;
  const ageMs = out.now - spec.decidedAt;
  const late = ageMs > lateAfterS * 1000;
  const first = spec.evidence[0];
  const reason = renderReason(rule.reason, {
    what: TAXONOMY[type].description,
    type,
    ...deviceValues(first),
    rule: `${rule.id} v${rule.version}`,
    priority: `P${priority}`,
    detail: spec.detail,
    expected: spec.expected ?? '',
    seen: spec.seen ?? '',
  });
  const evidence = spec.evidence.map((seen) => seen.id);
  return {
    id: alertIdFor(rule.id, out.residentId, spec.key),
    residentId: out.residentId,
    priority,
    type,
    // The time it was due (decided, plus the reorder grace), not when a late tick got to it: an
    // alert raised late still belongs with what happened then (and joins that case), flagged late.
    raisedAt: formatIso(Math.min(out.now, spec.decidedAt + out.ruleSet.settings.reorderGraceS * 1000)),
    rule: { id: rule.id, version: rule.version },
    evidence: evidence.length > 0 ? evidence : [spec.fallbackEvidence ?? spec.key],
    thresholds: spec.thresholds,
    reason: late ? `${reason}; late: decided ${describeAge(ageMs)} before triage` : reason,
    late,
    testMode: spec.evidence.some((seen) => seen.testMode),
    ...(first ? { deviceSerial: first.serial } : {}),
    ...(spec.closes ? { closes: spec.closes } : {}),
  };
}

function describeAge(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(ms / 3_600_000);
  return hours < 48 ? `${hours} h` : `${Math.round(ms / 86_400_000)} days`;
}

function minutes(ms: number): string {
  return `${Math.round(ms / 60_000)} min`;
}

// ---------------------------------------------------------------------------------------------
// Sustained

function threshold(rule: SustainedRule, out: Output): { forS: number; below?: number; above?: number } {
  const o = out.settings.thresholds[rule.id];
  const c = rule.condition;
  const below = 'reading' in c ? (o?.below ?? c.below) : undefined;
  const above = 'reading' in c ? (o?.above ?? c.above) : undefined;
  return {
    forS: o?.forS ?? rule.forS,
    ...(below === undefined ? {} : { below }),
    ...(above === undefined ? {} : { above }),
  };
}

const beyond = (t: { below?: number; above?: number }, celsius: number): boolean =>
  t.below !== undefined ? celsius < t.below : t.above !== undefined && celsius > t.above;

/** The previous temperature reading by event time, from the same device. */
function previousReading(recent: readonly RecentEvent[], entry: RecentEvent): RecentEvent | undefined {
  for (let i = indexOf(recent, entry) - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.celsius !== undefined && seen.serial === entry.serial) return seen;
  }
  return undefined;
}

function nextReading(recent: readonly RecentEvent[], entry: RecentEvent): RecentEvent | undefined {
  for (let i = indexOf(recent, entry) + 1; i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (seen.celsius !== undefined && seen.serial === entry.serial) return seen;
  }
  return undefined;
}

/** A reading that begins a run of readings beyond the threshold. */
function startsRun(
  recent: readonly RecentEvent[],
  entry: RecentEvent,
  t: { below?: number; above?: number },
) {
  if (entry.celsius === undefined || !beyond(t, entry.celsius)) return false;
  const previous = previousReading(recent, entry);
  return previous?.celsius === undefined || !beyond(t, previous.celsius);
}

function sustainedOnEvent(
  rule: SustainedRule,
  entry: RecentEvent,
  recent: readonly RecentEvent[],
  out: Output,
) {
  const t = threshold(rule, out);
  if ('reading' in rule.condition) {
    if (entry.celsius === undefined) return;
    if (startsRun(recent, entry, t)) startSustained(rule, entry, t.forS, out);
    // A late reading back in range can make the next reading the start of a new run.
    const following = nextReading(recent, entry);
    if (following && !beyond(t, entry.celsius) && startsRun(recent, following, t))
      startSustained(rule, following, t.forS, out);
  } else if (rule.condition.starts.includes(entry.type)) startSustained(rule, entry, t.forS, out);
}

function startSustained(rule: SustainedRule, candidate: RecentEvent, forS: number, out: Output): void {
  if (rule.atNight && !atNight(candidate.at, out.settings)) return;
  out.setTimer(rule, candidate.at + forS * 1000, { id: `${rule.id}:${candidate.id}`, eventId: candidate.id });
}

function sustainedOnTick(rule: SustainedRule, timer: Timer, recent: readonly RecentEvent[], out: Output) {
  const startEvent = recent.find((seen) => seen.id === timer.eventId);
  if (!startEvent) return;
  const t = threshold(rule, out);
  const until = startEvent.at + t.forS * 1000;
  const within = recent.filter((seen) => seen.at > startEvent.at && seen.at <= until);
  let detail: string;
  if ('reading' in rule.condition) {
    if (!startsRun(recent, startEvent, t)) return;
    const readings = within.filter((seen) => seen.celsius !== undefined && seen.serial === startEvent.serial);
    if (readings.some((seen) => !beyond(t, seen.celsius as number))) return;
    const last = readings.at(-1) ?? startEvent;
    const bound = t.below !== undefined ? `below ${t.below} °C` : `above ${t.above} °C`;
    detail = `${bound} since ${formatWhen(startEvent.at, out.settings.timeZone, timer.checkAt)} for ${minutes(until - startEvent.at)}; last reading ${last.celsius} °C`;
    out.alerts.push(
      derivedAlert(rule, out, {
        key: startEvent.id,
        evidence: [startEvent, ...readings.slice(-4)],
        thresholds: {
          forS: t.forS,
          ...(t.below === undefined ? {} : { below: t.below }),
          ...(t.above === undefined ? {} : { above: t.above }),
        },
        detail,
        decidedAt: timer.dueAt,
      }),
    );
    return;
  }
  const { ends } = rule.condition;
  if (within.some((seen) => ends.includes(seen.type))) return;
  detail = `${TAXONOMY[startEvent.type].description.toLowerCase()} at ${formatWhen(startEvent.at, out.settings.timeZone, timer.checkAt)} and no ${ends.join(' or ')} within ${minutes(t.forS * 1000)}`;
  out.alerts.push(
    derivedAlert(rule, out, {
      key: startEvent.id,
      evidence: [startEvent],
      thresholds: { forS: t.forS, atNight: rule.atNight },
      detail,
      decidedAt: timer.dueAt,
    }),
  );
}

function atNight(at: number, settings: ResidentSettings): boolean {
  return inSpan(localTime(at, settings.timeZone).minute, settings.quietFrom, settings.quietTo);
}

// ---------------------------------------------------------------------------------------------
// Absence

function absenceOnEvent(
  rule: AbsenceRule,
  entry: RecentEvent,
  state: ResidentState,
  input: EventInput,
  out: Output,
): ResidentState {
  const window = rule.window;
  if (window.kind === 'after-event') {
    if (window.after.includes(entry.type)) {
      const withinS = out.settings.thresholds[rule.id]?.withinS ?? window.withinS;
      out.setTimer(rule, entry.at + withinS * 1000, { id: `${rule.id}:${entry.id}`, eventId: entry.id });
    }
    return state;
  }
  if (window.kind !== 'supervision' || !rule.expect.includes(entry.type)) return state;
  const current = state.devices[entry.serial];
  const intervalS =
    input.device?.supervisionIntervalS ??
    out.settings.thresholds[rule.id]?.withinS ??
    current?.intervalS ??
    window.defaultIntervalS;
  // Every heartbeat has its own check; the tick looks for a later heartbeat by event time, so a
  // heartbeat that arrives out of order gives the same answer.
  out.setTimer(rule, entry.at + intervalS * 1000, {
    id: `${rule.id}:${entry.serial}:${entry.id}`,
    key: entry.serial,
    eventId: entry.id,
    eventAt: entry.at,
  });
  if (current && current.lastAt >= entry.at) return state;
  // The previous heartbeat's check is moot when this one came within its interval.
  if (current && !current.lost && entry.at <= current.lastAt + current.intervalS * 1000)
    out.timers.push({ op: 'cancel', id: `${rule.id}:${entry.serial}:${current.lastId}` });
  if (current?.lost) out.alerts.push(restoredAlert(rule, out, current.lost, entry, intervalS));
  const devices: ResidentState['devices'] = {};
  // Devices silent for a month (and not lost) are forgotten: the state stays bounded.
  for (const [serial, device] of Object.entries(state.devices))
    if (device.lost || device.lastAt >= out.now - KEEP_DEVICES_MS) devices[serial] = device;
  devices[entry.serial] = { lastAt: entry.at, lastId: entry.id, intervalS };
  return { ...state, devices };
}

function restoredAlert(
  rule: AbsenceRule,
  out: Output,
  lostId: string,
  back: RecentEvent,
  intervalS: number,
): Alert {
  return derivedAlert(rule, out, {
    key: `restored:${lostId}`,
    evidence: [back],
    thresholds: { intervalS },
    detail: `heartbeat again at ${formatHhmm(back.at, out.settings.timeZone)}`,
    decidedAt: back.at,
    type: 'supervision.restored',
    priority: 5,
    closes: { alertId: lostId, outcome: 'restored' },
  });
}

/** The heartbeat a supervision timer started from, told by the timer when the state lost it. */
function lostStateBase(id: string, at: number, serial: string, rule: AbsenceRule): RecentEvent {
  return {
    id,
    type: rule.expect[0] ?? 'heartbeat',
    at,
    serial,
    deviceKind: 'unknown',
    testMode: false,
  };
}

function absenceOnTick(rule: AbsenceRule, timer: Timer, state: ResidentState, out: Output): ResidentState {
  const window = rule.window;
  const tz = out.settings.timeZone;
  switch (window.kind) {
    case 'after-event': {
      const due = state.recent.find((seen) => seen.id === timer.eventId);
      if (!due) return state;
      const done = state.recent.some(
        (seen) =>
          rule.expect.includes(seen.type) &&
          seen.at >= due.at &&
          seen.at <= timer.checkAt &&
          (due.doseId === undefined || seen.doseId === undefined || seen.doseId === due.doseId),
      );
      if (done) return state;
      const withinS = Math.round((timer.checkAt - due.at) / 1000);
      out.alerts.push(
        derivedAlert(rule, out, {
          key: due.id,
          evidence: [due],
          thresholds: { withinS },
          detail: `${TAXONOMY[due.type].description.toLowerCase()} at ${formatWhen(due.at, tz, timer.checkAt)}`,
          expected: `${rule.expect.join(' or ')} by ${formatHhmm(timer.checkAt, tz)}`,
          seen: 'none',
          decidedAt: timer.dueAt,
        }),
      );
      return state;
    }
    case 'supervision': {
      const serial = timer.key ?? '';
      const device = state.devices[serial];
      if (device?.lost) return state; // the loss is raised once while silent
      let base = state.recent.find((seen) => seen.id === timer.eventId);
      if (!device) {
        // The state was lost after this heartbeat (Redis flushed): any heartbeat since would have
        // put the device back in it, so the device has been silent since the timer's event.
        if (timer.eventId === undefined || timer.eventAt === undefined) return state;
        base = lostStateBase(timer.eventId, timer.eventAt, serial, rule);
      }
      if (!base) return state;
      const beats = state.recent.filter((seen) => seen.serial === serial && rule.expect.includes(seen.type));
      if (beats.some((seen) => seen.at > base.at && seen.at <= timer.checkAt)) return state;
      const intervalS = Math.round((timer.checkAt - base.at) / 1000);
      const alert = derivedAlert(rule, out, {
        key: `${serial}:${base.id}`,
        evidence: [base],
        thresholds: { intervalS },
        detail: `device ${serial} silent since ${formatWhen(base.at, tz, timer.checkAt)}`,
        expected: `a heartbeat every ${minutes(intervalS * 1000)}`,
        seen: `none for ${minutes(timer.checkAt - base.at)}`,
        decidedAt: timer.dueAt,
      });
      out.alerts.push(alert);
      // A heartbeat that arrived before this check but came after the interval: back already.
      const back = beats.find((seen) => seen.at > timer.checkAt);
      if (back) {
        out.alerts.push(restoredAlert(rule, out, alert.id, back, intervalS));
        return state;
      }
      const supervised = device ?? { lastAt: base.at, lastId: base.id, intervalS };
      return { ...state, devices: { ...state.devices, [serial]: { ...supervised, lost: alert.id } } };
    }
    case 'wake-up': {
      const date = timer.key ?? '';
      const from = zonedInstant(date, out.settings.wakeFrom, tz);
      const to = timer.checkAt;
      const active = state.recent.some(
        (seen) => rule.expect.includes(seen.type) && seen.at >= from && seen.at <= to,
      );
      if (!active) {
        const last = lastOf(state.recent, rule.expect, to);
        out.alerts.push(
          derivedAlert(rule, out, {
            key: `wake-up:${date}`,
            evidence: last ? [last] : [],
            thresholds: { wakeUpFrom: formatHhmm(from, tz), wakeUpTo: formatHhmm(to, tz) },
            detail: `no movement between ${formatHhmm(from, tz)} and ${formatWhen(to, tz, to)}`,
            expected: `movement by ${formatHhmm(to, tz)}`,
            seen: last
              ? `last movement at ${formatAlso(last.at, tz, to, to)} (${deviceValues(last).device})`
              : 'no movement recorded',
            decidedAt: timer.dueAt,
          }),
        );
      }
      return reschedule(rule, state, out, timer.checkAt);
    }
    case 'visit': {
      const visitAt = Number(timer.key?.split('@')[1]);
      const toleranceS = out.settings.thresholds[rule.id]?.withinS ?? window.toleranceS;
      const from = visitAt - toleranceS * 1000;
      const arrived = state.recent.some(
        (seen) => rule.expect.includes(seen.type) && seen.at >= from && seen.at <= timer.checkAt,
      );
      if (!arrived) {
        out.alerts.push(
          derivedAlert(rule, out, {
            key: `visit:${timer.key}`,
            evidence: [],
            thresholds: { toleranceS, visitAt: formatHhmm(visitAt, tz) },
            detail: `visit due at ${formatWhen(visitAt, tz, timer.checkAt)}`,
            expected: `${rule.expect.join(' or ')} between ${formatHhmm(from, tz)} and ${formatHhmm(timer.checkAt, tz)}`,
            seen: 'none',
            decidedAt: timer.dueAt,
          }),
        );
      }
      return reschedule(rule, state, out, timer.checkAt);
    }
    default:
      return assertNever(window);
  }
}

function lastOf(recent: readonly RecentEvent[], types: readonly EventType[], before: number) {
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.at <= before && types.includes(seen.type)) return seen;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Recurring checks: wake-up windows, carer visits, the hourly routine check

type Recurring = AbsenceRule | RoutineRule | RhythmRule;

function isRecurring(rule: Rule): rule is Recurring {
  return (
    rule.kind === 'routine' ||
    rule.kind === 'rhythm' ||
    (rule.kind === 'absence' && (rule.window.kind === 'wake-up' || rule.window.kind === 'visit'))
  );
}

/** The first check of a recurring rule after `after`: when, and its schedule key. */
function nextCheck(
  rule: Recurring,
  out: Output,
  after: number,
  state: ResidentState,
): { checkAt: number; key: string } | undefined {
  const s = out.settings;
  if (rule.kind === 'routine') {
    const checkAt = (Math.floor(after / 3_600_000) + 1) * 3_600_000;
    return { checkAt, key: String(checkAt) };
  }
  const today = localTime(after, s.timeZone).date;
  if (rule.kind === 'rhythm') {
    const minute = wakeCheckMinute(rule, state.rhythms?.[rule.id], s);
    for (const date of [today, addDays(today, 1)]) {
      const checkAt = zonedInstant(date, minute, s.timeZone);
      if (checkAt > after) return { checkAt, key: `wake:${date}` };
    }
    return undefined;
  }
  if (rule.window.kind === 'wake-up') {
    for (const date of [today, addDays(today, 1)]) {
      const checkAt = zonedInstant(date, s.wakeTo, s.timeZone);
      if (checkAt > after) return { checkAt, key: date };
    }
    return undefined;
  }
  if (rule.window.kind === 'visit') {
    const toleranceS = s.thresholds[rule.id]?.withinS ?? rule.window.toleranceS;
    for (const date of [today, addDays(today, 1)]) {
      for (const visit of s.visits) {
        const visitAt = zonedInstant(date, minuteOf(visit), s.timeZone);
        const checkAt = visitAt + toleranceS * 1000;
        if (checkAt > after) return { checkAt, key: `${date}T${visit}@${visitAt}` };
      }
    }
  }
  return undefined;
}

function reschedule(rule: Recurring, state: ResidentState, out: Output, after: number): ResidentState {
  const next = nextCheck(rule, out, after, state);
  if (!next) return state;
  // Schedule keys (a date, an hour, a visit) are the same for every resident: the id names the
  // resident so that one resident's check never replaces another's in the timer store.
  out.setTimer(rule, next.checkAt, { id: `${rule.id}:${out.residentId}:${next.key}`, key: next.key });
  return { ...state, scheduled: { ...state.scheduled, [rule.id]: next.checkAt } };
}

/** Starts each recurring rule's chain of checks once; each tick schedules the next. */
function ensureSchedules(state: ResidentState, out: Output, now: number): ResidentState {
  let next = state;
  for (const rule of planOf(out.ruleSet).recurring) {
    if (next.scheduled[rule.id] !== undefined || out.settings.disabled.has(rule.id)) continue;
    // A resident with no visits in their care package has nothing to check.
    if (rule.kind === 'absence' && rule.window.kind === 'visit' && out.settings.visits.length === 0) continue;
    next = reschedule(rule, next, out, now);
  }
  return next;
}

// ---------------------------------------------------------------------------------------------
// Correlation

function cancelWindowS(rule: CorrelationRule, out: Output): number {
  const pattern = rule.pattern;
  const own = out.settings.thresholds[rule.id]?.withinS;
  if (pattern.kind !== 'cancel') return own ?? 0;
  return own ?? out.settings.preAlarmCancelS ?? pattern.withinS;
}

/** The trigger alert ids an alarm event belongs to (to close them): a merged press, its group's. */
function alarmAlertIds(out: Output, recent: readonly RecentEvent[], alarm: RecentEvent): string[] {
  const ids: string[] = [];
  for (const rule of out.ruleSet.rules) {
    if (rule.kind !== 'trigger' || !rule.on.includes(alarm.type)) continue;
    if (rule.mergeWithinS === undefined) {
      ids.push(alertIdFor(rule.id, out.residentId, alarm.id));
      continue;
    }
    const i = indexOf(recent, alarm);
    const anchor =
      recent[i]?.id === alarm.id ? anchorOf(pressGroups(rule, alarm.testMode, out), recent, i).anchor : alarm;
    ids.push(groupAlertId(rule, out.residentId, anchor));
  }
  return ids;
}

function closeAlarm(
  rule: CorrelationRule,
  out: Output,
  recent: readonly RecentEvent[],
  alarm: RecentEvent,
  closing: RecentEvent,
  outcome: 'false-alarm' | 'restored',
  thresholds: Alert['thresholds'],
) {
  for (const alertId of alarmAlertIds(out, recent, alarm)) {
    const key = `${alertId}:${closing.id}`;
    // Two presses of one group closed by one cancel close its alert once.
    if (out.alerts.some((alert) => alert.closes?.alertId === alertId && alert.evidence.includes(closing.id)))
      continue;
    out.alerts.push(
      derivedAlert(rule, out, {
        key,
        evidence: [alarm, closing],
        thresholds,
        detail:
          outcome === 'false-alarm'
            ? `cancelled by the resident ${Math.round((closing.at - alarm.at) / 1000)} s after the alarm: recorded as a false alarm`
            : `${TAXONOMY[closing.type].description.toLowerCase()} at ${formatHhmm(closing.at, out.settings.timeZone)}`,
        decidedAt: Math.max(alarm.at, closing.at),
        type: closing.type,
        priority: 5,
        closes: { alertId, outcome },
      }),
    );
  }
}

function correlationOnEvent(
  rule: CorrelationRule,
  entry: RecentEvent,
  recent: readonly RecentEvent[],
  out: Output,
) {
  const pattern = rule.pattern;
  switch (pattern.kind) {
    case 'then-absent':
      if (pattern.first.includes(entry.type) && (!pattern.atNight || atNight(entry.at, out.settings))) {
        const withinS = out.settings.thresholds[rule.id]?.withinS ?? pattern.withinS;
        out.setTimer(rule, entry.at + withinS * 1000, { id: `${rule.id}:${entry.id}`, eventId: entry.id });
      }
      return;
    case 'cancel': {
      // Symmetric on purpose: whichever of alarm and cancel arrives second closes the pair.
      const windowMs = cancelWindowS(rule, out) * 1000;
      const thresholds = { preAlarmCancelS: windowMs / 1000 };
      if (pattern.cancel.includes(entry.type)) {
        for (const alarm of recent)
          if (pattern.alarm.includes(alarm.type) && alarm.at <= entry.at && entry.at - alarm.at <= windowMs)
            closeAlarm(rule, out, recent, alarm, entry, 'false-alarm', thresholds);
      } else if (pattern.alarm.includes(entry.type)) {
        for (const cancel of recent)
          if (
            pattern.cancel.includes(cancel.type) &&
            cancel.at >= entry.at &&
            cancel.at - entry.at <= windowMs
          )
            closeAlarm(rule, out, recent, entry, cancel, 'false-alarm', thresholds);
      }
      return;
    }
    case 'restore': {
      // Each restore clears the latest alarm of its type from the same device before it; checked
      // from both sides so that the pair is found whichever arrives second.
      if (pattern.on.includes(entry.type)) {
        const alarm = pairedAlarm(recent, entry);
        if (alarm) closeAlarm(rule, out, recent, alarm, entry, 'restored', {});
      } else {
        for (const restore of recent)
          if (
            pattern.on.includes(restore.type) &&
            restore.serial === entry.serial &&
            restoredType(restore.type) === entry.type &&
            pairedAlarm(recent, restore) === entry
          )
            closeAlarm(rule, out, recent, entry, restore, 'restored', {});
      }
      return;
    }
    default:
      assertNever(pattern);
  }
}

const restoredType = (type: EventType): string | undefined =>
  (TAXONOMY[type] as { restores?: string }).restores;

/** The alarm a restore clears: the latest one of its type from the same device, not after it. */
function pairedAlarm(recent: readonly RecentEvent[], restore: RecentEvent): RecentEvent | undefined {
  const type = restoredType(restore.type);
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.type === type && seen.serial === restore.serial && byTimeThenId(seen, restore) < 0) return seen;
  }
  return undefined;
}

function correlationOnTick(rule: CorrelationRule, timer: Timer, recent: readonly RecentEvent[], out: Output) {
  const pattern = rule.pattern;
  if (pattern.kind !== 'then-absent') return;
  const first = recent.find((seen) => seen.id === timer.eventId);
  if (!first) return;
  if (
    recent.some(
      (seen) => pattern.absent.includes(seen.type) && seen.at > first.at && seen.at <= timer.checkAt,
    )
  )
    return;
  // Each state must have ended before the first event (or never be seen): its ending is evidence.
  const ended: RecentEvent[] = [];
  for (const state of pattern.notDuring) {
    const latest = latestOf(recent, [...state.starts, ...state.ends], first);
    if (latest && state.starts.includes(latest.type)) return;
    if (latest) ended.push(latest);
  }
  const tz = out.settings.timeZone;
  const withinS = Math.round((timer.checkAt - first.at) / 1000);
  const before = ended.map(
    (seen) =>
      `${TAXONOMY[seen.type].description.toLowerCase()} at ${formatAlso(seen.at, tz, first.at, timer.checkAt)}`,
  );
  out.alerts.push(
    derivedAlert(rule, out, {
      key: first.id,
      evidence: [first, ...ended],
      thresholds: pattern.atNight ? { withinS, atNight: true } : { withinS },
      detail: `${TAXONOMY[first.type].description.toLowerCase()} at ${formatWhen(first.at, tz, timer.checkAt)}, then no ${pattern.absent.join(' or ')} for ${minutes(withinS * 1000)}${before.length > 0 ? `; before it: ${before.join(', ')}` : ''}`,
      decidedAt: timer.dueAt,
    }),
  );
}

/** The latest event of these types not after `event` (by time, then id), other than itself. */
function latestOf(
  recent: readonly RecentEvent[],
  types: readonly EventType[],
  event: RecentEvent,
): RecentEvent | undefined {
  for (let i = indexOf(recent, event) - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (types.includes(seen.type)) return seen;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Learned routine

/** Days the baseline remembers: older days fade so the routine follows the person. */
const ROUTINE_DAYS = 28;

function learn(
  rule: RoutineRule,
  state: ResidentState,
  entry: RecentEvent,
  s: ResidentSettings,
): ResidentState {
  const local = localTime(entry.at, s.timeZone);
  const bit = 1 << Math.floor(local.minute / 60);
  let routine: Routine = state.routines[rule.id] ?? {
    day: local.date,
    today: 0,
    days: 0,
    active: new Array(24).fill(0),
  };
  const latest = withLatest(routine, entry);
  if (local.date < routine.day) return latest === routine ? state : withRoutine(state, rule, latest);
  routine = latest;
  if (local.date > routine.day) routine = rollOver(routine, local.date);
  if (routine.today & bit)
    return routine === state.routines[rule.id] ? state : withRoutine(state, rule, routine);
  return withRoutine(state, rule, { ...routine, today: routine.today | bit });
}

/** The routine with the activity among its latest two, if it is one of them. */
function withLatest(routine: Routine, entry: RecentEvent): Routine {
  const { last, prior } = routine;
  if (!last || byTimeThenId(last, entry) < 0) {
    const next: Routine = { ...routine, last: entry };
    if (last) next.prior = last;
    return next;
  }
  if (last.id !== entry.id && (!prior || byTimeThenId(prior, entry) < 0)) return { ...routine, prior: entry };
  return routine;
}

/**
 * The last activity at or before `at`: from `recent` when it still holds one, else the latest
 * two the routine keeps, whichever is later — never a stretch named by an activity it forgot.
 */
function lastActivity(rule: RoutineRule, state: ResidentState, routine: Routine, at: number) {
  let last = lastOf(state.recent, rule.activity, at);
  for (const kept of [routine.last, routine.prior])
    if (kept && kept.at <= at && (!last || byTimeThenId(last, kept) < 0)) last = kept;
  return last;
}

function rollOver(routine: Routine, day: string): Routine {
  const fade = routine.days >= ROUTINE_DAYS ? (ROUTINE_DAYS - 1) / ROUTINE_DAYS : 1;
  const active = routine.active.map((count, hour) => count * fade + ((routine.today >> hour) & 1));
  const next: Routine = { day, today: 0, days: Math.min(ROUTINE_DAYS, routine.days + 1), active };
  // A stretch of inactivity goes on across midnight.
  if (routine.raised !== undefined) next.raised = routine.raised;
  if (routine.last) next.last = routine.last;
  if (routine.prior) next.prior = routine.prior;
  return next;
}

function withRoutine(state: ResidentState, rule: RoutineRule, routine: Routine): ResidentState {
  return { ...state, routines: { ...state.routines, [rule.id]: routine } };
}

function routineOnTick(rule: RoutineRule, timer: Timer, state: ResidentState, out: Output): ResidentState {
  let next = state;
  const s = out.settings;
  const hourEnd = timer.checkAt;
  const hourStart = hourEnd - 3_600_000;
  const local = localTime(hourStart, s.timeZone);
  const hour = Math.floor(local.minute / 60);
  const routine = state.routines[rule.id];
  const quiet = inSpan(local.minute, s.quietFrom, s.quietTo);
  if (routine && !quiet && routine.days >= rule.minDays) {
    const share = (routine.active[hour] ?? 0) / routine.days;
    // The latest activity before the hour's end: in the hour, or the last of the stretch that
    // missed it. Not from `recent` alone, which heartbeats can flood.
    const latest = share >= rule.expectShare ? lastActivity(rule, state, routine, hourEnd - 1) : undefined;
    const seenInHour = latest !== undefined && latest.at >= hourStart;
    const last = seenInHour ? undefined : latest;
    // One alert per stretch of inactivity, however many usual and unusual hours (or nights) it
    // crosses: the stretch is named by its last activity, and the state remembers the one raised.
    // The routine keeps its latest activities itself, so a stretch is never mistaken for an older
    // one because heartbeats or age pushed its last activity out of `recent`.
    const stretch = last?.id ?? '';
    if (share >= rule.expectShare && !seenInHour && stretch !== routine.raised) {
      const span = `${formatHhmm(hourStart, s.timeZone)}–${formatHhmm(hourEnd, s.timeZone)}`;
      out.alerts.push(
        derivedAlert(rule, out, {
          // Keyed on the stretch (the last activity), so a re-check can only repeat the same alert.
          key: last ? `since:${last.id}` : `${local.date}:${hour}`,
          evidence: last ? [last] : [],
          thresholds: {
            expectShare: rule.expectShare,
            minDays: rule.minDays,
            share: Math.round(share * 100) / 100,
          },
          detail: last
            ? `no activity since ${formatWhen(last.at, s.timeZone, hourEnd)}, ${TAXONOMY[last.type].description.toLowerCase()} (${deviceValues(last).device})`
            : 'no activity recorded',
          expected: `activity ${span}: the resident was active then on ${Math.round(share * routine.days)} of the last ${routine.days} days`,
          seen: 'none',
          decidedAt: timer.dueAt,
        }),
      );
      next = withRoutine(state, rule, { ...routine, raised: stretch });
    }
  }
  return reschedule(rule, next, out, hourEnd);
}

// ---------------------------------------------------------------------------------------------
// Learned rhythm: silences, getting up and outings, each person's own

const PLACE_TEXT = {
  home: 'at home, up and about',
  chair: 'in the chair',
  bed: 'in bed',
  out: 'out',
} as const;

const hhmmOf = (minute: number): string =>
  `${String(Math.floor(minute / 60) % 24).padStart(2, '0')}:${String(Math.round(minute) % 60).padStart(2, '0')}`;

/**
 * When the wake-up check for `date` runs: the latest learned get-up plus the margin, else the care
 * plan's window; after a night later than usual (bed after the median bedtime learned), later by
 * half of how late, up to 90 min; never after the care plan's hard latest time.
 */
function wakeCheckMinute(
  rule: RhythmRule,
  rhythm: Rhythm | undefined,
  s: ResidentSettings,
  date?: string,
): number {
  const ups = getUps(rule, rhythm);
  const known = rhythm?.up.filter((m) => m >= 0) ?? [];
  const learned = known.length > 0 ? Math.round(Math.max(...known) + rule.wakeMarginS / 60) : 0;
  // While learning, the care plan's window stands, moved later by any later morning seen.
  let minute = ups ? learned : Math.max(s.wakeTo, learned);
  if (ups && date !== undefined && rhythm) minute += lateNightMinutes(rule, rhythm, date, s.timeZone);
  return Math.min(23 * 60, s.wakeLatest ?? 23 * 60, minute);
}

/** How much later the morning of `date` may be after the night before it was a late one. */
function lateNightMinutes(rule: RhythmRule, rhythm: Rhythm, date: string, timeZone: string): number {
  const bedAt = rhythm.bedAt;
  const usual = usualBedMinute(rule, rhythm);
  if (bedAt === undefined || usual === undefined) return 0;
  const night = localTime(bedAt, timeZone);
  const fromNoon = (night.minute + 720) % 1440;
  // Only the night before this morning: in bed from the evening before until 04:00.
  const evening = night.date === addDays(date, -1) && night.minute >= 12 * 60;
  const small = night.date === date && night.minute < 4 * 60;
  if (!evening && !small) return 0;
  return Math.round(Math.min(90, Math.max(0, (fromNoon - usual) / 2)));
}

function withRhythm(state: ResidentState, rule: RhythmRule, rhythm: Rhythm): ResidentState {
  return { ...state, rhythms: { ...state.rhythms, [rule.id]: rhythm } };
}

/** The start of the resident's next night (or now, when it is night already). */
function nightFrom(at: number, s: ResidentSettings): number {
  const local = localTime(at, s.timeZone);
  if (inSpan(local.minute, s.quietFrom, s.quietTo)) return at;
  const today = zonedInstant(local.date, s.quietFrom, s.timeZone);
  return today >= at ? today : zonedInstant(addDays(local.date, 1), s.quietFrom, s.timeZone);
}

function withoutCheck(rhythm: Rhythm): Rhythm {
  const { checkAt: _check, ...rest } = rhythm;
  return rest;
}

const rhythmTimerId = (rule: RhythmRule, out: Output, event: RecentEvent): string =>
  `${rule.id}:${out.residentId}:${event.id}`;

/**
 * One silence check per latest activity, its timer named by that activity. A newer activity
 * before that check makes it moot (cancelled), as a heartbeat does a supervision check; one after
 * it leaves it to fire, so the alert never depends on whether the newer event came before the tick.
 */
function rhythmOnEvent(
  rule: RhythmRule,
  entry: RecentEvent,
  state: ResidentState,
  out: Output,
): ResidentState {
  const before = state.rhythms?.[rule.id];
  let rhythm = learnRhythm(before, entry, out.settings.timeZone);
  if (rhythm === before) return state;
  const last = rhythm.last as RecentEvent;
  const previous = before?.last;
  if (previous && previous.id !== last.id && before?.checkAt !== undefined && last.at <= before.checkAt)
    out.timers.push({ op: 'cancel', id: rhythmTimerId(rule, out, previous) });
  // `rhythm` is the new object learnRhythm built for this event: it takes its check in place.
  if (rhythm.place === 'bed') {
    out.timers.push({ op: 'cancel', id: rhythmTimerId(rule, out, last) });
    if (rhythm.checkAt !== undefined) rhythm = withoutCheck(rhythm);
  } else {
    let checkAt: number;
    if (rhythm.place === 'out') {
      const usual = last.at + outLimit(rule, rhythm, last.at, out.settings.timeZone).ms;
      const night = Math.max(
        nightFrom(last.at, out.settings) + rule.nightReturnS * 1000,
        last.at + 1_800_000,
      );
      checkAt = Math.min(usual, night);
    } else checkAt = last.at + gapLimit(rule, rhythm, rhythm.place, last.at, out.settings.timeZone).ms;
    out.setTimer(rule, checkAt, { id: rhythmTimerId(rule, out, last), eventId: last.id, key: rhythm.place });
    rhythm.checkAt = checkAt;
  }
  return withRhythm(state, rule, rhythm);
}

function rhythmOnTick(rule: RhythmRule, timer: Timer, state: ResidentState, out: Output): ResidentState {
  const rhythm = state.rhythms?.[rule.id];
  const tz = out.settings.timeZone;
  if (timer.key?.startsWith('wake:')) {
    // Set a day ahead: a later morning learned since then moves today's check later.
    const date = timer.key.slice(5);
    const due = zonedInstant(date, wakeCheckMinute(rule, rhythm, out.settings, date), tz);
    if (due > timer.checkAt) {
      out.setTimer(rule, due, { id: timer.id, key: timer.key });
      return { ...state, scheduled: { ...state.scheduled, [rule.id]: due } };
    }
    wakeUpCheck(rule, timer, state, rhythm, out);
    return reschedule(rule, state, out, timer.checkAt);
  }
  if (!rhythm?.last) return state;
  // The latest activity by the check: still the one the check follows, or the silence ended.
  const last =
    rhythm.last.at <= timer.checkAt ? rhythm.last : lastOf(state.recent, rule.activity, timer.checkAt);
  if (!last || last.id !== timer.eventId) return state;
  const place = timer.key === 'out' ? 'out' : timer.key === 'chair' ? 'chair' : 'home';
  const silentFor = minutes(timer.checkAt - last.at);
  if (place === 'out') {
    const limit = outLimit(rule, rhythm, last.at, tz);
    const night = formatHhmm(nightFrom(last.at, out.settings) + rule.nightReturnS * 1000, tz);
    out.alerts.push(
      derivedAlert(rule, out, {
        key: `out:${last.id}`,
        evidence: [last],
        thresholds: { outForS: Math.round((timer.checkAt - last.at) / 1000), learned: limit.learned },
        detail: `out of the front door at ${formatWhen(last.at, tz, timer.checkAt)} (${deviceValues(last).device}) and nothing at home since`,
        expected:
          limit.usualBackMinute !== undefined
            ? `back by ${hhmmOf(limit.usualBackMinute)}, the latest they came home from going out at this time of day on the last ${rhythm.days} days (their longest outing ${limit.longestMin} min), or by ${night} at night`
            : limit.learned
              ? `back within ${limit.longestMin} min, the longest outing of the last ${rhythm.days} days, or by ${night} at night`
              : `back within ${minutes(limit.ms)} or by ${night} at night`,
        seen: `not back after ${silentFor}`,
        decidedAt: timer.dueAt,
        type: 'outing.not-returned',
      }),
    );
    return state;
  }
  const limit = gapLimit(rule, rhythm, place, last.at, tz);
  out.alerts.push(
    derivedAlert(rule, out, {
      key: `since:${last.id}`,
      evidence: [last],
      thresholds: { silentForS: Math.round((timer.checkAt - last.at) / 1000), learned: limit.learned },
      detail: `no movement since ${formatWhen(last.at, tz, timer.checkAt)}, ${TAXONOMY[last.type].description.toLowerCase()} (${deviceValues(last).device}); ${PLACE_TEXT[place]}`,
      expected: limit.learned
        ? `active again within ${limit.longestMin} min, as on each of the last ${limit.days} days at this time ${PLACE_TEXT[place]}`
        : `active again within ${minutes(limit.ms)} (${limit.days} of ${rule.minDays} days learned)`,
      seen: `nothing for ${silentFor}`,
      decidedAt: timer.dueAt,
      type: 'inactivity.unusual',
    }),
  );
  return state;
}

function wakeUpCheck(
  rule: RhythmRule,
  timer: Timer,
  state: ResidentState,
  rhythm: Rhythm | undefined,
  out: Output,
): void {
  const s = out.settings;
  const tz = s.timeZone;
  const date = timer.key?.slice(5) ?? '';
  const ups = getUps(rule, rhythm);
  const last = rhythm?.last;
  let up: boolean;
  if (ups) {
    // Seen getting up today, or about (or out) since early morning and not back in bed.
    const dayStart = zonedInstant(date, 4 * 60, tz);
    up = rhythm?.upOn === date || (rhythm?.place !== 'bed' && last !== undefined && last.at >= dayStart);
  } else {
    const from = zonedInstant(date, s.wakeFrom, tz);
    up = state.recent.some(
      (seen) =>
        rule.activity.includes(seen.type) &&
        seen.type !== 'bed.occupied' &&
        seen.at >= from &&
        seen.at <= timer.checkAt,
    );
  }
  if (up) return;
  const inBed = rhythm?.place === 'bed' && rhythm.bedAt !== undefined;
  const bedAt = rhythm?.bedAt ?? 0;
  const detail = inBed
    ? rhythm?.upInNight
      ? `in bed since ${formatWhen(bedAt, tz, timer.checkAt)}, up in the night only: not up by ${formatHhmm(timer.checkAt, tz)}`
      : `went to bed at ${formatWhen(bedAt, tz, timer.checkAt)} and nothing has moved since: not up by ${formatHhmm(timer.checkAt, tz)}`
    : last
      ? `no movement since ${formatWhen(last.at, tz, timer.checkAt)}: not up by ${formatHhmm(timer.checkAt, tz)}`
      : `no movement recorded: not up by ${formatHhmm(timer.checkAt, tz)}`;
  const sorted = ups ? [...ups].sort((a, b) => a - b) : [];
  out.alerts.push(
    derivedAlert(rule, out, {
      key: `wake-up:${date}`,
      evidence: last ? [last] : [],
      fallbackEvidence: `wake-up:${date}`,
      thresholds: ups
        ? {
            wakeUpBy: formatHhmm(timer.checkAt, tz),
            learnedLatest: hhmmOf(sorted.at(-1) ?? 0),
            mornings: ups.length,
            inBed,
          }
        : { wakeUpFrom: hhmmOf(s.wakeFrom), wakeUpTo: hhmmOf(s.wakeTo), inBed },
      detail,
      expected: ups
        ? `up by ${hhmmOf(sorted.at(-1) ?? 0)}, as on each of the ${ups.length} mornings learned (usually ${hhmmOf(sorted[Math.floor(sorted.length / 2)] ?? 0)})`
        : `movement by ${formatHhmm(timer.checkAt, tz)} (care plan ${hhmmOf(s.wakeFrom)}–${hhmmOf(s.wakeTo)}, later by any later morning seen; ${rhythm?.up.filter((m) => m >= 0).length ?? 0} of ${rule.minDays} mornings learned)`,
      seen: inBed ? 'still in bed' : 'none',
      decidedAt: timer.dueAt,
      type: 'inactivity.no-wake',
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Recent events

export function toRecent(event: TelecareEvent): RecentEvent {
  const celsius = event.type === 'temperature' ? event.data.celsius : undefined;
  const doseId = event.type.startsWith('medication.') ? event.data.doseId : undefined;
  // Built field by field rather than with spreads: this runs once per event.
  const entry: { -readonly [K in keyof RecentEvent]: RecentEvent[K] } = {
    id: event.id,
    type: event.type,
    at: parseEventTime(event.time),
    serial: event.subject,
    deviceKind: event.devicekind,
    testMode: event.testmode,
  };
  if (event.location !== undefined) entry.location = event.location;
  if (typeof celsius === 'number') entry.celsius = celsius;
  if (typeof doseId === 'string') entry.doseId = doseId;
  return entry;
}

export const byTimeThenId = (a: RecentEvent, b: RecentEvent): number =>
  a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Position of an entry in the sorted list (binary search on (at, id)). */
function indexOf(recent: readonly RecentEvent[], entry: RecentEvent): number {
  let lo = 0;
  let hi = recent.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (byTimeThenId(recent[mid] as RecentEvent, entry) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function hasEvent(recent: readonly RecentEvent[], entry: RecentEvent): boolean {
  // The id is derived from the device's own event id, and the device resends the same time with
  // it, so (time, id) finds a redelivery.
  return recent[indexOf(recent, entry)]?.id === entry.id;
}

/** How long a silent device is remembered (its supervision is in the state until then). */
const KEEP_DEVICES_MS = 30 * 86_400_000;

/** Whether some recurring rule has not started its chain of checks for this resident yet. */
function unscheduled(plan: Plan, state: ResidentState): boolean {
  for (const rule of plan.recurring) if (state.scheduled[rule.id] === undefined) return true;
  return false;
}

/**
 * Whether the id is among those taken. A plain loop, not `includes`: `includes` hands each
 * comparison of a string that is not flat (an id built by concatenation, as generated events'
 * are) to the runtime, eight calls per event that cost more than the rest of a quiet event;
 * `===` compares them in place.
 */
function taken(seen: readonly string[], id: string): boolean {
  for (let i = 0; i < seen.length; i++) if (seen[i] === id) return true;
  return false;
}

/** The last `keepSeen` ids taken, this one newest: a copy of at most `keepSeen` references. */
function seenWith(old: readonly string[], id: string, keepSeen: number): string[] {
  // Allocated at its final size and filled: a slice and a push would allocate twice.
  const size = old.length < keepSeen ? old.length + 1 : keepSeen;
  const from = old.length + 1 - size;
  const seen = new Array<string>(size);
  for (let i = 0; i < size - 1; i++) seen[i] = old[from + i] as string;
  seen[size - 1] = id;
  return seen;
}

/** First index whose event is at or after `at` (the list is sorted by time). */
function firstAtOrAfter(recent: readonly RecentEvent[], at: number): number {
  let lo = 0;
  let hi = recent.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((recent[mid] as RecentEvent).at < at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Adds the event to the resident's recent events, kept sorted by (time, id) and bounded by count
 * and age, so the result does not depend on arrival order. The list is sorted by time, so what is
 * past the horizon or beyond the count is a prefix: one slice copies what stays (a block copy),
 * and the event goes in by binary search — at the end, for an event in order.
 */
function remember(
  state: ResidentState,
  entry: RecentEvent,
  kept: boolean,
  now: number,
  ruleSet: RuleSet,
): ResidentState {
  const { keepEvents, keepEventsForS, keepSeen } = ruleSet.settings;
  const seen = seenWith(state.seen, entry.id, keepSeen);
  if (!kept)
    return withRhythms(
      {
        v: state.v,
        residentId: state.residentId,
        recent: state.recent,
        seen,
        devices: state.devices,
        scheduled: state.scheduled,
        routines: state.routines,
        forgottenUntil: state.forgottenUntil,
      },
      state,
    );
  const before = state.recent;
  const horizon = now - keepEventsForS * 1000;
  const start = firstAtOrAfter(before, horizon);
  let recent: RecentEvent[];
  // What goes: before[0..cut), and the event itself when it is too old or beyond the count.
  let cut: number;
  let dropped = true;
  if (entry.at < horizon) {
    // Too old to keep (it is in `seen`): only the prefix past the horizon or the count goes.
    cut = start + Math.max(0, before.length - start - keepEvents);
    recent = before.slice(cut);
  } else {
    const at = indexOf(before, entry);
    // The list would be before[start..at) + entry + before[at..]; the oldest beyond the count go.
    const excess = Math.max(0, before.length - start + 1 - keepEvents);
    if (at - start < excess) {
      cut = start + excess - 1;
      recent = before.slice(cut);
    } else {
      cut = start + excess;
      dropped = false;
      recent = before.slice(cut);
      if (at === before.length) recent.push(entry);
      else recent.splice(at - start - excess, 0, entry);
    }
  }
  if (!dropped && planOf(ruleSet).beatsOnly.has(entry.type)) recent = pruneBeats(recent, entry, ruleSet);
  let forgottenUntil = state.forgottenUntil;
  if (cut > 0) forgottenUntil = Math.max(forgottenUntil ?? -Infinity, (before[cut - 1] as RecentEvent).at);
  if (dropped) forgottenUntil = Math.max(forgottenUntil ?? -Infinity, entry.at);
  return withRhythms(
    {
      v: state.v,
      residentId: state.residentId,
      recent,
      seen,
      devices: state.devices,
      scheduled: state.scheduled,
      routines: state.routines,
      forgottenUntil,
    },
    state,
  );
}

/** A device's beats kept in `recent`: its latest, and the one before for a beat that came late. */
const KEEP_BEATS = 2;

/**
 * Drops the device's beats older than its last `KEEP_BEATS` (of the types only supervision reads).
 * A beat's check is cancelled by the next beat within its interval, so only the latest beats'
 * checks can still fire; two thirds of a home's `recent` were heartbeats before.
 */
function pruneBeats(recent: RecentEvent[], entry: RecentEvent, ruleSet: RuleSet): RecentEvent[] {
  const beats = planOf(ruleSet).beatsOnly;
  let newer = 0;
  let drop = -1;
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    if (seen.serial !== entry.serial || !beats.has(seen.type)) continue;
    if (++newer > KEEP_BEATS) {
      drop = i;
      break;
    }
  }
  if (drop < 0) return recent;
  // At most one beat goes per beat taken, as the list stays at KEEP_BEATS per device. `recent` is
  // the copy `remember` just made, so it loses the beat in place.
  recent.splice(drop, 1);
  return recent;
}

function withRhythms(next: ResidentState, state: ResidentState): ResidentState {
  if (state.rhythms) next.rhythms = state.rhythms;
  return next;
}

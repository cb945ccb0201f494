/**
 * What a rule set asks of each event type, worked out once per rule set: which rules it concerns,
 * which types are read back, which rules recur.
 */
import { type EventType, TAXONOMY } from '@telecare/contracts';
import type { CorrelationRule, Rule, RuleSet, TriggerRule } from '../model.ts';
import { restoredType } from './correlation.ts';
import { assertNever } from './output.ts';
import { isRecurring, type Recurring } from './schedule.ts';

/** Which rules an event type concerns, and which rules recur: worked out once per rule set. */
export interface Plan {
  readonly byType: ReadonlyMap<EventType, readonly Rule[]>;
  /** Types some rule reads back from `recent`; the others are only deduplicated. */
  readonly history: ReadonlySet<EventType>;
  /**
   * Types only supervision reads back (heartbeats, periodic tests): it needs a device's latest
   * beat and whether one came after it, so `recent` keeps the last `KEEP_BEATS` per device.
   */
  readonly beatsOnly: ReadonlySet<EventType>;
  /**
   * The same types as a list (two, by default): `pruneBeats` asks of each entry it walks, and a
   * comparison with each of a couple of strings in constant use costs less than a hash look-up.
   */
  readonly beatList: readonly EventType[];
  /**
   * Types a merging trigger's groups are read from (its presses, the cancels that end a group): a
   * press or cancel dropped from `recent` makes a group reaching back to it unknown (`forgottenUntil`).
   */
  readonly groupTypes: ReadonlySet<EventType>;
  readonly recurring: readonly Recurring[];
  readonly byId: ReadonlyMap<string, Rule>;
  /** Per merging trigger rule: the cancel rules whose cancel closes its alert (and ends a group). */
  readonly cancels: ReadonlyMap<TriggerRule, readonly CorrelationRule[]>;
  /** Per cancel type: the merging trigger rules whose groups it can end. */
  readonly ends: ReadonlyMap<EventType, readonly TriggerRule[]>;
  /** Per event type, what an event of it asks (the three above): one look-up an event. */
  readonly types: ReadonlyMap<string, TypePlan>;
}

/** What an event of one type asks of the rule set. */
export interface TypePlan {
  readonly rules: readonly Rule[];
  /** Read back from `recent` (`Plan.history`). */
  readonly kept: boolean;
  readonly ends: readonly TriggerRule[] | undefined;
}

/** A type no rule concerns or reads back (or none of the taxonomy's). */
export const NO_TYPE_PLAN: TypePlan = Object.freeze({
  rules: Object.freeze([]),
  kept: false,
  ends: undefined,
});

export const plans = new WeakMap<RuleSet, Plan>();

export function concerns(rule: Rule, type: EventType): boolean {
  switch (rule.kind) {
    case 'trigger':
      return rule.on.includes(type);
    case 'sustained':
      // An end too: it cancels the checks of the starts it ends.
      return 'reading' in rule.condition
        ? type === 'temperature'
        : rule.condition.starts.includes(type) || rule.condition.ends.includes(type);
    case 'absence':
      // A check's expected event too (a dose taken, a carer come): met, the check is told.
      if (rule.window.kind === 'after-event')
        return rule.window.after.includes(type) || rule.expect.includes(type);
      return (
        (rule.window.kind === 'supervision' || rule.window.kind === 'visit') && rule.expect.includes(type)
      );
    case 'correlation': {
      const p = rule.pattern;
      if (p.kind === 'then-absent') return p.first.includes(type);
      if (p.kind === 'cancel') return p.alarm.includes(type) || p.cancel.includes(type);
      return (
        p.on.includes(type) ||
        (p.alarm ? p.alarm.includes(type) : p.on.some((restore) => restoredType(restore) === type))
      );
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
export function beatTypes(ruleSet: RuleSet): Set<EventType> {
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

export function historyTypes(ruleSet: RuleSet): Set<EventType> {
  const types = new Set<EventType>();
  const add = (list: readonly EventType[]) => {
    for (const type of list) types.add(type);
  };
  for (const rule of ruleSet.rules) {
    switch (rule.kind) {
      case 'trigger':
        // Merging and the cancel and restore pairings look back for alarms.
        add(rule.on);
        // A limited rule counts its device's reports, and asks whether the last was restored.
        if (rule.limit !== undefined)
          for (const type of Object.keys(TAXONOMY) as EventType[]) {
            const restores = (TAXONOMY[type] as { restores?: string }).restores;
            if (restores !== undefined && (rule.on as readonly string[]).includes(restores)) add([type]);
          }
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
        else add([...p.on, ...(p.alarm ?? [])]);
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
  if (
    ruleSet.rules.every(
      (rule) => rule.kind === 'trigger' && rule.mergeWithinS === undefined && rule.limit === undefined,
    )
  )
    types.clear();
  return types;
}

/**
 * The rule set asked about last and its plan: an evaluation asks several times, and a stream
 * mostly runs under one rule set, so a comparison of references spares the look-ups in `plans`.
 */
let lastSet: RuleSet | undefined;
let lastPlan: Plan | undefined;

export function planOf(ruleSet: RuleSet): Plan {
  if (ruleSet === lastSet) return lastPlan as Plan;
  const plan = planFor(ruleSet);
  lastSet = ruleSet;
  lastPlan = plan;
  return plan;
}

function planFor(ruleSet: RuleSet): Plan {
  let plan = plans.get(ruleSet);
  if (!plan) {
    const byType = new Map<EventType, Rule[]>();
    for (const type of Object.keys(TAXONOMY) as EventType[]) {
      const rules = ruleSet.rules.filter((rule) => concerns(rule, type));
      if (rules.length > 0) byType.set(type, rules);
    }
    const cancels = new Map<TriggerRule, CorrelationRule[]>();
    const ends = new Map<EventType, TriggerRule[]>();
    const groupTypes = new Set<EventType>();
    for (const rule of ruleSet.rules) {
      if (rule.kind !== 'trigger' || rule.mergeWithinS === undefined) continue;
      for (const type of rule.on) groupTypes.add(type);
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
            groupTypes.add(type);
            const list = ends.get(type) ?? [];
            if (!list.includes(rule)) list.push(rule);
            ends.set(type, list);
          }
    }
    const history = historyTypes(ruleSet);
    const beats = beatTypes(ruleSet);
    const types = new Map<string, TypePlan>();
    for (const type of Object.keys(TAXONOMY) as EventType[])
      types.set(type, {
        rules: byType.get(type) ?? NO_TYPE_PLAN.rules,
        kept: history.has(type),
        ends: ends.get(type),
      });
    plan = {
      byType,
      history,
      types,
      beatsOnly: beats,
      beatList: [...beats],
      groupTypes,
      recurring: ruleSet.rules.filter(isRecurring),
      byId: new Map(ruleSet.rules.map((rule) => [rule.id, rule])),
      cancels,
      ends,
    };
    plans.set(ruleSet, plan);
  }
  return plan;
}

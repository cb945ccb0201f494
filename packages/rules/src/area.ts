import {
  type Alert,
  defaultPriority,
  type EventType,
  TAXONOMY,
  type TelecareEvent,
} from '@telecare/contracts';
import { z } from 'zod';
import { alertId as alertIdFor } from './ids.ts';
import type { AreaRule, RuleSet, Timer } from './model.ts';
import { renderReason } from './reason.ts';
import { formatIso, parseEventTime } from './time.ts';

/**
 * The state of one postcode district for the area rules. Area incidents span residents, so they
 * cannot live in a resident's state: the shell keeps one of these per district and feeds it the
 * events of the area rules' types from every partition, through one consumer, in order.
 */
export const AreaState = z.object({
  v: z.literal(1),
  district: z.string().min(1),
  /** Recent reports, newest last; bounded by the longest area rule window (three windows kept). */
  reports: z.array(
    z.object({ eventId: z.string(), residentId: z.string(), at: z.number(), ruleId: z.string() }),
  ),
  /** Incident alert ids already raised (bounded with the reports). */
  raised: z.array(z.object({ alertId: z.string(), at: z.number() })),
});
export type AreaState = z.infer<typeof AreaState>;

export function initialAreaState(district: string): AreaState {
  return { v: 1, district, reports: [], raised: [] };
}

export interface AreaEvaluation {
  readonly state: AreaState;
  readonly alerts: readonly Alert[];
}

/** The area rules of a rule set, and the event types they read (for the shell's consumer filter). */
const areaRulesCache = new WeakMap<RuleSet, readonly AreaRule[]>();

/**
 * The rule set's area rules, picked out once per rule set: the runner asks for each event that
 * raised an alert, and a pick through every rule reads each rule's kind, of a shape per kind.
 */
export function areaRules(ruleSet: RuleSet): readonly AreaRule[] {
  let rules = areaRulesCache.get(ruleSet);
  if (!rules) {
    rules = ruleSet.rules.filter((rule): rule is AreaRule => rule.kind === 'area');
    areaRulesCache.set(ruleSet, rules);
  }
  return rules;
}

const areaTypesCache = new WeakMap<RuleSet, ReadonlySet<string>>();

/** The event types some area rule reads, worked out once per rule set. */
function areaTypes(ruleSet: RuleSet): ReadonlySet<string> {
  let types = areaTypesCache.get(ruleSet);
  if (!types) {
    types = new Set(areaRules(ruleSet).flatMap((rule) => rule.on));
    areaTypesCache.set(ruleSet, types);
  }
  return types;
}

/**
 * Many homes in one district reporting the same fault within a window of event time become one
 * incident. The windows are aligned to multiples of `withinS`, so the incident and its id do not
 * depend on which home's report arrived first. Pure, like `evaluate`.
 */
export function evaluateArea(
  state: AreaState,
  event: TelecareEvent,
  now: number,
  ruleSet: RuleSet,
): AreaEvaluation {
  // Most events are of no area rule's type: they are told apart without building a list.
  if (event.testmode || !areaTypes(ruleSet).has(event.type)) return { state, alerts: [] };
  const rules = areaRules(ruleSet).filter((rule) => rule.on.includes(event.type));
  if (state.reports.some((report) => report.eventId === event.id)) return { state, alerts: [] };
  const at = parseEventTime(event.time);
  // Three windows: a held per-home alert is decided after its window and the next one began, and
  // looks for the incident of its window and of the one before.
  const keepMs = 3 * Math.max(...areaRules(ruleSet).map((rule) => rule.withinS)) * 1000;
  const horizon = Math.max(now, at) - keepMs;
  const alerts: Alert[] = [];
  let reports = state.reports.filter((report) => report.at >= horizon);
  let raised = state.raised.filter((incident) => incident.at >= horizon);
  for (const rule of rules) {
    reports = [...reports, { eventId: event.id, residentId: event.residentid, at, ruleId: rule.id }];
    const windowMs = rule.withinS * 1000;
    const bucket = Math.floor(at / windowMs);
    const inBucket = reports.filter(
      (report) => report.ruleId === rule.id && Math.floor(report.at / windowMs) === bucket,
    );
    const residents = new Set(inBucket.map((report) => report.residentId));
    const alertId = alertIdFor(rule.id, `area:${state.district}`, String(bucket));
    if (residents.size < rule.minResidents || raised.some((incident) => incident.alertId === alertId))
      continue;
    raised = [...raised, { alertId, at }];
    const priority = rule.priority ?? defaultPriority(rule.type);
    const from = new Date(bucket * windowMs).toISOString().slice(11, 16);
    const to = new Date((bucket + 1) * windowMs).toISOString().slice(11, 16);
    alerts.push({
      id: alertId,
      // An area incident has no one resident; the district stands in its place.
      residentId: `area:${state.district}`,
      priority,
      type: rule.type,
      raisedAt: formatIso(now),
      rule: { id: rule.id, version: rule.version },
      evidence: inBucket.map((report) => report.eventId).sort(),
      thresholds: { minResidents: rule.minResidents, withinS: rule.withinS, district: state.district },
      reason: renderReason(rule.reason, {
        what: TAXONOMY[rule.type].description,
        type: rule.type,
        device: 'several devices',
        kind: 'several',
        location: state.district,
        serial: '-',
        rule: `${rule.id} v${rule.version}`,
        priority: `P${priority}`,
        detail: `${residents.size} homes in ${state.district} reported ${rule.on.join(' or ')} between ${from} and ${to} UTC`,
        expected: '',
        seen: '',
      }),
      late: now - at > ruleSet.settings.lateAfterS * 1000,
      testMode: false,
    });
  }
  // A literal, not a spread with fields then set: that gives each copy a shape of its own.
  return { state: { v: state.v, district: state.district, reports, raised }, alerts };
}

/** Timer ids of the per-home alerts held for an area decision start with this. */
export const AREA_HOLD_PREFIX = 'hold:';

/** The alarm type a restore clears (`mains.restored` → `mains.lost`), if it is one. */
const restoredTypeOf = (type: string): EventType | undefined =>
  (TAXONOMY[type as EventType] as { restores?: EventType } | undefined)?.restores;

export const isAreaHold = (timer: Timer): boolean => timer.id.startsWith(AREA_HOLD_PREFIX);

/** A per-home alert held back until its window is decided, and the timer that decides it. */
export interface AreaHold {
  readonly alert: Alert;
  readonly timer: Timer;
}

/**
 * Splits a resident evaluation's alerts into those that go to ALERTS now and those held for an
 * area decision: a home's own trigger alert for an event an area rule counts (`mains.lost`),
 * from a home with a postcode district, not in test mode. Each held alert gets a timer at the end
 * of the event's aligned window plus `reorderGraceS`, when the district's count for that window is
 * known whichever home reported first. An event with no district cannot join an incident, so its
 * alert is never held. The restore that closes such an alert (`mains.restored`) is held the same
 * way, whichever of the two reached the core first: when the district's incident covers the home,
 * its alert never went out and neither does its restore (a storm's homes would otherwise each send
 * a record to the helpline as the power comes back). Pure.
 */
const triggersCache = new WeakMap<RuleSet, Map<AreaRule, ReadonlySet<string>>>();

/** The ids of the trigger rules on the alarm types an area rule counts: worked out once per rule. */
function countedTriggers(ruleSet: RuleSet, rule: AreaRule): ReadonlySet<string> {
  let perSet = triggersCache.get(ruleSet);
  if (!perSet) {
    perSet = new Map();
    triggersCache.set(ruleSet, perSet);
  }
  let triggers = perSet.get(rule);
  if (!triggers) {
    triggers = new Set(
      ruleSet.rules
        .filter(
          (candidate) => candidate.kind === 'trigger' && candidate.on.some((type) => rule.on.includes(type)),
        )
        .map((candidate) => candidate.id),
    );
    perSet.set(rule, triggers);
  }
  return triggers;
}

export function holdForArea(
  event: TelecareEvent,
  alerts: readonly Alert[],
  ruleSet: RuleSet,
): { pass: Alert[]; held: AreaHold[] } {
  const district = event.postcodedistrict;
  // The alarm type an area rule counts that this event is, or that it restores.
  const restores = restoredTypeOf(event.type);
  const rule = areaRules(ruleSet).find(
    (candidate) =>
      candidate.on.includes(event.type) || (restores !== undefined && candidate.on.includes(restores)),
  );
  if (!rule || !district || event.testmode || alerts.length === 0) return { pass: [...alerts], held: [] };
  const triggers = countedTriggers(ruleSet, rule);
  const counted = (alert: Alert) =>
    triggers.has(alert.rule.id) ||
    (alert.closes !== undefined && rule.on.includes(restoredTypeOf(alert.type) as EventType));
  const windowMs = rule.withinS * 1000;
  const checkAt = (Math.floor(parseEventTime(event.time) / windowMs) + 1) * windowMs;
  const pass: Alert[] = [];
  const held: AreaHold[] = [];
  for (const alert of alerts) {
    if (!counted(alert) || alert.residentId !== event.residentid) {
      pass.push(alert);
      continue;
    }
    held.push({
      alert,
      timer: {
        id: `${AREA_HOLD_PREFIX}${alert.id}`,
        ruleId: rule.id,
        residentId: event.residentid,
        checkAt,
        dueAt: checkAt + ruleSet.settings.reorderGraceS * 1000,
        eventId: event.id,
        eventAt: undefined,
        key: district,
        event: undefined,
      },
    });
  }
  return { pass, held };
}

/**
 * The decision on a held per-home alert once its window has closed: `withhold` when the district
 * raised an area incident for the alert's window or the one before it (an outage that began just
 * before a window edge is still the same outage), naming the incident; `release` otherwise — a
 * lone home, or an area rule no longer in force. Pure: the shell passes the district's state as
 * the area lane left it, after that lane has read every report stored before the timer's due time.
 */
export function decideAreaHold(
  state: AreaState | undefined,
  timer: Timer,
  ruleSet: RuleSet,
): { decision: 'withhold'; incidentId: string } | { decision: 'release' } {
  const rule = areaRules(ruleSet).find((candidate) => candidate.id === timer.ruleId);
  const district = timer.key;
  if (!rule || !district || !state) return { decision: 'release' };
  const bucket = Math.round(timer.checkAt / (rule.withinS * 1000)) - 1;
  for (const candidate of [bucket, bucket - 1]) {
    const incidentId = alertIdFor(rule.id, `area:${district}`, String(candidate));
    if (state.raised.some((incident) => incident.alertId === incidentId))
      return { decision: 'withhold', incidentId };
  }
  return { decision: 'release' };
}

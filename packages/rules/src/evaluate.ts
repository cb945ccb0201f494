import { type Alert, alertIdFor, defaultPriority, TAXONOMY, type TelecareEvent } from '@telecare/contracts';
import type {
  EventInput,
  RecentEvent,
  ResidentState,
  RuleSet,
  RuleSetSettings,
  RulesInput,
  TimerCommand,
  TriggerRule,
} from './model.ts';
import { renderReason } from './reason.ts';

export interface Evaluation {
  /** The next state; the same object as the input state when nothing changed. */
  readonly state: ResidentState;
  readonly alerts: readonly Alert[];
  /** Timers to set or cancel; the shell stores them durably and feeds them back as ticks. */
  readonly timers: readonly TimerCommand[];
}

/** The state belongs to another resident: a bug in the shell, never retried. */
export class ResidentMismatchError extends Error {
  readonly stateResidentId: string;
  readonly eventResidentId: string;
  constructor(stateResidentId: string, eventResidentId: string) {
    super(`state of ${stateResidentId} given an event of ${eventResidentId}`);
    this.name = 'ResidentMismatchError';
    this.stateResidentId = stateResidentId;
    this.eventResidentId = eventResidentId;
  }
}

/**
 * The triage core: `(state, input) → (state, alerts, timers)`. Pure — no I/O, no clock, no
 * randomness — so the same inputs always raise the same alerts, with the same ids.
 */
export function evaluate(state: ResidentState, input: RulesInput, ruleSet: RuleSet): Evaluation {
  switch (input.kind) {
    case 'event':
      return onEvent(state, input, ruleSet);
    default:
      return assertNever(input.kind);
  }
}

function assertNever(kind: never): never {
  throw new TypeError(`unknown input kind ${String(kind)}`);
}

function onEvent(state: ResidentState, input: EventInput, ruleSet: RuleSet): Evaluation {
  const { event, now } = input;
  if (state.residentId !== event.residentid)
    throw new ResidentMismatchError(state.residentId, event.residentid);
  // A redelivered event changes nothing: its alerts were raised the first time. (If it has
  // aged out of `recent`, it alerts again with the same deterministic ids, which collapse downstream.)
  if (state.recent.some((seen) => seen.id === event.id)) return { state, alerts: [], timers: [] };

  const alerts: Alert[] = [];
  for (const rule of ruleSet.rules) {
    switch (rule.kind) {
      case 'trigger':
        if (rule.on.includes(event.type)) alerts.push(triggerAlert(rule, event, now, ruleSet.settings));
        break;
    }
  }
  return { state: remember(state, event, now, ruleSet.settings), alerts, timers: [] };
}

function triggerAlert(
  rule: TriggerRule,
  event: TelecareEvent,
  now: number,
  settings: RuleSetSettings,
): Alert {
  const lateAfterS = rule.lateAfterS ?? settings.lateAfterS;
  const ageMs = now - Date.parse(event.time);
  const late = ageMs > lateAfterS * 1000;
  const priority = rule.priority ?? defaultPriority(event.type);
  const location = event.location?.trim() || undefined;
  const reason = renderReason(rule.reason, {
    what: TAXONOMY[event.type].description,
    type: event.type,
    device: location ? `${event.devicekind} in ${location}` : event.devicekind,
    kind: event.devicekind,
    location: location ?? 'location not recorded',
    serial: event.subject,
    rule: `${rule.id} v${rule.version}`,
    priority: `P${priority}`,
  });
  return {
    id: alertIdFor(rule.id, event.residentid, event.id),
    residentId: event.residentid,
    priority,
    type: event.type,
    raisedAt: new Date(now).toISOString(),
    rule: { id: rule.id, version: rule.version },
    evidence: [event.id],
    thresholds: { lateAfterS },
    reason: late ? `${reason}; late: event time ${describeAge(ageMs)} before triage` : reason,
    late,
    testMode: event.testmode,
    deviceSerial: event.subject,
  };
}

function describeAge(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(ms / 3_600_000);
  return hours < 48 ? `${hours} h` : `${Math.round(ms / 86_400_000)} days`;
}

const byTimeThenId = (a: RecentEvent, b: RecentEvent): number =>
  a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Adds the event to the resident's recent events, kept sorted and bounded by count and age.
 * Sorting by (time, id) makes the result independent of arrival order.
 */
function remember(
  state: ResidentState,
  event: TelecareEvent,
  now: number,
  settings: RuleSetSettings,
): ResidentState {
  const entry: RecentEvent = {
    id: event.id,
    type: event.type,
    at: Date.parse(event.time),
    serial: event.subject,
    deviceKind: event.devicekind,
    testMode: event.testmode,
    ...(event.location === undefined ? {} : { location: event.location }),
  };
  const horizon = now - settings.keepEventsForS * 1000;
  const recent = [...state.recent, entry].filter((seen) => seen.at >= horizon).sort(byTimeThenId);
  return { ...state, recent: recent.slice(Math.max(0, recent.length - settings.keepEvents)) };
}

import {
  type Alert,
  type CaseState,
  type EventType,
  isPress,
  type Priority,
  TAXONOMY,
} from '@telecare/contracts';
import type { AlertTally, ClosedAlerts, RaiserStanding, RaiserTally } from './model.ts';

/** States in which a case is still the helpline's to handle: listed, joinable, escalatable. */
export const OPEN_STATES: readonly CaseState[] = ['queued', 'offered', 'accepted', 'on_hold'];
export const isOpen = (state: CaseState): boolean => OPEN_STATES.includes(state);

export type Action = 'accept' | 'hold' | 'resolve';

/**
 * What an operator may do from which state (DESIGN §6: queued → offered → accepted → on hold →
 * resolved → closed). Anything else is refused with a reason and changes nothing.
 */
export const TRANSITIONS: Readonly<Record<Action, { from: readonly CaseState[]; to: CaseState }>> = {
  accept: { from: ['queued', 'offered', 'on_hold'], to: 'accepted' },
  hold: { from: ['accepted'], to: 'on_hold' },
  resolve: { from: ['accepted', 'on_hold'], to: 'resolved' },
};

export const allowed = (action: Action, state: CaseState): boolean =>
  TRANSITIONS[action].from.includes(state);

/** The sentence an operator reads when a button press is refused. */
export function refusal(action: Action, state: CaseState): string {
  if (action === 'accept' && state === 'accepted') return 'the case is already accepted';
  if (action === 'resolve' && (state === 'queued' || state === 'offered'))
    return 'accept the case before resolving it';
  if (action === 'hold' && state === 'on_hold') return 'the case is already on hold';
  if (state === 'resolved' || state === 'closed') return `the case is already ${state}`;
  return `a case that is ${state.replace('_', ' ')} cannot be ${action === 'hold' ? 'put on hold' : `${action}ed`}`;
}

/** The part of an open case that decides whether an alert joins it. */
export interface OpenCaseSummary {
  readonly priority: Priority;
  readonly lastAlertAt: Date;
}

/**
 * A further alert joins the resident's open case when it was raised within the window of the
 * case's latest alert (either side: a late alert may carry an earlier raise time).
 */
export function joins(open: OpenCaseSummary | undefined, alert: Alert, windowSeconds: number): boolean {
  if (!open) return false;
  const gap = Math.abs(Date.parse(alert.raisedAt) - open.lastAlertAt.getTime());
  return gap <= windowSeconds * 1000;
}

/** A lower number is more urgent; joining never makes a case less urgent. */
export const moreUrgent = (candidate: Priority, current: Priority): boolean => candidate < current;

/** What a closing alert (`closes`) does to the case that holds the alert it closes. */
export type ClosingEffect =
  | { readonly effect: 'resolve'; readonly outcome: 'false-alarm' | 'technical-resolved' }
  | {
      readonly effect: 'note';
      readonly why: 'already-accepted' | 'not-open' | 'other-alerts-open' | 'alarm-restore' | 'fault-repeats';
    };

/** The alert types a restore may clear without an operator: faults of the equipment, not danger in the home. */
export const clearsWithoutOperator = (type: EventType): boolean => {
  const category = TAXONOMY[type].category;
  return category === 'technical' || category === 'maintenance';
};

/**
 * A fault that clears itself is a passing one the first times: the third time one device raises the
 * same fault within seven days (a case each: a fault flapping within one case is one spell of it),
 * it is not passing any more (a movement sensor noisy every afternoon, a home unit unplugged every
 * night, a battery at its threshold) and its restore no longer closes the case: a person sees it
 * and books the installer.
 */
export const FAULT_REPEATS = { times: 3, days: 7 } as const;

/**
 * How often one device raised one fault in the last `days` days, counted in cases (a fault flapping
 * within one case is one spell of it), the case being closed included.
 */
export interface FaultRepeats {
  readonly type: EventType;
  readonly deviceSerial: string;
  readonly times: number;
  readonly days: number;
}

/** Whether a fault came back often enough that its restore no longer closes the case by itself. */
export const faultRepeating = (r: FaultRepeats | undefined): boolean =>
  r !== undefined && clearsWithoutOperator(r.type) && r.times >= FAULT_REPEATS.times;

/** What an operator reads on a case kept because its fault repeats. */
export function faultRepeatsNote(r: FaultRepeats): string {
  const often = `${r.times} times in ${r.days} days: book the installer`;
  if (r.type === 'sensor.noisy') return `${r.deviceSerial} noisy ${often}`;
  return `${r.deviceSerial}: ${TAXONOMY[r.type].description.toLowerCase()} ${often}`;
}

/**
 * Decides whether a case closes itself. Only a case nobody has accepted yet (queued or offered)
 * is resolved, and only when every alert that raised it is closed: by the resident's cancel within
 * the pre-alarm window (a false alarm), or by a restore of a technical or maintenance fault. A
 * restore of smoke, heat, CO, gas or flood is only noted: a detector going quiet does not prove
 * the home is safe, so the operator still calls. Nor is a fault whose device raised it again and
 * again in recent days (`FAULT_REPEATS`): it needs a visit, not one more case closed unseen. Once
 * an operator has accepted a case, nothing closes it but them.
 */
export function closingEffect(
  state: CaseState,
  testMode: boolean,
  /** The case's alerts that raised it (not closing alerts), counted by type and how each stands. */
  raisers: RaiserTally,
  /** How often the device of the alert the restore closes raised that fault lately. */
  repeats?: FaultRepeats,
): ClosingEffect {
  if (testMode || state === 'resolved' || state === 'closed') return { effect: 'note', why: 'not-open' };
  if (state === 'accepted' || state === 'on_hold') return { effect: 'note', why: 'already-accepted' };
  const counted = Object.entries(raisers) as [EventType, RaiserTally[EventType]][];
  if (counted.some(([, n]) => (n?.open ?? 0) > 0)) return { effect: 'note', why: 'other-alerts-open' };
  if (counted.some(([type, n]) => (n?.restored ?? 0) > 0 && !clearsWithoutOperator(type)))
    return { effect: 'note', why: 'alarm-restore' };
  if (faultRepeating(repeats)) return { effect: 'note', why: 'fault-repeats' };
  return {
    effect: 'resolve',
    outcome: counted.some(([, n]) => (n?.['false-alarm'] ?? 0) > 0) ? 'false-alarm' : 'technical-resolved',
  };
}

const NO_RAISERS: Record<RaiserStanding, number> = { open: 0, 'false-alarm': 0, restored: 0 };

/** The tally with `count` raisers of a type moved from one standing to another (from nothing: added). */
export function moveRaisers(
  t: RaiserTally,
  type: EventType,
  from: RaiserStanding | undefined,
  to: RaiserStanding,
  count: number,
): RaiserTally {
  const n = { ...NO_RAISERS, ...t[type] };
  if (from !== undefined) n[from] -= count;
  n[to] += count;
  return { ...t, [type]: n };
}

/** The tally once a closing alert closed what it closes (`closed`, read from the case before it). */
export const raisersClosedBy = (
  t: RaiserTally,
  closed: ClosedAlerts,
  outcome: 'false-alarm' | 'restored',
): RaiserTally => closed.raisers.reduce((acc, r) => moveRaisers(acc, r.type, r.was, outcome, r.count), t);

/** How each raiser of a list of alerts (oldest first) stands: the reference of what the case row keeps. */
function standings(alerts: readonly Alert[]): { alert: Alert; standing: RaiserStanding }[] {
  const closedAs = new Map(alerts.flatMap((a) => (a.closes ? [[a.closes.alertId, a.closes.outcome]] : [])));
  return alerts
    .filter((a) => !a.closes)
    .map((a) => ({
      alert: a,
      // A repeat press is closed with the alert it repeats: the resident's cancel ends the group.
      standing: closedAs.get(a.id) ?? (a.repeats ? closedAs.get(a.repeats.alertId) : undefined) ?? 'open',
    }));
}

/** The raisers of a list of alerts (oldest first), counted. */
export const raisersOf = (alerts: readonly Alert[]): RaiserTally =>
  standings(alerts).reduce<RaiserTally>((t, r) => moveRaisers(t, r.alert.type, undefined, r.standing, 1), {});

/** What a closing alert would close among a case's alerts (oldest first): what the shell reads by index. */
export function closedBy(alerts: readonly Alert[], closing: Alert): ClosedAlerts {
  const target = closing.closes?.alertId;
  const direct = new Set(alerts.flatMap((a) => (a.closes ? [a.closes.alertId] : [])));
  const hit = standings(alerts).filter(
    ({ alert: a }) => a.id === target || (a.repeats?.alertId === target && !direct.has(a.id)),
  );
  const groups = new Map<string, ClosedAlerts['raisers'][number]>();
  for (const { alert: a, standing } of hit) {
    const key = `${a.type}/${standing}`;
    groups.set(key, { type: a.type, was: standing, count: (groups.get(key)?.count ?? 0) + 1 });
  }
  return { type: alerts.find((a) => a.id === target)?.type, raisers: [...groups.values()] };
}

/**
 * How many times the resident pressed (a pendant, a pull-cord, a bogus-caller button) for a case,
 * and when last: each press is one event, whether it raised the case, joined it or came back as a
 * repeat (`repeats`). A press can reach a case twice (a repeat, then its own alert when a late
 * cancel split its group), so presses are counted by their event, not by alert.
 */
export function pressesOf(alerts: readonly Alert[]): { presses: number; lastPressAt: string | null } {
  const { presses, lastPressAt } = tallyOf(alerts);
  return { presses, lastPressAt };
}

/** The press an alert reports (its first evidence, the press event), or undefined when it is no press. */
export const pressKeyOf = (alert: Alert): string | undefined =>
  alert.closes || !isPress(alert.type) ? undefined : (alert.evidence[0] ?? alert.id);

const EMPTY_TALLY: AlertTally = {
  count: 0,
  presses: 0,
  lastPressAt: null,
  lastPressIndex: null,
  raisers: {},
};

/**
 * The tally with one more alert: `counted` when the press it reports is already counted on the
 * case. What the shell keeps on the case row as each alert joins (`tallyOf` of the list); an alert
 * that closes nothing joins its raisers open (one a closing alert of the case already closed is
 * counted as closed only by `tallyOf`, which sees them all).
 */
export function tallyWith(t: AlertTally, alert: Alert, counted: boolean): AlertTally {
  const raisers = alert.closes ? t.raisers : moveRaisers(t.raisers, alert.type, undefined, 'open', 1);
  if (pressKeyOf(alert) === undefined) return { ...t, count: t.count + 1, raisers };
  const at = Date.parse(alert.raisedAt);
  const later = t.lastPressAt === null || at > Date.parse(t.lastPressAt);
  return {
    count: t.count + 1,
    presses: t.presses + (counted ? 0 : 1),
    lastPressAt: later ? new Date(at).toISOString() : t.lastPressAt,
    lastPressIndex: t.count,
    raisers,
  };
}

/** The tally of a case's alerts, oldest first. */
export function tallyOf(alerts: readonly Alert[]): AlertTally {
  const keys = new Set<string>();
  const t = alerts.reduce((t, alert) => {
    const key = pressKeyOf(alert);
    const counted = key !== undefined && keys.has(key);
    if (key !== undefined) keys.add(key);
    return tallyWith(t, alert, counted);
  }, EMPTY_TALLY);
  return { ...t, raisers: raisersOf(alerts) };
}

/**
 * Declared time away: the periods a resident, their family or an operator said they are away
 * (holiday, hospital, respite), and what the rules do with them. While a period holds and no
 * return home has been seen in it, the absence-type rules raise nothing for the resident; alarms,
 * temperatures and device faults always raise. Activity at home after the person was out during
 * the period is a return: the rules resume at once.
 */
import type { AwayPeriod, EventType } from '@telecare/contracts';
import { TAXONOMY } from '@telecare/contracts';
import type { RecentEvent, ResidentState, Rule } from '../model.ts';
import { formatDay, formatHhmm, localTime } from '../time.ts';
import { assertNever, withField } from './output.ts';

/** A period as the rules read it: epoch ms. */
export interface AwayWindow {
  readonly id: string;
  readonly from: number;
  /** Infinity while open-ended. */
  readonly until: number;
  readonly reason: AwayPeriod['reason'];
}

export const NO_AWAY: readonly AwayWindow[] = Object.freeze([]);

/** Events that show the person at home or passing the front door. */
const PRESENCE: ReadonlySet<EventType> = new Set<EventType>([
  'motion',
  'door.opened',
  'door.closed',
  'bed.occupied',
  'bed.vacated',
  'chair.occupied',
  'chair.vacated',
]);

const windowsOf = new WeakMap<readonly AwayPeriod[], readonly AwayWindow[]>();

export function toWindows(periods: readonly AwayPeriod[] | undefined): readonly AwayWindow[] {
  if (!periods || periods.length === 0) return NO_AWAY;
  let windows = windowsOf.get(periods);
  if (!windows) {
    windows = periods
      .map((p) => ({
        id: p.id,
        from: Date.parse(p.from),
        until: p.until === undefined ? Number.POSITIVE_INFINITY : Date.parse(p.until),
        reason: p.reason,
      }))
      .filter((w) => Number.isFinite(w.from) && w.until > w.from);
    windowsOf.set(periods, windows);
  }
  return windows;
}

/** The rule set's periods for the resident and the shell's, together. */
export function awayWindows(
  fromRuleSet: readonly AwayWindow[],
  fromInput: readonly AwayPeriod[] | undefined,
): readonly AwayWindow[] {
  const input = toWindows(fromInput);
  if (input.length === 0) return fromRuleSet;
  if (fromRuleSet.length === 0) return input;
  return [...fromRuleSet, ...input.filter((w) => !fromRuleSet.some((r) => r.id === w.id))];
}

export const covers = (w: AwayWindow, at: number): boolean => w.from <= at && at < w.until;

/** The period in force at `at`: one that covers it, in which no return was seen by then. */
export function awayInForce(
  state: ResidentState,
  windows: readonly AwayWindow[],
  at: number,
): AwayWindow | undefined {
  for (const w of windows) {
    if (!covers(w, at)) continue;
    const back = state.away?.id === w.id ? state.away.back : undefined;
    if (back !== undefined && back <= at) continue;
    return w;
  }
  return undefined;
}

/**
 * Whether a rule's alerts wait while the person is declared away: the absence-type rules (a
 * person not at home is not up, still, or back), never alarms, temperatures or device faults.
 * A door left open at night is not an absence: it raises.
 */
export function heldWhileAway(rule: Rule): boolean {
  switch (rule.kind) {
    case 'rhythm':
    case 'routine':
      return true;
    case 'absence':
      return rule.window.kind !== 'supervision';
    case 'sustained':
      return (
        !('reading' in rule.condition) &&
        rule.condition.starts.every((type) => type.startsWith('bed.') || type.startsWith('chair.'))
      );
    case 'correlation':
      // A night exit is held; a fall then no movement is an alarm's, and raises.
      return (
        rule.pattern.kind === 'then-absent' &&
        !rule.pattern.first.some((type) => TAXONOMY[type].category === 'alarm')
      );
    case 'trigger':
    case 'area':
      return false;
    default:
      return assertNever(rule);
  }
}

/**
 * Whether an alert of `type` tells of a device rather than the person: a technical fault, or the
 * record that closes one (the learned rhythm's `sensor.noisy` and `sensor.quiet`, raised by a rule
 * held while away). Always raised, whatever its rule.
 */
export function deviceFault(type: EventType): boolean {
  const info: { category: string; restores?: string } = TAXONOMY[type];
  if (info.category === 'technical') return true;
  const restores = info.restores;
  return restores !== undefined && TAXONOMY[restores as EventType]?.category === 'technical';
}

/**
 * Follows the person through a declared period: out when the front door closes behind them (or
 * when the period begins while they are out), back at the first other activity at home after
 * that. Taken before the event is learned, so `wasOut` reads the state before it.
 */
export function trackAway(
  state: ResidentState,
  before: ResidentState,
  entry: RecentEvent,
  windows: readonly AwayWindow[],
): ResidentState {
  if (windows.length === 0) {
    if (state.away === undefined) return state;
    return withField(undefined, state, 'away', undefined);
  }
  const w = windows.find((candidate) => covers(candidate, entry.at));
  if (!w) {
    // Keep what a period still named remembers (a late event outside it changes nothing).
    if (state.away === undefined || windows.some((candidate) => candidate.id === state.away?.id))
      return state;
    return withField(undefined, state, 'away', undefined);
  }
  if (!PRESENCE.has(entry.type)) return state;
  const current = state.away?.id === w.id ? state.away : { id: w.id, out: wasOut(before) };
  if (current.back !== undefined)
    return current === state.away ? state : withField(undefined, state, 'away', current);
  let next = current;
  if (entry.type === 'door.closed') next = current.out ? current : { ...current, out: true };
  else if (entry.type !== 'door.opened' && current.out) next = { ...current, back: entry.at };
  return next === state.away ? state : withField(undefined, state, 'away', next);
}

/** Out when the period began: the rhythm says so, or the latest presence is the door closing. */
function wasOut(state: ResidentState): boolean {
  for (const rhythm of Object.values(state.rhythms ?? {})) if (rhythm.place === 'out') return true;
  for (let i = state.recent.length - 1; i >= 0; i--) {
    const seen = state.recent[i] as RecentEvent;
    if (PRESENCE.has(seen.type)) return seen.type === 'door.closed';
  }
  return false;
}

const REASON_TEXT = {
  holiday: 'on holiday',
  hospital: 'in hospital',
  respite: 'in respite care',
  other: 'away',
} as const;

const moment = (ms: number, timeZone: string): string =>
  `${formatDay(localTime(ms, timeZone).date)} ${formatHhmm(ms, timeZone)}`;

/** `declared in hospital from Fri 6 Dec 10:00 until Sun 8 Dec 18:00` (or `, open-ended`). */
export function describeAway(w: AwayWindow, timeZone: string): string {
  const until = Number.isFinite(w.until) ? ` until ${moment(w.until, timeZone)}` : ', open-ended';
  return `declared ${REASON_TEXT[w.reason]} from ${moment(w.from, timeZone)}${until}`;
}

/**
 * What one evaluation raises (alerts, timers, merges), and the alert every timed rule builds.
 */
import {
  type Alert,
  ambiguousTimeReason,
  defaultPriority,
  deviceKindLabel,
  type EventType,
  MOVED_DEVICE_REASON,
  PAD_BROKEN_REASON,
  type Priority,
  TAXONOMY,
  unexpectedKindReason,
} from '@telecare/contracts';
import { alertId as alertIdFor } from '../ids.ts';
import {
  type DeviceContext,
  type RecentEvent,
  type ResidentState,
  type Rule,
  type RuleSet,
  shapedState,
  type Timer,
  type TimerCommand,
  type TriggerRule,
} from '../model.ts';
import { type ReasonValues, renderReason } from '../reason.ts';
import { formatIso, formatWhen } from '../time.ts';
import { type AwayWindow, NO_AWAY } from './away.ts';
import { type HomeSilence, homeSilence, SILENCE_TYPES } from './home.ts';
import type { ResidentSettings } from './settings.ts';

export function assertNever(value: never): never {
  throw new TypeError(`unknown input ${JSON.stringify(value)}`);
}

const NO_ALERTS: readonly Alert[] = Object.freeze([]);
const NO_TIMERS: readonly TimerCommand[] = Object.freeze([]);
const NOTHING_MERGED: ReadonlyArray<{ alertId: string; eventId: string }> = Object.freeze([]);

/** An alert a limited trigger rule did not raise (a flapping sensor): nothing personal. */
export interface SuppressedAlert {
  readonly ruleId: string;
  readonly residentId: string;
  readonly type: EventType;
  readonly eventId: string;
  readonly deviceSerial: string;
}
export const NONE_SUPPRESSED: readonly SuppressedAlert[] = Object.freeze([]);

/**
 * A cancel that paired with an alarm and did not close it: its device had sent `orphans` cancels
 * with nothing to cancel in the hour before it (see `cancel-trust.ts`), or the alarm's alert also
 * holds a press of another device (`otherDevice`) the cancel may not close. Ids only.
 */
export interface CancelNotTaken {
  readonly ruleId: string;
  readonly residentId: string;
  /** The alarm's alert, left open for an operator. */
  readonly alertId: string;
  /** The cancel. */
  readonly eventId: string;
  readonly deviceSerial: string;
  readonly orphans: number;
  /** The serial of another device's press in the alarm's alert, which the cancel may not close. */
  readonly otherDevice?: string;
}
export const NO_CANCELS_REFUSED: readonly CancelNotTaken[] = Object.freeze([]);

export class Output {
  /**
   * What the evaluation raised, set and merged: each a shared empty list until its first entry,
   * then a list of that one (most inputs set one timer and raise nothing; a list built empty and
   * pushed to allocates room for 17).
   */
  alerts: readonly Alert[] = NO_ALERTS;
  timers: readonly TimerCommand[] = NO_TIMERS;
  merged: ReadonlyArray<{ alertId: string; eventId: string }> = NOTHING_MERGED;
  suppressed: readonly SuppressedAlert[] = NONE_SUPPRESSED;
  cancelsNotTaken: readonly CancelNotTaken[] = NO_CANCELS_REFUSED;
  /** A tick's device, as the device map says now (`TickInput.device`). */
  device: DeviceContext | undefined = undefined;
  /**
   * A tick's state as it came: a silence its check raises says so when the whole home was silent
   * at the check (`homeSilence`).
   */
  ticked: ResidentState | undefined = undefined;
  /** The resident's declared away periods (the rule set's and the input's). */
  away: readonly AwayWindow[] = NO_AWAY;
  /**
   * The state object this evaluation built (`remember`'s copy), which nothing outside has seen
   * yet: a rule changes a field of it in place instead of copying the whole state again. The
   * input state is never changed.
   */
  owned: ResidentState | undefined;
  /**
   * The caller gave up the input state (`evaluate`'s `reuse`) and no declared away period reads
   * it as it was: what it holds (its rhythm) may be changed in place within `owned`.
   */
  reuse = false;
  constructor(
    readonly ruleSet: RuleSet,
    readonly residentId: string,
    readonly settings: ResidentSettings,
    readonly now: number,
  ) {}

  alert(alert: Alert): void {
    if (this.alerts.length === 0) this.alerts = [alert];
    else (this.alerts as Alert[]).push(alert);
  }

  timer(command: TimerCommand): void {
    if (this.timers.length === 0) this.timers = [command];
    else (this.timers as TimerCommand[]).push(command);
  }

  suppress(suppressed: SuppressedAlert): void {
    if (this.suppressed.length === 0) this.suppressed = [suppressed];
    else (this.suppressed as SuppressedAlert[]).push(suppressed);
  }

  refuseCancel(refused: CancelNotTaken): void {
    if (this.cancelsNotTaken.length === 0) this.cancelsNotTaken = [refused];
    else (this.cancelsNotTaken as CancelNotTaken[]).push(refused);
  }

  merge(merged: { alertId: string; eventId: string }): void {
    if (this.merged.length === 0) this.merged = [merged];
    else (this.merged as Array<{ alertId: string; eventId: string }>).push(merged);
  }

  setTimer(
    rule: Rule,
    checkAt: number,
    extra: { eventId?: string; eventAt?: number; key?: string; id: string; event?: RecentEvent },
  ): void {
    // One literal with every field, those not given `undefined` (stored JSON leaves them out):
    // every timer the core builds has this one shape, which the shell's heap and
    // look-ups read at fixed offsets. Most events set a timer.
    const timer: Timer = {
      id: extra.id,
      ruleId: rule.id,
      residentId: this.residentId,
      checkAt,
      // Fired the reorder grace after the check, or after this input when the check is already
      // past (an event delivered late, a home's backlog after its line came back): the events the
      // backlog holds after it arrive within moments and may make the check moot, and a check
      // fired at once decided before them (a silence raised for each activity delivered, a fall
      // "then no movement" with the movement one report behind). Lateness and `raisedAt` still
      // count from the check (`checkDue`).
      dueAt: Math.max(checkAt, this.now) + this.ruleSet.settings.reorderGraceS * 1000,
      eventId: extra.eventId,
      eventAt: extra.eventAt,
      key: extra.key,
      event: extra.event,
    };
    this.timer({ op: 'set', timer });
  }
}

/**
 * The state with one field set: in place when this evaluation built the object (`Output.owned`),
 * else on a copy. Either way the keys keep the order a spread would give them (an existing key
 * keeps its place, a new one goes last), so the stored JSON is the same.
 */
export function withField<K extends keyof ResidentState>(
  out: Output | undefined,
  state: ResidentState,
  key: K,
  value: ResidentState[K],
): ResidentState {
  if (out !== undefined && state === out.owned) {
    state[key] = value;
    return state;
  }
  // A literal copy (`shapedState`), not a spread: a spread with a field then set gives the copy a
  // shape of its own, and the states' fields would be read through many shapes.
  const next = shapedState(state);
  next[key] = value;
  return next;
}

export function deviceValues(
  entry: RecentEvent | undefined,
): Pick<ReasonValues, 'device' | 'kind' | 'location' | 'serial'> {
  if (!entry)
    return { device: 'no device', kind: 'no device', location: 'location not recorded', serial: '-' };
  const location = entry.location?.trim() || undefined;
  const kind = deviceKindLabel(entry.deviceKind);
  return {
    device: location ? `${kind} in ${location}` : kind,
    kind,
    location: location ?? 'location not recorded',
    serial: entry.serial,
  };
}

export interface DerivedSpec {
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
  /**
   * Decided by a timer whose check was due at `decidedAt` (`checkDue`): raised at that time, or at
   * the input's if sooner, however much later the timer fired (a backlog read first).
   */
  readonly byTimer?: boolean;
  readonly type?: EventType;
  readonly priority?: Priority;
  readonly closes?: Alert['closes'];
}

/**
 * A reason, and after it what makes the sender of its alarm doubtful, for the operator to know and
 * answer it all the same: which kind of device sent the first of `evidence` that its kind does not
 * report (`unexpectedKind`: a pull-cord pull from a pendant's login), and that one came in a frame
 * whose pad broke its panel's style (`padBroken`: a firmware change, or a frame altered on the way).
 */
export function withSenderDoubts(reason: string, ...evidence: readonly RecentEvent[]): string {
  const from = evidence.find((seen) => seen.unexpectedKind === true);
  const said = from ? `${reason}; ${unexpectedKindReason(from.deviceKind, from.type)}` : reason;
  return evidence.some((seen) => seen.padBroken === true) ? `${said}; ${PAD_BROKEN_REASON}` : said;
}

/**
 * A reason, and after it the other instant the clock of the first of `evidence` whose time is
 * uncertain (`alttime`) could mean: the alert's age, and whether it is late, rest on the instant
 * the gateway took, so the operator asks when it happened. Raised on the event's arrival or decided
 * later by a timer, from the state as stored, the alert says it the same way.
 */
export function withUncertainTime(reason: string, ...evidence: readonly RecentEvent[]): string {
  const from = evidence.find((seen) => seen.alttime !== undefined);
  return from?.alttime === undefined ? reason : `${reason}; ${ambiguousTimeReason(from.alttime)}`;
}

export function derivedAlert(rule: Exclude<Rule, TriggerRule>, out: Output, spec: DerivedSpec): Alert {
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
  // Only a silence decided by a check (at `decidedAt` less the grace): the person not seen.
  const checkAt = spec.decidedAt - out.ruleSet.settings.reorderGraceS * 1000;
  const home =
    out.ticked && spec.byTimer && SILENCE_TYPES.has(type) ? homeSilence(out.ticked, checkAt) : undefined;
  // First, so that it is read first and survives a reason cut to its bound downstream.
  const said = home ? `${homeSilentText(home, out.settings.timeZone, checkAt)}. ${reason}` : reason;
  // Its event happened at the home its device has since left: decided now, it says so as the
  // alerts raised on the event's arrival do.
  const movedAt = first?.movedAt;
  const told = movedAt === undefined ? said : `${said}; ${MOVED_DEVICE_REASON}`;
  const text = late ? `${told}; late: decided ${describeAge(ageMs)} before triage` : told;
  return {
    id: alertIdFor(rule.id, out.residentId, spec.key),
    residentId: out.residentId,
    priority,
    type,
    // The time it was due (decided, plus the reorder grace), not when a late tick got to it: an
    // alert raised late still belongs with what happened then (and joins that case), flagged late.
    raisedAt: formatIso(
      Math.min(
        out.now,
        spec.byTimer ? spec.decidedAt : spec.decidedAt + out.ruleSet.settings.reorderGraceS * 1000,
      ),
    ),
    rule: { id: rule.id, version: rule.version },
    evidence: evidence.length > 0 ? evidence : [spec.fallbackEvidence ?? spec.key],
    thresholds: home ? withHomeSilence(spec.thresholds, home) : spec.thresholds,
    // What closes an alarm says nothing of its sender: the alarm's own alert did.
    reason: withUncertainTime(
      spec.closes ? text : withSenderDoubts(text, ...spec.evidence),
      ...spec.evidence,
    ),
    late,
    testMode: spec.evidence.some((seen) => seen.testMode),
    ...deviceOf(first),
    ...(movedAt === undefined ? {} : { deviceMovedAt: movedAt }),
    ...(spec.closes ? { closes: spec.closes } : {}),
  };
}

/**
 * The device the first evidence came from: its serial, and its kind unless a supervision check
 * that lost its state could not tell it (`UNKNOWN_KIND`).
 */
function deviceOf(first: RecentEvent | undefined): Pick<Alert, 'deviceSerial' | 'deviceKind'> {
  if (!first) return {};
  return first.deviceKind === UNKNOWN_KIND
    ? { deviceSerial: first.serial }
    : { deviceSerial: first.serial, deviceKind: first.deviceKind };
}

/** The kind of a device whose heartbeat the state no longer holds, nor its record. */
export const UNKNOWN_KIND = 'unknown';

/** What the reason says of a home silent as a whole: since when, and what that may mean. */
export function homeSilentText(home: HomeSilence, timeZone: string, reference: number): string {
  const since = formatWhen(home.since, timeZone, reference);
  return home.hubs.length > 0
    ? `The whole home is silent, hub included, since ${since}: the line or power may be down`
    : `The whole home is silent, every device included, since ${since}: the line or power may be down`;
}

function withHomeSilence(thresholds: Alert['thresholds'], home: HomeSilence): Alert['thresholds'] {
  return {
    ...thresholds,
    homeSilentSince: formatIso(home.since),
    silentHub: home.hubs.length > 0 ? home.hubs.join(',') : 'every device',
  };
}

/**
 * When a timer's check was due: the check plus the reorder grace. A timer set after its check had
 * passed fires later than this (`setTimer`), and what it decides is still late from here.
 */
export const checkDue = (timer: Timer, out: Output): number =>
  timer.checkAt + out.ruleSet.settings.reorderGraceS * 1000;

export function describeAge(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(ms / 3_600_000);
  return hours < 48 ? `${hours} h` : `${Math.round(ms / 86_400_000)} days`;
}

export function minutes(ms: number): string {
  return `${Math.round(ms / 60_000)} min`;
}

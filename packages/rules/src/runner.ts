import type { Alert, AwayPeriod, TelecareEvent } from '@telecare/contracts';
import {
  type AreaState,
  areaRules,
  decideAreaHold,
  evaluateArea,
  holdForArea,
  initialAreaState,
  isAreaHold,
} from './area.ts';
import { type EvaluateOptions, evaluate } from './evaluate.ts';
import { flat } from './ids.ts';
import {
  type DeviceContext,
  type EventInput,
  initialState,
  type ResidentState,
  type RuleSet,
  type TickInput,
  type Timer,
} from './model.ts';

/** The runner keeps only each evaluation's state, so the core may update the one it gives up. */
const REUSE: EvaluateOptions = { reuse: true };

/**
 * Runs the core over a stream in memory, with timers kept in a heap and fired at their due time:
 * the shell without I/O. Replay ("what if"), the benchmark and the property tests use it; triage
 * itself keeps state in Redis and timers durably, and feeds the core the same inputs.
 *
 * Area rules run as in triage: each district's state is fed every event of an area rule's type,
 * and a home's own alert that an area incident may cover (`holdForArea`) is held until its
 * window has closed, then withheld or released (`decideAreaHold`) with the district's state as it
 * is at the hold's due time. So replay lists what the queue would have got.
 */
export class RulesRunner {
  readonly #ruleSet: RuleSet;
  readonly #device: ((event: TelecareEvent) => DeviceContext | undefined) | undefined;
  readonly #observe: ((kind: 'event' | 'tick', ns: number) => void) | undefined;
  readonly #away: ((residentId: string) => readonly AwayPeriod[] | undefined) | undefined;
  readonly states = new Map<string, ResidentState>();
  readonly areas = new Map<string, AreaState>();
  /** Per-home alerts not sent because their district raised an area incident, in decision order. */
  readonly withheld: Alert[] = [];
  /**
   * The timers in force, per resident: a handful each (a check per device, the rhythm's, the
   * schedules, the sustained and correlation checks under way). A set or cancel looks through its
   * resident's few by id rather than hashing a newly built id string into a map of all of them;
   * a timer that comes up is in force when it is still in its resident's list (by identity). Ids
   * name one resident's timers (each is built from the resident's own event, device or schedule),
   * so this is what one map by id did.
   */
  readonly #timers = new Map<string, Timer[]>();
  #pending = 0;
  /**
   * Timers by due order (a binary heap), and beside it each one's due time: the sift compares
   * numbers from a list of numbers rather than reading each timer object. Cancelled and moved
   * timers stay until they come up, and are skipped then.
   */
  readonly #heap: Timer[] = [];
  readonly #due: number[] = [];
  /** Alerts held for an area decision, by their hold timer's id. */
  readonly #held = new Map<string, Alert>();
  readonly #hasArea: boolean;
  /** The types some area rule is on. */
  readonly #areaTypes: ReadonlySet<string>;
  #now = Number.NEGATIVE_INFINITY;

  constructor(
    ruleSet: RuleSet,
    options: {
      device?: (event: TelecareEvent) => DeviceContext | undefined;
      /** Told how long each core input took (the benchmark's per-input latency). */
      observe?: (kind: 'event' | 'tick', ns: number) => void;
      /** A resident's declared away periods, as triage looks them up in the registry's bucket. */
      away?: (residentId: string) => readonly AwayPeriod[] | undefined;
    } = {},
  ) {
    this.#ruleSet = ruleSet;
    this.#device = options.device;
    this.#away = options.away;
    this.#observe = options.observe;
    this.#hasArea = areaRules(ruleSet).length > 0;
    this.#areaTypes = new Set(areaRules(ruleSet).flatMap((rule) => rule.on));
  }

  get pendingTimers(): number {
    return this.#pending;
  }

  /** Fires every timer due by `now`, then evaluates the event at `now`. */
  event(event: TelecareEvent, now: number): Alert[] {
    const alerts = this.advance(now);
    const residentId = event.residentid;
    const state = this.states.get(residentId) ?? initialState(residentId);
    const device = this.#device?.(event);
    const away = this.#away?.(residentId);
    const started = this.#observe ? process.hrtime.bigint() : 0n;
    // Built without spreads: this runs once an event.
    const input: EventInput = device
      ? away
        ? { kind: 'event', event, now, device, away }
        : { kind: 'event', event, now, device }
      : away
        ? { kind: 'event', event, now, away }
        : { kind: 'event', event, now };
    const result = evaluate(state, input, this.#ruleSet, REUSE);
    if (this.#observe) this.#observe('event', Number(process.hrtime.bigint() - started));
    this.states.set(residentId, result.state);
    this.#apply(residentId, result.timers);
    if (this.#hasArea && result.alerts.length > 0) {
      const { pass, held } = holdForArea(event, result.alerts, this.#ruleSet);
      alerts.push(...pass);
      for (const hold of held) {
        this.#held.set(hold.timer.id, hold.alert);
        this.#set(hold.timer);
      }
    } else for (const alert of result.alerts) alerts.push(alert);
    if (this.#hasArea && event.postcodedistrict) {
      const district = event.postcodedistrict;
      const known = this.areas.get(district);
      // A test, or an event of no area rule's type, leaves a known district's state as it is
      // (`evaluateArea` gives it back unchanged): most events are neither.
      if (!known || (!event.testmode && this.#areaTypes.has(event.type))) {
        const area = evaluateArea(known ?? initialAreaState(district), event, now, this.#ruleSet);
        this.areas.set(district, area.state);
        alerts.push(...area.alerts);
      }
    }
    return alerts;
  }

  /** Fires timers due by `now`, in due order, each at its due time. */
  advance(now: number): Alert[] {
    const alerts: Alert[] = [];
    this.#now = Math.max(this.#now, now);
    for (;;) {
      const top = this.#heap[0];
      if (!top || (this.#due[0] as number) > now) break;
      this.#pop();
      if (!this.#take(top)) continue; // moved or cancelled since
      if (isAreaHold(top)) {
        this.#decide(top, alerts);
        continue;
      }
      const state = this.states.get(top.residentId) ?? initialState(top.residentId);
      const started = this.#observe ? process.hrtime.bigint() : 0n;
      const away = this.#away?.(top.residentId);
      // Built without a spread: this runs once a tick.
      const input: TickInput = away
        ? { kind: 'tick', timer: top, now: top.dueAt, away }
        : { kind: 'tick', timer: top, now: top.dueAt };
      const result = evaluate(state, input, this.#ruleSet);
      if (this.#observe) this.#observe('tick', Number(process.hrtime.bigint() - started));
      this.states.set(top.residentId, result.state);
      this.#apply(top.residentId, result.timers);
      for (const alert of result.alerts) alerts.push(alert);
    }
    return alerts;
  }

  /**
   * A held alert come due: the district's state already holds every report taken before the due
   * time (events and ticks run in time order here), which is what triage waits for.
   */
  #decide(timer: Timer, alerts: Alert[]): void {
    const alert = this.#held.get(timer.id);
    this.#held.delete(timer.id);
    if (!alert) return;
    const area = timer.key ? this.areas.get(timer.key) : undefined;
    if (decideAreaHold(area, timer, this.#ruleSet).decision === 'release') alerts.push(alert);
    else this.withheld.push(alert);
  }

  #apply(residentId: string, commands: ReturnType<typeof evaluate>['timers']): void {
    if (commands.length === 0) return;
    // The resident's timers, looked up once for all the commands (a set or cancel names its own
    // resident: the core builds them from the state's own events).
    let live = this.#timers.get(residentId);
    for (let c = 0; c < commands.length; c++) {
      const command = commands[c] as (typeof commands)[number];
      if (command.op === 'cancel') {
        const i = live ? indexById(live, flat(command.id)) : -1;
        if (live && i >= 0) this.#drop(live, i);
      } else {
        if (command.timer.residentId !== residentId) {
          this.#set(command.timer);
          continue;
        }
        if (!live) {
          live = [];
          this.#timers.set(residentId, live);
        }
        this.#setIn(live, command.timer);
      }
    }
  }

  #set(timer: Timer): void {
    let live = this.#timers.get(timer.residentId);
    if (!live) {
      live = [];
      this.#timers.set(timer.residentId, live);
    }
    this.#setIn(live, timer);
  }

  #setIn(live: Timer[], timer: Timer): void {
    // Ids are built by concatenation: flat, the comparisons below and in the heap cost less.
    const i = indexById(live, flat(timer.id));
    // The same id again moves the timer: the one it replaces is skipped when it comes up.
    if (i >= 0) live[i] = timer;
    else {
      live.push(timer);
      this.#pending++;
    }
    this.#push(timer);
  }

  /** Whether the timer come up is still in force (then no longer pending). */
  #take(timer: Timer): boolean {
    const live = this.#timers.get(timer.residentId);
    const i = live ? live.indexOf(timer) : -1;
    if (!live || i < 0) return false;
    this.#drop(live, i);
    return true;
  }

  #drop(live: Timer[], i: number): void {
    // Their order does not matter: the last takes the place of the one that goes.
    const last = live.pop() as Timer;
    if (i < live.length) live[i] = last;
    this.#pending--;
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    const due = this.#due;
    const at = timer.dueAt;
    let i = heap.length;
    heap.push(timer);
    due.push(at);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent] as Timer;
      const aboveAt = due[parent] as number;
      if (!(at < aboveAt || (at === aboveAt && timer.id < above.id))) break;
      heap[i] = above;
      due[i] = aboveAt;
      i = parent;
    }
    heap[i] = timer;
    due[i] = at;
  }

  #pop(): void {
    const heap = this.#heap;
    const due = this.#due;
    const last = heap.pop() as Timer;
    const lastAt = due.pop() as number;
    const size = heap.length;
    if (size === 0) return;
    // The last timer sinks from the top to its place; each level moves the earlier child up.
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= size) break;
      let child = l;
      let childAt = due[l] as number;
      const r = l + 1;
      if (r < size) {
        const rAt = due[r] as number;
        if (rAt < childAt || (rAt === childAt && (heap[r] as Timer).id < (heap[l] as Timer).id)) {
          child = r;
          childAt = rAt;
        }
      }
      const down = heap[child] as Timer;
      if (!(childAt < lastAt || (childAt === lastAt && down.id < last.id))) break;
      heap[i] = down;
      due[i] = childAt;
      i = child;
    }
    heap[i] = last;
    due[i] = lastAt;
  }
}

function indexById(live: readonly Timer[], id: string): number {
  for (let i = 0; i < live.length; i++) if ((live[i] as Timer).id === id) return i;
  return -1;
}

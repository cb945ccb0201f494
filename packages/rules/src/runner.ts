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
import { fingerprint, flat } from './ids.ts';
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
/**
 * One resident as the runner keeps them: the state and the timers in force, in one record, so an
 * event or a tick finds both with one look-up (a tick, none: the heap holds each timer's record).
 */
class Resident {
  /** Undefined until the resident's first evaluation (a timer may come first: an area hold). */
  state: ResidentState | undefined = undefined;
  /**
   * The timers in force: a handful (a check per device, the rhythm's, the schedules, the
   * sustained and correlation checks under way). A set or cancel looks through these few by id
   * (by fingerprint, `prints`) rather than hashing a newly built id string into a map of all of
   * them; a timer that comes up
   * is in force when it is still in the list (by identity). Ids name one resident's timers (each
   * is built from the resident's own event, device or schedule), so this is what one map by id did.
   */
  readonly timers: Timer[] = [];
  /**
   * Each timer's id's fingerprint, in the same order: a set or cancel compares numbers from this
   * one list, and reads a timer's id (a string of its own, beside a timer object of its own) only
   * when its fingerprint matches.
   */
  readonly prints: number[] = [];
  constructor(readonly id: string) {}
}

export class RulesRunner {
  readonly #ruleSet: RuleSet;
  readonly #device: ((event: TelecareEvent) => DeviceContext | undefined) | undefined;
  readonly #observe: ((kind: 'event' | 'tick', ns: number) => void) | undefined;
  readonly #away: ((residentId: string) => readonly AwayPeriod[] | undefined) | undefined;
  /** Each resident's state and timers: one look-up an event. */
  readonly #residents = new Map<string, Resident>();
  readonly areas = new Map<string, AreaState>();
  /** Per-home alerts not sent because their district raised an area incident, in decision order. */
  readonly withheld: Alert[] = [];
  #pending = 0;
  /**
   * Timers by due order (a binary heap), and beside it each one's due time and resident: the sift
   * compares numbers from a list of numbers rather than reading each timer object, and a timer
   * that comes up finds its resident's record without a look-up. Cancelled and moved timers stay
   * until they come up, and are skipped then.
   */
  readonly #heap: Timer[] = [];
  readonly #due: number[] = [];
  readonly #owner: Resident[] = [];
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

  /**
   * Each resident's state, by resident id: a map built when asked (replay, tests and the
   * benchmark read it after a run; the runner itself keeps each state in its resident's record).
   */
  get states(): ReadonlyMap<string, ResidentState> {
    const states = new Map<string, ResidentState>();
    for (const [id, resident] of this.#residents) if (resident.state) states.set(id, resident.state);
    return states;
  }

  get pendingTimers(): number {
    return this.#pending;
  }

  /** Fires every timer due by `now`, then evaluates the event at `now`. */
  event(event: TelecareEvent, now: number): Alert[] {
    const alerts = this.advance(now);
    const residentId = event.residentid;
    const resident = this.#resident(residentId);
    const state = resident.state ?? initialState(residentId);
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
    resident.state = result.state;
    this.#apply(resident, result.timers);
    const raised = result.alerts;
    if (this.#hasArea && raised.length > 0) {
      const { pass, held } = holdForArea(event, raised, this.#ruleSet);
      for (let i = 0; i < pass.length; i++) alerts.push(pass[i] as Alert);
      for (let i = 0; i < held.length; i++) {
        const hold = held[i] as (typeof held)[number];
        this.#held.set(hold.timer.id, hold.alert);
        this.#set(hold.timer);
      }
    } else for (let i = 0; i < raised.length; i++) alerts.push(raised[i] as Alert);
    if (this.#hasArea && event.postcodedistrict) {
      const district = event.postcodedistrict;
      const known = this.areas.get(district);
      // A test, or an event of no area rule's type, leaves a known district's state as it is
      // (`evaluateArea` gives it back unchanged): most events are neither.
      if (!known || (!event.testmode && this.#areaTypes.has(event.type))) {
        const area = evaluateArea(known ?? initialAreaState(district), event, now, this.#ruleSet);
        this.areas.set(district, area.state);
        for (let i = 0; i < area.alerts.length; i++) alerts.push(area.alerts[i] as Alert);
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
      const resident = this.#owner[0] as Resident;
      this.#pop();
      if (!this.#take(resident, top)) {
        this.#requeue(resident, top); // moved or cancelled since
        continue;
      }
      if (isAreaHold(top)) {
        this.#decide(top, alerts);
        continue;
      }
      const state = resident.state ?? initialState(top.residentId);
      const started = this.#observe ? process.hrtime.bigint() : 0n;
      const away = this.#away?.(top.residentId);
      // Built without a spread: this runs once a tick.
      const input: TickInput = away
        ? { kind: 'tick', timer: top, now: top.dueAt, away }
        : { kind: 'tick', timer: top, now: top.dueAt };
      const result = evaluate(state, input, this.#ruleSet);
      if (this.#observe) this.#observe('tick', Number(process.hrtime.bigint() - started));
      resident.state = result.state;
      this.#apply(resident, result.timers);
      const raised = result.alerts;
      for (let i = 0; i < raised.length; i++) alerts.push(raised[i] as Alert);
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

  #resident(residentId: string): Resident {
    let resident = this.#residents.get(residentId);
    if (!resident) {
      resident = new Resident(residentId);
      this.#residents.set(residentId, resident);
    }
    return resident;
  }

  #apply(resident: Resident, commands: ReturnType<typeof evaluate>['timers']): void {
    // A set or cancel names its own resident (the core builds them from the state's own events).
    for (let c = 0; c < commands.length; c++) {
      const command = commands[c] as (typeof commands)[number];
      if (command.op === 'cancel') {
        const i = indexById(resident, command.id);
        if (i >= 0) this.#drop(resident, i);
      } else if (command.timer.residentId !== resident.id) this.#set(command.timer);
      else this.#setIn(resident, command.timer);
    }
  }

  #set(timer: Timer): void {
    this.#setIn(this.#resident(timer.residentId), timer);
  }

  #setIn(resident: Resident, timer: Timer): void {
    const i = indexById(resident, timer.id);
    if (i >= 0) {
      // The same id again moves the timer: the one it replaces is skipped when it comes up.
      const replaced = resident.timers[i] as Timer;
      resident.timers[i] = timer;
      // Moved later (each heartbeat moves its device's check on): the heap already holds an entry
      // of this id due no later than the one replaced, and that entry, come up, puts this one in
      // (`#requeue`). So a device's check takes one heap entry per interval, not one per beat.
      if (timer.dueAt > replaced.dueAt) return;
    } else {
      resident.timers.push(timer);
      resident.prints.push(lastPrint);
      this.#pending++;
    }
    this.#push(timer, resident);
  }

  /**
   * A timer come up that is no longer in force: when a timer of its id is in force and due later,
   * it was moved there without an entry of its own (`#setIn`), which it gets now, still ahead of
   * its due time. (When it has one already, a second entry of the same timer only comes up
   * again, no longer in force, and is skipped.)
   */
  #requeue(resident: Resident, stale: Timer): void {
    const i = indexById(resident, stale.id);
    if (i < 0) return;
    const live = resident.timers[i] as Timer;
    if (live.dueAt > stale.dueAt) this.#push(live, resident);
  }

  /** Whether the timer come up is still in force in its resident's list (then no longer pending). */
  #take(resident: Resident, timer: Timer): boolean {
    const i = resident.timers.indexOf(timer);
    if (i < 0) return false;
    this.#drop(resident, i);
    return true;
  }

  #drop(resident: Resident, i: number): void {
    // Their order does not matter: the last takes the place of the one that goes.
    const live = resident.timers;
    const prints = resident.prints;
    const last = live.pop() as Timer;
    const lastPrint = prints.pop() as number;
    if (i < live.length) {
      live[i] = last;
      prints[i] = lastPrint;
    }
    this.#pending--;
  }

  #push(timer: Timer, resident: Resident): void {
    const heap = this.#heap;
    const due = this.#due;
    const owner = this.#owner;
    const at = timer.dueAt;
    let i = heap.length;
    heap.push(timer);
    due.push(at);
    owner.push(resident);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const above = heap[parent] as Timer;
      const aboveAt = due[parent] as number;
      if (!(at < aboveAt || (at === aboveAt && timer.id < above.id))) break;
      heap[i] = above;
      due[i] = aboveAt;
      owner[i] = owner[parent] as Resident;
      i = parent;
    }
    heap[i] = timer;
    due[i] = at;
    owner[i] = resident;
  }

  #pop(): void {
    const heap = this.#heap;
    const due = this.#due;
    const owner = this.#owner;
    const last = heap.pop() as Timer;
    const lastAt = due.pop() as number;
    const lastOwner = owner.pop() as Resident;
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
      owner[i] = owner[child] as Resident;
      i = child;
    }
    heap[i] = last;
    due[i] = lastAt;
    owner[i] = lastOwner;
  }
}

/** The fingerprint `indexById` last worked out: `#setIn` keeps it for a timer it adds. */
let lastPrint = 0;

/** Where the resident's timer of this id is (-1: none), found by fingerprint. */
function indexById(resident: Resident, id: string): number {
  // Ids are built by concatenation: flat, the comparison of a matching one costs less.
  const print = fingerprint(flat(id));
  lastPrint = print;
  const prints = resident.prints;
  for (let i = 0; i < prints.length; i++)
    if (prints[i] === print && (resident.timers[i] as Timer).id === id) return i;
  return -1;
}

/**
 * A resident's remembered events: kept sorted by (time, id), bounded by count and age, with the
 * ids taken for redelivery checks.
 */
import { TAXONOMY, type TelecareEvent } from '@telecare/contracts';
import { fingerprint, flat } from '../ids.ts';
import type { RecentEvent, ResidentState, RuleSet } from '../model.ts';
import { parseEventTime } from '../time.ts';
import { type Plan, planOf } from './plan.ts';

/**
 * `heard`: the event is a beat that only supervision reads (plan `beatsOnly`), so its time is when
 * the platform heard the device — its receipt, when that is later than the time the device wrote
 * (and its `alttime`, another instant the device's clock could mean, is not kept: see below).
 * Supervision asks whether the device reaches the platform: a hub whose clock reset to 1970, or one
 * sending two days of beats at once after its line came back, was heard now; by its own times
 * each beat's check was already past and every beat raised a loss and a restore.
 */
/**
 * What a DS18B20 (the usual home temperature probe) reads before its first conversion: the value
 * it reports after a power-on or a brown-out, not a temperature. A home at 85 °C is a fire, which
 * the heat and smoke detectors raise. Taken as a reading it ended a cold home's run (a sensor whose
 * battery sags in the cold resets) and, with no reading after it for an hour, raised "too hot".
 */
export const POWER_ON_CELSIUS = 85;

/** A status report's `data.condition` (a Contact ID Q=6): the alarm reported before is still present. */
const STILL_PRESENT = 'still-present';

export function toRecent(event: TelecareEvent, heard = false): RecentEvent {
  const celsius = event.type === 'temperature' ? event.data.celsius : undefined;
  const doseId = event.type.startsWith('medication.') ? event.data.doseId : undefined;
  const closing = closes(event);
  // One literal with every field, those the event lacks `undefined` (stored JSON leaves them out,
  // as it left out the fields not set before): every entry has one shape, so the loops over
  // `recent` read its fields at fixed offsets rather than through a cache of several shapes.
  // The id is compared often (redeliveries, order in `recent`, timers): flat, each costs less.
  return {
    id: flat(event.id),
    type: event.type,
    at: heard
      ? Math.max(parseEventTime(event.time), parseEventTime(event.receivedat))
      : parseEventTime(event.time),
    serial: event.subject,
    deviceKind: event.devicekind,
    testMode: event.testmode,
    location: event.location,
    celsius: typeof celsius === 'number' && celsius !== POWER_ON_CELSIUS ? celsius : undefined,
    doseId: typeof doseId === 'string' ? doseId : undefined,
    unexpectedKind: event.unexpectedkind,
    padBroken: typeof event.data.padBroken === 'string' ? true : undefined,
    stillPresent: event.data.condition === STILL_PRESENT ? true : undefined,
    movedAt: event.movedat,
    // A beat heard is timed by when it was heard, at least its receipt, which is certain: another
    // reading of the device's clock (a panel's stamp in the hour repeated when the clocks go back)
    // would time it at its receipt too, or within the gateway's window ahead of it. A silence after
    // it says nothing of the clock.
    alttime: heard ? undefined : event.alttime,
    aheadMs: closing ? closesAhead(event) : undefined,
    sourceCode: closing ? codeOf(event) : undefined,
  };
}

/** A code is a few characters (`CID 3101`, `SIA MH`): anything longer is no code, and not kept. */
const MAX_CODE = 32;

const codeOf = (event: TelecareEvent): string | undefined =>
  event.sourcecode !== undefined && event.sourcecode.length <= MAX_CODE ? event.sourcecode : undefined;

/** Whether the event is a cancel or restore (a type that `restores` another). */
const closes = (event: TelecareEvent): boolean =>
  // An alarm's restore names no one type (`alarm.restored`): the alarm rule's `alarm` pairs it.
  (TAXONOMY[event.type] as { restores?: string }).restores !== undefined || event.type === 'alarm.restored';

/**
 * How far a cancel or restore is timed ahead of its arrival, or undefined when it is not ahead:
 * only those are kept, for the cancel and restore rules.
 */
function closesAhead(event: TelecareEvent): number | undefined {
  const ahead = parseEventTime(event.time) - parseEventTime(event.receivedat);
  return ahead > 0 ? ahead : undefined;
}

export const byTimeThenId = (a: RecentEvent, b: RecentEvent): number =>
  a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Position of an entry in the sorted list (binary search on (at, id)). */
export function indexOf(recent: readonly RecentEvent[], entry: RecentEvent): number {
  let hi = recent.length;
  // Events mostly come in order: one after the newest goes at the end, found without a search.
  if (hi === 0 || byTimeThenId(recent[hi - 1] as RecentEvent, entry) < 0) return hi;
  let lo = 0;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (byTimeThenId(recent[mid] as RecentEvent, entry) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function hasEvent(recent: readonly RecentEvent[], entry: RecentEvent): boolean {
  // The id is derived from the device's own event id, and the device resends the same time with
  // it, so (time, id) finds a redelivery.
  return recent[indexOf(recent, entry)]?.id === entry.id;
}

/** How long a silent device is remembered (its supervision is in the state until then). */
export const KEEP_DEVICES_MS = 30 * 86_400_000;

/** Whether some recurring rule has not started its chain of checks for this resident yet. */
export function unscheduled(plan: Plan, state: ResidentState): boolean {
  for (const rule of plan.recurring) if (state.scheduled[rule.id] === undefined) return true;
  return false;
}

/**
 * Fingerprints (`fingerprint`) of the `seen` lists that `remember` updates in place (`reuse`: the
 * caller gave up the state, as the runner and triage do), in the same order, kept beside each
 * list as long as the list lives: `taken` compares the event's fingerprint with them, one list of
 * numbers, rather than the event's id with every id taken, each a string object of its own. A
 * list built anew (no `reuse`, or read from storage) has none until it is updated in place, and
 * is searched by its strings. Only `seenInPlace` changes a list in place, and it keeps its
 * fingerprints with it.
 *
 * They hang on the list itself, under a symbol and not enumerable (so JSON, spreads, equality and
 * structured clones never see them), rather than in a `WeakMap` by list: a look-up there was a
 * probe of one table of every resident's list, a cache miss of its own, twice an event.
 */
const PRINTS: unique symbol = Symbol('seen fingerprints');

type Printed = readonly string[] & { [PRINTS]?: number[] };

/** The id `taken` was last asked about and its fingerprint: `seenInPlace` adds the same id next. */
let printedId: string | undefined;
let printed = 0;

function printOf(id: string): number {
  if (id !== printedId) {
    printed = fingerprint(id);
    printedId = id;
  }
  return printed;
}

/**
 * Whether the id is among those taken. A plain loop, not `includes`: `includes` hands each
 * comparison of a string that is not flat (an id built by concatenation, as generated events'
 * are) to the runtime; `===` compares them in place.
 */
export function taken(seen: readonly string[], id: string): boolean {
  const prints = (seen as Printed)[PRINTS];
  if (prints !== undefined && prints.length === seen.length) {
    const print = printOf(id);
    for (let i = 0; i < prints.length; i++) if (prints[i] === print && seen[i] === id) return true;
    return false;
  }
  for (let i = 0; i < seen.length; i++) if (seen[i] === id) return true;
  return false;
}

/** The last `keepSeen` ids taken, this one newest: a copy of at most `keepSeen` references. */
export function seenWith(old: readonly string[], id: string, keepSeen: number): string[] {
  // Allocated at its final size and filled: a slice and a push would allocate twice.
  const size = old.length < keepSeen ? old.length + 1 : keepSeen;
  const from = old.length + 1 - size;
  const seen = new Array<string>(size);
  for (let i = 0; i < size - 1; i++) seen[i] = old[from + i] as string;
  seen[size - 1] = id;
  return seen;
}

/** First index whose event is at or after `at` (the list is sorted by time). */
export function firstAtOrAfter(recent: readonly RecentEvent[], at: number): number {
  // Mostly nothing has passed the horizon yet: the first event is at or after it.
  if (recent.length === 0 || (recent[0] as RecentEvent).at >= at) return 0;
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
 * Where the event a timed rule's tick names by id is (-1: gone), looked for among the events at `at` (where the
 * timer's check puts it: the check time less the rule's window): the list is sorted by time, so a
 * binary search spares the tick a comparison of every id before it. Only when none there has the
 * id (the rule's window changed since the timer was set, or the event has gone) is the whole list
 * scanned, as it always was before.
 *
 * An id names one event (the device resends it with the same time, see `hasEvent`). Were a device
 * to reuse an id at another time, after `seen` had let go of the first, both would be kept; the
 * scan from the start found the older of them, while this finds the one the timer was set for.
 */
export function findEvent(recent: readonly RecentEvent[], id: string | undefined, at: number): number {
  if (id === undefined) return -1;
  for (let i = firstAtOrAfter(recent, at); i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (seen.at !== at) break;
    if (seen.id === id) return i;
  }
  return recent.findIndex((seen) => seen.id === id);
}

/**
 * Adds the event to the resident's recent events, kept sorted by (time, id) and bounded by count
 * and age, so the result does not depend on arrival order. The list is sorted by time, so what is
 * past the horizon or beyond the count is a prefix: one slice copies what stays (a block copy),
 * and the event goes in by binary search — at the end, for an event in order.
 */
export function remember(
  state: ResidentState,
  entry: RecentEvent,
  kept: boolean,
  now: number,
  ruleSet: RuleSet,
  reuse = false,
): ResidentState {
  const { keepEvents, keepEventsForS, keepSeen } = ruleSet.settings;
  const seen = reuse ? seenInPlace(state.seen, entry.id, keepSeen) : seenWith(state.seen, entry.id, keepSeen);
  if (!kept) return rebuilt(state, state.recent as RecentEvent[], seen, state.forgottenUntil, reuse);
  const before = state.recent;
  const horizon = now - keepEventsForS * 1000;
  const start = firstAtOrAfter(before, horizon);
  let recent: RecentEvent[];
  // What goes: before[0..cut), and the event itself when it is too old or beyond the count.
  let cut: number;
  let dropped = true;
  // The newest event dropped: read before the list changes (in place, with `reuse`).
  let cutAt: number | undefined;
  if (entry.at < horizon) {
    // Too old to keep (it is in `seen`): only the prefix past the horizon or the count goes.
    cut = start + Math.max(0, before.length - start - keepEvents);
    cutAt = cut > 0 ? (before[cut - 1] as RecentEvent).at : undefined;
    recent = reuse ? dropFirst(before, cut) : before.slice(cut);
  } else {
    const at = indexOf(before, entry);
    // The list would be before[start..at) + entry + before[at..]; the oldest beyond the count go.
    const excess = Math.max(0, before.length - start + 1 - keepEvents);
    // Full by one, and one device holds more than its share: its oldest goes instead (below).
    const spare = excess === 1 ? crowdedOldest(before, start, entry, keepEvents) : -1;
    if (spare >= 0) {
      const gone = spare === before.length ? entry : (before[spare] as RecentEvent);
      cut = start;
      cutAt = cut > 0 ? (before[cut - 1] as RecentEvent).at : undefined;
      dropped = gone === entry;
      if (dropped) recent = reuse ? dropFirst(before, cut) : before.slice(cut);
      else {
        recent = reuse ? withEntryInPlace(before, cut, at, entry) : withEntry(before, cut, at, entry);
        recent.splice(spare - cut + (spare >= at ? 1 : 0), 1);
      }
      // Only a press or a cancel dropped leaves a group of presses unknown from its start.
      let forgottenUntil = state.forgottenUntil;
      if (cutAt !== undefined) forgottenUntil = Math.max(forgottenUntil ?? -Infinity, cutAt);
      if (planOf(ruleSet).groupTypes.has(gone.type))
        forgottenUntil = Math.max(forgottenUntil ?? -Infinity, gone.at);
      if (!dropped && isBeat(planOf(ruleSet).beatList, entry.type))
        recent = pruneBeats(recent, entry, ruleSet);
      return rebuilt(state, recent, seen, forgottenUntil, reuse);
    }
    if (at - start < excess) {
      cut = start + excess - 1;
      cutAt = cut > 0 ? (before[cut - 1] as RecentEvent).at : undefined;
      recent = reuse ? dropFirst(before, cut) : before.slice(cut);
    } else {
      cut = start + excess;
      dropped = false;
      cutAt = cut > 0 ? (before[cut - 1] as RecentEvent).at : undefined;
      recent = reuse ? withEntryInPlace(before, cut, at, entry) : withEntry(before, cut, at, entry);
    }
  }
  if (!dropped && isBeat(planOf(ruleSet).beatList, entry.type)) recent = pruneBeats(recent, entry, ruleSet);
  let forgottenUntil = state.forgottenUntil;
  if (cutAt !== undefined) forgottenUntil = Math.max(forgottenUntil ?? -Infinity, cutAt);
  if (dropped) forgottenUntil = Math.max(forgottenUntil ?? -Infinity, entry.at);
  return rebuilt(state, recent, seen, forgottenUntil, reuse);
}

/** Reused by `crowdedOldest`: entries per device serial, cleared on each use. */
const perDevice = new Map<string, number>();

/**
 * The list is full: which entry goes. By default the oldest; but when one device holds more than a
 * quarter of the list (a PIR bouncing 50 times a minute, a room's PIR reporting every minute while
 * the person sits in the chair), the oldest of that device's entries, so that its reports cannot
 * push out what the home's other devices said: the chair occupied four hours ago, the bed left at
 * 02:00, the dose offered at 08:00, each awaited by a check that finds its event gone and decides
 * nothing (an alert missed). The device's older reports are the ones its newer ones say again.
 *
 * Gives the index in `before` of the entry to drop (`before.length`: the entry itself, older than
 * every one of its device's kept), or -1 to drop the oldest as before (no device crowds the list,
 * or the oldest is the crowding device's own).
 */
function crowdedOldest(
  before: readonly RecentEvent[],
  start: number,
  entry: RecentEvent,
  keepEvents: number,
): number {
  const share = Math.max(1, Math.floor(keepEvents / 4));
  perDevice.clear();
  let crowded: string | undefined;
  let most = 0;
  const count = (serial: string) => {
    const n = (perDevice.get(serial) ?? 0) + 1;
    perDevice.set(serial, n);
    if (n > most) {
      most = n;
      crowded = serial;
    }
  };
  for (let i = start; i < before.length; i++) count((before[i] as RecentEvent).serial);
  count(entry.serial);
  perDevice.clear();
  if (crowded === undefined || most <= share) return -1;
  for (let i = start; i < before.length; i++) {
    const seen = before[i] as RecentEvent;
    if (seen.serial !== crowded) continue;
    if (entry.serial === crowded && byTimeThenId(entry, seen) < 0) return before.length;
    return i === start ? -1 : i;
  }
  return before.length;
}

/**
 * before[cut..at) + entry + before[at..], allocated at its final size and filled: a slice and then
 * a push would allocate twice, as the push grows the slice's store by half again (about 2 KB per
 * kept event instead of 1 KB, most of what an event allocated).
 */
function withEntry(
  before: readonly RecentEvent[],
  cut: number,
  at: number,
  entry: RecentEvent,
): RecentEvent[] {
  const recent = new Array<RecentEvent>(before.length - cut + 1);
  let j = 0;
  for (let i = cut; i < at; i++) recent[j++] = before[i] as RecentEvent;
  recent[j++] = entry;
  for (let i = at; i < before.length; i++) recent[j++] = before[i] as RecentEvent;
  return recent;
}

/**
 * `withEntry` on the list itself, for a caller that gave up the state (`evaluate`'s `reuse`): an
 * event in order is a push, with no copy of the list.
 */
function withEntryInPlace(
  before: readonly RecentEvent[],
  cut: number,
  at: number,
  entry: RecentEvent,
): RecentEvent[] {
  const recent = before as RecentEvent[];
  if (at === recent.length) recent.push(entry);
  else recent.splice(at, 0, entry);
  if (cut > 0) recent.splice(0, cut);
  return recent;
}

/** `before.slice(cut)` on the list itself, for a caller that gave up the state. */
function dropFirst(before: readonly RecentEvent[], cut: number): RecentEvent[] {
  const recent = before as RecentEvent[];
  if (cut > 0) recent.splice(0, cut);
  return recent;
}

/** `seenWith` on the list itself, for a caller that gave up the state; its fingerprints with it. */
function seenInPlace(old: readonly string[], id: string, keepSeen: number): string[] {
  const seen = old as string[];
  let prints = (seen as Printed)[PRINTS];
  if (prints === undefined || prints.length !== seen.length) {
    // The list's first update in place: its fingerprints from now on.
    prints = new Array<number>(seen.length);
    for (let i = 0; i < seen.length; i++) prints[i] = fingerprint(seen[i] as string);
    Object.defineProperty(seen, PRINTS, {
      value: prints,
      writable: true,
      enumerable: false,
      configurable: true,
    });
  }
  const print = printOf(id);
  if (seen.length < keepSeen) {
    seen.push(id);
    prints.push(print);
    return seen;
  }
  // Full: the oldest go and the rest move down one (eight references, by default).
  const from = seen.length + 1 - keepSeen;
  for (let i = 0; i < keepSeen - 1; i++) {
    seen[i] = seen[from + i] as string;
    prints[i] = prints[from + i] as number;
  }
  // Setting the length goes through the runtime: only when it changes (a smaller `keepSeen`).
  if (seen.length !== keepSeen) {
    seen.length = keepSeen;
    prints.length = keepSeen;
  }
  seen[keepSeen - 1] = id;
  prints[keepSeen - 1] = print;
  return seen;
}

/** Whether the type is one of the few only supervision reads back (`Plan.beatList`). */
function isBeat(beats: readonly string[], type: string): boolean {
  for (let i = 0; i < beats.length; i++) if (beats[i] === type) return true;
  return false;
}

/** A device's beats kept in `recent`: its latest, and the one before for a beat that came late. */
export const KEEP_BEATS = 2;

/**
 * Drops the device's beats older than its last `KEEP_BEATS` (of the types only supervision reads).
 * A beat's check is cancelled by the next beat within its interval, so only the latest beats'
 * checks can still fire; two thirds of a home's `recent` were heartbeats before.
 */
export function pruneBeats(recent: RecentEvent[], entry: RecentEvent, ruleSet: RuleSet): RecentEvent[] {
  const beats = planOf(ruleSet).beatList;
  let newer = 0;
  let drop = -1;
  for (let i = recent.length - 1; i >= 0; i--) {
    const seen = recent[i] as RecentEvent;
    // The type first: most entries walked are not beats, and their types are a handful of strings
    // in constant use, where each serial is a string of its own (one per event) out in the heap.
    if (!isBeat(beats, seen.type) || seen.serial !== entry.serial) continue;
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

/**
 * The state with these lists: one literal, in the one shape of every state (`shapedState`); for a
 * caller that gave up the state (`reuse`), the state itself with them set (every field is there
 * from the start, so setting them keeps its shape), and nothing is copied.
 */
function rebuilt(
  state: ResidentState,
  recent: RecentEvent[],
  seen: string[],
  forgottenUntil: number | undefined,
  reuse: boolean,
): ResidentState {
  if (reuse) {
    state.recent = recent;
    state.seen = seen;
    state.forgottenUntil = forgottenUntil;
    return state;
  }
  return {
    v: state.v,
    residentId: state.residentId,
    recent,
    seen,
    devices: state.devices,
    scheduled: state.scheduled,
    routines: state.routines,
    forgottenUntil,
    rhythms: state.rhythms,
    away: state.away,
  };
}

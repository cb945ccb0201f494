import { type EventType, EventTypeSchema } from '@telecare/contracts';
import { z } from 'zod';
import { byTimeThenId } from './kinds/recent.ts';
import { DeviceSupervision, type RecentEvent, ResidentState, Rhythm, Routine, shapedState } from './model.ts';
import { shapedRhythm } from './rhythm.ts';

/**
 * The stored form of a `ResidentState` (what the shell keeps per resident, in Redis). In memory a
 * remembered event is an object that repeats its device's serial, kind, location and test flag,
 * its type's name, a full epoch time and the `evt_` of its id; stored, `recent` is a table:
 * each device once (`senders`), each type once (`types`), and per event its id, type index, time
 * since the event before it and sender index (then a reading or a dose id when it has one).
 * Those repeats were nine tenths of a resident's stored state. Nothing is dropped: decoding gives
 * back the same state, field for field.
 */
const STORED_VERSION = 3;

/** An `evt_` id stored without its prefix; any other id is stored behind a `~`. */
const EVT = 'evt_';
const OTHER = '~';

function packId(id: string): string {
  return id.startsWith(EVT) && id[EVT.length] !== OTHER ? id.slice(EVT.length) : OTHER + id;
}

function unpackId(stored: string): string {
  return stored.startsWith(OTHER) ? stored.slice(OTHER.length) : EVT + stored;
}

/**
 * [serial, device kind, location or null, test mode 0/1], then 1 for a sender of alarms its kind
 * does not report (`unexpectedKind`), then 1 for a sender of alarms taken from frames whose pad
 * broke its panel's style (`padBroken`; the flag before it 0 where it is not set), then 1 for a
 * sender of status reports of an alarm still present (`stillPresent`; the two flags before it 0
 * where not set): the same device's other events are another sender.
 */
const Flag = z.union([z.literal(0), z.literal(1)]);
const SenderBase = [z.string(), z.string(), z.string().nullable(), Flag] as const;
const Sender = z.union([
  z.tuple([...SenderBase]),
  z.tuple([...SenderBase, z.literal(1)]),
  z.tuple([...SenderBase, Flag, z.literal(1)]),
  z.tuple([...SenderBase, Flag, Flag, z.literal(1)]),
]);
type Sender = z.infer<typeof Sender>;

function senderOf(entry: RecentEvent): Sender {
  const base = [entry.serial, entry.deviceKind, entry.location ?? null, entry.testMode ? 1 : 0] as const;
  if (entry.stillPresent) return [...base, entry.unexpectedKind ? 1 : 0, entry.padBroken ? 1 : 0, 1];
  if (entry.padBroken) return [...base, entry.unexpectedKind ? 1 : 0, 1];
  return entry.unexpectedKind ? [...base, 1] : [...base];
}

/**
 * [id, type index, ms since the event before (the first: epoch ms), sender index, celsius or null,
 * dose id (or null), when its device left this home (`movedAt`, or null), the other instant its
 * time could mean (`alttime`, or null), by how many ms a cancel or restore was timed ahead of its
 * arrival (`aheadMs`, or null), a cancel's or restore's source code (`sourceCode`)]. A row is as
 * long as its last field that is set: most events have none of the last four, and the state stays
 * as small as it was; a row stored before the code was kept reads back without one.
 */
/** The columns every row has: id, type index, time, sender index. */
const ROW = [z.string(), z.number().int().min(0), z.number(), z.number().int().min(0)] as const;
/** Celsius, dose id, `movedAt` and `alttime`, each null where unset when a later column is set. */
const UP_TO_ALTTIME = [
  z.number().nullable(),
  z.string().nullable(),
  z.string().nullable(),
  z.string().nullable(),
] as const;
const StoredRecent = z.union([
  z.tuple([...ROW]),
  z.tuple([...ROW, z.number().nullable()]),
  z.tuple([...ROW, z.number().nullable(), z.string()]),
  z.tuple([...ROW, z.number().nullable(), z.string().nullable(), z.string()]),
  z.tuple([...ROW, z.number().nullable(), z.string().nullable(), z.string().nullable(), z.string()]),
  z.tuple([...ROW, ...UP_TO_ALTTIME, z.number()]),
  z.tuple([...ROW, ...UP_TO_ALTTIME, z.number().nullable(), z.string()]),
]);
type StoredRecent = z.infer<typeof StoredRecent>;

/** A remembered event's row: the shortest form that holds what it has. */
function rowOf(entry: RecentEvent, type: number, time: number, sender: number): StoredRecent {
  const id = packId(entry.id);
  if (entry.sourceCode !== undefined || entry.aheadMs !== undefined || entry.alttime !== undefined) {
    const upToMoved = [
      id,
      type,
      time,
      sender,
      entry.celsius ?? null,
      entry.doseId ?? null,
      entry.movedAt ?? null,
    ] as const;
    if (entry.sourceCode !== undefined)
      return [...upToMoved, entry.alttime ?? null, entry.aheadMs ?? null, entry.sourceCode];
    return entry.aheadMs === undefined
      ? [...upToMoved, entry.alttime as string]
      : [...upToMoved, entry.alttime ?? null, entry.aheadMs];
  }
  if (entry.movedAt !== undefined)
    return [id, type, time, sender, entry.celsius ?? null, entry.doseId ?? null, entry.movedAt];
  if (entry.doseId !== undefined) return [id, type, time, sender, entry.celsius ?? null, entry.doseId];
  if (entry.celsius !== undefined) return [id, type, time, sender, entry.celsius];
  return [id, type, time, sender];
}

const StoredState = z.object({
  v: z.literal(STORED_VERSION),
  residentId: z.string().min(1),
  types: z.array(EventTypeSchema),
  senders: z.array(Sender),
  recent: z.array(StoredRecent),
  seen: z.array(z.string()),
  devices: z.record(z.string(), DeviceSupervision),
  scheduled: z.record(z.string(), z.number()),
  routines: z.record(z.string(), Routine),
  rhythms: z.record(z.string(), Rhythm).optional(),
  forgottenUntil: z.number().optional(),
  away: ResidentState.shape.away,
});
type StoredState = z.infer<typeof StoredState>;

/** The state as the shell stores it: compact JSON that `decodeState` reads back. */
export function encodeState(state: ResidentState): string {
  const types: EventType[] = [];
  const typeIndex = new Map<EventType, number>();
  const senders: Sender[] = [];
  const senderIndex = new Map<string, number>();
  const recent: StoredRecent[] = [];
  let previousAt = 0;
  for (const entry of state.recent) {
    let t = typeIndex.get(entry.type);
    if (t === undefined) {
      t = types.push(entry.type) - 1;
      typeIndex.set(entry.type, t);
    }
    const sender = senderOf(entry);
    const senderKey = sender.join('\u0000');
    let s = senderIndex.get(senderKey);
    if (s === undefined) {
      s = senders.push(sender) - 1;
      senderIndex.set(senderKey, s);
    }
    recent.push(rowOf(entry, t, entry.at - previousAt, s));
    previousAt = entry.at;
  }
  const stored: StoredState = {
    v: STORED_VERSION,
    residentId: state.residentId,
    types,
    senders,
    recent,
    seen: state.seen.map(packId),
    devices: state.devices,
    scheduled: state.scheduled,
    routines: state.routines,
    ...(state.rhythms === undefined ? {} : { rhythms: state.rhythms }),
    ...(state.forgottenUntil === undefined ? {} : { forgottenUntil: state.forgottenUntil }),
    ...(state.away === undefined ? {} : { away: state.away }),
  };
  return JSON.stringify(stored);
}

/** Thrown by `decodeState` when stored text is not a state; the shell drops it and rebuilds. */
export class StateDecodeError extends Error {
  override readonly name = 'StateDecodeError';
  readonly detail: string;

  constructor(detail: string, options?: { cause?: unknown }) {
    super(`unreadable resident state: ${detail}`, options);
    this.detail = detail;
  }
}

const Versioned = z.object({ v: z.number() });

/**
 * Reads what `encodeState` wrote, or a state stored whole by an earlier version (`v: 2`, the
 * in-memory shape as JSON), so states in place when the stored form changed stay readable.
 */
export function decodeState(text: string): ResidentState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new StateDecodeError('not JSON', { cause: err });
  }
  const versioned = Versioned.safeParse(json);
  if (versioned.success && versioned.data.v === 2) {
    const whole = ResidentState.safeParse(json);
    if (!whole.success) throw new StateDecodeError(z.prettifyError(whole.error));
    const state = shapedState(whole.data);
    if (state.rhythms !== undefined) state.rhythms = shapedRhythms(state.rhythms);
    return state;
  }
  const parsed = StoredState.safeParse(json);
  if (!parsed.success) throw new StateDecodeError(z.prettifyError(parsed.error));
  return expand(parsed.data);
}

function expand(stored: StoredState): ResidentState {
  const recent: RecentEvent[] = [];
  let at = 0;
  for (const [id, t, delta, s, celsius, doseId, movedAt, alttime, aheadMs, sourceCode] of stored.recent) {
    const type = stored.types[t];
    const sender = stored.senders[s];
    if (type === undefined || sender === undefined)
      throw new StateDecodeError(`recent event ${id} names a type or sender the state does not list`);
    at += delta;
    // In the one shape `toRecent` builds (the fields absent `undefined`).
    recent.push({
      id: unpackId(id),
      type,
      at,
      serial: sender[0],
      deviceKind: sender[1],
      testMode: sender[3] === 1,
      location: sender[2] ?? undefined,
      celsius: celsius ?? undefined,
      doseId: doseId ?? undefined,
      unexpectedKind: sender[4] === 1 ? true : undefined,
      padBroken: sender[5] === 1 ? true : undefined,
      stillPresent: sender[6] === 1 ? true : undefined,
      movedAt: movedAt ?? undefined,
      alttime: alttime ?? undefined,
      aheadMs: aheadMs ?? undefined,
      sourceCode,
    });
  }
  // In the one shape of every state the core builds (`shapedState`).
  return {
    v: 2,
    residentId: stored.residentId,
    recent,
    seen: stored.seen.map(unpackId),
    devices: stored.devices,
    scheduled: stored.scheduled,
    routines: stored.routines,
    forgottenUntil: stored.forgottenUntil,
    rhythms: stored.rhythms === undefined ? undefined : shapedRhythms(stored.rhythms),
    away: stored.away,
  };
}

/**
 * The rhythms read back in the one shape the core builds them in (`shapedRhythm`): the stored
 * JSON keeps each resident's own key order, and a field read on every activity would otherwise
 * meet as many shapes as residents.
 */
function shapedRhythms(rhythms: Record<string, Rhythm>): Record<string, Rhythm> {
  const shaped: Record<string, Rhythm> = {};
  for (const id in rhythms) shaped[id] = shapedRhythm(rhythms[id] as Rhythm);
  return shaped;
}

/*
 * The stored form as a list (version 4): what an event changes is written, not the whole state.
 *
 * A resident's `recent` changes with nearly every event, and mostly at its ends: an event in
 * order is one more row at the end, and once the list is full the oldest row goes. Encoding and
 * writing the whole state for that cost 130 µs an event for a home whose `recent` is full. Here the
 * state is a list of strings: `[head, rhythms, ...rows]` (the shell keeps a token of its own in
 * front). The head holds everything but the rhythms and `recent` (it changes with every event, as
 * `seen` does: half a kilobyte), the rhythms their own element (a kilobyte, changed by activity only),
 * and each remembered event is a row of its own, in any order (the reader sorts them). A change is
 * then the head, the rhythms when they changed, the rows that went and the rows that came.
 *
 * A row names its type and sender by index in the head's tables and its time from the head's
 * `t0`, so it is written once and never changes: a row that goes is found by its text. Between two
 * writes of the whole list the tables only grow (a new sender or type is added at the end) and
 * `t0` stays; a writer of the whole list builds them afresh.
 */
const LIST_VERSION = 4;
/** Past this many senders or types in the head, a change writes the whole list (tables afresh). */
const MAX_TABLE = 64;

const StoredHead = z.object({
  v: z.literal(LIST_VERSION),
  residentId: z.string().min(1),
  t0: z.number(),
  types: z.array(EventTypeSchema),
  senders: z.array(Sender),
  seen: z.array(z.string()),
  devices: z.record(z.string(), DeviceSupervision),
  scheduled: z.record(z.string(), z.number()),
  routines: z.record(z.string(), Routine),
  forgottenUntil: z.number().optional(),
  away: ResidentState.shape.away,
});
const StoredRhythms = z.record(z.string(), Rhythm).nullable();
const StoredRows = z.array(StoredRecent);

/** What a writer of changes needs of a stored list: its tables and time base, as stored. */
export interface StoredLayout {
  readonly t0: number;
  readonly types: readonly EventType[];
  readonly typeIndex: ReadonlyMap<EventType, number>;
  readonly senders: readonly Sender[];
  readonly senderIndex: ReadonlyMap<string, number>;
  /** The JSON of the head's and rhythms' parts as last encoded (none in a layout read back). */
  readonly texts?: PartTexts;
}

/**
 * Per part of the head and of each rhythm (`seen`, `devices`, a rhythm's `gaps`, its `last`…), the
 * value last encoded and its JSON. The core copies only what it changes, so a part still the same
 * object is still the same JSON and is not encoded again: an activity moves a rhythm's `last` and
 * `checkAt`, and its learned days (most of its text) stay as they were.
 */
interface Part {
  readonly value: unknown;
  readonly text: string;
}
/** Per group (the head, each rhythm by its rule id), per key: the part last encoded. */
type PartTexts = Map<string, Map<string, Part>>;

/** The head's group: no rule id. */
const HEAD = '\u0000head';
/** `"key":` for each key met (a state's and a rhythm's field names: a fixed few). */
const keyTexts = new Map<string, string>();
function keyText(key: string): string {
  let text = keyTexts.get(key);
  if (text === undefined) {
    text = `${JSON.stringify(key)}:`;
    keyTexts.set(key, text);
  }
  return text;
}

/**
 * The JSON of a state's parts, reusing a part's text when it is the value last encoded. Its map
 * goes on to the next layout, changed in place: each entry is a value and its JSON, right for
 * whichever layout reads it.
 */
class Texts {
  readonly next: PartTexts;

  constructor(known: PartTexts | undefined) {
    this.next = known ?? new Map();
  }

  group(id: string): Map<string, Part> {
    let parts = this.next.get(id);
    if (parts === undefined) {
      parts = new Map();
      this.next.set(id, parts);
    }
    return parts;
  }

  /** `value`'s JSON, kept for an object. */
  static of(parts: Map<string, Part>, key: string, value: unknown): string {
    const known = parts.get(key);
    if (known !== undefined && known.value === value) return known.text;
    const text = JSON.stringify(value);
    if (typeof value === 'object' && value !== null) parts.set(key, { value, text });
    return text;
  }

  /** An object's JSON as `JSON.stringify` writes it (its keys in order, undefined left out), part by part. */
  object(id: string, value: Readonly<Record<string, unknown>>): string {
    const parts = this.group(id);
    let text = '{';
    for (const key of Object.keys(value)) {
      const part = value[key];
      if (part === undefined) continue;
      if (text.length > 1) text += ',';
      text += keyText(key) + Texts.of(parts, key, part);
    }
    return `${text}}`;
  }
}

/** The list's elements after the shell's token: the head, the rhythms, then one row per event. */
export interface StoredList {
  readonly elements: string[];
  readonly layout: StoredLayout;
}

/**
 * What changed between a state as stored and the next: elements to set (the head, the rhythms;
 * undefined when unchanged) and rows to remove and to add (by their text), with the layout after.
 */
export interface StoredChange {
  readonly head: string | undefined;
  readonly rhythms: string | undefined;
  readonly removed: string[];
  readonly added: string[];
  readonly layout: StoredLayout;
}

/** One sender's key in a layout's index: a location of '' and none differ. */
const keyOf = (
  serial: string,
  kind: string,
  location: string | null | undefined,
  test: boolean,
  unexpected: boolean,
  padBroken: boolean,
  stillPresent: boolean,
): string =>
  `${serial}\u0000${kind}\u0000${test ? 1 : 0}${unexpected ? '!' : ''}${padBroken ? '#' : ''}${stillPresent ? '+' : ''}${location == null ? '' : `\u0000${location}`}`;

const senderKey = (entry: RecentEvent): string =>
  keyOf(
    entry.serial,
    entry.deviceKind,
    entry.location,
    entry.testMode,
    entry.unexpectedKind === true,
    entry.padBroken === true,
    entry.stillPresent === true,
  );

/** A growable copy of a layout's tables, copied only once something is added. */
class Tables {
  #layout: StoredLayout;
  #types: EventType[] | undefined;
  #typeIndex: Map<EventType, number> | undefined;
  #senders: Sender[] | undefined;
  #senderIndex: Map<string, number> | undefined;

  constructor(layout: StoredLayout) {
    this.#layout = layout;
  }

  get changed(): boolean {
    return this.#types !== undefined || this.#senders !== undefined;
  }

  type(type: EventType, add: boolean): number | undefined {
    const index = (this.#typeIndex ?? this.#layout.typeIndex).get(type);
    if (index !== undefined || !add) return index;
    this.#types ??= [...this.#layout.types];
    this.#typeIndex ??= new Map(this.#layout.typeIndex);
    const added = this.#types.push(type) - 1;
    this.#typeIndex.set(type, added);
    return added;
  }

  sender(entry: RecentEvent, add: boolean): number | undefined {
    const key = senderKey(entry);
    const index = (this.#senderIndex ?? this.#layout.senderIndex).get(key);
    if (index !== undefined || !add) return index;
    this.#senders ??= [...this.#layout.senders];
    this.#senderIndex ??= new Map(this.#layout.senderIndex);
    const added = this.#senders.push(senderOf(entry)) - 1;
    this.#senderIndex.set(key, added);
    return added;
  }

  layout(): StoredLayout {
    if (!this.changed) return this.#layout;
    return {
      t0: this.#layout.t0,
      types: this.#types ?? this.#layout.types,
      typeIndex: this.#typeIndex ?? this.#layout.typeIndex,
      senders: this.#senders ?? this.#layout.senders,
      senderIndex: this.#senderIndex ?? this.#layout.senderIndex,
    };
  }
}

const EMPTY_LAYOUT: StoredLayout = {
  t0: 0,
  types: [],
  typeIndex: new Map(),
  senders: [],
  senderIndex: new Map(),
};

function rowText(entry: RecentEvent, type: number, sender: number, t0: number): string {
  return JSON.stringify(rowOf(entry, type, entry.at - t0, sender));
}

/** The head (`StoredHead`, its keys in that order), each part encoded unless `texts` has it already. */
function headText(state: ResidentState, layout: StoredLayout, texts: Texts): string {
  const parts = texts.group(HEAD);
  const seen = parts.get('seen');
  let seenText = seen?.text;
  if (seen?.value !== state.seen) {
    seenText = JSON.stringify(state.seen.map(packId));
    parts.set('seen', { value: state.seen, text: seenText });
  }
  let text = `{"v":${LIST_VERSION},"residentId":${JSON.stringify(state.residentId)},"t0":${JSON.stringify(layout.t0)}`;
  text += `,"types":${Texts.of(parts, 'types', layout.types)},"senders":${Texts.of(parts, 'senders', layout.senders)}`;
  text += `,"seen":${seenText},"devices":${Texts.of(parts, 'devices', state.devices)}`;
  text += `,"scheduled":${Texts.of(parts, 'scheduled', state.scheduled)},"routines":${Texts.of(parts, 'routines', state.routines)}`;
  if (state.forgottenUntil !== undefined) text += `,"forgottenUntil":${JSON.stringify(state.forgottenUntil)}`;
  if (state.away !== undefined) text += `,"away":${Texts.of(parts, 'away', state.away)}`;
  return `${text}}`;
}

/** The rhythms by rule id, each encoded part by part (`Texts.object`), or `null`. */
function rhythmsText(state: ResidentState, texts: Texts): string {
  if (state.rhythms === undefined) return 'null';
  let text = '{';
  for (const [id, rhythm] of Object.entries(state.rhythms)) {
    if (rhythm === undefined) continue;
    if (text.length > 1) text += ',';
    text += keyText(id) + texts.object(id, rhythm);
  }
  return `${text}}`;
}

/** The whole state as a list, its tables built afresh. */
export function encodeStateList(state: ResidentState): StoredList {
  const t0 = state.recent[0]?.at ?? 0;
  const tables = new Tables({ ...EMPTY_LAYOUT, t0 });
  const rows: string[] = [];
  for (const entry of state.recent)
    rows.push(
      rowText(entry, tables.type(entry.type, true) as number, tables.sender(entry, true) as number, t0),
    );
  const layout = tables.layout();
  const texts = new Texts(undefined);
  const elements = [headText(state, layout, texts), rhythmsText(state, texts), ...rows];
  return { elements, layout: { ...layout, texts: texts.next } };
}

/**
 * The change from `before` (stored with `layout`) to `after`, or undefined when the whole list
 * should be written instead: a row that went names a sender the tables do not hold (not one
 * `before` was stored with), the tables grew past their bound, or more rows changed than stay.
 * Both lists are sorted by (at, id), and an event kept in both is the same (at, id) in both.
 * `before` must be the state as it was stored: one the core was given to update in place (`reuse`)
 * is no longer that. So must every part `layout` holds the JSON of (`StoredLayout.texts`): a part
 * still the same object is taken to be the same JSON.
 */
export function encodeStateChange(
  layout: StoredLayout,
  before: ResidentState,
  after: ResidentState,
): StoredChange | undefined {
  const tables = new Tables(layout);
  const removed: string[] = [];
  const added: string[] = [];
  const old = before.recent;
  const now = after.recent;
  if (old !== now) {
    let i = 0;
    let j = 0;
    while (i < old.length || j < now.length) {
      const a = old[i];
      const b = now[j];
      if (a !== undefined && b !== undefined && (a === b || (a.at === b.at && a.id === b.id))) {
        i++;
        j++;
        continue;
      }
      const gone = b === undefined || (a !== undefined && byTimeThenId(a, b) < 0);
      const entry = (gone ? a : b) as RecentEvent;
      const type = tables.type(entry.type, !gone);
      const sender = tables.sender(entry, !gone);
      if (type === undefined || sender === undefined) return undefined;
      (gone ? removed : added).push(rowText(entry, type, sender, layout.t0));
      if (gone) i++;
      else j++;
    }
    if (removed.length + added.length > now.length) return undefined;
  }
  const next = tables.layout();
  if (next.types.length > MAX_TABLE || next.senders.length > MAX_TABLE) return undefined;
  const headChanged =
    tables.changed ||
    before.seen !== after.seen ||
    before.devices !== after.devices ||
    before.scheduled !== after.scheduled ||
    before.routines !== after.routines ||
    before.forgottenUntil !== after.forgottenUntil ||
    before.away !== after.away;
  const texts = new Texts(layout.texts);
  return {
    head: headChanged ? headText(after, next, texts) : undefined,
    rhythms: before.rhythms === after.rhythms ? undefined : rhythmsText(after, texts),
    removed,
    added,
    layout: { ...next, texts: texts.next },
  };
}

/** Reads a list `encodeStateList` wrote and changes applied to it (rows in any order). */
export function decodeStateList(elements: readonly string[]): { state: ResidentState; layout: StoredLayout } {
  const [headText, rhythmsText, ...rows] = elements;
  if (headText === undefined || rhythmsText === undefined) throw new StateDecodeError('no head');
  let json: unknown;
  let rhythmsJson: unknown;
  let rowsJson: unknown;
  try {
    json = JSON.parse(headText);
    rhythmsJson = JSON.parse(rhythmsText);
    rowsJson = JSON.parse(`[${rows.join(',')}]`);
  } catch (err) {
    throw new StateDecodeError('not JSON', { cause: err });
  }
  const head = StoredHead.safeParse(json);
  if (!head.success) throw new StateDecodeError(z.prettifyError(head.error));
  const rhythms = StoredRhythms.safeParse(rhythmsJson);
  if (!rhythms.success) throw new StateDecodeError(z.prettifyError(rhythms.error));
  const stored = StoredRows.safeParse(rowsJson);
  if (!stored.success) throw new StateDecodeError(z.prettifyError(stored.error));
  const { t0, types, senders } = head.data;
  const recent: RecentEvent[] = [];
  for (const [id, t, at, s, celsius, doseId, movedAt, alttime, aheadMs, sourceCode] of stored.data) {
    const type = types[t];
    const sender = senders[s];
    if (type === undefined || sender === undefined)
      throw new StateDecodeError(`recent event ${id} names a type or sender the state does not list`);
    const entry: { -readonly [K in keyof RecentEvent]: RecentEvent[K] } = {
      id: unpackId(id),
      type,
      at: t0 + at,
      serial: sender[0],
      deviceKind: sender[1],
      testMode: sender[3] === 1,
    };
    if (sender[2] !== null) entry.location = sender[2];
    if (sender[4] === 1) entry.unexpectedKind = true;
    if (sender[5] === 1) entry.padBroken = true;
    if (sender[6] === 1) entry.stillPresent = true;
    if (celsius !== undefined && celsius !== null) entry.celsius = celsius;
    if (doseId !== undefined && doseId !== null) entry.doseId = doseId;
    if (movedAt !== undefined && movedAt !== null) entry.movedAt = movedAt;
    if (alttime !== undefined && alttime !== null) entry.alttime = alttime;
    if (aheadMs !== undefined && aheadMs !== null) entry.aheadMs = aheadMs;
    if (sourceCode !== undefined) entry.sourceCode = sourceCode;
    recent.push(entry);
  }
  recent.sort(byTimeThenId);
  const typeIndex = new Map<EventType, number>(types.map((type, i) => [type, i]));
  const senderIndex = new Map<string, number>(
    senders.map((sender, i) => [
      keyOf(
        sender[0],
        sender[1],
        sender[2],
        sender[3] === 1,
        sender[4] === 1,
        sender[5] === 1,
        sender[6] === 1,
      ),
      i,
    ]),
  );
  const state: ResidentState = {
    v: 2,
    residentId: head.data.residentId,
    recent,
    seen: head.data.seen.map(unpackId),
    devices: head.data.devices,
    scheduled: head.data.scheduled,
    routines: head.data.routines,
    forgottenUntil: head.data.forgottenUntil,
    rhythms: rhythms.data === null ? undefined : shapedRhythms(rhythms.data),
    away: head.data.away,
  };
  return { state, layout: { t0, types, typeIndex, senders, senderIndex } };
}

import { type EventType, EventTypeSchema } from '@telecare/contracts';
import { z } from 'zod';
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

/** [serial, device kind, location or null, test mode 0/1]. */
const Sender = z.tuple([
  z.string(),
  z.string(),
  z.string().nullable(),
  z.union([z.literal(0), z.literal(1)]),
]);
type Sender = z.infer<typeof Sender>;

/** [id, type index, ms since the event before (the first: epoch ms), sender index, celsius or null, dose id]. */
const StoredRecent = z.union([
  z.tuple([z.string(), z.number().int().min(0), z.number(), z.number().int().min(0)]),
  z.tuple([z.string(), z.number().int().min(0), z.number(), z.number().int().min(0), z.number().nullable()]),
  z.tuple([
    z.string(),
    z.number().int().min(0),
    z.number(),
    z.number().int().min(0),
    z.number().nullable(),
    z.string(),
  ]),
]);
type StoredRecent = z.infer<typeof StoredRecent>;

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
    const sender: Sender = [entry.serial, entry.deviceKind, entry.location ?? null, entry.testMode ? 1 : 0];
    const senderKey = sender.join('\u0000');
    let s = senderIndex.get(senderKey);
    if (s === undefined) {
      s = senders.push(sender) - 1;
      senderIndex.set(senderKey, s);
    }
    const row: StoredRecent =
      entry.doseId !== undefined
        ? [packId(entry.id), t, entry.at - previousAt, s, entry.celsius ?? null, entry.doseId]
        : entry.celsius !== undefined
          ? [packId(entry.id), t, entry.at - previousAt, s, entry.celsius]
          : [packId(entry.id), t, entry.at - previousAt, s];
    recent.push(row);
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
  for (const [id, t, delta, s, celsius, doseId] of stored.recent) {
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
      doseId,
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

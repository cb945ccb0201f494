import type { Place, RecentEvent, Rhythm, RhythmRule } from './model.ts';
import { epochDay, type LocalTime, localMinute, localTime } from './time.ts';

/** Days the rhythm remembers: two weeks, so that both weekends count and it follows the person. */
export const RHYTHM_DAYS = 14;
/** Parts of the day the silences are learned by: three hours each. */
const PARTS = 8;
const PLACES_LEARNED = 2; // home, chair
const GET_UP_FROM_MINUTE = 4 * 60;
const UP_CONFIRMED_MS = 20 * 60_000;
/** A place and time of day seen on fewer days than this keeps the prior as its least limit. */
export const MIN_SEEN_DAYS = 3;
/** Door reports this close together are one passage through it (opened, closed, opened again). */
export const DOOR_PASSAGE_MS = 2 * 60_000;
/**
 * Out longer than this (more than a night away: out in the morning and back the morning after is
 * a night away, and learned as one) is a stay (a week in hospital, respite, a holiday nobody
 * declared), not an outing: its length and return teach nothing about this person's outings.
 */
export const STAY_AWAY_MS = 36 * 3_600_000;
/**
 * A carer's visit (`carer.arrived` with no `carer.left`) is taken to have ended this long after it
 * began: a visit whose "left" was never pressed must not hide the resident's return for ever.
 */
export const VISIT_MAX_MS = 2 * 3_600_000;
/** A door report this soon after a carer's "left" is the carer going. */
export const VISIT_DOOR_MS = 5 * 60_000;
/**
 * A chair pad reports its seat left up to this long after the person stood up (its vacate delay,
 * so that shifting in the seat is not reported): the carer up from the chair as they go may be
 * reported after the door closed behind them.
 */
export const SEAT_LAG_MS = 60_000;
/**
 * A chair pad slower than `SEAT_LAG_MS` to report its seat left: up to this long after the door
 * closed behind the carer, with nothing moving inside since, the seat left is still the carer's.
 */
export const SLOW_SEAT_MS = 3 * 60_000;

/**
 * Whether the door closing `closed`, which took the person out, was a carer coming in, for their
 * "arrived" at `at`: within `VISIT_DOOR_MS` before it, and no door opened since (`opened`, the
 * latest opening since, or a visit begun since; an opening within `bounceMs` of the closing is the
 * door settling, no passage). A door contact shows every passage: the resident going out (opened,
 * closed) and a carer coming in after them (opened, closed again) are two, even within a door's
 * passage (`DOOR_PASSAGE_MS`) of each other, and the carer came in by the second; the one that took
 * the resident out was theirs.
 */
export const carerTookDoor = (
  closed: RecentEvent,
  opened: number | undefined,
  at: number,
  bounceMs: number,
): boolean =>
  closed.type === 'door.closed' &&
  at - closed.at <= VISIT_DOOR_MS &&
  !(opened !== undefined && opened - closed.at >= bounceMs);

/**
 * A second carer of a visit arrives this soon after it began (double-handed care: the two come
 * together, or one a little late). An "arrived" later in a visit still open is the next visit,
 * the "left" of the one before forgotten.
 */
const VISIT_JOIN_MS = 30 * 60_000;

/** What a rhythm knows of a carer's visit: when it began and ended, how many carers are in. */
export type Visit = Pick<Rhythm, 'visit' | 'visitEnd' | 'visitors'>;

/** Whether a carer's visit is open at `at`: begun, no "left" ending it, and not past its longest. */
export const visitOpen = (visit: Visit, at: number): boolean =>
  visit.visit !== undefined && visit.visitEnd === undefined && at - visit.visit < VISIT_MAX_MS;

/** Whether a carer's "arrived" joins the visit open (`visiting`): another carer of it. */
export const joins = (next: Visit, entry: RecentEvent, visiting: boolean): boolean =>
  visiting && entry.type === 'carer.arrived' && entry.at - (next.visit ?? entry.at) <= VISIT_JOIN_MS;

/**
 * The visit after a carer's report in time order, on `result` (`next`, or its copy): an "arrived"
 * that joins the visit open (`joins`) is another carer of it, and the visit ends with the last of
 * their "left"s; otherwise an "arrived" begins a visit and a "left" ends it.
 */
export function visitAfter(
  result: { -readonly [K in keyof Visit]: Visit[K] },
  next: Visit,
  entry: RecentEvent,
  visiting: boolean,
): void {
  const carers = next.visitors ?? 1;
  if (entry.type === 'carer.arrived') {
    if (joins(next, entry, visiting)) {
      result.visitors = carers + 1;
      return;
    }
    result.visit = entry.at;
    result.visitEnd = undefined;
  } else if (visiting && carers > 1) {
    result.visitors = carers > 2 ? carers - 1 : undefined;
    return;
  } else {
    result.visit = next.visit ?? entry.at;
    result.visitEnd = entry.at;
  }
  result.visitors = undefined;
}

/** A kept return's cell that it did not raise (`beforeReturn`): no index. */
const NOTHING_LEARNED: [number, number] = [-1, 0];

type KeptReturn = NonNullable<Rhythm['beforeReturn']>;

/** What a return by `entry`, ending the outing since `last`, changes, as it was (`beforeReturn`). */
const keptReturn = (
  entry: RecentEvent,
  last: RecentEvent,
  next: Rhythm,
  returning: number | undefined,
  outs: [number, number],
  backs: [number, number],
  gaps: [number, number],
): KeptReturn => ({
  at: entry.at,
  id: entry.id,
  last,
  returning,
  checkAt: next.checkAt,
  visit: next.visit,
  visitEnd: next.visitEnd,
  bed: next.bed,
  chair: next.chair,
  bedTs: next.bedTs,
  chairTs: next.chairTs,
  outs,
  backs,
  gaps,
});

const ringOf = (date: string): number => epochDay(date) % RHYTHM_DAYS;
/**
 * The ring slot of `date`'s values: the day's own once it is learned, or (a day ahead of the newest
 * learned) the slot it will clear for it; -1 for a day the ring no longer holds.
 */
export function ringIndexOf(rhythm: Rhythm, date: string): number {
  const behind = epochDay(rhythm.day) - epochDay(date);
  return behind < RHYTHM_DAYS && behind > -RHYTHM_DAYS ? ringOf(date) : -1;
}

/** The minute the resident was learned to get up on `date` (local), if the ring still holds that day. */
export function upMinuteOn(rhythm: Rhythm, date: string): number | undefined {
  if (epochDay(date) > epochDay(rhythm.day)) return undefined;
  const ring = ringIndexOf(rhythm, date);
  const minute = ring < 0 ? -1 : (rhythm.up[ring] as number);
  return minute >= 0 ? minute : undefined;
}

/** The day's first activity from the wake-up window's start (`Rhythm.woke`), ms after local midnight. */
export function wokeOn(rhythm: Rhythm, date: string): number | undefined {
  if (!rhythm.woke || epochDay(date) > epochDay(rhythm.day)) return undefined;
  const ring = ringIndexOf(rhythm, date);
  const ms = ring < 0 ? -1 : (rhythm.woke[ring] as number);
  return ms >= 0 ? ms : undefined;
}

const partOf = (minute: number): number => Math.min(PARTS - 1, Math.floor(minute / 180));
const gapIndex = (place: number, part: number, ring: number) => (place * PARTS + part) * RHYTHM_DAYS + ring;

export function initialRhythm(date: string): Rhythm {
  return {
    day: date,
    days: 0,
    gaps: new Array(PLACES_LEARNED * PARTS * RHYTHM_DAYS).fill(0),
    up: new Array(RHYTHM_DAYS).fill(-1),
    outs: new Array(RHYTHM_DAYS).fill(0),
    backs: new Array(PARTS * RHYTHM_DAYS).fill(0),
    beds: new Array(RHYTHM_DAYS).fill(0),
    place: 'home',
    bed: false,
    chair: false,
    bedTs: undefined,
    chairTs: undefined,
    last: undefined,
    returning: undefined,
    beforeDoor: undefined,
    beforeReturn: undefined,
    visit: undefined,
    visitEnd: undefined,
    visitors: undefined,
    noisy: undefined,
    sensors: undefined,
    leftBed: undefined,
    upOn: undefined,
    bedAt: undefined,
    upInNight: undefined,
    checkAt: undefined,
    armedAt: 0,
    woke: undefined,
  };
}

/**
 * The rhythm with every field in one order, those it lacks present as `undefined` (which the
 * stored JSON leaves out): every rhythm the core builds has this one shape, whatever fields it
 * gained and in whatever order, so reading a field on each activity stays a fixed-offset load.
 * A rhythm read back from storage is given it too (its JSON keeps the order it was written in).
 */
export function shapedRhythm(r: Rhythm): Rhythm {
  return {
    day: r.day,
    days: r.days,
    gaps: r.gaps,
    up: r.up,
    outs: r.outs,
    backs: r.backs,
    beds: r.beds,
    place: r.place,
    bed: r.bed,
    chair: r.chair,
    bedTs: r.bedTs,
    chairTs: r.chairTs,
    last: r.last,
    returning: r.returning,
    beforeDoor: r.beforeDoor,
    beforeReturn: r.beforeReturn,
    visit: r.visit,
    visitEnd: r.visitEnd,
    visitors: r.visitors,
    noisy: r.noisy,
    sensors: r.sensors,
    leftBed: r.leftBed,
    upOn: r.upOn,
    bedAt: r.bedAt,
    upInNight: r.upInNight,
    checkAt: r.checkAt,
    armedAt: r.armedAt,
    woke: r.woke,
  };
}

/** A rhythm as the core changes a copy of it: the copy's fields set one by one. */
type Writable = { -readonly [K in keyof Rhythm]: Rhythm[K] };

/**
 * A copy of the rhythm with its check (`checkAt`, `armedAt`) set: `shapedRhythm`'s one literal,
 * not a spread with the fields after it, which gave the copies (the stretch timer's ticks make
 * them) a shape of their own and the rhythm's reads on each activity several shapes to go through.
 */
export function rhythmChecked(r: Rhythm, checkAt: number | undefined, armedAt: number | undefined): Rhythm {
  const copy: Writable = shapedRhythm(r);
  copy.checkAt = checkAt;
  copy.armedAt = armedAt;
  return copy;
}

/**
 * Starts the days from the newest learned up to `date`: their ring slots are cleared. `inPlace`,
 * on the rhythm itself (its fields keep their places, as in the copy).
 */
function rollTo(rhythm: Rhythm, date: string, inPlace: boolean): Rhythm {
  if (date === rhythm.day) return rhythm;
  const from = epochDay(rhythm.day);
  const to = epochDay(date);
  if (to <= from) return rhythm;
  const gaps = inPlace ? rhythm.gaps : [...rhythm.gaps];
  const up = inPlace ? rhythm.up : [...rhythm.up];
  const outs = inPlace ? rhythm.outs : [...rhythm.outs];
  const backs = !rhythm.backs
    ? new Array(PARTS * RHYTHM_DAYS).fill(0)
    : inPlace
      ? rhythm.backs
      : [...rhythm.backs];
  const beds = !rhythm.beds ? new Array(RHYTHM_DAYS).fill(0) : inPlace ? rhythm.beds : [...rhythm.beds];
  const woke = !rhythm.woke ? undefined : inPlace ? rhythm.woke : [...rhythm.woke];
  for (let d = from + 1; d <= Math.min(to, from + RHYTHM_DAYS); d++) {
    const ring = d % RHYTHM_DAYS;
    for (let place = 0; place < PLACES_LEARNED; place++)
      for (let part = 0; part < PARTS; part++) gaps[gapIndex(place, part, ring)] = 0;
    up[ring] = -1;
    outs[ring] = 0;
    for (let part = 0; part < PARTS; part++) backs[part * RHYTHM_DAYS + ring] = 0;
    beds[ring] = 0;
    if (woke) woke[ring] = -1;
  }
  const days = Math.min(RHYTHM_DAYS, rhythm.days + (to - from));
  if (!inPlace) {
    const copy: Writable = shapedRhythm(rhythm);
    copy.day = date;
    copy.days = days;
    copy.gaps = gaps;
    copy.up = up;
    copy.outs = outs;
    copy.backs = backs;
    copy.beds = beds;
    copy.woke = woke;
    return copy;
  }
  rhythm.day = date;
  rhythm.days = days;
  rhythm.backs = backs;
  rhythm.beds = beds;
  return rhythm;
}

/**
 * Whether the person was at home and about on local day `day` (a day number within the ring):
 * silences at home or in the chair learned in half the parts of that day or more.
 */
export function homeDay(rhythm: Rhythm, day: number): boolean {
  const ring = day % RHYTHM_DAYS;
  let parts = 0;
  for (let part = 0; part < PARTS; part++)
    if ((rhythm.gaps[gapIndex(0, part, ring)] ?? 0) > 0 || (rhythm.gaps[gapIndex(1, part, ring)] ?? 0) > 0)
      parts++;
  return parts >= PARTS / 2;
}

/**
 * The silences learned on the local days from `from` to `to` (day numbers) forgotten: a stretch a
 * dead sensor did not see is not the person's rhythm. `rhythm` is a copy nothing else holds.
 */
export function forgetDays(rhythm: Rhythm, from: number, to: number): void {
  const gaps = [...rhythm.gaps];
  for (let d = Math.max(from, to - RHYTHM_DAYS + 1); d <= to; d++) {
    const ring = d % RHYTHM_DAYS;
    for (let place = 0; place < PLACES_LEARNED; place++)
      for (let part = 0; part < PARTS; part++) gaps[gapIndex(place, part, ring)] = 0;
  }
  (rhythm as Writable).gaps = gaps;
}

/** The bed and chair flags after this report, if it is newer than the last of its device kind. */
function seats(rhythm: Rhythm, entry: RecentEvent): Pick<Rhythm, 'bed' | 'chair' | 'bedTs' | 'chairTs'> {
  const out: Pick<Rhythm, 'bed' | 'chair' | 'bedTs' | 'chairTs'> = {
    bed: rhythm.bed,
    chair: rhythm.chair,
    bedTs: rhythm.bedTs,
    chairTs: rhythm.chairTs,
  };
  const bed = entry.type === 'bed.occupied' || entry.type === 'bed.vacated';
  const chair = entry.type === 'chair.occupied' || entry.type === 'chair.vacated';
  if (bed && entry.at >= (rhythm.bedTs ?? -Infinity)) {
    out.bed = entry.type === 'bed.occupied';
    out.bedTs = entry.at;
  }
  if (chair && entry.at >= (rhythm.chairTs ?? -Infinity)) {
    out.chair = entry.type === 'chair.occupied';
    out.chairTs = entry.at;
  }
  return out;
}

/**
 * Where the person is: in bed or in the chair while the sensor says occupied (whoever closes the
 * door then is someone else: a carer leaving), else out when the latest activity is the front
 * door closing, else at home.
 */
export function placeOf(
  bed: boolean,
  chair: boolean,
  last: RecentEvent | undefined,
  returning = false,
): Place {
  if (bed) return 'bed';
  if (chair) return 'chair';
  if (last?.type === 'door.closed' && !returning) return 'out';
  return 'home';
}

/**
 * What the rule read in `recent` of an event, which the rhythm alone does not know (each for one
 * type of report; `NOTHING_TOLD` for the rest). `carersDoor`: a door closing older than the latest
 * activity, a carer's "arrived", which in time order came straight after it (`lateCarersDoor`).
 * `passage`: a door opening while out, within `VISIT_DOOR_MS` of a carer's "left", with the door
 * closed since that "left" (the carer gone): a passage of its own, someone coming in, not the carer
 * going. `seatedAt`: on the last carer's "left" while out, the chair taken during the visit and
 * still occupied (its report's time): the resident in it, come in with the carer. `cameIn`: on a
 * carer's "arrived" while out, someone came in by a passage before the door closing that took the
 * resident out, within `VISIT_DOOR_MS` before it, and was seen inside (the carer).
 */
export interface Told {
  readonly carersDoor?: boolean;
  readonly passage?: boolean;
  readonly seatedAt?: number;
  readonly cameIn?: boolean;
}

/** Nothing read in `recent` changes how the event is learned: one object for every such event. */
export const NOTHING_TOLD: Told = Object.freeze({});

/**
 * Learns one activity event. One older than the latest learned (late) only sets the bed and chair
 * in order; the silences, mornings and outings follow the stream as it happened. With `observe`
 * false (the stretch up to this event falls in a declared away period) the person is followed
 * (place, latest activity, bed) but nothing is learned from it: no silence, outing, return,
 * get-up or bedtime. `told`: what `recent` says of the event (`Told`).
 */
export function learnRhythm(
  rhythm: Rhythm | undefined,
  entry: RecentEvent,
  timeZone: string,
  observe = true,
  bounceMs = 0,
  wakeFrom?: number,
  told = NOTHING_TOLD,
): Rhythm {
  return learned(rhythm, entry, timeZone, observe, false, bounceMs, wakeFrom, told) ?? (rhythm as Rhythm);
}

/**
 * `learnRhythm` on the rhythm itself, for a caller that gave up the state it is in (`evaluate`'s
 * `reuse`): its fields and rings are changed in place rather than copied, in the same key order.
 * Whether anything was learned (a redelivery or a late report that moves nothing changes nothing).
 */
export function learnRhythmInPlace(
  rhythm: Rhythm | undefined,
  entry: RecentEvent,
  timeZone: string,
  observe = true,
  bounceMs = 0,
  wakeFrom?: number,
  told = NOTHING_TOLD,
): Rhythm | undefined {
  return learned(rhythm, entry, timeZone, observe, true, bounceMs, wakeFrom, told);
}

/**
 * The rhythm with the event learned (a new one unless `inPlace`), or nothing when it changes
 * nothing; with `wakeFrom` (the care plan's wake-up window's start, minutes), the day's first
 * activity from then noted too (`Rhythm.woke`).
 */
function learned(
  rhythm: Rhythm | undefined,
  entry: RecentEvent,
  timeZone: string,
  observe: boolean,
  inPlace: boolean,
  bounceMs: number,
  wakeFrom: number | undefined,
  told: Told,
): Rhythm | undefined {
  const local = localTime(entry.at, timeZone);
  const result = learnedAt(rhythm, entry, local, observe, inPlace, bounceMs, timeZone, told);
  if (wakeFrom === undefined || local.minute < wakeFrom || entry.type === 'bed.occupied') return result;
  const base = result ?? rhythm;
  if (!base) return result;
  // The day learned is mostly the event's own: one date read then.
  const sameDay = local.date === base.day;
  if (!sameDay && epochDay(local.date) > epochDay(base.day)) return result;
  const ring = sameDay ? ringOf(local.date) : ringIndexOf(base, local.date);
  if (ring < 0) return result;
  const ms = local.minute * 60_000 + (((entry.at % 60_000) + 60_000) % 60_000);
  const seen = base.woke?.[ring] ?? -1;
  if (seen >= 0 && seen <= ms) return result;
  // Once a day (the first activity from the window's start), or a late report earlier than it.
  const own = result !== undefined && (inPlace || result !== rhythm);
  const out: Writable = own ? (result as Writable) : inPlace ? (base as Writable) : shapedRhythm(base);
  const woke = base.woke ? (inPlace ? base.woke : [...base.woke]) : new Array(RHYTHM_DAYS).fill(-1);
  woke[ring] = ms;
  out.woke = woke;
  return out;
}

function learnedAt(
  rhythm: Rhythm | undefined,
  entry: RecentEvent,
  local: LocalTime,
  observe: boolean,
  inPlace: boolean,
  bounceMs: number,
  timeZone: string,
  told: Told,
): Rhythm | undefined {
  const { passage = false, seatedAt, cameIn = false } = told;
  let next = rhythm ?? initialRhythm(local.date);
  const last = next.last;
  if (last && (last.at > entry.at || (last.at === entry.at && last.id >= entry.id))) {
    if (last.id === entry.id) return undefined;
    if (entry.type === 'carer.arrived') return lateCarer(next, entry, last, inPlace);
    if (entry.type === 'carer.left') return lateLeft(next, entry, last, inPlace);
    if (told.carersDoor) {
      const result = lateCarersDoor(next, entry, last, inPlace);
      if (result) return result;
    }
    // A door opening taken after activity within a bounce of it (the door contact and the PIR are
    // separate senders): kept as the opening of the door, so that its closing within the bounce is
    // no passage, as in time order, where the activity came between (the bounce below).
    if (
      entry.type === 'door.opened' &&
      last.at - entry.at < bounceMs &&
      last.serial !== entry.serial &&
      (next.beforeDoor === undefined || next.beforeDoor.openedAt < entry.at)
    ) {
      const result: Writable = inPlace ? next : shapedRhythm(next);
      result.beforeDoor = {
        last,
        returning: next.returning,
        checkAt: next.checkAt,
        openedAt: entry.at,
        serial: entry.serial,
      };
      return result;
    }
    const placed = seats(next, entry);
    // A late report that moves nothing still dates its sensor (the first bed report says the home
    // has a bed sensor): only one older than its own sensor's last changes nothing.
    if (
      placed.bed === next.bed &&
      placed.chair === next.chair &&
      placed.bedTs === next.bedTs &&
      placed.chairTs === next.chairTs
    )
      return undefined;
    const place = placeOf(placed.bed, placed.chair, last, next.returning !== undefined);
    let result: Rhythm;
    if (inPlace) {
      result = Object.assign(next, placed);
      result.place = place;
    } else {
      const copy: Writable = shapedRhythm(next);
      copy.bed = placed.bed;
      copy.chair = placed.chair;
      copy.bedTs = placed.bedTs;
      copy.chairTs = placed.chairTs;
      copy.place = place;
      result = copy;
    }
    // Getting up reported after the first movement of the morning (the bed sensor and the PIRs
    // are separate senders): still this morning's get-up, or a nap's end would be taken for it.
    if (
      entry.type === 'bed.vacated' &&
      !placed.bed &&
      local.minute >= GET_UP_FROM_MINUTE &&
      local.date === next.day &&
      next.upOn !== local.date
    )
      result.leftBed = entry.at;
    return result;
  }
  next = rollTo(next, local.date, inPlace);
  const visiting = visitOpen(next, entry.at);
  const carersDoor = next.visitEnd !== undefined && entry.at - next.visitEnd <= VISIT_DOOR_MS && !passage;
  const carer = entry.type === 'carer.arrived' || entry.type === 'carer.left';
  const door = entry.type === 'door.opened' || entry.type === 'door.closed';
  // Out, only activity inside brings the person home: the door opened and closed (a neighbour
  // looking in, the wind) and whatever moves during a carer's visit are someone else, and leave
  // the outing as it was. The latest door opening that was not the carer's is kept (`returning`):
  // the person may have come in and sat down where no sensor sees, which the check allows for,
  // and activity inside after it dates their return at it. The bed taken during a visit is the
  // resident, come in with the carer: carers do not lie in the resident's bed. The chair may be
  // the carer sitting down to write their notes: the resident's only when still taken as the last
  // carer presses "left" (`seatedAt`), and so the return.
  if (
    next.place === 'out' &&
    seatedAt === undefined &&
    (door || carer || (visiting && entry.type !== 'bed.occupied'))
  ) {
    const result: Writable = inPlace ? next : shapedRhythm(next);
    if (entry.type === 'door.opened' && !visiting && !carersDoor) result.returning = entry.at;
    // Another carer of the visit open (double-handed care): the visit goes on until both have gone.
    if (joins(next, entry, visiting)) visitAfter(result, next, entry, visiting);
    else if (entry.type === 'carer.arrived') {
      const opened = next.returning;
      // The door that "took the resident out" just before was the carer coming in: at home. Not when
      // a door opened since, or a visit began since by one (another carer came in by it first).
      // Someone came in by an earlier passage (`cameIn`): with the door opened since, the carer
      // back from their car; without, the carer was in as the door closed, and it took the
      // resident out.
      const since =
        opened ??
        (next.visit !== undefined && last !== undefined && next.visit > last.at ? next.visit : undefined);
      const kept =
        last !== undefined && (cameIn ? since !== undefined : carerTookDoor(last, since, entry.at, bounceMs))
          ? // Kept as a return (which taught nothing): a door opened since, as a passage of its own,
            // taken after this report, makes the closing the resident's after all (`returnUndone`).
            // Read before the visit is set: in place, `next` is `result`.
            keptReturn(entry, last, next, opened, NOTHING_LEARNED, NOTHING_LEARNED, NOTHING_LEARNED)
          : undefined;
      // The door that let them in was theirs, and the visit dates from it: what moved since (the
      // hall's PIR seeing them come in) was the carer (`outingAgain` in the rule).
      const theirs = opened !== undefined && entry.at - opened <= VISIT_DOOR_MS;
      result.visit = theirs ? opened : entry.at;
      result.visitEnd = undefined;
      result.visitors = undefined;
      if (theirs) result.returning = undefined;
      if (kept !== undefined && last !== undefined) {
        result.returning = last.at;
        result.place = placeOf(next.bed, next.chair, last, true);
        result.beforeReturn = kept;
      }
    } else if (entry.type === 'carer.left') visitAfter(result, next, entry, visiting);
    return result;
  }
  // A bounce: the door closed again within `bounceMs` of opening. Nobody went through it: the
  // opening is undone, and the person is where and as they were before it.
  const before = next.beforeDoor;
  if (
    before !== undefined &&
    bounceMs > 0 &&
    entry.type === 'door.closed' &&
    before.serial === entry.serial &&
    entry.at - before.openedAt < bounceMs
  ) {
    const result: Writable = inPlace ? next : shapedRhythm(next);
    // Something came between (the hall's PIR as someone reached the door): it stays the latest,
    // and the closing is simply not a passage. Taken in either order, the same.
    if (last?.type !== 'door.opened' || last.at !== before.openedAt || last.serial !== before.serial) {
      result.beforeDoor = undefined;
      return result;
    }
    result.last = before.last;
    result.returning = before.returning;
    // The check of the stretch it undoes: one that had passed by the opening was decided on a timer
    // of its own then (`rhythmOnEvent`), and is not checked again.
    result.checkAt = before.checkAt !== undefined && before.checkAt > last.at ? before.checkAt : undefined;
    result.beforeDoor = undefined;
    result.place = placeOf(next.bed, next.chair, before.last, before.returning !== undefined);
    return result;
  }
  // At home only by movement after a carer's "left" (the return kept), since the outing's door: the
  // door opened after that movement and closing within five minutes of "left" was the carer going,
  // the hall's PIR seeing them on their way out, and the resident is out as before the visit, from
  // their own door. Movement after the door opened is someone coming in by it.
  const returned = next.beforeReturn;
  if (
    entry.type === 'door.closed' &&
    next.place === 'home' &&
    returned !== undefined &&
    last?.type === 'door.opened' &&
    last.at > returned.at &&
    next.visit !== undefined &&
    next.visitEnd !== undefined &&
    next.visit > returned.last.at &&
    returned.at >= next.visitEnd &&
    entry.at - next.visitEnd <= VISIT_DOOR_MS
  ) {
    const result = returnUndone(next) as Writable;
    result.beforeDoor = undefined;
    return result;
  }
  const ring = ringOf(local.date);
  let { gaps, outs, up, backs, beds } = next;
  // Out, activity inside ends the outing: what that changes is kept, as it was before (the cells
  // it may raise below read before they are), to be undone if a carer's report, or a report older
  // than one, is taken after it (`returnUndone`). Kept up to a visit's longest after it.
  let beforeReturn = next.beforeReturn;
  // Out with a carer's visit since the door (their door is not a `returning`), activity other than
  // theirs (a bed or chair taken during it, or activity after it): the resident came in with them,
  // by the door the visit dates from. Still from the visit's end (or that door) on.
  const cameWith =
    next.place === 'out' && last !== undefined && next.visit !== undefined && next.visit > last.at
      ? next.visit
      : undefined;
  const backAt = next.returning ?? cameWith;
  // Still at home from the door they came in by; with a carer, from the visit's end ("left", or
  // its longest; during it, not at all).
  const stillFrom =
    next.place !== 'out' || backAt === undefined
      ? entry.at
      : cameWith !== undefined && next.returning === undefined
        ? Math.max(cameWith, next.visitEnd ?? Math.min(entry.at, cameWith + VISIT_MAX_MS))
        : backAt;
  if (next.place === 'out' && last) {
    const back = partOf(localMinute(last.at, timeZone)) * RHYTHM_DAYS + ring;
    const gap = gapIndex(0, partOf(localMinute(stillFrom, timeZone)), ring);
    beforeReturn = keptReturn(
      entry,
      last,
      next,
      next.returning,
      [ring, outs[ring] ?? 0],
      [back, backs?.[back] ?? 0],
      [gap, gaps[gap] ?? 0],
    );
  } else if (beforeReturn !== undefined && entry.at - beforeReturn.at >= VISIT_MAX_MS)
    beforeReturn = undefined;
  // The silence before a door opening at home is learned once the door is known not to have
  // bounced (by the report after the opening): a bounce is undone, and what it would have
  // taught (the silence up to it) with it.
  const deferred =
    before !== undefined &&
    last?.type === 'door.opened' &&
    last.at === before.openedAt &&
    last.serial === before.serial;
  if (last && observe && before !== undefined && deferred) {
    const was = placeOf(next.bed, next.chair, before.last, before.returning !== undefined);
    if (was === 'home' || was === 'chair') {
      const i = gapIndex(was === 'home' ? 0 : 1, partOf(localMinute(before.last.at, timeZone)), ring);
      const still = Math.round((last.at - before.last.at) / 60_000);
      if (still > (gaps[i] ?? 0)) {
        if (!inPlace) gaps = [...gaps];
        gaps[i] = still;
      }
    }
  }
  if (last && observe && !(bounceMs > 0 && entry.type === 'door.opened')) {
    // Back from an outing at the door activity inside now follows (not a carer's); else when seen.
    const end = next.place === 'out' && backAt !== undefined ? backAt : entry.at;
    // Still from the door until now, at home (or where no sensor sees): a silence at home.
    if (stillFrom < entry.at) {
      const i = gapIndex(0, partOf(localMinute(stillFrom, timeZone)), ring);
      const still = Math.round((entry.at - stillFrom) / 60_000);
      if (still > (gaps[i] ?? 0)) {
        if (!inPlace) gaps = [...gaps];
        gaps[i] = still;
      }
    }
    const minutes = Math.round((end - last.at) / 60_000);
    // A stay away is not learned as an outing: a week in hospital taken as the longest outing
    // and the usual return from that time of day put "not back" off for the fortnight after.
    if (next.place === 'out' && end - last.at <= STAY_AWAY_MS) {
      if (minutes > (outs[ring] ?? 0)) {
        if (!inPlace) outs = [...outs];
        outs[ring] = minutes;
      }
      // Back how long after the start of the part of the day they left in.
      const left = localMinute(last.at, timeZone);
      const part = partOf(left);
      const back = left - part * 180 + minutes;
      const i = part * RHYTHM_DAYS + ring;
      if (back > (backs?.[i] ?? 0)) {
        backs = !backs ? new Array(PARTS * RHYTHM_DAYS).fill(0) : inPlace ? backs : [...backs];
        backs[i] = back;
      }
    } else if (
      (next.place === 'home' || next.place === 'chair') &&
      // From a door opening to the carer's "arrived" within five minutes: the carer coming in, not
      // the person still. Taken in time order the door's closing came between, and had them out.
      !(entry.type === 'carer.arrived' && last.type === 'door.opened' && entry.at - last.at <= VISIT_DOOR_MS)
    ) {
      const i = gapIndex(next.place === 'home' ? 0 : 1, partOf(localMinute(last.at, timeZone)), ring);
      if (minutes > (gaps[i] ?? 0)) {
        if (!inPlace) gaps = [...gaps];
        gaps[i] = minutes;
      }
    }
  }
  const placed = seats(next, entry);
  if (seatedAt !== undefined && seatedAt >= (placed.chairTs ?? -Infinity)) {
    placed.chair = true;
    placed.chairTs = seatedAt;
  }
  // The door opening while out is the person coming back: the door closing after it is not them
  // going out again, whatever follows (or does not: no sensor in the room they sit down in). The
  // door opened and closed again within a couple of minutes is the same passage, either way.
  // Movement in the hall as the door opens (a PIR by the door) is part of the same passage.
  const burst =
    last !== undefined &&
    (last.type === 'door.opened' || last.type === 'door.closed') &&
    entry.at - last.at <= DOOR_PASSAGE_MS;
  let returning: number | undefined;
  if (entry.type === 'door.opened')
    returning = burst ? next.returning : next.place === 'out' ? entry.at : undefined;
  // The door closing during a carer's visit is the carer coming or going, not the resident
  // leaving (who leaves with the carer goes after "left" is pressed). A closing straight after an
  // earlier closing, more than a passage after it (the opening between not reported), is a passage
  // of its own: what made the earlier one a return (a carer's door hours ago) is not this one's.
  else if (entry.type === 'door.closed')
    returning =
      (last?.type === 'door.closed' && !burst ? undefined : next.returning) ??
      (visiting ? entry.at : undefined);
  else if (next.returning !== undefined && entry.at - next.returning <= DOOR_PASSAGE_MS)
    returning = next.returning;
  let { leftBed, upOn, bedAt, upInNight } = next;
  if (entry.type === 'bed.occupied') {
    leftBed = undefined;
    // Back to bed within two hours of leaving it, in the same night: a trip, not a new bedtime.
    const trip =
      bedAt !== undefined &&
      !next.bed &&
      next.bedTs !== undefined &&
      entry.at - next.bedTs < 2 * 3_600_000 &&
      entry.at - bedAt < 14 * 3_600_000;
    if (!trip) {
      bedAt = entry.at;
      upInNight = false;
      // A night's bedtime (from 19:00 to 04:00; a nap is not one), minutes after noon.
      if (observe && (local.minute >= 19 * 60 || local.minute < GET_UP_FROM_MINUTE)) {
        beds = !beds ? new Array(RHYTHM_DAYS).fill(0) : inPlace ? beds : [...beds];
        beds[ring] = (local.minute + 720) % 1440;
      }
    }
  } else if (bedAt !== undefined && !placed.bed) upInNight = true;
  if (entry.type === 'bed.vacated' && local.minute >= GET_UP_FROM_MINUTE && upOn !== local.date)
    leftBed = entry.at;
  if (leftBed !== undefined && !placed.bed && entry.at - leftBed >= UP_CONFIRMED_MS) {
    const at = localTime(leftBed, timeZone);
    if (observe && at.date === local.date) {
      if (!inPlace) up = [...up];
      up[ring] = at.minute;
      upOn = local.date;
    }
    leftBed = undefined;
  }
  // One copy (or none, in place): every field is there already (`initialRhythm`), so setting
  // them keeps the rhythm's one shape, and a field that goes is set to `undefined`.
  const result: Writable = inPlace ? next : shapedRhythm(next);
  result.bed = placed.bed;
  result.chair = placed.chair;
  if (placed.bedTs !== undefined) result.bedTs = placed.bedTs;
  if (placed.chairTs !== undefined) result.chairTs = placed.chairTs;
  result.gaps = gaps;
  result.outs = outs;
  result.up = up;
  if (backs) result.backs = backs;
  if (beds) result.beds = beds;
  result.last = entry;
  result.place = placeOf(placed.bed, placed.chair, entry, returning !== undefined);
  result.beforeReturn = beforeReturn;
  // Read before `returning` is set: in place, `next` is `result`.
  result.beforeDoor =
    bounceMs > 0 && entry.type === 'door.opened' && last !== undefined
      ? { last, returning: next.returning, checkAt: next.checkAt, openedAt: entry.at, serial: entry.serial }
      : // Kept while its door may still close as a bounce, whatever else came since.
        before !== undefined &&
          entry.at - before.openedAt < bounceMs &&
          !(door && entry.serial === before.serial)
        ? before
        : undefined;
  result.returning = returning;
  if (carer) visitAfter(result, next, entry, visiting);
  else if (next.visit !== undefined && entry.at - (next.visitEnd ?? next.visit) > VISIT_MAX_MS) {
    result.visit = undefined;
    result.visitEnd = undefined;
    result.visitors = undefined;
  }
  result.leftBed = leftBed;
  if (upOn !== undefined) result.upOn = upOn;
  if (bedAt !== undefined) result.bedAt = bedAt;
  if (upInNight !== undefined) result.upInNight = upInNight;
  return result;
}

/**
 * The rhythm as it was at the door closing that began the outing the latest return ended
 * (`beforeReturn`): out, the return undone with what it taught (the longest outing, the latest
 * return, the silence from the door), the bed and chair as they were, the outing's check as it was
 * (one that had passed by the return was decided on a timer of its own then, and is not checked
 * again). Nothing when no return is kept. A copy; what came after the door is for the caller to
 * learn again, in time order (`rhythmOnEvent`): a carer's report, or a report older than one,
 * taken after the return may change who came in. What the reports since taught stays where
 * learning them again in time order does not lower it (maxima: the silences between movements a
 * wrong return had at home, seconds within the reorder bound; a bed's night when a bed report
 * ended the outing, which "not back" does not read, nor the wake-up check while out).
 */
export function returnUndone(rhythm: Rhythm): Rhythm | undefined {
  const back = rhythm.beforeReturn;
  if (back === undefined) return undefined;
  const result: Writable = shapedRhythm(rhythm);
  result.last = back.last;
  result.bed = back.bed;
  result.chair = back.chair;
  result.bedTs = back.bedTs;
  result.chairTs = back.chairTs;
  result.returning = undefined;
  result.checkAt = back.checkAt !== undefined && back.checkAt >= back.at ? back.checkAt : undefined;
  result.beforeReturn = undefined;
  result.place = placeOf(back.bed, back.chair, back.last);
  const [outAt, outMin] = back.outs;
  if (outAt >= 0 && result.outs[outAt] !== outMin) {
    result.outs = [...result.outs];
    result.outs[outAt] = outMin;
  }
  const [backAt, backMin] = back.backs;
  if (backAt >= 0 && result.backs !== undefined && result.backs[backAt] !== backMin) {
    result.backs = [...result.backs];
    result.backs[backAt] = backMin;
  }
  const [gapAt, gapMin] = back.gaps;
  if (gapAt >= 0 && result.gaps[gapAt] !== gapMin) {
    result.gaps = [...result.gaps];
    result.gaps[gapAt] = gapMin;
  }
  return result;
}

/**
 * A carer's "arrived" older than the latest activity learned, where `rhythmOnEvent` did not learn
 * the outing again (no return kept, or `recent` has let its door go): in time order the visit is
 * known from its time: a door closing during it is the carer's, and out since a door closing
 * during the visit it begins, that door was the carer's and the resident at home (as when the
 * carer's report comes within five minutes after the closing). A report older than a visit's
 * longest (`VISIT_MAX_MS`) by the latest activity changes nothing: in time order that visit had
 * ended by then.
 */
function lateCarer(
  next: Rhythm,
  entry: RecentEvent,
  last: RecentEvent,
  inPlace: boolean,
): Rhythm | undefined {
  const at = entry.at;
  if (last.at - at >= VISIT_MAX_MS) return undefined;
  // In time order the visit is this one, unless a later arrival is known; a "left" after it ends it.
  const visit = next.visit !== undefined && next.visit >= at ? next.visit : at;
  const visitEnd =
    visit === at && !(next.visitEnd !== undefined && next.visitEnd > at) ? undefined : next.visitEnd;
  const carersDoor =
    next.place === 'out' &&
    last.type === 'door.closed' &&
    next.returning === undefined &&
    !(visitEnd !== undefined && visitEnd < last.at) &&
    visit <= last.at;
  if (visit === next.visit && visitEnd === next.visitEnd && !carersDoor) return undefined;
  const result: Writable = inPlace ? next : shapedRhythm(next);
  result.visit = visit;
  result.visitEnd = visitEnd;
  if (carersDoor) {
    result.returning = last.at;
    result.place = placeOf(next.bed, next.chair, last, true);
  }
  return result;
}

/**
 * A carer's "left" older than the latest activity learned, at home (out, `rhythmOnEvent` learns
 * the outing again): their fob and the door contact are separate senders. The visit ends at its
 * time, as in time order, and a door closing taken before it, after it in time, during the visit
 * it ends (`returning` at the closing: the carer's) is no longer the carer's: in time order the
 * visit had ended, and the closing took the person out. A door opening taken before it, after it
 * in time, is no longer the same passage as a door report before the "left" (which came between):
 * a door opened earlier no longer keeps the person in (`returning`), and the closing after the
 * opening is someone going out. Nothing when no visit is open or the report is older than it
 * began.
 */
function lateLeft(next: Rhythm, entry: RecentEvent, last: RecentEvent, inPlace: boolean): Rhythm | undefined {
  if (next.visit === undefined || next.visitEnd !== undefined || entry.at < next.visit) return undefined;
  const result: Writable = inPlace ? next : shapedRhythm(next);
  // One of two carers or more: the visit goes on.
  if ((next.visitors ?? 1) > 1) {
    visitAfter(result, next, entry, true);
    return result;
  }
  const returning = next.returning;
  result.visitEnd = entry.at;
  if (next.place !== 'home' || returning === undefined) return result;
  if (last.type === 'door.closed' && returning === last.at) {
    result.returning = undefined;
    result.place = placeOf(next.bed, next.chair, last);
  } else if (last.type === 'door.opened' && returning < entry.at) result.returning = undefined;
  return result;
}

/**
 * A door closing older than the latest activity learned, a carer's "arrived" that in time order
 * came next, within `VISIT_DOOR_MS` (the caller has checked `recent`: no activity between them, no
 * visit open at the door, not a bounce). In time order the door closing took the resident out and
 * the carer's report, within five minutes, made it the carer coming in: at home, the stretch named
 * by the door closing (the carer's report, taken while out, leaves the latest activity as it was).
 * Taken the other way round the carer's report was learned at home and named the stretch: the door
 * takes its place, as in time order (nothing when the rhythm does not have the resident at home
 * and about with that visit open). The stillness from the door opening to the carer's report was
 * not learned as a silence at home when the report was (`learnedAt`): in time order the door's
 * closing came between, and had the resident out.
 */
function lateCarersDoor(
  next: Rhythm,
  entry: RecentEvent,
  last: RecentEvent,
  inPlace: boolean,
): Rhythm | undefined {
  if (
    last.type !== 'carer.arrived' ||
    last.at - entry.at > VISIT_DOOR_MS ||
    next.place !== 'home' ||
    next.bed ||
    next.chair ||
    next.returning !== undefined ||
    next.visit !== last.at ||
    next.visitEnd !== undefined
  )
    return undefined;
  const result: Writable = inPlace ? next : shapedRhythm(next);
  result.last = entry;
  result.returning = entry.at;
  result.place = placeOf(next.bed, next.chair, entry, true);
  return result;
}

export interface GapLimit {
  /** How long a silence starting now may last before it is unusual. */
  readonly ms: number;
  /** This person's longest silence here at this time of day, minutes (none before it is learned). */
  readonly longestMin?: number;
  /** Days learned: on every one of them the person was active again within `longestMin`. */
  readonly days: number;
  /** Whether the limit is learned or the prior. */
  readonly learned: boolean;
  /** On how many of the days before today the person was seen here at this time of day. */
  readonly seenDays?: number;
  /**
   * The modelled chance that a day's longest silence here at this time outlasts `ms`, on a day the
   * person is here then (this time of day's share of the budget when the budget sets it).
   */
  readonly chance?: number;
  /**
   * What set the limit: the false-alert budget's quantile, the longest × `gapFactor` +
   * `gapMarginS` (no budget), the prior (by day), the 12 h cap, or the longest + `budgetMarginS`
   * (the floor).
   */
  readonly by?: 'budget' | 'factor' | 'prior' | 'cap' | 'floor';
  /** On how many of the days before today a silence here at this time outlasted 12 h. */
  readonly longDays?: number;
}

/**
 * The longest a silence is left unraised, whatever this person's longest there and then, until
 * silences longer than it were seen there then on `MIN_SEEN_DAYS` days or more (then they are theirs).
 */
export const MAX_SILENCE_MS = 12 * 3_600_000;

/**
 * How far a day unlike any seen goes past the longest one, on average: this share of the longest,
 * plus `TAIL_MIN_MIN` minutes. A prior, not learned (a fortnight cannot show a one-in-a-hundred
 * day): set so that at the default budget, with a fortnight learned, the limit comes close to the
 * longest × 1.5 + 30 min that the irregular corpus and two real homes were checked with.
 */
const TAIL_SHARE = 0.2;
const TAIL_MIN_MIN = 12;

/**
 * A model of a day's longest silence here and then, from the days' maxima before today (minutes,
 * n of them, in any order). Within what was seen, the chance a day outlasts x is the share of days
 * that did, counted by the rule of succession: (k + 1) / (n + 1). Past the longest, a day must be
 * unlike every one seen (chance 1 / (n + 1), which only more days make smaller), and how far it
 * goes falls off exponentially with a mean of `TAIL_SHARE` of the longest + `TAIL_MIN_MIN`. So the
 * fewer the days, the later the limit a budget sets; the steadier and longer the record, the
 * closer to the person's own longest. `exceed(x)` is the chance a day's longest outlasts x;
 * `quantile(p)` the least length outlasted with chance at most p.
 */
export function silenceTail(maxima: readonly number[]): {
  exceed(x: number): number;
  quantile(p: number): number;
} {
  const n = maxima.length;
  let longest = 0;
  for (let i = 0; i < n; i++) longest = Math.max(longest, maxima[i] as number);
  const unseen = 1 / (n + 1);
  const mean = TAIL_SHARE * longest + TAIL_MIN_MIN;
  return {
    exceed(x) {
      if (x >= longest) return unseen * Math.exp(-(x - longest) / mean);
      let outlasted = 0;
      for (let i = 0; i < n; i++) if ((maxima[i] as number) > x) outlasted++;
      return (outlasted + 1) / (n + 1);
    },
    quantile(p) {
      if (p < unseen) return longest + mean * Math.log(unseen / p);
      // Within what was seen: the length that at most (n + 1) p − 1 days outlasted (sorted only
      // here: a budget this large is rare).
      const sorted = [...maxima].sort((x, y) => x - y);
      const allowed = Math.floor(p * (n + 1) + 1e-9) - 1;
      return sorted[n - 1 - allowed] ?? 0;
    },
  };
}

/**
 * How many places and times of day (cells) a day passes through, on average over the whole days
 * learned: the budget per day is shared over them, each in proportion to how often the person is
 * there then, which gives every cell the same chance of a false alert on a day it is visited.
 */
export function cellsPerDay(rhythm: Rhythm): number {
  const today = ringOf(rhythm.day);
  const gaps = rhythm.gaps;
  const places = PLACES_LEARNED * PARTS;
  // The gaps lie place by place and part by part, a day (ring) each.
  let cells = 0;
  for (let cell = 0; cell < places; cell++) {
    const base = cell * RHYTHM_DAYS;
    for (let ring = 0; ring < RHYTHM_DAYS; ring++)
      if (ring !== today && (gaps[base + ring] as number) > 0) cells++;
  }
  let days = 0;
  for (let ring = 0; ring < RHYTHM_DAYS; ring++) {
    if (ring === today) continue;
    for (let cell = 0; cell < places; cell++)
      if ((gaps[cell * RHYTHM_DAYS + ring] as number) > 0) {
        days++;
        break;
      }
  }
  return days === 0 ? 1 : Math.max(1, cells / days);
}

/**
 * The silence that is unusual for this person, from this moment, in this place: with a budget (by
 * default), a silence whose chance on a day they are here then is this place and time's share of
 * the false-alert `budget` (per resident-day), from a model of their daily longest silences here
 * then (`silenceTail`); no later than the prior when `capAtPrior` (a silence that starts by day)
 * nor than 12 h (unless silences that long are theirs), never before their longest +
 * `budgetMarginS`. Without a budget (`null`), their longest × `gapFactor` + `gapMarginS`.
 */
export function gapLimit(
  rule: RhythmRule,
  rhythm: Rhythm,
  place: 'home' | 'chair',
  at: number,
  timeZone: string,
  budget: number | null = rule.falseAlertBudget,
  capAtPrior = true,
): GapLimit {
  const prior = (place === 'home' ? rule.prior.homeS : rule.prior.chairS) * 1000;
  if (rhythm.days < rule.minDays) return { ms: prior, days: rhythm.days, learned: false };
  const part = partOf(localMinute(at, timeZone));
  let longest = 0;
  // The days' maxima before today, counted here and listed only for the budget's model (this runs
  // on every activity).
  let seenDays = 0;
  let longDays = 0;
  const today = ringOf(rhythm.day);
  for (let ring = 0; ring < RHYTHM_DAYS; ring++) {
    const gap = rhythm.gaps[gapIndex(place === 'home' ? 0 : 1, part, ring)] ?? 0;
    if (gap > 0 && ring !== today) {
      seenDays++;
      // No silence is left longer than 12 h on the strength of a day or two that were (a night
      // away the door missed, a day in bed): once three or more days were, it is this person's
      // own, and their longest + `gapMarginS` is the least limit.
      if (gap * 60_000 > MAX_SILENCE_MS) longDays++;
    }
    longest = Math.max(longest, gap);
  }
  // Never seen here at this time of day: the prior holds.
  if (longest === 0) return { ms: prior, days: rhythm.days, learned: false };
  const cap =
    longDays >= MIN_SEEN_DAYS
      ? Math.max(MAX_SILENCE_MS, longest * 60_000 + rule.gapMarginS * 1000)
      : MAX_SILENCE_MS;
  const byFactor = Math.min(cap, longest * 60_000 * rule.gapFactor + rule.gapMarginS * 1000);
  const capped = longDays > 0 ? { longDays } : {};
  // Seen here at this time on a day or two only (someone usually out at work then): the longest
  // of so few is no measure of them, and the prior stays the least limit.
  if (seenDays < MIN_SEEN_DAYS)
    return {
      ms: Math.max(byFactor, prior),
      longestMin: longest,
      days: rhythm.days,
      learned: byFactor >= prior,
      seenDays,
      ...capped,
    };
  if (budget === null)
    return {
      ms: byFactor,
      longestMin: longest,
      days: rhythm.days,
      learned: true,
      seenDays,
      by: 'factor',
      ...capped,
    };
  const maxima: number[] = [];
  for (let ring = 0; ring < RHYTHM_DAYS; ring++) {
    const gap = rhythm.gaps[gapIndex(place === 'home' ? 0 : 1, part, ring)] ?? 0;
    if (gap > 0 && ring !== today) maxima.push(gap);
  }
  const model = silenceTail(maxima);
  const share = Math.min(0.5, budget / cellsPerDay(rhythm));
  const byBudget = model.quantile(share) * 60_000;
  const floor = longest * 60_000 + rule.budgetMarginS * 1000;
  let ms = byBudget;
  let by: GapLimit['by'] = 'budget';
  // By day no later than the prior, unless this person's own silences here then are that long.
  if (capAtPrior && prior < ms && prior >= floor) {
    ms = prior;
    by = 'prior';
  }
  if (ms < floor) {
    ms = floor;
    by = 'floor';
  }
  // A silence longer than 12 h on a day or two only is no measure of them (above).
  if (ms > cap) {
    ms = cap;
    by = 'cap';
  }
  ms = Math.round(ms);
  const chance = model.exceed(ms / 60_000);
  return { ms, longestMin: longest, days: rhythm.days, learned: true, seenDays, chance, by, ...capped };
}

export interface OutLimit {
  /** How long after leaving "not back" is raised. */
  readonly ms: number;
  /** The longest outing of the days learned, minutes. */
  readonly longestMin?: number;
  /** The latest they came home from going out at this time of day (local minute of day, may pass 24 h). */
  readonly usualBackMinute?: number;
  readonly learned: boolean;
}

/**
 * How long an outing that left at `leftAt` may last before "not back": their longest outing ×
 * `gapFactor` + `gapMarginS`, or, sooner, `returnMarginS` after their usual return from going out
 * at this time of day — the latest they came back from an outing that left in the same three
 * hours, and at least as long as their typical longest outing of a day (the median of the days'),
 * so that leaving late in those three hours is not taken for being late back.
 */
export function outLimit(rule: RhythmRule, rhythm: Rhythm, leftAt: number, timeZone: string): OutLimit {
  const longest = Math.max(0, ...rhythm.outs);
  if (rhythm.days < rule.minDays || longest === 0) return { ms: rule.prior.outS * 1000, learned: false };
  const byLongest = longest * 60_000 * rule.gapFactor + rule.gapMarginS * 1000;
  // Twelve hours at most, while nothing says when they come home from going out at this time
  // of day; their own latest return from it (below) is a better bound than any cap.
  const overall = Math.min(12 * 3_600_000, byLongest);
  const left = localMinute(leftAt, timeZone);
  const part = partOf(left);
  let latest = 0;
  for (let ring = 0; ring < RHYTHM_DAYS; ring++)
    latest = Math.max(latest, rhythm.backs?.[part * RHYTHM_DAYS + ring] ?? 0);
  if (latest === 0) return { ms: overall, longestMin: longest, learned: true };
  const days = rhythm.outs.filter((m) => m > 0).sort((a, b) => a - b);
  const typical = days[Math.floor(days.length / 2)] ?? 0;
  const usualBackMinute = Math.max(part * 180 + latest, left + typical);
  const byUsual = (usualBackMinute - left) * 60_000 + rule.returnMarginS * 1000;
  return { ms: Math.min(byLongest, byUsual), longestMin: longest, usualBackMinute, learned: true };
}

/** The median bedtime learned (minutes after noon), or nothing before `minDays` nights are known. */
export function usualBedMinute(rule: RhythmRule, rhythm: Rhythm): number | undefined {
  const known = (rhythm.beds ?? []).filter((m) => m > 0).sort((a, b) => a - b);
  if (known.length < rule.minDays) return undefined;
  return known[Math.floor(known.length / 2)];
}

/** The learned get-up minutes (mornings known), or nothing before `minDays` are known. */
export function getUps(rule: RhythmRule, rhythm: Rhythm | undefined): number[] | undefined {
  if (!rhythm) return undefined;
  const known = rhythm.up.filter((m) => m >= 0);
  return known.length >= rule.minDays ? known : undefined;
}

/** The nights the person came home in, from the outings learned. */
export interface NightReturns {
  /**
   * The latest they came home during their quiet hours, minutes after the midnight before the
   * evening they left in (so 00:30 is 1470); none when they never did.
   */
  readonly latestMinute?: number;
  /** Days on which they came home during their quiet hours (the latest is `latestMinute`). */
  readonly nights: number;
  /** Days on which they came home only after their quiet hours ended (out overnight). */
  readonly overnights: number;
}

/**
 * When the person came home at night: from each day's latest return by the part of the day they
 * left in (`backs`). A return after the quiet hours' start is a night return; one after their
 * end the morning after is a night spent out. Outings that left in the small hours (parts of
 * the day that end by the quiet hours' end) belong to the night before.
 */
export function nightReturns(rhythm: Rhythm, quietFrom: number, quietTo: number): NightReturns {
  const from = quietFrom >= 720 ? quietFrom : quietFrom + 1440;
  const to = 1440 + quietTo;
  let latestMinute: number | undefined;
  const late = new Set<number>();
  const away = new Set<number>();
  for (let part = 0; part < PARTS; part++)
    for (let ring = 0; ring < RHYTHM_DAYS; ring++) {
      const back = rhythm.backs?.[part * RHYTHM_DAYS + ring] ?? 0;
      if (back <= 0) continue;
      const minute = part * 180 + back + ((part + 1) * 180 <= quietTo ? 1440 : 0);
      if (minute > to) away.add(ring);
      else if (minute > from) {
        latestMinute = Math.max(latestMinute ?? 0, minute);
        late.add(ring);
      }
    }
  return {
    ...(latestMinute === undefined ? {} : { latestMinute }),
    nights: late.size,
    overnights: away.size,
  };
}

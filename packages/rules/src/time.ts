/**
 * Local time of day without a clock: schedules (quiet hours, wake-up windows, visits) are written
 * in the resident's local time, so the core converts event times with the IANA zone in the rules.
 * Intl's zone data is fixed for a given runtime, so this stays deterministic.
 */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

export interface LocalTime {
  /** `YYYY-MM-DD` in the zone. */
  readonly date: string;
  /** Minutes since local midnight. */
  readonly minute: number;
  /** Offset of the zone from UTC at that instant, in ms. */
  readonly offsetMs: number;
}

/**
 * What a quarter hour of UTC is in a zone: its offset, and the local date and minute it starts
 * at; and, in the rare quarter hour a zone changes inside, the instant it changes and the offset
 * from then.
 */
interface ZoneSlot {
  readonly offsetMs: number;
  readonly date: string;
  readonly minute: number;
  /** Infinity when the zone does not change inside the quarter hour (every slot one shape). */
  readonly changesAt: number;
  readonly offsetAfterMs: number;
}

/**
 * Per zone, per quarter hour of UTC. Most zone changes fall on a quarter hour of UTC (Adelaide's,
 * at 03:00 local, is 16:30 UTC), but not all: Newfoundland changed at 00:01 local until 2011
 * (02:31 UTC), so each slot also looks at its last second and finds the change inside it.
 * A map per zone, so no key is built.
 */
const SLOT_MS = 900_000;
const zoneSlots = new Map<string, Map<number, ZoneSlot>>();
let cachedSlots = 0;

/**
 * The slot asked about last: a stream in time order asks about the same quarter hour of the same
 * zone again and again (every resident's events of those minutes, several times an event), and
 * this spares the two map look-ups. A slot's facts never change, so the one kept stays true.
 */
let lastZone: string | undefined;
let lastSlot = Number.NaN;
let lastKnown: ZoneSlot | undefined;

function zoneSlot(slot: number, timeZone: string): ZoneSlot {
  if (slot === lastSlot && timeZone === lastZone) return lastKnown as ZoneSlot;
  const known = slotOf(slot, timeZone);
  lastZone = timeZone;
  lastSlot = slot;
  lastKnown = known;
  return known;
}

function slotOf(slot: number, timeZone: string): ZoneSlot {
  let slots = zoneSlots.get(timeZone);
  if (!slots) {
    slots = new Map();
    zoneSlots.set(timeZone, slots);
  }
  let known = slots.get(slot);
  if (known === undefined) {
    const at = slot * SLOT_MS;
    const offsetMs = offsetAt(at, timeZone);
    const wall = new Date(at + offsetMs);
    known = {
      offsetMs,
      date: wall.toISOString().slice(0, 10),
      minute: wall.getUTCHours() * 60 + wall.getUTCMinutes(),
      ...changeWithin(at, offsetMs, timeZone),
    };
    if (++cachedSlots > 200_000) {
      zoneSlots.clear();
      cachedSlots = 1;
      slots = new Map();
      zoneSlots.set(timeZone, slots);
    }
    slots.set(slot, known);
  }
  return known;
}

/** The zone's offset from UTC at a whole second, in ms (to the second: old local mean times have seconds). */
function offsetAt(at: number, timeZone: string): number {
  const parts: Record<string, string> = {};
  for (const part of formatter(timeZone).formatToParts(new Date(at))) parts[part.type] = part.value;
  const asUtc = Date.UTC(
    Number(parts.year),
    Number(parts.month) - 1,
    Number(parts.day),
    Number(parts.hour),
    Number(parts.minute),
    Number(parts.second),
  );
  return asUtc - at;
}

/**
 * Where the zone changes inside the quarter hour from `at`: the first second with another
 * offset, found by halving (zone changes are on whole seconds; two in one quarter hour do not
 * happen), or never.
 */
function changeWithin(
  at: number,
  offsetMs: number,
  timeZone: string,
): { changesAt: number; offsetAfterMs: number } {
  const last = at + SLOT_MS - 1000;
  const offsetAfterMs = offsetAt(last, timeZone);
  if (offsetAfterMs === offsetMs) return { changesAt: Number.POSITIVE_INFINITY, offsetAfterMs };
  let same = at;
  let other = last;
  while (other - same > 1000) {
    const mid = same + Math.floor((other - same) / 2000) * 1000;
    if (offsetAt(mid, timeZone) === offsetMs) same = mid;
    else other = mid;
  }
  return { changesAt: other, offsetAfterMs };
}

/**
 * The local date and minute of an instant. Called several times per event, so it reads them off
 * the start of its quarter hour of UTC (one cached lookup, no Date, no string): the minute is the
 * slot's plus the minutes since, unless that passes local midnight (a zone whose offset is not whole hours)
 * or the offset has seconds (old local mean times), or the zone changes inside the quarter hour,
 * where it works them out from the wall clock.
 */
export function localTime(ms: number, timeZone: string): LocalTime {
  const slot = Math.floor(ms / SLOT_MS);
  const known = zoneSlot(slot, timeZone);
  const minute = known.minute + Math.floor((ms - slot * SLOT_MS) / 60_000);
  const changed = ms >= known.changesAt;
  if (minute < 1440 && known.offsetMs % 60_000 === 0 && !changed)
    return { date: known.date, minute, offsetMs: known.offsetMs };
  const offsetMs = changed ? known.offsetAfterMs : known.offsetMs;
  const wall = new Date(ms + offsetMs);
  return {
    date: wall.toISOString().slice(0, 10),
    minute: wall.getUTCHours() * 60 + wall.getUTCMinutes(),
    offsetMs,
  };
}

/** `localTime(ms, timeZone).minute`, without the object: the night test and the rhythm ask often. */
export function localMinute(ms: number, timeZone: string): number {
  const slot = Math.floor(ms / SLOT_MS);
  const known = zoneSlot(slot, timeZone);
  const minute = known.minute + Math.floor((ms - slot * SLOT_MS) / 60_000);
  if (minute < 1440 && known.offsetMs % 60_000 === 0 && ms < known.changesAt) return minute;
  return localTime(ms, timeZone).minute;
}

/**
 * The instant of a local date and minute of day in the zone: the later one in an overlap (clocks
 * put back), and in a gap (clocks put forward) the time read with the offset before it, so that
 * 01:30 on the night London skips that hour is 02:30 BST, and 00:00 on the night Monrovia left
 * -0:44:30 for UTC (1972-01-07) is 00:44:30. The offsets tried are the zone's around the wall
 * time (an offset is between -12 and +14 hours, so its instant lies from 14 hours before to 12
 * after): whatever the zone's offsets or the size of the change, seconds included.
 */
export function zonedInstant(date: string, minute: number, timeZone: string): number {
  const day = utcDay(date);
  const wall = (Number.isNaN(day) ? utcOf(date) : day * 86_400_000) + minute * 60_000;
  const here = localTime(wall, timeZone).offsetMs;
  const before = localTime(wall - 14 * 3_600_000, timeZone).offsetMs;
  const after = localTime(wall + 12 * 3_600_000, timeZone).offsetMs;
  // No change near: the one offset.
  if (before === here && after === here) return wall - here;
  let fit = Number.NEGATIVE_INFINITY;
  let latest = Number.NEGATIVE_INFINITY;
  for (const offset of [before, here, after]) {
    const at = wall - offset;
    latest = Math.max(latest, at);
    if (localTime(at, timeZone).offsetMs === offset) fit = Math.max(fit, at);
  }
  return fit === Number.NEGATIVE_INFINITY ? latest : fit;
}

/** `YYYY-MM-DD` plus days. */
export function addDays(date: string, days: number): string {
  const day = utcDay(date);
  if (!Number.isNaN(day)) return formatIso((day + days) * 86_400_000).slice(0, 10);
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, mo - 1, d + days)).toISOString().slice(0, 10);
}

/** `Date.UTC` of a date's numbers. */
function utcOf(date: string): number {
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  return Date.UTC(y, mo - 1, d);
}

/** `HH:MM` → minutes since midnight. */
export function minuteOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

/** Whether a minute of day is inside a `from`–`to` span that may cross midnight. */
export function inSpan(minute: number, from: number, to: number): boolean {
  return from <= to ? minute >= from && minute < to : minute >= from || minute < to;
}

export function formatHhmm(ms: number, timeZone: string): string {
  const minute = localMinute(ms, timeZone);
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

/** A local date as an operator reads it: `Tue 3 Dec`. */
export function formatDay(date: string): string {
  const day = utcDay(date);
  if (!Number.isNaN(day))
    // 1970-01-01 was a Thursday.
    return `${WEEKDAYS[(((day + 4) % 7) + 7) % 7]} ${digits2(date, 8)} ${MONTHS[digits2(date, 5) - 1]}`;
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const weekday = new Date(Date.UTC(y, mo - 1, d)).getUTCDay();
  return `${WEEKDAYS[weekday]} ${d} ${MONTHS[mo - 1]}`;
}

/**
 * A moment with its day, relative to the moment the alert speaks from (`reference`):
 * `08:12 today (Tue 3 Dec)`, `21:40 yesterday (Mon 2 Dec)`, `09:05 on Sun 1 Dec`. A bare clock
 * time misleads overnight: "no activity since 14:05" read at 09:00 may mean yesterday.
 */
export function formatWhen(ms: number, timeZone: string, reference: number): string {
  const date = localTime(ms, timeZone).date;
  const today = localTime(reference, timeZone).date;
  const hhmm = formatHhmm(ms, timeZone);
  if (date === today) return `${hhmm} today (${formatDay(date)})`;
  if (date === addDays(today, -1)) return `${hhmm} yesterday (${formatDay(date)})`;
  return `${hhmm} on ${formatDay(date)}`;
}

/** A further moment of the same reason: the clock time alone when on the day of `anchor`. */
export function formatAlso(ms: number, timeZone: string, anchor: number, reference: number): string {
  return localTime(ms, timeZone).date === localTime(anchor, timeZone).date
    ? formatHhmm(ms, timeZone)
    : formatWhen(ms, timeZone, reference);
}

const digits2 = (s: string, i: number): number => (s.charCodeAt(i) - 48) * 10 + s.charCodeAt(i + 1) - 48;

/** The decimal number written at [from, to), or -1 where a character there is not a digit. */
function number(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * Epoch ms of an event time. Gateways write `YYYY-MM-DDTHH:MM:SS.sssZ` (what `toISOString`
 * gives); that form is read digit by digit, about three times faster than `Date.parse`, which
 * was a third of a trigger's cost, each character once: the separators are checked, then each
 * field is read and checked as it is read (checking the whole shape first and then reading the
 * fields read each digit twice). Any other form the schema allows (an offset, no or more
 * fraction digits) goes to `Date.parse`. The two agree on every instant (a property test).
 */
export function parseEventTime(iso: string): number {
  if (
    iso.length !== 24 ||
    iso.charCodeAt(4) !== 45 /* - */ ||
    iso.charCodeAt(7) !== 45 ||
    iso.charCodeAt(10) !== 84 /* T */ ||
    iso.charCodeAt(13) !== 58 /* : */ ||
    iso.charCodeAt(16) !== 58 ||
    iso.charCodeAt(19) !== 46 /* . */ ||
    iso.charCodeAt(23) !== 90 /* Z */
  )
    return Date.parse(iso);
  const year = number(iso, 0, 4);
  const month = number(iso, 5, 7);
  const day = number(iso, 8, 10);
  const hour = number(iso, 11, 13);
  const minute = number(iso, 14, 16);
  const second = number(iso, 17, 19);
  const ms = number(iso, 20, 23);
  if (
    year < 0 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    hour < 0 ||
    hour > 23 ||
    minute < 0 ||
    minute > 59 ||
    second < 0 ||
    second > 59 ||
    ms < 0
  )
    return Date.parse(iso);
  return (
    daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + ms
  );
}

/** Days since 1970-01-01 of a civil date (H. Hinnant's algorithm): no Date object, no allocation. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = year - (month <= 2 ? 1 : 0);
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/**
 * Days since 1970-01-01 of a `YYYY-MM-DD` date: `Date.parse` of its midnight UTC in days, read
 * digit by digit (the learned rhythm reads a date per activity event). As `Date.parse` does, a
 * day past the month's end runs on into the next month; any other form goes to `Date.parse`.
 */
export function epochDay(date: string): number {
  const day = civilDay(date);
  return Number.isNaN(day) ? Math.round(Date.parse(`${date}T00:00:00Z`) / 86_400_000) : day;
}

/** Days since 1970-01-01 of a `YYYY-MM-DD` date (a day 29–31 may run on into the next month), else NaN. */
function civilDay(date: string): number {
  if (date.length !== 10 || date.charCodeAt(4) !== 45 || date.charCodeAt(7) !== 45 || !isDigits(date))
    return Number.NaN;
  const month = digits2(date, 5);
  const day = digits2(date, 8);
  if (month < 1 || month > 12 || day < 1 || day > 31) return Number.NaN;
  return daysFromCivil(digits2(date, 0) * 100 + digits2(date, 2), month, day);
}

/**
 * The same for `Date.UTC(year, month - 1, day)` of the date's numbers, which reads the years 0–99
 * as 1900–1999: NaN for those, and the callers take the `Date.UTC` route.
 */
function utcDay(date: string): number {
  return date.charCodeAt(0) === 48 && date.charCodeAt(1) === 48 ? Number.NaN : civilDay(date);
}

function isDigits(date: string): boolean {
  for (let i = 0; i < 10; i++) {
    const c = date.charCodeAt(i);
    if (i !== 4 && i !== 7 && (c < 48 || c > 57)) return false;
  }
  return true;
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

/**
 * `new Date(ms).toISOString()` for the years 0–9999, without a Date object: every alert carries
 * one, and the Date route cost more than the rest of a trigger. Outside those years (never an
 * alert's), the Date route.
 */
export function formatIso(ms: number): string {
  if (!(ms >= -62_167_219_200_000 && ms < 253_402_300_800_000)) return new Date(ms).toISOString();
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  // Civil date from days (H. Hinnant's algorithm).
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const hour = Math.floor(rest / 3_600_000);
  rest -= hour * 3_600_000;
  const minute = Math.floor(rest / 60_000);
  rest -= minute * 60_000;
  const second = Math.floor(rest / 1000);
  const milli = rest - second * 1000;
  const yyyy = year < 10 ? `000${year}` : year < 100 ? `00${year}` : year < 1000 ? `0${year}` : `${year}`;
  const sss = milli < 10 ? `00${milli}` : milli < 100 ? `0${milli}` : `${milli}`;
  return `${yyyy}-${pad2(month)}-${pad2(day)}T${pad2(hour)}:${pad2(minute)}:${pad2(second)}.${sss}Z`;
}

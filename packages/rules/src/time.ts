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

const offsets = new Map<string, number>();

/** Offset of the zone at an instant, cached per UTC hour (zone changes fall on whole hours). */
function offsetAt(ms: number, timeZone: string): number {
  const hour = Math.floor(ms / 3_600_000);
  const key = `${timeZone}|${hour}`;
  let offset = offsets.get(key);
  if (offset === undefined) {
    const at = hour * 3_600_000;
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
    offset = asUtc - at;
    if (offsets.size > 50_000) offsets.clear();
    offsets.set(key, offset);
  }
  return offset;
}

export function localTime(ms: number, timeZone: string): LocalTime {
  const offsetMs = offsetAt(ms, timeZone);
  const wall = new Date(ms + offsetMs);
  return {
    date: wall.toISOString().slice(0, 10),
    minute: wall.getUTCHours() * 60 + wall.getUTCMinutes(),
    offsetMs,
  };
}

/** The instant of a local date and minute of day in the zone (the later one in a DST overlap). */
export function zonedInstant(date: string, minute: number, timeZone: string): number {
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  const wall = Date.UTC(y, mo - 1, d) + minute * 60_000;
  const first = wall - localTime(wall, timeZone).offsetMs;
  return wall - localTime(first, timeZone).offsetMs;
}

/** `YYYY-MM-DD` plus days. */
export function addDays(date: string, days: number): string {
  const [y, mo, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, mo - 1, d + days)).toISOString().slice(0, 10);
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
  const { minute } = localTime(ms, timeZone);
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}

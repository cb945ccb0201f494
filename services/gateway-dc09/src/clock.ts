import { type Dc09AccountEntry, wallClockFormat, wallClockMs } from '@telecare/contracts';

/**
 * Panel clocks on local time. DC-09 timestamps are UTC, but many panels are installed with their
 * clock on local time (in the UK an hour ahead in summer) and some never take the time a NAK gives
 * them: refused for as long as their clock is "wrong", half the year. An account's `clockZone` says
 * which zone its panel's clock is on: its timestamps (and SIA `ti`/`da` event times) are read as
 * wall-clock time there, and its replies carry our time on that clock, so a panel that does take
 * it stays on the clock it was set to.
 *
 * Times shown on a wall clock are handled as Dates whose UTC fields are what the clock shows, as
 * the frame reader gives them.
 */

/** A zone's formatter, or null when this runtime's time zone data has no such zone. */
const ZONES = new Map<string, Intl.DateTimeFormat | null>();

function formatterOf(zone: string): Intl.DateTimeFormat | null {
  let formatter = ZONES.get(zone);
  if (formatter === undefined) {
    try {
      formatter = wallClockFormat(zone);
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      formatter = null;
    }
    ZONES.set(zone, formatter);
  }
  return formatter;
}

/** The zone an account's panel clock is on; undefined for UTC. */
export type PanelZone = Intl.DateTimeFormat | undefined;

/**
 * The account's panel clock zone: undefined for UTC (none set, or one this gateway's time zone data
 * does not know: read as UTC, as before the setting, rather than leave its frames unanswered).
 */
export function panelZone(entry: Pick<Dc09AccountEntry, 'clockZone'> | undefined): PanelZone {
  const zone = entry?.clockZone;
  return zone ? (formatterOf(zone) ?? undefined) : undefined;
}

/** What a clock on `zone` shows at `at` (its UTC fields). */
export function wallClock(at: Date, zone: PanelZone): Date {
  if (!zone) return at;
  return new Date(wallClockMs(zone, at.getTime()) + at.getUTCMilliseconds());
}

const DAY_MS = 24 * 3600_000;

/**
 * The instant a clock on `zone` showing `wall` means. Where a change of the clocks makes that time
 * shown twice (the hour repeated in autumn) or never (the hour skipped in spring: a panel that
 * changes its clock late, or early), each reading is possible and the one nearest `near` (our
 * clock, or the message's time for an event time) is taken: a panel that is right either way is
 * taken at its instant, and one an hour out stays an hour out.
 */
export function instantOf(wall: Date, zone: PanelZone, near: Date): Date {
  if (!zone) return wall;
  const offsetAt = (t: number) => wallClock(new Date(t), zone).getTime() - t;
  // The zone's offsets either side of that day: its readings before and after any change near it.
  const offsets = new Set([-DAY_MS, 0, DAY_MS].map((shift) => offsetAt(wall.getTime() + shift)));
  const readings = [...offsets].map((offset) => wall.getTime() - offset);
  const shown = readings.filter((t) => offsetAt(t) === wall.getTime() - t);
  const nearest = (shown.length ? shown : readings).reduce((best, t) =>
    Math.abs(t - near.getTime()) < Math.abs(best - near.getTime()) ? t : best,
  );
  return new Date(nearest);
}

/** The zone's name as the account has it, for what is logged and dead-lettered. */
export const zoneName = (zone: PanelZone): string => zone?.resolvedOptions().timeZone ?? 'UTC';

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
const HOUR_MS = 3600_000;

/**
 * The instants a clock on `zone` showing `wall` can mean: one, or two where a change of the clocks
 * shows that time twice (the hour repeated in autumn) or never (the hour skipped in spring: a panel
 * that changes its clock late, or early, each reading is possible).
 */
export function readingsOf(wall: Date, zone: PanelZone): number[] {
  if (!zone) return [wall.getTime()];
  const offsetAt = (t: number) => wallClock(new Date(t), zone).getTime() - t;
  // The zone's offsets either side of that day: its readings before and after any change near it.
  const offsets = new Set([-DAY_MS, 0, DAY_MS].map((shift) => offsetAt(wall.getTime() + shift)));
  const readings = [...offsets].map((offset) => wall.getTime() - offset);
  const shown = readings.filter((t) => offsetAt(t) === wall.getTime() - t);
  return (shown.length ? shown : readings).sort((a, b) => a - b);
}

const nearestTo = (near: number, readings: readonly number[]): number =>
  readings.reduce((best, t) => (Math.abs(t - near) < Math.abs(best - near) ? t : best));

/**
 * How many whole hours (1 to 14, either way; ahead positive) a sender's clock is from ours, to within
 * the window: what a panel clock on another zone's time looks like. Undefined when it is no such
 * offset.
 */
export function wholeHoursOff(
  skewMs: number,
  window: Pick<StampWindow, 'behindMs' | 'aheadMs'>,
): number | undefined {
  const hours = wholeOff(skewMs, HOUR_MS, window);
  return hours !== undefined && hours !== 0 && Math.abs(hours) <= 14 ? hours : undefined;
}

/**
 * A sender's stamp a day ahead of ours (1) or behind (-1), to within the window: a date written out
 * of step with its time (a local date beside a UTC time near midnight, a date rolled over before or
 * after the time). Undefined when it is not.
 */
export function dayOff(
  skewMs: number,
  window: Pick<StampWindow, 'behindMs' | 'aheadMs'>,
): 1 | -1 | undefined {
  const days = wholeOff(skewMs, DAY_MS, window);
  return days === 1 || days === -1 ? days : undefined;
}

/** How many whole `unitMs` a skew is, to within the window (undefined: none). */
function wholeOff(
  skewMs: number,
  unitMs: number,
  window: Pick<StampWindow, 'behindMs' | 'aheadMs'>,
): number | undefined {
  const units = Math.round(skewMs / unitMs);
  const rest = skewMs - units * unitMs;
  return rest >= -window.behindMs && rest <= window.aheadMs ? units : undefined;
}

export interface StampWindow {
  readonly behindMs: number;
  readonly aheadMs: number;
  /** How far behind a stamp may still be taken (a life-critical alarm sent late); 0: not at all. */
  readonly lateMs: number;
}

/** What the gateway last learned of an account's panel clock (`PanelClocks`). */
export interface PanelSeen {
  /**
   * The clock the panel was last seen on, where its zone and UTC differed: `zone` (a stamp read in
   * the zone inside the window) or `utc` (read in the zone a whole number of hours out, as UTC inside).
   */
  readonly clock?: 'zone' | 'utc';
  /** The sequence number and instant of the last timestamped frame taken from it. */
  readonly taken?: { readonly seq: number; readonly at: number };
}

/**
 * Where the gateway keeps what it saw of each zoned account's panel clock: `PanelClocks` (this
 * instance's memory) or `SharedPanelClocks` (shared by every instance, kept across restarts).
 */
export interface PanelClockBook {
  /** What is known of the account's panel (may have to be read first). */
  seen(account: string): PanelSeen | undefined | Promise<PanelSeen | undefined>;
  /**
   * Notes what a settled frame showed. `atChange`: taken near a change of its zone's clocks
   * (`changeNear`), where what it noted decides what the next stamp means.
   */
  note(account: string, seen: PanelSeen, atChange?: boolean): void;
}

/**
 * What the gateway last saw of each zoned account's panel clock (`PanelSeen`), noted once a frame is
 * settled: at most `max` accounts, the least recently noted going first. This instance's memory
 * alone; `SharedPanelClocks` puts it before a bucket every instance shares.
 */
export class PanelClocks implements PanelClockBook {
  readonly #seen = new Map<string, PanelSeen>();

  constructor(readonly max = 100_000) {}

  seen(account: string): PanelSeen | undefined {
    return this.#seen.get(account);
  }

  note(account: string, seen: PanelSeen): void {
    const before = this.#seen.get(account);
    this.#seen.delete(account);
    this.#seen.set(account, { ...before, ...seen });
    if (this.#seen.size > this.max) this.#seen.delete(this.#seen.keys().next().value as string);
  }
}

/** How a panel's timestamp (or SIA event time) was read. */
export interface PanelStamp {
  readonly at: Date;
  /**
   * Another instant the stamp may as well mean that nothing known rules out: the hour repeated in
   * autumn, or a zone's panel that may be on UTC. Stored with the event (`alttime`).
   */
  readonly otherwise?: Date;
  /**
   * The stamp read in the account's zone is this many whole hours from ours and read as UTC is in
   * the window: the panel's clock is on UTC, and `at` is the UTC reading.
   */
  readonly onUtcHoursOff?: number;
}

/** Sequence numbers counted as following one another: a panel's queue sent after a line outage. */
export const ORDER_SPAN = 16;

/**
 * Whether the zone's clocks change between `lateMs` (and two hours) before `at` and two hours after
 * it: a stamp read then may mean two instants, and the last frame taken decides which.
 */
export function changeNear(zone: PanelZone, at: number, lateMs: number): boolean {
  if (!zone) return false;
  const offsetAt = (t: number) => wallClock(new Date(t), zone).getTime() - t;
  return offsetAt(at - lateMs - 2 * HOUR_MS) !== offsetAt(at + 2 * HOUR_MS);
}

/**
 * Whether a frame numbered `seq` comes after one numbered `last` (DC-09 numbers 0001–9999, then
 * 0001 again; 0000 is a poll's, ordered by nothing).
 */
function follows(seq: number | undefined, last: number): boolean {
  if (seq === undefined || seq === 0 || last === 0) return false;
  const ahead = (seq - last + 9999) % 9999;
  return ahead >= 1 && ahead <= ORDER_SPAN;
}

/**
 * Reads a panel's wall-clock stamp as an instant, using what else is known when it can mean more
 * than one. A reading inside the window is the panel's clock right: taken. Otherwise:
 *
 * - A reading ahead of the window is no buffered event (nothing happens in the future): past
 *   readings up to `lateMs` behind are taken first, the latest of them.
 * - A frame numbered just after the last one taken from the account (`seen.taken`, the panel sends
 *   its queue in order) happened after it: readings before that are ruled out, unless all are.
 * - An account on a zone whose stamp read as UTC is in the window and read in the zone a whole
 *   number of hours out is a panel on UTC (`onUtcHoursOff`), unless a late reading in the zone is
 *   still possible and the panel was last seen on its zone's clock: a buffered alarm, taken late
 *   (one last seen on UTC is on UTC, not in doubt).
 *   With nothing known either way the UTC reading, the alarm taken as now, is trusted: an alarm an
 *   exact number of hours late to within the window is rare where a panel left on UTC is common,
 *   and an alarm taken as fresh is answered at once where one taken as old would be shown late.
 *
 * What is still left open is `otherwise`. With no reading possible, the nearest one, to be refused.
 */
export function readPanelStamp(
  wall: Date,
  zone: PanelZone,
  now: Date,
  window: StampWindow,
  known: {
    readonly seen?: PanelSeen | undefined;
    /** The frame's sequence number, where written in decimal. */
    readonly seq?: number | undefined;
    /** Whether a zone's panel may be on UTC: for a frame's stamp, not an event time read against it. */
    readonly mayBeUtc?: boolean;
  } = {},
): PanelStamp {
  const { seen, seq } = known;
  const t = now.getTime();
  const readings = readingsOf(wall, zone);
  const inWindow = (at: number) => at >= t - window.behindMs && at <= t + window.aheadMs;
  const right = readings.find(inWindow);
  if (right !== undefined) return { at: new Date(right) };
  const late = readings.filter((at) => at < t - window.behindMs && at >= t - window.lateMs);
  const taken = seen?.taken;
  const after = taken && follows(seq, taken.seq) ? taken.at - window.behindMs : undefined;
  const possible = after === undefined ? late : late.filter((at) => at >= after);
  const candidates = possible.length ? possible : late;
  const latest = candidates.at(-1);
  const earliest = candidates.length > 1 ? candidates[0] : undefined;
  const utcHoursOff =
    zone && known.mayBeUtc && inWindow(wall.getTime())
      ? wholeHoursOff(nearestTo(t, readings) - t, window)
      : undefined;
  if (utcHoursOff !== undefined) {
    const utc = { at: wall, onUtcHoursOff: utcHoursOff };
    // Ruled out by the order: the late readings were all before what the panel sent before this.
    if (latest === undefined || !possible.length || seen?.clock === 'utc') return utc;
    if (seen?.clock === 'zone') return { at: new Date(latest), otherwise: wall };
    return { ...utc, otherwise: new Date(latest) };
  }
  if (latest !== undefined) {
    return earliest === undefined
      ? { at: new Date(latest) }
      : { at: new Date(latest), otherwise: new Date(earliest) };
  }
  return { at: new Date(nearestTo(t, readings)) };
}

/** The zone's name as the account has it, for what is logged and dead-lettered. */
export const zoneName = (zone: PanelZone): string => zone?.resolvedOptions().timeZone ?? 'UTC';

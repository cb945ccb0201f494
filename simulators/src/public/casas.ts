/**
 * Smart-home logs of the CASAS project (Washington State University: Aruba, Milan, Kyoto, Cairo,
 * Tulum and the later `hh`, `rw` and `tm` homes, many of them an older person living alone)
 * converted to the history `pnpm replay --import` reads.
 *
 * Two forms are read, one event a line, fields separated by spaces or tabs:
 *
 * - the early sets: `2010-11-04 00:03:50.209589 M003 ON Sleeping begin` — date, local time,
 *   sensor, value, and an annotation that begins or ends an activity where there is one;
 * - the later ones: `2012-07-20 10:06:51.183271 BathroomAArea ON Control4-MotionArea Toilet` —
 *   date, local time, sensor (named by its place), value, the sensor's type, and the activity the
 *   line was annotated with where there is one.
 *
 * The times are the home's own clock. Given its zone (`timeZone`), each is turned into its instant,
 * so that the replay (`--time-zone`) reads the days as the person lived them across daylight-saving
 * changes; in the hour a clock goes back, a time is read as the later of the two instants it names
 * once the earlier would go back before the line before it.
 *
 * Which sensor is which: a movement sensor (`M…`, `MA…`, or a `Control4-Motion…` type) reports
 * `motion` when it turns on (its `OFF` is only the end of its hold time); the doors given as the
 * home's ways out (`frontDoors`) are door contacts, `door.opened` and `door.closed`; every other
 * door, light switch, button or item sensor turning on, opening or being taken is the person acting
 * there (`motion` in its place); temperature, light level, battery and power readings are not
 * activity and are left out (counted). The data is offered for research with citation and is not
 * kept in this repository.
 */
import { wallClockFormat, wallClockMs } from '@telecare/contracts';
import type { Annotation, ImportLine } from './kasteren.ts';

export class CasasLineError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'CasasLineError';
  }
}

/** One line of a CASAS log. */
export interface CasasLine {
  /** The home's clock as written, to the millisecond, as if it were UTC (epoch ms). */
  readonly wallMs: number;
  readonly sensor: string;
  readonly value: string;
  /** The sensor's type, where the log names it (`Control4-Motion`). */
  readonly type?: string;
  /** The early sets' annotation: an activity that begins or ends at this line. */
  readonly mark?: { readonly activity: string; readonly phase: 'begin' | 'end' };
  /** The later sets' annotation: the activity this line belongs to. */
  readonly activity?: string;
}

export interface ParsedCasas {
  readonly lines: CasasLine[];
  /** Lines that are not `date time sensor value …` (blank lines aside), by number, the first 20. */
  readonly unreadable: number[];
  readonly unreadableCount: number;
}

const WHEN = /^(\d{4})-(\d{2})-(\d{2})$/;
const CLOCK = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/;

function wallOf(date: string, time: string): number | undefined {
  const d = WHEN.exec(date);
  const t = CLOCK.exec(time);
  if (!d || !t) return undefined;
  const [, y, mo, da] = d.map(Number) as [number, number, number, number];
  const [, h, mi, s] = t.map(Number) as [number, number, number, number];
  if (mo < 1 || mo > 12 || da < 1 || da > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  const ms = Number((t[4] ?? '0').padEnd(3, '0').slice(0, 3));
  return Date.UTC(y, mo - 1, da, h, mi, s, ms);
}

/**
 * Reads a log in either form. A line that is not `date time sensor value …` is not guessed at: it
 * is counted and named (real logs hold a few, cut short or run together), and the rest is read.
 */
export function parseCasas(text: string): ParsedCasas {
  const lines: CasasLine[] = [];
  const unreadable: number[] = [];
  let unreadableCount = 0;
  const refuse = (n: number) => {
    unreadableCount++;
    if (unreadable.length < 20) unreadable.push(n);
  };
  text.split('\n').forEach((raw, i) => {
    const cols = raw.trim().split(/\s+/);
    if (cols.length === 1 && cols[0] === '') return;
    const wallMs = cols.length >= 4 ? wallOf(cols[0] as string, cols[1] as string) : undefined;
    if (wallMs === undefined) {
      refuse(i + 1);
      return;
    }
    const sensor = cols[2] as string;
    const value = cols[3] as string;
    const rest = cols.slice(4);
    const typed = rest[0]?.startsWith('Control4-') === true;
    const line: { -readonly [K in keyof CasasLine]: CasasLine[K] } = { wallMs, sensor, value };
    if (typed) {
      line.type = rest[0] as string;
      if (rest.length > 1) line.activity = rest.slice(1).join(' ');
    } else if (rest.length >= 2 && (rest.at(-1) === 'begin' || rest.at(-1) === 'end')) {
      line.mark = { activity: rest.slice(0, -1).join(' '), phase: rest.at(-1) as 'begin' | 'end' };
    } else if (rest.length > 0) line.activity = rest.join(' ');
    lines.push(line);
  });
  return { lines, unreadable, unreadableCount };
}

/** What a line is to the rules: a passage through a way out, the person acting somewhere, or neither. */
export type CasasReading = 'door.opened' | 'door.closed' | 'motion' | undefined;

const ON = new Set(['ON', 'OPEN', 'PRESENT', 'ABSENT', 'PRESSED']);

/**
 * How a line reads. A way out (`frontDoors`) opens and closes; a movement sensor turning on is
 * movement; another door opened, a light switched, a button pressed, an item taken or put back is
 * the person there. Readings (a number), an `OFF`, a `CLOSE` of an inner door, or a sensor type
 * that is not activity (temperature, light level, battery) are none.
 */
export function readingOf(line: CasasLine, frontDoors: ReadonlySet<string>): CasasReading {
  const value = line.value.toUpperCase();
  if (frontDoors.has(line.sensor)) {
    if (value === 'OPEN' || value === 'ON') return 'door.opened';
    if (value === 'CLOSE' || value === 'CLOSED' || value === 'OFF') return 'door.closed';
    return undefined;
  }
  if (line.type !== undefined && !/^Control4-(Motion|Door|Light$|Button|Item)/.test(line.type))
    return undefined;
  return ON.has(value) ? 'motion' : undefined;
}

export interface CasasOptions {
  readonly residentId: string;
  /** The home's ways out, by sensor name (Aruba: `D001` front, `D002` back, `D004` garage). */
  readonly frontDoors: readonly string[];
  /** The home's zone (IANA); the clock is taken as UTC when not given. */
  readonly timeZone?: string;
  /** Where each sensor is, by name, as the device map would say (`M003` → `bedroom`). */
  readonly places?: Readonly<Record<string, string>>;
  /** The device serials' prefix. */
  readonly serialPrefix?: string;
}

export interface CasasImport {
  readonly lines: ImportLine[];
  /** Lines not activity (readings, `OFF`s, sensors that are not about the person), by sensor type or prefix. */
  readonly leftOut: Record<string, number>;
}

/**
 * Turns the home's clock into instants in its zone. A zone's offset is looked up once a quarter
 * hour of the log (a log holds millions of lines); in the hour a clock goes back, the earlier
 * instant is kept while the log goes forward, the later once it would go back.
 */
export function zoneClock(timeZone: string | undefined): (wallMs: number) => number {
  if (timeZone === undefined || timeZone === 'UTC') return (wallMs) => wallMs;
  const format = wallClockFormat(timeZone);
  const offsets = new Map<number, number>();
  const offsetAt = (instant: number): number => {
    const slot = Math.floor(instant / 900_000);
    const known = offsets.get(slot);
    if (known !== undefined) return known;
    const at = slot * 900_000;
    const wall = wallClockMs(format, at);
    offsets.set(slot, wall - at);
    return wall - at;
  };
  let previous = Number.NEGATIVE_INFINITY;
  return (wallMs) => {
    // The offsets a day either side: one, or two around a change.
    const early = wallMs - offsetAt(wallMs - 86_400_000);
    const late = wallMs - offsetAt(wallMs + 86_400_000);
    const valid = [early, late].filter((t) => t + offsetAt(t) === wallMs).sort((a, b) => a - b);
    // A time in the gap a clock skips forward never was: read with the offset before the change.
    const candidates = valid.length > 0 ? valid : [Math.max(early, late)];
    const instant = candidates.find((t) => t >= previous) ?? (candidates.at(-1) as number);
    previous = instant;
    return instant;
  };
}

const typeOrPrefix = (line: CasasLine): string =>
  line.type ?? (/^[A-Za-z]+/.exec(line.sensor)?.[0] || line.sensor);

/** Each line that is activity as the devices would report it, in the log's order, ids unique per serial. */
export function casasToImport(lines: readonly CasasLine[], options: CasasOptions): CasasImport {
  const doors = new Set(options.frontDoors);
  const instantOf = zoneClock(options.timeZone);
  const seqs = new Map<string, number>();
  const leftOut: Record<string, number> = {};
  const out: ImportLine[] = [];
  for (const line of lines) {
    const at = instantOf(line.wallMs);
    const reading = readingOf(line, doors);
    if (reading === undefined) {
      const key = typeOrPrefix(line);
      leftOut[key] = (leftOut[key] ?? 0) + 1;
      continue;
    }
    const seq = seqs.get(line.sensor) ?? 0;
    seqs.set(line.sensor, seq + 1);
    const door = doors.has(line.sensor);
    out.push({
      serial: `${options.serialPrefix ?? 'CASAS-'}${line.sensor}`,
      kind: door ? 'door-contact' : 'pir',
      location: options.places?.[line.sensor] ?? (door ? 'front door' : `sensor ${line.sensor}`),
      residentId: options.residentId,
      event: {
        id: `cs-${String(seq).padStart(7, '0')}`,
        type: reading,
        at: new Date(at).toISOString(),
        data: {},
      },
    });
  }
  return { lines: out, leftOut };
}

/**
 * The activities the log was annotated with, for `pnpm kasteren explain`: the early sets' `begin`
 * and `end` paired per activity (a `begin` with no `end` before the next `begin` of the same
 * activity is closed there; an `end` with no `begin` is left out), the later sets' runs of lines
 * with the same activity.
 */
export function casasAnnotations(
  lines: readonly CasasLine[],
  residentId: string,
  timeZone?: string,
): Annotation[] {
  const instantOf = zoneClock(timeZone);
  const notes: Array<Annotation & { start: number }> = [];
  const open = new Map<string, number>();
  let run: { activity: string; from: number; to: number } | undefined;
  const note = (activity: string, from: number, to: number) =>
    notes.push({
      residentId,
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      activity,
      start: from,
    });
  const endRun = () => {
    if (run) note(run.activity, run.from, run.to);
    run = undefined;
  };
  for (const line of lines) {
    const at = instantOf(line.wallMs);
    if (line.mark) {
      const { activity, phase } = line.mark;
      const began = open.get(activity);
      if (phase === 'begin') {
        if (began !== undefined) note(activity, began, at);
        open.set(activity, at);
      } else if (began !== undefined) {
        note(activity, began, at);
        open.delete(activity);
      }
    }
    if (line.activity !== undefined && line.activity !== run?.activity) endRun();
    if (line.activity !== undefined) {
      if (run) run.to = at;
      else run = { activity: line.activity, from: at, to: at };
    } else endRun();
  }
  endRun();
  return notes.sort((a, b) => a.start - b.start).map(({ start: _, ...a }) => a);
}

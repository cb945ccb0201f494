import { parse } from 'csv-parse/sync';

/** A hospital stay: admission and discharge days (`YYYY-MM-DD`), discharge on or after admission. */
export interface Stay {
  readonly residentId: string;
  readonly admitted: string;
  readonly discharged: string;
}

export interface Refusal {
  /** The line of the file (the header is line 1). */
  readonly line: number;
  readonly reasons: readonly string[];
}

export interface CheckedEpisodes {
  readonly accepted: readonly (Stay & { line: number })[];
  readonly refused: readonly Refusal[];
  /**
   * Rows identical to a stay already imported (a trust's monthly files often overlap): left out,
   * counted, not refused, so sending a file again changes nothing.
   */
  readonly alreadyImported: number;
  /**
   * Rows identical to an earlier row of the same file (resident, admission and discharge): a copy
   * of that row, not a second stay (the same person cannot be admitted twice for the same days),
   * stored once and each copy answered by its line and the line it copies. A same-day stay
   * overlaps no other, so only this tells its copy from a second stay.
   */
  readonly duplicates: readonly Duplicate[];
  /** A problem with the file as a whole (no header, not CSV): nothing can be imported. */
  readonly fileError?: string;
}

/** A row of a file that repeats an earlier one: its line, and the line of the row it copies. */
export interface Duplicate {
  readonly line: number;
  readonly copyOf: number;
}

export const EPISODE_HEADER = ['resident', 'admitted', 'discharged'] as const;
/** At most this many rows in one file: bounded work per request. */
export const MAX_EPISODE_ROWS = 100_000;

const isDay = (value: string): boolean => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const d = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === value;
};

/** The first day a stay may have: PostgreSQL has no year 0000, and no one in care was admitted before. */
const FIRST_DAY = '1900-01-01';

/** Why a column's day cannot be a stay's, or undefined: not a real day, before 1900, after today. */
function dayProblem(column: string, value: string, today: string): string | undefined {
  const shown = JSON.stringify(value.slice(0, 32));
  if (!isDay(value)) return `${column}: not a date (YYYY-MM-DD): ${shown}`;
  if (value < FIRST_DAY) return `${column}: before 1900: ${shown}`;
  if (value > today) return `${column}: after today (${today}): ${shown}`;
  return undefined;
}

/** A row of an episodes file: its fields, and the line of the file it starts on (the header is line 1). */
export interface EpisodeRow {
  readonly fields: readonly string[];
  readonly line: number;
}

/** How many of `sorted` (ascending by `key`) come before the first whose key is not `below`. */
function countWhile<T>(sorted: readonly T[], below: (item: T) => boolean): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (below(sorted[mid] as T)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

type Placed = Pick<Stay, 'admitted' | 'discharged'> & { readonly line?: number };

/**
 * A resident's stays, to find one a stay overlaps without comparing it with each (one resident's
 * file of 20,000 rows compared row with row held the service for over a minute): those that last a
 * night or more by admission, with the latest discharge so far, and same-day ones by day. Two
 * stays overlap when each is admitted before the other is discharged (a same-day transfer does
 * not), so a same-day stay overlaps only a stay it falls strictly inside.
 */
class StayIndex {
  readonly #spans: Placed[] = [];
  /** The latest discharge among `#spans[0..i]`, for stays that may overlap one another. */
  readonly #reach: string[] = [];
  readonly #days: Placed[] = [];

  add(stay: Placed): void {
    if (stay.admitted === stay.discharged) {
      this.#days.splice(
        countWhile(this.#days, (d) => d.admitted <= stay.admitted),
        0,
        stay,
      );
      return;
    }
    const at = countWhile(this.#spans, (t) => t.admitted <= stay.admitted);
    this.#spans.splice(at, 0, stay);
    // Recomputed from the insertion on: at the end (a file in date order) that is one entry.
    for (let i = at; i < this.#spans.length; i++) {
      const before = i > 0 ? (this.#reach[i - 1] as string) : '';
      const own = (this.#spans[i] as Placed).discharged;
      // biome-ignore lint/complexity/useMathMinMax: days are ISO text, compared as text
      this.#reach[i] = own > before ? own : before;
    }
  }

  /** A stay of the index that `stay` overlaps, or undefined. */
  clash(stay: Pick<Stay, 'admitted' | 'discharged'>): Placed | undefined {
    // Stays admitted before `stay` is discharged overlap it when one of them reaches past its admission.
    const n = countWhile(this.#spans, (t) => t.admitted < stay.discharged);
    if (n > 0 && (this.#reach[n - 1] as string) > stay.admitted) {
      // The first whose reach passes it (the reach only grows): one admitted in time that does.
      const i = countWhile(this.#reach, (r) => r <= stay.admitted);
      return this.#spans[i];
    }
    const d = this.#days[countWhile(this.#days, (z) => z.admitted <= stay.admitted)];
    return d && d.admitted < stay.discharged ? d : undefined;
  }
}

/** An episodes file read as CSV: its rows after the header, or what is wrong with it as a whole. */
export type EpisodeFile = { readonly rows: readonly EpisodeRow[] } | { readonly fileError: string };

/**
 * Reads an episodes file: CSV with the header `resident,admitted,discharged`, lines ended by LF,
 * CRLF or CR alone (as a spreadsheet saves it), at most `MAX_EPISODE_ROWS` rows. Each row keeps
 * the line it starts on, blank lines and line breaks inside quotes counted, so that a refusal
 * names the line a person finds in the file.
 */
export function readEpisodeFile(text: string): EpisodeFile {
  let records: string[][];
  try {
    // Blank lines kept (as one empty field) to count lines by; left out below.
    records = parse(text, { trim: true, bom: true, relax_column_count: true });
  } catch (err) {
    return { fileError: `not readable CSV: ${(err as Error).message}` };
  }
  const rows: EpisodeRow[] = [];
  let line = 1;
  for (const fields of records) {
    if (!(fields.length === 1 && fields[0] === '')) rows.push({ fields, line });
    // A record is one line and the line breaks inside its quoted fields.
    line += 1 + fields.reduce((n, f) => n + (f.match(/\r\n|\r|\n/g)?.length ?? 0), 0);
  }
  const [header, ...rest] = rows;
  if (!header || header.fields.map((h) => h.toLowerCase()).join(',') !== EPISODE_HEADER.join(','))
    return { fileError: `the first line must be ${EPISODE_HEADER.join(',')}` };
  if (rest.length > MAX_EPISODE_ROWS) return { fileError: `at most ${MAX_EPISODE_ROWS} rows in one file` };
  return { rows: rest };
}

/** The resident ids an episodes file names, each once (as the CSV reads them, not line by line). */
export function residentsOf(file: EpisodeFile): string[] {
  return 'rows' in file ? [...new Set(file.rows.map((row) => row.fields[0] ?? ''))] : [];
}

/**
 * Checks an episodes file row by row: bad dates (not a real day, before 1900, after `today`: a
 * file records stays that have ended), unknown residents, discharge before admission, and stays
 * that overlap another row's or one already imported. Each refused row says every reason it
 * has. A row identical to a stay already imported is left out and counted; one identical to an
 * earlier row of the file is that row's copy, left out and named by its line.
 */
export function checkEpisodes(
  text: string | EpisodeFile,
  known: ReadonlySet<string>,
  existing: ReadonlyMap<string, readonly Pick<Stay, 'admitted' | 'discharged'>[]>,
  today: string,
): CheckedEpisodes {
  const file = typeof text === 'string' ? readEpisodeFile(text) : text;
  if ('fileError' in file)
    return { accepted: [], refused: [], alreadyImported: 0, duplicates: [], fileError: file.fileError };
  const { rows } = file;
  const accepted: (Stay & { line: number })[] = [];
  // Each resident's accepted rows, so that a row is compared with its own resident's only (a file
  // of 100,000 rows compared each with every other took minutes).
  const acceptedOf = new Map<string, StayIndex>();
  // Each resident's stays already imported, indexed once, and each as `admitted|discharged`.
  const importedOf = new Map<string, { index: StayIndex; same: Set<string> }>();
  const imported = (residentId: string) => {
    let its = importedOf.get(residentId);
    if (!its) {
      const stays = existing.get(residentId) ?? [];
      const index = new StayIndex();
      for (const stay of stays) index.add(stay);
      its = { index, same: new Set(stays.map((x) => `${x.admitted}|${x.discharged}`)) };
      importedOf.set(residentId, its);
    }
    return its;
  };
  const refused: Refusal[] = [];
  let alreadyImported = 0;
  // The line of each row taken (imported now, or already), by its fields.
  const taken = new Map<string, number>();
  const duplicates: Duplicate[] = [];
  for (const { fields: row, line } of rows) {
    const [residentId = '', admitted = '', discharged = ''] = row;
    const same = row.length === 3 ? taken.get(JSON.stringify(row)) : undefined;
    if (same !== undefined) {
      duplicates.push({ line, copyOf: same });
      continue;
    }
    const reasons: string[] = [];
    if (row.length !== 3) reasons.push(`3 columns expected, found ${row.length}`);
    if (!known.has(residentId)) reasons.push(`unknown resident ${JSON.stringify(residentId.slice(0, 64))}`);
    const admittedProblem = dayProblem('admitted', admitted, today);
    const dischargedProblem = dayProblem('discharged', discharged, today);
    if (admittedProblem) reasons.push(admittedProblem);
    if (dischargedProblem) reasons.push(dischargedProblem);
    const stay = { residentId, admitted, discharged };
    if (!admittedProblem && !dischargedProblem) {
      if (discharged < admitted) reasons.push('discharged before admitted');
      else if (reasons.length === 0 && imported(residentId).same.has(`${admitted}|${discharged}`)) {
        alreadyImported++;
        taken.set(JSON.stringify(row), line);
        continue;
      } else {
        if (imported(residentId).index.clash(stay)) reasons.push('overlaps a stay already imported');
        const clash = acceptedOf.get(residentId)?.clash(stay);
        if (clash) reasons.push(`overlaps the stay on line ${clash.line}`);
      }
    }
    if (reasons.length > 0) refused.push({ line, reasons });
    else {
      const accept = { ...stay, line };
      accepted.push(accept);
      taken.set(JSON.stringify(row), line);
      const its = acceptedOf.get(residentId) ?? new StayIndex();
      its.add(accept);
      acceptedOf.set(residentId, its);
    }
  }
  return { accepted, refused, alreadyImported, duplicates };
}

import { parse } from 'csv-parse/sync';

/**
 * Reading residents.csv and devices.csv as installers' spreadsheets write them: Excel and
 * LibreOffice exports, with their byte-order marks, Windows line ends, blank rows, headers typed
 * by hand and cells a spreadsheet took for numbers or dates. What can be read without a guess is
 * normalised; what a spreadsheet changed beyond recovery (a dropped leading 0, digits hidden by
 * scientific notation) is refused naming the row and the column, saying how to export it again.
 */

export interface ImportError {
  file: 'residents' | 'devices';
  /** The line in the file where the row starts (1 is the header). */
  line: number;
  /** The column at fault (`column 6` for a cell past the header's last), or `(file)`. */
  field: string;
  message: string;
}

export interface Columns {
  required: string[];
  optional: string[];
}

export interface Row {
  line: number;
  values: Record<string, string>;
  /** What the row cannot be taken with: a cell past the header's last, a cell a spreadsheet damaged. */
  problems: ImportError[];
}

/** A header name as people type it: `Ref`, ` postcode `, `Supervision Interval S`, `dc09_account`. */
const columnKey = (name: string): string => name.toLowerCase().replace(/[\s_-]+/g, '');

/**
 * Spaces a spreadsheet keeps that a person does not see: a no-break space (pasted from a web page
 * or a word processor) in a name would make it a name no search typed with a space finds.
 */
const cleanCell = (cell: string): string => cell.replace(/[\u00A0\u2007\u202F]/g, ' ').trim();

/**
 * The line each row starts on. The parser's own line count is the line a record ends on, and it
 * counts a Windows line end inside a quoted cell twice; the rows are found by their byte offsets.
 */
function lineFinder(text: string): (offset: number) => number {
  const bytes = Buffer.from(text, 'utf8');
  let at = 0;
  let line = 1;
  const step = () => {
    const byte = bytes[at];
    if (byte === 0x0a || (byte === 0x0d && bytes[at + 1] !== 0x0a)) line++;
    at++;
  };
  return (offset) => {
    while (at < offset && at < bytes.length) step();
    // Blank lines before a row are skipped by the parser: the row starts after them.
    while (at < bytes.length && (bytes[at] === 0x0a || bytes[at] === 0x0d)) step();
    return line;
  };
}

/**
 * Parses CSV text with a header. A missing required column, an unknown or repeated one, or text
 * that is not CSV (an unclosed quote swallows the rows after it) refuses the file; a row with more
 * cells than the header, or a cell a spreadsheet damaged, is refused on its own. Header names are
 * matched in any case, with spaces, `_` and `-` ignored; a row of empty cells (`,,,,`) is no row.
 */
export function readCsv(
  file: ImportError['file'],
  text: string,
  columns: Columns,
  errors: ImportError[],
): Row[] {
  const records: Array<{ record: string[]; line: number }> = [];
  const lineAt = lineFinder(text);
  let ok = true;
  let lastEnd = 0;
  try {
    parse(text, {
      skip_empty_lines: true,
      trim: true,
      bom: true,
      relax_column_count: true,
      skip_records_with_error: true,
      on_skip: (err) => {
        // The file is refused (fileErrors), but its readable rows are still checked and reported.
        if (!err) return;
        const column = (err as { column?: unknown }).column;
        const at = typeof column === 'number' ? records[0]?.record[column] : undefined;
        errors.push({
          file,
          line: lineAt(lastEnd),
          field: at ?? (typeof column === 'number' ? `column ${column + 1}` : '(file)'),
          message: unreadable(err),
        });
      },
      on_record: (record, context) => {
        const line = lineAt(lastEnd);
        lastEnd = context.bytes;
        const cells = record.map(cleanCell);
        if (cells.some((cell) => cell !== '')) records.push({ record: cells, line });
        return record;
      },
    });
  } catch (err) {
    errors.push({
      file,
      line: lineAt(lastEnd),
      field: '(file)',
      message: unreadable(err as Error),
    });
    return [];
  }
  const known = new Map(
    [...columns.required, ...columns.optional].map((column) => [columnKey(column), column]),
  );
  const typed = records[0]?.record ?? [];
  if (typed.length === 1 && typed[0]?.includes(';')) {
    errors.push({
      file,
      line: 1,
      field: '(file)',
      message:
        'its columns are separated by ; (a spreadsheet set to a European language): save it as CSV with commas',
    });
    return [];
  }
  // A spreadsheet writes an empty column for every one a cell was ever formatted in.
  let width = typed.length;
  while (width > 0 && typed[width - 1] === '') width--;
  const header = typed.slice(0, width).map((name) => known.get(columnKey(name)) ?? name);
  header.forEach((name, i) => {
    if (name !== '') return;
    errors.push({
      file,
      line: 1,
      field: `column ${i + 1}`,
      message: `column ${i + 1} has no name in the header`,
    });
    ok = false;
  });
  for (const column of columns.required) {
    if (!header.includes(column)) {
      errors.push({ file, line: 1, field: column, message: `column ${column} is missing` });
      ok = false;
    }
  }
  const seen = new Set<string>();
  for (const column of header) {
    if (column === '') continue;
    if (!known.has(columnKey(column))) {
      errors.push({ file, line: 1, field: column, message: `unknown column ${column}` });
      ok = false;
    } else if (seen.has(column)) {
      errors.push({ file, line: 1, field: column, message: `column ${column} appears twice` });
      ok = false;
    }
    seen.add(column);
  }
  if (!ok) return [];
  return records.slice(1).map(({ record, line }) => {
    const values: Record<string, string> = {};
    const problems: ImportError[] = [];
    header.forEach((column, i) => {
      const { value, problem } = readCell(column, record[i] ?? '');
      values[column] = value;
      if (problem) problems.push({ file, line, field: column, message: problem });
    });
    const extra = record.slice(header.length).findIndex((cell) => cell !== '');
    if (extra >= 0) {
      problems.push({
        file,
        line,
        field: `column ${header.length + extra + 1}`,
        message: `has ${record.length} cells, but the header names ${header.length} columns`,
      });
    }
    return { line, values, problems };
  });
}

/** The parser's reason, without its own line count (the row's line is given, counted as above). */
const unreadable = (err: Error): string => `not readable CSV: ${err.message.replace(/ at line \d+/, '')}`;

const AS_TEXT = 'format the column as Text in the spreadsheet, type the value in again and export';

/** `1.23457E+11`: a spreadsheet showing a long number, and saving it as shown, digits lost. */
const SCIENTIFIC = /^\d(?:\.\d+)?E[+-]\d+$/i;

/** Columns whose values are codes or numbers to dial, never quantities. */
const CODE_COLUMNS = new Set(['serial', 'dc09Account', 'phone', 'voiceUri', 'ref', 'resident']);
const PHONE_COLUMNS = new Set(['phone', 'voiceUri']);
const DATE_COLUMNS = new Set(['referredOn', 'firstInstalledOn']);

/**
 * One cell as the registry takes it, or what a spreadsheet did to it that cannot be undone
 * without a guess. A date in the UK's day/month/year order is read as that date.
 */
export function readCell(column: string, cell: string): { value: string; problem?: string } {
  if (cell.includes('\uFFFD')) {
    return {
      value: cell,
      problem:
        'holds � where a character could not be read: the file was not saved as UTF-8; save it as "CSV UTF-8" (or import it with the telecare CLI, naming its encoding) and import again',
    };
  }
  if (CODE_COLUMNS.has(column) && SCIENTIFIC.test(cell)) {
    return {
      value: cell,
      problem: `${cell} is a number in scientific notation: the spreadsheet took the value for a number and the digits it hid are lost; ${AS_TEXT}`,
    };
  }
  if (column === 'serial' && /^\d{16,}$/.test(cell) && /^0+$/.test(cell.slice(15))) {
    return {
      value: cell,
      problem: `${cell} ends in zeros past its 15th digit, as a spreadsheet writes a long number (it keeps 15 digits); ${AS_TEXT}. If the device's serial really ends so, register it alone (telecare device register --serial ${cell}, or POST /api/devices), which takes the serial as given`,
    };
  }
  if (PHONE_COLUMNS.has(column) && /^[1-9][\d ]{5,}$/.test(cell)) {
    const digits = cell.replace(/ /g, '');
    const meant = digits.startsWith('44') ? `+${digits}` : `0${digits}`;
    return {
      value: cell,
      problem: `${cell} does not start with 0 or +: a spreadsheet drops a number's leading 0 and its +; if it is ${meant}, write it so, as it is dialled, and format the column as Text`,
    };
  }
  if (DATE_COLUMNS.has(column)) return readDate(cell);
  // A number cell formatted with separators (86,400): commas in threes are only thousands.
  if (column === 'supervisionIntervalS' && /^\d{1,3}(?:,\d{3})+$/.test(cell))
    return { value: cell.replace(/,/g, '') };
  return { value: cell };
}

/** Days from Excel's day 0 (its 1900 date system) to 1970-01-01. */
const EXCEL_EPOCH_DAYS = 25569;
const DAY_MS = 86_400_000;

/**
 * A day as `YYYY-MM-DD`, or `DD/MM/YYYY` (a UK spreadsheet's date, read in that order: this is a
 * UK register). A bare number is a spreadsheet's day number: refused, naming the day it would be
 * in Excel's usual date system, since a workbook on the 1904 system would make it four years off.
 */
function readDate(cell: string): { value: string; problem?: string } {
  const uk = /^(\d{1,2})([/.])(\d{1,2})\2(\d{4})$/.exec(cell);
  if (uk) {
    const [, day, , month, year] = uk as unknown as [string, string, string, string, string];
    if (Number(month) > 12) {
      return {
        value: cell,
        problem: `${cell} is read as day/month/year, and ${month} is not a month: write it as YYYY-MM-DD`,
      };
    }
    return { value: `${year}-${month.padStart(2, '0')}-${day.padStart(2, '0')}` };
  }
  if (/^\d{1,6}$/.test(cell)) {
    const day = new Date((Number(cell) - EXCEL_EPOCH_DAYS) * DAY_MS).toISOString().slice(0, 10);
    return {
      value: cell,
      problem: `${cell} is a spreadsheet's day number (${day} in Excel's usual date system): format the column as a date, or write YYYY-MM-DD, and export again`,
    };
  }
  return { value: cell };
}

/**
 * CSV the platform writes for people to open in a spreadsheet: the reports' exports and the
 * CLI's secrets file. One cell writer, so every such file escapes alike.
 */

/** A cell's value as the platform holds it: a figure stays a figure, text stays text. */
export type CsvValue = string | number | boolean | null;

/**
 * Text a spreadsheet may run as a formula: OWASP's list (= + - @, a leading tab or CR), the
 * same signs after leading blanks (a spreadsheet skips them before it looks), their full-width
 * forms (＝ ＋ － ＠, read as the ASCII ones in some locales), and | (a DDE call in older Excel).
 */
const FORMULA_START = /^[\t\r]|^\s*[=+\-@|＝＋－＠]/u;

/**
 * One cell. An empty cell for null; a finite number as it is (a figure of -3 stays a number);
 * any other value as text, prefixed with `'` when it starts like a formula, so a spreadsheet
 * shows it as text; a cell with a comma, quote or line break is quoted (RFC 4180).
 */
export function csvCell(value: CsvValue): string {
  // A suppressed (or not applicable) value is an empty cell.
  if (value === null) return '';
  const text = String(value);
  // Decided by type, not by text: a figure is never text that looks like one.
  const figure = typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
  const safe = !figure && FORMULA_START.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** One line of cells, without its line ending. */
export const csvRow = (values: readonly CsvValue[]): string => values.map(csvCell).join(',');

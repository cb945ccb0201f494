/**
 * CSV the platform writes for people to open in a spreadsheet: the reports' exports and the
 * CLI's secrets file. One cell writer, so every such file escapes alike.
 */

/** A cell's value as the platform holds it: a figure stays a figure, text stays text. */
export type CsvValue = string | number | boolean | null;

/**
 * One cell. An empty cell for null; text that starts like a formula is prefixed with `'` so a
 * spreadsheet shows it as text; a cell with a comma, quote or line break is quoted (RFC 4180).
 */
export function csvCell(value: CsvValue): string {
  // A suppressed (or not applicable) value is an empty cell.
  if (value === null) return '';
  const text = String(value);
  const safe = typeof value === 'string' && /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** One line of cells, without its line ending. */
export const csvRow = (values: readonly CsvValue[]): string => values.map(csvCell).join(',');

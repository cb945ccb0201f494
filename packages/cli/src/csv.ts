/**
 * One CSV field for a file a person may open in a spreadsheet: a value starting with `=`, `+`,
 * `-`, `@`, a tab or a carriage return is prefixed with `'` so it is shown as text, never run as a
 * formula (CSV injection); a field with a comma, quote or line break is quoted.
 */
export function csvField(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export const csvLine = (fields: readonly string[]): string => fields.map(csvField).join(',');

/**
 * Wall-clock time in IANA time zones, for devices whose clocks run on local time (a DC-09 panel's
 * `clockZone`, a public data set's home). A time shown on a wall clock is handled as the epoch
 * milliseconds of the same fields read as UTC.
 */

/** A formatter of instants into a zone's wall-clock fields. Throws RangeError for a zone it does not know. */
export function wallClockFormat(timeZone: string): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat('en-GB', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
}

/** What a clock on `format`'s zone shows at `instant`, to the second. */
export function wallClockMs(format: Intl.DateTimeFormat, instant: number): number {
  const parts: Partial<Record<Intl.DateTimeFormatPartTypes, number>> = {};
  for (const part of format.formatToParts(instant)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return Date.UTC(
    parts.year as number,
    (parts.month as number) - 1,
    parts.day as number,
    parts.hour as number,
    parts.minute as number,
    parts.second as number,
  );
}

/**
 * The canonical name of an IANA time zone this runtime knows (`europe/london` gives
 * `Europe/London`), or undefined when it knows none by that name. Only an `Area/Location` name (or
 * UTC): the time zone data also takes abbreviations, and reads some as no installer means them
 * (`BST` is Bangladesh's, not British Summer Time).
 */
export function canonicalTimeZone(zone: string): string | undefined {
  if (!zone.includes('/') && !/^\s*(UTC|GMT)\s*$/i.test(zone)) return undefined;
  try {
    return wallClockFormat(zone.trim()).resolvedOptions().timeZone;
  } catch (err) {
    if (err instanceof RangeError) return undefined;
    throw err;
  }
}

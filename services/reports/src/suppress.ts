/**
 * Small-number suppression (DESIGN §3.7): a count from 1 to 4 is never shown, and neither is any
 * count from which one could be worked out (secondary suppression). Zero is shown: it names no
 * one.
 *
 * Suppression alone protects one answer, not two: a commissioner may ask for districts {X, Y} and
 * {X}, or for two periods one inside the other, and subtract. What the summary publishes is
 * therefore also rounded (`publishCount`, `publishGroup`), as the ONS publishes small-area counts:
 * small cells suppressed first, then every shown count rounded to the nearest 5 and every total
 * rounded on its own from its true value (not summed from rounded cells), so the difference of two
 * answers is a range of at least 5 values, never the count it hides. Periods are whole calendar
 * months (the summary's scope), so answers cannot be slid a day at a time to find where a rounded
 * count steps.
 */
export const SUPPRESS_BELOW = 5;

/**
 * The fewest values a median or centile is shown over. Unlike a count, a median is one person's
 * own value (or the mean of two): over five falls, the middle one's time on the floor. Over ten or
 * more, one value is among many that could be the middle one.
 */
export const MEDIAN_AT_LEAST = 10;

/** The base every published count of the summary is rounded to. */
export const ROUND_TO = 5;

/** A shown count, or null where it is suppressed. */
export type Count = number | null;

/** Counts that add up to a total shown beside them: categories, months, districts, met and missed. */
export interface Group {
  readonly total: Count;
  readonly cells: Record<string, Count>;
}

const small = (n: number): boolean => n > 0 && n < SUPPRESS_BELOW;

/** One count on its own (no total or complement is shown beside it). */
export const protectCount = (n: number): Count => (small(n) ? null : n);

/**
 * Suppresses a group's small cells, then, while the suppressed cells add up to less than the
 * threshold (the total minus the shown cells would give them away, or narrow them to a few
 * values), the smallest shown non-zero cell too. A total that is itself small is suppressed with
 * every cell; a total that still gives away what is left is suppressed as well.
 */
export function protectGroup(raw: Readonly<Record<string, number>>): Group {
  const total = Object.values(raw).reduce((a, b) => a + b, 0);
  if (small(total)) {
    return {
      total: null,
      cells: Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v === 0 ? 0 : null])),
    };
  }
  const hidden = new Set(Object.keys(raw).filter((k) => small(raw[k] ?? 0)));
  const hiddenSum = () => [...hidden].reduce((sum, k) => sum + (raw[k] ?? 0), 0);
  while (hidden.size > 0 && hiddenSum() < SUPPRESS_BELOW) {
    const next = Object.keys(raw)
      .filter((k) => !hidden.has(k) && (raw[k] ?? 0) > 0)
      .sort((a, b) => (raw[a] ?? 0) - (raw[b] ?? 0) || a.localeCompare(b))[0];
    if (next === undefined) break;
    hidden.add(next);
  }
  const cells = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, hidden.has(k) ? null : v]));
  // Nothing left to hide behind: the total alone would tell the hidden sum.
  const exposed = hidden.size > 0 && hiddenSum() < SUPPRESS_BELOW;
  return { total: exposed ? null : total, cells };
}

/** To the nearest multiple of `ROUND_TO` (a half up); a count of at least 5 stays at least 5. */
export const roundCount = (n: number): number => Math.round(n / ROUND_TO) * ROUND_TO;

/** One count as published: suppressed when small, else rounded. */
export const publishCount = (n: number): Count => (small(n) ? null : roundCount(n));

/**
 * A group as published: suppressed as `protectGroup` does, then each shown cell rounded, and the
 * total rounded from the true total, on its own, so the rounded cells need not add up to it.
 */
export function publishGroup(raw: Readonly<Record<string, number>>): Group {
  const { total, cells } = protectGroup(raw);
  return {
    total: total === null ? null : roundCount(total),
    cells: Object.fromEntries(Object.entries(cells).map(([k, v]) => [k, v === null ? null : roundCount(v)])),
  };
}

/** A percentage to one decimal place, or null when either count is suppressed or the base is 0. */
export const percent = (part: Count, of: Count): number | null =>
  part === null || of === null || of === 0 ? null : Math.round((part / of) * 1000) / 10;

/** A rate per 1,000 residents to one decimal place, or null where the count or base is hidden. */
export const per1000 = (count: Count, residents: Count): number | null =>
  count === null || residents === null || residents === 0
    ? null
    : Math.round((count / residents) * 10_000) / 10;

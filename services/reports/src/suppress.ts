/**
 * Small-number suppression (DESIGN §3.7): a count from 1 to 4 is never shown, and neither is any
 * count from which one could be worked out (secondary suppression). Zero is shown: it names no
 * one.
 */
export const SUPPRESS_BELOW = 5;

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

/** A percentage to one decimal place, or null when either count is suppressed or the base is 0. */
export const percent = (part: Count, of: Count): number | null =>
  part === null || of === null || of === 0 ? null : Math.round((part / of) * 1000) / 10;

/** A rate per 1,000 residents to one decimal place, or null where the count or base is hidden. */
export const per1000 = (count: Count, residents: Count): number | null =>
  count === null || residents === null || residents === 0
    ? null
    : Math.round((count / residents) * 10_000) / 10;

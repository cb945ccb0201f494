/**
 * What the rules say of the reports another person living in the home (`sharedHome`) may have made.
 */
import type { RecentEvent } from '../model.ts';
import { formatHhmm } from '../time.ts';

/** The bed and chair taken (each time) and the movement (its span and count) among `seen`. */
export function reportsText(seen: readonly RecentEvent[], tz: string): string {
  const parts: string[] = [];
  for (const [type, what] of [
    ['bed.occupied', 'the bed occupied'],
    ['chair.occupied', 'the chair occupied'],
  ] as const) {
    const taken = seen.filter((one) => one.type === type);
    if (taken.length > 0) parts.push(`${what} at ${taken.map((one) => formatHhmm(one.at, tz)).join(', ')}`);
  }
  const moves = seen.filter((one) => one.type === 'motion');
  const first = moves[0];
  const last = moves[moves.length - 1];
  if (first !== undefined && last !== undefined)
    parts.push(
      `movement ${formatHhmm(first.at, tz)}${last === first ? '' : `–${formatHhmm(last.at, tz)}`} (${moves.length} report${moves.length === 1 ? '' : 's'})`,
    );
  return parts.length > 0 ? parts.join(', ') : 'the bed or chair left';
}

/** The counts an alert carries of the other person's reports among `seen` (its thresholds). */
export function reportsCounts(seen: readonly RecentEvent[]): Record<string, number> {
  const thresholds: Record<string, number> = {};
  const count = (type: RecentEvent['type']) => seen.filter((one) => one.type === type).length;
  const bed = count('bed.occupied');
  const chair = count('chair.occupied');
  const moves = count('motion');
  if (bed > 0) thresholds.sharedBedOccupied = bed;
  if (chair > 0) thresholds.sharedChairOccupied = chair;
  if (moves > 0) thresholds.sharedMovements = moves;
  return thresholds;
}

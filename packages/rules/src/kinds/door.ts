/**
 * What a door contact's reports mean for the rules that read a passage through the front door
 * (the learned rhythm's outings, the night exit): a bounce is not a passage.
 */
import type { EventType } from '@telecare/contracts';
import type { RecentEvent } from '../model.ts';
import { firstAtOrAfter } from './recent.ts';

export const isDoor = (type: EventType): boolean => type === 'door.opened' || type === 'door.closed';

/**
 * Whether `recent[i]`, a door opening, is a bounce: its door's next report is its closing, less
 * than `bounceMs` later. Nobody passes through a door open for a second or two; a contact that
 * chatters as the door settles, or in the wind, does that.
 */
export function bounceOpening(recent: readonly RecentEvent[], i: number, bounceMs: number): boolean {
  const opened = recent[i];
  if (bounceMs <= 0 || opened?.type !== 'door.opened') return false;
  for (let j = i + 1; j < recent.length; j++) {
    const seen = recent[j] as RecentEvent;
    if (seen.at - opened.at >= bounceMs) return false;
    if (seen.serial === opened.serial && isDoor(seen.type)) return seen.type === 'door.closed';
  }
  return false;
}

/** Whether `recent[i]`, a door closing, ends a bounce: its door's report before it is its opening, less than `bounceMs` earlier. */
export function bounceClosing(recent: readonly RecentEvent[], i: number, bounceMs: number): boolean {
  const closed = recent[i];
  if (bounceMs <= 0 || closed?.type !== 'door.closed') return false;
  for (let j = i - 1; j >= 0; j--) {
    const seen = recent[j] as RecentEvent;
    if (closed.at - seen.at >= bounceMs) return false;
    if (seen.serial === closed.serial && isDoor(seen.type)) return seen.type === 'door.opened';
  }
  return false;
}

/** A door report that is part of a bounce (its opening or its closing). */
export const inBounce = (recent: readonly RecentEvent[], i: number, bounceMs: number): boolean =>
  bounceOpening(recent, i, bounceMs) || bounceClosing(recent, i, bounceMs);

/** The door openings in (`from`, `to`] that were bounces, and the first one's device. */
export function bouncesBetween(
  recent: readonly RecentEvent[],
  from: number,
  to: number,
  bounceMs: number,
): { count: number; first?: RecentEvent } {
  let count = 0;
  let first: RecentEvent | undefined;
  if (bounceMs <= 0) return { count };
  for (let i = firstAtOrAfter(recent, from); i < recent.length; i++) {
    const seen = recent[i] as RecentEvent;
    if (seen.at > to) break;
    if (seen.at > from && bounceOpening(recent, i, bounceMs)) {
      count++;
      first ??= seen;
    }
  }
  return first ? { count, first } : { count };
}

/** "2 door openings of under 3 s", "1 door opening of under 3 s". */
export const openingsText = (count: number, bounceMs: number): string =>
  `${count} door opening${count === 1 ? '' : 's'} of under ${Math.round(bounceMs / 1000)} s`;

/**
 * A home gone silent as a whole: its hub (the home unit every sensor reports through) not heard
 * for longer than its usual gap. A line or power cut stops every report at once, and a silence
 * check then sees "no movement" where what is known is that nothing at all is heard from the home.
 * The alert still fires (the person may need help); its reason and thresholds say so.
 */
import type { EventType } from '@telecare/contracts';
import type { DeviceSupervision, RecentEvent, ResidentState } from '../model.ts';

/** The alert types that say the person has not been seen: what a silent home also looks like. */
export const SILENCE_TYPES: ReadonlySet<EventType> = new Set<EventType>([
  'inactivity.unusual',
  'inactivity.no-wake',
  'outing.not-returned',
]);

/** Device kinds of the box the home's devices report through (the registry's, and older maps'). */
export const HUB_KINDS: ReadonlySet<string> = new Set(['home-unit', 'hub']);

/** The beats that show a device alive. */
const BEATS: ReadonlySet<EventType> = new Set<EventType>(['heartbeat', 'test.periodic']);

/**
 * A beat gap is never taken as shorter than this: a backlog delivered at once after a line came
 * back is heard within seconds, and a gap of seconds would call the hub silent minutes later.
 */
export const MIN_BEAT_GAP_MS = 15 * 60_000;

/**
 * Silent for this many beat gaps: a beat missed by half a gap. A silence check comes due within
 * the hour after the last movement, and the hub that beats hourly and went down with it has missed
 * one beat by then, not two: twice the gap said nothing of the line down in the commonest case.
 */
export const OVERDUE_GAPS = 1.5;

export interface HomeSilence {
  /** The latest report heard from the home, of any device, by the check: silent since then. */
  readonly since: number;
  /** The hubs silent past their usual gap; empty when the home has no known hub and every device is. */
  readonly hubs: readonly string[];
}

interface Heard {
  kind: string;
  /** The latest report of any type by the check, and the latest two beats by it. */
  last: number;
  beat: number;
  beatBefore: number;
}

/**
 * Whether the whole home was silent at `at`: every hub it has (a device of a `HUB_KINDS` kind in
 * `recent`) not heard for longer than its usual gap, and nothing heard from any device since the
 * first of them was; with no hub known, every supervised device.
 * A device is silent past its usual gap when not heard for longer than the lesser of its
 * supervision interval and `OVERDUE_GAPS` times the gap between its last two beats (at least
 * `MIN_BEAT_GAP_MS`); with neither known it is never called silent.
 * Reads only what the state keeps (a device's last two beats are in `recent`) and only what was
 * heard by `at`, so a check decides the same whenever its tick runs.
 */
export function homeSilence(state: ResidentState, at: number): HomeSilence | undefined {
  const bySerial = new Map<string, Heard>();
  let since = Number.NEGATIVE_INFINITY;
  for (const seen of state.recent) {
    // Heard only after the check: known to be there, not heard by the check (`overdueAt`).
    if (seen.at > at) {
      if (!bySerial.has(seen.serial)) bySerial.set(seen.serial, unheard(seen.deviceKind));
      continue;
    }
    since = seen.at;
    heardFrom(bySerial, seen);
  }
  for (const serial in state.devices) {
    const device = state.devices[serial] as DeviceSupervision;
    if (device.lastAt <= at && device.lastAt > since) since = device.lastAt;
  }
  if (!Number.isFinite(since)) return undefined;
  const hubs: string[] = [];
  for (const [serial, heard] of bySerial) if (HUB_KINDS.has(heard.kind)) hubs.push(serial);
  // The moment the first of the devices watched was past its usual gap: anything heard from the
  // home after it (a device that reports by a path of its own) says the home is not all silent.
  let overdueFrom = Number.POSITIVE_INFINITY;
  if (hubs.length > 0) {
    for (const serial of hubs) {
      const from = overdueAt(bySerial.get(serial), state.devices[serial], at);
      if (from === undefined) return undefined;
      overdueFrom = Math.min(overdueFrom, from);
    }
  } else {
    // No hub known: the home is silent when every device it supervises is.
    for (const serial in state.devices) {
      const from = overdueAt(bySerial.get(serial), state.devices[serial], at);
      if (from === undefined) return undefined;
      overdueFrom = Math.min(overdueFrom, from);
    }
  }
  return Number.isFinite(overdueFrom) && since <= overdueFrom ? { since, hubs } : undefined;
}

const unheard = (kind: string): Heard => ({
  kind,
  last: Number.NEGATIVE_INFINITY,
  beat: Number.NaN,
  beatBefore: Number.NaN,
});

function heardFrom(bySerial: Map<string, Heard>, seen: RecentEvent): void {
  let heard = bySerial.get(seen.serial);
  if (!heard) {
    heard = unheard(seen.deviceKind);
    bySerial.set(seen.serial, heard);
  }
  heard.last = seen.at;
  if (BEATS.has(seen.type)) {
    heard.beatBefore = heard.beat;
    heard.beat = seen.at;
  }
}

/**
 * When the device was past its usual gap, if it was by `at` (else undefined): not heard for longer
 * than the lesser of its supervision interval and `OVERDUE_GAPS` beat gaps.
 */
function overdueAt(
  heard: Heard | undefined,
  device: DeviceSupervision | undefined,
  at: number,
): number | undefined {
  let last = heard?.last ?? Number.NEGATIVE_INFINITY;
  // The device's latest beat, when `recent` has let it go (by age) and it was by the check.
  if (device && device.lastAt <= at && device.lastAt > last) last = device.lastAt;
  // Heard only after the check, or never: nothing says it was silent then.
  if (!Number.isFinite(last)) return undefined;
  const gap = heard ? heard.beat - heard.beatBefore : Number.NaN;
  const byBeats = Number.isNaN(gap)
    ? Number.POSITIVE_INFINITY
    : OVERDUE_GAPS * Math.max(gap, MIN_BEAT_GAP_MS);
  const byInterval = device ? device.intervalS * 1000 : Number.POSITIVE_INFINITY;
  const usual = Math.min(byBeats, byInterval);
  return Number.isFinite(usual) && at - last > usual ? last + usual : undefined;
}

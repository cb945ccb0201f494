import type { PreviousPairing } from './device.ts';

/**
 * How far ahead of the platform's clock a device's time may be. Further ahead, the event is still
 * stored (an alarm from a device with a wrong clock is still an alarm) but dated when it was
 * received, with the device's time kept as `devicetime`. Behind: `MAX_CLOCK_BEHIND_MS`.
 */
export const MAX_CLOCK_AHEAD_MS = 5 * 60 * 1000;

/**
 * How far behind the platform's clock a device's time may be. A home whose line was down sends
 * what it held when it comes back, and those events are real: a two-day outage gives two-day-old
 * events that must keep their times (triage reads them as late, reports as what happened then). A
 * device clock reset after a power cut reads 1970, 2000 or the firmware's build date, months or
 * years back: dated so, every event falls outside what triage keeps (a day) and the home looks
 * silent while it is not. A week sits well above any backlog a device holds and well below a reset
 * clock; further behind, the event is dated on receipt with the device's time kept in `devicetime`,
 * as for a clock ahead.
 */
export const MAX_CLOCK_BEHIND_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * How long before its pairing (the device map's `pairedAt`) a device's time may still be believed
 * as this home's. A device cannot hold a backlog from a home it had not joined, so an earlier time
 * is a wrong clock even when it is less than `MAX_CLOCK_BEHIND_MS` behind, unless it falls in the
 * device's previous pairing (then it happened in that home: `attributeEvent`). The margin covers an
 * installer who tests the device on site before pairing it in the registry, and the two clocks' own
 * difference; it widens the previous pairing's start by as much.
 */
export const PAIRING_CLOCK_TOLERANCE_MS = 60 * 60 * 1000;

/**
 * What an alert raised from an event of the previous pairing says (after its reason), and the
 * helpline with it: the event is the previous resident's, not the one the device is with now.
 */
export const MOVED_DEVICE_REASON = 'sent after the device was moved: happened at the previous home';

/** What the device map says of a device's pairings, as `attributeEvent` reads them. */
export interface DevicePairings {
  readonly residentId: string;
  readonly pairedAt?: string | undefined;
  readonly previousPairing?: PreviousPairing | undefined;
}

/** Whose an event is and its time (see `attributeEvent`). */
export interface AttributedTime {
  readonly residentId: string;
  readonly time: string;
  /** The device's time, kept when it was not believed (`time` is the receipt time then). */
  readonly devicetime?: string;
  /**
   * When the device left `residentId`'s home: set when the event happened there, in the device's
   * previous pairing, and was sent after the device was moved to another home.
   */
  readonly movedat?: string;
}

/** A clock too far ahead or behind is wrong whatever the device's pairings say. */
function wrongClock(deviceTimeMs: number, receivedAtMs: number): boolean {
  const skew = deviceTimeMs - receivedAtMs;
  return skew > MAX_CLOCK_AHEAD_MS || skew < -MAX_CLOCK_BEHIND_MS;
}

/**
 * Whose an event is and when it happened, from the device's time, when the platform received it
 * and what the device map says of the device's pairings. The one rule for every path that turns a
 * device's time into an event's: gateway-mqtt, and triage's replay import for a line that carries
 * its receipt time.
 *
 * - A time more than `MAX_CLOCK_AHEAD_MS` ahead or `MAX_CLOCK_BEHIND_MS` behind is a wrong clock:
 *   the current resident's event, dated on receipt, the device's time kept as `devicetime`. A
 *   clock reset to a date that happens to fall in an earlier pairing must not send a press made
 *   now to the home the device left.
 * - A time more than `PAIRING_CLOCK_TOLERANCE_MS` before `pairedAt` cannot be this home's. When it
 *   falls in the previous pairing (after its start, less the same tolerance, where known), the
 *   device held it from its previous home (a pendant taken back and paired to someone else sends
 *   its backlog once it reaches the new hub): the previous resident's event at its own time, with
 *   `movedat` saying when the device left them. A device back in the same home after a spell in
 *   stock gets its backlog at its time, unmarked. With no previous pairing, or earlier than it
 *   began, it is a wrong clock (a new device whose clock is wrong), as above.
 * - Otherwise the current resident's, at the device's time.
 */
export function attributeEvent(
  deviceTime: string,
  receivedAt: string,
  device: DevicePairings,
): AttributedTime {
  const at = Date.parse(deviceTime);
  const onReceipt = { residentId: device.residentId, time: receivedAt, devicetime: deviceTime };
  if (wrongClock(at, Date.parse(receivedAt))) return onReceipt;
  if (device.pairedAt === undefined || at >= Date.parse(device.pairedAt) - PAIRING_CLOCK_TOLERANCE_MS)
    return { residentId: device.residentId, time: deviceTime };
  const previous = device.previousPairing;
  if (
    previous === undefined ||
    (previous.pairedAt !== undefined && at < Date.parse(previous.pairedAt) - PAIRING_CLOCK_TOLERANCE_MS)
  )
    return onReceipt;
  return previous.residentId === device.residentId
    ? { residentId: previous.residentId, time: deviceTime }
    : { residentId: previous.residentId, time: deviceTime, movedat: previous.endedAt };
}

/**
 * An event's `time` and, when the device's clock is not believed, its `devicetime`, for a device
 * whose previous pairing is not known: `attributeEvent` without it.
 */
export function eventTimeOf(
  deviceTime: string,
  receivedAt: string,
  pairedAt?: string,
): { time: string; devicetime?: string } {
  const { time, devicetime } = attributeEvent(deviceTime, receivedAt, { residentId: '', pairedAt });
  return devicetime === undefined ? { time } : { time, devicetime };
}

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

/**
 * An event timed when the device was with no resident the device map knows of: in stock between
 * its previous pairing and this one, or before its previous pairing began. It is nobody's: the
 * gateways refuse it as an unpaired device's event (`unknown-device`, the bytes dead-lettered),
 * never give it to either home. `detail` says why in times only, for the dead letter and the
 * device's rejection.
 */
export interface UnpairedTime {
  readonly residentId: null;
  readonly detail: string;
}

/** A clock too far ahead or behind is wrong whatever the device's pairings say. */
function wrongClock(deviceTimeMs: number, receivedAtMs: number): boolean {
  const skew = deviceTimeMs - receivedAtMs;
  return skew > MAX_CLOCK_AHEAD_MS || skew < -MAX_CLOCK_BEHIND_MS;
}

/**
 * Whose an event is and when it happened, from the device's time, when the platform received it
 * and what the device map says of the device's pairings. The one rule for every path that turns a
 * device's time into an event's: gateway-mqtt, gateway-dc09 and triage's replay import for a line
 * that carries its receipt time.
 *
 * - A time more than `MAX_CLOCK_AHEAD_MS` ahead or `MAX_CLOCK_BEHIND_MS` behind is a wrong clock:
 *   the current resident's event, dated on receipt, the device's time kept as `devicetime`. A
 *   clock reset to a date that happens to fall in an earlier pairing must not send a press made
 *   now to the home the device left.
 * - From `PAIRING_CLOCK_TOLERANCE_MS` before `pairedAt` on (or with no `pairedAt`), the current
 *   resident's, at the device's time.
 * - Earlier, with no previous pairing, it cannot be this home's: a wrong clock, as above (a new
 *   device whose clock is wrong).
 * - In the previous pairing, from its start (less the same tolerance, where known) up to, not
 *   including, its end (`endedAt`): the device held it from its previous home (a pendant taken
 *   back and paired to someone else sends its backlog once it reaches the new hub). The previous
 *   resident's event at its own time, with `movedat` saying when the device left them; unmarked
 *   when the device is back with the same resident.
 * - From the previous pairing's end on (a spell in stock before this pairing), or before it began
 *   (the device was elsewhere then: another home, or stock), the device was with neither resident:
 *   nobody's (`UnpairedTime`). A report buffered in the stock cupboard or a late delivery must not
 *   reach either home's timeline, rules or helpline. Except a life-critical alarm (`lifeCritical`,
 *   priority 1): the device is in the current home now, and its clock may have stood still while
 *   it was without power between homes (a battery out in the stock cupboard), so that a press made
 *   now carries a time from then. It is the current resident's, dated on receipt with the device's
 *   time kept, as a wrong clock is: a stale press from the cupboard costs a call, a refused one a life.
 */
export function attributeEvent(
  deviceTime: string,
  receivedAt: string,
  device: DevicePairings,
  lifeCritical = false,
): AttributedTime | UnpairedTime {
  const at = Date.parse(deviceTime);
  const onReceipt = { residentId: device.residentId, time: receivedAt, devicetime: deviceTime };
  if (wrongClock(at, Date.parse(receivedAt))) return onReceipt;
  if (device.pairedAt === undefined || at >= Date.parse(device.pairedAt) - PAIRING_CLOCK_TOLERANCE_MS)
    return { residentId: device.residentId, time: deviceTime };
  const previous = device.previousPairing;
  if (previous === undefined) return onReceipt;
  const inStock = at >= Date.parse(previous.endedAt);
  const before =
    previous.pairedAt !== undefined && at < Date.parse(previous.pairedAt) - PAIRING_CLOCK_TOLERANCE_MS;
  if (inStock || before) {
    if (lifeCritical) return onReceipt;
    return {
      residentId: null,
      detail: inStock
        ? `timed ${deviceTime}, while the device was in stock (its previous pairing ended ${previous.endedAt}, this one began ${device.pairedAt}): it belongs to no resident`
        : `timed ${deviceTime}, before the device's previous pairing began (${previous.pairedAt}): it belongs to no resident the device map knows`,
    };
  }
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
  // Without a previous pairing every time is someone's (`attributeEvent`).
  const { time, devicetime } = attributeEvent(deviceTime, receivedAt, {
    residentId: '',
    pairedAt,
  }) as AttributedTime;
  return devicetime === undefined ? { time } : { time, devicetime };
}

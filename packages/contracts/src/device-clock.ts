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
 * device's previous pairing (then it happened in that home: `attributeEvent`) or in stock (then it
 * is nobody's). The margin covers an installer who tests the device on site before pairing it in
 * the registry, and the two clocks' own difference, so it covers only time when the device was
 * with nobody: never the previous pairing, up to its end (a device moved straight from one home to
 * another has none). It widens the previous pairing's start by as much.
 */
export const PAIRING_CLOCK_TOLERANCE_MS = 60 * 60 * 1000;

/**
 * How soon after its own time a life-critical alarm timed in the device's previous pairing must be
 * heard to be taken for a press made now, where the device is, by a clock running slow. A press
 * made in the new home right after a move, from a clock a few minutes slow, carries a time from the
 * previous pairing's last minutes; a backlog held from the previous home is heard only once the
 * device has reached the new one, later than that (`attributeEvent`). As far as a clock may run
 * ahead before it is not believed (`MAX_CLOCK_AHEAD_MS`).
 */
export const MOVED_CLOCK_MARGIN_MS = MAX_CLOCK_AHEAD_MS;

/**
 * What an alert raised from an event of the previous pairing says (after its reason), and the
 * helpline with it: the event is the previous resident's, not the one the device is with now.
 */
export const MOVED_DEVICE_REASON = 'sent after the device was moved: happened at the previous home';

/**
 * What an alert raised from an event whose time could mean another instant too (the event's
 * `alttime`) says after its reason: the operator asks when it happened rather than trust the age.
 */
export const ambiguousTimeReason = (alttime: string): string =>
  `time uncertain: the device's clock could mean ${alttime} as well`;

/** What the device map says of a device's pairings, as `attributeEvent` reads them. */
export interface DevicePairings {
  readonly residentId: string;
  readonly pairedAt?: string | undefined;
  readonly previousPairing?: PreviousPairing | undefined;
  /** When the device entered stock before this pairing (the device map's `stockedAt`). */
  readonly stockedAt?: string | undefined;
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
 * its previous pairing and this one, in stock before its first pairing, or before its previous
 * pairing began. It is nobody's: the
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
 * - From `pairedAt` on (or with no `pairedAt`), the current resident's, at the device's time; from
 *   `PAIRING_CLOCK_TOLERANCE_MS` before it too, but never before the previous pairing's end: the
 *   tolerance is for time when nobody else had the device.
 * - Earlier, with no previous pairing: from `stockedAt` on (the device was registered into stock,
 *   or entered it, and this is its first pairing known) the device was in stock, as below; before
 *   it, or with no `stockedAt`, it cannot be this home's: a wrong clock, as above (a new device
 *   whose clock is wrong).
 * - In the previous pairing, from its start (less the same tolerance, where known) up to, not
 *   including, its end (`endedAt`): the device held it from its previous home (a pendant taken
 *   back and paired to someone else sends its backlog once it reaches the new hub). The previous
 *   resident's event at its own time, with `movedat` saying when the device left them; unmarked
 *   when the device is back with the same resident. Except a life-critical alarm heard within
 *   `MOVED_CLOCK_MARGIN_MS` of its time: the press was made now, where the device is, by a clock
 *   running slow (right after a move straight from the previous home, the previous pairing's last
 *   minutes are the new home's first); a backlog from the previous home is heard only after the
 *   device has reached the new one. It is the current resident's, dated on receipt with the
 *   device's time kept: sent to the previous home, the helpline would be told the press happened
 *   where the device no longer is, and help would not go to the person who pressed.
 * - From the previous pairing's end on (a spell in stock before this pairing), in stock before a
 *   first pairing, or before the previous pairing began (the device was elsewhere then: another
 *   home, or stock), the device was with neither resident: nobody's (`UnpairedTime`). A report
 *   buffered in the stock cupboard or a late delivery must not reach either home's timeline, rules
 *   or helpline. Except a life-critical alarm (`lifeCritical`, priority 1): the device is in the
 *   current home now, and its clock may have stood still while it was without power between homes
 *   (a battery out in the stock cupboard), so that a press made now carries a time from then. It is
 *   the current resident's, dated on receipt with the device's time kept, as a wrong clock is: a
 *   stale press from the cupboard costs a call, a refused one a life.
 */
export function attributeEvent(
  deviceTime: string,
  receivedAt: string,
  device: DevicePairings,
  lifeCritical = false,
): AttributedTime | UnpairedTime {
  const at = Date.parse(deviceTime);
  const received = Date.parse(receivedAt);
  const onReceipt = { residentId: device.residentId, time: receivedAt, devicetime: deviceTime };
  if (wrongClock(at, received)) return onReceipt;
  if (device.pairedAt === undefined) return { residentId: device.residentId, time: deviceTime };
  const previous = device.previousPairing;
  const ended = previous === undefined ? Number.NEGATIVE_INFINITY : Date.parse(previous.endedAt);
  if (at >= Math.max(Date.parse(device.pairedAt) - PAIRING_CLOCK_TOLERANCE_MS, ended))
    return { residentId: device.residentId, time: deviceTime };
  if (previous === undefined) {
    const stocked = device.stockedAt;
    if (stocked === undefined || at < Date.parse(stocked) || lifeCritical) return onReceipt;
    return {
      residentId: null,
      detail: `timed ${deviceTime}, while the device was in stock (it entered stock ${stocked}, this pairing began ${device.pairedAt}): it belongs to no resident`,
    };
  }
  const inStock = at >= ended;
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
  if (lifeCritical && received - at <= MOVED_CLOCK_MARGIN_MS) return onReceipt;
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

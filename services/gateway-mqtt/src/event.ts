import {
  type DeviceEventPayload,
  type DeviceMapEntry,
  eventIdFor,
  partitionOf,
  type TelecareEvent,
} from '@telecare/contracts';
import { UNDATED } from './intake.ts';

export const EVENT_SOURCE = '/gateway-mqtt';

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
 * The canonical event for a device message. The id is derived from the serial, the device's own
 * id, its time as sent and the type (`eventIdFor`), so a resend becomes the same event and
 * JetStream drops the copy, while an id the device used before, at another time, is a new event.
 */
export function toTelecareEvent(input: {
  serial: string;
  payload: DeviceEventPayload;
  /** The device's time as it wrote it, when `payload.at` is not that (a repaired alarm's). */
  sentAt?: string;
  device: DeviceMapEntry;
  receivedAt: Date;
  partitions: number;
  traceparent?: string;
}): TelecareEvent {
  const { serial, payload, device } = input;
  const receivedAt = input.receivedAt.toISOString();
  const skew = Date.parse(payload.at) - input.receivedAt.getTime();
  // A clock too far ahead or behind is wrong; the event is real all the same, dated on receipt.
  const wrongClock = skew > MAX_CLOCK_AHEAD_MS || skew < -MAX_CLOCK_BEHIND_MS;
  // An alarm whose device time could not be read (intake's `asAlarm`) is dated on receipt too.
  const undated = payload.at === UNDATED;
  // Built key by key in the schema's order (the stored JSON keeps it), without a spread object
  // per optional field: this runs once per stored event.
  const event: TelecareEvent = {
    specversion: '1.0',
    id: eventIdFor(serial, payload.id, input.sentAt ?? payload.at, payload.type),
    source: EVENT_SOURCE,
    type: payload.type,
    subject: serial,
    time: wrongClock || undated ? receivedAt : payload.at,
  } as TelecareEvent;
  if (wrongClock) event.devicetime = payload.at;
  event.datacontenttype = 'application/json';
  event.residentid = device.residentId;
  event.devicekind = device.kind;
  event.deviceeventid = payload.id;
  event.partition = partitionOf(device.residentId, input.partitions);
  event.receivedat = receivedAt;
  event.testmode = device.testMode;
  if (payload.seq !== undefined) event.seq = payload.seq;
  if (device.location !== null) event.location = device.location;
  if (device.postcodeDistrict !== null) event.postcodedistrict = device.postcodeDistrict;
  if (input.traceparent !== undefined) event.traceparent = input.traceparent;
  event.data = payload.data;
  return event;
}

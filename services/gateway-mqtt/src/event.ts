import {
  type AttributedTime,
  attributeEvent,
  type DeviceEventPayload,
  type DeviceMapEntry,
  eventIdFor,
  mayReport,
  partitionOf,
  TAXONOMY,
  type TelecareEvent,
} from '@telecare/contracts';
import { UNDATED } from './intake.ts';

export const EVENT_SOURCE = '/gateway-mqtt';

// The clock bounds are the platform's one rule (contracts' `attributeEvent`, which triage's replay
// import applies too); re-exported here, where the gateway's tests and readers look for them.
export { MAX_CLOCK_AHEAD_MS, MAX_CLOCK_BEHIND_MS, PAIRING_CLOCK_TOLERANCE_MS } from '@telecare/contracts';

/**
 * Whose a device message is and its time: the platform's one rule (shared with triage's replay
 * import). A life-critical alarm whose device time could not be read (intake's `asAlarm`) is dated
 * on receipt. Otherwise a clock too far ahead or behind, or earlier than the device joined the
 * home, is wrong; the event is real all the same, dated on receipt with the device's time kept. A
 * time in the device's previous pairing is a backlog from the home it left: that resident's event,
 * at its own time. A time when the device was with nobody (in stock, or before its previous
 * pairing) is nobody's (`UnpairedTime`): the gateway refuses it as an unpaired device's.
 */
export function attributionOf(
  payload: DeviceEventPayload,
  device: DeviceMapEntry,
  receivedAt: Date,
): ReturnType<typeof attributeEvent> {
  const received = receivedAt.toISOString();
  return payload.at === UNDATED
    ? { residentId: device.residentId, time: received }
    : attributeEvent(payload.at, received, device, TAXONOMY[payload.type]?.priority === 1);
}

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
  /** Its `attributionOf`, when the caller has it; an unpaired device's event is no one's to build. */
  dated?: AttributedTime;
}): TelecareEvent {
  const { serial, payload, device } = input;
  const receivedAt = input.receivedAt.toISOString();
  const dated = input.dated ?? attributionOf(payload, device, input.receivedAt);
  if (dated.residentId === null) throw new RangeError(`an event ${dated.detail}`);
  const moved = dated.movedat !== undefined;
  // Built key by key in the schema's order (the stored JSON keeps it), without a spread object
  // per optional field: this runs once per stored event.
  const event: TelecareEvent = {
    specversion: '1.0',
    id: eventIdFor(serial, payload.id, input.sentAt ?? payload.at, payload.type),
    source: EVENT_SOURCE,
    type: payload.type,
    subject: serial,
    time: dated.time,
  } as TelecareEvent;
  if (dated.devicetime !== undefined) event.devicetime = dated.devicetime;
  event.datacontenttype = 'application/json';
  event.residentid = dated.residentId;
  event.devicekind = device.kind;
  event.deviceeventid = payload.id;
  event.partition = partitionOf(dated.residentId, input.partitions);
  event.receivedat = receivedAt;
  // The map's test mode, location and district are the new home's: none of them is the previous
  // home's, and an alarm from there must reach the queue, not an installer testing the new one.
  event.testmode = moved ? false : device.testMode;
  if (payload.seq !== undefined) event.seq = payload.seq;
  if (!moved && device.location !== null) event.location = device.location;
  if (!moved && device.postcodeDistrict !== null) event.postcodedistrict = device.postcodeDistrict;
  if (input.traceparent !== undefined) event.traceparent = input.traceparent;
  if (moved) event.movedat = dated.movedat;
  // Only a life-critical alarm of a type its kind does not report gets this far (any other such
  // type is refused): attributed as what it is, so triage keeps it out of the other devices' presses.
  if (!mayReport(device.kind, payload.type)) event.unexpectedkind = true;
  event.data = ownData(payload.data);
  return event;
}

/**
 * What the DC-09 gateway reads from a panel's frame and writes in an event's data, and triage takes
 * as fact: a still-present status report (`condition`: shown on a case as no press) and a pad unlike
 * the panel's (`padBroken`). A device's data may say neither: a pendant login marking its presses
 * still present would have them shown as status reports.
 */
const PANEL_FINDINGS = ['condition', 'padBroken'] as const;

/** The device's data without `PANEL_FINDINGS`: the same object when it has none (most events). */
function ownData(data: Record<string, unknown>): Record<string, unknown> {
  if (!PANEL_FINDINGS.some((key) => key in data)) return data;
  const own = { ...data };
  for (const key of PANEL_FINDINGS) delete own[key];
  return own;
}

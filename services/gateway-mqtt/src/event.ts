import {
  type DeviceEventPayload,
  type DeviceMapEntry,
  eventIdFor,
  partitionOf,
  type TelecareEvent,
} from '@telecare/contracts';

export const EVENT_SOURCE = '/gateway-mqtt';

/**
 * How far ahead of the platform's clock a device's time may be. Further ahead, the event is still
 * stored (an alarm from a device with a wrong clock is still an alarm) but dated when it was
 * received, with the device's time kept as `devicetime`.
 */
export const MAX_CLOCK_AHEAD_MS = 5 * 60 * 1000;

/**
 * The canonical event for a device message. The id is derived from the serial and the
 * device's own id, so a resend becomes the same event and JetStream drops the copy.
 */
export function toTelecareEvent(input: {
  serial: string;
  payload: DeviceEventPayload;
  device: DeviceMapEntry;
  receivedAt: Date;
  partitions: number;
  traceparent?: string;
}): TelecareEvent {
  const { serial, payload, device } = input;
  const ahead = Date.parse(payload.at) - input.receivedAt.getTime() > MAX_CLOCK_AHEAD_MS;
  return {
    specversion: '1.0',
    id: eventIdFor(serial, payload.id),
    source: EVENT_SOURCE,
    type: payload.type,
    subject: serial,
    time: ahead ? input.receivedAt.toISOString() : payload.at,
    ...(ahead ? { devicetime: payload.at } : {}),
    datacontenttype: 'application/json',
    residentid: device.residentId,
    devicekind: device.kind,
    deviceeventid: payload.id,
    partition: partitionOf(device.residentId, input.partitions),
    receivedat: input.receivedAt.toISOString(),
    testmode: device.testMode,
    ...(payload.seq === undefined ? {} : { seq: payload.seq }),
    ...(device.location === null ? {} : { location: device.location }),
    ...(device.postcodeDistrict === null ? {} : { postcodedistrict: device.postcodeDistrict }),
    ...(input.traceparent === undefined ? {} : { traceparent: input.traceparent }),
    data: payload.data,
  };
}

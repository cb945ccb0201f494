import {
  type DeviceEventPayload,
  type DeviceMapEntry,
  eventIdFor,
  partitionOf,
  type TelecareEvent,
} from '@telecare/contracts';

export const EVENT_SOURCE = '/gateway-mqtt';

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
  return {
    specversion: '1.0',
    id: eventIdFor(serial, payload.id),
    source: EVENT_SOURCE,
    type: payload.type,
    subject: serial,
    time: payload.at,
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

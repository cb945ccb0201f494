import { type EventType, eventIdFor, partitionOf, TelecareEvent } from '@telecare/contracts';

/**
 * Builds a valid TelecareEvent for tests and replays: ids derived exactly as the gateways do,
 * so fixtures look like the real thing.
 */
export function makeEvent(
  overrides: Partial<Omit<TelecareEvent, 'id'>> & { type: EventType; deviceEventId?: string } & {
    time: string;
  },
): TelecareEvent {
  const { deviceEventId = `dev-evt-${overrides.type}-${overrides.time}`, ...fields } = overrides;
  const serial = fields.subject ?? 'PX-0001';
  const residentid = fields.residentid ?? 'res_test0001';
  return TelecareEvent.parse({
    specversion: '1.0',
    source: '/test',
    subject: serial,
    datacontenttype: 'application/json',
    residentid,
    devicekind: 'pendant',
    deviceeventid: deviceEventId,
    partition: partitionOf(residentid, 8),
    receivedat: fields.time,
    testmode: false,
    data: {},
    ...fields,
    id: eventIdFor(serial, deviceEventId, fields.devicetime ?? fields.time, fields.type),
  });
}

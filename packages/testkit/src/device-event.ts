import { eventIdOfKey, partitionOf, type TelecareEvent } from '@telecare/contracts';

/**
 * A pendant's event as a gateway stores it, received now: `key` is the device's own event id
 * (unique per device), `partitions` the deployment's TELECARE_PARTITIONS.
 */
export function pendantEvent(spec: {
  residentId: string;
  serial: string;
  type: string;
  key: string;
  partitions: number;
  testmode?: boolean;
  data?: Record<string, unknown>;
}): TelecareEvent {
  const at = new Date().toISOString();
  return {
    specversion: '1.0',
    id: eventIdOfKey(spec.serial, spec.key),
    source: '/test',
    type: spec.type as TelecareEvent['type'],
    subject: spec.serial,
    time: at,
    datacontenttype: 'application/json',
    residentid: spec.residentId,
    devicekind: 'pendant',
    deviceeventid: spec.key,
    partition: partitionOf(spec.residentId, spec.partitions),
    receivedat: at,
    testmode: spec.testmode ?? false,
    data: spec.data ?? {},
  };
}

import { DeviceMapEntry } from '@telecare/contracts';
import type { DeviceRow, ResidentRow } from './records.ts';

/**
 * The device-map entry for a device and its resident, or null when the device has no resident:
 * the map exists to turn a serial into a resident, so an unassigned device is not in it (and a
 * gateway treats its serial as unknown).
 *
 * Only ids and places are copied — never names, addresses or phone numbers. `updatedAt` is the
 * later of the two rows' times because the entry changes when either does; the publisher uses
 * it to refuse to overwrite a newer entry with an older one.
 */
export function buildDeviceMapEntry(
  device: DeviceRow,
  resident: Pick<ResidentRow, 'id' | 'postcode_district' | 'updated_at'> | null,
): DeviceMapEntry | null {
  // A decommissioned device is unknown to the gateways: whatever it still sends is refused.
  if (!resident || device.resident_id === null || device.state === 'decommissioned') return null;
  if (device.resident_id !== resident.id) {
    throw new RangeError(`device ${device.id} belongs to ${device.resident_id}, not ${resident.id}`);
  }
  const updatedAt = Math.max(device.updated_at.getTime(), resident.updated_at.getTime());
  return DeviceMapEntry.parse({
    serial: device.serial,
    deviceId: device.id,
    residentId: resident.id,
    kind: device.kind,
    protocol: device.protocol,
    location: device.location,
    supervisionIntervalS: device.supervision_interval_s,
    state: device.state,
    testMode: device.test_mode,
    postcodeDistrict: resident.postcode_district,
    updatedAt: new Date(updatedAt).toISOString(),
  });
}

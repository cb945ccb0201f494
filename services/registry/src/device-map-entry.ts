import { DeviceMapEntry } from '@telecare/contracts';
import type { DeviceRow, ResidentRow } from './records.ts';

/**
 * The device-map entry for a device and its resident, or null when the device has no resident:
 * the map exists to turn a serial into a resident, so an unassigned device is not in it (and a
 * gateway treats its serial as unknown).
 *
 * Only ids and places are copied — never names, addresses or phone numbers (the previous
 * pairing's resident is an id too). `updatedAt` is the
 * later of the two rows' times because the entry changes when either does. It orders nothing in
 * the publisher, which writes at the revision of the key it read (`device-map.ts`); and a change
 * dated before the resident's last one leaves it as it was, so a device changed and changed back
 * can give the very entry the bucket holds.
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
    ...pairingsOf(device),
    updatedAt: new Date(updatedAt).toISOString(),
  });
}

/**
 * A device's pairings as the device map and the DC-09 accounts carry them: when it was paired with
 * its resident, when it entered stock before that (where it did, and it is known) and, when it was
 * moved, the pairing before (an id and its times), by which a gateway attributes a backlog
 * (`attributeEvent`).
 */
export function pairingsOf(
  device: DeviceRow,
): Pick<DeviceMapEntry, 'pairedAt' | 'previousPairing' | 'stockedAt'> {
  return {
    ...(device.paired_at ? { pairedAt: device.paired_at.toISOString() } : {}),
    ...(device.stocked_at ? { stockedAt: device.stocked_at.toISOString() } : {}),
    ...(device.previous_resident_id !== null && device.previous_pairing_ended_at !== null
      ? {
          previousPairing: {
            residentId: device.previous_resident_id,
            ...(device.previous_paired_at ? { pairedAt: device.previous_paired_at.toISOString() } : {}),
            endedAt: device.previous_pairing_ended_at.toISOString(),
          },
        }
      : {}),
  };
}

import type { DeviceMapEntry } from '@telecare/contracts';

/**
 * A device-map entry for an MQTT pendant, as the tests register one: installed, in the hall,
 * hourly supervision, its device id and resident derived from the serial unless given.
 */
export function testDevice(serial: string, overrides: Partial<DeviceMapEntry> = {}): DeviceMapEntry {
  const slug = serial.toLowerCase().replace(/[^a-z0-9]/g, '');
  return {
    serial,
    deviceId: `dev_${slug}`,
    residentId: `res_${slug}`,
    kind: 'pendant',
    protocol: 'mqtt',
    location: 'hall',
    supervisionIntervalS: 3600,
    state: 'installed',
    testMode: false,
    postcodeDistrict: 'GL1',
    updatedAt: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}

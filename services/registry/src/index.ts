export { loadRegistryConfig, type RegistryConfig, registryEnv } from './config.ts';
export { buildDeviceMapEntry } from './device-map-entry.ts';
export { normalisePostcode, postcodeDistrict } from './postcode.ts';
export type { Device, DeviceRow, Resident, ResidentRow } from './records.ts';
export { type RegistryHandle, startRegistry } from './service.ts';

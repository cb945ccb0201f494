export { loadRegistryConfig, type RegistryConfig, registryEnv } from './config.ts';
export { type CredentialAuthority, DynsecAuthority } from './credentials.ts';
export { FieldCipher, parseDataKey } from './crypto.ts';
export { buildDc09AccountEntry } from './dc09-accounts.ts';
export { buildDeviceMapEntry } from './device-map-entry.ts';
export { DEVICE_COLUMNS, type ImportError, RESIDENT_COLUMNS, type RowAction } from './import.ts';
export { normalisePostcode, postcodeDistrict } from './postcode.ts';
export type {
  Device,
  DeviceHealth,
  DeviceRow,
  Resident,
  ResidentRow,
  Responder,
  TestCall,
} from './records.ts';
export { type RegistryHandle, startRegistry } from './service.ts';

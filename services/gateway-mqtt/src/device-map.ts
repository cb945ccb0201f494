// The device map mirror moved to the platform (triage reads it too).
export { type DeviceMap, openDeviceMapMirror } from '@telecare/platform';

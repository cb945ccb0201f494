export {
  AckTimeoutError,
  type DeviceOptions,
  EventRejectedError,
  type SentEvent,
  SimulatedDevice,
} from './device.ts';
export { type HomeOptions, SimulatedHome } from './home.ts';
export { pick, seededRandom } from './random.ts';
export { type NewDevice, type NewResident, RegistryClient, RegistryError } from './registry-client.ts';

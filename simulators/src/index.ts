export {
  Dc09Dialler,
  type DialerEvent,
  DialFailedError,
  type DiallerOptions,
  type DialResult,
  decodeReply,
  dialerKey,
  encodeMessage as encodeDc09Message,
  type MessageParts as Dc09MessageParts,
} from './dc09/index.ts';
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

import type { DeviceKind } from '@telecare/contracts';
import type { ProfileName } from './profiles.ts';

export type Room = 'bedroom' | 'bathroom' | 'kitchen' | 'lounge' | 'hall';
export const ROOMS: readonly Room[] = ['bedroom', 'bathroom', 'kitchen', 'lounge', 'hall'];

/** A device's place in the home: a stable key the routine addresses it by. */
export type DeviceKey =
  | 'hub'
  | 'pendant'
  | 'fall'
  | `pir.${Room}`
  | 'door'
  | 'bed'
  | 'chair'
  | 'temp'
  | 'meds'
  | 'smoke'
  | 'heat'
  | 'co';

export interface DeviceSpec {
  readonly key: DeviceKey;
  readonly kind: DeviceKind;
  /** Where it is fixed; worn devices have none. */
  readonly location?: string;
  readonly heartbeatS: number;
  /** Registered supervision interval: two heartbeats and a quarter of an hour of grace. */
  readonly supervisionS: number;
  /** Percent lost per day; 0 for mains-powered devices. */
  readonly drainPerDay: number;
}

const spec = (
  key: DeviceKey,
  kind: DeviceKind,
  location: string | undefined,
  heartbeatS: number,
  drainPerDay: number,
): DeviceSpec => ({
  key,
  kind,
  ...(location ? { location } : {}),
  heartbeatS,
  supervisionS: heartbeatS * 2 + 900,
  drainPerDay,
});

/** Every home has the same kit: a hub, worn triggers, movement by room and the usual sensors. */
export const HOME_DEVICES: readonly DeviceSpec[] = [
  spec('hub', 'home-unit', 'hall', 3600, 0),
  spec('pendant', 'pendant', undefined, 4 * 3600, 0.25),
  spec('fall', 'fall-detector', undefined, 4 * 3600, 0.4),
  spec('pir.bedroom', 'pir', 'bedroom', 4 * 3600, 0.15),
  spec('pir.bathroom', 'pir', 'bathroom', 4 * 3600, 0.15),
  spec('pir.kitchen', 'pir', 'kitchen', 4 * 3600, 0.15),
  spec('pir.lounge', 'pir', 'lounge', 4 * 3600, 0.15),
  spec('pir.hall', 'pir', 'hall', 4 * 3600, 0.15),
  spec('door', 'door-contact', 'front door', 4 * 3600, 0.1),
  spec('bed', 'bed-sensor', 'bedroom', 4 * 3600, 0.1),
  spec('chair', 'chair-sensor', 'lounge', 4 * 3600, 0.1),
  spec('temp', 'temperature-sensor', 'lounge', 4 * 3600, 0.1),
  spec('meds', 'medication-dispenser', 'kitchen', 4 * 3600, 0.2),
  spec('smoke', 'smoke-detector', 'hall', 4 * 3600, 0.05),
  spec('heat', 'heat-detector', 'kitchen', 4 * 3600, 0.05),
  spec('co', 'co-detector', 'kitchen', 4 * 3600, 0.05),
];

export function deviceSpec(key: DeviceKey): DeviceSpec {
  const found = HOME_DEVICES.find((d) => d.key === key);
  if (!found) throw new RangeError(`no device ${key} in a home`);
  return found;
}

/** One simulated home: who lives there, where, and the seed its days are drawn from. */
export interface HomeSpec {
  /** Short, unique within a run: part of every serial. */
  readonly key: string;
  readonly profile: ProfileName;
  readonly postcode: string;
  readonly seed: number;
  /**
   * Battery level of each device on day 0, in percent. Missing devices start from a level
   * drawn from the seed.
   */
  readonly batteries?: Partial<Record<DeviceKey, number>>;
  /**
   * `dc09`: the home's alarms (pendant, fall detector, smoke, heat, CO, the hub's mains and poll)
   * go through a DC-09 disperser to the DC-09 gateway; its activity sensors report over MQTT.
   */
  readonly via?: 'mqtt' | 'dc09';
}

export const serialOf = (runId: string, home: HomeSpec, key: DeviceKey): string =>
  `SIM${runId}-${home.key}-${key.replace('pir.', 'PIR-').toUpperCase()}`;

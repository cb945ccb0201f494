import { DeviceMapEntry, type Names } from '@telecare/contracts';
import {
  type Logger,
  type NatsConnection,
  openDeviceMap,
  type ReplicaOptions,
  WatchedBucket,
} from '@telecare/platform';

/** The registry's device map (key = serial), mirrored in memory (see platform `WatchedBucket`). */
export type DeviceMap = WatchedBucket<DeviceMapEntry>;

export async function openDeviceMapMirror(
  nc: NatsConnection,
  n: Names,
  logger: Logger,
  options: ReplicaOptions = {},
): Promise<DeviceMap> {
  return new WatchedBucket({
    kv: await openDeviceMap(nc, n, options),
    schema: DeviceMapEntry,
    keyOf: (entry) => entry.serial,
    what: 'device map',
    logger: logger.child({ component: 'device-map' }),
  });
}

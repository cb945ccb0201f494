import { type KV, Kvm } from '@nats-io/kv';
import type { Names } from '@telecare/contracts';
import type { NatsConnection } from './nats.ts';

export type { KV };

/**
 * The device map bucket (key = serial, value = JSON DeviceMapEntry), created if missing with
 * one configuration, so whichever of registry, gateways and triage starts first makes the same
 * bucket and the others bind to it. A little history lets an installer see recent changes.
 */
export async function openDeviceMap(nc: NatsConnection, n: Names): Promise<KV> {
  return new Kvm(nc).create(n.kv.deviceMap, { history: 5 });
}

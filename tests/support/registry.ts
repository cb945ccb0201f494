import type { NatsConnection } from '@nats-io/transport-node';
import { type DeviceMapEntry, names } from '@telecare/contracts';
import { openBucket, waitFor } from '@telecare/testkit';
import type { RunningPlatform } from './platform.ts';

/** Calls the platform's registry API with the admin token: the status and the parsed answer. */
export const registryApi =
  (platform: () => RunningPlatform) =>
  async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const { registry, token } = platform();
    const response = await fetch(new URL(path, registry.url), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  };

/**
 * Waits until the device map says what the gateways will act on. The gateways mirror the bucket
 * by a watch, which follows a put within milliseconds; an installer's press comes seconds later.
 */
export async function mapSays(
  nc: NatsConnection,
  namespace: string,
  serial: string,
  testMode: boolean,
): Promise<void> {
  // Read straight from the bucket (direct gets), not through a gateway's mirror.
  const bucket = await openBucket(nc, names(namespace).kv.deviceMap);
  await waitFor(
    async () => {
      const last = await bucket.get(serial).catch(() => null);
      if (last?.operation !== 'PUT') return false;
      return (last.json<DeviceMapEntry>().testMode ?? false) === testMode;
    },
    { what: `device map testMode ${testMode} for ${serial}`, timeoutMs: 5_000, intervalMs: 20 },
  );
  await new Promise((resolve) => setTimeout(resolve, 150));
}

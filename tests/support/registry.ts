import { waitFor } from '@telecare/testkit';
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
 * Waits until the gateway that takes the device's messages holds its test mode as `testMode`: the
 * MQTT gateway's copy of the device map, or, for a DC-09 device (its `dc09Account` given), the
 * DC-09 gateway's copy of its account. Both follow the registry's buckets by a watch; the test goes
 * on as soon as the gateway has the change, not after a guessed pause. Needs the platform in this
 * process (the gateways' copies are read in memory).
 */
export async function mapSays(
  platform: RunningPlatform,
  serial: string,
  testMode: boolean,
  dc09Account?: string,
): Promise<void> {
  const { mqttDevice, dc09Account: accountHeld } = platform;
  if (!mqttDevice || !accountHeld) throw new Error('mapSays reads the gateways in this process');
  await waitFor(
    () =>
      dc09Account === undefined
        ? mqttDevice(serial)?.testMode === testMode
        : accountHeld(dc09Account)?.serial === serial && accountHeld(dc09Account)?.testMode === testMode,
    {
      what: `the ${dc09Account === undefined ? 'MQTT' : 'DC-09'} gateway to hold test mode ${testMode} for ${serial}`,
      timeoutMs: 5_000,
      intervalMs: 20,
    },
  );
}

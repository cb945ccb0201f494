import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Dc09AccountEntry, type DeviceKind, type DeviceMapEntry, names } from '@telecare/contracts';
import { openDc09Accounts } from '@telecare/gateway-dc09';
import { createBucket } from '@telecare/platform';
import { type LoadHome, SimulatedDevice } from '@telecare/simulators';
import { servers } from '@telecare/testkit';
import type { RunningPlatform } from './platform.ts';

/**
 * Hubs written straight into the device map (the KV bucket the registry keeps, read by the gateway
 * and triage), for storms of tens of thousands of homes: the registry's bulk import is not what a
 * storm measures, and takes minutes at that size. Each hub is the home of a resident of its own.
 */
export async function mapHubs(
  nc: NatsConnection,
  namespace: string,
  prefix: string,
  count: number,
  district: (i: number) => string,
  options: { supervisionIntervalS?: number } = {},
): Promise<Array<LoadHome & { residentId: string }>> {
  const kv = await createBucket(nc, names(namespace).kv.deviceMap, { kind: 'deviceMap', history: 5 });
  const updatedAt = new Date().toISOString();
  const homes = Array.from({ length: count }, (_, i) => ({
    key: `${prefix}${i}`,
    hub: `${prefix}${i}-HUB`,
    pendant: `${prefix}${i}-PND`,
    pir: `${prefix}${i}-PIR`,
    residentId: `res_${prefix.toLowerCase().replace(/[^a-z0-9]/g, '')}${i}`,
  }));
  let next = 0;
  await Promise.all(
    Array.from({ length: 200 }, async () => {
      for (let i = next++; i < homes.length; i = next++) {
        const home = homes[i] as (typeof homes)[number];
        const entry: DeviceMapEntry = {
          serial: home.hub,
          deviceId: `dev_${home.hub.toLowerCase().replace(/[^a-z0-9]/g, '')}`,
          residentId: home.residentId,
          kind: 'home-unit',
          protocol: 'mqtt',
          location: 'hall',
          supervisionIntervalS: options.supervisionIntervalS ?? 86_400,
          state: 'installed',
          testMode: false,
          postcodeDistrict: district(i),
          updatedAt,
        };
        await kv.put(entry.serial, JSON.stringify(entry));
      }
    }),
  );
  return homes;
}

/** A resident living alone in GL1 with one device of `kind`, registered through the registry API. */
export async function addHome(
  platform: RunningPlatform,
  serial: string,
  kind: DeviceKind = 'pendant',
): Promise<string> {
  const resident = await platform.registryClient.createResident({
    name: 'Test Resident',
    address: '1 Test Street, Gloucester',
    postcode: 'GL1 2AB',
    phone: '01452 000000',
    livesAlone: true,
  });
  await platform.registryClient.createDevice({
    serial,
    residentId: resident.id,
    kind,
    supervisionIntervalS: 3600,
  });
  return resident.id;
}

/**
 * A resident with one device of `kind` (`addHome`) and the device itself, connected over MQTT and
 * resending an unacknowledged event every 3 s unless said, as the end-to-end tests use one. The
 * caller closes it.
 */
export async function addDeviceHome(
  platform: RunningPlatform,
  serial: string,
  kind: DeviceKind,
  resend: { resendMs: number; resendMaxMs?: number } = { resendMs: 3_000 },
): Promise<{ residentId: string; device: SimulatedDevice }> {
  const residentId = await addHome(platform, serial, kind);
  const device = new SimulatedDevice({
    serial,
    mqttUrl: servers.mqttUrl,
    namespace: platform.namespace,
    ...resend,
  });
  await device.connect();
  return { residentId, device };
}

/** A resident with a pendant, pressed over MQTT (`addDeviceHome`). */
export const addPendantHome = (
  platform: RunningPlatform,
  serial: string,
  resend: { resendMs: number; resendMaxMs?: number } = { resendMs: 3_000 },
): Promise<{ residentId: string; device: SimulatedDevice }> =>
  addDeviceHome(platform, serial, 'pendant', resend);

/**
 * A device-map entry for an MQTT pendant, as the tests register one: installed, in the hall,
 * hourly supervision, its device id and resident derived from the serial unless given (the
 * defaults of the gateway's own tests).
 */
export function mqttDevice(serial: string, overrides: Partial<DeviceMapEntry> = {}): DeviceMapEntry {
  const slug = serial.toLowerCase().replace(/[^a-z0-9]/g, '');
  return {
    serial,
    deviceId: `dev_${slug}`,
    residentId: `res_${slug}`,
    kind: 'pendant',
    protocol: 'mqtt',
    location: 'hall',
    supervisionIntervalS: 3600,
    state: 'installed',
    testMode: false,
    postcodeDistrict: 'GL1',
    updatedAt: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}

/**
 * A registry entry for a DC-09 account, as the tests register one: installed, keyless, no code
 * overrides, hourly supervision, its serial and resident derived from the account unless given
 * (the defaults of the gateway's own tests).
 */
export function dc09Account(account: string, overrides: Partial<Dc09AccountEntry> = {}): Dc09AccountEntry {
  return {
    account,
    serial: `DC09-${account}`,
    residentId: `res_${account.toLowerCase()}`,
    key: null,
    keyEncoding: 'hex',
    codeOverrides: {},
    supervisionIntervalS: 3600,
    state: 'installed',
    testMode: false,
    postcodeDistrict: 'GL1',
    updatedAt: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}

/** The DC-09 account of a disperser (no key unless given: unencrypted), as the registry would publish it. */
export async function addDc09Account(
  platform: RunningPlatform,
  account: string,
  home: { serial: string; residentId: string },
  key: string | null = null,
): Promise<void> {
  const entry = dc09Account(account, { ...home, key, updatedAt: new Date().toISOString() });
  const nc = await connect({ servers: servers.natsUrl });
  try {
    await (await openDc09Accounts(nc, names(platform.namespace))).put(account, JSON.stringify(entry));
  } finally {
    await nc.close();
  }
}

import { DeviceMapEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, type NatsConnection } from '@telecare/platform';
import {
  cleanupNamespace,
  fillBucket,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller } from './support.ts';

/**
 * The device map is bounded by its part of the store (TELECARE_JETSTREAM_MAX_BYTES: 16 MB here, so
 * 128 KiB). Full, it refuses a new device's entry: the registration is saved, and answered with a
 * clear 507 saying the gateways will refuse the device until the map has room; a start-up with the
 * map full does not stop the registry, and one with a larger store writes it.
 */
const ns = uniqueNamespace('registry-mapfull');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0', TELECARE_JETSTREAM_MAX_BYTES: '16MB' });
const config = loadRegistryConfig(env);
const logger = createLogger('registry-mapfull-test', env.LOG_LEVEL);
let registry: RegistryHandle;
let nc: NatsConnection;

const call = apiCaller(
  () => registry.url,
  () => env.TELECARE_ADMIN_TOKEN!,
);

beforeAll(async () => {
  registry = await startRegistry(config, { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-mapfull-test', logger });
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('a full device map', { timeout: 90_000 }, () => {
  it('answers a registration it cannot hold with a clear 507, starts while full, and writes it once the store is grown', async () => {
    const resident = await call('POST', '/api/residents', {
      name: 'Fay Full',
      address: '2 High Street, Gloucester',
      postcode: 'GL1 2AB',
      phone: '01452 000001',
      livesAlone: true,
    });
    expect(resident.status).toBe(201);
    await fillBucket(nc, n.kv.deviceMap);

    const created = await call('POST', '/api/devices', {
      serial: 'PND-FULL1',
      residentId: resident.body.id,
      kind: 'pendant',
      location: 'worn',
      supervisionIntervalS: 3600,
    });
    expect(created.status).toBe(507);
    expect(created.body).toMatchObject({ error: 'device-map-full', serial: 'PND-FULL1', saved: true });
    expect(String(created.body.message)).toMatch(/saved.*device map is full.*TELECARE_JETSTREAM_MAX_BYTES/);
    // Saved all the same.
    expect((await call('GET', '/api/devices/PND-FULL1')).status).toBe(200);

    // A start-up with the map still full goes on (the entry is left to the retries).
    await registry.close();
    registry = await startRegistry(config, { logger });

    // A bucket with history refuses even a delete when full: the way out is a larger store, which
    // the bucket's bound follows at the next start.
    const map = await openBucket(nc, n.kv.deviceMap);
    expect((await map.get('PND-FULL1'))?.operation).not.toBe('PUT');
    await registry.close();
    registry = await startRegistry(loadRegistryConfig({ ...env, TELECARE_JETSTREAM_MAX_BYTES: '32MB' }), {
      logger,
    });
    const entry = await waitFor(
      async () => {
        const got = await map.get('PND-FULL1');
        return got?.operation === 'PUT' ? DeviceMapEntry.parse(got.json()) : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(entry.residentId).toBe(resident.body.id);
  });
});

import { rmSync } from 'node:fs';
import type { KV } from '@nats-io/kv';
import { DeviceMapEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, migrate, type NatsConnection } from '@telecare/platform';
import {
  cleanupNamespace,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller, heldIn, migrationsBefore } from './support.ts';

// Devices registered before the registry kept their previous pairing (migration 019) have no
// `stockedAt` unless it is known for certain. One still in stock whose row was never changed since
// its registration was never paired: it has been in stock since it was registered.

const ns = uniqueNamespace('regstockfill');
const n = names(ns);
const schema = n.schema('registry');
const env = serviceEnv(ns, { REGISTRY_PORT: '0' });
const token = env.TELECARE_ADMIN_TOKEN!;
const logger = createLogger('registry-test', env.LOG_LEVEL);
const FILL = '022_stocked_at_never_changed.sql';
const REGISTERED = '2025-03-01T09:00:00.000Z';

let registry: RegistryHandle;
let db: pg.Client;
let nc: NatsConnection;
let map: KV;
const call = apiCaller(
  () => registry.url,
  () => token,
);

/** A device row as the registry wrote it before 019: no pairing history, no `stocked_at`. */
async function olderDevice(serial: string, residentId: string | null, updatedAt: string): Promise<void> {
  await db.query(
    `insert into "${schema}".devices (id, serial, resident_id, kind, protocol, state, test_mode, created_at, updated_at)
     values ($1, $2, $3, 'pendant', 'mqtt', $4, false, $5, $6)`,
    [
      `dev_${serial.toLowerCase().replace(/[^0-9a-z]/g, '')}`,
      serial,
      residentId,
      residentId ? 'installed' : 'stock',
      REGISTERED,
      updatedAt,
    ],
  );
  await db.query(`update "${schema}".devices set stocked_at = null where serial = $1`, [serial]);
}

const stockedAt = async (serial: string) =>
  (
    await db.query<{ stocked_at: Date | null }>(
      `select stocked_at from "${schema}".devices where serial = $1`,
      [serial],
    )
  ).rows[0]?.stocked_at?.toISOString() ?? null;

beforeAll(async () => {
  db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
  const before = migrationsBefore(FILL);
  try {
    await migrate({ url: servers.databaseUrl, schema, dir: before, logger });
  } finally {
    rmSync(before, { recursive: true, force: true });
  }
  await db.query(
    `insert into "${schema}".residents (id, name, address, postcode, created_at, updated_at)
     values ('res_stockfill01', 'Older Home', '1 Old Lane', 'GL1 2AB', $1, $1)`,
    ['2025-01-01T09:00:00Z'],
  );
  await olderDevice('PND-NEVER1', null, REGISTERED);
  await olderDevice('PND-TOUCHED1', null, '2025-06-01T09:00:00.000Z');
  await olderDevice('PND-HOMED1', 'res_stockfill01', REGISTERED);
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-stockfill-test', logger });
  map = await openBucket(nc, n.kv.deviceMap);
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  await db?.end();
  await cleanupNamespace(ns);
});

describe('stockedAt of devices registered before their pairings were kept', () => {
  it('is the registration of a device in stock never changed since; unknown for the others', async () => {
    expect(await stockedAt('PND-NEVER1')).toBe(REGISTERED);
    // Changed since its registration: it may have been in a home and back, unrecorded.
    expect(await stockedAt('PND-TOUCHED1')).toBeNull();
    // In a home: whether it was in another before is not known.
    expect(await stockedAt('PND-HOMED1')).toBeNull();
  });

  it('is in the device map once the device is paired from stock', async () => {
    const paired = await call('PATCH', '/api/devices/PND-NEVER1', { residentId: 'res_stockfill01' });
    expect(paired.status).toBe(200);
    const entry = await waitFor(() => heldIn(map, 'PND-NEVER1', DeviceMapEntry), { what: 'the entry' });
    expect(entry.stockedAt).toBe(REGISTERED);
    expect(entry).not.toHaveProperty('previousPairing');
  });
});

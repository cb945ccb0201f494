import { randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { DeviceMapEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, ManualClock, type NatsConnection } from '@telecare/platform';
import {
  cleanupNamespace,
  openBucket,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller } from './support.ts';

const ns = uniqueNamespace('regpair');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0', REGISTRY_DATA_KEY: randomBytes(32).toString('hex') });
const token = env.TELECARE_ADMIN_TOKEN!;
const logger = createLogger('registry-test', env.LOG_LEVEL);
const clock = new ManualClock(new Date('2026-01-05T09:00:00.000Z'));
const HOUR = 3_600_000;

let registry: RegistryHandle;
let nc: NatsConnection;
let map: KV;

const call = apiCaller(
  () => registry.url,
  () => token,
);

const mapEntry = async (serial: string) => {
  const entry = await map.get(serial);
  return entry?.operation === 'PUT' ? DeviceMapEntry.parse(entry.json()) : undefined;
};

/** The device's entry once it names `residentId`: the registry has written the pairing. */
const entryWith = (serial: string, residentId: string, what: string) =>
  waitFor(
    async () => {
      const entry = await mapEntry(serial);
      return entry?.residentId === residentId ? entry : undefined;
    },
    { what },
  );

const resident = async (name: string) =>
  (await call('POST', '/api/residents', { name, address: '1 Way', postcode: 'GL1 2AB' })).body.id as string;

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger, clock });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-pairing-test', logger });
  map = await openBucket(nc, n.kv.deviceMap);
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('the device map says when a device joined its home', () => {
  it('from its registration with a resident, kept while it stays there, renewed when it moves', async () => {
    const first = await resident('Pairing One');
    const second = await resident('Pairing Two');
    const created = await call('POST', '/api/devices', {
      serial: 'PND-PAIR1',
      kind: 'pendant',
      residentId: first,
    });
    expect(created.status).toBe(201);
    expect((await mapEntry('PND-PAIR1'))?.pairedAt).toBe('2026-01-05T09:00:00.000Z');

    // Another change in the same home is not a new pairing.
    clock.advance(HOUR);
    expect((await call('PATCH', '/api/devices/PND-PAIR1', { location: 'bedroom' })).status).toBe(200);
    await waitFor(async () => (await mapEntry('PND-PAIR1'))?.location === 'bedroom', { what: 'the move in' });
    expect((await mapEntry('PND-PAIR1'))?.pairedAt).toBe('2026-01-05T09:00:00.000Z');

    // Moved to another home: it joined that one now.
    clock.advance(HOUR);
    expect((await call('PATCH', '/api/devices/PND-PAIR1', { residentId: second })).status).toBe(200);
    await waitFor(async () => (await mapEntry('PND-PAIR1'))?.residentId === second, { what: 'the move' });
    expect((await mapEntry('PND-PAIR1'))?.pairedAt).toBe('2026-01-05T11:00:00.000Z');
  });

  it('from its pairing, for a device registered in stock earlier', async () => {
    const home = await resident('Pairing Three');
    const created = await call('POST', '/api/devices', { serial: 'PND-PAIR2', kind: 'pendant' });
    expect(created.status).toBe(201);
    expect(await mapEntry('PND-PAIR2')).toBeUndefined();
    clock.advance(24 * HOUR);
    expect((await call('PATCH', '/api/devices/PND-PAIR2', { residentId: home })).status).toBe(200);
    const entry = await waitFor(() => mapEntry('PND-PAIR2'), { what: 'the entry' });
    expect(entry.pairedAt).toBe(new Date(clock.now()).toISOString());

    // Back to stock and paired again: the new pairing's time, not the first one's.
    clock.advance(HOUR);
    expect((await call('PATCH', '/api/devices/PND-PAIR2', { residentId: null })).status).toBe(200);
    await waitFor(async () => (await mapEntry('PND-PAIR2')) === undefined, { what: 'the entry removed' });
    clock.advance(HOUR);
    expect((await call('PATCH', '/api/devices/PND-PAIR2', { residentId: home })).status).toBe(200);
    await waitFor(
      async () => (await mapEntry('PND-PAIR2'))?.pairedAt === new Date(clock.now()).toISOString(),
      {
        what: 'the second pairing',
      },
    );
  });
});

describe("the device map keeps the device's previous pairing", () => {
  it('none for a device in its first home; the home it left when it moves, straight or through stock', async () => {
    const a = await resident('Previous A');
    const b = await resident('Previous B');
    const c = await resident('Previous C');
    expect(
      (await call('POST', '/api/devices', { serial: 'PND-PREV1', kind: 'pendant', residentId: a })).status,
    ).toBe(201);
    const pairedAtA = new Date(clock.now()).toISOString();
    const first = await waitFor(() => mapEntry('PND-PREV1'), { what: 'the entry' });
    expect(first).not.toHaveProperty('previousPairing');

    // Taken back from A's home (to stock), then paired to B: A's pairing ended when it left.
    clock.advance(HOUR);
    expect((await call('PATCH', '/api/devices/PND-PREV1', { residentId: null })).status).toBe(200);
    const leftA = new Date(clock.now()).toISOString();
    clock.advance(2 * HOUR);
    expect((await call('PATCH', '/api/devices/PND-PREV1', { residentId: b })).status).toBe(200);
    const atB = await entryWith('PND-PREV1', b, 'the pairing to B');
    expect(atB.pairedAt).toBe(new Date(clock.now()).toISOString());
    expect(atB.previousPairing).toEqual({ residentId: a, pairedAt: pairedAtA, endedAt: leftA });

    // Another change in B's home keeps it.
    clock.advance(HOUR);
    expect((await call('PATCH', '/api/devices/PND-PREV1', { location: 'lounge' })).status).toBe(200);
    await waitFor(async () => (await mapEntry('PND-PREV1'))?.location === 'lounge', { what: 'the change' });
    expect((await mapEntry('PND-PREV1'))?.previousPairing).toEqual({
      residentId: a,
      pairedAt: pairedAtA,
      endedAt: leftA,
    });

    // Straight from B to C: B's pairing, ended when C's began.
    const pairedAtB = atB.pairedAt;
    clock.advance(HOUR);
    expect((await call('PATCH', '/api/devices/PND-PREV1', { residentId: c })).status).toBe(200);
    const atC = await entryWith('PND-PREV1', c, 'the move to C');
    expect(atC.previousPairing).toEqual({ residentId: b, pairedAt: pairedAtB, endedAt: atC.pairedAt });
  });
});

describe('the device map says when a device entered stock before its pairing', () => {
  it('its registration for a first pairing from stock, its last home’s end after one, none for a device that came straight from a home', async () => {
    const a = await resident('Stocked A');
    const b = await resident('Stocked B');
    // Registered into stock; paired to A two days later.
    expect((await call('POST', '/api/devices', { serial: 'PND-STK1', kind: 'pendant' })).status).toBe(201);
    const registered = new Date(clock.now()).toISOString();
    clock.advance(48 * HOUR);
    expect((await call('PATCH', '/api/devices/PND-STK1', { residentId: a })).status).toBe(200);
    const atA = await waitFor(() => mapEntry('PND-STK1'), { what: 'the pairing to A' });
    expect(atA.stockedAt).toBe(registered);
    expect(atA).not.toHaveProperty('previousPairing');

    // Another change in A's home keeps it.
    clock.advance(HOUR);
    expect((await call('PATCH', '/api/devices/PND-STK1', { location: 'hall' })).status).toBe(200);
    await waitFor(async () => (await mapEntry('PND-STK1'))?.location === 'hall', { what: 'the change' });
    expect((await mapEntry('PND-STK1'))?.stockedAt).toBe(registered);

    // Back to stock, then paired to B: it entered stock when it left A.
    clock.advance(HOUR);
    expect((await call('PATCH', '/api/devices/PND-STK1', { residentId: null })).status).toBe(200);
    const leftA = new Date(clock.now()).toISOString();
    clock.advance(HOUR);
    expect((await call('PATCH', '/api/devices/PND-STK1', { residentId: b })).status).toBe(200);
    const atB = await entryWith('PND-STK1', b, 'the pairing to B');
    expect(atB.stockedAt).toBe(leftA);
    expect(atB.previousPairing?.endedAt).toBe(leftA);

    // Straight from B to A: no spell in stock before this pairing.
    clock.advance(HOUR);
    expect((await call('PATCH', '/api/devices/PND-STK1', { residentId: a })).status).toBe(200);
    const backAtA = await entryWith('PND-STK1', a, 'the move to A');
    expect(backAtA).not.toHaveProperty('stockedAt');

    // Registered with its resident: never in stock.
    expect(
      (await call('POST', '/api/devices', { serial: 'PND-STK2', kind: 'pendant', residentId: a })).status,
    ).toBe(201);
    expect(await waitFor(() => mapEntry('PND-STK2'), { what: 'the entry' })).not.toHaveProperty('stockedAt');
  });
});

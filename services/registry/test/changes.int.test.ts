import { randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import { Dc09AccountEntry, DeviceMapEntry, names } from '@telecare/contracts';
import { connectNats, createLogger, jetstreamManager, type NatsConnection } from '@telecare/platform';
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

const ns = uniqueNamespace('regchg');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0', REGISTRY_DATA_KEY: randomBytes(32).toString('hex') });
const token = env.TELECARE_ADMIN_TOKEN!;
const logger = createLogger('registry-test', env.LOG_LEVEL);

let registry: RegistryHandle;
let nc: NatsConnection;
let map: KV;
let accounts: KV;

const call = apiCaller(
  () => registry.url,
  () => token,
);

const mapEntry = async (serial: string) => {
  const entry = await map.get(serial);
  return entry?.operation === 'PUT' ? DeviceMapEntry.parse(entry.json()) : undefined;
};
const accountEntry = async (account: string) => {
  const entry = await accounts.get(account);
  return entry?.operation === 'PUT' ? Dc09AccountEntry.parse(entry.json()) : undefined;
};

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-changes-test', logger });
  map = await openBucket(nc, n.kv.deviceMap);
  accounts = await openBucket(nc, n.kv.dc09Accounts);
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  await cleanupNamespace(ns);
});

/** A resident to pair the devices of a describe block with: its id. */
const newResident = async (name: string): Promise<string> =>
  (await call('POST', '/api/residents', { name, address: '1 Way', postcode: 'GL1 2AB' })).body.id as string;

describe('DC-09 code overrides per device', () => {
  let residentId: string;

  beforeAll(async () => {
    residentId = await newResident('Codes');
  });

  it('are set on registration and by PATCH, normalised, and published in the DC-09 account entry', async () => {
    const created = await call('POST', '/api/devices', {
      serial: 'HUB-CODES1',
      kind: 'home-unit',
      residentId,
      protocol: 'dc09',
      dc09Account: 'C0DE1',
      dc09CodeOverrides: { 'cid 12a': 'fall.detected' },
    });
    expect(created.status).toBe(201);
    expect(created.body.dc09CodeOverrides).toEqual({ 'CID 12A': 'fall.detected' });
    expect((await accountEntry('C0DE1'))?.codeOverrides).toEqual({ 'CID 12A': 'fall.detected' });
    // The gateway labels the account's events with the device's kind.
    expect((await accountEntry('C0DE1'))?.kind).toBe(created.body.kind);

    const patched = await call('PATCH', '/api/devices/HUB-CODES1', {
      dc09CodeOverrides: { 'CID 120': 'fall.detected', 'SIA MA': 'pendant.pressed' },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.dc09CodeOverrides).toEqual({
      'CID 120': 'fall.detected',
      'SIA MA': 'pendant.pressed',
    });
    expect((await accountEntry('C0DE1'))?.codeOverrides).toEqual({
      'CID 120': 'fall.detected',
      'SIA MA': 'pendant.pressed',
    });
    // A PATCH without the field keeps them; {} clears them.
    await call('PATCH', '/api/devices/HUB-CODES1', { location: 'hall' });
    expect((await call('GET', '/api/devices/HUB-CODES1')).body.dc09CodeOverrides).toEqual({
      'CID 120': 'fall.detected',
      'SIA MA': 'pendant.pressed',
    });
    await call('PATCH', '/api/devices/HUB-CODES1', { dc09CodeOverrides: {} });
    expect((await accountEntry('C0DE1'))?.codeOverrides).toEqual({});
  });

  it('refuses a bad code or type naming it, and overrides for an MQTT device; nothing changes', async () => {
    await call('PATCH', '/api/devices/HUB-CODES1', { dc09CodeOverrides: { 'CID 120': 'fall.detected' } });
    const bad = await call('PATCH', '/api/devices/HUB-CODES1', {
      dc09CodeOverrides: { 'CID 12': 'fall.detected', 'SIA MA': 'not.a.type' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.issues).toEqual([
      {
        path: 'dc09CodeOverrides.CID 12',
        message: expect.stringMatching(/source code: "CID " and 3 hex digits/),
      },
      { path: 'dc09CodeOverrides.SIA MA', message: expect.stringMatching(/event type of the taxonomy/) },
    ]);
    expect((await accountEntry('C0DE1'))?.codeOverrides).toEqual({ 'CID 120': 'fall.detected' });

    await call('POST', '/api/devices', { serial: 'PND-CODES2', kind: 'pendant', residentId });
    const mqtt = await call('PATCH', '/api/devices/PND-CODES2', {
      dc09CodeOverrides: { 'CID 120': 'fall.detected' },
    });
    expect(mqtt.status).toBe(422);
    expect(mqtt.body).toMatchObject({ error: 'not-dc09', issues: [{ path: 'dc09CodeOverrides' }] });
    const onCreate = await call('POST', '/api/devices', {
      serial: 'PND-CODES3',
      kind: 'pendant',
      dc09CodeOverrides: { 'CID 120': 'fall.detected' },
    });
    expect(onCreate.status).toBe(400);
    expect(onCreate.body.issues).toEqual([{ path: 'dc09CodeOverrides', message: 'only for protocol dc09' }]);
  });
});

describe('DC-09 panel clock zone per device', () => {
  let residentId: string;

  beforeAll(async () => {
    residentId = await newResident('Clock');
  });

  it('is UTC (null) when absent, set by name on registration and by PATCH, and published', async () => {
    const dc09 = { kind: 'home-unit', residentId, protocol: 'dc09' };
    const plain = await call('POST', '/api/devices', { ...dc09, serial: 'HUB-CLOCK0', dc09Account: 'C10C0' });
    expect(plain.status).toBe(201);
    expect(plain.body.dc09ClockZone).toBeNull();
    expect((await accountEntry('C10C0'))?.clockZone ?? null).toBeNull();

    const created = await call('POST', '/api/devices', {
      ...dc09,
      serial: 'HUB-CLOCK1',
      dc09Account: 'C10C1',
      dc09ClockZone: 'europe/london',
    });
    expect(created.status).toBe(201);
    // Kept by its canonical name.
    expect(created.body.dc09ClockZone).toBe('Europe/London');
    expect((await accountEntry('C10C1'))?.clockZone).toBe('Europe/London');

    // A PATCH without it keeps it; another zone replaces it; null puts the panel back on UTC.
    await call('PATCH', '/api/devices/HUB-CLOCK1', { location: 'hall' });
    expect((await call('GET', '/api/devices/HUB-CLOCK1')).body.dc09ClockZone).toBe('Europe/London');
    const fixed = await call('PATCH', '/api/devices/HUB-CLOCK1', { dc09ClockZone: 'Etc/GMT-1' });
    expect(fixed.status).toBe(200);
    expect((await accountEntry('C10C1'))?.clockZone).toBe('Etc/GMT-1');
    expect(
      (await call('PATCH', '/api/devices/HUB-CLOCK1', { dc09ClockZone: null })).body.dc09ClockZone,
    ).toBeNull();
    expect((await accountEntry('C10C1'))?.clockZone ?? null).toBeNull();
  });

  it('refuses a zone it does not know (400), and a zone on an MQTT device; nothing changes', async () => {
    await call('PATCH', '/api/devices/HUB-CLOCK1', { dc09ClockZone: 'Europe/London' });
    for (const zone of ['Europe/Londres', 'BST', '+01:00', '', 42]) {
      const bad = await call('PATCH', '/api/devices/HUB-CLOCK1', { dc09ClockZone: zone });
      expect(bad.status).toBe(400);
      expect(bad.body.issues).toEqual([
        {
          path: 'dc09ClockZone',
          message: expect.stringMatching(/IANA time zone.*Europe\/London.*null for UTC/),
        },
      ]);
    }
    const onCreate = await call('POST', '/api/devices', {
      serial: 'HUB-CLOCK2',
      kind: 'home-unit',
      residentId,
      protocol: 'dc09',
      dc09Account: 'C10C2',
      dc09ClockZone: 'Mars/Olympus_Mons',
    });
    expect(onCreate.status).toBe(400);
    expect(onCreate.body.issues).toEqual([{ path: 'dc09ClockZone', message: expect.any(String) }]);
    expect((await accountEntry('C10C1'))?.clockZone).toBe('Europe/London');

    await call('POST', '/api/devices', { serial: 'PND-CLOCK3', kind: 'pendant', residentId });
    const mqtt = await call('PATCH', '/api/devices/PND-CLOCK3', { dc09ClockZone: 'Europe/London' });
    expect(mqtt.status).toBe(422);
    expect(mqtt.body).toMatchObject({ error: 'not-dc09', issues: [{ path: 'dc09ClockZone' }] });
    const mqttCreate = await call('POST', '/api/devices', {
      serial: 'PND-CLOCK4',
      kind: 'pendant',
      dc09ClockZone: 'Europe/London',
    });
    expect(mqttCreate.status).toBe(400);
    expect(mqttCreate.body.issues).toEqual([{ path: 'dc09ClockZone', message: 'only for protocol dc09' }]);
  });
});

describe('PATCH /api/residents/:id', () => {
  it('re-validates the postcode and moves every device entry to the new district', async () => {
    const resident = await call('POST', '/api/residents', {
      name: 'Mover',
      address: '1 Old Road',
      postcode: 'GL1 2AB',
      keySafe: '1234 by the back door',
    });
    const id = resident.body.id as string;
    await call('POST', '/api/devices', { serial: 'PND-MOVE1', kind: 'pendant', residentId: id });
    await call('POST', '/api/devices', {
      serial: 'HUB-MOVE2',
      kind: 'home-unit',
      residentId: id,
      protocol: 'dc09',
      dc09Account: 'A0E2',
    });
    expect((await mapEntry('PND-MOVE1'))?.postcodeDistrict).toBe('GL1');

    const invalid = await call('PATCH', `/api/residents/${id}`, { postcode: 'NOT A POSTCODE' });
    expect(invalid.status).toBe(400);
    expect(invalid.body.issues).toEqual([
      { path: 'postcode', message: expect.stringMatching(/UK postcode/) },
    ]);
    const unknown = await call('PATCH', `/api/residents/${id}`, { postcod: 'BS1 4DJ' });
    expect(unknown.body.issues).toContainEqual({ path: 'postcod', message: 'unknown field' });
    expect((await call('GET', `/api/residents/${id}`)).body.postcode).toBe('GL1 2AB');

    const moved = await call('PATCH', `/api/residents/${id}`, {
      address: '9 New Street, Bristol',
      postcode: 'bs14dj',
      riskNotes: 'dog in the garden',
      phone: null,
    });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({
      address: '9 New Street, Bristol',
      postcode: 'BS1 4DJ',
      postcodeDistrict: 'BS1',
      riskNotes: 'dog in the garden',
      phone: null,
      name: 'Mover',
      keySafe: '••••••',
    });
    await waitFor(async () => (await mapEntry('PND-MOVE1'))?.postcodeDistrict === 'BS1', {
      what: 'the map entry to move',
    });
    expect((await accountEntry('A0E2'))?.postcodeDistrict).toBe('BS1');
    // Untouched fields stay, and the sensitive one still reveals.
    const revealed = await call('POST', `/api/residents/${id}/reveal`, {
      fields: ['keySafe'],
      reason: 'test',
    });
    expect(revealed.body.keySafe).toBe('1234 by the back door');
  });

  it('an empty change and an unknown resident are refused', async () => {
    const resident = await call('POST', '/api/residents', {
      name: 'Still',
      address: '1 Road',
      postcode: 'GL1 2AB',
    });
    const empty = await call('PATCH', `/api/residents/${resident.body.id}`, {});
    expect(empty.status).toBe(400);
    const missing = await call('PATCH', '/api/residents/res_00000000nothere', { name: 'X' });
    expect(missing.status).toBe(404);
  });
});

describe('the buckets brought in step with PostgreSQL at start-up', () => {
  it('deletes keys no device holds, and leaves no consumer behind', async () => {
    await map.put('GHOST-SERIAL', JSON.stringify({ serial: 'GHOST-SERIAL' }));
    await accounts.put('999999', JSON.stringify({ account: '999999' }));
    await registry.close();
    registry = await startRegistry(loadRegistryConfig(env), { logger });
    await waitFor(async () => (await map.get('GHOST-SERIAL'))?.operation === 'DEL', {
      what: 'the unmapped serial to be deleted',
    });
    await waitFor(async () => (await accounts.get('999999'))?.operation === 'DEL', {
      what: 'the unknown account to be deleted',
    });
    const jsm = await jetstreamManager(nc);
    for (const bucket of [n.kv.deviceMap, n.kv.dc09Accounts]) {
      const consumers: string[] = [];
      for await (const c of jsm.consumers.list(`KV_${bucket}`)) consumers.push(c.name);
      // Nothing else in this test reads these buckets: the registry's start-up reads leave none.
      expect(consumers).toEqual([]);
    }
  });
});

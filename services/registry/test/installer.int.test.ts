import { randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import {
  Dc09AccountEntry,
  type DeadLetter,
  DeviceMapEntry,
  eventIdFor,
  names,
  partitionOf,
  type TelecareEvent,
} from '@telecare/contracts';
import { connectNats, createLogger, jetstream, type NatsConnection } from '@telecare/platform';
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
import { apiCaller } from './support.ts';

const ns = uniqueNamespace('reginst');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0', REGISTRY_DATA_KEY: randomBytes(32).toString('hex') });
const config = loadRegistryConfig(env);
const token = env.TELECARE_ADMIN_TOKEN!;
const logger = createLogger('registry-test', env.LOG_LEVEL);

let registry: RegistryHandle;
let nc: NatsConnection;
let map: KV;
let accounts: KV;
let db: pg.Client;

const call = apiCaller(
  () => registry.url,
  () => token,
);

async function mapEntry(serial: string): Promise<DeviceMapEntry | undefined> {
  const entry = await map.get(serial);
  return entry?.operation === 'PUT' ? DeviceMapEntry.parse(entry.json()) : undefined;
}

/** What gateway-mqtt writes to EVENTS for a device event. */
async function publishEvent(
  serial: string,
  residentId: string,
  type: TelecareEvent['type'],
  options: {
    testmode?: boolean;
    data?: Record<string, unknown>;
    at?: Date;
    kind?: string;
    movedat?: string;
  } = {},
): Promise<string> {
  const at = options.at ?? new Date();
  const deviceEventId = `e-${randomBytes(6).toString('hex')}`;
  const partition = partitionOf(residentId, 8);
  const event: TelecareEvent = {
    specversion: '1.0',
    id: eventIdFor(serial, deviceEventId, at.toISOString(), type),
    source: '/gateway-mqtt',
    type,
    subject: serial,
    time: at.toISOString(),
    datacontenttype: 'application/json',
    residentid: residentId,
    devicekind: options.kind ?? 'pendant',
    deviceeventid: deviceEventId,
    partition,
    receivedat: new Date().toISOString(),
    testmode: options.testmode ?? false,
    ...(options.movedat === undefined ? {} : { movedat: options.movedat }),
    data: options.data ?? {},
  };
  await jetstream(nc).publish(n.subjects.event(partition, type), JSON.stringify(event), { msgID: event.id });
  return event.id;
}

const resident = {
  name: 'Edith Example',
  address: '1 High Street, Gloucester',
  postcode: 'GL1 2AB',
  phone: '01452 000000',
  livesAlone: true,
  mobilityNotes: 'walks with a frame',
  riskNotes: 'falls at night',
  keySafe: 'code 4321, left of the back door',
  medicalSummary: 'type 2 diabetes; warfarin',
  consent: true,
};

beforeAll(async () => {
  registry = await startRegistry(config, { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'registry-test', logger });
  map = await openBucket(nc, n.kv.deviceMap);
  accounts = await openBucket(nc, n.kv.dc09Accounts);
  db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
});

afterAll(async () => {
  await registry?.close();
  await db?.end();
  await nc?.close();
  await cleanupNamespace(ns);
});

describe('registry installer tools against real PostgreSQL and NATS', () => {
  let residentId: string;

  it('stores sensitive fields encrypted, shows them masked, and audits every reveal', async () => {
    const created = await call('POST', '/api/residents', resident);
    expect(created.status).toBe(201);
    residentId = created.body.id as string;
    expect(created.body).toMatchObject({
      mobilityNotes: 'walks with a frame',
      riskNotes: 'falls at night',
      keySafe: '••••••',
      medicalSummary: '••••••',
      consent: true,
    });
    const { rows } = await db.query(
      `select key_safe_enc, medical_summary_enc from "${n.schema('registry')}".residents where id = $1`,
      [residentId],
    );
    expect(JSON.stringify(rows[0])).not.toContain('4321');
    expect(JSON.stringify(rows[0])).not.toContain('warfarin');

    const refused = await call('POST', `/api/residents/${residentId}/reveal`, { fields: ['keySafe'] });
    expect(refused.status).toBe(400);
    expect((refused.body.issues as Array<{ path: string }>).map((i) => i.path)).toEqual(['reason']);

    const revealed = await call('POST', `/api/residents/${residentId}/reveal`, {
      fields: ['keySafe', 'medicalSummary'],
      reason: 'paramedics at the door',
    });
    expect(revealed.body).toMatchObject({
      keySafe: resident.keySafe,
      medicalSummary: resident.medicalSummary,
    });
    const audit = await call('GET', `/api/residents/${residentId}/audit`);
    expect(audit.body.reads).toEqual([
      expect.objectContaining({
        field: 'keySafe',
        actor: { id: 'admin-token', role: 'admin' },
        via: { actor: 'admin-token', role: 'admin' },
        caseId: null,
        reason: 'paramedics at the door',
      }),
      expect.objectContaining({ field: 'medicalSummary', actor: { id: 'admin-token', role: 'admin' } }),
    ]);
  });

  it('keeps responders in call order and inserts at a given place', async () => {
    const path = `/api/residents/${residentId}/responders`;
    await call('POST', path, { name: 'Ann Daughter', relationship: 'daughter', phone: '07700 900001' });
    await call('POST', path, { name: 'Bob Warden', relationship: 'mobile warden', phone: '07700 900002' });
    const inserted = await call('POST', path, {
      name: 'Cy Neighbour',
      relationship: 'keyholder',
      phone: '07700 900003',
      order: 1,
    });
    expect(inserted.status).toBe(201);
    const listed = await call('GET', path);
    expect(listed.body.responders).toEqual([
      expect.objectContaining({ name: 'Cy Neighbour', order: 1, relationship: 'keyholder' }),
      expect.objectContaining({ name: 'Ann Daughter', order: 2 }),
      expect.objectContaining({ name: 'Bob Warden', order: 3, phone: '07700 900002' }),
    ]);
    const bad = await call('POST', path, { name: 'X', relationship: 'son', phone: 'call me' });
    expect(bad.status).toBe(400);
    expect((bad.body.issues as Array<{ path: string }>)[0]!.path).toBe('phone');
  });

  it('records care packages and refuses an end before the start', async () => {
    const path = `/api/residents/${residentId}/care-packages`;
    const ok = await call('POST', path, {
      hoursPerWeek: 10.5,
      startDate: '2025-01-06',
      endDate: '2025-06-30',
    });
    expect(ok.status).toBe(201);
    const bad = await call('POST', path, { hoursPerWeek: 5, startDate: '2025-02-01', endDate: '2025-01-01' });
    expect(bad.status).toBe(400);
    expect(bad.body.issues).toEqual([{ path: 'endDate', message: 'must be on or after startDate' }]);
    expect((await call('GET', path)).body.carePackages).toEqual([
      expect.objectContaining({ hoursPerWeek: 10.5, startDate: '2025-01-06', endDate: '2025-06-30' }),
    ]);
  });

  it('the device map follows pairing, changes, state and decommissioning', async () => {
    const stock = await call('POST', '/api/devices', { serial: 'PND-MAP1', kind: 'pendant', model: 'Vi+' });
    expect(stock.body).toMatchObject({ state: 'stock', model: 'Vi+' });
    expect(stock.body.credentials).toBeUndefined(); // no broker configured: no secret issued
    expect(await mapEntry('PND-MAP1')).toBeUndefined();

    const paired = await call('PATCH', '/api/devices/PND-MAP1', { residentId, location: 'worn' });
    expect(paired.body).toMatchObject({ state: 'installed', residentId });
    expect(await waitFor(() => mapEntry('PND-MAP1'))).toMatchObject({
      residentId,
      location: 'worn',
      state: 'installed',
    });

    await call('PATCH', '/api/devices/PND-MAP1', { supervisionIntervalS: 600 });
    await waitFor(async () => (await mapEntry('PND-MAP1'))?.supervisionIntervalS === 600, {
      what: 'interval',
    });
    await call('PATCH', '/api/devices/PND-MAP1', { state: 'faulty' });
    await waitFor(async () => (await mapEntry('PND-MAP1'))?.state === 'faulty', { what: 'faulty' });

    const gone = await call('POST', '/api/devices/PND-MAP1/decommission');
    expect(gone.body).toMatchObject({ state: 'decommissioned' });
    await waitFor(async () => (await mapEntry('PND-MAP1')) === undefined, { what: 'removed from map' });
    const again = await call('PATCH', '/api/devices/PND-MAP1', { location: 'hall' });
    expect(again.status).toBe(409);
  });

  it('hands DC-09 accounts and keys to the gateway bucket, and refuses a key of the wrong length', async () => {
    const key = '00112233445566778899aabbccddeeff';
    const bad = await call('POST', '/api/devices', {
      serial: 'DSP-0001',
      residentId,
      kind: 'home-unit',
      protocol: 'dc09',
      dc09Account: '1a2b',
      dc09Key: key.slice(2),
    });
    expect(bad.status).toBe(400);
    expect((bad.body.issues as Array<{ path: string }>).map((i) => i.path)).toEqual(['dc09Key']);
    expect((await call('GET', '/api/devices/DSP-0001')).status).toBe(404);

    const ok = await call('POST', '/api/devices', {
      serial: 'DSP-0001',
      residentId,
      kind: 'home-unit',
      protocol: 'dc09',
      dc09Account: '1a2b',
      dc09Key: key,
      supervisionIntervalS: 3600,
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ dc09Account: '1A2B', dc09KeySet: true, dc09KeyEncoding: 'hex' });
    expect(JSON.stringify(ok.body)).not.toContain(key);
    const entry = await waitFor(async () => {
      const got = await accounts.get('1A2B');
      return got?.operation === 'PUT' ? Dc09AccountEntry.parse(got.json()) : undefined;
    });
    expect(entry).toMatchObject({ account: '1A2B', serial: 'DSP-0001', residentId, key, keyEncoding: 'hex' });

    const duplicate = await call('POST', '/api/devices', {
      serial: 'DSP-0002',
      residentId,
      kind: 'home-unit',
      protocol: 'dc09',
      dc09Account: '1A2B',
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.issues).toEqual([
      { path: 'dc09Account', message: 'already in use by another device' },
    ]);

    await call('POST', '/api/devices/DSP-0001/decommission');
    await waitFor(async () => (await accounts.get('1A2B'))?.operation !== 'PUT', { what: 'account removed' });
  });

  it('a test call passes when the device event arrives, with latency, battery and signal', async () => {
    await call('POST', '/api/devices', {
      serial: 'PND-TEST1',
      residentId,
      kind: 'pendant',
      supervisionIntervalS: 3600,
    });
    const started = await call('POST', '/api/devices/PND-TEST1/test', { timeoutS: 30 });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ status: 'waiting' });
    expect(await waitFor(async () => (await mapEntry('PND-TEST1'))?.testMode === true)).toBe(true);
    expect((await call('POST', '/api/devices/PND-TEST1/test')).status).toBe(409);

    // An event from before test mode (not flagged) does not pass it.
    await publishEvent('PND-TEST1', residentId, 'heartbeat', {
      data: { batteryPercent: 81, signalDbm: -70 },
    });
    await publishEvent('PND-TEST1', residentId, 'pendant.pressed', {
      testmode: true,
      data: { batteryPercent: 80, signalDbm: -67 },
      at: new Date(Date.now() - 40),
    });
    const passed = await waitFor(async () => {
      const test = await call('GET', '/api/devices/PND-TEST1/test');
      return test.body.status === 'passed' ? test.body : undefined;
    });
    expect(passed).toMatchObject({ eventType: 'pendant.pressed', batteryPercent: 80, signalDbm: -67 });
    expect(passed.latencyMs as number).toBeGreaterThanOrEqual(40);
    expect(await waitFor(async () => (await mapEntry('PND-TEST1'))?.testMode === false)).toBe(true);
    expect((await call('GET', '/api/devices/PND-TEST1')).body).toMatchObject({
      state: 'installed',
      testMode: false,
    });
  });

  it('a pendant whose clock went back to its reset value passes a test call too, its latency measured from receipt', async () => {
    await call('POST', '/api/devices', {
      serial: 'PND-RESET',
      residentId,
      kind: 'pendant',
      supervisionIntervalS: 3600,
    });
    expect((await call('POST', '/api/devices/PND-RESET/test', { timeoutS: 30 })).status).toBe(201);
    expect(await waitFor(async () => (await mapEntry('PND-RESET'))?.testMode === true)).toBe(true);
    // After a power cut the pendant's clock reads 2000-01-01 (the gateway keeps a late time as
    // the device gave it): from then to now is no latency, and more milliseconds than the column
    // holds, so the pass was never written and the event handed back for ever.
    await publishEvent('PND-RESET', residentId, 'pendant.pressed', {
      testmode: true,
      at: new Date('2000-01-01T00:00:00Z'),
    });
    const passed = await waitFor(async () => {
      const test = await call('GET', '/api/devices/PND-RESET/test');
      return test.body.status === 'passed' ? test.body : undefined;
    });
    expect(passed).toMatchObject({ eventType: 'pendant.pressed' });
    expect(passed.latencyMs as number).toBeGreaterThanOrEqual(0);
    expect(passed.latencyMs as number).toBeLessThan(60_000);
  });

  it('a connection or heartbeat does not pass a test call: "connected, no trigger yet" until the press', async () => {
    await call('POST', '/api/devices', { serial: 'PND-CONN', residentId, kind: 'pendant' });
    const started = await call('POST', '/api/devices/PND-CONN/test', { timeoutS: 30 });
    expect(started.body).toMatchObject({
      status: 'waiting',
      kind: 'pendant',
      expected: ['pendant.pressed'],
      action: 'press the pendant button',
      arrived: [],
      connectedAt: null,
    });
    await publishEvent('PND-CONN', residentId, 'device.online', { testmode: true });
    await publishEvent('PND-CONN', residentId, 'heartbeat', { testmode: true, data: { batteryPercent: 90 } });
    const connected = await waitFor(async () => {
      const test = await call('GET', '/api/devices/PND-CONN/test');
      return (test.body.arrived as unknown[]).length === 2 ? test.body : undefined;
    });
    expect(connected).toMatchObject({
      status: 'waiting',
      progress: 'connected, no trigger yet',
      arrived: [
        expect.objectContaining({ type: 'device.online', trigger: false }),
        expect.objectContaining({ type: 'heartbeat', trigger: false }),
      ],
    });
    expect(connected.connectedAt).toEqual(expect.any(String));

    await publishEvent('PND-CONN', residentId, 'pendant.pressed', { testmode: true });
    const passed = await waitFor(async () => {
      const test = await call('GET', '/api/devices/PND-CONN/test');
      return test.body.status === 'passed' ? test.body : undefined;
    });
    expect(passed).toMatchObject({ eventType: 'pendant.pressed', progress: 'trigger arrived' });
    expect(
      (passed.arrived as Array<{ type: string; trigger: boolean }>).map((a) => [a.type, a.trigger]),
    ).toEqual([
      ['device.online', false],
      ['heartbeat', false],
      ['pendant.pressed', true],
    ]);
  });

  it("a press from the device's previous home, sent after it was moved, does not pass the new home's test call", async () => {
    await call('POST', '/api/devices', { serial: 'PND-MOVED', residentId, kind: 'pendant' });
    expect((await call('POST', '/api/devices/PND-MOVED/test', { timeoutS: 30 })).status).toBe(201);
    // The backlog the gateway gave to the resident the device was with before: never in test
    // mode, so it is not the installer's press.
    await publishEvent('PND-MOVED', 'res_previoushome', 'pendant.pressed', {
      at: new Date(Date.now() - 12 * 3_600_000),
      movedat: new Date(Date.now() - 3_600_000).toISOString(),
    });
    const installers = await publishEvent('PND-MOVED', residentId, 'pendant.pressed', { testmode: true });
    const passed = await waitFor(async () => {
      const test = await call('GET', '/api/devices/PND-MOVED/test');
      return test.body.status === 'passed' ? test.body : undefined;
    });
    expect(passed).toMatchObject({ eventId: installers });
    expect(passed.arrived).toEqual([expect.objectContaining({ eventId: installers, trigger: true })]);
  });

  it('a bed sensor passes only on bed.occupied, and asks the installer to get into bed', async () => {
    await call('POST', '/api/devices', { serial: 'BED-TEST1', residentId, kind: 'bed-sensor' });
    const started = await call('POST', '/api/devices/BED-TEST1/test', { timeoutS: 30 });
    expect(started.body).toMatchObject({ expected: ['bed.occupied'] });
    expect(started.body.action).toMatch(/^get into bed/);
    // A press on a bed sensor's serial is not what a bed sensor is for: it does not pass.
    await publishEvent('BED-TEST1', residentId, 'device.online', { testmode: true });
    await publishEvent('BED-TEST1', residentId, 'bed.vacated', { testmode: true });
    await waitFor(async () => {
      const test = await call('GET', '/api/devices/BED-TEST1/test');
      return (test.body.arrived as unknown[]).length === 2;
    });
    expect((await call('GET', '/api/devices/BED-TEST1/test')).body.status).toBe('waiting');
    await publishEvent('BED-TEST1', residentId, 'bed.occupied', { testmode: true });
    const passed = await waitFor(async () => {
      const test = await call('GET', '/api/devices/BED-TEST1/test');
      return test.body.status === 'passed' ? test.body : undefined;
    });
    expect(passed.eventType).toBe('bed.occupied');
  });

  it('a device that connects but is never triggered fails as "connected, no trigger yet", naming what arrived', async () => {
    await call('POST', '/api/devices', { serial: 'SMK-QUIET', residentId, kind: 'smoke-detector' });
    const started = await call('POST', '/api/devices/SMK-QUIET/test', { timeoutS: 2 });
    expect(started.body.action).toBe('press the smoke test button');
    await publishEvent('SMK-QUIET', residentId, 'heartbeat', { testmode: true });
    const failed = await waitFor(
      async () => {
        const test = await call('GET', '/api/devices/SMK-QUIET/test');
        return test.body.status === 'failed' ? test.body : undefined;
      },
      { timeoutMs: 8_000 },
    );
    expect(failed.reason).toBe(
      'connected, no trigger yet: heartbeat arrived from SMK-QUIET, but no smoke.detected within 2 s',
    );
    expect(failed.arrived).toEqual([expect.objectContaining({ type: 'heartbeat', trigger: false })]);
  });

  it('a test call fails with a clear reason for a silent device and leaves test mode', async () => {
    await call('POST', '/api/devices', { serial: 'PND-SILENT', residentId, kind: 'pendant' });
    await call('POST', '/api/devices/PND-SILENT/test', { timeoutS: 1 });
    const failed = await waitFor(
      async () => {
        const test = await call('GET', '/api/devices/PND-SILENT/test');
        return test.body.status === 'failed' ? test.body : undefined;
      },
      { timeoutMs: 5_000 },
    );
    expect(failed.reason).toBe('no event from PND-SILENT within 1 s');
    expect((await call('GET', '/api/devices/PND-SILENT')).body).toMatchObject({
      state: 'installed',
      testMode: false,
    });
  });

  it("keeps a gateway's refusals of a device's messages with its test call (the newest 20) and counts them in its health", async () => {
    const owner = (await call('POST', '/api/residents', { ...resident, externalRef: 'REF-REFUSED' })).body.id;
    await call('POST', '/api/devices', { serial: 'PND-REFUSED', residentId: owner, kind: 'pendant' });
    const started = await call('POST', '/api/devices/PND-REFUSED/test', { timeoutS: 30 });
    const startedAt = Date.parse(started.body.startedAt as string);
    const js = jetstream(nc);
    let seq = 0;
    const letter = (origin: string, detail: string, at: number): DeadLetter => ({
      id: `dlq_${(++seq).toString().padStart(12, '0')}`,
      at: new Date(at).toISOString(),
      service: 'gateway-mqtt',
      reason: 'schema',
      detail,
      origin,
      rawBase64: Buffer.from('{"name":"Edith Example"}').toString('base64'),
    });
    const send = (l: DeadLetter) => js.publish(n.subjects.deadletter(l.service, l.reason), JSON.stringify(l));
    const topic = n.mqtt.events('PND-REFUSED');
    // The letters below are dated up to 211 ms after the start: sent only once that is past, as a
    // letter dated after its receipt is dated on receipt (its time would not be the one sent).
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + 250 - Date.now())));
    // More than a day ago: not counted. Before the test: counted in health, not shown with the test.
    await send(letter(topic, 'at: yesterday', startedAt - 25 * 3600_000));
    await send(letter(topic, 'at: before the test', startedAt - 60_000));
    const during = Array.from({ length: 22 }, (_, i) =>
      letter(topic, `at: refusal ${i}`, startedAt + 1 + i * 10),
    );
    for (const l of during.slice(0, 21)) await send(l);
    // The latest again (a redelivery), a serial the registry does not know, a DC-09 sender's address.
    await send(during[20]!);
    await send(letter(n.mqtt.events('PND-NOBODY'), 'at: unknown', startedAt + 500));
    await send({
      ...letter('tcp:127.0.0.1:40000', 'no DC-09 account 1234', startedAt + 500),
      service: 'gateway-dc09',
    });
    await send(during[21]!);

    const test = await waitFor(async () => {
      const got = await call('GET', '/api/devices/PND-REFUSED/test');
      const refused = got.body.refused as Array<{ detail: string }>;
      return refused.at(-1)?.detail === 'at: refusal 21' ? got.body : undefined;
    });
    expect(test.status).toBe('waiting');
    expect(test.progress).toBe('messages arrive but are refused: schema: at: refusal 21');
    expect(test.refused).toEqual(
      during.slice(2).map((l) => ({ reason: 'schema', detail: l.detail, at: l.at, deadLetterId: l.id })),
    );
    expect(JSON.stringify(test)).not.toContain('Edith');
    const health = await call('GET', '/api/devices/PND-REFUSED/health');
    expect(health.body).toMatchObject({
      refusedLast24h: 23,
      lastRefusal: { reason: 'schema', detail: 'at: refusal 21', deadLetterId: during[21]!.id },
    });
    const { rows } = await db.query(
      `select count(*)::int as n from ${n.schema('registry')}.device_refusals where serial = 'PND-NOBODY'`,
    );
    expect(rows[0].n).toBe(0);
    const kept = await db.query(
      `select count(*)::int as n from ${n.schema('registry')}.device_refusals where minute < now() - interval '24 hours'`,
    );
    expect(kept.rows[0].n).toBe(0);

    // Cancelled, the call still takes a refusal that follows at once (written after what ended it).
    await call('DELETE', '/api/devices/PND-REFUSED/test');
    const late = letter(topic, 'stored as pendant.pressed: id: Too small', Date.now());
    await send(late);
    const ended = await waitFor(async () => {
      const got = await call('GET', '/api/devices/PND-REFUSED/test');
      return (got.body.refused as Array<{ deadLetterId: string }>).at(-1)?.deadLetterId === late.id
        ? got.body
        : undefined;
    });
    expect(ended.warnings).toEqual([
      "pendant.pressed breaks the device contract (id: Too small): stored only because an alarm is never refused for its form; put the device's messages right",
    ]);
  });

  it('a fall from a device registered as a pendant is a kind mismatch; its press still passes, with a warning', async () => {
    await call('POST', '/api/devices', { serial: 'PND-FALLS', residentId, kind: 'pendant' });
    await call('POST', '/api/devices/PND-FALLS/test', { timeoutS: 30 });
    // An alarm this kind does not report is a mismatch; one it does (a cancel is not an alarm) is not.
    await publishEvent('PND-FALLS', residentId, 'fall.detected', { testmode: true });
    const mismatched = await waitFor(async () => {
      const test = await call('GET', '/api/devices/PND-FALLS/test');
      return (test.body.mismatched as unknown[]).length === 1 ? test.body : undefined;
    });
    const detail =
      "a pendant does not report fall.detected: the alarm was stored all the same; check the device's registered kind";
    expect(mismatched).toMatchObject({
      status: 'waiting',
      progress: `kind mismatch: ${detail}`,
      mismatched: [{ type: 'fall.detected', kind: 'pendant', detail }],
      arrived: [expect.objectContaining({ type: 'fall.detected', trigger: false })],
      warnings: [],
    });
    await publishEvent('PND-FALLS', residentId, 'pendant.pressed', { testmode: true });
    const passed = await waitFor(async () => {
      const test = await call('GET', '/api/devices/PND-FALLS/test');
      return test.body.status === 'passed' ? test.body : undefined;
    });
    expect(passed).toMatchObject({ progress: 'trigger arrived', warnings: [`kind mismatch: ${detail}`] });
    expect((await call('GET', '/api/devices/PND-FALLS/health')).body.lastKindMismatch).toMatchObject({
      type: 'fall.detected',
      kind: 'pendant',
      detail,
    });
    // Outside a test call too, health names the kind the alarm was stored under; an older one does not replace it.
    await publishEvent('PND-FALLS', residentId, 'smoke.detected', { kind: 'pendant' });
    await publishEvent('PND-FALLS', residentId, 'co.detected', { at: new Date(Date.now() - 60_000) });
    // Published after both: once health shows it, both alarms were taken.
    await publishEvent('PND-FALLS', residentId, 'battery.low', { data: { batteryPercent: 33 } });
    const health = await waitFor(async () => {
      const body = (await call('GET', '/api/devices/PND-FALLS/health')).body;
      return body.batteryPercent === 33 ? body : undefined;
    });
    expect(health.lastKindMismatch).toMatchObject({
      type: 'smoke.detected',
      kind: 'pendant',
      detail:
        "a pendant does not report smoke.detected: the alarm was stored all the same; check the device's registered kind",
    });
  });

  it("shows a device's login found in use from two places in its health", async () => {
    await call('POST', '/api/devices', { serial: 'PND-COPIED', residentId, kind: 'pendant' });
    expect((await call('GET', '/api/devices/PND-COPIED/health')).body.lastLoginContested).toBeNull();
    // As gateway-mqtt raises it from the broker's connection log.
    await publishEvent('PND-COPIED', residentId, 'device.login-contested', {
      data: { takeovers: 4, addresses: 2, windowS: 600 },
    });
    const health = await waitFor(async () => {
      const body = (await call('GET', '/api/devices/PND-COPIED/health')).body;
      return body.lastLoginContested ? body : undefined;
    });
    expect(health.lastLoginContested).toMatchObject({
      takeovers: 4,
      addresses: 2,
      eventId: expect.any(String),
    });
    // Not the device's own doing: it says nothing of a heartbeat.
    expect(health.lastHeartbeatAt).toBeNull();
    // A new secret clears it (credentials.int.test.ts): there is no broker here to issue one.
  });

  it('counts the kind mismatches of the last 24 hours in health, with the first and last seen', async () => {
    await call('POST', '/api/devices', { serial: 'PND-MANY', residentId, kind: 'pendant' });
    const now = Date.now();
    // A pendant that reports falls, again and again: once a day ago (no longer counted), three
    // times today; its own press is no mismatch.
    await publishEvent('PND-MANY', residentId, 'fall.detected', { at: new Date(now - 25 * 3600_000) });
    const first = new Date(now - 3 * 3600_000);
    const last = new Date(now - 60_000);
    await publishEvent('PND-MANY', residentId, 'fall.detected', { at: first });
    await publishEvent('PND-MANY', residentId, 'pendant.pressed', { at: new Date(now - 2 * 3600_000) });
    await publishEvent('PND-MANY', residentId, 'fall.detected', { at: new Date(now - 3600_000) });
    await publishEvent('PND-MANY', residentId, 'fall.detected', { at: last });
    await publishEvent('PND-MANY', residentId, 'battery.low', { data: { batteryPercent: 41 } });
    const health = await waitFor(async () => {
      const body = (await call('GET', '/api/devices/PND-MANY/health')).body;
      return body.batteryPercent === 41 ? body : undefined;
    });
    expect(health.kindMismatchesLast24h).toEqual({
      count: 3,
      firstAt: first.toISOString(),
      lastAt: last.toISOString(),
    });
    expect(health.lastKindMismatch).toMatchObject({ type: 'fall.detected', at: last.toISOString() });
    // A device with none says so.
    await call('POST', '/api/devices', { serial: 'PND-NONE', residentId, kind: 'pendant' });
    expect((await call('GET', '/api/devices/PND-NONE/health')).body.kindMismatchesLast24h).toBeNull();
  });

  it('keeps device health from events and lists overdue devices and low batteries', async () => {
    const old = new Date(Date.now() - 2 * 3600_000);
    await call('POST', '/api/devices', {
      serial: 'PND-HLTH',
      residentId,
      kind: 'pendant',
      supervisionIntervalS: 60,
    });
    await publishEvent('PND-HLTH', residentId, 'heartbeat', {
      at: old,
      data: { batteryPercent: 12, mains: true, signalDbm: -90 },
    });
    await publishEvent('PND-HLTH', residentId, 'mains.lost', { at: new Date(old.getTime() + 1000) });
    await publishEvent('PND-HLTH', residentId, 'pendant.pressed', { at: new Date(old.getTime() + 2000) });
    const health = await waitFor(async () => {
      const got = await call('GET', '/api/devices/PND-HLTH/health');
      return got.body.lastPendantAt ? got.body : undefined;
    });
    expect(health).toMatchObject({
      lastHeartbeatAt: old.toISOString(),
      batteryPercent: 12,
      mains: false,
      signalDbm: -90,
      overdue: true,
    });
    const overdue = await call('GET', '/api/devices/health?overdue=true');
    const serials = (overdue.body.devices as Array<{ serial: string }>).map((d) => d.serial);
    expect(serials).toContain('PND-HLTH');
    expect(serials).not.toContain('PND-TEST1'); // heartbeat-free but interval not yet passed since install
    const low = await call('GET', '/api/devices/health?batteryBelow=20');
    expect((low.body.devices as Array<{ serial: string }>).map((d) => d.serial)).toEqual(['PND-HLTH']);
  });

  it('issues role tokens; an operator may read but neither reveal nor write, and the admin token stays valid', async () => {
    const created = await call('POST', '/api/tokens', { name: 'night operator', role: 'operator' });
    expect(created.status).toBe(201);
    const operator = created.body.token as string;
    expect((await call('GET', '/api/residents', undefined, operator)).status).toBe(200);
    const write = await call('POST', '/api/residents', resident, operator);
    expect(write.status).toBe(403);
    const reveal = await call(
      'POST',
      `/api/residents/${residentId}/reveal`,
      { fields: ['keySafe'], reason: 'responder attending' },
      operator,
    );
    // People reveal through the helpline, on a case they hold; a person's own token reveals nothing.
    expect(reveal.status).toBe(403);
    const audit = await call('GET', `/api/residents/${residentId}/audit`);
    expect(JSON.stringify(audit.body.reads)).not.toContain(created.body.id as string);
    expect((await call('POST', '/api/tokens', { name: 'x', role: 'admin' }, operator)).status).toBe(403);
    await call('DELETE', `/api/tokens/${created.body.id as string}`);
    expect((await call('GET', '/api/residents', undefined, operator)).status).toBe(401);
    expect((await call('GET', '/api/residents')).status).toBe(200);
  });

  it('imports nothing when any CSV row is bad, and names each bad row by line and field', async () => {
    const residentsCsv = [
      'ref,name,address,postcode,phone,livesAlone',
      'A1,Ann Import,2 Low Road,GL2 3DE,01452 111111,yes',
      'A2,Bert Import,3 Low Road,NOTAPOSTCODE,,no',
    ].join('\n');
    const devicesCsv = [
      'serial,kind,resident,location,supervisionIntervalS',
      'IMP-0001,pendant,A1,worn,3600',
      'IMP-0001,pendant,A1,worn,3600',
      'IMP-0003,pendant,A9,,',
      'PND-TEST1,pendant,A1,,',
    ].join('\n');
    const refused = await call('POST', '/api/import', { residents: residentsCsv, devices: devicesCsv });
    expect(refused.status).toBe(422);
    expect(refused.body.imported).toBe(false);
    expect(refused.body.errors).toEqual([
      { file: 'residents', line: 3, field: 'postcode', message: 'must be a UK postcode, like GL1 2AB' },
      {
        file: 'devices',
        line: 3,
        field: 'serial',
        message: 'serial IMP-0001 appears twice: it is on line 2 too; keep one of the two rows',
      },
      { file: 'devices', line: 4, field: 'resident', message: 'unknown resident A9' },
      {
        file: 'devices',
        line: 5,
        field: 'resident',
        message: `serial PND-TEST1 is paired with ${residentId}: unpair it first (telecare device update PND-TEST1 --unpair)`,
      },
    ]);
    expect((await call('GET', '/api/devices/IMP-0001')).status).toBe(404);

    const partial = await call('POST', '/api/import', {
      residents: residentsCsv,
      devices: devicesCsv,
      importValid: true,
    });
    expect(partial.status).toBe(200);
    expect(partial.body.imported).toBe(true);
    expect(partial.body.devices).toEqual([{ line: 2, serial: 'IMP-0001', action: 'created', fields: [] }]);
    const ann = (partial.body.residents as Array<{ id: string }>)[0]!.id;
    expect((await call('GET', '/api/devices/IMP-0001')).body).toMatchObject({
      residentId: ann,
      state: 'installed',
    });
    expect(await waitFor(() => mapEntry('IMP-0001'))).toMatchObject({
      residentId: ann,
      postcodeDistrict: 'GL2',
    });
  });

  it('imports DC-09 code overrides from a column, and names a bad one by line and field', async () => {
    const header = 'serial,kind,resident,protocol,dc09Account,dc09CodeOverrides';
    const refused = await call('POST', '/api/import', {
      devices: [
        header,
        `HUB-OVR1,home-unit,${residentId},dc09,0A01,CID 120=fall.detected;SIA UA=flood.detected`,
        `HUB-OVR2,home-unit,${residentId},dc09,0A02,CID 120=fall.detected;CID 121=fall.maybe`,
        `HUB-OVR3,home-unit,${residentId},dc09,0A03,CID 120=fall.detected;SIA`,
        `PND-OVR4,pendant,${residentId},,,CID 120=fall.detected`,
      ].join('\n'),
    });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([
      {
        file: 'devices',
        line: 3,
        field: 'dc09CodeOverrides.CID 121',
        message: 'must be an event type of the taxonomy, like fall.detected',
      },
      {
        file: 'devices',
        line: 4,
        field: 'dc09CodeOverrides',
        message: expect.stringMatching(/^"SIA" must be CODE=event.type/),
      },
      { file: 'devices', line: 5, field: 'dc09CodeOverrides', message: 'only for protocol dc09' },
    ]);
    expect((await call('GET', '/api/devices/HUB-OVR1')).status).toBe(404);

    const imported = await call('POST', '/api/import', {
      devices: [
        header,
        `HUB-OVR1,home-unit,${residentId},dc09,0A01,cid 120=fall.detected; SIA UA=flood.detected`,
      ].join('\n'),
    });
    expect(imported.status).toBe(200);
    const overrides = { 'CID 120': 'fall.detected', 'SIA UA': 'flood.detected' };
    expect((await call('GET', '/api/devices/HUB-OVR1')).body.dc09CodeOverrides).toEqual(overrides);
    const entry = await waitFor(async () => {
      const got = await accounts.get('0A01');
      return got?.operation === 'PUT' ? Dc09AccountEntry.parse(got.json()) : undefined;
    });
    expect(entry.codeOverrides).toEqual(overrides);
  });

  it('imports a DC-09 panel clock zone from a column, changes it on a second import, and names a bad one', async () => {
    const header = 'serial,kind,resident,protocol,dc09Account,dc09ClockZone';
    const csv = (zone: string) =>
      [
        header,
        `HUB-CLK1,home-unit,${residentId},dc09,0C01,${zone}`,
        `HUB-CLK2,home-unit,${residentId},dc09,0C02,`,
      ].join('\n');
    const refused = await call('POST', '/api/import', { devices: csv('BST') });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([
      {
        file: 'devices',
        line: 2,
        field: 'dc09ClockZone',
        message: expect.stringMatching(/^must be an IANA time zone/),
      },
    ]);
    const imported = await call('POST', '/api/import', { devices: csv('europe/london') });
    expect(imported.status).toBe(200);
    expect((await call('GET', '/api/devices/HUB-CLK1')).body.dc09ClockZone).toBe('Europe/London');
    expect((await call('GET', '/api/devices/HUB-CLK2')).body.dc09ClockZone).toBeNull();
    const entryOf = (account: string) =>
      waitFor(async () => {
        const got = await accounts.get(account);
        return got?.operation === 'PUT' ? Dc09AccountEntry.parse(got.json()) : undefined;
      });
    expect((await entryOf('0C01')).clockZone).toBe('Europe/London');
    const again = await call('POST', '/api/import', { devices: csv('Europe/Dublin') });
    expect(again.body.devices).toEqual([
      { line: 2, serial: 'HUB-CLK1', action: 'updated', fields: ['dc09ClockZone'] },
      { line: 3, serial: 'HUB-CLK2', action: 'unchanged', fields: [] },
    ]);
    expect((await entryOf('0C01')).clockZone).toBe('Europe/Dublin');
  });

  it("keeps a home unit's speech line (voiceUri) from the API and the import, and refuses one that is not a number or sip: URI", async () => {
    const resident = await call('POST', '/api/residents', {
      name: 'Val Voice',
      address: '4 Call Lane',
      postcode: 'GL4 1AB',
    });
    expect(resident.body).toMatchObject({ id: expect.stringMatching(/^res_/) });
    const devicesCsv = (voiceUri: string) =>
      ['serial,kind,resident,voiceUri', `VOX-0001,home-unit,${resident.body.id},${voiceUri}`].join('\n');
    const first = await call('POST', '/api/import', { devices: devicesCsv('sip:unit-1@pbx.example.org') });
    expect(first.body.errors).toEqual([]);
    expect(first.status).toBe(200);
    expect((await call('GET', '/api/devices/VOX-0001')).body).toMatchObject({
      voiceUri: 'sip:unit-1@pbx.example.org',
    });
    const changed = await call('POST', '/api/import', { devices: devicesCsv('01452 000999') });
    expect(changed.body.devices).toEqual([
      { line: 2, serial: 'VOX-0001', action: 'updated', fields: ['voiceUri'] },
    ]);
    const bad = await call('PATCH', '/api/devices/VOX-0001', { voiceUri: 'http://example.org' });
    expect(bad.status).toBe(400);
    const cleared = await call('PATCH', '/api/devices/VOX-0001', { voiceUri: null });
    expect(cleared.body).toMatchObject({ voiceUri: null });
  });

  it('imports a residents.csv of more than 1 MiB, as a council exports it whole, in one request', async () => {
    // 900 residents with a paragraph of mobility notes each: 1.75 MiB, as a council exports them.
    const notes = 'Uses a walking frame indoors; stairs with a rail; '.repeat(40).trim();
    const rows = Array.from(
      { length: 900 },
      (_, i) => `BIG-${i},Person ${i},${i} Long Road,GL2 4AB,${notes}`,
    );
    const residents = ['ref,name,address,postcode,mobilityNotes', ...rows].join('\n');
    expect(residents.length).toBeGreaterThan(1_800_000);
    const res = await call('POST', '/api/import', { residents });
    expect(res.status, JSON.stringify(res.body).slice(0, 200)).toBe(200);
    expect(res.body.imported).toBe(true);
    expect(res.body.residents).toHaveLength(900);
  });

  it('refuses an import over its limit with 413, naming the limit, and writes nothing', async () => {
    const residents = `ref,name,address,postcode\n${'X'.repeat(5 * 1_048_576)}`;
    const res = await call('POST', '/api/import', { residents });
    expect(res.status).toBe(413);
    expect(String(res.body.message)).toMatch(/4 MiB/);
  });

  it('re-importing a file is idempotent: residents by ref, devices by serial, each row says created, updated or unchanged', async () => {
    const residentsCsv = (bobAddress: string, bobPhone: string) =>
      [
        'ref,name,address,postcode,phone,livesAlone,keySafe',
        'GCC-100,Ada Again,1 Mill Lane,GL4 1AA,01452 222222,yes,1234 by the door',
        `GCC-101,Bob Again,${bobAddress},GL4 1AB,${bobPhone},no,`,
      ].join('\n');
    const devicesCsv = (location: string) =>
      [
        'serial,kind,resident,location,supervisionIntervalS',
        'IDM-0001,pendant,GCC-100,worn,3600',
        `IDM-0002,smoke-detector,GCC-101,${location},3600`,
      ].join('\n');
    const first = await call('POST', '/api/import', {
      residents: residentsCsv('2 Mill Lane', ''),
      devices: devicesCsv('kitchen'),
    });
    expect(first.status).toBe(200);
    const ids = (first.body.residents as Array<{ id: string; action: string }>).map((r) => r.id);
    expect((first.body.residents as Array<{ action: string }>).map((r) => r.action)).toEqual([
      'created',
      'created',
    ]);
    expect((first.body.devices as Array<{ action: string }>).map((r) => r.action)).toEqual([
      'created',
      'created',
    ]);

    const again = await call('POST', '/api/import', {
      residents: residentsCsv('2 Mill Lane', ''),
      devices: devicesCsv('kitchen'),
      importValid: true,
    });
    expect(again.status).toBe(200);
    expect(again.body.errors).toEqual([]);
    expect(again.body.residents).toEqual([
      { line: 2, ref: 'GCC-100', id: ids[0], action: 'unchanged', fields: [] },
      { line: 3, ref: 'GCC-101', id: ids[1], action: 'unchanged', fields: [] },
    ]);
    expect(again.body.devices).toEqual([
      { line: 2, serial: 'IDM-0001', action: 'unchanged', fields: [] },
      { line: 3, serial: 'IDM-0002', action: 'unchanged', fields: [] },
    ]);

    const corrected = await call('POST', '/api/import', {
      residents: residentsCsv('2a Mill Lane', '01452 333333'),
      devices: devicesCsv('hall'),
    });
    expect(corrected.status).toBe(200);
    expect(corrected.body.residents).toEqual([
      { line: 2, ref: 'GCC-100', id: ids[0], action: 'unchanged', fields: [] },
      { line: 3, ref: 'GCC-101', id: ids[1], action: 'updated', fields: ['address', 'phone'] },
    ]);
    expect(corrected.body.devices).toEqual([
      { line: 2, serial: 'IDM-0001', action: 'unchanged', fields: [] },
      { line: 3, serial: 'IDM-0002', action: 'updated', fields: ['location'] },
    ]);
    expect((await call('GET', `/api/residents/${ids[1]}`)).body).toMatchObject({
      externalRef: 'GCC-101',
      address: '2a Mill Lane',
      phone: '01452 333333',
    });
    expect(await waitFor(async () => (await mapEntry('IDM-0002'))?.location === 'hall')).toBe(true);
    const named = await call('GET', '/api/residents?name=again');
    expect((named.body.residents as Array<{ id: string }>).map((r) => r.id).sort()).toEqual([...ids].sort());

    // A device paired with someone else is not moved by a file; a kind does not change.
    const moved = await call('POST', '/api/import', {
      devices: ['serial,kind,resident', 'IDM-0001,pendant,GCC-101', 'IDM-0002,pendant,GCC-101'].join('\n'),
    });
    expect(moved.status).toBe(422);
    expect(moved.body.errors).toEqual([
      {
        file: 'devices',
        line: 2,
        field: 'resident',
        message: `serial IDM-0001 is paired with ${ids[0]}: unpair it first (telecare device update IDM-0001 --unpair)`,
      },
      {
        file: 'devices',
        line: 3,
        field: 'kind',
        message: 'serial IDM-0002 is registered as a smoke-detector; a kind cannot change',
      },
    ]);
  });

  it('a resident registered before without a ref is not added again by an import: the row says how to link it', async () => {
    const legacy = await call('POST', '/api/residents', {
      name: 'Lena Legacy',
      address: '9 Old Road',
      postcode: 'GL2 9AA',
    });
    const id = legacy.body.id as string;
    const csv = ['ref,name,address,postcode', 'LEG-1,lena legacy,9 Old Road,gl29aa'].join('\n');
    const refused = await call('POST', '/api/import', { residents: csv, importValid: true });
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([
      {
        file: 'residents',
        line: 2,
        field: 'ref',
        message: `Lena Legacy at GL2 9AA is already registered as ${id}, without a ref: give it this ref (telecare resident update ${id} --ref LEG-1) and import again`,
      },
    ]);
    expect((await call('PATCH', `/api/residents/${id}`, { externalRef: 'LEG-1' })).status).toBe(200);
    const linked = await call('POST', '/api/import', {
      residents: ['ref,name,address,postcode', 'LEG-1,Lena Legacy,9 Old Road,GL2 9AA'].join('\n'),
    });
    expect(linked.body.residents).toEqual([{ line: 2, ref: 'LEG-1', id, action: 'unchanged', fields: [] }]);
  });

  it('finds residents by name, postcode, serial or reference, a page at a time with the total', async () => {
    const created: string[] = [];
    for (const [name, postcode] of [
      ['Flo Finder', 'GL7 1AA'],
      ['Fred Finder', 'GL7 2BB'],
      ['Fay Finder', 'GL8 3DD'],
    ] as const) {
      const res = await call('POST', '/api/residents', {
        name,
        address: '1 Find Street',
        postcode,
        externalRef: `FIND-${name.split(' ')[0]}`,
      });
      expect(res.status).toBe(201);
      created.push(res.body.id as string);
    }
    await call('POST', '/api/devices', { serial: 'FND-0001', kind: 'pendant', residentId: created[1] });
    const names = (body: Record<string, unknown>) =>
      (body.residents as Array<{ name: string }>).map((r) => r.name);

    expect(names((await call('GET', '/api/residents?name=FINDER')).body)).toEqual([
      'Fay Finder',
      'Flo Finder',
      'Fred Finder',
    ]);
    expect(names((await call('GET', '/api/residents?postcode=gl7')).body)).toEqual([
      'Flo Finder',
      'Fred Finder',
    ]);
    expect(names((await call('GET', '/api/residents?postcode=gl72bb')).body)).toEqual(['Fred Finder']);
    const bySerial = await call('GET', '/api/residents?serial=fnd-0001');
    expect(bySerial.body.residents).toEqual([
      expect.objectContaining({ name: 'Fred Finder', serials: ['FND-0001'], externalRef: 'FIND-Fred' }),
    ]);
    expect(names((await call('GET', '/api/residents?q=FIND-Fay')).body)).toEqual(['Fay Finder']);
    expect(names((await call('GET', '/api/residents?q=fnd-0001')).body)).toEqual(['Fred Finder']);
    const page = await call('GET', '/api/residents?name=finder&limit=2&offset=2');
    expect(page.body).toMatchObject({ total: 3, limit: 2, offset: 2 });
    expect(names(page.body)).toEqual(['Fred Finder']);

    const duplicate = await call('POST', '/api/residents', {
      name: 'Other',
      address: '2 Find Street',
      postcode: 'GL7 1AA',
      externalRef: 'FIND-Flo',
    });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.issues).toEqual([
      { path: 'externalRef', message: `already used by ${created[0]}` },
    ]);
  });

  it('names the row and the column of every CSV error, a malformed row included', async () => {
    const res = await call('POST', '/api/import', {
      residents: [
        'ref,name,address,postcode',
        'C1,Cat Cell,1 Road,GL1 2AB,extra',
        ',No Ref,2 Road,GL1 2AB',
        'C3,Cy Cell,"3 Road,GL1 2AB',
      ].join('\n'),
    });
    expect(res.status).toBe(422);
    const errors = res.body.errors as Array<{ line: number; field: string; message: string }>;
    expect(errors[0]).toEqual({
      file: 'residents',
      line: 2,
      field: 'column 5',
      message: 'has 5 cells, but the header names 4 columns',
    });
    expect(errors[1]).toEqual({ file: 'residents', line: 3, field: 'ref', message: 'required' });
    expect(errors[2]).toMatchObject({ line: 4, field: 'address' });
    expect(errors[2]!.message).toMatch(/quote/i);
  });

  it('refuses a CSV with a missing column, naming it, and writes nothing', async () => {
    const res = await call('POST', '/api/import', {
      residents: 'ref,name,address\nB1,Bea,4 Road',
      importValid: true,
    });
    expect(res.status).toBe(422);
    expect(res.body.errors).toEqual([
      { file: 'residents', line: 1, field: 'postcode', message: 'column postcode is missing' },
    ]);
  });

  it('a registry restart ends an expired test call on time (deadline kept in PostgreSQL)', async () => {
    await call('POST', '/api/devices', { serial: 'PND-RESTART', residentId, kind: 'pendant' });
    await call('POST', '/api/devices/PND-RESTART/test', { timeoutS: 2 });
    await registry.close();
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    registry = await startRegistry(config, { logger });
    const failed = await waitFor(async () => {
      const test = await call('GET', '/api/devices/PND-RESTART/test');
      return test.body.status === 'failed' ? test.body : undefined;
    });
    expect(failed.reason).toBe('no event from PND-RESTART within 2 s');
    expect(await waitFor(async () => (await mapEntry('PND-RESTART'))?.testMode === false)).toBe(true);
  });
});

describe('registry without a data key', () => {
  it('refuses to store a sensitive field, naming it and the variable, and writes nothing', async () => {
    const ns2 = uniqueNamespace('regnokey');
    const other = await startRegistry(loadRegistryConfig(serviceEnv(ns2, { REGISTRY_PORT: '0' })), {
      logger,
    });
    try {
      const res = await fetch(`${other.url}/api/residents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(resident),
      });
      expect(res.status).toBe(422);
      const body = (await res.json()) as { issues: Array<{ path: string; message: string }> };
      expect(body.issues[0]).toEqual({
        path: 'keySafe',
        message: 'cannot be stored without REGISTRY_DATA_KEY (encryption at rest)',
      });
      const list = await fetch(`${other.url}/api/residents`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(((await list.json()) as { residents: unknown[] }).residents).toEqual([]);
    } finally {
      await other.close();
      await cleanupNamespace(ns2);
    }
  });

  it('a malformed data key stops the configuration with a clear message', () => {
    expect(() => loadRegistryConfig(serviceEnv(ns, { REGISTRY_DATA_KEY: 'too-short' }))).toThrow(
      /REGISTRY_DATA_KEY: must be 32 bytes as 64 hex digits or base64/,
    );
  });
});

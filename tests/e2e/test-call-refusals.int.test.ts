import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type DeviceKind, names } from '@telecare/contracts';
import { Dc09Dialler, DialFailedError } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';
import { mapSays, registryApi } from '../support/registry.ts';

let platform: RunningPlatform;
let nc: NatsConnection;
let residentId: string;
const clients: MqttClient[] = [];
const diallers: Dc09Dialler[] = [];
const run = Date.now().toString(36).toUpperCase();

interface Refusal {
  reason: string;
  detail: string;
  at: string;
}

interface KindMismatch {
  type: string;
  kind: string;
  detail: string;
  at: string;
  eventId: string;
}

interface TestCall {
  status: 'waiting' | 'passed' | 'failed' | 'cancelled';
  progress: string;
  reason: string | null;
  eventType: string | null;
  refused?: Refusal[];
  mismatched?: KindMismatch[];
  warnings?: string[];
}

const api = registryApi(() => platform);

/** The device's test call, once it is as asked. */
const testCallWhen = (serial: string, done: (test: TestCall) => boolean, what: string, timeoutMs: number) =>
  waitFor(
    async () => {
      const test = (await api<TestCall>('GET', `/api/devices/${serial}/test`)).body;
      return done(test) ? test : undefined;
    },
    { what, timeoutMs, intervalMs: 50 },
  );

/** A device as some real hubs are: its own MQTT client, writing what it likes, not the simulator's valid payloads. */
async function rawDevice(serial: string): Promise<{ send(payload: unknown): Promise<string> }> {
  const n = names(platform.namespace);
  const client = await mqtt.connectAsync(servers.mqttUrl, { clientId: serial, protocolVersion: 5 });
  clients.push(client);
  const acks: string[] = [];
  client.on('message', (_topic, payload) => acks.push(payload.toString()));
  await client.subscribeAsync(n.mqtt.ack(serial), { qos: 1 });
  return {
    async send(payload) {
      const seen = acks.length;
      await client.publishAsync(n.mqtt.events(serial), JSON.stringify(payload), { qos: 1 });
      return waitFor(() => acks[seen], { what: `the ack for ${serial}`, timeoutMs: 10_000, intervalMs: 20 });
    },
  };
}

/** A device of the resident (a pendant unless said), registered, with its own MQTT client, in a test call of `timeoutS`. */
async function pendantInTest(
  serial: string,
  timeoutS: number,
  kind: DeviceKind = 'pendant',
): Promise<{ send(payload: unknown): Promise<string> }> {
  await platform.registryClient.createDevice({
    serial,
    residentId,
    kind,
    supervisionIntervalS: 3600,
  });
  const device = await rawDevice(serial);
  expect((await api('POST', `/api/devices/${serial}/test`, { timeoutS })).status).toBe(201);
  await mapSays(platform, serial, true);
  return device;
}

/** A DC-09 device of the resident (a panel unless said) under `account`, registered, in a test call, its account in test mode in the DC-09 gateway. */
async function panelInTest(
  serial: string,
  account: string,
  key: string | null,
  kind: DeviceKind = 'home-unit',
): Promise<void> {
  const created = await api('POST', '/api/devices', {
    serial,
    residentId,
    kind,
    protocol: 'dc09',
    dc09Account: account,
    ...(key === null ? {} : { dc09Key: key }),
    supervisionIntervalS: 3600,
  });
  expect(created.status).toBe(201);
  expect((await api('POST', `/api/devices/${serial}/test`, { timeoutS: 30 })).status).toBe(201);
  await mapSays(platform, serial, true, account);
}

const localTime = () => new Date().toISOString().slice(0, 19); // 2026-12-04T20:08:09: no offset

beforeAll(async () => {
  platform = await startPlatform('e2erefuse', {
    // DC-09 keys are stored encrypted at rest.
    REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
    // The registry takes an account without a key; the gateway refuses it as an unknown account.
    REGISTRY_DC09_KEYLESS: 'allow',
    DC09_KEYLESS: 'refuse',
  });
  nc = await connect({ servers: servers.natsUrl });
  const resident = await platform.registryClient.createResident({
    name: 'Refusal Resident',
    address: '3 Test Street, Gloucester',
    postcode: 'GL1 2AB',
    phone: '01452 000000',
    livesAlone: true,
  });
  residentId = resident.id;
});

afterAll(async () => {
  for (const client of clients) await client.endAsync();
  for (const dialler of diallers) await dialler.close();
  await nc?.close();
  await platform?.stop();
});

describe('a test call says why the device’s messages were refused', () => {
  it('a heartbeat with a time without offset is shown as refused, and the test fails saying so', async () => {
    const serial = `E2E-REF-${run}`;
    const device = await pendantInTest(serial, 4);
    const ack = await device.send({ id: 'hb-000001', type: 'heartbeat', at: localTime() });
    expect(JSON.parse(ack)).toMatchObject({
      id: 'hb-000001',
      rejected: expect.stringMatching(/^schema: at: /),
    });

    const refused = await testCallWhen(
      serial,
      (test) => (test.refused ?? []).length > 0,
      'the refusal in the test call',
      4_000,
    );
    expect(refused.status).toBe('waiting');
    expect(refused.refused).toEqual([
      {
        reason: 'schema',
        detail: expect.stringMatching(/^at: /),
        at: expect.any(String),
        deadLetterId: expect.stringMatching(/^dlq_/),
      },
    ]);
    const detail = refused.refused?.[0]?.detail ?? '';
    expect(refused.progress).toBe(`messages arrive but are refused: schema: ${detail}`);
    // The gateway's words only: nothing of the payload itself.
    expect(JSON.stringify(refused)).not.toContain('hb-000001');

    const failed = await testCallWhen(
      serial,
      (test) => test.status !== 'waiting',
      'the test call to end',
      10_000,
    );
    expect(failed.status).toBe('failed');
    expect(failed.reason).toBe(
      `messages arrive but are refused: schema: ${detail}; no pendant.pressed from ${serial} within 4 s`,
    );

    // The installer chasing a silent device sees it in its health too.
    const health = (
      await api<{ refusedLast24h: number; lastRefusal: Refusal | null }>(
        'GET',
        `/api/devices/${serial}/health`,
      )
    ).body;
    expect(health.refusedLast24h).toBe(1);
    expect(health.lastRefusal).toMatchObject({ reason: 'schema', detail });
  });

  it('a press with a time without offset passes, with a warning that the device must be put right', async () => {
    const serial = `E2E-REP-${run}`;
    const device = await pendantInTest(serial, 20);
    const ack = await device.send({ id: 'press-0001', type: 'pendant.pressed', at: localTime() });
    expect(JSON.parse(ack)).toEqual({ id: 'press-0001', stored: true });

    const passed = await testCallWhen(
      serial,
      (test) => test.status !== 'waiting' && (test.warnings ?? []).length > 0,
      'the test call to pass with its warning',
      10_000,
    );
    expect(passed).toMatchObject({
      status: 'passed',
      eventType: 'pendant.pressed',
      progress: 'trigger arrived',
    });
    expect(passed.refused).toEqual([
      expect.objectContaining({
        reason: 'schema',
        detail: expect.stringMatching(/^stored as pendant\.pressed, dated on receipt: at: /),
      }),
    ]);
    expect(passed.warnings).toEqual([
      expect.stringMatching(
        /^pendant\.pressed breaks the device contract \(at: .+\): stored only because an alarm is never refused for its form, dated on receipt; put the device's messages right$/,
      ),
    ]);
  });
});

describe('a test call says when an alarm arrives that the device’s registered kind does not report', () => {
  it('a pull-cord that presses like a pendant: the press is stored, the call names the kind mismatch and fails saying so, and health shows it', async () => {
    const serial = `E2E-KIND-${run}`;
    const device = await pendantInTest(serial, 4, 'pullcord');
    const ack = await device.send({
      id: 'press-kind-01',
      type: 'pendant.pressed',
      at: new Date().toISOString(),
    });
    // Stored all the same: a device registered as the wrong kind must never lose a press.
    expect(JSON.parse(ack)).toEqual({ id: 'press-kind-01', stored: true });

    const detail =
      "a pullcord does not report pendant.pressed: the alarm was stored all the same; check the device's registered kind";
    const mismatched = await testCallWhen(
      serial,
      (test) => (test.mismatched ?? []).length > 0,
      'the kind mismatch in the test call',
      3_000,
    );
    expect(mismatched.status).toBe('waiting');
    expect(mismatched.mismatched).toEqual([
      {
        type: 'pendant.pressed',
        kind: 'pullcord',
        detail,
        at: expect.any(String),
        eventId: expect.stringMatching(/^evt_/),
      },
    ]);
    expect(mismatched.progress).toBe(`kind mismatch: ${detail}`);

    const failed = await testCallWhen(
      serial,
      (test) => test.status !== 'waiting',
      'the test call to end',
      10_000,
    );
    expect(failed.status).toBe('failed');
    expect(failed.reason).toBe(`kind mismatch: ${detail}; no pullcord.pulled from ${serial} within 4 s`);

    const health = (
      await api<{ lastKindMismatch: KindMismatch | null }>('GET', `/api/devices/${serial}/health`)
    ).body;
    expect(health.lastKindMismatch).toMatchObject({ type: 'pendant.pressed', kind: 'pullcord', detail });
  });

  it('a DC-09 device registered as a smoke detector sending a press: the same kind mismatch in its test call', async () => {
    const serial = `E2E-DC09-KIND-${run}`;
    // A key of its own: the other panel here has one too (one key to one panel).
    const key = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
    await panelInTest(serial, 'D09C', key, 'smoke-detector');
    const dialler = new Dc09Dialler({
      host: platform.dc09.host,
      port: platform.dc09.tcpPort,
      transport: 'tcp',
      account: 'D09C',
      key: { value: key, encoding: 'hex' as const },
    });
    await dialler.connect();
    diallers.push(dialler);
    expect((await dialler.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }])).reply).toBe(
      'ACK',
    );
    const mismatched = await testCallWhen(
      serial,
      (test) => (test.mismatched ?? []).length > 0,
      'the kind mismatch in the DC-09 test call',
      5_000,
    );
    expect(mismatched.status).toBe('waiting');
    expect(mismatched.progress).toBe(
      "kind mismatch: a smoke-detector does not report pendant.pressed: the alarm was stored all the same; check the device's registered kind",
    );
  });
});

describe('a DC-09 test call says why the panel’s frames were refused', () => {
  const KEY = '00112233445566778899aabbccddeeff';

  /** One pendant press from `account`, sent once: the gateway refuses it. */
  async function refusedPress(account: string, key?: string): Promise<void> {
    const dialler = new Dc09Dialler({
      host: platform.dc09.host,
      port: platform.dc09.tcpPort,
      transport: 'tcp',
      account,
      maxAttempts: 1,
      ...(key ? { key: { value: key, encoding: 'hex' as const } } : {}),
    });
    await dialler.connect();
    diallers.push(dialler);
    await expect(dialler.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }])).rejects.toThrow(
      DialFailedError,
    );
  }

  it('a panel whose frames carry the wrong key shows the refusal, not "no event"', async () => {
    const serial = `E2E-DC09-KEY-${run}`;
    await panelInTest(serial, 'D09A', KEY);
    await refusedPress('D09A', 'ffeeddccbbaa99887766554433221100');
    const refused = await testCallWhen(
      serial,
      (test) => (test.refused ?? []).length > 0,
      'the refusal in the DC-09 test call',
      5_000,
    );
    expect(refused.status).toBe('waiting');
    expect(refused.refused).toEqual([
      {
        reason: 'bad-frame',
        detail: expect.stringMatching(/^cannot decrypt/),
        at: expect.any(String),
        deadLetterId: expect.stringMatching(/^dlq_/),
      },
    ]);
    expect(refused.progress).toMatch(/^messages arrive but are refused: bad-frame: cannot decrypt/);
  });

  it('a panel refused as an unknown account (its account has no key) shows the refusal, and its health counts it', async () => {
    const serial = `E2E-DC09-NOKEY-${run}`;
    await panelInTest(serial, 'D09B', null);
    await refusedPress('D09B');
    const refused = await testCallWhen(
      serial,
      (test) => (test.refused ?? []).length > 0,
      'the refusal in the DC-09 test call',
      5_000,
    );
    expect(refused.refused).toEqual([
      expect.objectContaining({
        reason: 'unknown-device',
        detail: 'account D09B has no key; keyless accounts are refused',
      }),
    ]);
    const health = (
      await api<{ refusedLast24h: number; lastRefusal: Refusal | null }>(
        'GET',
        `/api/devices/${serial}/health`,
      )
    ).body;
    expect(health.refusedLast24h).toBe(1);
    expect(health.lastRefusal).toMatchObject({ reason: 'unknown-device' });
  });
});

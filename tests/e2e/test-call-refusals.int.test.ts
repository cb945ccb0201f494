import { connect, type NatsConnection } from '@nats-io/transport-node';
import { names } from '@telecare/contracts';
import { servers, waitFor } from '@telecare/testkit';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';
import { mapSays, registryApi } from '../support/registry.ts';

let platform: RunningPlatform;
let nc: NatsConnection;
let residentId: string;
const clients: MqttClient[] = [];
const run = Date.now().toString(36).toUpperCase();

interface Refusal {
  reason: string;
  detail: string;
  at: string;
}

interface TestCall {
  status: 'waiting' | 'passed' | 'failed' | 'cancelled';
  progress: string;
  reason: string | null;
  eventType: string | null;
  refused?: Refusal[];
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

/** A pendant of the resident, registered, with its own MQTT client, in a test call of `timeoutS`. */
async function pendantInTest(
  serial: string,
  timeoutS: number,
): Promise<{ send(payload: unknown): Promise<string> }> {
  await platform.registryClient.createDevice({
    serial,
    residentId,
    kind: 'pendant',
    supervisionIntervalS: 3600,
  });
  const device = await rawDevice(serial);
  expect((await api('POST', `/api/devices/${serial}/test`, { timeoutS })).status).toBe(201);
  await mapSays(nc, platform.namespace, serial, true);
  return device;
}

const localTime = () => new Date().toISOString().slice(0, 19); // 2026-12-04T20:08:09: no offset

beforeAll(async () => {
  platform = await startPlatform('e2erefuse');
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

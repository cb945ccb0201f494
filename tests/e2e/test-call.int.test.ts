import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type Alert, type Case, names } from '@telecare/contracts';
import { Dc09Dialler, SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersDrained } from '../support/consumers.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';
import { mapSays as mapSaysIn, registryApi } from '../support/registry.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSX = `${ROOT}node_modules/.bin/tsx`;
const CLI = `${ROOT}packages/cli/src/main.ts`;

let platform: RunningPlatform;
let nc: NatsConnection;
const devices: SimulatedDevice[] = [];
const diallers: Dc09Dialler[] = [];
const run = Date.now().toString(36).toUpperCase();
/**
 * How long a wait may take before the test calls it stuck: every wait is for a condition, so a
 * quiet machine never spends it, while on a very busy one starting the CLI's process alone (tsx and
 * the CLI's modules) took over 30 s.
 */
const PATIENCE_MS = 60_000;

interface TestCall {
  id: string;
  status: 'waiting' | 'passed' | 'failed' | 'cancelled';
  reason: string | null;
  progress: string;
  arrived: Array<{ type: string; trigger: boolean }>;
  eventType: string | null;
  latencyMs: number | null;
  batteryPercent: number | null;
  signalDbm: number | null;
}

const api = registryApi(() => platform);

async function resident(): Promise<string> {
  const created = await platform.registryClient.createResident({
    name: 'Test Resident',
    address: '1 Test Street, Gloucester',
    postcode: 'GL1 2AB',
    phone: '01452 000000',
    livesAlone: true,
  });
  return created.id;
}

/** A pendant registered to the resident, and the device itself (not yet connected). */
async function pendant(residentId: string, serial: string): Promise<SimulatedDevice> {
  await platform.registryClient.createDevice({
    serial,
    residentId,
    kind: 'pendant',
    supervisionIntervalS: 3600,
  });
  const device = new SimulatedDevice({
    serial,
    mqttUrl: servers.mqttUrl,
    namespace: platform.namespace,
    resendMs: 2_000,
  });
  devices.push(device);
  return device;
}

const mapSays = (serial: string, testMode: boolean, dc09Account?: string) =>
  mapSaysIn(platform, serial, testMode, dc09Account);

/** The real `telecare` binary (as `pnpm telecare` runs it), in the background. */
function telecare(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, [CLI, ...args], {
      env: {
        PATH: process.env.PATH,
        TELECARE_REGISTRY_URL: platform.registry.url,
        TELECARE_TOKEN: platform.token,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const casesOf = async (state: 'open' | 'all', residentId: string) =>
  (await platform.helplineGet<Case[]>(`/api/cases?state=${state}`)).filter(
    (c) => c.residentId === residentId,
  );

/**
 * The alert triage raised for this resident, flagged as a test, once the helpline has taken
 * (committed and acked) every alert: from then on its queue is final.
 */
async function testAlertHandled(residentId: string): Promise<Alert> {
  const n = names(platform.namespace);
  const jsm = await jetstreamManager(nc);
  const alert = await waitFor(
    async () => {
      const last = await jsm.streams
        .getMessage(n.streams.alerts, { last_by_subj: n.subjects.alert(1, residentId) })
        .catch(() => null);
      return last ? last.json<Alert>() : undefined;
    },
    { what: 'the test alert', timeoutMs: PATIENCE_MS, intervalMs: 20 },
  );
  await consumersDrained(nc, [n.streams.alerts], 'the helpline to take every alert', {
    timeoutMs: PATIENCE_MS,
  });
  return alert;
}

beforeAll(async () => {
  platform = await startPlatform('e2etest');
  nc = await connect({ servers: servers.natsUrl });
});

afterAll(async () => {
  for (const d of devices) await d.close();
  for (const d of diallers) await d.close();
  await nc?.close();
  await platform?.stop();
});

describe('an installer test call, through the real broker, gateways and helpline', () => {
  it(
    'a pendant pressed during `telecare test` passes with its latency, battery and signal, and never reaches the queue',
    async () => {
      const residentId = await resident();
      const serial = `E2E-TST-${run}`;
      const device = await pendant(residentId, serial);
      await device.connect();

      // The CLI waits for the press as long as the test waits for anything; a pass ends it at once.
      let exited = false;
      const cli = telecare(['test', serial, '--timeout', String(PATIENCE_MS / 1000)]).finally(() => {
        exited = true;
      });
      // The installer presses once the CLI has put the device in test mode.
      await waitFor(
        async () =>
          exited || (await api<TestCall>('GET', `/api/devices/${serial}/test`)).body.status === 'waiting',
        { what: 'the test call to start', timeoutMs: PATIENCE_MS, intervalMs: 50 },
      );
      if (exited) expect.fail(`the CLI ended before the press: ${JSON.stringify(await cli)}`);
      await mapSays(serial, true);
      const pressedAt = Date.now();
      const pressed = await device.send('pendant.pressed', { batteryPercent: 87, signalDbm: -71 });
      const done = await cli;
      const waited = Date.now() - pressedAt;
      console.log(
        `test call: press-to-ack ${pressed.latencyMs.toFixed(1)} ms; CLI said: ${done.stdout.trim()}`,
      );

      expect(done.code).toBe(0);
      expect(done.stdout).toMatch(
        new RegExp(`PASS ${serial}: pendant\\.pressed arrived end to end in \\d+ ms`),
      );
      expect(done.stdout).toContain('battery 87%, signal -71 dBm');
      const test = (await api<TestCall>('GET', `/api/devices/${serial}/test`)).body;
      expect(test).toMatchObject({ status: 'passed', eventType: 'pendant.pressed', batteryPercent: 87 });
      // From the press to the registry's verdict: within what the test itself waited for the CLI.
      expect(test.latencyMs).toBeGreaterThanOrEqual(0);
      expect(test.latencyMs).toBeLessThanOrEqual(waited);

      // Test mode ended with the pass: the device is back in service, and so is its map entry.
      expect(
        (await api<{ state: string; testMode: boolean }>('GET', `/api/devices/${serial}`)).body,
      ).toMatchObject({ state: 'installed', testMode: false });
      await mapSays(serial, false);

      // Triage raised the alert flagged as a test; the helpline took it and kept it out of the queue.
      const alert = await testAlertHandled(residentId);
      expect(alert).toMatchObject({ type: 'pendant.pressed', testMode: true });
      expect(await casesOf('open', residentId)).toEqual([]);

      // Out of test mode, the same pendant reaches the operators again.
      await device.send('pendant.pressed');
      const open = await waitFor(
        async () => {
          const list = await casesOf('open', residentId);
          return list.length > 0 ? list : undefined;
        },
        { what: 'a real case after the test', timeoutMs: PATIENCE_MS, intervalMs: 20 },
      );
      expect(open[0]).toMatchObject({ priority: 1, state: 'queued' });
    },
    5 * PATIENCE_MS,
  );

  it('a pendant connecting in test mode is "connected, no trigger yet"; only the press passes', async () => {
    const residentId = await resident();
    const serial = `E2E-CON-${run}`;
    const device = await pendant(residentId, serial);
    expect((await api('POST', `/api/devices/${serial}/test`, { timeoutS: 30 })).status).toBe(201);
    await mapSays(serial, true);
    // Connecting publishes the retained `online` status: the gateway turns it into device.online.
    await device.connect();
    const connected = await waitFor(
      async () => {
        const test = (await api<TestCall>('GET', `/api/devices/${serial}/test`)).body;
        return (test.arrived ?? []).length > 0 || test.status !== 'waiting' ? test : undefined;
      },
      { what: 'device.online to reach the test call', timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(connected).toMatchObject({
      status: 'waiting',
      progress: 'connected, no trigger yet',
      arrived: [expect.objectContaining({ type: 'device.online', trigger: false })],
    });
    await device.send('pendant.pressed', { batteryPercent: 90 });
    const passed = await waitFor(
      async () => {
        const test = (await api<TestCall>('GET', `/api/devices/${serial}/test`)).body;
        return test.status === 'waiting' ? undefined : test;
      },
      { what: 'the press to pass the test', timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(passed).toMatchObject({ status: 'passed', eventType: 'pendant.pressed' });
  });

  it('a DC-09 poll is "connected, no trigger yet"; the alarm button then passes', async () => {
    const residentId = await resident();
    const serial = `E2E-POLL-${run}`;
    const account = `8${run.slice(-5).replace(/[^0-9A-F]/g, '0')}`;
    const created = await api('POST', '/api/devices', {
      serial,
      residentId,
      kind: 'home-unit',
      protocol: 'dc09',
      dc09Account: account,
      supervisionIntervalS: 3600,
    });
    expect(created.status).toBe(201);
    expect((await api('POST', `/api/devices/${serial}/test`, { timeoutS: 30 })).status).toBe(201);
    await mapSays(serial, true, account);
    const d = new Dc09Dialler({
      host: platform.dc09.host,
      port: platform.dc09.tcpPort,
      transport: 'tcp',
      account,
    });
    diallers.push(d);
    await d.connect();
    expect((await d.poll()).reply).toBe('ACK');
    const polled = await waitFor(
      async () => {
        const test = (await api<TestCall>('GET', `/api/devices/${serial}/test`)).body;
        return (test.arrived ?? []).length > 0 || test.status !== 'waiting' ? test : undefined;
      },
      { what: 'the poll to reach the test call', timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(polled).toMatchObject({
      status: 'waiting',
      progress: 'connected, no trigger yet',
      arrived: [expect.objectContaining({ type: 'heartbeat', trigger: false })],
    });
    expect((await d.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }])).reply).toBe('ACK');
    const passed = await waitFor(
      async () => {
        const test = (await api<TestCall>('GET', `/api/devices/${serial}/test`)).body;
        return test.status === 'waiting' ? undefined : test;
      },
      { what: 'the alarm to pass the test', timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(passed).toMatchObject({ status: 'passed', eventType: 'pendant.pressed' });
  });

  it('a silent device fails with a reason naming it, and leaves test mode', async () => {
    const residentId = await resident();
    const serial = `E2E-SIL-${run}`;
    await platform.registryClient.createDevice({
      serial,
      residentId,
      kind: 'pendant',
      supervisionIntervalS: 3600,
    });
    const started = await api<TestCall>('POST', `/api/devices/${serial}/test`, { timeoutS: 1 });
    expect(started.status).toBe(201);
    await mapSays(serial, true);
    const failed = await waitFor(
      async () => {
        const test = (await api<TestCall>('GET', `/api/devices/${serial}/test`)).body;
        return test.status === 'waiting' ? undefined : test;
      },
      { what: 'the test call to end', timeoutMs: 5_000, intervalMs: 50 },
    );
    expect(failed).toMatchObject({ status: 'failed', reason: `no event from ${serial} within 1 s` });
    expect(failed.latencyMs).toBeNull();
    await mapSays(serial, false);
    expect((await api<{ state: string }>('GET', `/api/devices/${serial}`)).body.state).toBe('installed');
  });

  it('a DC-09 disperser registered in the registry passes a test call over ADM-CID, and the queue stays empty', async () => {
    const residentId = await resident();
    const serial = `E2E-TSTDC-${run}`;
    const account = `7${run.slice(-5).replace(/[^0-9A-F]/g, '0')}`;
    const created = await api('POST', '/api/devices', {
      serial,
      residentId,
      kind: 'home-unit',
      protocol: 'dc09',
      dc09Account: account,
      location: 'hall',
      supervisionIntervalS: 3600,
    });
    expect(created.status).toBe(201);
    expect((await api('POST', `/api/devices/${serial}/test`, { timeoutS: 20 })).status).toBe(201);
    await mapSays(serial, true, account);

    const d = new Dc09Dialler({
      host: platform.dc09.host,
      port: platform.dc09.tcpPort,
      transport: 'tcp',
      account,
    });
    diallers.push(d);
    await d.connect();
    // Contact ID 1101: a personal emergency (pendant) on zone 1.
    expect((await d.sendCid([{ kind: 'cid', qualifier: 1, code: '101', zone: '001' }])).reply).toBe('ACK');
    const passed = await waitFor(
      async () => {
        const test = (await api<TestCall>('GET', `/api/devices/${serial}/test`)).body;
        return test.status === 'waiting' ? undefined : test;
      },
      { what: 'the DC-09 test call to end', timeoutMs: 10_000, intervalMs: 20 },
    );
    console.log(`DC-09 test call: ${passed.status} in ${passed.latencyMs} ms`);
    expect(passed).toMatchObject({ status: 'passed', eventType: 'pendant.pressed' });
    expect(await testAlertHandled(residentId)).toMatchObject({ type: 'pendant.pressed', testMode: true });
    expect(await casesOf('open', residentId)).toEqual([]);
  });
});

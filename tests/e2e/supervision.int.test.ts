import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Alert, type Case, names } from '@telecare/contracts';
import { openDc09Accounts } from '@telecare/gateway-dc09';
import { ManualClock } from '@telecare/platform';
import { Dc09Dialler, SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersDrained } from '../support/consumers.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/**
 * Supervision end to end, on a manual clock: a device that keeps reporting within its interval
 * raises nothing; one that goes quiet raises `supervision.lost` once, and its next report raises
 * `supervision.restored`, which closes that alert.
 */

const INTERVAL_S = 600;
/** The rules check `reorderGraceS` (30 s) after the interval ends. */
const PAST_DUE_MS = (INTERVAL_S + 31) * 1000;
const run = Date.now().toString(36).toUpperCase();

const clock = new ManualClock(Date.UTC(2026, 2, 3, 10, 0, 0));
let platform: RunningPlatform;
let nc: NatsConnection;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  platform = await startPlatform('e2esuper', {}, { clock });
  nc = await connect({ servers: servers.natsUrl });
});

afterAll(async () => {
  for (const close of closers) await close();
  await nc?.close();
  await platform?.stop();
});

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

async function registerDevice(body: Record<string, unknown>): Promise<void> {
  const response = await fetch(new URL('/api/devices', platform.registry.url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${platform.token}` },
    body: JSON.stringify(body),
  });
  expect(response.status, await response.clone().text()).toBe(201);
}

/** Every alert in ALERTS for the resident. */
async function alertsOf(residentId: string): Promise<Alert[]> {
  const n = names(platform.namespace);
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(n.streams.alerts);
  const out: Alert[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(n.streams.alerts, { seq });
    const alert = msg ? Alert.parse(msg.json()) : undefined;
    if (alert?.residentId === residentId) out.push(alert);
  }
  return out;
}

const ofType = (alerts: Alert[], type: string) => alerts.filter((a) => a.type === type);

/**
 * Every triage consumer has taken everything published so far. The test waits for this before
 * it moves the clock: in real time a report reaches triage well within the rules' reorder grace
 * (30 s), whereas a manual clock jumps minutes at once and would fire a check before triage has
 * read the report that answers it.
 */
async function consumed(): Promise<void> {
  await consumersDrained(nc, [names(platform.namespace).streams.events], 'triage to take every event');
}

/** Consumed, and the timer loops had a turn (they look for due timers between pulls). */
async function settled(): Promise<void> {
  await consumed();
  await new Promise((resolve) => setTimeout(resolve, 1_500));
}

/** The lost alert, once; the next report restores it and closes it. */
async function expectLostThenRestored(residentId: string, reportAgain: () => Promise<unknown>) {
  await consumed();
  clock.advance(PAST_DUE_MS);
  const lost = await waitFor(async () => ofType(await alertsOf(residentId), 'supervision.lost')[0], {
    what: 'supervision.lost',
    timeoutMs: 10_000,
    intervalMs: 50,
  });
  expect(lost).toMatchObject({ priority: 3, rule: { id: 'absence.supervision' } });
  expect(lost.thresholds).toMatchObject({ intervalS: INTERVAL_S });

  // Still silent, much later: the loss is raised once while the device stays quiet.
  clock.advance(3 * PAST_DUE_MS);
  await settled();
  expect(ofType(await alertsOf(residentId), 'supervision.lost')).toHaveLength(1);

  await reportAgain();
  const restored = await waitFor(async () => ofType(await alertsOf(residentId), 'supervision.restored')[0], {
    what: 'supervision.restored',
    timeoutMs: 10_000,
    intervalMs: 50,
  });
  expect(restored).toMatchObject({ priority: 5, closes: { alertId: lost.id, outcome: 'restored' } });
  const cases = await platform.helplineGet<Case[]>('/api/cases?state=all');
  expect(cases.filter((c) => c.residentId === residentId && c.type === 'supervision.lost')).toHaveLength(1);
  await settled();
  const all = await alertsOf(residentId);
  expect(ofType(all, 'supervision.lost')).toHaveLength(1);
  expect(ofType(all, 'supervision.restored')).toHaveLength(1);
}

describe('supervision, end to end on a manual clock', () => {
  it('a DC-09 account polling within its interval raises nothing; silent, it is lost once; the next poll restores it', async () => {
    const residentId = await resident();
    const account = `5A${run.slice(-6)}`.replace(/[^0-9A-F]/g, 'A');
    await registerDevice({
      serial: `E2E-SUP-${run}`,
      kind: 'home-unit',
      residentId,
      protocol: 'dc09',
      location: 'hall',
      supervisionIntervalS: INTERVAL_S,
      dc09Account: account,
    });
    const kv = await openDc09Accounts(nc, names(platform.namespace));
    await waitFor(async () => (await kv.get(account))?.operation === 'PUT', {
      what: 'the registry to publish the account',
      timeoutMs: 5_000,
    });
    const dialler = new Dc09Dialler({
      host: platform.dc09.host,
      port: platform.dc09.tcpPort,
      transport: 'tcp',
      account,
      now: () => clock.now(),
    });
    await dialler.connect();
    closers.push(() => dialler.close());

    // Polls every half interval for three intervals: every check finds a later poll.
    expect((await dialler.poll()).reply).toBe('ACK');
    for (let i = 0; i < 6; i++) {
      await consumed();
      clock.advance((INTERVAL_S / 2) * 1000);
      expect((await dialler.poll()).reply).toBe('ACK');
    }
    await settled();
    expect(ofType(await alertsOf(residentId), 'supervision.lost')).toEqual([]);

    await expectLostThenRestored(residentId, () => dialler.poll());
  });

  it('plain DC-09 polls every 90 s, byte for byte the same, keep supervision green for an hour', async () => {
    const residentId = await resident();
    const account = `5B${run.slice(-6)}`.replace(/[^0-9A-F]/g, 'B');
    const intervalS = 300;
    await registerDevice({
      serial: `E2E-SUP-PLAIN-${run}`,
      kind: 'home-unit',
      residentId,
      protocol: 'dc09',
      location: 'hall',
      supervisionIntervalS: intervalS,
      dc09Account: account,
    });
    const kv = await openDc09Accounts(nc, names(platform.namespace));
    await waitFor(async () => (await kv.get(account))?.operation === 'PUT', {
      what: 'the registry to publish the account',
      timeoutMs: 5_000,
    });
    // Sequence 0000 and no timestamp: every poll is the same bytes, well within JetStream's
    // duplicate window in real time.
    const dialler = new Dc09Dialler({
      host: platform.dc09.host,
      port: platform.dc09.tcpPort,
      transport: 'tcp',
      account,
      plainPolls: true,
      now: () => clock.now(),
    });
    await dialler.connect();
    closers.push(() => dialler.close());

    expect((await dialler.poll()).reply).toBe('ACK');
    for (let polled = 90; polled <= 3600; polled += 90) {
      await consumed();
      clock.advance(90_000);
      expect((await dialler.poll()).reply).toBe('ACK');
    }
    await settled();
    expect(ofType(await alertsOf(residentId), 'supervision.lost')).toEqual([]);
    // And it is the polls that keep it: silent past the interval, it is lost.
    await consumed();
    clock.advance((intervalS + 31) * 1000);
    await waitFor(async () => ofType(await alertsOf(residentId), 'supervision.lost')[0], {
      what: 'supervision.lost once the polls stop',
      timeoutMs: 10_000,
      intervalMs: 50,
    });
  });

  it('an MQTT device sending heartbeats: the same', async () => {
    const residentId = await resident();
    const serial = `E2E-SUP-HB-${run}`;
    await registerDevice({ serial, kind: 'pendant', residentId, supervisionIntervalS: INTERVAL_S });
    const device = new SimulatedDevice({
      serial,
      mqttUrl: servers.mqttUrl,
      namespace: platform.namespace,
      resendMs: 2_000,
    });
    await device.connect();
    closers.push(() => device.close());
    const beat = () => device.send('heartbeat', {}, { at: new Date(clock.now()) });

    await beat();
    for (let i = 0; i < 6; i++) {
      await consumed();
      clock.advance((INTERVAL_S / 2) * 1000);
      await beat();
    }
    await settled();
    expect(ofType(await alertsOf(residentId), 'supervision.lost')).toEqual([]);

    await expectLostThenRestored(residentId, beat);
  });
});

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Alert, type Case, DeadLetter, type DeviceKind, eventIdFor, names } from '@telecare/contracts';
import { ManualClock } from '@telecare/platform';
import { EventRejectedError, SimulatedDevice } from '@telecare/simulators';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersDrained } from '../support/consumers.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';
import { registryApi } from '../support/registry.ts';

/**
 * Attack replay: someone holding one sensor's MQTT login (a door contact's, a movement sensor's)
 * sends the events of other kinds of device: `medication.taken` in a dose's window hides the
 * `medication.missed` it should raise. The gateway refuses what the device's kind does not report;
 * a life-critical alarm from the wrong kind is stored all the same (a registry mistake must never
 * lose an alarm), and counted.
 */

const run = Date.now().toString(36).toUpperCase();
const clock = new ManualClock(Date.UTC(2026, 2, 3, 10, 0, 0));
let platform: RunningPlatform;
let nc: NatsConnection;
let residentId: string;
const devices: SimulatedDevice[] = [];
const api = registryApi(() => platform);

beforeAll(async () => {
  platform = await startPlatform('seckind', {}, { clock });
  nc = await connect({ servers: servers.natsUrl });
  residentId = (
    await platform.registryClient.createResident({
      name: 'Test Resident',
      address: '1 Test Street, Gloucester',
      postcode: 'GL1 2AB',
      phone: '01452 000000',
      livesAlone: true,
    })
  ).id;
});

afterAll(async () => {
  for (const device of devices) await device.close();
  await nc?.close();
  await platform?.stop();
});

async function device(suffix: string, kind: DeviceKind): Promise<SimulatedDevice & { serial: string }> {
  const serial = `SEC-KIND-${run}-${suffix}`;
  await platform.registryClient.createDevice({ serial, residentId, kind, supervisionIntervalS: 3600 });
  const simulated = new SimulatedDevice({
    serial,
    mqttUrl: servers.mqttUrl,
    namespace: platform.namespace,
    resendMs: 1_000,
    maxAttempts: 10,
  });
  await simulated.connect();
  devices.push(simulated);
  return Object.assign(simulated, { serial });
}

/** The ack's refusal, or `stored`. */
async function answer(send: () => Promise<unknown>): Promise<string> {
  try {
    await send();
    return 'stored';
  } catch (err) {
    if (err instanceof EventRejectedError) return err.reason;
    throw err;
  }
}

async function streamed<T>(stream: string, parse: (json: unknown) => T): Promise<T[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const out: T[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (msg) out.push(parse(msg.json()));
  }
  return out;
}

const alerts = () =>
  streamed(names(platform.namespace).streams.alerts, (j) => Alert.parse(j)).then((all) =>
    all.filter((a) => a.residentId === residentId),
  );

/** Every triage consumer has taken everything published so far (before the clock moves). */
async function consumed(): Promise<void> {
  await consumersDrained(nc, [names(platform.namespace).streams.events], 'triage to take every event');
}

async function metrics(): Promise<string> {
  return (await fetch(new URL('/metrics', platform.gatewayMqtt.url))).text();
}

describe('a device reports only what its kind can', () => {
  it('a door contact’s login sending medication.taken in a dose’s window is refused, and the dose is still missed', async () => {
    const dispenser = await device('MEDS', 'medication-dispenser');
    const door = await device('DOOR', 'door-contact');
    const at = () => new Date(clock.now());
    await dispenser.send('medication.due', { doseId: 'dose-1' }, { at: at() });

    const forged = await answer(() => door.send('medication.taken', { doseId: 'dose-1' }, { at: at() }));
    expect(forged).toBe('type-not-for-kind: a door-contact does not report medication.taken');

    const letter = await waitFor(
      async () =>
        (await streamed(names(platform.namespace).streams.deadletter, (j) => DeadLetter.parse(j))).find(
          (l) => l.origin === names(platform.namespace).mqtt.events(door.serial),
        ),
      { what: 'the refusal’s dead letter', timeoutMs: 5_000 },
    );
    expect(letter).toMatchObject({ service: 'gateway-mqtt', reason: 'type-not-for-kind' });
    const events = await streamed(
      names(platform.namespace).streams.events,
      (j) => j as { subject: string; type: string },
    );
    // Its connection (`device.online`) is its own; the dose is not.
    expect(events.filter((e) => e.subject === door.serial).map((e) => e.type)).toEqual(['device.online']);

    // Past the 30 min window and the reorder grace: the dose is missed, as nobody took it.
    await consumed();
    clock.advance(31 * 60_000);
    const missed = await waitFor(async () => (await alerts()).find((a) => a.type === 'medication.missed'), {
      what: 'medication.missed',
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    expect(missed.rule?.id).toBe('absence.medication');

    const m = await metrics();
    expect(m).toMatch(
      /^gateway_mqtt_kind_mismatch_total\{[^}]*type="medication.taken"[^}]*disposition="refused"[^}]*\} 1$/m,
    );
    expect(m).toMatch(/^gateway_mqtt_rejects_total\{[^}]*reason="type-not-for-kind"[^}]*\} 1$/m);

    // The installer sees it on the device: refused, and why, in words.
    const health = await waitFor(
      async () => {
        const { body } = await api<{ lastRefusal: { reason: string; detail: string } | null }>(
          'GET',
          `/api/devices/${door.serial}/health`,
        );
        return body.lastRefusal ?? undefined;
      },
      { what: 'the refusal in the device’s health', timeoutMs: 5_000 },
    );
    expect(health).toMatchObject({
      reason: 'type-not-for-kind',
      detail: 'a door-contact does not report medication.taken',
    });
  });

  it('a movement sensor’s login pressing is stored and opens a case (an alarm is never dropped), counted as a mismatch', async () => {
    const pir = await device('PIR', 'pir');
    const sent = await pir.send('pendant.pressed', {}, { at: new Date(clock.now()) });
    const opened = await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=all')).find(
          (c) => c.residentId === residentId && c.type === 'pendant.pressed',
        ),
      { what: 'the case of the press', timeoutMs: 10_000 },
    );
    expect(opened.priority).toBe(1);
    const events = await streamed(names(platform.namespace).streams.events, (j) => j as { id: string });
    expect(events.map((e) => e.id)).toContain(eventIdFor(pir.serial, sent.id, sent.at, sent.type));
    expect(await metrics()).toMatch(
      /^gateway_mqtt_kind_mismatch_total\{[^}]*type="pendant.pressed"[^}]*disposition="stored"[^}]*\} 1$/m,
    );
  });

  it('a movement sensor’s login cannot cancel, restore or move anything either', async () => {
    const pir = await device('PIR2', 'pir');
    const at = () => new Date(clock.now());
    for (const type of ['alarm.cancelled', 'smoke.restored', 'bed.occupied', 'carer.arrived'] as const)
      expect(await answer(() => pir.send(type, {}, { at: at() }))).toBe(
        `type-not-for-kind: a pir does not report ${type}`,
      );
    // Its own events and what every device reports still go through.
    expect(await answer(() => pir.send('motion', {}, { at: at() }))).toBe('stored');
    expect(await answer(() => pir.send('battery.low', {}, { at: at() }))).toBe('stored');
  });
});

import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  Alert,
  type Case,
  DeadLetter,
  type DeviceKind,
  eventIdFor,
  names,
  SecurityEvent,
} from '@telecare/contracts';
import { type HelplineHandle, loadHelplineConfig, startHelpline } from '@telecare/helpline';
import { createLogger, ManualClock } from '@telecare/platform';
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
/** A second helpline on the same database and streams, as a deployment runs several. */
let second: HelplineHandle;
let nc: NatsConnection;
let residentId: string;
const devices: SimulatedDevice[] = [];
const api = registryApi(() => platform);

beforeAll(async () => {
  platform = await startPlatform('seckind', {}, { clock });
  nc = await connect({ servers: servers.natsUrl });
  second = await startHelpline(loadHelplineConfig({ ...platform.env, REGISTRY_URL: platform.registry.url }), {
    clock,
    logger: createLogger('seckind-second', 'silent'),
  });
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
  await second?.close();
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

  it('a pull-cord pull from a pendant’s login is its own alarm: stored, said so, a security event; it joins no pull-cord group and its cancel closes nothing', async () => {
    const notices: SecurityEvent[] = [];
    const sub = nc.subscribe(names(platform.namespace).subjects.securityEvents, {
      callback: (_err, msg) => {
        notices.push(SecurityEvent.parse(msg.json()));
      },
    });
    await nc.flush();
    const pendant = await device('PEND', 'pendant');
    const cord = await device('CORD', 'pullcord');
    const t0 = clock.now();
    // The pendant's login pulls first; the resident's own pull-cord 20 s later; the pendant cancels.
    const forged = await pendant.send('pullcord.pulled', {}, { at: new Date(t0) });
    const real = await cord.send('pullcord.pulled', {}, { at: new Date(t0 + 20_000) });
    await pendant.send('alarm.cancelled', {}, { at: new Date(t0 + 30_000) });
    const forgedId = eventIdFor(pendant.serial, forged.id, forged.at, forged.type);
    const realId = eventIdFor(cord.serial, real.id, real.at, real.type);

    const stored = await streamed(
      names(platform.namespace).streams.events,
      (j) => j as { id: string; unexpectedkind?: boolean },
    );
    expect(stored.find((e) => e.id === forgedId)?.unexpectedkind).toBe(true);
    expect(stored.find((e) => e.id === realId)).not.toHaveProperty('unexpectedkind');

    await consumed();
    const pulls = await waitFor(
      async () => {
        const all = (await alerts()).filter((a) => a.type === 'pullcord.pulled');
        return all.length >= 2 ? all : undefined;
      },
      { what: 'the alerts of both pulls', timeoutMs: 10_000, intervalMs: 50 },
    );
    // Each its own alert, neither a repeat of the other's group.
    expect(pulls.map((a) => ({ evidence: a.evidence, repeats: a.repeats }))).toEqual([
      { evidence: [forgedId], repeats: undefined },
      { evidence: [realId], repeats: undefined },
    ]);
    expect(pulls[0]?.reason).toContain(
      'sent by a pendant, which does not report pullcord.pulled: check the device',
    );
    expect(pulls[1]?.reason).not.toContain('sent by a');
    // The pendant's cancel closed neither.
    expect((await alerts()).filter((a) => a.closes !== undefined)).toEqual([]);

    const notice = await waitFor(
      async () =>
        notices.find((n) => n.kind === 'device-kind-unexpected' && n.detail.serial === pendant.serial),
      { what: 'the security event', timeoutMs: 5_000 },
    );
    expect(notice).toMatchObject({
      service: 'gateway-mqtt',
      id: null,
      detail: { kind: 'pendant', type: 'pullcord.pulled', eventId: forgedId, residentId },
    });
    sub.unsubscribe();

    // A supervisor sees it once, whichever of the two helplines they ask.
    const listed = async (url: string) => {
      const response = await fetch(new URL('/api/security-events?limit=200', url), {
        headers: { authorization: `Bearer ${platform.token}` },
      });
      expect(response.status).toBe(200);
      const { events } = (await response.json()) as {
        events: { service: string; kind: string; detail: Record<string, unknown> }[];
      };
      return events.filter((e) => e.kind === 'device-kind-unexpected' && e.detail.serial === pendant.serial);
    };
    await waitFor(async () => ((await listed(platform.helpline.url)).length > 0 ? true : undefined), {
      what: 'the security event in the helpline’s list',
      timeoutMs: 5_000,
      intervalMs: 50,
    });
    // Both helplines read the stream; give the other instance time to store it again if it would.
    await consumersDrained(
      nc,
      [names(platform.namespace).streams.security],
      'the helplines to read SECURITY',
    );
    for (const url of [platform.helpline.url, second.url]) {
      const events = await listed(url);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({
        service: 'gateway-mqtt',
        detail: { kind: 'pendant', type: 'pullcord.pulled', eventId: forgedId, residentId },
      });
    }
    expect(await metrics()).toMatch(
      /^gateway_mqtt_kind_mismatch_total\{[^}]*type="pullcord.pulled"[^}]*disposition="stored"[^}]*\} 1$/m,
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

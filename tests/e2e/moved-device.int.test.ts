import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  type Case,
  DeadLetter,
  DeviceMapEntry,
  MOVED_DEVICE_REASON,
  names,
  TelecareEvent,
} from '@telecare/contracts';
import { ManualClock, openDeviceMap } from '@telecare/platform';
import { EventRejectedError, SimulatedDevice } from '@telecare/simulators';
import { servers, streamMessages, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumersDrained } from '../support/consumers.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/**
 * A pendant taken back from one home and paired to another sends, once it reaches the new hub,
 * the backlog it held from the first: those events are the first resident's, at their own times,
 * and an alarm among them reaches the helpline for that resident, saying where it happened.
 */

const run = Date.now().toString(36).toUpperCase();
const clock = new ManualClock(Date.UTC(2026, 2, 3, 8, 0, 0));
let platform: RunningPlatform;
let nc: NatsConnection;
let pendant: SimulatedDevice | undefined;
let stockPendant: SimulatedDevice | undefined;
let firstPendant: SimulatedDevice | undefined;
let directPendant: SimulatedDevice | undefined;

beforeAll(async () => {
  platform = await startPlatform('e2emoved', {}, { clock });
  nc = await connect({ servers: servers.natsUrl });
});

afterAll(async () => {
  await pendant?.close();
  await stockPendant?.close();
  await firstPendant?.close();
  await directPendant?.close();
  await nc?.close();
  await platform?.stop();
});

async function resident(name: string): Promise<string> {
  const created = await platform.registryClient.createResident({
    name,
    address: '1 Test Street, Gloucester',
    postcode: 'GL1 2AB',
    phone: '01452 000000',
    livesAlone: true,
  });
  return created.id;
}

async function registry(
  method: 'POST' | 'PATCH',
  path: string,
  body: Record<string, unknown>,
): Promise<void> {
  const response = await fetch(new URL(path, platform.registry.url), {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${platform.token}` },
    body: JSON.stringify(body),
  });
  expect(response.ok, await response.clone().text()).toBe(true);
}

async function eventsOf(serial: string): Promise<TelecareEvent[]> {
  const stored = await streamMessages(nc, names(platform.namespace).streams.events);
  return stored.map((m) => TelecareEvent.parse(m.json())).filter((event) => event.subject === serial);
}

async function connectedPendant(serial: string): Promise<SimulatedDevice> {
  const device = new SimulatedDevice({
    serial,
    mqttUrl: servers.mqttUrl,
    namespace: platform.namespace,
    resendMs: 3_000,
  });
  await device.connect();
  return device;
}

async function deadLettersOf(serial: string): Promise<DeadLetter[]> {
  const stored = await streamMessages(nc, names(platform.namespace).streams.deadletter);
  return stored
    .map((m) => DeadLetter.parse(m.json()))
    .filter((letter) => letter.origin === names(platform.namespace).mqtt.events(serial));
}

async function mapEntryOf(serial: string): Promise<DeviceMapEntry | undefined> {
  const entry = await (await openDeviceMap(nc, names(platform.namespace))).get(serial);
  return entry?.operation === 'PUT' ? DeviceMapEntry.parse(entry.json()) : undefined;
}

/** A report the gateway refuses as an unpaired device's: the reason it gave. */
async function refusedAsUnpaired(device: SimulatedDevice, at: Date, id: string): Promise<string> {
  const err = await device.send('heartbeat', { batteryPercent: 71 }, { id, at }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `${id} refused`).toBeInstanceOf(EventRejectedError);
  expect((err as EventRejectedError).reason).toMatch(/^unknown-device: /);
  return (err as EventRejectedError).reason;
}

/** The device's map entry once the registry has paired it with `residentId`. */
async function pairedEntryOf(serial: string, residentId: string): Promise<DeviceMapEntry> {
  return waitFor(
    async () => {
      const found = await mapEntryOf(serial);
      return found?.residentId === residentId ? found : undefined;
    },
    { what: `${serial} paired with ${residentId}` },
  );
}

/** Each refused report, by its device id, kept bytes and all as an unpaired device's. */
async function keptAsUnpaired(serial: string, ids: readonly string[]): Promise<void> {
  const letters = await deadLettersOf(serial);
  for (const id of ids) {
    const letter = letters.find((l) => Buffer.from(l.rawBase64, 'base64').toString().includes(id));
    expect(letter, id).toMatchObject({ service: 'gateway-mqtt', reason: 'unknown-device' });
  }
}

async function openCaseOf(residentId: string): Promise<Case> {
  return waitFor(
    async () =>
      (await platform.helplineGet<Case[]>('/api/cases?state=open')).find((c) => c.residentId === residentId),
    { what: `the case of ${residentId}`, timeoutMs: 15_000, intervalMs: 50 },
  );
}

describe('a device moved to another home', () => {
  it("sends its backlog from the first home: the first resident's events at their own times, its alarm on their case", async () => {
    const serial = `E2E-MOV-${run}`;
    const mrsA = await resident('Moved From');
    const mrB = await resident('Moved To');
    await registry('POST', '/api/devices', {
      serial,
      kind: 'pendant',
      residentId: mrsA,
      supervisionIntervalS: 3600,
    });

    // The evening at Mrs A's: the pendant, out of range of her hub, holds a press at 21:00.
    const pressedAtA = new Date(Date.UTC(2026, 2, 3, 21, 0, 0));
    // Next morning the installer takes it back (09:00) and pairs it to Mr B (10:00).
    clock.set(Date.UTC(2026, 2, 4, 9, 0, 0));
    await registry('PATCH', `/api/devices/${serial}`, { residentId: null });
    clock.set(Date.UTC(2026, 2, 4, 10, 0, 0));
    await registry('PATCH', `/api/devices/${serial}`, { residentId: mrB });
    await waitFor(async () => (await mapEntryOf(serial))?.residentId === mrB, {
      what: "the device on Mr B's map",
    });
    clock.set(Date.UTC(2026, 2, 4, 10, 30, 0));

    // In range of Mr B's hub, it sends what it held.
    pendant = await connectedPendant(serial);
    const press = await pendant.send('pendant.pressed', {}, { at: pressedAtA });
    const beat = await pendant.send(
      'heartbeat',
      { batteryPercent: 80 },
      { at: new Date(Date.UTC(2026, 2, 3, 23, 0, 0)) },
    );

    const events = await eventsOf(serial);
    const stored = events.find((e) => e.deviceeventid === press.id);
    expect(stored).toMatchObject({
      residentid: mrsA,
      time: pressedAtA.toISOString(),
      movedat: '2026-03-04T09:00:00.000Z',
      testmode: false,
    });
    expect(stored).not.toHaveProperty('devicetime');
    expect(stored).not.toHaveProperty('postcodedistrict');
    expect(events.find((e) => e.deviceeventid === beat.id)).toMatchObject({
      residentid: mrsA,
      time: '2026-03-03T23:00:00.000Z',
    });

    // The alarm reaches the helpline as Mrs A's, saying it happened at the home the device left.
    const opened = await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=open')).find((c) => c.residentId === mrsA),
      { what: "Mrs A's case", timeoutMs: 15_000, intervalMs: 50 },
    );
    expect(opened.priority).toBe(1);
    expect(opened.because[0]).toMatchObject({ late: true, deviceMovedAt: '2026-03-04T09:00:00.000Z' });
    expect(opened.because[0]?.reason).toContain(MOVED_DEVICE_REASON);
    expect(opened.because[0]?.evidence).toEqual([stored?.id]);

    // And never Mr B's.
    await consumersDrained(nc, [names(platform.namespace).streams.events], 'triage to take every event');
    await new Promise((resolve) => setTimeout(resolve, 500));
    const all = await platform.helplineGet<Case[]>('/api/cases?state=all');
    expect(all.filter((c) => c.residentId === mrB)).toEqual([]);

    // Mr B's own press, now, is his.
    const his = await pendant.send('pendant.pressed', {}, { at: new Date(clock.now()) });
    expect((await eventsOf(serial)).find((e) => e.deviceeventid === his.id)).toMatchObject({
      residentid: mrB,
    });
    expect((await eventsOf(serial)).find((e) => e.deviceeventid === his.id)).not.toHaveProperty('movedat');
    const hisCase = await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=open')).find((c) => c.residentId === mrB),
      { what: "Mr B's case", timeoutMs: 15_000, intervalMs: 50 },
    );
    expect(hisCase.because[0]?.reason).not.toContain(MOVED_DEVICE_REASON);
  });
});

describe('a device that sat in stock between two homes', () => {
  it('sends reports timed in stock or before its previous home: nobody’s, refused and kept as an unpaired device’s; a press so timed is the current home’s, on receipt', async () => {
    const serial = `E2E-STK-${run}`;
    const mrsA = await resident('Stocked From');
    const mrB = await resident('Stocked To');
    // Paired to Mrs A on the 10th at 08:00, taken back to stock on the 11th at 09:00, paired to Mr B
    // on the 13th at 10:00.
    clock.set(Date.UTC(2026, 2, 10, 8, 0, 0));
    await registry('POST', '/api/devices', {
      serial,
      kind: 'pendant',
      residentId: mrsA,
      supervisionIntervalS: 3600,
    });
    const leftA = Date.UTC(2026, 2, 11, 9, 0, 0);
    clock.set(leftA);
    await registry('PATCH', `/api/devices/${serial}`, { residentId: null });
    clock.set(Date.UTC(2026, 2, 13, 10, 0, 0));
    await registry('PATCH', `/api/devices/${serial}`, { residentId: mrB });
    await waitFor(async () => (await mapEntryOf(serial))?.residentId === mrB, {
      what: "the device on Mr B's map",
    });
    clock.set(Date.UTC(2026, 2, 13, 10, 30, 0));

    stockPendant = await connectedPendant(serial);
    const device = stockPendant;
    const refused = (at: Date, id: string) => refusedAsUnpaired(device, at, id);
    // A report held in the stock cupboard on the 12th, exactly as the device left Mrs A, and from
    // before she had it (the device was elsewhere then): nobody's.
    const inStock = await refused(new Date(Date.UTC(2026, 2, 12, 12, 0, 0)), `stk-stock-${run}`);
    expect(inStock).not.toContain(mrsA);
    expect(inStock).not.toContain(mrB);
    await refused(new Date(leftA), `stk-boundary-${run}`);
    await refused(new Date(Date.UTC(2026, 2, 9, 12, 0, 0)), `stk-before-${run}`);

    // A moment before it left her home is still Mrs A's; a moment after Mr B's pairing began is his.
    const hersAt = new Date(leftA - 1000);
    const hers = await device.send('heartbeat', { batteryPercent: 70 }, { at: hersAt });
    const hisAt = new Date(Date.UTC(2026, 2, 13, 10, 15, 0));
    const his = await device.send('heartbeat', { batteryPercent: 70 }, { at: hisAt });

    // A press timed in stock: the pendant's clock may have stood still while its battery was out
    // between homes, and it is at Mr B's now. His, dated on receipt, its own time kept.
    const stoodStill = new Date(Date.UTC(2026, 2, 12, 18, 0, 0));
    const press = await device.send('pendant.pressed', {}, { id: `stk-press-${run}`, at: stoodStill });

    // Its own status (online, on receipt) aside, only those three were stored.
    const events = (await eventsOf(serial)).filter((e) => e.type !== 'device.online');
    expect(events.map((e) => e.deviceeventid).sort()).toEqual([hers.id, his.id, press.id].sort());
    expect(events.find((e) => e.deviceeventid === press.id)).toMatchObject({
      residentid: mrB,
      time: new Date(Date.UTC(2026, 2, 13, 10, 30, 0)).toISOString(),
      devicetime: stoodStill.toISOString(),
    });
    expect(events.find((e) => e.deviceeventid === hers.id)).toMatchObject({
      residentid: mrsA,
      time: hersAt.toISOString(),
      movedat: new Date(leftA).toISOString(),
    });
    expect(events.find((e) => e.deviceeventid === his.id)).toMatchObject({
      residentid: mrB,
      time: hisAt.toISOString(),
    });

    // Each refused press is kept, bytes and all, as an unpaired device's.
    await keptAsUnpaired(serial, [`stk-stock-${run}`, `stk-boundary-${run}`, `stk-before-${run}`]);

    // Mr B's press opens his case; nothing of the cupboard's reaches Mrs A.
    await waitFor(
      async () =>
        (await platform.helplineGet<Case[]>('/api/cases?state=all')).some((c) => c.residentId === mrB),
      { what: "Mr B's case for the press" },
    );
    await consumersDrained(nc, [names(platform.namespace).streams.events], 'triage to take every event');
    const all = await platform.helplineGet<Case[]>('/api/cases?state=all');
    expect(all.filter((c) => c.residentId === mrsA)).toEqual([]);
  });
});

describe('a device paired for the first time, after a spell in stock', () => {
  it('sends reports timed in stock: nobody’s, refused and kept as an unpaired device’s; a press so timed is the home’s, on receipt', async () => {
    const serial = `E2E-FST-${run}`;
    const mrC = await resident('First Paired');
    // Registered into stock on the 20th at 08:00, paired to Mr C on the 23rd at 10:00.
    const registered = Date.UTC(2026, 2, 20, 8, 0, 0);
    clock.set(registered);
    await registry('POST', '/api/devices', { serial, kind: 'pendant', supervisionIntervalS: 3600 });
    clock.set(Date.UTC(2026, 2, 23, 10, 0, 0));
    await registry('PATCH', `/api/devices/${serial}`, { residentId: mrC });
    const entry = await pairedEntryOf(serial, mrC);
    expect(entry.stockedAt).toBe(new Date(registered).toISOString());
    clock.set(Date.UTC(2026, 2, 23, 10, 30, 0));

    firstPendant = await connectedPendant(serial);
    const device = firstPendant;
    // A report held in the stock cupboard on the 21st, and one the moment it was registered: nobody's.
    const inStock = await refusedAsUnpaired(
      device,
      new Date(Date.UTC(2026, 2, 21, 12, 0, 0)),
      `fst-stock-${run}`,
    );
    expect(inStock).not.toContain(mrC);
    await refusedAsUnpaired(device, new Date(registered), `fst-registered-${run}`);

    // Before it was registered: no cupboard held it, a wrong clock, Mr C's on receipt.
    const unregisteredAt = new Date(registered - 60_000);
    const wrong = await device.send('heartbeat', { batteryPercent: 70 }, { at: unregisteredAt });
    // The installer's test on site, a quarter of an hour before the pairing: Mr C's, as sent.
    const onSiteAt = new Date(Date.UTC(2026, 2, 23, 9, 45, 0));
    const onSite = await device.send('heartbeat', { batteryPercent: 70 }, { at: onSiteAt });
    // A press timed in stock: its clock may have stood still in the cupboard. His, on receipt.
    const stoodStill = new Date(Date.UTC(2026, 2, 22, 18, 0, 0));
    const press = await device.send('pendant.pressed', {}, { id: `fst-press-${run}`, at: stoodStill });

    const receipt = new Date(clock.now()).toISOString();
    const events = (await eventsOf(serial)).filter((e) => e.type !== 'device.online');
    expect(events.map((e) => e.deviceeventid).sort()).toEqual([wrong.id, onSite.id, press.id].sort());
    expect(events.find((e) => e.deviceeventid === wrong.id)).toMatchObject({
      residentid: mrC,
      time: receipt,
      devicetime: unregisteredAt.toISOString(),
    });
    expect(events.find((e) => e.deviceeventid === onSite.id)).toMatchObject({
      residentid: mrC,
      time: onSiteAt.toISOString(),
    });
    expect(events.find((e) => e.deviceeventid === press.id)).toMatchObject({
      residentid: mrC,
      time: receipt,
      devicetime: stoodStill.toISOString(),
    });

    await keptAsUnpaired(serial, [`fst-stock-${run}`, `fst-registered-${run}`]);
    expect((await openCaseOf(mrC)).priority).toBe(1);
  });
});

describe('a device moved straight from one home to another', () => {
  it("gives the previous home's last hour to the previous resident, and a press heard at once from a slow clock to the new one", async () => {
    const serial = `E2E-DIR-${run}`;
    const mrsD = await resident('Straight From');
    const mrE = await resident('Straight To');
    clock.set(Date.UTC(2026, 2, 25, 8, 0, 0));
    await registry('POST', '/api/devices', {
      serial,
      kind: 'pendant',
      residentId: mrsD,
      supervisionIntervalS: 3600,
    });
    // Unpaired from Mrs D and paired to Mr E at the same moment, on the 26th at 10:00.
    const move = Date.UTC(2026, 2, 26, 10, 0, 0);
    clock.set(move);
    await registry('PATCH', `/api/devices/${serial}`, { residentId: mrE });
    const entry = await pairedEntryOf(serial, mrE);
    expect(entry.previousPairing).toMatchObject({ residentId: mrsD, endedAt: new Date(move).toISOString() });
    expect(entry).not.toHaveProperty('stockedAt');

    // A minute after the move the pendant reaches Mr E's hub. Its clock runs three minutes slow.
    clock.set(move + 60_000);
    directPendant = await connectedPendant(serial);
    const device = directPendant;
    // What it held from Mrs D's last hour, within the hour before Mr E's pairing: hers.
    const heldAt = new Date(move - 40 * 60_000);
    const held = await device.send('pendant.pressed', {}, { id: `dir-held-${run}`, at: heldAt });
    const beatAt = new Date(move - 30 * 60_000);
    const beat = await device.send('heartbeat', { batteryPercent: 80 }, { at: beatAt });
    // Mr E presses now; the slow clock dates it two minutes before the move. Heard at once: his.
    const slowAt = new Date(move - 2 * 60_000);
    const press = await device.send('pendant.pressed', {}, { id: `dir-press-${run}`, at: slowAt });

    const events = await eventsOf(serial);
    const movedat = new Date(move).toISOString();
    const heldEvent = events.find((e) => e.deviceeventid === held.id);
    expect(heldEvent).toMatchObject({ residentid: mrsD, time: heldAt.toISOString(), movedat });
    expect(events.find((e) => e.deviceeventid === beat.id)).toMatchObject({
      residentid: mrsD,
      time: beatAt.toISOString(),
      movedat,
    });
    const pressEvent = events.find((e) => e.deviceeventid === press.id);
    expect(pressEvent).toMatchObject({
      residentid: mrE,
      time: new Date(move + 60_000).toISOString(),
      devicetime: slowAt.toISOString(),
    });
    expect(pressEvent).not.toHaveProperty('movedat');

    // Each alarm on its own resident's case: Mrs D's saying where it happened, Mr E's his own.
    const hers = await openCaseOf(mrsD);
    expect(hers.because[0]?.evidence).toEqual([heldEvent?.id]);
    expect(hers.because[0]?.reason).toContain(MOVED_DEVICE_REASON);
    const his = await openCaseOf(mrE);
    expect(his.because[0]?.evidence).toEqual([pressEvent?.id]);
    expect(his.because[0]?.reason).not.toContain(MOVED_DEVICE_REASON);
  });
});

import {
  DeadLetter,
  DeviceAck,
  type DeviceMapEntry,
  eventIdFor,
  names,
  partitionOf,
  TelecareEvent,
} from '@telecare/contracts';
import {
  connectMqtt,
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  type KV,
  ManualClock,
  type MqttClient,
  type NatsConnection,
  openDeviceMap,
} from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '../src/index.ts';
import { testDevice } from './support.ts';

const ns = uniqueNamespace('gwmqtt');
const n = names(ns);
const logger = createLogger('gateway-mqtt-test', process.env.TEST_LOG_LEVEL ?? 'silent');
const gatewayClientId = `${ns}-gateway`;
const config = loadGatewayMqttConfig(
  serviceEnv(ns, { GATEWAY_MQTT_PORT: '0', MQTT_CLIENT_ID: gatewayClientId, TELECARE_PARTITIONS: '8' }),
);
const clock = new ManualClock(new Date('2026-01-05T07:30:01.000Z'));

const PENDANT = 'PND-1001';
const RESIDENT = 'res_0000000001';

const entry = (serial: string, overrides: Partial<DeviceMapEntry> = {}) =>
  testDevice(serial, { residentId: RESIDENT, ...overrides });

const press = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, type: 'pendant.pressed', at: '2026-01-05T07:30:00Z', ...extra });

/** A device as the platform sees it: its own MQTT client id, publishing events and reading acks. */
class Device {
  readonly acks: DeviceAck[] = [];
  private constructor(
    readonly serial: string,
    readonly client: MqttClient,
  ) {}

  static async connect(serial: string): Promise<Device> {
    const client = await connectMqtt({ url: servers.mqttUrl, clientId: `${ns}-dev-${serial}`, logger });
    const device = new Device(serial, client);
    client.on('message', (topic, payload) => {
      if (topic === n.mqtt.ack(serial)) device.acks.push(DeviceAck.parse(JSON.parse(payload.toString())));
    });
    await client.subscribeAsync(n.mqtt.ack(serial), { qos: 1 });
    return device;
  }

  async send(payload: string | Uint8Array): Promise<void> {
    await this.client.publishAsync(n.mqtt.events(this.serial), Buffer.from(payload), { qos: 1 });
  }

  storedAcks(id: string): number {
    return this.acks.filter((ack) => 'stored' in ack && ack.id === id).length;
  }

  async waitStored(id: string, count = 1): Promise<void> {
    await waitFor(() => this.storedAcks(id) >= count, { what: `${count} stored ack(s) for ${id}` });
  }

  async waitRejected(reason: string): Promise<{ id?: string; rejected: string }> {
    return waitFor(
      () =>
        this.acks.find(
          (ack): ack is { id?: string; rejected: string } =>
            'rejected' in ack && ack.rejected.startsWith(`${reason}:`),
        ),
      { what: `a ${reason} rejection for ${this.serial}` },
    );
  }
}

let nc: NatsConnection;
let jsm: JetStreamManager;
let kv: KV;
let gateway: GatewayMqttHandle | undefined;
const devices: Device[] = [];

const device = async (serial: string) => {
  const d = await Device.connect(serial);
  devices.push(d);
  return d;
};

const putDevice = (value: DeviceMapEntry) => kv.put(value.serial, JSON.stringify(value));

const eventsStored = async () => (await jsm.streams.info(n.streams.events)).state.messages;

async function storedEvent(serial: string, deviceEventId: string): Promise<TelecareEvent | undefined> {
  const subject = n.subjects.event(partitionOf(RESIDENT, 8), 'pendant.pressed');
  const info = await jsm.streams.info(n.streams.events);
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const msg = await jsm.streams.getMessage(n.streams.events, { seq }).catch(() => null);
    if (!msg || msg.subject !== subject) continue;
    const event = TelecareEvent.parse(msg.json());
    if (event.subject === serial && event.deviceeventid === deviceEventId) {
      expect(msg.header?.get('Nats-Msg-Id')).toBe(event.id);
      return event;
    }
  }
  return undefined;
}

async function lastDeadLetter(reason: string): Promise<DeadLetter> {
  const msg = await jsm.streams.getMessage(n.streams.deadletter, {
    last_by_subj: n.subjects.deadletter('gateway-mqtt', reason),
  });
  if (!msg) throw new Error(`no dead letter for ${reason}`);
  return DeadLetter.parse(msg.json());
}

async function rejects(reason: string): Promise<number> {
  if (!gateway) throw new Error('gateway not running');
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('gateway_mqtt_rejects_total{') && l.includes(`reason="${reason}"`));
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}

beforeAll(async () => {
  nc = await connectNats({ url: servers.natsUrl, name: `${ns}-test`, logger });
  jsm = await jetstreamManager(nc);
  kv = await openDeviceMap(nc, n);
  await putDevice(entry(PENDANT));
  gateway = await startGatewayMqtt(config, { logger, clock });
});

afterAll(async () => {
  await gateway?.close();
  await Promise.all(devices.map((d) => d.client.endAsync()));
  // Drop the gateway's persistent session so the broker does not keep it for a week.
  const sweeper = await connectMqtt({ url: servers.mqttUrl, clientId: gatewayClientId, logger, clean: true });
  await sweeper.endAsync();
  await nc.close();
  await cleanupNamespace(ns);
});

describe('gateway-mqtt against Mosquitto and NATS', () => {
  it('is ready once connected to MQTT and NATS', async () => {
    if (!gateway) throw new Error('gateway not running');
    const res = await fetch(`${gateway.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ready', checks: { mqtt: true, nats: true } });
  });

  it('stores a pendant press as one CloudEvent and only then acks it stored', async () => {
    const pendant = await device(PENDANT);
    await pendant.send(press('press-0001', { seq: 3 }));
    await pendant.waitStored('press-0001');

    // The ack came after the store, so the event is there without waiting.
    const event = await storedEvent(PENDANT, 'press-0001');
    expect(event).toMatchObject({
      id: eventIdFor(PENDANT, 'press-0001', '2026-01-05T07:30:00Z', 'pendant.pressed'),
      source: '/gateway-mqtt',
      type: 'pendant.pressed',
      subject: PENDANT,
      time: '2026-01-05T07:30:00Z',
      residentid: RESIDENT,
      devicekind: 'pendant',
      deviceeventid: 'press-0001',
      partition: partitionOf(RESIDENT, 8),
      receivedat: '2026-01-05T07:30:01.000Z',
      testmode: false,
      location: 'hall',
      postcodedistrict: 'GL1',
      seq: 3,
      data: {},
    });
    expect(await eventsStored()).toBe(1);
  });

  it('stores a resend once and acks it stored again', async () => {
    const pendant = devices[0] ?? (await device(PENDANT));
    const before = await eventsStored();
    await pendant.send(press('press-0001', { seq: 3 }));
    await pendant.waitStored('press-0001', 2);
    expect(await eventsStored()).toBe(before);
    if (!gateway) throw new Error('gateway not running');
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/^gateway_mqtt_duplicates_total\{[^}]*\} 1$/m);
    expect(metrics).toMatch(/^gateway_mqtt_events_stored_total\{[^}]*type="pendant.pressed"[^}]*\} 1$/m);
  });

  describe('bad input is answered, dead-lettered with its raw bytes and counted', () => {
    const cases: Array<{ reason: string; serial: string; raw: Uint8Array; id?: string; detail: RegExp }> = [
      { reason: 'not-json', serial: PENDANT, raw: new Uint8Array([0x7b, 0x22, 0xff, 0x00]), detail: /./ },
      {
        reason: 'schema',
        serial: PENDANT,
        raw: Buffer.from(JSON.stringify({ id: 'bad-schema-01', type: 'pendant.squeezed', at: 'now' })),
        id: 'bad-schema-01',
        detail: /type: .+; at: /,
      },
      {
        reason: 'unknown-device',
        serial: 'PND-UNKNOWN-9',
        raw: Buffer.from(
          JSON.stringify({ id: 'stranger-001', type: 'heartbeat', at: '2026-01-05T07:30:00Z' }),
        ),
        id: 'stranger-001',
        detail: /no device PND-UNKNOWN-9/,
      },
      {
        reason: 'serial-mismatch',
        serial: PENDANT,
        raw: Buffer.from(press('mismatch-001', { serial: 'PND-2002' })),
        id: 'mismatch-001',
        detail: /^payload serial is not the topic's PND-1001$/,
      },
    ];

    for (const c of cases) {
      it(c.reason, async () => {
        const sender = devices.find((d) => d.serial === c.serial) ?? (await device(c.serial));
        const counted = await rejects(c.reason);
        await sender.send(c.raw);

        const ack = await sender.waitRejected(c.reason);
        expect(ack.id).toBe(c.id);
        expect(ack.rejected.slice(c.reason.length + 2)).toMatch(c.detail);

        const letter = await lastDeadLetter(c.reason);
        expect(letter).toMatchObject({
          service: 'gateway-mqtt',
          reason: c.reason,
          origin: n.mqtt.events(c.serial),
        });
        expect(Buffer.from(letter.rawBase64, 'base64')).toEqual(Buffer.from(c.raw));
        expect(await rejects(c.reason)).toBe(counted + 1);
      });
    }

    it('and a good press after them still works', async () => {
      const pendant = devices.find((d) => d.serial === PENDANT) ?? (await device(PENDANT));
      await pendant.send(press('press-0002'));
      await pendant.waitStored('press-0002');
      expect(await storedEvent(PENDANT, 'press-0002')).toBeDefined();
    });
  });

  it('stores a press whose time has no offset (as real hubs send) dated on receipt, acks it stored, and keeps its bytes', async () => {
    const pendant = devices.find((d) => d.serial === PENDANT) ?? (await device(PENDANT));
    const raw = JSON.stringify({ id: 'local-time-01', type: 'pendant.pressed', at: '2026-01-05T07:29:58' });
    await pendant.send(raw);
    await pendant.waitStored('local-time-01');
    expect(await storedEvent(PENDANT, 'local-time-01')).toMatchObject({
      type: 'pendant.pressed',
      time: '2026-01-05T07:30:01.000Z',
      receivedat: '2026-01-05T07:30:01.000Z',
    });
    const letter = await lastDeadLetter('schema');
    expect(letter.detail).toMatch(/^stored as pendant\.pressed, dated on receipt: at: /);
    expect(Buffer.from(letter.rawBase64, 'base64').toString()).toBe(raw);
    if (!gateway) throw new Error('gateway not running');
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metrics).toMatch(/^gateway_mqtt_alarms_repaired_total\{[^}]*type="pendant.pressed"[^}]*\} 1$/m);
    // A resend of the same bytes is the same event: acked stored again, stored once.
    const before = await eventsStored();
    await pendant.send(raw);
    await pendant.waitStored('local-time-01', 2);
    expect(await eventsStored()).toBe(before);
  });

  it('dates on receipt an event from before the device joined its home, and keeps a backlog since', async () => {
    // Paired yesterday (the registry's pairedAt): a time three days back is a wrong clock, not a
    // backlog, though well within the week a backlog may span.
    const pairedAt = new Date(clock.now() - 86_400_000).toISOString();
    await putDevice(entry('PND-1006', { pairedAt }));
    const fresh = await device('PND-1006');
    await fresh.send(press('paired-0001', { at: '2026-01-02T07:30:00Z' }));
    await fresh.waitStored('paired-0001');
    expect(await storedEvent('PND-1006', 'paired-0001')).toMatchObject({
      time: '2026-01-05T07:30:01.000Z',
      devicetime: '2026-01-02T07:30:00Z',
      receivedat: '2026-01-05T07:30:01.000Z',
    });
    // Held since the pairing: a real backlog, its time kept.
    await fresh.send(press('paired-0002', { at: '2026-01-04T20:00:00Z' }));
    await fresh.waitStored('paired-0002');
    const backlog = await storedEvent('PND-1006', 'paired-0002');
    expect(backlog?.time).toBe('2026-01-04T20:00:00Z');
    expect(backlog).not.toHaveProperty('devicetime');
  });

  it("gives a moved device's backlog from its previous home to the previous resident, at its own time", async () => {
    const PREVIOUS = 'res_0000000002';
    const pairedAt = new Date(clock.now() - 3_600_000 * 12).toISOString();
    await putDevice(
      entry('PND-1007', {
        pairedAt,
        previousPairing: { residentId: PREVIOUS, pairedAt: '2025-12-01T10:00:00Z', endedAt: pairedAt },
      }),
    );
    const movedPendant = await device('PND-1007');
    // Last night, at the previous home.
    await movedPendant.send(press('moved-0001', { at: '2026-01-04T18:00:00Z' }));
    await movedPendant.waitStored('moved-0001');
    const subject = n.subjects.event(partitionOf(PREVIOUS, 8), 'pendant.pressed');
    const msg = await jsm.streams.getMessage(n.streams.events, { last_by_subj: subject });
    const stored = TelecareEvent.parse(msg?.json());
    expect(stored).toMatchObject({
      subject: 'PND-1007',
      deviceeventid: 'moved-0001',
      residentid: PREVIOUS,
      partition: partitionOf(PREVIOUS, 8),
      time: '2026-01-04T18:00:00Z',
      movedat: pairedAt,
      testmode: false,
    });
    // The map's location and district are the new home's, not where it happened.
    expect(stored).not.toHaveProperty('location');
    expect(stored).not.toHaveProperty('postcodedistrict');
    expect(stored).not.toHaveProperty('devicetime');
    // A press since the pairing is the new resident's.
    await movedPendant.send(press('moved-0002', { at: '2026-01-05T07:00:00Z' }));
    await movedPendant.waitStored('moved-0002');
    expect(await storedEvent('PND-1007', 'moved-0002')).toMatchObject({
      residentid: RESIDENT,
      location: 'hall',
    });
    expect(await storedEvent('PND-1007', 'moved-0002')).not.toHaveProperty('movedat');
  });

  it('refuses a decommissioned device as unknown', async () => {
    await putDevice(entry('PND-1003', { state: 'decommissioned' }));
    const retired = await device('PND-1003');
    await retired.send(press('retired-001'));
    const ack = await retired.waitRejected('unknown-device');
    expect(ack).toEqual({ id: 'retired-001', rejected: 'unknown-device: device PND-1003 is decommissioned' });
  });

  it('leaves an alarm from a device the map does not know unanswered, so its resend is stored once the map knows it', async () => {
    const unmapped = await device('PND-1005');
    const counted = await rejects('unknown-device');
    await unmapped.send(press('unmapped-001'));
    // Dead-lettered and counted, as any refusal, but not answered: told `rejected`, the device
    // would stop resending an alarm that a map lost or behind did not know.
    await waitFor(async () => (await rejects('unknown-device')) === counted + 1, {
      what: 'the refusal counted',
    });
    const letter = await lastDeadLetter('unknown-device');
    expect(letter.detail).toMatch(/no device PND-1005 in the device map; an alarm is left unanswered/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(unmapped.acks).toEqual([]);

    await putDevice(entry('PND-1005'));
    await unmapped.send(press('unmapped-001'));
    await unmapped.waitStored('unmapped-001');
    expect(await storedEvent('PND-1005', 'unmapped-001')).toMatchObject({ residentid: RESIDENT });
  });

  it('finds a device registered a moment before it sends', async () => {
    const fresh = await device('PND-1004');
    await putDevice(entry('PND-1004'));
    await fresh.send(press('fresh-0001'));
    await fresh.waitStored('fresh-0001');
    expect(await storedEvent('PND-1004', 'fresh-0001')).toMatchObject({ residentid: RESIDENT });
  });

  it('stores what devices sent while it was stopped, once it is back (persistent session)', async () => {
    const pendant = devices.find((d) => d.serial === PENDANT) ?? (await device(PENDANT));
    await gateway?.close();
    gateway = undefined;

    const before = await eventsStored();
    await pendant.send(press('offline-001'));
    await pendant.send(press('offline-002'));
    // The broker holds them for the gateway's session; nothing reached JetStream meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await eventsStored()).toBe(before);
    expect(pendant.storedAcks('offline-001')).toBe(0);

    gateway = await startGatewayMqtt(config, { logger, clock });
    await pendant.waitStored('offline-001');
    await pendant.waitStored('offline-002');
    expect(await storedEvent(PENDANT, 'offline-001')).toBeDefined();
    expect(await storedEvent(PENDANT, 'offline-002')).toBeDefined();
    expect(await eventsStored()).toBe(before + 2);
  });
});

import {
  DEVICE_EVENT_TYPES,
  type DeviceMapEntry,
  eventIdFor,
  partitionOf,
  TelecareEvent,
} from '@telecare/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testDevice } from '../test/support.ts';
import {
  EVENT_SOURCE,
  MAX_CLOCK_AHEAD_MS,
  MAX_CLOCK_BEHIND_MS,
  PAIRING_CLOCK_TOLERANCE_MS,
  toTelecareEvent,
} from './event.ts';
import { readDeviceMessage } from './intake.ts';

const device = testDevice('PND-0001', { deviceId: 'dev_0001', residentId: 'res_0001' });

describe('toTelecareEvent', () => {
  it('builds a valid CloudEvent with ids, partition and the device context', () => {
    const event = toTelecareEvent({
      serial: 'PND-0001',
      payload: { id: 'press-0001', type: 'pendant.pressed', at: '2026-01-05T07:30:00Z', seq: 7, data: {} },
      device,
      receivedAt: new Date('2026-01-05T07:30:01.250Z'),
      partitions: 8,
    });
    expect(TelecareEvent.parse(event)).toEqual(event);
    expect(event).toMatchObject({
      id: eventIdFor('PND-0001', 'press-0001', '2026-01-05T07:30:00Z', 'pendant.pressed'),
      source: EVENT_SOURCE,
      subject: 'PND-0001',
      time: '2026-01-05T07:30:00Z',
      residentid: 'res_0001',
      devicekind: 'pendant',
      deviceeventid: 'press-0001',
      partition: partitionOf('res_0001', 8),
      receivedat: '2026-01-05T07:30:01.250Z',
      testmode: false,
      seq: 7,
      location: 'hall',
      postcodedistrict: 'GL1',
    });
  });

  it('leaves out what the device map does not know', () => {
    const event = toTelecareEvent({
      serial: 'PND-0001',
      payload: { id: 'press-0001', type: 'pendant.pressed', at: '2026-01-05T07:30:00Z', data: {} },
      device: { ...device, location: null, postcodeDistrict: null, testMode: true },
      receivedAt: new Date(0),
      partitions: 1,
    });
    expect(event).not.toHaveProperty('location');
    expect(event).not.toHaveProperty('postcodedistrict');
    expect(event).not.toHaveProperty('seq');
    expect(event.testmode).toBe(true);
    expect(event.partition).toBe(0);
  });

  it("keeps none of the DC-09 gateway's own findings a device writes in its data (a still-present report, a broken pad)", () => {
    // A pendant login that marks its presses still present would have them shown as status
    // reports, not presses; those are what the DC-09 gateway read from a panel's frame, never a
    // device's to say.
    const event = toTelecareEvent({
      serial: 'PND-0001',
      payload: {
        id: 'press-0002',
        type: 'pendant.pressed',
        at: '2026-01-05T07:30:00Z',
        data: { condition: 'still-present', padBroken: 'a pad', zone: '1' },
      },
      device,
      receivedAt: new Date('2026-01-05T07:30:01Z'),
      partitions: 8,
    });
    expect(event.data).toEqual({ zone: '1' });
  });

  it('dates an event from a device clock too far ahead at its receipt, keeping the device time', () => {
    const receivedAt = new Date('2026-01-05T07:30:00Z');
    const build = (aheadMs: number) =>
      toTelecareEvent({
        serial: 'PND-0001',
        payload: {
          id: 'beat-0001',
          type: 'heartbeat',
          at: new Date(receivedAt.getTime() + aheadMs).toISOString(),
          data: {},
        },
        device,
        receivedAt,
        partitions: 8,
      });
    const slightly = build(MAX_CLOCK_AHEAD_MS);
    expect(slightly.time).toBe('2026-01-05T07:35:00.000Z');
    expect(slightly).not.toHaveProperty('devicetime');
    const far = build(365 * 24 * 3600 * 1000);
    expect(TelecareEvent.parse(far)).toEqual(far);
    expect(far).toMatchObject({ time: '2026-01-05T07:30:00.000Z', devicetime: '2027-01-05T07:30:00.000Z' });
  });
});

describe('an event from a device clock far behind', () => {
  const receivedAt = new Date('2026-01-05T07:30:00Z');
  const build = (at: string, type: 'motion' | 'pendant.pressed' = 'motion') =>
    toTelecareEvent({
      serial: 'PND-0001',
      payload: { id: 'beat-0001', type, at, data: {} },
      device,
      receivedAt,
      partitions: 8,
    });
  const DAY = 86_400_000;

  it('keeps the time of a real backlog: a home offline for two days, or for a week', () => {
    for (const behind of [60_000, 2 * DAY, MAX_CLOCK_BEHIND_MS]) {
      const at = new Date(receivedAt.getTime() - behind).toISOString();
      const event = build(at);
      expect(event.time).toBe(at);
      expect(event).not.toHaveProperty('devicetime');
    }
  });

  it('dates a clock reset after a power cut (1970, 2000, last year) at its receipt, keeping the device time', () => {
    for (const at of ['1970-01-01T00:00:05Z', '2000-01-01T00:00:00Z', '2025-01-05T07:30:00Z']) {
      const event = build(at, 'pendant.pressed');
      expect(TelecareEvent.parse(event)).toEqual(event);
      expect(event).toMatchObject({ time: '2026-01-05T07:30:00.000Z', devicetime: at });
    }
    const justPast = new Date(receivedAt.getTime() - MAX_CLOCK_BEHIND_MS - 1000).toISOString();
    expect(build(justPast)).toMatchObject({ time: '2026-01-05T07:30:00.000Z', devicetime: justPast });
  });
});

describe('an event dated before its device joined the home', () => {
  const receivedAt = new Date('2026-01-05T07:30:00Z');
  const HOUR = 3_600_000;
  const DAY = 24 * HOUR;
  // Paired yesterday: nothing it sends can have happened in this home three days ago.
  const paired = { ...device, pairedAt: new Date(receivedAt.getTime() - DAY).toISOString() };
  const build = (behindMs: number, entry: DeviceMapEntry = paired) =>
    toTelecareEvent({
      serial: 'PND-0001',
      payload: {
        id: 'beat-0001',
        type: 'motion',
        at: new Date(receivedAt.getTime() - behindMs).toISOString(),
        data: {},
      },
      device: entry,
      receivedAt,
      partitions: 8,
    });

  it('is a wrong clock, not a backlog: dated on receipt, the device time kept', () => {
    const event = build(3 * DAY);
    expect(TelecareEvent.parse(event)).toEqual(event);
    expect(event).toMatchObject({ time: '2026-01-05T07:30:00.000Z', devicetime: '2026-01-02T07:30:00.000Z' });
    const justBefore = build(DAY + PAIRING_CLOCK_TOLERANCE_MS + 1000);
    expect(justBefore.time).toBe('2026-01-05T07:30:00.000Z');
    expect(justBefore.devicetime).toBe('2026-01-04T06:29:59.000Z');
  });

  it('keeps the time of a backlog since the pairing, and of a test on site just before it', () => {
    for (const behind of [HOUR, DAY - HOUR, DAY, DAY + PAIRING_CLOCK_TOLERANCE_MS]) {
      const event = build(behind);
      expect(event.time).toBe(new Date(receivedAt.getTime() - behind).toISOString());
      expect(event).not.toHaveProperty('devicetime');
    }
  });

  it('is judged by the week alone for an entry written before pairings were kept', () => {
    const { pairedAt: _, ...older } = paired;
    const event = build(3 * DAY, older);
    expect(event.time).toBe('2026-01-02T07:30:00.000Z');
    expect(event).not.toHaveProperty('devicetime');
  });

  it("is the previous resident's when it falls in the previous pairing, never in the new home's test mode", () => {
    const moved: DeviceMapEntry = {
      ...paired,
      testMode: true,
      previousPairing: { residentId: 'res_0000', endedAt: paired.pairedAt },
    };
    const event = build(3 * DAY, moved);
    expect(TelecareEvent.parse(event)).toEqual(event);
    expect(event).toMatchObject({
      residentid: 'res_0000',
      partition: partitionOf('res_0000', 8),
      time: '2026-01-02T07:30:00.000Z',
      movedat: paired.pairedAt,
      testmode: false,
    });
    expect(event).not.toHaveProperty('devicetime');
    expect(event).not.toHaveProperty('location');
    // Since the pairing: the new home's, in its test mode.
    expect(build(HOUR, moved)).toMatchObject({
      residentid: 'res_0001',
      testmode: true,
      location: device.location,
    });
  });
});

describe('the id of a device event', () => {
  const receivedAt = new Date('2026-01-05T11:30:00Z');
  const idOf = (raw: Record<string, unknown>, at = receivedAt) => {
    const read = readDeviceMessage('PND-0001', Buffer.from(JSON.stringify(raw)));
    if (!read.ok) throw new Error(read.detail);
    return toTelecareEvent({
      serial: 'PND-0001',
      payload: read.payload,
      ...(read.sentAt === undefined ? {} : { sentAt: read.sentAt }),
      device,
      receivedAt: at,
      partitions: 8,
    }).id;
  };
  const press = (at: unknown) => ({ id: 'seq-00000002', type: 'pendant.pressed', at, data: {} });

  it('is the same for a resend of the same payload, however late it comes', () => {
    const first = idOf(press('2026-01-05T07:30:00Z'));
    expect(idOf(press('2026-01-05T07:30:00Z'), new Date('2026-01-05T07:40:00Z'))).toBe(first);
    // A time the gateway replaces (too far ahead) still names the event as the device wrote it.
    const ahead = press('2027-01-05T07:30:00Z');
    expect(idOf(ahead, new Date('2026-01-05T07:30:00Z'))).toBe(idOf(ahead, new Date('2026-01-05T07:31:00Z')));
  });

  it('differs for an id the device used before at another time or for another type: a new event', () => {
    const first = idOf(press('2026-01-05T07:30:00Z'));
    expect(idOf(press('2026-01-05T11:29:58Z'))).not.toBe(first);
    expect(idOf({ ...press('2026-01-05T07:30:00Z'), type: 'heartbeat' })).not.toBe(first);
    // Alarms whose time is unreadable, dated on receipt: still named by the time as the device wrote it.
    const local = idOf(press('2026-01-05 07:30:00'));
    expect(idOf(press('2026-01-05 07:30:00'), new Date('2026-01-05T11:31:00Z'))).toBe(local);
    expect(idOf(press('2026-01-05 11:29:58'))).not.toBe(local);
  });
});

describe('an event from a payload the gateway accepted', () => {
  // The gateway checks the envelope in full once per device map entry, not per event: what the entry
  // does not decide comes from the payload (as strict as the envelope, checked here) or the gateway.
  const serial = 'PND-0001';
  const payloads = fc.record(
    {
      id: fc.stringMatching(/^[\x21-\x7e]{8,64}$/),
      type: fc.constantFrom(...DEVICE_EVENT_TYPES),
      at: fc.oneof(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        fc
          .tuple(fc.integer({ min: 0, max: 4_000_000_000 }), fc.constantFrom('Z', '+01:00', '-05:30'))
          .map(([s, zone]) => new Date(s * 1000).toISOString().replace(/\.\d+Z$/, zone)),
      ),
      seq: fc.nat(),
      data: fc.oneof(
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.record({ celsius: fc.double({ min: -60, max: 110, noNaN: true }) }),
        fc.record({ batteryPercent: fc.integer({ min: -5, max: 105 }) }),
      ),
      serial: fc.constant(serial),
    },
    { requiredKeys: ['id', 'type', 'at'] },
  );

  it('is a valid envelope, and the schema hands back the same JSON', () => {
    fc.assert(
      fc.property(
        payloads,
        fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }),
        fc.option(fc.constant('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'), { nil: undefined }),
        fc.boolean(),
        (sent, receivedAt, traceparent, placed) => {
          const read = readDeviceMessage(serial, Buffer.from(JSON.stringify(sent)));
          fc.pre(read.ok);
          if (!read.ok) return;
          const event = toTelecareEvent({
            serial,
            payload: read.payload,
            device: placed ? device : { ...device, location: null, postcodeDistrict: null },
            receivedAt,
            partitions: 8,
            ...(traceparent === undefined ? {} : { traceparent }),
          });
          const parsed = TelecareEvent.safeParse(event);
          expect(parsed.success).toBe(true);
          expect(JSON.stringify(parsed.data)).toBe(JSON.stringify(event));
        },
      ),
      { numRuns: 500 },
    );
  });
});

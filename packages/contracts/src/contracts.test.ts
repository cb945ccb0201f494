import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  Alert,
  alertIdFor,
  asyncApiDocument,
  DeviceEventPayload,
  EVENT_TYPES,
  eventIdFor,
  eventIdOfKey,
  names,
  partitionOf,
  readRepairedAlarm,
  repairedAlarmDetail,
  TAXONOMY,
} from './index.ts';

describe('AsyncAPI document', () => {
  const doc = asyncApiDocument();
  const text = JSON.stringify(doc);

  it('lists every taxonomy event type in the event schemas and the taxonomy', () => {
    const payload = (
      doc.components as {
        messages: Record<string, { payload: { properties: { type: { enum: string[] } } } }>;
      }
    ).messages;
    const eventEnum = payload.event?.payload.properties.type.enum ?? [];
    for (const type of EVENT_TYPES) {
      expect(eventEnum, type).toContain(type);
      expect(text).toContain(`"type":"${type}"`);
    }
  });

  it('is AsyncAPI 3 and the committed asyncapi.json is up to date (run `pnpm asyncapi`)', () => {
    expect(doc.asyncapi).toBe('3.0.0');
    const committed = JSON.parse(readFileSync(new URL('../asyncapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(JSON.parse(text));
  });
});

describe('device payload', () => {
  const ok = { id: 'press-0001', type: 'pendant.pressed', at: '2026-11-22T10:00:00Z' };

  it('accepts a pendant press and defaults data', () => {
    expect(DeviceEventPayload.parse(ok)).toEqual({ ...ok, data: {} });
  });

  it('refuses derived types, short ids, bad times and bad type data', () => {
    expect(DeviceEventPayload.safeParse({ ...ok, type: 'supervision.lost' }).success).toBe(false);
    expect(DeviceEventPayload.safeParse({ ...ok, id: 'short' }).success).toBe(false);
    expect(DeviceEventPayload.safeParse({ ...ok, at: 'yesterday' }).success).toBe(false);
    const bad = DeviceEventPayload.safeParse({ ...ok, type: 'temperature', data: { celsius: 'warm' } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['data', 'celsius']);
  });
});

describe('dead letter of a repaired alarm', () => {
  it('reads back what gateway-mqtt wrote, and nothing from a refusal', () => {
    const alarm = {
      type: 'pendant.pressed',
      datedOnReceipt: true,
      wrong: 'at: Invalid ISO datetime; id: Too small',
    };
    expect(repairedAlarmDetail(alarm)).toBe(
      'stored as pendant.pressed, dated on receipt: at: Invalid ISO datetime; id: Too small',
    );
    expect(readRepairedAlarm(repairedAlarmDetail(alarm))).toEqual(alarm);
    const dated = { ...alarm, datedOnReceipt: false, wrong: 'id: Too small' };
    expect(readRepairedAlarm(repairedAlarmDetail(dated))).toEqual(dated);
    expect(readRepairedAlarm('at: Invalid ISO datetime')).toBeUndefined();
    expect(readRepairedAlarm("payload serial is not the topic's PND-1")).toBeUndefined();
  });
});

describe('names', () => {
  it('gives the DESIGN names for the default namespace', () => {
    const n = names();
    expect(n.streams.events).toBe('EVENTS');
    expect(n.subjects.event(3, 'pendant.pressed')).toBe('telecare.events.3.pendant.pressed');
    expect(n.subjects.alert(1, 'res_abc')).toBe('telecare.alerts.p1.res_abc');
    expect(n.mqtt.events('PX-1')).toBe('telecare/v1/devices/PX-1/events');
    expect(n.mqtt.serialOf('telecare/v1/devices/PX-1/events')).toBe('PX-1');
    expect(n.mqtt.serialOf('other/v1/devices/PX-1/events')).toBeUndefined();
    expect(n.mqtt.serialOf('telecare/v1/devices/PX-1/status')).toBe('PX-1');
    expect(n.mqtt.serialOf('telecare/v1/devices/PX-1/')).toBe('PX-1');
    for (const topic of [
      'telecare/v1/devices/PX-1',
      'telecare/v1/devices//events',
      'telecare/v1/devices/PX-1/events/more',
      'telecare/v1/devices/',
      'telecare/v1/devicesPX-1/events',
    ]) {
      expect(n.mqtt.serialOf(topic), topic).toBeUndefined();
    }
    expect(n.schema('helpline')).toBe('helpline');
    expect(n.kv).toEqual({
      deviceMap: 'device-map',
      dc09Accounts: 'dc09-accounts',
      dc09Clocks: 'dc09-clocks',
      triageLeases: 'triage-leases',
      triageRules: 'triage-rules',
      residentAway: 'resident-away',
      triageTimers: 'triage-timers',
      triageIndexGaps: 'triage-index-gaps',
    });
  });

  it('prefixes every name for another namespace and refuses unsafe ones', () => {
    const n = names('t_abc');
    expect(n.streams.alerts).toBe('T_ABC_ALERTS');
    expect(n.subjects.allEvents).toBe('t_abc.events.>');
    expect(n.schema('registry')).toBe('t_abc_registry');
    expect(n.kv.triageRules).toBe('t_abc-triage-rules');
    expect(n.kv.residentAway).toBe('t_abc-resident-away');
    expect(n.kv.triageTimers).toBe('t_abc-triage-timers');
    expect(n.kv.triageIndexGaps).toBe('t_abc-triage-index-gaps');
    expect(() => names('Bad Name')).toThrow(RangeError);
  });
});

describe('ids and partitions', () => {
  it('derives the same event id for the same serial, device id, device time and type only', () => {
    const at = '2026-01-05T07:30:00Z';
    const id = eventIdFor('PX-1', 'press-0001', at, 'pendant.pressed');
    expect(eventIdFor('PX-1', 'press-0001', at, 'pendant.pressed')).toBe(id);
    expect(eventIdFor('PX-2', 'press-0001', at, 'pendant.pressed')).not.toBe(id);
    expect(id).toMatch(/^evt_[0-9a-f]{32}$/);
  });

  it('gives a device id used again at another time, or for another type, an event id of its own', () => {
    const at = '2026-01-05T07:30:00Z';
    const id = eventIdFor('PX-1', 'seq-00000002', at, 'pendant.pressed');
    // The counter started again after a battery change: the same id four hours later.
    expect(eventIdFor('PX-1', 'seq-00000002', '2026-01-05T11:30:00Z', 'pendant.pressed')).not.toBe(id);
    expect(eventIdFor('PX-1', 'seq-00000002', at, 'heartbeat')).not.toBe(id);
    // The time is the device's string as sent: the same instant written otherwise is another payload.
    expect(eventIdFor('PX-1', 'seq-00000002', '2026-01-05T07:30:00.000Z', 'pendant.pressed')).not.toBe(id);
  });

  it('keeps the ids already stored: the same SHA-256 digests as ever', () => {
    // Keyed ids (DC-09, status changes) are hashed as every event id was before.
    expect(eventIdOfKey('PX-1', 'press-0001')).toBe('evt_2b676f3044721c6cb010b8006d96facf');
    expect(eventIdFor('PX-1', 'press-0001', '2026-01-05T07:30:00Z', 'pendant.pressed')).toBe(
      'evt_01d9671d29da6c1b47e03ac13ac25ac9',
    );
    expect(alertIdFor('r1', 'res_1', 'k')).toBe('alt_ed3df39cd455e5c2a4957ae1bd7d6502');
  });

  it('spreads residents over partitions', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(partitionOf(`res_${i}`, 8));
    expect(seen.size).toBe(8);
    expect(partitionOf('res_1', 8)).toBe(partitionOf('res_1', 8));
  });

  it('has a priority for every type', () => {
    for (const info of Object.values(TAXONOMY)) expect([1, 2, 3, 4, 5]).toContain(info.priority);
    expect(Alert.shape.priority.safeParse(6).success).toBe(false);
  });
});

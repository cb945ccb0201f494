import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_NESTING,
  MAX_PAYLOAD_BYTES,
  nestedDeeperThan,
  readDeviceMessage,
  rejectedAck,
  storedAck,
  topLevelType,
  UNDATED,
} from './intake.ts';

const bytes = (value: unknown) =>
  new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));
const press = { id: 'press-0001', type: 'pendant.pressed', at: '2026-01-05T07:30:00Z' };

describe('readDeviceMessage', () => {
  it('refuses JSON nested deeper than MAX_NESTING before parsing it, naming the leading id', () => {
    const deep = `{"id":"deep-0001","type":"heartbeat","at":"2026-01-05T07:30:00Z","data":{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}}`;
    const read = readDeviceMessage('PND-0001', bytes(deep));
    expect(read).toMatchObject({ ok: false, reason: 'schema', deviceEventId: 'deep-0001' });
    if (!read.ok) expect(read.detail).toContain(`deeper than ${MAX_NESTING}`);
  });

  it('names the leading id of an oversized payload it does not parse', () => {
    const raw = bytes(`{"id":"big-0001","pad":"${'x'.repeat(MAX_PAYLOAD_BYTES)}"}`);
    expect(readDeviceMessage('PND-0001', raw)).toMatchObject({ ok: false, deviceEventId: 'big-0001' });
  });

  it('accepts a valid event and defaults data to {}', () => {
    const read = readDeviceMessage('PND-0001', bytes(press));
    expect(read).toEqual({ ok: true, payload: { ...press, data: {} } });
  });

  it('accepts a payload serial equal to the topic serial', () => {
    expect(readDeviceMessage('PND-0001', bytes({ ...press, serial: 'PND-0001' })).ok).toBe(true);
  });

  it('refuses bytes that are not JSON, including invalid UTF-8', () => {
    for (const raw of [bytes('{"id": '), new Uint8Array([0x7b, 0xff, 0x7d])]) {
      const read = readDeviceMessage('PND-0001', raw);
      expect(read).toMatchObject({ ok: false, reason: 'not-json' });
      expect(read).not.toHaveProperty('deviceEventId');
    }
  });

  it('says what is wrong with a payload in fixed words, never quoting it (it may hold personal data)', () => {
    const marker = 'Ada-Lovelace-Flat-2';
    const cases: Array<[Uint8Array, RegExp]> = [
      [bytes(`${marker} has fallen`), /^payload is not JSON( at byte \d+)?$/],
      [bytes(`{"id":"x-00000001","note":"${marker}`), /^payload is not JSON at byte 46$/],
      [bytes(`{"note":"é"} ${marker}`), /^payload is not JSON at byte 14$/],
      [bytes(`{"note":${marker}}`), /^payload is not JSON( at byte \d+)?$/],
      [new Uint8Array([...bytes(`{"note":"${marker}`), 0xff]), /^payload is not UTF-8$/],
      [bytes({ ...press, serial: marker }), /^payload serial is not the topic's PND-0001$/],
      [bytes({ ...press, serial: `${marker} flat 2` }), /^payload serial is not the topic's PND-0001$/],
    ];
    for (const [raw, says] of cases) {
      const read = readDeviceMessage('PND-0001', raw);
      expect(read.ok).toBe(false);
      if (read.ok) continue;
      expect(read.detail).toMatch(says);
      expect(JSON.stringify(rejectedAck(read))).not.toContain(marker);
    }
  });

  it('lists every schema problem as path: message and keeps the readable id', () => {
    const read = readDeviceMessage('PND-0001', bytes({ id: 'press-0002', type: 'no.such', at: 'yesterday' }));
    expect(read.ok).toBe(false);
    if (read.ok) return;
    expect(read.reason).toBe('schema');
    expect(read.deviceEventId).toBe('press-0002');
    expect(read.detail).toMatch(/^type: .+; at: .+$/);
  });

  it('checks type-specific data fields', () => {
    const read = readDeviceMessage(
      'PND-0001',
      bytes({ ...press, type: 'temperature', data: { celsius: 'warm' } }),
    );
    expect(read).toMatchObject({ ok: false, reason: 'schema' });
    if (!read.ok) expect(read.detail).toMatch(/^data\.celsius: /);
  });

  it('refuses a derived type a device may not send', () => {
    expect(readDeviceMessage('PND-0001', bytes({ ...press, type: 'supervision.lost' }))).toMatchObject({
      ok: false,
      reason: 'schema',
    });
  });

  it('refuses a payload serial that differs from the topic, after the schema passed', () => {
    const read = readDeviceMessage('PND-0001', bytes({ ...press, serial: 'PND-0002' }));
    expect(read).toMatchObject({ ok: false, reason: 'serial-mismatch', deviceEventId: 'press-0001' });
  });

  it('refuses a topic serial that cannot be a device', () => {
    expect(readDeviceMessage('x', bytes(press))).toMatchObject({ ok: false, reason: 'unknown-device' });
  });

  it('refuses an oversized payload before parsing it', () => {
    const raw = bytes({ ...press, data: { pad: 'x'.repeat(MAX_PAYLOAD_BYTES) } });
    expect(readDeviceMessage('PND-0001', raw)).toMatchObject({ ok: false, reason: 'schema' });
  });
});

describe('a life-critical alarm the schema refuses', () => {
  it('is still read, to be stored dated on receipt, naming what was wrong', () => {
    // Seen from real hubs: local time with no offset, a space for the T, epoch seconds.
    for (const at of ['2026-01-05T07:30:00', '2026-01-05 07:30:00Z', 1767598200, undefined]) {
      const read = readDeviceMessage('PND-0001', bytes({ ...press, at }));
      expect(read).toMatchObject({
        ok: true,
        payload: { id: 'press-0001', type: 'pendant.pressed', at: '' },
      });
      if (read.ok) expect(read.repaired).toMatch(/^at: /);
    }
  });

  it('keeps what is readable and drops the rest: a faulty seq or data, a short id', () => {
    const read = readDeviceMessage(
      'PND-0001',
      bytes({ id: 'f1', type: 'fall.detected', at: '2026-01-05T07:30:00Z', seq: -1, data: [1] }),
    );
    expect(read).toEqual({
      ok: true,
      payload: { id: 'f1', type: 'fall.detected', at: '2026-01-05T07:30:00Z', data: {} },
      repaired: expect.stringMatching(/^id: .+; seq: .+; data: /),
      sentAt: '2026-01-05T07:30:00Z',
    });
  });

  it('keeps the time as the device wrote it, which names the event with its id, even when unreadable', () => {
    const local = readDeviceMessage(
      'HUB-0001',
      bytes({ id: 'seq-00000002', type: 'fall.detected', at: '2026-01-05 07:30:00' }),
    );
    const epoch = readDeviceMessage(
      'HUB-0001',
      bytes({ id: 'seq-00000002', type: 'fall.detected', at: 1767598200 }),
    );
    const none = readDeviceMessage('HUB-0001', bytes({ id: 'seq-00000002', type: 'fall.detected' }));
    expect(local).toMatchObject({ ok: true, payload: { at: UNDATED }, sentAt: '2026-01-05 07:30:00' });
    expect(epoch).toMatchObject({ ok: true, payload: { at: UNDATED }, sentAt: '1767598200' });
    expect(none).toMatchObject({ ok: true, payload: { at: UNDATED }, sentAt: '' });
  });

  it('without a usable id is named by its bytes, so a resend of the same bytes is the same event', () => {
    const raw = bytes({ type: 'smoke.detected', at: '2026-01-05T07:30:00Z' });
    const first = readDeviceMessage('PND-0001', raw);
    const again = readDeviceMessage('PND-0001', raw);
    const other = readDeviceMessage(
      'PND-0001',
      bytes({ type: 'smoke.detected', at: '2026-01-05T07:31:00Z' }),
    );
    expect(first.ok && again.ok && other.ok).toBe(true);
    if (!first.ok || !again.ok || !other.ok) return;
    expect(first.payload.id).toMatch(/^unread~[0-9a-f]{24}$/);
    expect(again.payload.id).toBe(first.payload.id);
    expect(other.payload.id).not.toBe(first.payload.id);
    expect(
      readDeviceMessage('PND-0001', bytes({ id: 'has space', type: 'co.detected', at: 'x' })),
    ).toMatchObject({
      ok: true,
      payload: { id: expect.stringMatching(/^unread~/) },
    });
  });

  it('is still refused when it speaks for another device, or is no alarm at all', () => {
    expect(readDeviceMessage('PND-0001', bytes({ ...press, at: 'now', serial: 'PND-0002' }))).toMatchObject({
      ok: false,
      reason: 'serial-mismatch',
    });
    for (const type of ['heartbeat', 'flood.detected', 'pendant.squeezed', 'supervision.lost'])
      expect(readDeviceMessage('PND-0001', bytes({ ...press, type, at: 'now' }))).toMatchObject({
        ok: false,
        reason: 'schema',
      });
  });
});

describe('acks', () => {
  it('say stored, or rejected with reason and detail', () => {
    expect(storedAck('press-0001')).toEqual({ id: 'press-0001', stored: true });
    expect(rejectedAck({ ok: false, reason: 'not-json', detail: 'Unexpected end' })).toEqual({
      rejected: 'not-json: Unexpected end',
    });
    expect(
      rejectedAck({ ok: false, reason: 'schema', detail: 'at: bad', deviceEventId: 'e-00000001' }),
    ).toEqual({
      id: 'e-00000001',
      rejected: 'schema: at: bad',
    });
  });
});

describe('nestedDeeperThan', () => {
  it('counts arrays and objects, not brackets inside strings or escaped quotes', () => {
    expect(nestedDeeperThan('{"a":{"b":[1]}}', 3)).toBe(false);
    expect(nestedDeeperThan('{"a":{"b":[[1]]}}', 3)).toBe(true);
    expect(nestedDeeperThan(`{"a":"${'['.repeat(50)}"}`, 2)).toBe(false);
    expect(nestedDeeperThan(`{"a":"\\"${'['.repeat(50)}"}`, 2)).toBe(false);
    expect(nestedDeeperThan(`{"a":"x\\\\",${'['.repeat(5)}`, 2)).toBe(true);
  });
});

describe('topLevelType', () => {
  it('reads the top-level type, not one named in the data, a nested object or a key', () => {
    expect(topLevelType(bytes(press))).toBe('pendant.pressed');
    const decoy = {
      id: 'hb-0001',
      data: { type: 'pendant.pressed', note: 'fall.detected', 'smoke.detected': [{ type: 'co.detected' }] },
      type: 'heartbeat',
      at: press.at,
    };
    expect(topLevelType(bytes(decoy))).toBe('heartbeat');
    expect(topLevelType(bytes({ id: 'hb-0002', at: press.at, data: { type: 'pendant.pressed' } }))).toBe(
      undefined,
    );
  });

  it('takes the last of a repeated type, as JSON.parse does', () => {
    expect(topLevelType(bytes('{"type":"pendant.pressed","id":"x","type":"heartbeat"}'))).toBe('heartbeat');
    expect(topLevelType(bytes('{"type":"heartbeat" , "type" : "pendant.pressed" }'))).toBe('pendant.pressed');
    expect(topLevelType(bytes('{"type":"pendant.pressed","type":1}'))).toBe(undefined);
    expect(topLevelType(bytes('{"type":"pendant.pressed","type":{"a":"b"}}'))).toBe(undefined);
  });

  it('reads nothing from bytes that would not parse as that type', () => {
    for (const text of [
      '["pendant.pressed"]',
      '"pendant.pressed"',
      '{"type":"pendant.pressed"',
      '{"type":"pendant.pressed"} {}',
      '{"type":"pendant.pressed","data":{"a":"}',
      // Escapes a byte search cannot read: a key another than it looks, or the type's own.
      '{"type":"pendant.pressed","typ\\u0065":"heartbeat"}',
      '{"type":"pendant\\u002epressed"}',
      `{"type":"pendant.pressed","data":${'['.repeat(MAX_NESTING)}${']'.repeat(MAX_NESTING)}}`,
      `{"type":"${'x'.repeat(65)}"}`,
    ])
      expect(topLevelType(bytes(text)), text).toBe(undefined);
    const notUtf8 = Buffer.concat([
      Buffer.from('{"type":"pendant.pressed","data":{"a":"'),
      Buffer.from([0xff]),
      Buffer.from('"}}'),
    ]);
    expect(topLevelType(notUtf8)).toBe(undefined);
  });

  it('reads past whitespace and a byte-order mark, as the decoder and JSON.parse do', () => {
    expect(topLevelType(bytes(' \r\n\t{ "type" :\t"fall.detected" }\n'))).toBe('fall.detected');
    expect(
      topLevelType(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(press))])),
    ).toBe('pendant.pressed');
  });

  it('agrees with JSON.parse on any object whose keys and type need no escapes', () => {
    const plain = fc.string({
      unit: fc.constantFrom('a', 'b', '.', '-', 'é', ' ', '"', '\\', '{', '[', ']', '}', ',', ':'),
    });
    const key = fc.constantFrom('type', 'id', 'at', 'data', 'seq', 'typ', 'types');
    const value = fc.oneof(
      fc.constantFrom('pendant.pressed', 'heartbeat', 'fall.detected'),
      fc.jsonValue({ maxDepth: 4 }),
      fc.dictionary(plain, fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 6 }), (entries) => {
        const text = `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
        const parsed = JSON.parse(text) as { type?: unknown };
        const type =
          typeof parsed.type === 'string' && JSON.stringify(parsed.type) === `"${parsed.type}"`
            ? parsed.type
            : undefined;
        expect(topLevelType(bytes(text))).toBe(type);
      }),
      { numRuns: 500 },
    );
  });
});

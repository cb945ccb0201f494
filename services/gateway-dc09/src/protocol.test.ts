import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Dc09AccountEntry } from '@telecare/contracts';
import { type DialerEvent, decodeReply, dialerKey, encodeDc09Message } from '@telecare/simulators';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testAccount } from '../test/support.ts';
import { contactIdChecksum, isValidContactId } from './contact-id.ts';
import { crc16Arc } from './crc.ts';
import { Dc09DecryptError, decryptPayload, encryptPayload, keyBytes, padFor } from './crypto.ts';
import { panelTimeOf, readCidData, readSiaData } from './data.ts';
import { ackFrame, formatTimestamp, frameBody, nakFrame, readEnvelope } from './frame.ts';
import { CID_TYPES, mapEvent, SIA_TYPES, unmappedDetail } from './mapping.ts';
import { interpretFrame } from './receiver.ts';

const ascii = (s: string) => Buffer.from(s, 'latin1');

describe('CRC and length against the check values', () => {
  const table = [
    ['"SIA-DCS"0001L0#1234[]', 0x96ed, '0016'],
    ['"ACK"0001L0#1234[]', 0x1bc1, '0012'],
    ['"NULL"0000L0#1234[]_12:00:00,11-22-2026', 0x4b95, '0027'],
    ['"ADM-CID"0002L0#1234[#1234|1101 01 001]_12:00:00,11-22-2026', 0xcd63, '003B'],
  ] as const;
  it.each(table)('%s', (body, crc, length) => {
    expect(crc16Arc(ascii(body))).toBe(crc);
    const framed = frameBody(body);
    expect(framed.subarray(1, 9).toString()).toBe(`${crc.toString(16).toUpperCase()}${length}`);
    const envelope = readEnvelope(framed);
    expect(envelope.ok).toBe(true);
  });

  it('frames the ACK exactly as the example', () => {
    const ack = ackFrame({ seq: '0001', receiver: '', line: 'L0', accountAsSent: '1234' }, new Date());
    expect(ack.toString('latin1')).toBe('\n1BC10012"ACK"0001L0#1234[]\r');
  });

  it('refuses a wrong CRC, a wrong length and bad framing', () => {
    const good = frameBody('"SIA-DCS"0001L0#1234[]');
    const badCrc = Buffer.from(good);
    badCrc[1] = 0x30;
    expect(readEnvelope(badCrc)).toMatchObject({ ok: false, problem: 'crc' });
    const badLength = Buffer.from(good.toString('latin1').replace('0016', '0018'), 'latin1');
    expect(readEnvelope(badLength)).toMatchObject({ ok: false, problem: 'length' });
    // One more than the body is a length that counts the CR (as ELDES sends it): then the CRC must
    // be the body's and its CR's, and this one is not.
    const oneMore = Buffer.from(good.toString('latin1').replace('0016', '0017'), 'latin1');
    expect(readEnvelope(oneMore)).toMatchObject({ ok: false, problem: 'crc' });
    expect(readEnvelope(good.subarray(1))).toMatchObject({ ok: false, problem: 'framing' });
  });

  it('a frame that counts its CR in length and CRC (ELDES) is read; the CR is not part of the body', () => {
    const body = '"ADM-CID"0056L9999#9999[#9999|1900 00 001]';
    const counted = ascii(`${body}\r`);
    const crc = crc16Arc(counted).toString(16).toUpperCase().padStart(4, '0');
    const frame = ascii(`\n${crc}002B${body}\r`);
    expect(readEnvelope(frame)).toMatchObject({ ok: true, body, rest: '#9999|1900 00 001]' });
    // The CRC of the body alone under a length that counts the CR: refused.
    const mixed = ascii(
      `\n${crc16Arc(ascii(body)).toString(16).toUpperCase().padStart(4, '0')}002B${body}\r`,
    );
    expect(readEnvelope(mixed)).toMatchObject({ ok: false, problem: 'crc' });
  });

  it('a binary CRC: read from its two bytes, and every reply framed the same way', () => {
    const body = '"SIA-DCS"0001L0#1234[]';
    const crc = crc16Arc(ascii(body));
    const frame = Buffer.concat([Buffer.from([0x0a, crc >> 8, crc & 0xff]), ascii(`0016${body}\r`)]);
    expect(readEnvelope(frame)).toMatchObject({ ok: true, crcFormat: 'binary', body });
    const wrong = Buffer.from(frame);
    wrong[2] = (wrong[2] as number) ^ 1;
    expect(readEnvelope(wrong)).toMatchObject({ ok: false, problem: 'crc', crcFormat: 'binary' });
    const echo = {
      seq: '0001',
      receiver: '',
      line: 'L0',
      accountAsSent: '1234',
      crcFormat: 'binary' as const,
    };
    for (const reply of [ackFrame(echo, new Date()), nakFrame(new Date(), 'binary')]) {
      const replyBody = reply.subarray(7, reply.length - 1);
      expect(reply[0]).toBe(0x0a);
      expect(reply.readUInt16BE(1)).toBe(crc16Arc(replyBody));
      expect(reply.subarray(3, 7).toString()).toBe(
        replyBody.length.toString(16).toUpperCase().padStart(4, '0'),
      );
      // Framing, CRC and length read back right (a NAK names no account: its header is not ours).
      const read = readEnvelope(reply);
      expect(read.crcFormat).toBe('binary');
      expect(read.ok || read.problem === 'header').toBe(true);
    }
  });

  it('the simulator dialler frames the check values the same way', () => {
    const framed = encodeDc09Message({
      type: 'ADM-CID',
      seq: 2,
      account: '1234',
      events: [{ kind: 'cid', qualifier: 1, code: '101', group: '01', zone: '001' }],
      at: new Date(Date.UTC(2026, 10, 22, 12, 0, 0)),
    });
    expect(framed.toString('latin1')).toBe(
      '\nCD63003B"ADM-CID"0002L0#1234[#1234|1101 01 001]_12:00:00,11-22-2026\r',
    );
  });
});

describe('Contact ID checksum against the examples', () => {
  it.each(['123418110101001B', '1234183101010019', '123418130101000F', '1234181131010158'])(
    '%s',
    (message) => {
      expect(isValidContactId(message)).toBe(true);
      expect(contactIdChecksum(message.slice(0, 15))).toBe(message.slice(15));
      const wrong = `${message.slice(0, 15)}${message[15] === '1' ? '2' : '1'}`;
      expect(isValidContactId(wrong)).toBe(false);
    },
  );
});

describe('AES-CBC with a zero IV', () => {
  // FIPS-197 appendix C: with a zero IV, CBC's first block is the block cipher itself.
  const fips = [
    ['000102030405060708090a0b0c0d0e0f', '69c4e0d86a7b0430d8cdb78070b4c55a'],
    ['000102030405060708090a0b0c0d0e0f1011121314151617', 'dda97ca4864cdfe06eaf70a0ec0d7191'],
    ['000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', '8ea2b7ca516745bfeafc49904b496089'],
  ] as const;
  it.each(fips)('hex key %s picks the right AES and matches FIPS-197', (hexKey, expected) => {
    const key = keyBytes(hexKey, 'hex');
    const cipher = createCipheriv(`aes-${key.length * 8}-cbc`, key, Buffer.alloc(16)).setAutoPadding(false);
    const out = Buffer.concat([
      cipher.update(Buffer.from('00112233445566778899aabbccddeeff', 'hex')),
      cipher.final(),
    ]);
    expect(out.toString('hex')).toBe(expected);
  });

  it('ascii keys take the string bytes; wrong lengths are refused', () => {
    expect(keyBytes('0123456789abcdef', 'ascii')).toHaveLength(16);
    expect(keyBytes('0123456789abcdef01234567', 'ascii')).toHaveLength(24);
    expect(() => keyBytes('short', 'ascii')).toThrow();
    expect(() => keyBytes('zz', 'hex')).toThrow();
  });

  it('round-trips any content under any key size, and the dialler agrees', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(16, 24, 32),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ unit: fc.constantFrom(...'#|ABC0123_:,- '.split('')), maxLength: 60 }),
        fc.constantFrom('', '[X1]', '[IA|B]'),
        (size, seed, data, xdata) => {
          // An encrypted message ends with its timestamp (what proves the key).
          const content = `${data}]${xdata}_12:00:00,11-22-2026`;
          const key = Buffer.from(seed.subarray(0, size));
          const hex = encryptPayload(content, key);
          expect(hex.length % 32).toBe(0);
          const read = decryptPayload(hex, key);
          if (!data.includes('|')) expect(read).toBe(content);
          else {
            // A pad may hold `|` too, so the pad ends at the first `|` after which the content
            // reads as data: data that does not (`A|`, `#|`) may be read from a tail after one of
            // its own `|` in the first block that does (``, a Contact ID event), never elsewhere.
            expect(
              read === content || (content.endsWith(`|${read}`) && read.length > content.length - 17),
            ).toBe(true);
          }
        },
      ),
    );
  });

  it('finds DC-09 data behind a pad of any bytes but [ and ], | included', () => {
    const TS = '_12:00:00,11-22-2026';
    const padByte = fc.integer({ min: 0, max: 255 }).filter((b) => b !== 0x5b && b !== 0x5d);
    fc.assert(
      fc.property(
        fc.constantFrom(16, 24, 32),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom(
          '#1234|1101 01 001',
          '#001234|Nri1/MA01^Hall^',
          '1234|E130 01 015/R130 01 015',
          '#1234|Nri1/MA01|AFell in hall|',
          '#0000|Npi0/AT',
          '',
        ),
        fc.array(padByte, { minLength: 16, maxLength: 16 }),
        fc.boolean(),
        (size, seed, data, bytes, fullBlock) => {
          const content = `${data}]${TS}`;
          let length = (16 - ((content.length + 1) % 16)) % 16;
          if (length === 0 && fullBlock) length = 16;
          const pad = Buffer.from(bytes.slice(0, length));
          const key = Buffer.from(seed.subarray(0, size));
          const plain = Buffer.concat([pad, Buffer.from(`|${content}`, 'latin1')]);
          const cipher = createCipheriv(`aes-${size * 8}-cbc`, key, Buffer.alloc(16)).setAutoPadding(false);
          const hex = Buffer.concat([cipher.update(plain), cipher.final()]).toString('hex');
          expect(decryptPayload(hex, key)).toBe(content);
        },
      ),
      { numRuns: 500 },
    );
  });

  describe('every pad a sender can draw decodes, and a wrong key never does', () => {
    const TS = fc
      .date({
        min: new Date(Date.UTC(2000, 0, 1)),
        max: new Date(Date.UTC(2099, 11, 31)),
        noInvalidDate: true,
      })
      .map((at) => formatTimestamp(at));
    const data = fc.constantFrom(
      '',
      '#1234|1101 01 001',
      '#1234|1101 01 001/3101 01 001',
      '#001234|Nri1/MA01^Hall^',
      '#1234|Nri1/MA01|AFell in hall|',
      '#0000|Npi0/AT',
      'Nri1MA1',
      '#1234|Nri2MA1FA3/ri3AT^Bed [2]^',
    );
    const xdata = fc.constantFrom('', '[X1W2.3]', '[Iliving room][M00:11:22]');
    /** The standard's alphabet: anything but `|`, `[` and `]`. */
    const standardByte = fc
      .integer({ min: 0, max: 255 })
      .filter((b) => b !== 0x7c && b !== 0x5b && b !== 0x5d);
    /**
     * What senders that draw from every byte send: `|` and `]` among them, any number of each. Not
     * `[`: after a `]` it would be extended data, and nothing tells it from the sender's.
     */
    const anyByte = fc.oneof(
      fc.integer({ min: 0, max: 255 }).filter((b) => b !== 0x5b),
      fc.constantFrom(0x7c, 0x5d, 0x5e, 0x5f, 0x23),
    );
    const plainOf = (pad: readonly number[], fullBlock: boolean, content: string) => {
      let length = (16 - ((content.length + 1) % 16)) % 16;
      if (length === 0 && fullBlock) length = 16;
      return Buffer.concat([Buffer.from(pad.slice(0, length)), Buffer.from(`|${content}`, 'latin1')]);
    };
    const encrypt = (key: Buffer, plain: Buffer) => {
      const cipher = createCipheriv(`aes-${key.length * 8}-cbc`, key, Buffer.alloc(16)).setAutoPadding(false);
      return Buffer.concat([cipher.update(plain), cipher.final()]).toString('hex');
    };
    const cases = (padByte: fc.Arbitrary<number>) =>
      fc.tuple(
        fc.constantFrom(16, 24, 32),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        data,
        xdata,
        TS,
        fc.array(padByte, { minLength: 16, maxLength: 16 }),
        fc.boolean(),
      );

    it.each([
      ['the standard’s alphabet', standardByte],
      ['any byte but [, | and ] included', anyByte],
    ] as const)('a pad drawn from %s', (_name, padByte) => {
      fc.assert(
        fc.property(cases(padByte), ([size, seed, data, xdata, ts, pad, fullBlock]) => {
          const content = `${data}]${xdata}${ts}`;
          const key = Buffer.from(seed.subarray(0, size));
          expect(decryptPayload(encrypt(key, plainOf(pad, fullBlock, content)), key, '1234')).toBe(content);
        }),
        { numRuns: 2000 },
      );
    });

    it('a pad ending in N| before SIA data without an account (an N block with nothing in it is no data)', () => {
      const key = Buffer.alloc(16);
      const content = 'Nri1MA1][Iliving room][M00:11:22]_00:00:00,01-01-2000';
      const pad = Buffer.from([0, 0, 0x7c, 0, 0x7c, 0x7c, 0, 0, 0x7c, 0x4e]);
      const plain = Buffer.concat([pad, Buffer.from(`|${content}`, 'latin1')]);
      expect(plain.length % 16).toBe(0);
      expect(decryptPayload(encrypt(key, plain), key, '1234')).toBe(content);
    });

    it('a pad holding | then ] (the case that was read as the data)', () => {
      const key = Buffer.from('000102030405060708090A0B0C0D0E0F', 'hex');
      const content = '#1234|1101 01 001]_12:00:00,11-22-2026';
      const plain = Buffer.concat([
        Buffer.from('a|b]c\u0001]x|', 'latin1'),
        Buffer.from(`|${content}`, 'latin1'),
      ]);
      expect(plain.length % 16).toBe(0);
      expect(decryptPayload(encrypt(key, plain), key, '1234')).toBe(content);
    });

    it('under another key, whatever the pad, it is refused', () => {
      fc.assert(
        fc.property(
          cases(anyByte),
          fc.uint8Array({ minLength: 32, maxLength: 32 }),
          ([size, seed, data, xdata, ts, pad, fullBlock], other) => {
            const key = Buffer.from(seed.subarray(0, size));
            const wrong = Buffer.from(other.subarray(0, size));
            fc.pre(!wrong.equals(key));
            const hex = encrypt(key, plainOf(pad, fullBlock, `${data}]${xdata}${ts}`));
            expect(() => decryptPayload(hex, wrong, '1234')).toThrow(Dc09DecryptError);
            // Nor taken for a frame changed without the key (a security event): a wrong key is a wrong key.
            expect(() => decryptPayload(hex, wrong, '1234')).toThrow(
              expect.objectContaining({ tampered: false }),
            );
          },
        ),
        { numRuns: 2000 },
      );
    });
  });

  it('is AES-CBC with a zero IV, the same under a key used again and again', () => {
    // The gateway keeps a key's cipher between frames: nothing of one frame may reach the next.
    const keys = [16, 24, 32].map((size) =>
      Buffer.from(Array.from({ length: size }, (_, i) => i * 7 + size)),
    );
    const cbc = (key: Buffer) => `aes-${key.byteLength * 8}-cbc`;
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1, 2),
        // No `|` in the data: this is about the cipher, not where a pad ends (the tests above).
        fc.string({ unit: fc.constantFrom(...'#ABC0123_:,- '.split('')), maxLength: 80 }),
        (which, data) => {
          const key = keys[which] as Buffer;
          const content = `${data}]_12:00:00,11-22-2026`;
          const pad = padFor(content.length);
          const hex = encryptPayload(content, key, pad);
          const reference = createCipheriv(cbc(key), key, Buffer.alloc(16)).setAutoPadding(false);
          const plain = Buffer.from(`${pad}|${content}`, 'latin1');
          expect(hex).toBe(
            Buffer.concat([reference.update(plain), reference.final()])
              .toString('hex')
              .toUpperCase(),
          );
          expect(decryptPayload(hex, key)).toBe(content);
          const other = createDecipheriv(cbc(key), key, Buffer.alloc(16)).setAutoPadding(false);
          const text = Buffer.concat([other.update(Buffer.from(hex, 'hex')), other.final()]).toString(
            'latin1',
          );
          expect(text).toBe(`${pad}|${content}`);
        },
      ),
      { numRuns: 300 },
    );
    // A pad that leaves a part block is refused, and leaves the key's cipher as it was.
    expect(() => encryptPayload(']x', keys[0] as Buffer, 'AB')).toThrow();
    const poll = ']_12:00:00,11-22-2026';
    expect(decryptPayload(encryptPayload(poll, keys[0] as Buffer), keys[0] as Buffer)).toBe(poll);
  });

  it('a pad with no | after it: read from the first ], only when a timestamp ends it', () => {
    const key = Buffer.from('AAAAAAAAAAAAAAAA');
    const raw = (plain: string) => {
      const cipher = createCipheriv('aes-128-cbc', key, Buffer.alloc(16)).setAutoPadding(false);
      return Buffer.concat([cipher.update(Buffer.from(plain, 'latin1')), cipher.final()])
        .toString('hex')
        .toUpperCase();
    };
    // As a Hikvision hub sends its encrypted poll.
    expect(decryptPayload(raw('ppppppppppp]_18:24:52,07-05-2020'), key)).toBe(']_18:24:52,07-05-2020');
    expect(decryptPayload(raw(`${'p'.repeat(7)}][Ix]_18:24:52,07-05-2020`), key)).toBe(
      '][Ix]_18:24:52,07-05-2020',
    );
    // No pad is longer than a block: a garbled block (a bit flip in the one before) is no pad.
    expect(() => decryptPayload(raw(`${'p'.repeat(23)}][Ix]_18:24:52,07-05-2020`), key)).toThrow(/separator/);
    // But a block and a byte, as the dc09_spt library pads one message length in 16; not two.
    const text = (x: number) => `][I${'x'.repeat(x)}]_18:24:52,07-05-2020`;
    expect(decryptPayload(raw(`${'p'.repeat(17)}|${text(6)}`), key)).toBe(text(6));
    expect(() => decryptPayload(raw(`${'p'.repeat(18)}|${text(5)}`), key)).toThrow(/separator/);
    // Without the timestamp nothing tells pad from content: refused, as a wrong key is.
    expect(() => decryptPayload(raw('ppppppppppppppp]'), key)).toThrow(/timestamp/);
    expect(() => decryptPayload(raw('ppppp[ppppp]_18:24:52,07-05-2020'), key)).toThrow(/separator/);
  });
});

describe('data', () => {
  it('reads Contact ID and SIA events, several in one message', () => {
    expect(readCidData('#1234|1101 01 001/3101 01 001')).toEqual([
      { protocol: 'CID', qualifier: '1', code: '101', area: '01', zone: '001' },
      { protocol: 'CID', qualifier: '3', code: '101', area: '01', zone: '001' },
    ]);
    expect(readSiaData('#1234|Nri1/MA01/id12/QA02^help^')).toEqual([
      { protocol: 'SIA', code: 'MA', zone: '01', area: '1' },
      { protocol: 'SIA', code: 'QA', zone: '02', area: '1', modifiers: { id: '12' }, text: 'help' },
    ]);
  });

  it('text after a modifier names its value, and stays with it until the modifier changes', () => {
    expect(readSiaData("#7878|Nri01^TOTAL^/LX901^centrale d'alarme JA-106K(R)^")).toEqual([
      {
        protocol: 'SIA',
        code: 'LX',
        zone: '901',
        area: '01',
        areaText: 'TOTAL',
        text: "centrale d'alarme JA-106K(R)",
      },
    ]);
    expect(readSiaData('Nri1^Home^id3^Ann^OP1MA2/ri2FA3')).toEqual([
      {
        protocol: 'SIA',
        code: 'OP',
        zone: '1',
        area: '1',
        areaText: 'Home',
        modifiers: { id: '3' },
        modifierText: { id: 'Ann' },
      },
      {
        protocol: 'SIA',
        code: 'MA',
        zone: '2',
        area: '1',
        areaText: 'Home',
        modifiers: { id: '3' },
        modifierText: { id: 'Ann' },
      },
      {
        protocol: 'SIA',
        code: 'FA',
        zone: '3',
        area: '2',
        modifiers: { id: '3' },
        modifierText: { id: 'Ann' },
      },
    ]);
    // Text at the head of a block, before any modifier or event, is still the next event's.
    expect(readSiaData('N^Kitchen^FA1^Hall^FA2')).toMatchObject([{ text: 'Kitchen' }, { text: 'Hall' }]);
  });

  it('maps new, restore and still-present, and per-account overrides win', () => {
    const cid = (qualifier: string, code: string) => ({
      protocol: 'CID' as const,
      qualifier,
      code,
      zone: '001',
    });
    expect(mapEvent(cid('1', '101'))).toEqual({ type: 'pendant.pressed' });
    // A pendant's restore is its zone back to normal, never the resident's cancel (406).
    expect(mapEvent(cid('3', '101'))).toEqual({ type: 'alarm.restored', condition: 'restore' });
    expect(mapEvent(cid('1', '406'))).toEqual({ type: 'alarm.cancelled' });
    expect(mapEvent(cid('3', '120'), { 'CID 120': 'fall.detected' })).toEqual({
      type: 'alarm.restored',
      condition: 'restore',
    });
    expect(mapEvent(cid('3', '110'))).toEqual({ type: 'smoke.restored', condition: 'restore' });
    expect(mapEvent(cid('6', '301'))).toEqual({ type: 'mains.lost', condition: 'still-present' });
    expect(mapEvent(cid('3', '301'))).toEqual({ type: 'mains.restored', condition: 'restore' });
    expect(mapEvent(cid('1', '120'), { 'CID 120': 'fall.detected' })).toEqual({ type: 'fall.detected' });
    expect(mapEvent(cid('1', '999'))).toBeUndefined();
    expect(mapEvent({ protocol: 'SIA', code: 'QA', zone: '' })).toEqual({ type: 'pendant.pressed' });
    expect(mapEvent({ protocol: 'SIA', code: 'MA', zone: '' }, { 'SIA MA': 'fall.detected' })).toEqual({
      type: 'fall.detected',
    });
    expect(mapEvent({ protocol: 'SIA', code: 'ZZ', zone: '' })).toBeUndefined();
    expect(mapEvent({ protocol: 'SIA', code: 'OC', zone: '' })).toEqual({ type: 'alarm.cancelled' });
    // A panel's radio jammed (a jammer's first mark: no pendant gets through), its sensors tampered
    // with, its battery missing: technical faults an operator acts on, not unmapped records.
    expect(mapEvent(cid('1', '344'))).toEqual({ type: 'rf.jammed' });
    expect(mapEvent(cid('3', '344'))).toEqual({ type: 'rf.restored', condition: 'restore' });
    expect(mapEvent({ protocol: 'SIA', code: 'XQ', zone: '' })).toEqual({ type: 'rf.jammed' });
    expect(mapEvent({ protocol: 'SIA', code: 'XH', zone: '' })).toEqual({ type: 'rf.restored' });
    for (const code of ['137', '144']) {
      expect(mapEvent(cid('1', code))).toEqual({ type: 'device.tamper' });
      expect(mapEvent(cid('3', code))).toEqual({ type: 'tamper.restored', condition: 'restore' });
    }
    expect(mapEvent(cid('1', '311'))).toEqual({ type: 'battery.low' });
    // A hold-up is DC-03's silent alarm of a user under duress, Contact ID 121's: a call for help.
    expect(mapEvent({ protocol: 'SIA', code: 'HA', zone: '' })).toEqual({ type: 'pendant.pressed' });
    expect(mapEvent({ protocol: 'SIA', code: 'HH', zone: '' })).toEqual({ type: 'alarm.restored' });
  });

  it('maps the Contact ID codes of a fire by another sensor, duress at a door, a cut line and a missed check-in', () => {
    const cid = (code: string, qualifier = '1') =>
      mapEvent({ protocol: 'CID', qualifier, code, zone: '001' })?.type;
    // Combustion, a manual call point, a flame: fires, as 110 and 111 are.
    for (const code of ['112', '115', '117']) {
      expect(cid(code), code).toBe('smoke.detected');
      expect(cid(code, '3'), code).toBe('smoke.restored');
    }
    // Duress at a door (access or egress granted under threat): a call for help, as 121 is.
    for (const code of ['124', '125']) expect(cid(code), code).toBe('pendant.pressed');
    expect(cid('145')).toBe('device.tamper');
    // A sensor's supervision failure, the radio's supervision lost: recorded, triage derives its own.
    for (const code of ['147', '355']) expect(cid(code), code).toBe('supervision.lost');
    expect(cid('153')).toBe('temperature.low');
    // Telco line 1 or 2 faulty, central polling lost: the path to the receiver failing, as 350.
    for (const code of ['351', '352', '356']) {
      expect(cid(code), code).toBe('line.fault');
      expect(cid(code, '3'), code).toBe('line.restored');
    }
    // A periodic radio check-in, a periodic test sent with a trouble present: they prove the link.
    for (const code of ['603', '608']) expect(cid(code), code).toBe('test.periodic');
  });

  it('maps the DC-03 codes of a silent home, a cut line, a tamper while disarmed and a missing battery', () => {
    const sia = (code: string) => mapEvent({ protocol: 'SIA', code, zone: '1' })?.type;
    // No activity for the panel's programmed time is its senior watch (Contact ID 641/654's), and
    // activity resumed its restore: recorded, as triage derives its own inactivity from the home.
    expect(sia('NA')).toBe('inactivity.unusual');
    expect(sia('NS')).toBe('motion');
    // A phone line or network cut is the panel's path to us failing: a line fault, as YC/YS.
    for (const code of ['LT', 'NT']) expect(sia(code), code).toBe('line.fault');
    for (const code of ['LR', 'NR']) expect(sia(code), code).toBe('line.restored');
    // A tamper while disarmed (TT) or at the panel's radio receiver (XS) is still a tamper.
    for (const code of ['TT', 'XS']) expect(sia(code), code).toBe('device.tamper');
    for (const code of ['TH', 'TJ', 'XJ']) expect(sia(code), code).toBe('tamper.restored');
    expect(sia('YM')).toBe('battery.low');
    // An unspecified communicator test proves the link as RP does.
    expect(sia('TX')).toBe('test.periodic');
  });

  it("maps a DC-03 zone restoral (alarm or trouble eliminated) as its kind's alarm restore where that alarm is mapped, and never a personal alarm's restore as a cancel", () => {
    const sia = (code: string) => mapEvent({ protocol: 'SIA', code, zone: '1' });
    // Burglary, fire, gas, hold-up, heat, medical, panic, emergency, sprinkler, untyped, water, freeze.
    const mapped: string[] = [];
    for (const kind of 'BFGHKMPQSUWZ') {
      const restoral = sia(`${kind}R`);
      if (SIA_TYPES[`${kind}A`] === undefined) expect(restoral, `${kind}R`).toBeUndefined();
      else {
        expect(restoral, `${kind}R`).toEqual(sia(`${kind}H`));
        mapped.push(`${kind}R ${restoral?.type}`);
      }
    }
    expect(mapped).toEqual([
      'FR smoke.restored',
      'GR gas.restored',
      'HR alarm.restored',
      'KR heat.restored',
      'MR alarm.restored',
      'PR alarm.restored',
      'QR alarm.restored',
      'SR smoke.restored',
      'UR alarm.restored',
      'WR flood.restored',
      'ZR temperature',
    ]);
    // A restore or restoral is the zone back to normal, which a panel may send by itself as a
    // button is let go: taken as a cancel it closed the press as a false alarm. No SIA restore is.
    const cancels = Object.entries(SIA_TYPES).filter(([, type]) => type === 'alarm.cancelled');
    expect(cancels.map(([code]) => code)).toEqual(['OC']);
  });
});

describe('Contact ID restores', () => {
  const cid = (qualifier: string, code: string) => ({
    protocol: 'CID' as const,
    qualifier,
    code,
    zone: '001',
  });

  it('every code in the table maps as new, restore and still present, but a cancel has nothing to restore', () => {
    for (const code of Object.keys(CID_TYPES)) {
      for (const qualifier of ['1', '3', '6'])
        if (code === '406' && qualifier === '3') expect(mapEvent(cid(qualifier, code))).toBeUndefined();
        else expect(mapEvent(cid(qualifier, code)), `${qualifier}${code}`).toBeDefined();
    }
  });

  it("no restore is ever the resident's cancel: only 406 is", () => {
    for (const code of Object.keys(CID_TYPES))
      expect(mapEvent(cid('3', code))?.type, `3${code}`).not.toBe('alarm.cancelled');
    const cancels = Object.keys(CID_TYPES).filter(
      (code) => mapEvent(cid('1', code))?.type === 'alarm.cancelled',
    );
    expect(cancels).toEqual(['406']);
  });

  it('a record type restores as itself, senior-watch inactivity as motion, supervision as restored', () => {
    expect(mapEvent(cid('3', '602'))).toEqual({ type: 'test.periodic', condition: 'restore' });
    expect(mapEvent(cid('3', '601'))).toEqual({ type: 'test.manual', condition: 'restore' });
    expect(mapEvent(cid('3', '641'))).toEqual({ type: 'motion', condition: 'restore' });
    expect(mapEvent(cid('3', '381'))).toEqual({ type: 'supervision.restored', condition: 'restore' });
    expect(mapEvent(cid('3', '158'))).toEqual({ type: 'temperature', condition: 'restore' });
  });

  it('a code overridden onto a wellbeing alert with no restore type is not understood, and says why', () => {
    const overrides = { 'CID 150': 'medication.missed' as const };
    expect(mapEvent(cid('1', '150'), overrides)).toEqual({ type: 'medication.missed' });
    expect(mapEvent(cid('3', '150'), overrides)).toBeUndefined();
    expect(unmappedDetail(cid('3', '150'), overrides)).toBe(
      'CID 3150: medication.missed has no restore type',
    );
    expect(unmappedDetail(cid('1', '999'))).toBe('unknown code CID 1999');
    // A cancel restores nothing: recorded as unmapped, never a second cancel.
    expect(mapEvent(cid('3', '406'))).toBeUndefined();
    expect(unmappedDetail(cid('3', '406'))).toBe('CID 3406: alarm.cancelled has no restore type');
  });
});

const NOW = new Date(Date.UTC(2026, 10, 22, 12, 0, 0));
const account = (overrides: Partial<Dc09AccountEntry> = {}): Dc09AccountEntry =>
  testAccount('1234', { serial: 'DC09-UNIT-1', residentId: 'res_test', ...overrides });
const ctx = (entry: Dc09AccountEntry | undefined) => ({
  now: NOW,
  window: { behindMs: 40_000, aheadMs: 20_000 },
  partitions: 4,
  keyless: 'allow' as const,
  lookup: (acct: string) => (entry && acct === entry.account ? entry : undefined),
});
const HEX_KEY = '000102030405060708090A0B0C0D0E0F';

describe('interpreting a frame', () => {
  it('an ADM-CID pendant press becomes one event with its source code', async () => {
    const frame = frameBody('"ADM-CID"0002L0#1234[#1234|1101 01 001]_12:00:00,11-22-2026');
    const out = await interpretFrame(frame, ctx(account()));
    expect(out.reply).toBe('ACK');
    // The pendant press, and the heartbeat every accepted frame carries for supervision.
    expect(out.events.map((e) => e.type)).toEqual(['pendant.pressed', 'heartbeat']);
    expect(out.events[0]).toMatchObject({
      type: 'pendant.pressed',
      sourcecode: 'CID 1101',
      subject: 'DC09-UNIT-1',
      source: '/gateway-dc09',
      time: NOW.toISOString(),
    });
  });

  it('NAKs an unknown account, a bad timestamp and a stale one; ACKs an unmapped code; DUHs unreadable data', async () => {
    const press = frameBody('"ADM-CID"0002L0#1234[#1234|1101 01 001]_12:00:00,11-22-2026');
    expect((await interpretFrame(press, ctx(undefined))).reply).toBe('NAK');
    const stale = frameBody('"ADM-CID"0002L0#1234[#1234|1101 01 001]_11:59:19,11-22-2026');
    const nak = await interpretFrame(stale, ctx(account()));
    expect(nak.reply).toBe('NAK');
    expect(nak.replyFrame.toString('latin1')).toContain('"NAK"0000R0L0A0[]_12:00:00,11-22-2026');
    const ahead = frameBody('"ADM-CID"0002L0#1234[#1234|1101 01 001]_12:00:21,11-22-2026');
    expect((await interpretFrame(ahead, ctx(account()))).reply).toBe('NAK');
    const unknown = frameBody('"ADM-CID"0003L0#1234[#1234|1999 01 001]_12:00:00,11-22-2026');
    const unmapped = await interpretFrame(unknown, ctx(account()));
    expect(unmapped.reply).toBe('ACK');
    expect(unmapped.events.map((e) => e.type)).toEqual(['code.unmapped', 'heartbeat']);
    const unreadable = frameBody('"ADM-CID"0003L0#1234[#1234|hello]_12:00:00,11-22-2026');
    const duh = await interpretFrame(unreadable, ctx(account()));
    expect(duh.reply).toBe('DUH');
    expect(duh.refusal?.reason).toBe('bad-frame');
    expect(duh.events.map((e) => e.type)).toEqual(['heartbeat']);
  });

  it('a frame changed without the key is refused as such, with the current key or the previous one in its grace; a wrong key is not', async () => {
    const OLD = '0F0E0D0C0B0A09080706050403020100';
    const content = '#1234|1101 01 001]_12:00:00,11-22-2026';
    const flipped = (key: string) => {
      const hex = encryptPayload(content, keyBytes(key, 'hex'), 'ppppppppp');
      const bytes = Buffer.from(hex, 'hex');
      // The qualifier (the 17th byte, in the second block) from 1 to 3: the first block garbled.
      bytes[0] = (bytes[0] as number) ^ 0x02;
      return frameBody(`"*ADM-CID"0009L0#1234[${bytes.toString('hex').toUpperCase()}`);
    };
    const inGrace = account({
      key: HEX_KEY,
      previousKey: { key: OLD, keyEncoding: 'hex', until: new Date(NOW.getTime() + 3600_000).toISOString() },
    });
    for (const key of [HEX_KEY, OLD]) {
      const out = await interpretFrame(flipped(key), ctx(inGrace));
      expect(out).toMatchObject({ reply: 'NAK', forged: 'garbled', events: [] });
    }
    const stranger = frameBody(
      `"*ADM-CID"0009L0#1234[${encryptPayload(content, keyBytes('00112233445566778899AABBCCDDEEFF', 'hex'))}`,
    );
    const wrong = await interpretFrame(stranger, ctx(inGrace));
    expect(wrong.reply).toBe('NAK');
    expect(wrong.forged).toBeUndefined();
  });

  it('a flip read after a | that a pad of a block and a byte could end at is refused as such', async () => {
    // Pad 11: `|#1234|` ends at the 18th byte, where a dc09_spt pad's `|` may stand. The qualifier
    // (the 19th byte) flipped from 1 to 3 garbles the first block; read from that `|`, the content
    // names no account before its event, so it is no sender's.
    const content = `#1234|1101 01 001][I${'x'.repeat(11)}]_12:00:00,11-22-2026`;
    const hex = encryptPayload(content, keyBytes(HEX_KEY, 'hex'), 'p'.repeat(11));
    const genuine = await interpretFrame(
      frameBody(`"*ADM-CID"0009L0#1234[${hex}`),
      ctx(account({ key: HEX_KEY })),
    );
    expect(genuine.reply).toBe('ACK');
    const bytes = Buffer.from(hex, 'hex');
    bytes[2] = (bytes[2] as number) ^ 0x02;
    const frame = frameBody(`"*ADM-CID"0010L0#1234[${bytes.toString('hex').toUpperCase()}`);
    const out = await interpretFrame(frame, ctx(account({ key: HEX_KEY })));
    expect(out).toMatchObject({ reply: 'NAK', forged: 'garbled', events: [] });
  });

  it('a refusal says what is wrong in its own words, never quoting the sender (zone text may be personal)', async () => {
    const marker = 'Mrs Jones';
    const at = '_12:00:00,11-22-2026';
    const key = keyBytes(HEX_KEY, 'hex');
    const frames: Array<[string, Buffer]> = [
      ['Contact ID data', frameBody(`"ADM-CID"0003L0#1234[#1234|${marker} fell]${at}`)],
      ['a SIA block', frameBody(`"SIA-DCS"0003L0#1234[#1234|X${marker}]${at}`)],
      ['a SIA item', frameBody(`"SIA-DCS"0003L0#1234[#1234|Nri1*${marker}]${at}`)],
      ['a timestamp', frameBody(`"SIA-DCS"0003L0#1234[#1234|Nri1MA1]_${marker}`)],
      ['decrypted data', frameBody(`"*SIA-DCS"0003L0#1234[${encryptPayload(`#1234|X${marker}]${at}`, key)}`)],
    ];
    for (const [what, frame] of frames) {
      const keyed = what === 'decrypted data' ? { key: HEX_KEY } : {};
      const out = await interpretFrame(frame, ctx(account(keyed)));
      expect(out.refusal, what).toBeDefined();
      expect(out.refusal?.detail, what).not.toContain(marker);
      expect(out.refusal?.detail, what).not.toContain('Jones');
    }
    // The header's fields too: what stands where a CRC or a length should is not repeated.
    const good = frameBody('"SIA-DCS"0001L0#1234[]').toString('latin1');
    for (const bad of [`\nJone${good.slice(5)}`, `${good.slice(0, 5)}Jone${good.slice(9)}`]) {
      const envelope = readEnvelope(Buffer.from(bad, 'latin1'));
      expect(envelope.ok).toBe(false);
      if (!envelope.ok) expect(envelope.detail).not.toContain('Jone');
    }
  });

  it('decrypts with the right key and answers with an encrypted ACK; NAKs the wrong key', async () => {
    const key = dialerKey(HEX_KEY, 'hex');
    const frame = encodeDc09Message({
      type: 'SIA-DCS',
      seq: 7,
      account: '1234',
      events: [{ kind: 'sia', code: 'QA', zone: '01' }],
      at: NOW,
      key,
    });
    const out = await interpretFrame(frame, ctx(account({ key: HEX_KEY })));
    expect(out.reply).toBe('ACK');
    expect(out.events[0]?.sourcecode).toBe('SIA QA');
    const reply = decodeReply(out.replyFrame, key);
    expect(reply).toMatchObject({ type: 'ACK', seq: '0007', at: NOW });
    const wrong = await interpretFrame(frame, ctx(account({ key: 'F0E0D0C0B0A090807060504030201000' })));
    expect(wrong.reply).toBe('NAK');
    expect(wrong.events).toHaveLength(0);
    const ascii = await interpretFrame(
      encodeDc09Message({
        type: 'NULL',
        seq: 1,
        account: '1234',
        events: [],
        at: NOW,
        key: dialerKey('0123456789abcdef', 'ascii'),
      }),
      ctx(account({ key: '0123456789abcdef', keyEncoding: 'ascii' })),
    );
    expect(ascii.reply).toBe('ACK');
    expect(ascii.events.map((e) => e.type)).toEqual(['heartbeat']);
  });

  it('a retransmission (new padding) is the same events', async () => {
    const key = dialerKey(HEX_KEY, 'hex');
    const send = () =>
      encodeDc09Message({
        type: 'ADM-CID',
        seq: 9,
        account: '1234',
        events: [{ kind: 'cid', qualifier: 1, code: '101' }],
        at: NOW,
        key,
      });
    const a = await interpretFrame(send(), ctx(account({ key: HEX_KEY })));
    const b = await interpretFrame(send(), ctx(account({ key: HEX_KEY })));
    expect(a.events[0]?.id).toBe(b.events[0]?.id);
  });
});

describe('SIA ti/da: when the event happened', () => {
  const REF = new Date(Date.UTC(2026, 10, 22, 12, 0, 0));
  it('reads ti and da, in UTC; ti alone takes the message date, or the day before', () => {
    expect(panelTimeOf({ ti: '11:42:05', da: '11-22-26' }, REF, 20_000)).toEqual(
      new Date(Date.UTC(2026, 10, 22, 11, 42, 5)),
    );
    expect(panelTimeOf({ ti: '09:30', da: '11-21-2026' }, REF, 20_000)).toEqual(
      new Date(Date.UTC(2026, 10, 21, 9, 30, 0)),
    );
    expect(panelTimeOf({ ti: '11:59' }, REF, 20_000)).toEqual(new Date(Date.UTC(2026, 10, 22, 11, 59, 0)));
    const afterMidnight = new Date(Date.UTC(2026, 10, 22, 0, 30, 0));
    expect(panelTimeOf({ ti: '23:50' }, afterMidnight, 20_000)).toEqual(
      new Date(Date.UTC(2026, 10, 21, 23, 50, 0)),
    );
  });

  it('ti alone just after midnight, a clock a few seconds ahead of the message, is the next day, not a day old', () => {
    // A communicator stamps the message by its own clock; the panel's ti by the panel's.
    const beforeMidnight = new Date(Date.UTC(2026, 10, 22, 23, 59, 55));
    expect(panelTimeOf({ ti: '00:00:05' }, beforeMidnight, 20_000)).toEqual(
      new Date(Date.UTC(2026, 10, 23, 0, 0, 5)),
    );
    expect(panelTimeOf({ ti: '00:00' }, beforeMidnight, 20_000)).toEqual(
      new Date(Date.UTC(2026, 10, 23, 0, 0, 0)),
    );
    // Further ahead than the window allows: not believed, as on any other day.
    expect(panelTimeOf({ ti: '00:01' }, beforeMidnight, 20_000)).toBeUndefined();
  });

  it('ti alone ahead of the message (a clock running fast, or on summer time) is not believed, not a day old', () => {
    expect(panelTimeOf({ ti: '12:01' }, REF, 20_000)).toBeUndefined();
    expect(panelTimeOf({ ti: '12:02:30' }, REF, 20_000)).toBeUndefined();
    expect(panelTimeOf({ ti: '13:00' }, REF, 20_000)).toBeUndefined();
    expect(panelTimeOf({ ti: '14:00:00' }, REF, 20_000)).toBeUndefined();
    // Hours behind are the same day's still.
    expect(panelTimeOf({ ti: '00:10' }, REF, 20_000)).toEqual(new Date(Date.UTC(2026, 10, 22, 0, 10, 0)));
  });

  it('is not believed when unreadable, ahead of the message, more than a week old, or a date alone', () => {
    expect(panelTimeOf(undefined, REF, 20_000)).toBeUndefined();
    expect(panelTimeOf({ da: '11-22-26' }, REF, 20_000)).toBeUndefined();
    expect(panelTimeOf({ ti: '25:00' }, REF, 20_000)).toBeUndefined();
    expect(panelTimeOf({ ti: '12:00', da: '02-30-26' }, REF, 20_000)).toBeUndefined();
    expect(panelTimeOf({ ti: '13:00', da: '11-22-26' }, REF, 20_000)).toBeUndefined();
    expect(panelTimeOf({ ti: '12:00', da: '11-01-26' }, REF, 20_000)).toBeUndefined();
  });

  it('sets the time of each event from the modifiers before it; others keep the message time', async () => {
    const frame = frameBody(
      '"SIA-DCS"0004L0#1234[#1234|Nri1/ti11:42:05/da11-22-26/MA01/ti25:00/AT00]_12:00:00,11-22-2026',
    );
    const out = await interpretFrame(frame, ctx(account()));
    expect(out.reply).toBe('ACK');
    expect(out.events.filter((e) => e.type !== 'heartbeat').map((e) => [e.type, e.time])).toEqual([
      ['pendant.pressed', '2026-11-22T11:42:05.000Z'],
      ['mains.lost', NOW.toISOString()],
    ]);
    expect(out.events[0]?.data.modifiers).toEqual({ ti: '11:42:05', da: '11-22-26' });
  });
});

describe("the account's device kind and the DUH", () => {
  it('events carry the kind the registry gave the account, else home-unit', async () => {
    const frame = frameBody('"SIA-DCS"0005L0#1234[#1234|NFA01]_12:00:00,11-22-2026');
    const given = await interpretFrame(frame, ctx(account({ kind: 'smoke-detector' })));
    expect(given.events[0]).toMatchObject({ type: 'smoke.detected', devicekind: 'smoke-detector' });
    const older = await interpretFrame(frame, ctx(account()));
    expect(older.events[0]?.devicekind).toBe('home-unit');
  });

  it('an encrypted message with data we cannot read gets a plain DUH echoing it', async () => {
    const key = dialerKey(HEX_KEY, 'hex');
    const frame = frameBody(
      `"*ADM-CID"0012L0#1234[${encryptPayload('#1234|hello]_12:00:00,11-22-2026', key)}`,
    );
    const out = await interpretFrame(frame, ctx(account({ key: HEX_KEY })));
    expect(out.reply).toBe('DUH');
    expect(out.replyFrame.toString('latin1')).toContain('"DUH"0012L0#1234[]');
    expect(decodeReply(out.replyFrame)).toMatchObject({ type: 'DUH', seq: '0012' });
    expect(decodeReply(out.replyFrame, key)).toMatchObject({ type: 'DUH', seq: '0012' });
  });
});

const cidEvent = fc.record({
  kind: fc.constant('cid' as const),
  qualifier: fc.constantFrom(1 as const, 3 as const, 6 as const),
  code: fc.constantFrom(...Object.keys(CID_TYPES)),
  group: fc.stringMatching(/^[0-9]{2}$/),
  zone: fc.stringMatching(/^[0-9]{3}$/),
});
const siaEvent = fc.record({
  kind: fc.constant('sia' as const),
  // Codes in the table and outside it (BA burglary, UT untyped trouble, JA user code tamper).
  code: fc.constantFrom(
    'MA',
    'MH',
    'QA',
    'FA',
    'FH',
    'GA',
    'WA',
    'AT',
    'AR',
    'YT',
    'RP',
    'TA',
    'TR',
    'BA',
    'UT',
    'JA',
  ),
  zone: fc.stringMatching(/^[0-9]{0,4}$/),
  area: fc.stringMatching(/^[0-9]{1,4}$/),
  user: fc.option(fc.stringMatching(/^[0-9]{1,3}$/), { nil: undefined }),
  peripheral: fc.option(fc.stringMatching(/^[0-9]{4}$/), { nil: undefined }),
  text: fc.option(fc.stringMatching(/^[A-Za-z0-9 ]{0,20}$/), { nil: undefined }),
  ascii: fc.option(fc.stringMatching(/^[A-Za-z0-9 .,:-]{1,30}$/), { nil: undefined }),
});

describe('property: whatever the dialler frames, the receiver reads back', () => {
  it('the same events, under any key, sequence and account', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.record({
            type: fc.constant('ADM-CID' as const),
            events: fc.array(cidEvent, { minLength: 1, maxLength: 5 }),
          }),
          fc.record({
            type: fc.constant('SIA-DCS' as const),
            events: fc.array(siaEvent, { minLength: 1, maxLength: 5 }),
          }),
        ),
        fc.integer({ min: 1, max: 9999 }),
        fc.stringMatching(/^[0-9A-F]{3,16}$/),
        fc.option(fc.constantFrom(HEX_KEY, `${HEX_KEY}0011223344556677`, `${HEX_KEY}${HEX_KEY}`), {
          nil: null,
        }),
        fc.integer({ min: -39, max: 19 }),
        fc.record({
          bytes: fc.constantFrom('binary' as const, 'printable' as const),
          fullBlock: fc.boolean(),
        }),
        fc.constantFrom('compact' as const, 'slashed' as const),
        async (message, seq, acct, key, skewS, pad, sia) => {
          const entry = account({ account: acct, key });
          const frame = encodeDc09Message({
            type: message.type,
            seq,
            account: acct,
            events: message.events as DialerEvent[],
            at: new Date(NOW.getTime() + skewS * 1000),
            pad,
            sia,
            ...(key ? { key: dialerKey(key, 'hex') } : {}),
          });
          const out = await interpretFrame(frame, ctx(entry));
          expect(out.reply).toBe('ACK');
          const events = out.events.filter((e) => e.type !== 'heartbeat' || e.sourcecode !== undefined);
          expect(events).toHaveLength(message.events.length);
          events.forEach((event, i) => {
            const sent = message.events[i] as DialerEvent;
            expect(event.sourcecode).toBe(
              sent.kind === 'cid' ? `CID ${sent.qualifier}${sent.code}` : `SIA ${sent.code}`,
            );
            expect(event.data.zone).toBe(sent.zone);
            if (sent.kind === 'sia') {
              const sia = message.events as Extract<DialerEvent, { kind: 'sia' }>[];
              expect(event.data.area).toBe(sent.area);
              expect(event.data.text).toBe(sent.text);
              // A modifier stays in force; an |A block speaks of the events of its N block.
              const user = sia.slice(0, i + 1).findLast((e) => e.user !== undefined)?.user;
              expect((event.data.modifiers as Record<string, string> | undefined)?.id).toBe(user);
              expect(event.data.ascii).toBe(sia.slice(i).find((e) => e.ascii !== undefined)?.ascii);
            }
            expect(event.seq).toBe(seq);
          });
          const reply = decodeReply(out.replyFrame, key ? dialerKey(key, 'hex') : undefined);
          expect(reply).toMatchObject({ type: 'ACK', seq: String(seq).padStart(4, '0') });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('fuzz: the frame parser', () => {
  const valid = frameBody('"ADM-CID"0002L0#1234[#1234|1101 01 001]_12:00:00,11-22-2026');
  /** A reply framed with a binary CRC (to a frame that read as one), checked and framed in hex. */
  const inHex = (reply: Buffer): Buffer => {
    if (reply[7] !== 0x22) return reply;
    const body = reply.subarray(7, reply.length - 1);
    expect(reply.readUInt16BE(1)).toBe(crc16Arc(body));
    expect(Number.parseInt(reply.subarray(3, 7).toString(), 16)).toBe(body.length);
    return frameBody(body.toString('latin1'));
  };
  const answers = async (bytes: Uint8Array, entry: Dc09AccountEntry) => {
    const out = await interpretFrame(bytes, ctx(entry));
    expect(['ACK', 'NAK', 'DUH']).toContain(out.reply);
    expect(
      decodeReply(inHex(out.replyFrame), entry.key ? dialerKey(entry.key, 'hex') : undefined)?.type,
    ).toBe(out.reply);
    if (out.reply !== 'ACK') expect(out.refusal).toBeDefined();
  };

  it('answers random bytes, mutated frames and re-framed junk with ACK, NAK or DUH', async () => {
    const mutated = fc
      .array(fc.record({ at: fc.nat({ max: valid.length - 1 }), byte: fc.integer({ min: 0, max: 255 }) }), {
        maxLength: 6,
      })
      .map((edits) => {
        const copy = Buffer.from(valid);
        for (const edit of edits) copy[edit.at] = edit.byte;
        return copy;
      });
    // Junk with a correct CRC and length reaches the header and content parsers.
    const reframed = fc
      .string({
        unit: fc.constantFrom(...'"*#[]|/^_:,-0123456789ABCDEFLNRSIAMQ- '.split('')),
        maxLength: 120,
      })
      .map((body) => frameBody(`"${body}`));
    const headed = fc
      .tuple(fc.constantFrom('SIA-DCS', 'ADM-CID', 'NULL', 'FOO', '*SIA-DCS'), fc.string({ maxLength: 80 }))
      .map(([id, rest]) => frameBody(`"${id}"0001L0#1234[${rest}`));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated, reframed, headed),
        fc.boolean(),
        async (bytes, keyed) => answers(bytes, account(keyed ? { key: HEX_KEY } : {})),
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses an oversized frame without reading it', async () => {
    const huge = Buffer.concat([Buffer.from('\n'), Buffer.alloc(10_000, 0x41), Buffer.from('\r')]);
    const out = await interpretFrame(huge, ctx(account()));
    expect(out.reply).toBe('NAK');
    expect(nakFrame(NOW).toString('latin1')).toContain('NAK');
  });
});

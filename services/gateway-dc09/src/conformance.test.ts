import { createCipheriv } from 'node:crypto';
import type { Dc09AccountEntry, TelecareEvent } from '@telecare/contracts';
import { decodeReply } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { testAccount } from '../test/support.ts';
import { crc16Arc } from './crc.ts';
import { frameBody } from './frame.ts';
import { type Interpretation, interpretFrame } from './receiver.ts';

/**
 * DC-09 conformance: one row per frame a sender may send, with the verdict the receiver owes it
 * and the rule of ANSI/SIA DC-09 (and SIA DC-03 / Contact ID for the data) it follows, quoted.
 * Frames are written out byte for byte here, not built by the simulators' codec, so the table
 * is a reading of the standard of its own.
 */

const NOW = new Date(Date.UTC(2026, 10, 22, 12, 0, 0));
const TS = '_12:00:00,11-22-2026';
const KEY_128 = '000102030405060708090A0B0C0D0E0F';
const KEY_192 = '000102030405060708090A0B0C0D0E0F1011121314151617';
const KEY_256 = '000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F';
const ASCII_128 = 'telecare-key-16b';

const account = (overrides: Partial<Dc09AccountEntry> = {}): Dc09AccountEntry =>
  testAccount('1234', { serial: 'DC09-CONF-1', residentId: 'res_conf', ...overrides });

/** AES-CBC, zero IV, over `pad|content` exactly as given: the pad is the row's to choose. */
function cipherHex(pad: Buffer, content: string, key: Buffer): string {
  const plain = Buffer.concat([pad, Buffer.from(`|${content}`, 'latin1')]);
  if (plain.length % 16 !== 0) throw new RangeError(`pad gives ${plain.length} bytes, not whole blocks`);
  const cipher = createCipheriv(`aes-${key.length * 8}-cbc`, key, Buffer.alloc(16)).setAutoPadding(false);
  return Buffer.concat([cipher.update(plain), cipher.final()])
    .toString('hex')
    .toUpperCase();
}
/** A pad of bytes from `alphabet` that fills `content` to whole blocks (a full block when it already does). */
function padOf(content: string, alphabet: (i: number) => number, fullBlock = false): Buffer {
  let length = (16 - ((content.length + 1) % 16)) % 16;
  if (length === 0 && fullBlock) length = 16;
  return Buffer.from(Array.from({ length }, (_, i) => alphabet(i)));
}
const hexKey = (key: string) => Buffer.from(key, 'hex');
const encrypted = (id: string, head: string, content: string, key: Buffer, pad?: Buffer) =>
  frameBody(`"*${id}"${head}${cipherHex(pad ?? padOf(content, () => 0x41), content, key)}`);
/** Bytes allowed in a pad: anything but `|`, `[` and `]`, control and 8-bit bytes included. */
const ANY_PAD_BYTE = (i: number) => [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x0d, 0x20, 0x5e][i % 9] as number;

interface Row {
  readonly name: string;
  readonly frame: Buffer;
  readonly entry?: Dc09AccountEntry | undefined;
  readonly reply: 'ACK' | 'NAK' | 'DUH';
  /** The stored events' types, in order (heartbeats included). */
  readonly types?: readonly string[];
  /** The rule, quoted from the standard as the receiver reads it. */
  readonly why: string;
  readonly check?: (out: Interpretation, events: readonly TelecareEvent[]) => void | Promise<void>;
  readonly now?: Date;
}

const dataOf = (events: readonly TelecareEvent[], i = 0) => events[i]?.data ?? {};

const ROWS: readonly Row[] = [
  // ---- framing -------------------------------------------------------------------------------
  {
    name: 'the standard check value: empty SIA-DCS data',
    frame: frameBody('"SIA-DCS"0001L0#1234[]'),
    reply: 'ACK',
    types: ['heartbeat'],
    why: 'DC-09 frame: LF CRC LLLL "ID" SEQ [Rrcvr] Lpref #ACCT [DATA] … CR; CRC-16/ARC over every byte from the opening " to the byte before CR (check value 96ED, length 0016).',
    check: (out) => expect(out.replyFrame.toString('latin1')).toBe('\n1BC10012"ACK"0001L0#1234[]\r'),
  },
  {
    name: 'a wrong CRC',
    frame: Buffer.from('\n96EE0016"SIA-DCS"0001L0#1234[]\r', 'latin1'),
    reply: 'NAK',
    why: 'DC-09 replies: "NAK … For bad CRC or length".',
  },
  {
    name: 'a wrong length',
    frame: Buffer.from('\n96ED0017"SIA-DCS"0001L0#1234[]\r', 'latin1'),
    reply: 'NAK',
    why: 'DC-09 frame: LLLL is "the byte length of that same span"; replies: NAK "for bad CRC or length".',
  },
  {
    name: 'a binary CRC: its two bytes, answered the same way',
    frame: (() => {
      const body = Buffer.from(`"ADM-CID"0019L0#1234[#1234|1101 01 001]${TS}`, 'latin1');
      const crc = crc16Arc(body);
      return Buffer.concat([
        Buffer.from([0x0a, crc >> 8, crc & 0xff]),
        Buffer.from('003B'),
        body,
        Buffer.from('\r'),
      ]);
    })(),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09: "where a real device differs, accept what it sends": TRIKDIS (DC-09_2012 mode) and Lupusec send the CRC as two bytes; a reply framed so is what they read.',
    check: (out) => {
      const body = out.replyFrame.subarray(7, out.replyFrame.length - 1);
      expect(body.toString('latin1')).toBe('"ACK"0019L0#1234[]');
      expect(out.replyFrame.readUInt16BE(1)).toBe(crc16Arc(body));
    },
  },
  {
    name: 'a length and CRC that count the CR (ELDES)',
    frame: (() => {
      const body = '"ADM-CID"0048L0#1234[#1234|1101 01 001]';
      const counted = Buffer.from(`${body}\r`, 'latin1');
      const crc = crc16Arc(counted).toString(16).toUpperCase().padStart(4, '0');
      return Buffer.from(`\n${crc}0028${body}\r`, 'latin1');
    })(),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09: "accept what it sends": ELDES counts the CR that ends its frame in the length and the CRC; one more byte than the body, and the CRC of the body and its CR.',
  },
  {
    name: 'a length of three hex digits, without its leading 0',
    frame: (() => {
      const body = `"ADM-CID"0048L0#1234[#1234|1101 01 001]${TS}`;
      const crc = crc16Arc(Buffer.from(body, 'latin1')).toString(16).toUpperCase().padStart(4, '0');
      return Buffer.from(
        `\n${crc}${body.length.toString(16).toUpperCase().padStart(3, '0')}${body}\r`,
        'latin1',
      );
    })(),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 frame: LLLL is 0 and 3 hex digits; "accept what it sends": a sender that leaves out the leading 0 states the same length, and its CRC still proves the frame.',
    check: (out) =>
      expect(out.replyFrame.toString('latin1')).toMatch(/^\n[0-9A-F]{4}0012"ACK"0048L0#1234\[\]\r$/),
  },
  {
    name: 'an L with no digits',
    frame: frameBody(`"SIA-DCS"0049L#1234[#1234|NMA1]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09: "accept what it sends": some panels write a bare L; the ACK echoes the line as sent.',
    check: (out) => expect(out.replyFrame.toString('latin1')).toContain('"ACK"0049L#1234[]'),
  },
  {
    name: 'no LF before the CRC',
    frame: Buffer.from('96ED0016"SIA-DCS"0001L0#1234[]\r', 'latin1'),
    reply: 'NAK',
    why: 'DC-09 frame: a frame opens with LF and ends with CR.',
  },
  {
    name: 'the line prefix left out',
    frame: frameBody(`"ADM-CID"0002#1234[#1234|1101 01 001]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 frame: "L line/prefix (1–6 hex; some senders omit it — accept that)"; the ACK echoes what was sent.',
    check: (out) => expect(out.replyFrame.toString('latin1')).toContain('"ACK"0002#1234[]'),
  },
  {
    name: 'a sequence number written in hex (a dialler library that counted so)',
    frame: frameBody(`"ADM-CID"000BR0L0#1234[#1234|1101 01 001]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 frame: SEQ is 4 decimal digits; "where a real device differs, accept what it sends": a sender that writes 000A–000F would hear NAK, send its press again and again, and never get past it. The ACK echoes the number as sent; the event states no number it did not send.',
    check: (out, events) => {
      expect(out.replyFrame.toString('latin1')).toContain('"ACK"000BR0L0#1234[]');
      expect(events[0]).not.toHaveProperty('seq');
    },
  },
  {
    name: 'a receiver number',
    frame: frameBody(`"ADM-CID"0003R1AL2#1234[#1234|1101 01 001]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 replies: the ACK echoes "the message\'s sequence, receiver, line and account".',
    check: (out) => expect(out.replyFrame.toString('latin1')).toContain('"ACK"0003R1AL2#1234[]'),
  },
  {
    name: 'an account in lower-case hex is echoed as sent',
    frame: frameBody(`"ADM-CID"0004L0#abc[#abc|1101 01 001]${TS}`),
    entry: account({ account: 'ABC' }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 frame: #ACCT is 3–16 hex digits; the ACK echoes the account the sender wrote, so a sender that compares bytes recognises it.',
    check: (out) => expect(out.replyFrame.toString('latin1')).toContain('"ACK"0004L0#abc[]'),
  },
  {
    name: 'no account in the header: the data names it (a panel capture)',
    frame: frameBody('"SIA-DCS"4738R0001L0001[#006969|Nri04/OP001NM]'),
    entry: account({ account: '006969' }),
    reply: 'ACK',
    types: ['code.unmapped', 'code.unmapped', 'heartbeat'],
    why: 'DC-09: "where a real device differs, accept what it sends": some senders put #ACCT only at the head of the data; the ACK carries it as the ACK format asks ("ACK"SEQ[R]L#ACCT[]).',
    check: (out) =>
      expect(out.replyFrame.toString('latin1')).toBe(
        frameBody('"ACK"4738R0001L0001#006969[]').toString('latin1'),
      ),
  },
  {
    name: 'no account in the header and none in the data',
    frame: frameBody(`"ADM-CID"0008L0[1101 01 001]${TS}`),
    reply: 'NAK',
    why: 'DC-09 replies: NAK for an "unknown account": a frame that names none cannot be one of ours.',
    check: (out) => expect(out.notAFrame).toBe(true),
  },
  {
    name: 'no account in the header of an encrypted message',
    frame: encrypted('ADM-CID', '0009L0[', `#1234|1101 01 001]${TS}`, hexKey(KEY_128)),
    entry: account({ key: KEY_128 }),
    reply: 'NAK',
    why: 'DC-09 encryption: the key is the account\'s, so the account must be in clear; without it the data is "undecryptable".',
  },
  {
    name: 'the account in the data without its #',
    frame: frameBody(`"ADM-CID"0009L0#1234[1234|1101 01 001]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 data: #ACCT| before the events names the account; some senders leave out the #, and no event starts with hex digits and |.',
  },
  {
    name: 'a message type the receiver does not know',
    frame: frameBody(`"SIA-XYZ"0005L0#1234[#1234|1101 01 001]${TS}`),
    reply: 'DUH',
    types: ['heartbeat'],
    why: 'DC-09 replies: "DUH: understood the frame but not the content (unknown message type …); the sender must not retry". The frame still proves the link.',
  },
  {
    name: 'random bytes ended by CR',
    frame: Buffer.from('\nhello world\r', 'latin1'),
    reply: 'NAK',
    why: 'DC-09 replies: NAK for a bad frame; never a broken connection.',
    check: (out) => expect(out.notAFrame).toBe(true),
  },
  // ---- accounts ------------------------------------------------------------------------------
  {
    name: 'an unknown account',
    frame: frameBody(`"ADM-CID"0006L0#9999[#9999|1101 01 001]${TS}`),
    entry: undefined,
    reply: 'NAK',
    why: 'DC-09 replies: NAK for an "unknown account".',
  },
  {
    name: 'a decommissioned account',
    frame: frameBody(`"ADM-CID"0007L0#1234[#1234|1101 01 001]${TS}`),
    entry: account({ state: 'decommissioned' }),
    reply: 'NAK',
    why: 'A decommissioned account is no longer an account of ours: answered as an unknown one.',
  },
  // ---- encryption ----------------------------------------------------------------------------
  ...(
    [
      ['AES-128', KEY_128],
      ['AES-192', KEY_192],
      ['AES-256', KEY_256],
    ] as const
  ).map(
    ([name, key]): Row => ({
      name: `${name} (a ${key.length}-digit hex key)`,
      frame: encrypted('ADM-CID', '0010L0#1234[', `#1234|1101 01 001]${TS}`, hexKey(key)),
      entry: account({ key }),
      reply: 'ACK',
      types: ['pendant.pressed', 'heartbeat'],
      why: 'DC-09 encryption: "AES-CBC with a zero IV; AES-128, -192 or -256 by key length"; "Encrypted messages get an encrypted ACK".',
      check: (out) => {
        expect(out.replyFrame.toString('latin1')).toContain('"*ACK"0010L0#1234[');
        expect(decodeReply(out.replyFrame, hexKey(key))).toMatchObject({ type: 'ACK', at: NOW });
      },
    }),
  ),
  {
    name: "an ASCII key (the key string's own 16 bytes)",
    frame: encrypted('ADM-CID', '0011L0#1234[', `#1234|1101 01 001]${TS}`, Buffer.from(ASCII_128)),
    entry: account({ key: ASCII_128, keyEncoding: 'ascii' }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 encryption: "some use the key string\'s own bytes (16 characters → AES-128), others hex-decode it … a per-account setting".',
  },
  {
    name: 'a pad of control and 8-bit bytes',
    frame: encrypted(
      'ADM-CID',
      '0012L0#1234[',
      `#1234|1101 01 001]${TS}`,
      hexKey(KEY_128),
      padOf(`#1234|1101 01 001]${TS}`, ANY_PAD_BYTE),
    ),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 encryption: "the padding (random characters, never |, [ or ])" — any other byte may be pad; strip up to the first |.',
  },
  {
    name: 'a full block of pad when the content already fills whole blocks',
    // `]` and a timestamp are 21 bytes; with `|` and a 10-byte data block, 32: pad would be 0.
    frame: encrypted('SIA-DCS', '0013L0#1234[', `#1234|NMA1]${TS}`, hexKey(KEY_128), Buffer.alloc(16, 0x01)),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 encryption: the pad "brings it to a multiple of 16 bytes"; a sender that always pads adds a whole block, and the receiver strips "up to the first |" whatever its length.',
  },
  {
    name: 'an encrypted NULL poll with a binary pad',
    frame: encrypted('NULL', '0000L0#1234[', `]${TS}`, hexKey(KEY_256), padOf(`]${TS}`, ANY_PAD_BYTE)),
    entry: account({ key: KEY_256 }),
    reply: 'ACK',
    types: ['heartbeat'],
    why: 'DC-09: "NULL polls are acked and update the account\'s supervision clock"; the pad is any byte but |, [ and ].',
    check: (out) => expect(out.poll).toBe(true),
  },
  {
    name: 'a pad holding | among printable characters',
    frame: encrypted(
      'ADM-CID',
      '0022L0#1234[',
      `#1234|1101 01 001]${TS}`,
      hexKey(KEY_128),
      Buffer.from('x7|Qk3|Zp', 'latin1'),
    ),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 encryption: the pad is "random characters"; real panels draw them from every byte, `|` (0x7C) among them. The data starts where what follows reads as data (`#ACCT|…`, events, or nothing before `]`), not at the first `|`.',
    check: (_out, events) => expect(dataOf(events)).toMatchObject({ zone: '001' }),
  },
  {
    name: 'a pad holding | among control and 8-bit bytes',
    frame: encrypted(
      'ADM-CID',
      '0023L0#1234[',
      `#1234|1101 01 001]${TS}`,
      hexKey(KEY_256),
      Buffer.from([0x00, 0x7c, 0x01, 0x7f, 0x7c, 0xff, 0x0a, 0x20, 0x5e]),
    ),
    entry: account({ key: KEY_256 }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'As above: a pad of random bytes may hold | before bytes no data holds.',
  },
  {
    name: 'a pad holding | after which its hex characters look like an account',
    frame: encrypted(
      'ADM-CID',
      '0024L0#1234[',
      `#1234|1101 01 001]${TS}`,
      hexKey(KEY_128),
      Buffer.from('zzzzz|abc', 'latin1'),
    ),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: "As above: the pad's tail `abc|` is no account block, since what follows it (`#1234|…`) is not events; the frame is not refused as naming another account.",
  },
  {
    name: 'a whole block of pad holding |',
    frame: encrypted(
      'SIA-DCS',
      '0027L0#1234[',
      `#1234|NMA1]${TS}`,
      hexKey(KEY_128),
      Buffer.from('\u00017|89abcdef\u00ffXYZ|', 'latin1'),
    ),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'As above, for a sender that always pads: its `|` is the 17th byte.',
  },
  {
    name: 'a pad holding | and then ]',
    frame: encrypted(
      'ADM-CID',
      '0028L0#1234[',
      `#1234|1101 01 001]${TS}`,
      hexKey(KEY_128),
      Buffer.from('a|b]c]\u0001|z', 'latin1'),
    ),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'As above: a pad of random bytes may hold ] as well as |. Read from a | in the pad, the content would be `b]c]…`: no data that ends with `]` and then extended data or a timestamp, so the pad goes on.',
    check: (_out, events) => expect(dataOf(events)).toMatchObject({ zone: '001' }),
  },
  {
    name: 'an encrypted NULL poll whose pad holds | and ends with it',
    frame: encrypted('NULL', '0000L0#1234[', `]${TS}`, hexKey(KEY_128), Buffer.from('p|q|r|s|t|', 'latin1')),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['heartbeat'],
    why: 'As above: empty data (`]` right after the separator) is a poll, whatever | the pad held before it.',
    check: (out) => expect(out.poll).toBe(true),
  },
  {
    name: 'encrypted SIA data without an account, behind a pad holding |',
    frame: encrypted(
      'SIA-DCS',
      '0025L0#1234[',
      `Nri1MA1]${TS}`,
      hexKey(KEY_128),
      Buffer.from('k|w', 'latin1'),
    ),
    entry: account({ key: KEY_128 }),
    reply: 'NAK',
    why: "DC-09 data: `[#ACCT|Nri1/MA01]` — in an encrypted message the account is where the standard puts it, or the content could start after a first block garbled by a bit flip (the change it makes to the next block read as the panel's). Read from the pad's `w|`, this data has none.",
    check: (out) => expect(out.forged).toBe('garbled'),
  },
  {
    name: 'SIA data with its account, behind a pad holding |',
    frame: encrypted(
      'SIA-DCS',
      '0029L0#1234[',
      `#1234|Nri1MA1]${TS}`,
      hexKey(KEY_128),
      Buffer.from('k|wxyzabcdefg', 'latin1'),
    ),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: "As above; the pad's `wxyzabcdefg|` is no block of events.",
  },
  {
    name: 'a pad holding | before content that is not text',
    frame: encrypted(
      'ADM-CID',
      '0026L0#1234[',
      `#1234|1101 01 001\u0001]${TS}`,
      hexKey(KEY_128),
      Buffer.from('ab|cdefg', 'latin1'),
    ),
    entry: account({ key: KEY_128 }),
    reply: 'NAK',
    why: 'DC-09 replies: NAK for "undecryptable data". Reading past a | in the pad finds no data that a wrong key could not have made: the content after every candidate | must still be text reading data].',
  },
  {
    name: 'a zone name in UTF-8 inside encrypted data',
    frame: encrypted(
      'SIA-DCS',
      '0017L0#1234[',
      `#1234|Nri1FA12^${Buffer.from('Küche', 'utf8').toString('latin1')}^]${TS}`,
      hexKey(KEY_128),
    ),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['smoke.detected', 'heartbeat'],
    why: 'DC-09: "where a real device differs, accept what it sends": a panel names rooms in its own language; the key is proven by the structure after the pad (data], and a timestamp where the text is 8-bit), not by ASCII alone.',
    check: (_out, events) => expect(dataOf(events)).toMatchObject({ text: 'Küche' }),
  },
  {
    name: 'a zone name in Latin-1 inside encrypted data',
    frame: encrypted('SIA-DCS', '0018L0#1234[', `#1234|Nri1FA12^Küche^]${TS}`, hexKey(KEY_128)),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['smoke.detected', 'heartbeat'],
    why: 'As above, for a panel that writes 8-bit text in Latin-1.',
    check: (_out, events) => expect(dataOf(events)).toMatchObject({ text: 'Küche' }),
  },
  {
    name: 'text in Windows-1252 (its quotes and euro sign) inside encrypted data',
    frame: encrypted(
      'SIA-DCS',
      '0018L0#1234[',
      `#1234|Nri1FA12^\u0084Caf\u00e9\u0093 \u0080^]${TS}`,
      hexKey(KEY_128),
    ),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['smoke.detected', 'heartbeat'],
    why: 'DC-09 (5.5.1.8): text may be Windows-1252 rather than ASCII; its bytes 0x80–0x9F are letters and signs there, not the control characters Latin-1 reads.',
    check: (_out, events) => expect(dataOf(events)).toMatchObject({ text: '\u201eCaf\u00e9\u201c \u20ac' }),
  },
  {
    name: 'a zone name holding brackets, inside encrypted data',
    frame: encrypted('SIA-DCS', '0018L0#1234[', `#1234|Nri1MA2^Bed [2]^]${TS}`, hexKey(KEY_128)),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-03 free text is text between `^`: a bracket in it is part of the name, not the end of the data; read as the end, the timestamp after it was lost and every try of the press NAKed.',
    check: (out, events) => {
      expect(dataOf(events)).toMatchObject({ zone: '2', text: 'Bed [2]' });
      expect(events[0]?.time).toBe(NOW.toISOString());
      expect(out.refusal).toBeUndefined();
    },
  },
  {
    name: 'a zone name ending with ], in clear',
    frame: frameBody(`"SIA-DCS"0019L0#1234[#1234|Nri1MA3^Hall]^]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'As above.',
    check: (out, events) => {
      expect(dataOf(events)).toMatchObject({ zone: '3', text: 'Hall]' });
      expect(events[0]?.time).toBe(NOW.toISOString());
      expect(out.refusal).toBeUndefined();
    },
  },
  {
    name: 'an encrypted poll with no | after its pad',
    frame: (() => {
      const cipher = createCipheriv('aes-128-cbc', hexKey(KEY_128), Buffer.alloc(16)).setAutoPadding(false);
      const hex = Buffer.concat([cipher.update(`ppppppppppp]${TS}`, 'latin1'), cipher.final()]);
      return frameBody(`"*NULL"0000L0#1234[${hex.toString('hex').toUpperCase()}`);
    })(),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['heartbeat'],
    why: 'DC-09: "accept what it sends": a Hikvision hub pads its poll with no | before ]; with no | at all the content starts at the first ] and must end with a timestamp.',
    check: (out) => expect(out.poll).toBe(true),
  },
  {
    name: 'the wrong key',
    frame: encrypted('ADM-CID', '0014L0#1234[', `#1234|1101 01 001]${TS}`, hexKey(KEY_256)),
    entry: account({ key: KEY_128.replace('00', 'FF') }),
    reply: 'NAK',
    why: 'DC-09 replies: NAK for "undecryptable data". The key is proven by what follows the pad (printable `#ACCT|…]` or `]_timestamp`), never by the pad.',
  },
  {
    name: 'encrypted data naming another account than the header',
    frame: encrypted('ADM-CID', '0019L0#1234[', `#5678|1101 01 001]${TS}`, hexKey(KEY_128)),
    entry: account({ key: KEY_128 }),
    reply: 'NAK',
    why: "The header is in clear and one key may serve many panels: a frame recorded from account 5678 and sent again under #1234 is not 1234's. The account inside the encrypted data is the one the key vouches for.",
  },
  {
    name: 'encrypted data naming the header account with leading zeros',
    frame: encrypted('ADM-CID', '0020L0#1234[', `#001234|1101 01 001]${TS}`, hexKey(KEY_128)),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09: "accept what it sends": a Pima writes #00AAAA under #AAAA (real-frames.test.ts); that names no other account.',
  },
  {
    name: 'encrypted data naming account zero',
    frame: encrypted('SIA-DCS', '0021L0#1234[', `#0000|Npi0/AT]${TS}`, hexKey(KEY_128)),
    entry: account({ key: KEY_128 }),
    reply: 'ACK',
    types: ['mains.lost', 'heartbeat'],
    why: 'DC-09: "accept what it sends": a SATEL writes #0000 whatever its account (real-frames.test.ts); that names no other account.',
  },
  {
    name: 'encrypted without a timestamp',
    frame: encrypted('ADM-CID', '0015L0#1234[', '#1234|1101 01 001]', hexKey(KEY_128)),
    entry: account({ key: KEY_128 }),
    reply: 'NAK',
    why: 'DC-09 frame: the timestamp is "mandatory when encrypted".',
  },
  {
    name: 'a keyed account sending in clear',
    frame: frameBody(`"ADM-CID"0016L0#1234[#1234|1101 01 001]${TS}`),
    entry: account({ key: KEY_128 }),
    reply: 'NAK',
    why: 'An account with a key speaks encrypted, or anyone could speak for it.',
  },
  // ---- timestamps ----------------------------------------------------------------------------
  {
    name: 'a sender clock 40 s behind (the edge)',
    frame: frameBody('"ADM-CID"0020L0#1234[#1234|1101 01 001]_11:59:20,11-22-2026'),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 frame: "Accept a sender clock from 40 s behind to 20 s ahead of ours".',
  },
  {
    name: 'a sender clock 41 s behind',
    frame: frameBody('"ADM-CID"0021L0#1234[#1234|1101 01 001]_11:59:19,11-22-2026'),
    reply: 'NAK',
    why: 'DC-09 frame: "outside that, NAK with our time so the sender can correct".',
    check: (out) => expect(decodeReply(out.replyFrame)).toMatchObject({ type: 'NAK', at: NOW }),
  },
  {
    name: 'a sender clock 20 s ahead (the edge)',
    frame: frameBody('"ADM-CID"0022L0#1234[#1234|1101 01 001]_12:00:20,11-22-2026'),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09 frame: "Accept a sender clock from 40 s behind to 20 s ahead of ours".',
  },
  {
    name: 'a sender clock 21 s ahead',
    frame: frameBody('"ADM-CID"0023L0#1234[#1234|1101 01 001]_12:00:21,11-22-2026'),
    reply: 'NAK',
    why: 'DC-09 frame: outside the window, "NAK with our time".',
  },
  {
    name: 'the rest of an older message after the data, inside the frame (Comxline 3516-2)',
    frame: frameBody('"ADM-CID"0011R1L1#1234[#1234|1101 00 007]345678[] 2345678[] '),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09: the timestamp is optional in a plain message and begins with `_`; "accept what it sends": bytes after the data that begin no timestamp are a send buffer\'s leftovers (pysiaalarm #34), not a bad clock to NAK.',
    check: (out, events) => {
      expect(dataOf(events)).toMatchObject({ zone: '007' });
      // Each try of the message leaves other bytes there: its events are named without them.
      const again = frameBody('"ADM-CID"0011R1L1#1234[#1234|1101 00 007]022 0)9at');
      return interpretFrame(again, {
        now: NOW,
        window: { behindMs: 40_000, aheadMs: 20_000 },
        partitions: 4,
        keyless: 'allow',
        lookup: () => account(),
      }).then((retry) => {
        expect(retry.reply).toBe('ACK');
        expect(retry.events[0]?.id).toBe(events[0]?.id);
        expect(out.refusal).toBeUndefined();
      });
    },
  },
  {
    name: 'the rest of an older message after a whole timestamp, inside the frame',
    frame: frameBody(`"ADM-CID"0012R1L1#1234[#1234|1101 00 007]${TS}022 0)9at `),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'As above, for a sender that stamps its messages: the timestamp is read, what follows it left unread.',
    check: (out, events) => {
      expect(events[0]?.time).toBe(NOW.toISOString());
      expect(out.refusal).toBeUndefined();
    },
  },
  {
    name: 'a timestamp that is not a time',
    frame: frameBody('"ADM-CID"0024L0#1234[#1234|1101 01 001]_25:00:00,11-22-2026'),
    reply: 'NAK',
    why: 'DC-09 frame: the timestamp is _HH:MM:SS,MM-DD-YYYY in UTC; one that is not cannot be checked against the window.',
  },
  // ---- SIA DC-03 data ------------------------------------------------------------------------
  {
    name: 'SIA with `/` between modifier and event',
    frame: frameBody(`"SIA-DCS"0030L0#1234[#1234|Nri1/MA01]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'SIA DC-03: N new event, then modifiers (ri area) and a 2-letter event code with its zone.',
    check: (_out, events) => expect(dataOf(events)).toMatchObject({ area: '1', zone: '01' }),
  },
  {
    name: 'SIA with no separators: Nri1MA1',
    frame: frameBody(`"SIA-DCS"0031L0#1234[#1234|Nri1MA1]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'SIA DC-03: the separator between a modifier and an event is optional; real panels write `Nri1MA1` (area 1, zone 1).',
    check: (_out, events) => expect(dataOf(events)).toMatchObject({ area: '1', zone: '1' }),
  },
  {
    name: 'SIA user and time modifiers run together: Nid3ti12:00:00MA1',
    frame: frameBody(`"SIA-DCS"0032L0#1234[#1234|Nid3ti11:59:30MA1]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'SIA DC-03: `id` user and `ti` time modifiers, then the event; `ti` says when the event happened.',
    check: (_out, events) => {
      expect(dataOf(events)).toMatchObject({ zone: '1', modifiers: { id: '3', ti: '11:59:30' } });
      expect(events[0]?.time).toBe('2026-11-22T11:59:30.000Z');
    },
  },
  {
    name: 'SIA area, peripheral, date and time: Nri0000pi0006da10-25-18ti14:37:53UT0000',
    frame: frameBody(`"SIA-DCS"0033L0#1234[#1234|Nri0000pi0006da11-22-26ti11:58:00UT0000]${TS}`),
    reply: 'ACK',
    types: ['code.unmapped', 'heartbeat'],
    why: 'SIA DC-03: `ri`, `pi`, `da` and `ti` modifiers before the event; UT is a valid code outside the telecare table: ACKed and recorded, never dropped.',
    check: (out, events) => {
      expect(dataOf(events)).toMatchObject({
        area: '0000',
        zone: '0000',
        modifiers: { pi: '0006', da: '11-22-26', ti: '11:58:00' },
      });
      expect(events[0]?.sourcecode).toBe('SIA UT');
      expect(out.unmapped).toEqual(['SIA UT']);
    },
  },
  {
    name: 'SIA zone name in ^…^',
    frame: frameBody(`"SIA-DCS"0034L0#1234[#1234|Nri1FA12^Kitchen^]${TS}`),
    reply: 'ACK',
    types: ['smoke.detected', 'heartbeat'],
    why: 'SIA DC-03: free text between ^ after an event names its zone.',
    check: (_out, events) => expect(dataOf(events)).toMatchObject({ zone: '12', text: 'Kitchen' }),
  },
  {
    name: 'SIA text after a modifier names its value',
    frame: frameBody(`"SIA-DCS"0050L0#1234[#1234|Nri01^TOTAL^/MA901^hall pendant^]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'SIA DC-03: `^…^` is text about what it follows; after `ri` it names the area (a Jablotron writes Nri01^TOTAL^/LX901^…^), after the event its zone.',
    check: (_out, events) =>
      expect(dataOf(events)).toMatchObject({
        area: '01',
        areaText: 'TOTAL',
        zone: '901',
        text: 'hall pendant',
      }),
  },
  {
    name: 'SIA |A text block after the events',
    frame: frameBody(`"SIA-DCS"0035L0#1234[#1234|Nri1MA1|Afront door pendant]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'SIA DC-03: an `A` block carries ASCII text about the events before it.',
    check: (_out, events) => expect(dataOf(events)).toMatchObject({ ascii: 'front door pendant' }),
  },
  {
    name: 'several SIA events in one block, a modifier in force for the ones after it',
    frame: frameBody(`"SIA-DCS"0036L0#1234[#1234|Nri2MA1FA3/ri3AT]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'smoke.detected', 'mains.lost', 'heartbeat'],
    why: 'SIA DC-03: a block may hold several events; a modifier stays in force for the events after it.',
    check: (_out, events) => {
      expect(dataOf(events, 1)).toMatchObject({ area: '2', zone: '3' });
      expect(dataOf(events, 2)).toMatchObject({ area: '3', zone: '' });
    },
  },
  {
    name: 'SIA blocks ended by |',
    frame: frameBody(`"SIA-DCS"0039L0#1234[#1234|Nri1MA1|]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'SIA DC-03: `|` separates blocks; an empty block carries nothing and is no reason to refuse the events before it.',
  },
  {
    name: 'a SIA code outside the telecare table',
    frame: frameBody(`"SIA-DCS"0037L0#1234[#1234|Nri1BA4]${TS}`),
    reply: 'ACK',
    types: ['code.unmapped', 'heartbeat'],
    why: 'DC-09 replies: DUH only when the content is not understood; a valid code is understood, so it is ACKed (a sender that retries on anything but ACK would block every alarm behind it) and recorded with its code.',
    check: (_out, events) => expect(String(dataOf(events).note)).toContain('unmapped code from account 1234'),
  },
  {
    name: 'SIA data that does not follow DC-03',
    frame: frameBody(`"SIA-DCS"0038L0#1234[#1234|Xyz!]${TS}`),
    reply: 'DUH',
    types: ['heartbeat'],
    why: 'DC-09 replies: "DUH: understood the frame but not the content … Still record the raw message"; the authenticated frame still proves the link.',
  },
  {
    name: 'SIA events followed by a field the receiver cannot read: the events before it are stored',
    frame: frameBody(`"SIA-DCS"0039L0#1234[#1234|Nri1/FA003*''NM]${TS}`),
    reply: 'ACK',
    types: ['smoke.detected', 'heartbeat'],
    why: 'DC-09 replies: DUH tells the sender not to retry, so an alarm read before what is not understood would be lost with it; DUH is for content "not understood" at all. The frame is dead-lettered with where reading stopped.',
    check: (out, events) => {
      expect(dataOf(events)).toMatchObject({ zone: '003', area: '1' });
      expect(out.refusal).toEqual({
        reason: 'bad-frame',
        detail:
          'SIA block 1, character 11: neither a modifier nor an event; the 1 event(s) before it were stored',
      });
      expect(out.named).toBe('1234');
    },
  },
  {
    name: 'SIA with spaces between N, the code and its zone (Hikvision AX Pro)',
    frame: frameBody(`"SIA-DCS"0041L0#1234[#1234|N FA 003]${TS}`),
    reply: 'ACK',
    types: ['smoke.detected', 'heartbeat'],
    why: 'DC-03: an event is its code and its address (the zone); "accept what it sends": a panel that writes a space between them still names the zone.',
    check: (out, events) => {
      expect(dataOf(events)).toMatchObject({ zone: '003' });
      expect(out.refusal).toBeUndefined();
    },
  },
  {
    name: 'SIA with spaces between a modifier and its value',
    frame: frameBody(`"SIA-DCS"0052L0#1234[#1234|N ri 1 id 3 MA 01]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-03: a modifier is its two letters and a value; "accept what it sends": a panel that spaces its fields (as it spaces the code from its zone) still names the area and the user, and a DUH would lose the press.',
    check: (out, events) => {
      expect(dataOf(events)).toMatchObject({ zone: '01', area: '1', modifiers: { id: '3' } });
      expect(out.refusal).toBeUndefined();
    },
  },
  {
    name: 'SIA zone name cut short before its closing ^: the events before it are stored',
    frame: frameBody(`"SIA-DCS"0042L0#1234[#1234|Nri1/MA02^BATHROOM PULL C]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: "As above: the press was read; only its name, cut at the panel's limit, is not understood.",
    check: (out, events) => {
      expect(dataOf(events)).toMatchObject({ zone: '02', area: '1' });
      expect(out.refusal).toEqual({
        reason: 'bad-frame',
        detail: 'free text has no closing ^; the 1 event(s) before it were stored',
      });
    },
  },
  {
    name: 'SIA events followed by a block of a kind the receiver does not read',
    frame: frameBody(`"SIA-DCS"0040L0#1234[#1234|Nri1/MA01|Xsomething]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'As above: the press was read; only the block after it is not understood.',
    check: (out) => expect(out.refusal?.reason).toBe('bad-frame'),
  },
  {
    name: 'extended data that is not closed: the data before it is stored',
    frame: frameBody(`"SIA-DCS"0047L0#1234[#1234|NMA1][X0.123${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'DC-09: extended data is `[X…]` blocks after the data; an unclosed one is not understood, but the press before it was: a DUH would tell the sender not to retry and lose it. The frame is dead-lettered; a timestamp ending it is still read.',
    check: (out, events) => {
      expect(events[0]?.time).toBe(NOW.toISOString());
      expect(out.refusal).toEqual({ reason: 'bad-frame', detail: 'extended data block 1 is not closed' });
    },
  },
  {
    name: 'extended data text holding brackets of its own',
    frame: frameBody(`"SIA-DCS"0048L0#1234[#1234|NFA2][RKitchen][ILiving [main]]${TS}`),
    reply: 'ACK',
    types: ['smoke.detected', 'heartbeat'],
    why: 'As above: the alarm and the blocks before the one not understood are read; the frame is dead-lettered.',
    check: (out, events) => {
      expect(dataOf(events)).toMatchObject({ zone: '2', xdata: { R: 'Kitchen' } });
      expect(out.refusal).toEqual({
        reason: 'bad-frame',
        detail: 'extended data block 2 is empty or holds [',
      });
    },
  },
  {
    name: 'a second data block after the data is no extended data: its events are not taken as text',
    frame: frameBody(`"ADM-CID"0050L0#1234[#1234|1301 01 000][#1234|1101 01 001]${TS}`),
    reply: 'ACK',
    types: ['mains.lost', 'heartbeat'],
    why: 'DC-09: extended data is `[X…]`, an ID letter and its data; a block opening `#ACCT|` is data, which the receiver does not read after the first. Kept as extended data `#`, the press in it was ACKed and lost without a trace; the events before it are stored and the frame dead-lettered for a person.',
    check: (out, events) => {
      expect(dataOf(events)).not.toHaveProperty('xdata');
      expect(out.refusal).toEqual({
        reason: 'bad-frame',
        detail: 'extended data block 1 opens with no letter',
      });
    },
  },
  // ---- Contact ID data -----------------------------------------------------------------------
  {
    name: 'Contact ID new event (Q=1)',
    frame: frameBody(`"ADM-CID"0040L0#1234[#1234|1101 01 001]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'Contact ID: qualifier "1 new"; 101 personal emergency (pendant).',
    check: (_out, events) => expect(events[0]?.sourcecode).toBe('CID 1101'),
  },
  {
    name: 'Contact ID restore (Q=3)',
    frame: frameBody(`"ADM-CID"0041L0#1234[#1234|3101 01 001]${TS}`),
    reply: 'ACK',
    types: ['alarm.restored', 'heartbeat'],
    why: 'Contact ID: qualifier "3 restore": the pendant\'s zone back to normal, which a panel may send by itself as the button is let go; never the resident\'s cancel (406), which would close the press before anyone answered it.',
  },
  {
    name: 'Contact ID still present (Q=6)',
    frame: frameBody(`"ADM-CID"0042L0#1234[#1234|6301 01 000]${TS}`),
    reply: 'ACK',
    types: ['mains.lost', 'heartbeat'],
    why: 'Contact ID: qualifier "6 still present".',
    check: (_out, events) => expect(dataOf(events)).toMatchObject({ condition: 'still-present' }),
  },
  {
    name: 'Contact ID events batched with /',
    frame: frameBody(`"ADM-CID"0043L0#1234[#1234|1301 01 000/1302 01 000]${TS}`),
    reply: 'ACK',
    types: ['mains.lost', 'battery.low', 'heartbeat'],
    why: 'ADM-CID data: QEEE GG ZZZ, several events in one message as some panels batch them.',
  },
  {
    name: 'Contact ID with more than one space between its fields',
    frame: frameBody(`"ADM-CID"0051L0#1234[#1234|1101  01   001]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'ADM-CID data: QEEE GG ZZZ, each field of fixed width; "accept what it sends": the spaces between them say nothing, and a DUH would tell the sender not to retry its press.',
    check: (_out, events) => expect(dataOf(events)).toMatchObject({ zone: '001', area: '01' }),
  },
  {
    name: 'Contact ID with its qualifier written as a letter: E new, R restore, P still present',
    frame: frameBody(`"ADM-CID"0045L0#1234[#1234|E111 01 003/R111 01 003/P301 00 000]${TS}`),
    reply: 'ACK',
    types: ['smoke.detected', 'smoke.restored', 'mains.lost', 'heartbeat'],
    why: 'Contact ID qualifiers: 1 new event (E), 3 restore (R), 6 previously reported, still present (P); "where a real device differs, accept what it sends": a letter is the same qualifier, and a DUH would tell the sender not to retry its alarm.',
    check: (_out, events) => {
      expect(events.slice(0, 3).map((e) => [e.sourcecode, e.data.condition])).toEqual([
        ['CID 1111', undefined],
        ['CID 3111', 'restore'],
        ['CID 6301', 'still-present'],
      ]);
    },
  },
  {
    name: 'a Contact ID code outside the telecare table',
    frame: frameBody(`"ADM-CID"0044L0#1234[#1234|1130 01 004]${TS}`),
    reply: 'ACK',
    types: ['code.unmapped', 'heartbeat'],
    why: 'A valid code is content the receiver understands: ACKed, recorded with its code (CID 1130) for a person to map per account.',
    check: (out, events) => {
      expect(events[0]?.sourcecode).toBe('CID 1130');
      expect(out.unmapped).toEqual(['CID 1130']);
    },
  },
  {
    name: 'a Contact ID restore of an override with no restore type',
    frame: frameBody(`"ADM-CID"0045L0#1234[#1234|3150 01 001]${TS}`),
    entry: account({ codeOverrides: { 'CID 150': 'medication.missed' } }),
    reply: 'ACK',
    types: ['code.unmapped', 'heartbeat'],
    why: 'A readable event never gets DUH; one that maps to no type is recorded as unmapped with why.',
    check: (_out, events) => expect(String(dataOf(events).note)).toContain('has no restore type'),
  },
  {
    name: 'Contact ID data that is not QEEE GG ZZZ',
    frame: frameBody(`"ADM-CID"0046L0#1234[#1234|11O1 01 001]${TS}`),
    reply: 'DUH',
    types: ['heartbeat'],
    why: 'ADM-CID data is "qualifier, event code, group/partition, zone or user"; anything else is not understood: DUH.',
  },
  {
    name: 'Contact ID events batched, one after the first not QEEE GG ZZZ: the ones before it are stored',
    frame: frameBody(`"ADM-CID"0047L0#1234[#1234|1101 01 001/1602 00 0]${TS}`),
    reply: 'ACK',
    types: ['pendant.pressed', 'heartbeat'],
    why: 'A DUH would lose the press with the event that is not understood; the frame is dead-lettered for a person.',
    check: (out) =>
      expect(out.refusal).toEqual({
        reason: 'bad-frame',
        detail: 'Contact ID event 2 is not QEEE GG ZZZ; the 1 event(s) before it were stored',
      }),
  },
  // ---- NULL polls ----------------------------------------------------------------------------
  {
    name: 'a plain NULL poll with no timestamp',
    frame: frameBody('"NULL"0000L0#1234[]'),
    reply: 'ACK',
    types: ['heartbeat'],
    why: 'DC-09: "NULL (link test / supervision poll)"; "polls often use 0000"; "NULL polls are acked and update the account\'s supervision clock".',
    check: (out) => expect(out.poll).toBe(true),
  },
  {
    name: 'a poll whose message type is written in lower case',
    frame: frameBody('"null"0000L0#1234[]'),
    reply: 'ACK',
    types: ['heartbeat'],
    why: 'DC-09: "where a real device differs, accept what it sends": a poll written "null" (receivers written for real panels look for it) is the same poll; refused, every poll of the panel is NAKed and its supervision lost.',
    check: (out) => {
      expect(out.poll).toBe(true);
      expect(out.replyFrame.toString('latin1')).toBe(frameBody('"ACK"0000L0#1234[]').toString('latin1'));
    },
  },
  {
    name: 'the check value NULL poll with a timestamp',
    frame: frameBody('"NULL"0000L0#1234[]_12:00:00,11-22-2026'),
    reply: 'ACK',
    types: ['heartbeat'],
    why: 'DC-09 check values: "NULL"0000L0#1234[]_12:00:00,11-22-2026 has CRC 4B95, length 0027.',
    check: (out) => {
      expect(frameBody('"NULL"0000L0#1234[]_12:00:00,11-22-2026').toString('latin1').slice(1, 9)).toBe(
        '4B950027',
      );
      expect(out.events[0]?.sourcecode).toBe('NULL');
    },
  },
];

describe('DC-09 conformance: each frame and its verdict', () => {
  it.each(ROWS.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const entry = 'entry' in row ? row.entry : account();
    const out = await interpretFrame(row.frame, {
      now: row.now ?? NOW,
      window: { behindMs: 40_000, aheadMs: 20_000 },
      partitions: 4,
      keyless: 'allow',
      lookup: (acct) => (entry && acct === entry.account ? entry : undefined),
    });
    expect(out.reply, row.why).toBe(row.reply);
    if (row.types)
      expect(
        out.events.map((e) => e.type),
        row.why,
      ).toEqual(row.types);
    if (row.reply === 'NAK') expect(out.events, row.why).toEqual([]);
    await row.check?.(out, out.events);
  });
});

describe('what a reply never tells', () => {
  const ctx = (entry: Dc09AccountEntry | undefined) => ({
    now: NOW,
    window: { behindMs: 40_000, aheadMs: 20_000 },
    partitions: 4,
    keyless: 'refuse' as const,
    lookup: (acct: string) => (entry && acct === entry.account ? entry : undefined),
  });

  it('an unknown account, a keyless one and a keyed one sent in clear get the same bytes', async () => {
    const frame = frameBody(`"ADM-CID"0050L0#1234[#1234|1101 01 001]${TS}`);
    const unknown = await interpretFrame(frame, ctx(undefined));
    const keyless = await interpretFrame(frame, ctx(account()));
    const keyed = await interpretFrame(frame, ctx(account({ key: KEY_128 })));
    expect(keyless.replyFrame).toEqual(unknown.replyFrame);
    expect(keyed.replyFrame).toEqual(unknown.replyFrame);
    expect(keyless.events).toEqual([]);
  });

  it('two plain polls, byte for byte the same, are two heartbeats', async () => {
    const frame = frameBody('"NULL"0000L0#1234[]');
    const keyless = { ...ctx(account()), keyless: 'allow' as const };
    const first = await interpretFrame(frame, keyless);
    const later = await interpretFrame(frame, { ...keyless, now: new Date(NOW.getTime() + 90_000) });
    expect(first.events[0]?.id).not.toBe(later.events[0]?.id);
  });
});

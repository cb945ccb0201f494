import { createCipheriv } from 'node:crypto';
import type { Dc09AccountEntry, TelecareEvent } from '@telecare/contracts';
import { decodeReply } from '@telecare/simulators';
import { describe, expect, it } from 'vitest';
import { testAccount } from '../test/support.ts';
import { crc16Arc, crcField, lengthField } from './crc.ts';
import { Occurrences } from './occurrences.ts';
import { PadStyles } from './pad-styles.ts';
import { type Interpretation, interpretFrame } from './receiver.ts';
import { FrameSplitter, splitDatagram } from './splitter.ts';

/**
 * Frames captured from real panels and dispersers, byte for byte as their public sources give
 * them (CRC and length as captured: each row's CRC and length were checked against its bytes, or
 * the row says how the capture was rebuilt), with what the receiver owes each. Together with the
 * conformance table (the standard's forms), this is what the receiver is held to.
 */

/** Bytes as a public log shows them: `\xNN` for bytes a log cannot print. */
const bytes = (text: string) => Buffer.from(text, 'latin1');

const account = (id: string, overrides: Partial<Dc09AccountEntry> = {}): Dc09AccountEntry =>
  testAccount(id.toUpperCase(), {
    serial: `DC09-REAL-${id.toUpperCase()}`,
    residentId: 'res_real',
    ...overrides,
  });

/** The reply framed the way a sender that writes its CRC as two bytes reads: those bytes, then the length. */
const expectBinaryReply = (out: Interpretation, body: string) => {
  const reply = out.replyFrame;
  const sent = reply.subarray(7, reply.length - 1);
  expect(sent.toString('latin1')).toBe(body);
  expect(reply.subarray(3, 7).toString('latin1')).toBe(
    body.length.toString(16).toUpperCase().padStart(4, '0'),
  );
  expect(reply.readUInt16BE(1)).toBe(crc16Arc(sent));
};

interface Row {
  /** Which sender, and where the capture is published. */
  readonly name: string;
  readonly frame: Buffer;
  readonly entry: Dc09AccountEntry;
  /** Our clock: the capture's own timestamp where it has one, so it falls in the window. */
  readonly now?: string;
  readonly reply: 'ACK' | 'NAK' | 'DUH';
  /** The stored events' types and source codes, in order (heartbeats included). */
  readonly events?: readonly string[];
  /** The reply exactly, where the sender's expectation is known. */
  readonly replyFrame?: string;
  /** What the first event's data holds, in part. */
  readonly data?: Readonly<Record<string, unknown>>;
  readonly check?: (out: Interpretation, events: readonly TelecareEvent[]) => void;
}

const ROWS: readonly Row[] = [
  // ---- framing -------------------------------------------------------------------------------
  {
    // schmupu/ioBroker.sia issue #4: the bytes as logged ([10,57,70,…,93,13,0]); an `L` with no
    // digits, no account in the header, a NUL after the CR.
    name: 'an empty L, the account only in the data, a NUL after the CR (ioBroker.sia #4)',
    frame: bytes('\n9F0D001A"SIA-DCS"0001L[#9999|NBA2]\r\x00'),
    entry: account('9999'),
    reply: 'ACK',
    events: ['code.unmapped SIA BA', 'heartbeat'],
    replyFrame: '"ACK"0001L#9999[]',
  },
  {
    // schmupu/ioBroker.sia issue #19: a G90B-PLUS 2G GSM panel, bytes as logged (… 13, 0).
    name: 'G90B-PLUS: an empty L and a NUL after the CR (ioBroker.sia #19)',
    frame: bytes('\n78FC003B"SIA-DCS"0001L#22334455[#22334455|NCQ1]_14:33:53,02-09-2020\r\x00'),
    entry: account('22334455'),
    now: '2020-02-09T14:33:53Z',
    reply: 'ACK',
    events: ['code.unmapped SIA CQ', 'heartbeat'],
    replyFrame: '"ACK"0001L#22334455[]',
  },
  {
    // schmupu/ioBroker.sia issue #11: an "alarm host from a Chinese manufacturer", bytes as logged.
    name: 'a poll with an empty L, a 10-digit account and a NUL after the CR (ioBroker.sia #11)',
    frame: bytes('\nBB86002C"NULL"0001L#7303658550[]_15:39:38,06-07-2019\r\x00'),
    entry: account('7303658550'),
    now: '2019-06-07T15:39:38Z',
    reply: 'ACK',
    events: ['heartbeat NULL'],
    replyFrame: '"ACK"0001L#7303658550[]',
  },
  {
    // Cheaterdev/sia-ha issue #3 (ELDES): `F19A002B"ADM-CID"0056L9999#9999[#9999|1900 00 001]`, and
    // every line followed by an empty one. F19A and 002B are the CRC and length of the body with
    // the CR after it: the panel counts its CR, then ends the frame with another.
    name: 'ELDES: length and CRC count the CR, the frame ends CR CR (sia-ha #3)',
    frame: bytes('\nF19A002B"ADM-CID"0056L9999#9999[#9999|1900 00 001]\r\r'),
    entry: account('9999'),
    reply: 'ACK',
    events: ['code.unmapped CID 1900', 'heartbeat'],
  },
  {
    // eavanvalkenburg/pysiaalarm issue #17 (ELDES): "Sent CRC: AA1A, Calculated CRC: 1B95" for
    // this line; AA1A is the CRC of the line and a CR. The log gives no length: 0030 counts the
    // CR, as the 002B of sia-ha #3 does.
    name: 'ELDES: a closing report, CRC over the body and its CR (pysiaalarm #17)',
    frame: bytes('\nAA1A0030"ADM-CID"0227R4F39L4F39#4F39[#4F39|3401 01 057]\r\r'),
    entry: account('4F39'),
    reply: 'ACK',
    events: ['code.unmapped CID 3401', 'heartbeat'],
    replyFrame: '"ACK"0227R4F39L4F39#4F39[]',
  },
  {
    // eavanvalkenburg/pysiaalarm issue #52: a TRIKDIS E16 in DC-09_2012 mode, logged as
    // `K0029"NULL"0000R1L1#9413[]_23:05:28,08-30-2023`: the CRC is two bytes, 0xD1 0x4B ('K').
    name: 'TRIKDIS E16: a binary CRC on a poll (pysiaalarm #52)',
    frame: bytes('\n\xd1\x4b0029"NULL"0000R1L1#9413[]_23:05:28,08-30-2023\r'),
    entry: account('9413'),
    now: '2023-08-30T23:05:28Z',
    reply: 'ACK',
    events: ['heartbeat NULL'],
    check: (out) => expectBinaryReply(out, '"ACK"0000R1L1#9413[]'),
  },
  {
    // pysiaalarm issue #52, the same TRIKDIS: `003D"ADM-CID"0001R1L1#9413[#9413|1700 99 999]…`,
    // both CRC bytes unprintable (0xDA 0xEB).
    name: 'TRIKDIS E16: a binary CRC on Contact ID (pysiaalarm #52)',
    frame: bytes('\n\xda\xeb003D"ADM-CID"0001R1L1#9413[#9413|1700 99 999]_23:05:28,08-30-2023\r'),
    entry: account('9413'),
    now: '2023-08-30T23:05:28Z',
    reply: 'ACK',
    events: ['code.unmapped CID 1700', 'heartbeat'],
  },
  {
    // eavanvalkenburg/pysiaalarm issue #64: logged as `C002C"SIA-DCS"9832L000000#2511[…]`: the CRC is
    // 0x43 ('C') 0x81; a six-digit line.
    name: 'a binary CRC and a six-digit line (pysiaalarm #64)',
    frame: bytes('\n\x43\x81002C"SIA-DCS"9832L000000#2511[#2511|Nri01/BB026]\r'),
    entry: account('2511'),
    reply: 'ACK',
    events: ['code.unmapped SIA BB', 'heartbeat'],
  },
  {
    // pysiaalarm issue #52, the same TRIKDIS two seconds later: logged as `0n003D"ADM-CID"0002…`, the
    // CRC's bytes this time both printable (0x30 '0', 0x6E 'n'). Its periodic test.
    name: 'TRIKDIS E16: a binary CRC of two printable bytes, a periodic test (pysiaalarm #52)',
    frame: bytes('\n0n003D"ADM-CID"0002R1L1#9413[#9413|1602 99 999]_23:05:30,08-30-2023\r'),
    entry: account('9413'),
    now: '2023-08-30T23:05:30Z',
    reply: 'ACK',
    events: ['test.periodic CID 1602'],
    check: (out, events) => {
      expectBinaryReply(out, '"ACK"0002R1L1#9413[]');
      expect(events[0]?.data).toMatchObject({ area: '99', zone: '999' });
    },
  },
  {
    // yusuftnc/comminicator protocol/dc09.go, a receiver's notes of what each make sent it: an OPAX
    // panel's poll, its CRC logged as `Å[` (0xC5 0x5B), the same two-byte CRC as TRIKDIS.
    name: 'OPAX: a binary CRC on a poll (yusuftnc/comminicator)',
    frame: bytes('\n\xc5[002A"NULL"0000R8L0#41213[]_21:00:10,02-20-2024\r'),
    entry: account('41213'),
    now: '2024-02-20T21:00:10Z',
    reply: 'ACK',
    events: ['heartbeat NULL'],
    check: (out) => expectBinaryReply(out, '"ACK"0000R8L0#41213[]'),
  },
  {
    // The same notes, the same OPAX panel: a periodic test, the CRC logged as `Á~` (0xC1 0x7E), the
    // data's account without its `#`.
    name: 'OPAX: a binary CRC, the data account without # (yusuftnc/comminicator)',
    frame: bytes('\n\xc1~003E"ADM-CID"0379R0L0#10064[10064|1602 00 000]_00:00:43,02-21-2024\r'),
    entry: account('10064'),
    now: '2024-02-21T00:00:43Z',
    reply: 'ACK',
    events: ['test.periodic CID 1602'],
    check: (out, events) => {
      expectBinaryReply(out, '"ACK"0379R0L0#10064[]');
      expect(events[0]).toMatchObject({
        time: '2024-02-21T00:00:43.000Z',
        data: { area: '00', zone: '000' },
      });
    },
  },
  {
    // The same notes: a PROSEC panel's poll, a three-digit line `L000`.
    name: 'PROSEC: a poll with a three-digit line (yusuftnc/comminicator)',
    frame: bytes('\nB0970029"NULL"0000L000#0809[]_21:00:01,02-20-2024\r'),
    entry: account('0809'),
    now: '2024-02-20T21:00:01Z',
    reply: 'ACK',
    events: ['heartbeat NULL'],
    replyFrame: '"ACK"0000L000#0809[]',
  },
  {
    // eavanvalkenburg/pysiaalarm issue #63 (Lupus, through its cloud): the length in lower case
    // (`004d`), a `ti` with seconds and a `da` of two-digit year, then RP with no zone.
    name: 'Lupus: a lower-case length, Nti10:01:00/da08-18-24/RP (pysiaalarm #63)',
    frame: bytes('\n9B3C004d"SIA-DCS"0047L0#100200[#100200|Nti10:01:00/da08-18-24/RP]_10:01:00,08-18-2024\r'),
    entry: account('100200'),
    now: '2024-08-18T10:01:02Z',
    reply: 'ACK',
    events: ['test.periodic SIA RP'],
    replyFrame: '"ACK"0047L0#100200[]',
    check: (_out, events) =>
      expect(events[0]).toMatchObject({
        time: '2024-08-18T10:01:00.000Z',
        data: { zone: '', modifiers: { ti: '10:01:00', da: '08-18-24' } },
      }),
  },
  // ---- encryption ----------------------------------------------------------------------------
  {
    // eavanvalkenburg/sia issue #17 (a Hikvision alarm hub) and pysiaalarm's test case `case_null`
    // (key AAAAAAAAAAAAAAAA): it decrypts to `ppppppppppp]_18:24:52,07-05-2020`, a pad with no `|`.
    name: 'Hikvision hub: an encrypted poll with no | after its pad (sia #17)',
    frame: bytes(
      '\n76D80055"*NULL"0000R0L0#AAAB[B4BC8B40D0E6D959D6BEA78E88CC0B2155741A3C44FBB96D476A3E557CAD64D9\r',
    ),
    entry: account('AAAB', { key: 'AAAAAAAAAAAAAAAA', keyEncoding: 'ascii' }),
    now: '2020-07-05T18:24:52Z',
    reply: 'ACK',
    events: ['heartbeat NULL'],
    check: (out) => {
      expect(out.replyFrame.toString('latin1')).toContain('"*ACK"0000R0L0#AAAB[');
      expect(decodeReply(out.replyFrame, Buffer.from('AAAAAAAAAAAAAAAA'))).toMatchObject({ type: 'ACK' });
    },
  },
  {
    // The same hub's plain poll (sia #17): ADM-CID data inside a NULL.
    name: 'Hikvision hub: a plain poll carrying #0000|0000 00 000 (sia #17)',
    frame: bytes('\n821F003A"NULL"0000R0L0#AAAB[#0000|0000 00 000]_18:25:49,07-05-2020\r'),
    entry: account('AAAB'),
    now: '2020-07-05T18:25:49Z',
    reply: 'ACK',
    events: ['heartbeat NULL'],
  },
  {
    // schmupu/ioBroker.sia test/siaCommandENC (key 0123456789ABCDEF as text): lower-case
    // ciphertext, a pad of binary bytes, `ti` in the panel's local summer time.
    name: 'ioBroker.sia test capture: lower-case ciphertext, binary pad, an ASCII key',
    frame: bytes(
      '\nAEAE0137"*SIA-DCS"0018L0#12345[4cea0b8eb4752a51724c2c55f3801a6e35cb21d25e014290c29995e7cdbbb4659747c1e185c3627db922513d6d5cbb33440d09eefa204e96d62c9c9fc6ffaa5abeccfce859dd540f74cba79c04a048a9b597c12b027f6366a3817d1dd6e26e2019d33075a67ab4a74221f57450070a7f0de890d087c64e76db6893c192ef5e16762ef9934bbfc516d041ad71c47d4dd0\r',
    ),
    entry: account('12345', { key: '0123456789ABCDEF', keyEncoding: 'ascii' }),
    now: '2018-10-26T07:50:26Z',
    reply: 'ACK',
    events: ['code.unmapped SIA UT', 'heartbeat'],
    check: (_out, events) => {
      // ti09:50:24 is two hours ahead of the message (local summer time): not believed.
      expect(events[0]?.time).toBe('2018-10-26T07:50:26.000Z');
      expect(events[0]?.data).toMatchObject({ area: '0000', zone: '0000' });
    },
  },
  {
    // twanchai/sia-dc-09-library ParsingStandardTest `parseEventStandardCiphered2`: lower-case
    // CRC, length, receiver and ciphertext.
    name: 'lower-case hex everywhere, encrypted (sia-dc-09-library)',
    frame: bytes(
      '\na60a00a7"*SIA-DCS"0000Rc0ffdL1234#080027E62A64[1636385bf3ee2cf761f578f5b57eea422ca7601e0823c89d6f19feadf690104690e105e61d3989316bcb26df482a42dc3b4b3b0e9c40da4d3642e7d72cc5ce95\r',
    ),
    entry: account('080027E62A64', { key: 'ABCDABCDABCDABCDABCDABCDABCDABCD' }),
    now: '2015-06-22T15:05:02Z',
    reply: 'ACK',
    events: ['code.unmapped SIA HB', 'heartbeat'],
    check: (out, events) => {
      expect(out.replyFrame.toString('latin1')).toContain('"*ACK"0000Rc0ffdL1234#080027E62A64[');
      expect(events[0]?.data).toMatchObject({ xdata: { E: '115000' } });
    },
  },
  // ---- data ----------------------------------------------------------------------------------
  {
    // twanchai/sia-dc-09-library ParsingStandardTest `parseEventStandard4`: a Jablotron JA-106K;
    // text after `ri` names the area, text after the event names the device.
    name: 'Jablotron: ^text^ after the area and after the event (sia-dc-09-library)',
    frame: bytes('\n953a004c"SIA-DCS"0001L0#7878[#7878|Nri01^TOTAL^/LX901^centrale d\'alarme JA-106K(R)^]\r'),
    entry: account('7878'),
    reply: 'ACK',
    events: ['code.unmapped SIA LX', 'heartbeat'],
    data: {
      area: '01',
      areaText: 'TOTAL',
      zone: '901',
      text: "centrale d'alarme JA-106K(R)",
    },
  },
  {
    // twanchai/sia-dc-09-library ParsingStandardTest `parseEventStandard5`: 8-bit text in `[I…]`,
    // sent as UTF-8 (the CRC 5206 and length 0082 are those of the UTF-8 bytes).
    name: 'UTF-8 text in an [I] block (sia-dc-09-library)',
    frame: Buffer.from(
      '\n52060082"SIA-DCS"0000RC0FFDL1234#080027E62A64[#080027E62A64|NHB0003][ITEST àäâèéêïîöôüÀÄÂÈÉÊÎÖÛÜ]_09:00:13,06-23-2015\r',
      'utf8',
    ),
    entry: account('080027E62A64'),
    now: '2015-06-23T09:00:13Z',
    reply: 'ACK',
    events: ['code.unmapped SIA HB', 'heartbeat'],
    data: { xdata: { I: 'TEST àäâèéêïîöôüÀÄÂÈÉÊÎÖÛÜ' } },
  },
  {
    // yusuftnc/comminicator protocol/dc09.go (PROSEC): the data's account without its `#`, and RP
    // with neither modifier nor zone.
    name: 'PROSEC: [36214|NRP], a test with no zone (yusuftnc/comminicator)',
    frame: bytes('\nB4330036"SIA-DCS"0442L000#36214[36214|NRP]_00:00:00,02-21-2024\r'),
    entry: account('36214'),
    now: '2024-02-21T00:00:00Z',
    reply: 'ACK',
    events: ['test.periodic SIA RP'],
    replyFrame: '"ACK"0442L000#36214[]',
    data: { zone: '' },
  },
  {
    // The same notes (PROSEC): a four-digit area and LR with no zone: DC-03's phone line restoral,
    // the panel's line back (it clears a line fault; alone, it raises nothing).
    name: 'PROSEC: Nri0000/LR (yusuftnc/comminicator)',
    frame: bytes('\n3F60003C"SIA-DCS"0001L0#51449[#51449|Nri0000/LR]_21:26:19,12-20-2023\r'),
    entry: account('51449'),
    now: '2023-12-20T21:26:19Z',
    reply: 'ACK',
    events: ['line.restored SIA LR', 'heartbeat'],
    data: { area: '0000', zone: '' },
  },
  {
    // The same notes (PROSEC): an opening, no area, no `/`, the account without `#`; sent in the
    // same second as its BC (sequence 0004), each a message of its own.
    name: 'PROSEC: [3044|NOP1] (yusuftnc/comminicator)',
    frame: bytes('\n7B620035"SIA-DCS"0005L000#3044[3044|NOP1]_00:03:31,12-21-2023\r'),
    entry: account('3044'),
    now: '2023-12-21T00:03:31Z',
    reply: 'ACK',
    events: ['code.unmapped SIA OP', 'heartbeat'],
    data: { zone: '1' },
  },
  {
    // The same notes: a Hikvision panel's periodic test, a two-digit receiver.
    name: 'Hikvision: Contact ID 1602 with R15L1 (yusuftnc/comminicator)',
    frame: bytes('\n99820040"ADM-CID"1937R15L1#21401[#21401|1602 00 000]_20:59:59,02-20-2024\r'),
    entry: account('21401'),
    now: '2024-02-20T20:59:59Z',
    reply: 'ACK',
    events: ['test.periodic CID 1602'],
    replyFrame: '"ACK"1937R15L1#21401[]',
  },
  {
    // eavanvalkenburg/pysiaalarm issue #54 (Dahua): a periodic test, the account `B12345` as logged.
    name: 'Dahua: Contact ID 1602 (pysiaalarm #54)',
    frame: bytes('\nDABA003F"ADM-CID"0062L0#B12345[#B12345|1602 00 000]_17:23:51,09-18-2023\r'),
    entry: account('B12345'),
    now: '2023-09-18T17:23:51Z',
    reply: 'ACK',
    events: ['test.periodic CID 1602'],
  },
  {
    // home-assistant/home-assistant.io issue #21253 (the panel of the bypass below): a periodic test
    // with a zone and text after it, sent again and again while it was NAKed.
    name: 'a periodic test with a zone and its text, Nri0RP2^SL …^ (home-assistant.io #21253)',
    frame: bytes(
      '\n24810050"SIA-DCS"1660L0#000110[#000110|Nri0RP2^SL 1807110200065423^]_18:00:01,01-19-2022\r',
    ),
    entry: account('000110'),
    now: '2022-01-19T18:00:01Z',
    reply: 'ACK',
    events: ['test.periodic SIA RP'],
    data: { area: '0', zone: '2', text: 'SL 1807110200065423' },
  },
  {
    // eavanvalkenburg/sia issue #42, kept as pysiaalarm's test case `case_bug2`, whose text folded
    // the name's spaces (its length 004D is six bytes more than the line it shows): of the ways to
    // put six spaces back, only `TAST.  001      ` (16 characters, as pysiaalarm #11 pads its
    // names) gives the CRC 5670. KR is SIA DC-03's "Heat Restoral: alarm/trouble condition has been
    // eliminated" (pysiaalarm's sia_codes.json lists it so): the heat zone back to normal, a panel's
    // one restore for a heat alarm or trouble. `heat.restored`, as KH; a heat case it restores stays
    // queued for an operator (helpline README, `alarm-restore`).
    name: 'KR with a 16-character zone name, its spaces put back (sia #42)',
    frame: bytes('\n5670004D"SIA-DCS"8070L0#123456[#123456|Nri0KR1^TAST.  001      ^]_13:49:12,04-13-2021\r'),
    entry: account('123456'),
    now: '2021-04-13T13:49:12Z',
    reply: 'ACK',
    events: ['heat.restored SIA KR', 'heartbeat'],
    data: { area: '0', zone: '1', text: 'TAST.  001      ' },
  },
  {
    // Ajax's example of a photo-verified alarm, as quoted in nielsfaber/alarmo issue #924: two photo
    // URLs in one [V] block, joined by a comma. Its CRC and length (CB64, 0375) are those of the real
    // URLs the example put sample ones in place of; framed here for the sample ones.
    name: 'Ajax: photo URLs in a [V] block (alarmo #924, framed here)',
    frame: (() => {
      const body = bytes(
        '"ADM-CID"0086L0#1234[#1234|1130 02 001][Vhttps://ajax-sample.com/first_photo.jpg,https://ajax-sample.com/second_photo.jpg]_16:43:06,10-07-2020',
      );
      return Buffer.concat([bytes(`\n${crcField(body)}${lengthField(body)}`), body, bytes('\r')]);
    })(),
    entry: account('1234'),
    now: '2020-10-07T16:43:06Z',
    reply: 'ACK',
    events: ['code.unmapped CID 1130', 'heartbeat'],
    data: {
      area: '02',
      zone: '001',
      xdata: { V: 'https://ajax-sample.com/first_photo.jpg,https://ajax-sample.com/second_photo.jpg' },
    },
  },
  {
    // stefanoven/socketsia-v2 backend/src/tcp/siaParser.js, its CRC check "from real panel messages
    // in the database": a poll with a six-digit receiver and line, a 7-digit account. The source
    // gives the body and its CRC (13B1, ours); the length is put in as DC-09 counts it.
    name: 'a poll with R000001L010000 (socketsia-v2)',
    frame: bytes('\n13B10036"NULL"0000R000001L010000#2104814[]_09:31:47,05-27-2026\r'),
    entry: account('2104814'),
    now: '2026-05-27T09:31:47Z',
    reply: 'ACK',
    events: ['heartbeat NULL'],
    replyFrame: '"ACK"0000R000001L010000#2104814[]',
  },
  {
    // The same check, "real alarm message": an event with no `/` and its text, then a MAC block.
    // What EM on input 4 means to this panel the source does not say: recorded as sent.
    name: 'NEM4^Auxi 3 In Opis 1^ and an [M] block (socketsia-v2)',
    frame: bytes(
      '\nA4940067"SIA-DCS"0222R000001L010000#3096589[#3096589|NEM4^Auxi 3 In Opis 1^][MA4580F952A70]_18:54:51,05-15-2026\r',
    ),
    entry: account('3096589'),
    now: '2026-05-15T18:54:51Z',
    reply: 'ACK',
    events: ['code.unmapped SIA EM', 'heartbeat'],
    data: {
      zone: '4',
      text: 'Auxi 3 In Opis 1',
      xdata: { M: 'A4580F952A70' },
    },
  },
  // ---- accepted before: kept so ---------------------------------------------------------------
  {
    // eavanvalkenburg/pysiaalarm issue #12 (an Ajax hub): a plain poll with no timestamp.
    name: 'Ajax: a plain poll without timestamp (pysiaalarm #12)',
    frame: bytes('\n54230012"NULL"0000L0#AAA[]\r'),
    entry: account('AAA'),
    reply: 'ACK',
    events: ['heartbeat NULL'],
    replyFrame: '"ACK"0000L0#AAA[]',
  },
  {
    // pysiaalarm issue #12 (Ajax): the same poll with a timestamp.
    name: 'Ajax: a plain poll with a timestamp (pysiaalarm #12)',
    frame: bytes('\nCDA80026"NULL"0000L0#AAA[]_19:08:35,04-29-2021\r'),
    entry: account('AAA'),
    now: '2021-04-29T19:08:35Z',
    reply: 'ACK',
    events: ['heartbeat NULL'],
  },
  {
    // pysiaalarm issue #12 (Ajax): a code outside the tables, no timestamp.
    name: 'Ajax: an unknown code is recorded, not refused (pysiaalarm #12)',
    frame: bytes('\n53350022"SIA-DCS"0001L0#AAA[#AAA|Nri0/ZY0]\r'),
    entry: account('AAA'),
    reply: 'ACK',
    events: ['code.unmapped SIA ZY', 'heartbeat'],
  },
  {
    // Supergiovane/node-red-contrib-sia-ultimate issue #2 (Ajax), bytes as logged.
    name: 'Ajax: an automatic test (node-red-contrib-sia-ultimate #2)',
    frame: bytes('\n90AE003B"SIA-DCS"1701L0#0000[#0000|Nri0/RP0000]_13:32:24,12-22-2021\r'),
    entry: account('0000'),
    now: '2021-12-22T13:32:24Z',
    reply: 'ACK',
    events: ['test.periodic SIA RP'],
  },
  {
    // home-assistant/core issue #180511 (Pyronix Enforcer): the panel stayed connected with a
    // receiver that answered `59890012"ACK"0000L0#1409[]`, a plain ACK without timestamp.
    name: 'Pyronix Enforcer: the ACK it accepts, byte for byte (home-assistant/core #180511)',
    frame: bytes('\nEA740027"NULL"0000L0#1409[]_20:38:07,08-27-2026\r'),
    entry: account('1409'),
    now: '2026-08-27T20:38:07Z',
    reply: 'ACK',
    events: ['heartbeat NULL'],
    check: (out) => expect(out.replyFrame.toString('latin1')).toBe('\n59890012"ACK"0000L0#1409[]\r'),
  },
  {
    // eavanvalkenburg/pysiaalarm pull request #87 (SATEL ETHM-1): `Npi0/AT` (a modifier, then a
    // code with no zone) and an account in the data that is not the header's.
    name: 'SATEL: Npi0/AT, the data names another account (pysiaalarm #87)',
    frame: bytes('\nD8910037"SIA-DCS"0097L0#ABCD[#0000|Npi0/AT]_11:26:04,03-01-2026\r'),
    entry: account('ABCD'),
    now: '2026-03-01T11:26:04Z',
    reply: 'ACK',
    events: ['mains.lost SIA AT', 'heartbeat'],
    data: { zone: '', modifiers: { pi: '0' } },
  },
  {
    // eavanvalkenburg/pysiaalarm issue #51 (SATEL Perfecta): area, user, then OP with no zone.
    name: 'SATEL Perfecta: Nri2/id1/OP (pysiaalarm #51)',
    frame: bytes('\n9F73003F"SIA-DCS"0007L0#AA1234[#AA1234|Nri2/id1/OP]_09:29:02,06-15-2023\r'),
    entry: account('AA1234'),
    now: '2023-06-15T09:29:02Z',
    reply: 'ACK',
    events: ['code.unmapped SIA OP', 'heartbeat'],
    data: { area: '2', zone: '', modifiers: { id: '1' } },
  },
  {
    // eavanvalkenburg/pysiaalarm issue #8 (a Scantronic/Eaton panel through its cloud, "SC SIA3"):
    // a test report whose time is a `ti` of hours and minutes, no timestamp.
    name: 'Eaton SC SIA3: Nti19:44/id1/RP, no timestamp (pysiaalarm #8)',
    frame: bytes('\n1908002B"SIA-DCS"0000L0#3080[#3080|Nti19:44/id1/RP]\r'),
    entry: account('3080'),
    now: '2020-09-29T19:44:45Z',
    reply: 'ACK',
    events: ['test.periodic SIA RP'],
    check: (_out, events) => expect(events[0]?.time).toBe('2020-09-29T19:44:00.000Z'),
  },
  {
    // pysiaalarm pull request #87, a comment (Dahua AirShield key fob): an [R…] block.
    name: 'Dahua AirShield: an [R] block (pysiaalarm #87)',
    frame: bytes('\nBC160045"SIA-DCS"0178L0#5555[#5555|Npi1/NL1][RLivingRoom]_16:39:25,08-25-2026\r'),
    entry: account('5555'),
    now: '2026-08-25T16:39:25Z',
    reply: 'ACK',
    events: ['code.unmapped SIA NL', 'heartbeat'],
    data: { xdata: { R: 'LivingRoom' } },
  },
  {
    // eavanvalkenburg/pysiaalarm issue #54 (Dahua): Contact ID with an [R…] block.
    name: 'Dahua: Contact ID with an [R] block (pysiaalarm #54)',
    frame: bytes('\n2DE1004C"ADM-CID"0056L0#123456[#123456|1406 01 000][RLivingRoom]_17:22:02,09-18-2023\r'),
    entry: account('123456'),
    now: '2023-09-18T17:22:02Z',
    reply: 'ACK',
    // 406 is Contact ID's cancel: someone at the panel cancelled its alarm.
    events: ['alarm.cancelled CID 1406', 'heartbeat'],
  },
  {
    // eavanvalkenburg/pysiaalarm pull request #55 (Pima Force 144): the data's account carries
    // two more digits than the header's.
    name: 'Pima Force: #00AAAA in the data, #AAAA in the header (pysiaalarm #55)',
    frame: bytes('\n7449003F"ADM-CID"0078R1L0#AAAA[#00AAAA|3407 01 001]_01:59:16,09-21-2023\r'),
    entry: account('AAAA'),
    now: '2023-09-21T01:59:16Z',
    reply: 'ACK',
    events: ['code.unmapped CID 3407', 'heartbeat'],
    replyFrame: '"ACK"0078R1L0#AAAA[]',
  },
  {
    // eavanvalkenburg/pysiaalarm issue #11, with the zone name's 16 characters as the panel
    // sent them (the text folded its spaces; 9618004D is the CRC and length of this).
    name: 'a zone name padded to 16 characters (pysiaalarm #11)',
    frame: bytes('\n9618004D"SIA-DCS"7960L0#123456[#123456|Nri1CL0^VX FRONTE       ^]_22:40:48,04-11-2021\r'),
    entry: account('123456'),
    now: '2021-04-11T22:40:48Z',
    reply: 'ACK',
    events: ['code.unmapped SIA CL', 'heartbeat'],
    data: { text: 'VX FRONTE       ' },
  },
  {
    // home-assistant/home-assistant.io issue #21253: a zone name with runs of spaces.
    name: 'a bypass with a long zone name (home-assistant.io #21253)',
    frame: bytes(
      '\n593B005F"SIA-DCS"1660L0#000110[#000110|Nri1BA503^Volum.Taverna   Appartam.Giorno ^]_17:55:48,01-19-2022\r',
    ),
    entry: account('000110'),
    now: '2022-01-19T17:55:48Z',
    reply: 'ACK',
    events: ['code.unmapped SIA BA', 'heartbeat'],
  },
  {
    // twanchai/sia-dc-09-library ParsingStandardTest `parsePollingStandardNoTimestamp1`: the
    // receiver number in lower case is echoed as sent.
    name: 'a lower-case receiver number is echoed as sent (sia-dc-09-library)',
    frame: bytes('\n525a0024"NULL"0000Rc0ffdL1234#080027E62A64[]\r'),
    entry: account('080027E62A64'),
    reply: 'ACK',
    events: ['heartbeat NULL'],
    replyFrame: '"ACK"0000Rc0ffdL1234#080027E62A64[]',
  },
  {
    // jvanovost/dc09_spt issue #4 (an open-source dialler library, as integrators build senders on):
    // the sequence counted in hex, `000B`. The issue gives the body only; LF, CRC, length and CR
    // are put around it here as the library frames them.
    name: 'dc09_spt: a sequence number in hex is ACKed, echoed as sent (dc09_spt #4)',
    frame: (() => {
      const body = bytes('"ADM-CID"000BR0L0#FFFF[#1111|1401 01 001]');
      const crc = crc16Arc(body).toString(16).toUpperCase().padStart(4, '0');
      const length = body.length.toString(16).toUpperCase().padStart(4, '0');
      return Buffer.concat([bytes(`\n${crc}${length}`), body, bytes('\r')]);
    })(),
    entry: account('FFFF'),
    reply: 'ACK',
    replyFrame: '"ACK"000BR0L0#FFFF[]',
  },
  {
    // home-assistant/core issue #88474 (Ajax): a periodic test; the hub's clock 9 s ahead of the
    // receiver's log, within the window.
    name: 'Ajax: a periodic test 9 s ahead (home-assistant/core #88474)',
    frame: bytes('\nB40B0039"SIA-DCS"0004L0#AAA[#AAA|Nri0/RP0000]_09:10:30,02-20-2023\r'),
    entry: account('AAA'),
    now: '2023-02-20T09:10:21Z',
    reply: 'ACK',
    events: ['test.periodic SIA RP'],
    data: { area: '0', zone: '0000' },
  },
  {
    // eavanvalkenburg/sia issue #51 (Ajax): codes outside the tables, one with zone `0`.
    name: 'Ajax: Nri0/YG0 (sia #51)',
    frame: bytes('\n2FDD0036"SIA-DCS"4198L0#AAA[#AAA|Nri0/YG0]_11:37:52,09-26-2021\r'),
    entry: account('AAA'),
    now: '2021-09-26T11:37:52Z',
    reply: 'ACK',
    events: ['code.unmapped SIA YG', 'heartbeat'],
    data: { area: '0', zone: '0' },
  },
  {
    // eavanvalkenburg/sia issue #19 (Ajax): no timestamp; its time is ours.
    name: 'Ajax: Nri1/XC12 without timestamp (sia #19)',
    frame: bytes('\n43580023"SIA-DCS"0084L0#AAA[#AAA|Nri1/XC12]\r'),
    entry: account('AAA'),
    reply: 'ACK',
    events: ['code.unmapped SIA XC', 'heartbeat'],
    check: (_out, events) =>
      expect(events[0]).toMatchObject({ time: '2026-12-04T12:00:00.000Z', data: { area: '1', zone: '12' } }),
  },
  {
    // eavanvalkenburg/pysiaalarm issue #72 (Sigma S PRO 32MB): a poll with a six-digit account and
    // no timestamp.
    name: 'Sigma S PRO: a poll without timestamp (pysiaalarm #72)',
    frame: bytes('\nD3440015"NULL"0000L0#008312[]\r'),
    entry: account('008312'),
    reply: 'ACK',
    events: ['heartbeat NULL'],
    replyFrame: '"ACK"0000L0#008312[]',
  },
  {
    // schmupu/ioBroker.sia issue #11 (the "alarm host from a Chinese manufacturer"), its alarm: the
    // date a month behind (05-07 on 7 June), as the receiver then wrote its own in its NAKs (a
    // month counted from 0) and the host took it. At that clock, ACKed (the row below: ours).
    name: 'a Chinese alarm host: NBA4 at the clock it was given (ioBroker.sia #11)',
    frame: bytes('\nCEF0003F"SIA-DCS"0001L#7303658550[#7303658550|NBA4]_11:52:09,05-07-2019\r'),
    entry: account('7303658550'),
    now: '2019-05-07T11:52:09Z',
    reply: 'ACK',
    events: ['code.unmapped SIA BA', 'heartbeat'],
    replyFrame: '"ACK"0001L#7303658550[]',
    data: { zone: '4' },
  },
  // ---- refused, on purpose -------------------------------------------------------------------
  {
    // eavanvalkenburg/pysiaalarm issue #36 (FOCUS FC-7688): the CRC is right, but `foc7688` is no
    // DC-09 account (3–16 hex digits) and the registry cannot hold it.
    name: 'FOCUS FC-7688: an account with letters beyond F is refused (pysiaalarm #36)',
    frame: bytes('\n7A28002F"ADM-CID"6616R0L0#foc7688[#foc7688|1351 01 000]\r'),
    entry: account('F0C7688'),
    reply: 'NAK',
  },
  {
    // schmupu/ioBroker.sia issue #20 (Ajax): a one-digit account, shorter than DC-09's 3.
    name: 'Ajax: a one-digit account is refused (ioBroker.sia #20)',
    frame: bytes('\n73000024"NULL"0000L0#1[]_09:15:05,02-25-2020\r'),
    entry: account('001'),
    now: '2020-02-25T09:15:05Z',
    reply: 'NAK',
  },
  {
    // eavanvalkenburg/pysiaalarm issue #52 (TRIKDIS): the panel's clock in local time (UTC+1),
    // an hour ahead: NAKed with our time, as for any clock outside the window.
    name: 'TRIKDIS: a timestamp in local time is outside the window (pysiaalarm #52)',
    frame: bytes('\nEEA50029"NULL"0000R1L1#9413[]_16:56:18,09-07-2023\r'),
    entry: account('9413'),
    now: '2023-09-07T15:56:21Z',
    reply: 'NAK',
  },
  {
    // The same frame of ioBroker.sia #11 at the real time it came (7 June 2019): a month behind, NAKed
    // with our time, month counted from 1, so a host that takes a receiver's clock takes the right one.
    name: 'a Chinese alarm host a month behind: NAKed with the right date (ioBroker.sia #11)',
    frame: bytes('\nCEF0003F"SIA-DCS"0001L#7303658550[#7303658550|NBA4]_11:52:09,05-07-2019\r'),
    entry: account('7303658550'),
    now: '2019-06-07T11:52:07Z',
    reply: 'NAK',
    replyFrame: '"NAK"0000R0L0A0[]_11:52:07,06-07-2019',
  },
];

/** What the receiver makes of `frame` from `entry`'s account at `now` (the window real senders get). */
const receiveAs = async (
  entry: Dc09AccountEntry,
  frame: Uint8Array,
  now: Date,
  occurrences?: Occurrences,
  pads?: PadStyles,
) => {
  const out = await interpretFrame(frame, {
    now,
    window: { behindMs: 40_000, aheadMs: 20_000 },
    partitions: 4,
    keyless: 'allow',
    lookup: (acct) => (acct === entry.account ? entry : undefined),
    ...(occurrences ? { occurrences } : {}),
    ...(pads ? { pads } : {}),
  });
  // As the gateway notes an accepted frame's pad once it is stored.
  if (out.pad && out.account) pads?.note(out.account, out.pad.seen, out.pad.entry);
  return out;
};

const describeEvent = (e: TelecareEvent) => (e.sourcecode ? `${e.type} ${e.sourcecode}` : e.type);

describe('frames from real senders', () => {
  it.each(ROWS.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const now = new Date(row.now ?? '2026-12-04T12:00:00Z');
    // The unit a TCP connection would answer: the splitter's cut, as the gateway sees it.
    const units = new FrameSplitter().push(row.frame);
    expect(units, 'one frame to answer').toHaveLength(1);
    const out = await receiveAs(row.entry, (units[0] as { bytes: Buffer }).bytes, now);
    expect(out.reply, out.refusal?.detail).toBe(row.reply);
    if (row.events) expect(out.events.map(describeEvent)).toEqual(row.events);
    if (row.reply === 'NAK') expect(out.events).toEqual([]);
    if (row.replyFrame) {
      const body = Buffer.from(row.replyFrame, 'latin1');
      const crc = crc16Arc(body).toString(16).toUpperCase().padStart(4, '0');
      const length = body.length.toString(16).toUpperCase().padStart(4, '0');
      expect(out.replyFrame.toString('latin1')).toBe(`\n${crc}${length}${row.replyFrame}\r`);
    }
    if (row.data) expect(out.events[0]?.data).toMatchObject(row.data);
    row.check?.(out, out.events);
  });
});

describe('pads learned from a real sender’s frames', () => {
  const encrypted = ROWS.filter((row) => row.reply === 'ACK' && row.entry.key !== null);

  it.each(encrypted.map((row) => [row.name, row] as const))(
    'refuse none of them once learned: %s',
    async (_name, row) => {
      const now = new Date(row.now ?? '2026-12-04T12:00:00Z');
      const units = new FrameSplitter().push(row.frame);
      const pads = new PadStyles();
      for (let i = 0; i < 6; i++) {
        const out = await receiveAs(row.entry, (units[0] as { bytes: Buffer }).bytes, now, undefined, pads);
        expect(out.reply, out.refusal?.detail).toBe('ACK');
      }
      expect(pads.style(row.entry.account)?.frames).toBe(3);
    },
  );
});

describe('the bytes around real frames', () => {
  const g90b = bytes('\n78FC003B"SIA-DCS"0001L#22334455[#22334455|NCQ1]_14:33:53,02-09-2020\r\x00');

  it('a NUL after the CR is no frame begun: no frame deadline runs for it, nothing to answer', () => {
    const splitter = new FrameSplitter();
    expect(splitter.push(g90b)).toHaveLength(1);
    expect(splitter.partial).toBe(false);
    expect(splitter.held).toBe(0);
    // Frame after frame on one connection: each whole.
    expect(splitter.push(Buffer.concat([g90b, g90b]))).toHaveLength(2);
    expect(splitter.partial).toBe(false);
  });

  it('a datagram ended by CR NUL is one frame, and no unit of junk to refuse', () => {
    expect(splitDatagram(g90b).map((u) => u.bytes.toString('latin1'))).toEqual([
      g90b.subarray(0, g90b.length - 1).toString('latin1'),
    ]);
  });

  it('ELDES: the CR after the counted CR is not a unit of its own', () => {
    const eldes = bytes('\nF19A002B"ADM-CID"0056L9999#9999[#9999|1900 00 001]\r\r');
    const splitter = new FrameSplitter();
    expect(splitter.push(Buffer.concat([eldes, eldes]))).toHaveLength(2);
    expect(splitter.partial).toBe(false);
  });

  /**
   * A binary CRC is any two bytes, CR and LF among them. These are the TRIKDIS poll of
   * pysiaalarm #52 with the timestamp moved on until its CRC holds a CR or an LF: the first such
   * seconds, found by the search below, so the frames are the panel's own form.
   */
  const trikdisAt = (seconds: number) => {
    const at = new Date(Date.UTC(2023, 7, 30, 23, 5, 28) + seconds * 1000);
    const p = (n: number) => String(n).padStart(2, '0');
    const body = bytes(
      `"NULL"0000R1L1#9413[]_${p(at.getUTCHours())}:${p(at.getUTCMinutes())}:${p(at.getUTCSeconds())},08-${p(at.getUTCDate())}-2023`,
    );
    const crc = crc16Arc(body);
    return {
      at,
      crc,
      frame: Buffer.concat([
        bytes('\n'),
        Buffer.from([crc >> 8, crc & 0xff]),
        bytes('0029'),
        body,
        bytes('\r'),
      ]),
    };
  };
  const withCrcByte = (match: (hi: number, lo: number) => boolean) => {
    for (let s = 0; s < 100_000; s++) {
      const t = trikdisAt(s);
      if (match(t.crc >> 8, t.crc & 0xff)) return t;
    }
    throw new Error('no such timestamp');
  };
  const cases = [
    ['a CR first', (hi: number) => hi === 0x0d],
    ['a CR second', (_hi: number, lo: number) => lo === 0x0d],
    ['an LF first', (hi: number) => hi === 0x0a],
    ['an LF second', (_hi: number, lo: number) => lo === 0x0a],
  ] as const;

  it.each(cases)('a binary CRC with %s is one frame, read whole', async (_name, match) => {
    const { at, frame } = withCrcByte(match);
    const splitter = new FrameSplitter();
    // After a frame ended CR LF and after one ended CR alone, as a connection carries them.
    const units = splitter.push(Buffer.concat([frame, bytes('\n'), frame, frame]));
    expect(units.map((u) => u.bytes.toString('latin1'))).toEqual([
      frame.toString('latin1'),
      frame.toString('latin1'),
      frame.toString('latin1'),
    ]);
    expect(splitter.partial).toBe(false);
    const out = await receiveAs(account('9413'), (units[0] as { bytes: Buffer }).bytes, at);
    expect(out.reply, out.refusal?.detail).toBe('ACK');
    // And in a datagram of its own.
    expect(splitDatagram(frame).map((u) => u.bytes.toString('latin1'))).toEqual([frame.toString('latin1')]);
  });

  it.each(cases)(
    'a binary CRC with %s, a byte at a time (a serial-to-IP bridge), is one frame',
    (_name, match) => {
      const { frame } = withCrcByte(match);
      const splitter = new FrameSplitter();
      const stream = Buffer.concat([frame, bytes('\n'), frame]);
      const units = [...stream].flatMap((byte) => splitter.push(Buffer.from([byte])));
      expect(units.map((u) => u.bytes.toString('latin1'))).toEqual([
        frame.toString('latin1'),
        frame.toString('latin1'),
      ]);
      expect(splitter.partial).toBe(false);
    },
  );
});

describe('each receipt keeps a heartbeat of its own', () => {
  // A plain poll is the same bytes every time, and a panel may poll again (or a UDP copy arrive)
  // within the millisecond of the last: each must still reach supervision, so no two receipts may
  // give their heartbeat the same id (JetStream would drop the second as a copy).
  const framed = (body: string) => {
    const b = Buffer.from(body, 'latin1');
    const crc = crc16Arc(b).toString(16).toUpperCase().padStart(4, '0');
    const length = b.length.toString(16).toUpperCase().padStart(4, '0');
    return Buffer.from(`\n${crc}${length}${body}\r`, 'latin1');
  };
  const entry = account('AAB');
  const receive = (frame: Buffer, now: Date, occurrences?: Occurrences) =>
    receiveAs(entry, frame, now, occurrences);
  const heartbeatIds = (outs: readonly Interpretation[]) =>
    outs.flatMap((o) => o.events.filter((e) => e.type === 'heartbeat').map((e) => e.id));

  it('a press under a sequence number that restarted, hours after the same bytes, is a new event', async () => {
    // A panel that restarted (power cut, firmware update) numbers its messages from 0001 again; its
    // pendant pressed now sends the very bytes of a press four hours ago. That is a new alarm: its
    // events must not carry the first press's ids (JetStream and triage would drop them as copies).
    const press = framed('"ADM-CID"0001L0#AAB[#AAB|1101 01 001]');
    const first = new Date('2026-12-04T08:00:00.000Z');
    const later = new Date('2026-12-04T12:00:00.000Z');
    const pressIds = (out: Interpretation) =>
      out.events.filter((e) => e.type === 'pendant.pressed').map((e) => e.id);
    const occurrences = new Occurrences(120_000);
    const a = pressIds(await receive(press, first, occurrences));
    const b = pressIds(await receive(press, later, occurrences));
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    expect(b[0]).not.toBe(a[0]);
    // After a gateway restart (its memory of occurrences gone) too.
    expect(pressIds(await receive(press, later, new Occurrences(120_000)))[0]).not.toBe(a[0]);
  });

  it('a press without a timestamp resent after the next message of its account keeps its first ids, and hears the same ACK', async () => {
    // Past the copy window (40 s: the frame is stored again) but within the resend gap: its events
    // keep the first sending's ids, and JetStream stores them once.
    const press = framed('"ADM-CID"0001L0#AAB[#AAB|1101 01 001]');
    const mains = framed('"ADM-CID"0002L0#AAB[#AAB|1301 01 000]');
    const at = (s: number) => new Date(Date.parse('2026-12-04T08:00:00.000Z') + s * 1000);
    const occurrences = new Occurrences(120_000);
    const ids = (out: Interpretation) => out.events.filter((e) => e.type !== 'heartbeat').map((e) => e.id);
    const first = await receive(press, at(0), occurrences);
    const next = await receive(mains, at(5), occurrences);
    const again = await receive(press, at(60), occurrences);
    expect(ids(first)).toHaveLength(1);
    expect(ids(again)).toEqual(ids(first));
    expect(ids(next)).not.toEqual(ids(first));
    expect(again.replyFrame.equals(first.replyFrame)).toBe(true);
    // Past the gap from its last sending, a new event.
    expect(ids(await receive(press, at(181), occurrences))).not.toEqual(ids(first));
  });

  it.each([
    ['a plain poll', '"NULL"0000L0#AAB[]', 'ACK'],
    ['a frame it cannot read', '"ADM-CID"0046L0#AAB[#AAB|11O1 01 001]', 'DUH'],
  ] as const)('%s twice in one millisecond: two heartbeats', async (_name, body, reply) => {
    const now = new Date('2026-12-04T12:00:00.123Z');
    for (const occurrences of [new Occurrences(10_000), undefined]) {
      const outs = [
        await receive(framed(body), now, occurrences),
        await receive(framed(body), now, occurrences),
      ];
      expect(outs.map((o) => o.reply)).toEqual([reply, reply]);
      const ids = heartbeatIds(outs);
      expect(ids).toHaveLength(2);
      expect(new Set(ids).size).toBe(2);
    }
  });
});

describe('a message sent again under its sequence, stamped anew', () => {
  // home-assistant/core issue #88474 (Ajax): answered DUH for a code that receiver did not know,
  // the hub sent its PE again every 11 s under the same sequence, each time with a new timestamp
  // (and so a new CRC), the receiver's log times beside them. A sender that hears no ACK does the
  // same: every try is the one message, stored once, and hears the same ACK.
  const tries = [
    ['A2350038', '08:21:05', '2023-02-20T08:20:56.380Z'],
    ['27330038', '08:21:16', '2023-02-20T08:21:07.120Z'],
    ['27CB0038', '08:21:27', '2023-02-20T08:21:18.331Z'],
  ] as const;

  it('three tries of an Ajax PE: one event, the same ACK (home-assistant/core #88474)', async () => {
    const occurrences = new Occurrences(120_000);
    const outs: Interpretation[] = [];
    for (const [head, stamp, receivedAt] of tries) {
      const frame = bytes(`\n${head}"SIA-DCS"7232L0#AAA[#AAA|Nri1/PE501]_${stamp},02-20-2023\r`);
      outs.push(await receiveAs(account('AAA'), frame, new Date(receivedAt), occurrences));
    }
    expect(outs.map((o) => o.reply)).toEqual(['ACK', 'ACK', 'ACK']);
    const pe = outs.map((o) => o.events.find((e) => e.sourcecode === 'SIA PE'));
    for (const e of pe) expect(e?.data).toMatchObject({ area: '1', zone: '501' });
    expect(new Set(pe.map((e) => e?.id)).size).toBe(1);
    expect(new Set(outs.map((o) => o.replyFrame.toString('latin1')))).toEqual(
      new Set([`\n${crcField(bytes('"ACK"7232L0#AAA[]'))}0011"ACK"7232L0#AAA[]\r`]),
    );
  });
});

describe('dc09_spt: the pads it draws, 2 to 17 bytes', () => {
  // jvanovost/dc09_spt (dc09_spt/msg/dc09_msg.py, `dc09crypt`), the open-source dialler library
  // integrators build senders on (alarmo #924 points to it), pads `17 - (len(data) + 21) % 16`
  // characters drawn from chr(20)…chr(125) but `[`, `]` and `|`, then `|`, the data, `_` and the
  // timestamp: 2 to 17 bytes. Whenever `|` and the data come to 11 bytes more than a multiple of 16
  // (one message length in 16: `#1234|NRP]`), the pad is 17 bytes and its `|` the 18th. A receiver
  // in its issue #2 logs such a sender's frames read (`}rO[17]<%2hIND#f|#1234|Nri2BA3]_…`, `[17]`
  // its way of writing byte 0x17). Built here as the library builds them, a pad drawn once.
  const key = '0123456789ABCDEF';
  const entry = account('1234', { key, keyEncoding: 'ascii' });
  const now = new Date('2021-04-12T16:38:31Z');
  const drawn = '}rO\x17<%2hIND#fQ^_\x1e~';
  const spt = (type: string, msg: string) => {
    const data = `|${msg}`;
    const pad = drawn.slice(0, 17 - ((data.length + 21) % 16));
    const cipher = createCipheriv('aes-128-cbc', Buffer.from(key, 'latin1'), Buffer.alloc(16));
    cipher.setAutoPadding(false);
    const plain = bytes(`${pad}${data}_16:38:31,04-12-2021`);
    const hex = Buffer.concat([cipher.update(plain), cipher.final()])
      .toString('hex')
      .toUpperCase();
    const body = bytes(`"*${type}"0007#1234[${hex}`);
    return {
      pad,
      frame: Buffer.concat([bytes(`\n${crcField(body)}${lengthField(body)}`), body, bytes('\r')]),
    };
  };

  it('a 17-byte pad before #1234|NRP]: ACKed, encrypted, its test stored', async () => {
    const { pad, frame } = spt('SIA-DCS', '#1234|NRP]');
    expect(pad).toHaveLength(17);
    const out = await receiveAs(entry, frame, now);
    expect(out.reply, out.refusal?.detail).toBe('ACK');
    expect(out.forged).toBeUndefined();
    expect(out.events.map(describeEvent)).toEqual(['test.periodic SIA RP']);
    expect(decodeReply(out.replyFrame, Buffer.from(key, 'latin1'))).toMatchObject({ type: 'ACK' });
  });

  it.each(Array.from({ length: 16 }, (_, n) => `#1234|Nri1/RX${'1'.repeat(n + 1)}]`))(
    'every pad length: %s',
    async (msg) => {
      const out = await receiveAs(entry, spt('SIA-DCS', msg).frame, now);
      expect(out.reply, out.refusal?.detail).toBe('ACK');
      expect(out.events.map(describeEvent)).toEqual(['test.manual SIA RX', 'heartbeat']);
    },
  );

  it('its pads (2 to 17 bytes, control bytes among them) learned, none of its frames is refused', async () => {
    const pads = new PadStyles();
    const frames = [
      ...Array.from({ length: 16 }, (_, n) => spt('SIA-DCS', `#1234|Nri1/RX${'1'.repeat(n + 1)}]`).frame),
      spt('NULL', ']').frame,
      spt('ADM-CID', '#1234|1602 00 000]').frame,
      spt('SIA-DCS', '#1234|NRP]').frame,
    ];
    for (const round of [1, 2]) {
      for (const frame of frames) {
        const out = await receiveAs(entry, frame, now, undefined, pads);
        expect(out.reply, `round ${round}: ${out.refusal?.detail}`).toBe('ACK');
      }
    }
    expect(pads.style('1234')).toMatchObject({ frames: 3, control: true, shortest: 2, longest: 17 });
  });

  it('its encrypted poll (`|]` after the pad) and Contact ID', async () => {
    for (const [type, msg, events] of [
      ['NULL', ']', ['heartbeat NULL']],
      ['ADM-CID', '#1234|1602 00 000]', ['test.periodic CID 1602']],
      ['ADM-CID', '#1234|1101 01 001][X012W34]', ['pendant.pressed CID 1101', 'heartbeat']],
    ] as const) {
      const out = await receiveAs(entry, spt(type, msg).frame, now);
      expect(out.reply, `${msg}: ${out.refusal?.detail}`).toBe('ACK');
      expect(out.events.map(describeEvent)).toEqual(events);
    }
  });
});

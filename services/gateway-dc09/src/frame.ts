import { ContentError } from './content-error.ts';
import { crc16Arc, crcField, lengthField } from './crc.ts';
import { encryptPayload } from './crypto.ts';
import { dataEnd, outsideText } from './free-text.ts';

// Defined apart so the data readers (and the pad's end, found by them) need no frame of their own.
export { ContentError };

/** CR ends a frame; LF opens one. */
export const LF = 0x0a;
export const CR = 0x0d;

/**
 * The longest frame accepted: LLLL is at most 0FFF, plus LF, CRC, LLLL and CR. Anything longer
 * is refused before it is parsed, so one sender cannot make the receiver buffer without bound.
 */
export const MAX_FRAME_BYTES = 1 + 4 + 4 + 0xfff + 1;

/** What the envelope check found wrong: answered with NAK. */
export type EnvelopeProblem = 'framing' | 'crc' | 'length' | 'header';

/**
 * How a frame writes its CRC: four hex digits, as DC-09 says, or (some senders: Lupusec, TRIKDIS in
 * DC-09_2012 mode) the CRC's two bytes, high byte first. A reply is framed the way its frame was.
 */
export type CrcFormat = 'hex' | 'binary';

export interface Envelope {
  readonly ok: true;
  readonly crcFormat: CrcFormat;
  /** Every byte the CRC covers: from the opening `"` up to the byte before CR. */
  readonly body: string;
  /** The message type without `*`, upper-case: `SIA-DCS`, `ADM-CID`, `NULL`, or whatever else was sent. */
  readonly id: string;
  readonly encrypted: boolean;
  readonly seq: string;
  /** `R…` as received, or empty. */
  readonly receiver: string;
  /** `L…` as received, or empty (some senders omit it). */
  readonly line: string;
  /** Upper-case hex: the account as the registry keys it. */
  readonly account: string;
  /**
   * The account as the sender wrote it (in the header, or at the head of the data when the header
   * has none): replies echo it byte for byte, after `#`.
   */
  readonly accountAsSent: string;
  /** Everything after the `[` that opens the data: plain `data]xdata…_ts`, or ciphertext hex. */
  readonly rest: string;
}

export interface EnvelopeRefusal {
  readonly ok: false;
  readonly problem: EnvelopeProblem;
  readonly detail: string;
  /** How the frame wrote its CRC, where its layout says: the NAK is framed the same way. */
  readonly crcFormat?: CrcFormat;
}

// The sequence is 4 decimal digits, but a dialler library once counted in hex (`000B`): read, and
// echoed as sent.
const HEADER =
  /^"(\*?)([A-Za-z0-9-]{1,16})"([0-9A-Fa-f]{4})(R[0-9A-Fa-f]{1,6})?(L[0-9A-Fa-f]{0,6})?(?:#([0-9A-Fa-f]{3,16}))?\[/;
/** The account at the head of plain data, `#ACCT|` or (as some senders write it) `ACCT|`. */
const DATA_ACCOUNT = /^#?([0-9A-Fa-f]{3,16})\|/;

const refuse = (problem: EnvelopeProblem, detail: string, crcFormat?: CrcFormat): EnvelopeRefusal => ({
  ok: false,
  problem,
  detail,
  ...(crcFormat ? { crcFormat } : {}),
});

const QUOTE = 0x22;
const CR_BYTE = Buffer.from([CR]);

/**
 * Checks one frame (LF … CR) and splits its header: CRC, length, then the quoted id, sequence,
 * receiver, line and account. It never throws, whatever the bytes.
 *
 * Besides DC-09's own layout it reads what real senders send: the CRC as two bytes (`"` seven
 * bytes after the LF, where a hex frame has a length digit), and a length and CRC that count the
 * CR ending the frame (ELDES, when it sends no timestamp: one byte more than the body, and the CRC
 * of the body and that CR).
 */
export function readEnvelope(frame: Uint8Array): Envelope | EnvelopeRefusal {
  if (frame.byteLength > MAX_FRAME_BYTES) {
    return refuse('length', `frame is ${frame.byteLength} bytes; the limit is ${MAX_FRAME_BYTES}`);
  }
  if (frame.byteLength < 11 || frame[0] !== LF || frame[frame.byteLength - 1] !== CR) {
    return refuse('framing', 'a frame is LF, CRC, length, body, CR');
  }
  const crcFormat: CrcFormat = frame[7] === QUOTE ? 'binary' : 'hex';
  const lengthAt = crcFormat === 'binary' ? 3 : 5;
  // A length written in three hex digits, without its leading 0 (`03B`): the `"` one byte early,
  // where neither a binary-CRC frame (its `"` at 7) nor a four-digit length (at 9) has one.
  const lengthDigits = crcFormat === 'hex' && frame[8] === QUOTE && frame[9] !== QUOTE ? 3 : 4;
  const lengthText = Buffer.from(frame.subarray(lengthAt, lengthAt + lengthDigits)).toString('latin1');
  const bodyBytes = frame.subarray(lengthAt + lengthDigits, frame.byteLength - 1);
  let sent: number;
  if (crcFormat === 'binary') {
    sent = ((frame[1] as number) << 8) | (frame[2] as number);
  } else {
    const crcText = Buffer.from(frame.subarray(1, 5)).toString('latin1');
    // What stands in a field that is wrong is not repeated: a refusal never quotes the sender.
    if (!/^[0-9A-Fa-f]{4}$/.test(crcText)) return refuse('crc', 'CRC field is not 4 hex digits');
    sent = Number.parseInt(crcText, 16);
  }
  if (!(lengthDigits === 3 ? /^[0-9A-Fa-f]{3}$/ : /^0[0-9A-Fa-f]{3}$/).test(lengthText)) {
    return refuse('length', 'length field is not 0 and 3 hex digits', crcFormat);
  }
  const declared = Number.parseInt(lengthText, 16);
  const withCr = declared === bodyBytes.byteLength + 1;
  if (declared !== bodyBytes.byteLength && !withCr) {
    return refuse(
      'length',
      `length field says ${declared} bytes; the body is ${bodyBytes.byteLength}`,
      crcFormat,
    );
  }
  const counted = withCr ? Buffer.concat([bodyBytes, CR_BYTE]) : bodyBytes;
  if (crc16Arc(counted) !== sent) {
    const field = sent.toString(16).toUpperCase().padStart(4, '0');
    const of = withCr ? 'body and its CR' : 'body';
    return refuse('crc', `CRC field ${field}; the CRC of the ${of} is ${crcField(counted)}`, crcFormat);
  }
  const body = Buffer.from(bodyBytes).toString('latin1');
  const header = HEADER.exec(body);
  if (!header) return refuse('header', 'no "ID"SEQ[R][L][#ACCT][ header', crcFormat);
  const encrypted = header[1] === '*';
  const rest = body.slice(header[0].length);
  // Some senders name the account only in the data (`…L0001[#006969|Nri04/OP001NM]`); encrypted
  // data cannot name it, for the key to read it by is the account's.
  const account = header[6] ?? (encrypted ? undefined : DATA_ACCOUNT.exec(rest)?.[1]);
  if (account === undefined) {
    return refuse('header', 'no #ACCT in the header, and no account at the head of plain data', crcFormat);
  }
  return {
    ok: true,
    crcFormat,
    body,
    encrypted,
    // Some senders write the type in lower case (`"null"`): the same type.
    id: (header[2] as string).toUpperCase(),
    seq: header[3] as string,
    receiver: header[4] ?? '',
    line: header[5] ?? '',
    account: account.toUpperCase(),
    accountAsSent: account,
    rest,
  };
}

export interface Content {
  /** Inside the first brackets, without them: `#ACCT|Nri1/MA01`, `#ACCT|1101 01 001` or empty. */
  readonly data: string;
  /** Extended data blocks by their letter (`X`, `Y`, `M`, `V`, `I`, `K`, `H`, others kept too). */
  readonly xdata: readonly { readonly tag: string; readonly value: string }[];
  /** The sender's clock, when it sent one. */
  readonly timestamp?: Date;
  /** The content without padding. */
  readonly canonical: string;
  /** The same without the timestamp: what a sender that stamps each attempt anew resends alike. */
  readonly message: string;
  /** Extended data that could not be read, and why: the data before it is read all the same. */
  readonly unread?: string;
}

const TIMESTAMP = /^_(\d{2}):(\d{2}):(\d{2}),(\d{2})-(\d{2})-(\d{4})$/;
const TIMESTAMP_LENGTH = '_HH:MM:SS,MM-DD-YYYY'.length;
const TIMESTAMP_AT_END = /_\d{2}:\d{2}:\d{2},\d{2}-\d{2}-\d{4}$/;

function parseTimestamp(text: string): Date {
  const m = TIMESTAMP.exec(text);
  // Not quoted: in an encrypted message this is decrypted text, and may be anything.
  if (!m) throw new ContentError('timestamp is not _HH:MM:SS,MM-DD-YYYY', 'timestamp');
  const [hh, mi, ss, mm, dd, yyyy] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const at = new Date(Date.UTC(yyyy, mm - 1, dd, hh, mi, ss));
  // Date.UTC rolls 13:61 into the next hour; a sender that means that is wrong, not early.
  if (
    at.getUTCFullYear() !== yyyy ||
    at.getUTCMonth() !== mm - 1 ||
    at.getUTCDate() !== dd ||
    at.getUTCHours() !== hh ||
    at.getUTCMinutes() !== mi ||
    at.getUTCSeconds() !== ss
  ) {
    throw new ContentError(`timestamp ${text} is not a real time`, 'timestamp');
  }
  return at;
}

/** `_HH:MM:SS,MM-DD-YYYY` in UTC. */
export function formatTimestamp(at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `_${p(at.getUTCHours())}:${p(at.getUTCMinutes())}:${p(at.getUTCSeconds())},${p(at.getUTCMonth() + 1)}-${p(at.getUTCDate())}-${at.getUTCFullYear()}`;
}

/** Why an extended data block (its text between the brackets) cannot be read; undefined if it can. */
function unreadBlock(block: string | undefined): string | undefined {
  if (block === undefined) return 'is not closed';
  if (block.length === 0 || block.includes('[')) return 'is empty or holds [';
  // A block opens with its letter; one that does not is no extended data: a second data block
  // (`[#ACCT|…]`), whose events kept as its text were ACKed and lost unseen.
  if (!/^[A-Za-z]/.test(block)) return 'opens with no letter';
  return undefined;
}

/**
 * Splits plain content (after the opening `[`): data up to `]`, extended data blocks, then an
 * optional timestamp (bytes after them that do not begin one, `_`, are left unread). Throws
 * ContentError.
 */
export function readContent(rest: string): Content {
  const close = dataEnd(rest);
  if (close < 0) throw new ContentError('data has no closing ]', 'data');
  const data = rest.slice(0, close);
  if (outsideText(data).includes('[')) throw new ContentError('data contains [', 'data');
  const xdata: { tag: string; value: string }[] = [];
  let at = close + 1;
  while (rest[at] === '[') {
    const end = rest.indexOf(']', at);
    const block = end < 0 ? undefined : rest.slice(at + 1, end);
    const why = unreadBlock(block);
    if (block === undefined || why !== undefined) {
      // Text with brackets of its own (`[ILiving [main]]`), a block cut short: the data before it
      // is still the sender's alarm. What follows is left unread, but for a timestamp ending it.
      const unread = `extended data block ${xdata.length + 1} ${why}`;
      const stamp = TIMESTAMP_AT_END.exec(rest.slice(at));
      const timestamp = stamp ? parseTimestamp(stamp[0]) : undefined;
      const message = stamp ? rest.slice(0, rest.length - stamp[0].length) : rest;
      return { data, xdata, canonical: rest, message, unread, ...(timestamp ? { timestamp } : {}) };
    }
    xdata.push({ tag: block[0] as string, value: block.slice(1) });
    at = end + 1;
  }
  const tail = rest.slice(at);
  if (tail !== '' && !tail.startsWith('_')) {
    // No timestamp begun: the rest of an older message, left in the buffer a sender sends whole
    // and counted in its length and CRC (a Comxline 3516-2). It says nothing, and differs between
    // the tries of one message, so it is no part of what names the message either. An encrypted
    // message without a timestamp is still refused for that.
    const message = rest.slice(0, at);
    return { data, xdata, canonical: message, message };
  }
  // The same leftovers after a whole timestamp (`_HH:MM:SS,MM-DD-YYYY` is 20 characters) are
  // left unread too; a timestamp that is not whole or not a time is still refused.
  const stamp =
    tail.length > TIMESTAMP_LENGTH && TIMESTAMP.test(tail.slice(0, TIMESTAMP_LENGTH))
      ? tail.slice(0, TIMESTAMP_LENGTH)
      : tail;
  const timestamp = stamp === '' ? undefined : parseTimestamp(stamp);
  return {
    data,
    xdata,
    canonical: rest.slice(0, at + stamp.length),
    message: rest.slice(0, at),
    ...(timestamp ? { timestamp } : {}),
  };
}

/** LF, CRC (four hex digits, or its two bytes), length, body, CR. */
export function frameBody(body: string, crcFormat: CrcFormat = 'hex'): Buffer {
  const bytes = Buffer.from(body, 'latin1');
  if (crcFormat === 'binary') {
    const crc = crc16Arc(bytes);
    return Buffer.concat([
      Buffer.from([LF, crc >> 8, crc & 0xff]),
      Buffer.from(lengthField(bytes), 'latin1'),
      bytes,
      Buffer.from('\r'),
    ]);
  }
  return Buffer.concat([
    Buffer.from(`\n${crcField(bytes)}${lengthField(bytes)}`, 'latin1'),
    bytes,
    Buffer.from('\r'),
  ]);
}

type Echo = Pick<Envelope, 'seq' | 'receiver' | 'line' | 'accountAsSent'> & {
  /** Framed as the message was; hex when not given. */
  readonly crcFormat?: CrcFormat;
};

/** ACK echoing the message's sequence, receiver, line and account; encrypted if the key is given. */
export function ackFrame(message: Echo, now: Date, key?: Buffer): Buffer {
  const head = `${message.seq}${message.receiver}${message.line}#${message.accountAsSent}[`;
  if (!key) return frameBody(`"ACK"${head}]`, message.crcFormat);
  return frameBody(`"*ACK"${head}${encryptPayload(`]${formatTimestamp(now)}`, key)}`, message.crcFormat);
}

/** DUH: understood the frame, not its content; the sender must not retry. */
export function duhFrame(message: Echo): Buffer {
  return frameBody(
    `"DUH"${message.seq}${message.receiver}${message.line}#${message.accountAsSent}[]`,
    message.crcFormat,
  );
}

/**
 * NAK with our time, so the sender can correct its clock; never encrypted. Framed as the refused
 * frame wrote its CRC, where its layout says (a sender that writes a binary CRC reads one).
 */
export function nakFrame(now: Date, crcFormat: CrcFormat = 'hex'): Buffer {
  return frameBody(`"NAK"0000R0L0A0[]${formatTimestamp(now)}`, crcFormat);
}

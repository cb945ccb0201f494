import { createCipheriv, createDecipheriv, randomInt } from 'node:crypto';

/**
 * DC-09 as a disperser writes it. Written apart from the receiver on purpose: a second reading of
 * the protocol is what makes the round-trip tests mean something.
 */

export type KeyEncoding = 'hex' | 'ascii';

export function dialerKey(key: string, encoding: KeyEncoding): Buffer {
  const bytes = encoding === 'hex' ? Buffer.from(key, 'hex') : Buffer.from(key, 'latin1');
  if (![16, 24, 32].includes(bytes.length)) throw new RangeError(`key gives ${bytes.length} bytes`);
  return bytes;
}

const cipherName = (key: Buffer) => `aes-${key.length * 8}-cbc`;
const IV = Buffer.alloc(16);

export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1;
  }
  return crc;
}

/** `\n` CRC LLLL body `\r`. */
export function frame(body: string): Buffer {
  const bytes = Buffer.from(body, 'latin1');
  const crc = crc16(bytes).toString(16).toUpperCase().padStart(4, '0');
  const len = bytes.length.toString(16).toUpperCase().padStart(4, '0');
  return Buffer.from(`\n${crc}${len}${body}\r`, 'latin1');
}

export function timestamp(at: Date): string {
  const two = (n: number) => n.toString().padStart(2, '0');
  return (
    `_${two(at.getUTCHours())}:${two(at.getUTCMinutes())}:${two(at.getUTCSeconds())},` +
    `${two(at.getUTCMonth() + 1)}-${two(at.getUTCDate())}-${at.getUTCFullYear()}`
  );
}

/**
 * How a sender pads before encrypting. DC-09 forbids only `|`, `[` and `]` in the pad, and senders
 * differ: some use printable characters, others any byte; some add a whole block when the content
 * already fills whole blocks.
 */
export interface PadStyle {
  /**
   * `binary`: any byte but `|`, `[`, `]` (control and 8-bit bytes included); `printable`: letters and
   * digits; `8-bit`: bytes 0x80 to 0xFF only (a panel whose firmware changed how it pads, for a
   * receiver that learned its printable pads).
   */
  readonly bytes?: 'binary' | 'printable' | '8-bit';
  /** A full 16-byte pad when the content already fills whole blocks (else no pad at all). */
  readonly fullBlock?: boolean;
}

const PRINTABLE = 'QWERTYUIOPASDFGHJKLZXCVBNMqwertyuiopasdfghjklzxcvbnm0123456789';
const FORBIDDEN_IN_PAD = new Set([0x7c, 0x5b, 0x5d]);

function padByte(bytes: NonNullable<PadStyle['bytes']>): number {
  if (bytes === 'printable') return PRINTABLE.charCodeAt(randomInt(PRINTABLE.length));
  if (bytes === '8-bit') return 0x80 + randomInt(0x80);
  for (;;) {
    const byte = randomInt(256);
    if (!FORBIDDEN_IN_PAD.has(byte)) return byte;
  }
}

export function encrypt(content: string, key: Buffer, style: PadStyle = {}): string {
  let length = (16 - ((content.length + 1) % 16)) % 16;
  if (length === 0 && style.fullBlock) length = 16;
  const pad = Buffer.from(Array.from({ length }, () => padByte(style.bytes ?? 'binary')));
  const cipher = createCipheriv(cipherName(key), key, IV).setAutoPadding(false);
  return Buffer.concat([
    cipher.update(Buffer.concat([pad, Buffer.from(`|${content}`, 'latin1')])),
    cipher.final(),
  ])
    .toString('hex')
    .toUpperCase();
}

export function decrypt(hex: string, key: Buffer): string {
  const decipher = createDecipheriv(cipherName(key), key, IV).setAutoPadding(false);
  const text = Buffer.concat([decipher.update(Buffer.from(hex, 'hex')), decipher.final()]).toString('latin1');
  return text.slice(text.indexOf('|') + 1);
}

/** One event a disperser reports. */
export type DialerEvent =
  | {
      readonly kind: 'cid';
      readonly qualifier: 1 | 3 | 6;
      readonly code: string;
      readonly group?: string;
      readonly zone?: string;
    }
  | {
      readonly kind: 'sia';
      readonly code: string;
      readonly zone?: string;
      readonly area?: string;
      /** `id` modifier: the user (a resident's pendant number, an installer's code). */
      readonly user?: string;
      /** `pi` modifier: the peripheral (radio device) that reported. */
      readonly peripheral?: string;
      /** Zone name, sent as `^…^` after the event. */
      readonly text?: string;
      /** An `|A…` ASCII text block after the event's block. */
      readonly ascii?: string;
      /**
       * When it happened, sent as `ti`/`da` modifiers (UTC) before the code, as a panel reports
       * events it buffered; like any SIA modifier it stays in force for the events after it.
       */
      readonly at?: Date;
    };

export interface MessageParts {
  readonly type: 'SIA-DCS' | 'ADM-CID' | 'NULL';
  readonly seq: number;
  readonly account: string;
  readonly receiver?: string;
  readonly line?: string;
  readonly events: readonly DialerEvent[];
  /** Extended data blocks, e.g. `{ tag: 'X', value: '0.1234' }`. */
  readonly xdata?: readonly { readonly tag: string; readonly value: string }[];
  /** Omitted only for plain messages from a sender without a clock. */
  readonly at?: Date;
  readonly key?: Buffer;
  /** How the pad is made (default: any allowed byte, a full block when the content fills whole blocks). */
  readonly pad?: PadStyle;
  /** How SIA data is written (default `compact`, as most panels write it). */
  readonly sia?: 'compact' | 'slashed';
}

function cidData(events: readonly DialerEvent[]): string {
  return events
    .map((e) => {
      if (e.kind !== 'cid') throw new TypeError('ADM-CID carries Contact ID events only');
      return `${e.qualifier}${e.code} ${e.group ?? '01'} ${e.zone ?? '001'}`;
    })
    .join('/');
}

/**
 * SIA DC-03 data. `compact` writes modifiers and events run together as most panels do
 * (`Nri1id3MA1`); `slashed` puts `/` between them (`Nri1/id3/MA1`). An event with `ascii` ends its
 * block with `|A…`; the next event opens a new `N` block.
 */
function siaData(events: readonly DialerEvent[], style: 'compact' | 'slashed'): string {
  const join = style === 'compact' ? '' : '/';
  const blocks: string[] = [];
  let parts: string[] = [];
  const modifiers: Record<string, string> = {};
  const set = (name: string, value: string | undefined) => {
    if (value === undefined || modifiers[name] === value) return;
    parts.push(`${name}${value}`);
    modifiers[name] = value;
  };
  for (const e of events) {
    if (e.kind !== 'sia') throw new TypeError('SIA-DCS carries SIA events only');
    set('ri', e.area);
    set('id', e.user);
    set('pi', e.peripheral);
    if (e.at) {
      const p = (n: number) => String(n).padStart(2, '0');
      set('ti', `${p(e.at.getUTCHours())}:${p(e.at.getUTCMinutes())}:${p(e.at.getUTCSeconds())}`);
      set('da', `${p(e.at.getUTCMonth() + 1)}-${p(e.at.getUTCDate())}-${p(e.at.getUTCFullYear() % 100)}`);
    }
    parts.push(`${e.code}${e.zone ?? ''}${e.text === undefined ? '' : `^${e.text}^`}`);
    if (e.ascii !== undefined) {
      blocks.push(`N${parts.join(join)}`, `A${e.ascii}`);
      parts = [];
    }
  }
  if (parts.length) blocks.push(`N${parts.join(join)}`);
  return blocks.join('|');
}

/** The framed bytes of one message. */
export function encodeMessage(parts: MessageParts): Buffer {
  const seq = (parts.seq % 10000).toString().padStart(4, '0');
  const head = `${seq}${parts.receiver ? `R${parts.receiver}` : ''}${parts.line === undefined ? 'L0' : parts.line ? `L${parts.line}` : ''}#${parts.account}[`;
  const data =
    parts.type === 'NULL' || parts.events.length === 0
      ? ''
      : `#${parts.account}|${parts.type === 'ADM-CID' ? cidData(parts.events) : siaData(parts.events, parts.sia ?? 'compact')}`;
  const xdata = (parts.xdata ?? []).map((block) => `[${block.tag}${block.value}]`).join('');
  const content = `${data}]${xdata}${parts.at ? timestamp(parts.at) : ''}`;
  if (!parts.key) return frame(`"${parts.type}"${head}${content}`);
  if (!parts.at) throw new TypeError('an encrypted message needs a timestamp');
  return frame(
    `"*${parts.type}"${head}${encrypt(content, parts.key, { bytes: 'binary', fullBlock: true, ...parts.pad })}`,
  );
}

export interface Reply {
  readonly type: 'ACK' | 'NAK' | 'DUH' | 'RSP' | string;
  readonly seq: string;
  readonly account?: string;
  /** The receiver's clock (NAK, encrypted ACK). */
  readonly at?: Date;
}

/** Reads a receiver's reply frame; undefined if it is not a valid one. */
export function decodeReply(bytes: Uint8Array, key?: Buffer): Reply | undefined {
  const text = Buffer.from(bytes).toString('latin1');
  const m = /^\n([0-9A-F]{4})(0[0-9A-F]{3})(".*)\r$/s.exec(text);
  if (!m) return undefined;
  const body = m[3] as string;
  if (Number.parseInt(m[1] as string, 16) !== crc16(Buffer.from(body, 'latin1'))) return undefined;
  if (Number.parseInt(m[2] as string, 16) !== body.length) return undefined;
  const h =
    /^"(\*?)([A-Z-]+)"(\d{4})(?:R[0-9A-F]*)?(?:L[0-9A-F]*)?(?:A[0-9A-F]*)?(?:#([0-9A-F]+))?\[(.*)$/s.exec(
      body,
    );
  if (!h) return undefined;
  let rest = h[5] as string;
  if (h[1] === '*') {
    if (!key) return undefined;
    try {
      rest = decrypt(rest, key);
    } catch {
      return undefined;
    }
  }
  const ts = /_(\d{2}):(\d{2}):(\d{2}),(\d{2})-(\d{2})-(\d{4})$/.exec(rest);
  const at = ts
    ? new Date(
        Date.UTC(
          Number(ts[6]),
          Number(ts[4]) - 1,
          Number(ts[5]),
          Number(ts[1]),
          Number(ts[2]),
          Number(ts[3]),
        ),
      )
    : undefined;
  return {
    type: h[2] as string,
    seq: h[3] as string,
    ...(h[4] ? { account: h[4] } : {}),
    ...(at ? { at } : {}),
  };
}

/**
 * Reads the reply frames in what a receiver sent so far (`buffer`): each ends at a CR and opens at
 * the last LF before it; what follows the last CR is kept for the next bytes. A frame that does not
 * parse is no reply (its sender waits on, and sends again after its timeout).
 */
export function readReplies(buffer: Buffer, key?: Buffer): { replies: Reply[]; rest: Buffer } {
  const replies: Reply[] = [];
  let rest = buffer;
  for (let cr = rest.indexOf(0x0d); cr >= 0; cr = rest.indexOf(0x0d)) {
    const one = rest.subarray(0, cr + 1);
    rest = rest.subarray(cr + 1);
    const start = one.indexOf(0x0a);
    const reply = start < 0 ? undefined : decodeReply(one.subarray(start), key);
    if (reply) replies.push(reply);
  }
  return { replies, rest };
}

import { CR, LF, MAX_FRAME_BYTES } from './frame.ts';

/** A unit of input to answer: a CR-terminated frame, or bytes that never became one. */
export interface Unit {
  readonly bytes: Buffer;
  /** The sender went past MAX_FRAME_BYTES without a CR; only the first bytes are kept. */
  readonly oversized: boolean;
}

/** Only line ends (a lone CR, an LF and CR): noise between frames, nothing to answer. */
const onlyLineEnds = (bytes: Uint8Array): boolean =>
  bytes.length <= 2 && bytes.every((byte) => byte === LF || byte === CR);

const QUOTE = 0x22;
const allNul = (bytes: Uint8Array): boolean => bytes.every((byte) => byte === 0);
const ZERO = 0x30;
const isHexDigit = (byte: number | undefined): boolean =>
  byte !== undefined &&
  ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66));

/**
 * Whether the bytes from `at` read as the head of a frame with a binary CRC: LF, two CRC bytes,
 * `0LLL`, `"`. Some senders write the CRC as two bytes rather than four hex digits, and either
 * byte may be a CR or an LF; only a binary-CRC frame has its `"` seven bytes after its LF (a hex
 * frame has a length digit there).
 */
const binaryHeadAt = (byte: (index: number) => number | undefined, at: number): boolean =>
  byte(at) === LF &&
  byte(at + 3) === ZERO &&
  isHexDigit(byte(at + 4)) &&
  isHexDigit(byte(at + 5)) &&
  isHexDigit(byte(at + 6)) &&
  byte(at + 7) === QUOTE;

/**
 * Whether the bytes from `at` may still become a binary-CRC frame head once more bytes come: every
 * byte of it already read (before `end`) is what the head needs there, and some are yet to come.
 */
const binaryHeadMayFollow = (
  byte: (index: number) => number | undefined,
  at: number,
  end: number,
): boolean => {
  if (at + 7 < end || byte(at) !== LF) return false;
  const needs: ReadonlyArray<readonly [number, (b: number | undefined) => boolean]> = [
    [3, (b) => b === ZERO],
    [4, isHexDigit],
    [5, isHexDigit],
    [6, isHexDigit],
    [7, (b) => b === QUOTE],
  ];
  return needs.every(([offset, ok]) => at + offset >= end || ok(byte(at + offset)));
};

/** Whether a unit reads as the head of a frame, with a hex or a binary CRC. */
const frameHead = (bytes: Uint8Array): boolean =>
  bytes[0] === LF &&
  ((bytes[5] === ZERO && bytes[9] === QUOTE) ||
    (bytes[3] === ZERO &&
      bytes[7] === QUOTE &&
      isHexDigit(bytes[4]) &&
      isHexDigit(bytes[5]) &&
      isHexDigit(bytes[6])));

/**
 * Cuts a TCP byte stream into CR-terminated units, holding at most MAX_FRAME_BYTES per
 * connection. A frame opens with LF: whatever came before the last LF ahead of its CR (the LF of
 * a sender that ends frames with CR LF, line noise, a frame cut short) is not part of it, so it
 * costs neither the frame after it nor a NAK; so are NUL bytes after a frame's CR (some senders
 * end their frames CR NUL). A binary CRC is any two bytes, CR and LF among them: a CR or an LF
 * that is one of the two bytes after the LF of a binary-CRC frame head is part of the frame (told
 * by the bytes after it up to the `"`: where a read ends before them, the bytes from the last cut
 * wait for the next read, and a datagram's end decides them as a CR that ends the frame).
 * A sender that never sends CR gets its first MAX_FRAME_BYTES answered as one oversized unit and
 * the rest dropped up to the next LF or CR, so it cannot grow our memory.
 */
export class FrameSplitter {
  #parts: Buffer[] = [];
  #held = 0;
  #discarding = false;
  /** The last byte seen was a CR. */
  #afterCr = false;
  /**
   * What is held opened at the LF right after a CR (NULs between them aside): the end of a CR LF,
   * not yet a frame begun while nothing but NULs follows it.
   */
  #trailer = false;
  /** Everything held after its opening LF is NUL (a sender that ends its lines CR LF NUL). */
  #onlyNuls = false;
  /**
   * The two bytes before the LF that opens what is held (-1 where there was none): when that LF is
   * a byte of a binary CRC, the frame's own LF is one of them.
   */
  #before1 = -1;
  #before2 = -1;
  /**
   * Bytes read and not yet cut: they hold a CR one or two bytes after an LF, and whether that CR is
   * a byte of a binary CRC (the bytes up to its `"`) has not come yet. At most the rest of one read.
   */
  #undecided: Buffer | undefined;

  push(chunk: Buffer): Unit[] {
    if (this.#undecided) {
      chunk = Buffer.concat([this.#undecided, chunk]);
      this.#undecided = undefined;
    }
    return this.#cut(chunk, false);
  }

  /**
   * The end of the input (a datagram's end): a CR still undecided ends its frame, as a CR does when
   * nothing more can come to make it a CRC byte.
   */
  end(): Unit[] {
    const rest = this.#undecided;
    this.#undecided = undefined;
    return rest ? this.#cut(rest, true) : [];
  }

  #cut(chunk: Buffer, last: boolean): Unit[] {
    const units: Unit[] = [];
    let start = 0;
    while (start < chunk.length) {
      let cr = chunk.indexOf(CR, start);
      for (; cr >= 0; cr = chunk.indexOf(CR, cr + 1)) {
        const crc = this.#crcByte(chunk, start, cr, last);
        if (crc === 'undecided') {
          // A frame's head cut by the end of this read (a serial bridge sends a byte at a time):
          // whether this CR ends a frame is told by the next bytes, so nothing from here is cut yet.
          this.#undecided = Buffer.from(chunk.subarray(start));
          return units;
        }
        if (!crc) break;
      }
      const end = cr < 0 ? chunk.length : cr + 1;
      let piece = chunk.subarray(start, end);
      const afterCr = this.#afterCr;
      this.#afterCr = cr >= 0;
      start = end;
      const lf = piece.lastIndexOf(LF);
      if (lf >= 0) {
        // Read both before either changes: what is held goes on back through them.
        const before1 = lf >= 1 ? (piece[lf - 1] as number) : (this.#heldByte(1) ?? -1);
        const before2 = lf >= 2 ? (piece[lf - 2] as number) : (this.#heldByte(2 - lf) ?? -1);
        this.#before1 = before1;
        this.#before2 = before2;
        this.#parts = [];
        this.#held = 0;
        this.#discarding = false;
        this.#trailer = afterCr && allNul(piece.subarray(0, lf));
        piece = piece.subarray(lf);
        this.#onlyNuls = allNul(piece.subarray(1));
      } else if (this.#held === 0 && !this.#discarding && piece[0] === 0) {
        // Nothing begun: NULs here are what a sender put after its CR.
        let nul = 1;
        while (nul < piece.length && piece[nul] === 0) nul++;
        if (nul === piece.length) {
          this.#afterCr = afterCr;
          continue;
        }
        piece = piece.subarray(nul);
      }
      if (this.#discarding) {
        if (cr >= 0) this.#discarding = false;
        continue;
      }
      if (this.#held + piece.length > MAX_FRAME_BYTES) {
        const room = MAX_FRAME_BYTES - this.#held;
        units.push({ bytes: Buffer.concat([...this.#parts, piece.subarray(0, room)]), oversized: true });
        this.#parts = [];
        this.#held = 0;
        this.#before1 = -1;
        this.#before2 = -1;
        this.#discarding = cr < 0;
        continue;
      }
      if (lf < 0) {
        // Bytes with no LF before them open nothing; after an LF, any but NUL begin a frame.
        if (this.#held === 0) this.#trailer = false;
        else if (this.#onlyNuls && !allNul(piece)) this.#onlyNuls = false;
      }
      this.#parts.push(piece);
      this.#held += piece.length;
      if (cr >= 0) {
        const bytes = this.#opened(Buffer.concat(this.#parts));
        this.#parts = [];
        this.#held = 0;
        this.#before1 = -1;
        this.#before2 = -1;
        if (!onlyLineEnds(bytes)) units.push({ bytes, oversized: false });
      }
    }
    return units;
  }

  /**
   * A unit opened at an LF that is the first or second byte of a binary CRC reads as no frame
   * head: the frame's own LF is one or two bytes before it.
   */
  #opened(bytes: Buffer): Buffer {
    if ((this.#before1 !== LF && this.#before2 !== LF) || frameHead(bytes)) return bytes;
    const from1 = (i: number) => (i === 0 ? this.#before1 : bytes[i - 1]);
    if (binaryHeadAt(from1, 0)) return Buffer.concat([Buffer.from([LF]), bytes]);
    const from2 = (i: number) => (i === 0 ? this.#before2 : i === 1 ? this.#before1 : bytes[i - 2]);
    if (binaryHeadAt(from2, 0)) return Buffer.concat([Buffer.from([LF, this.#before1]), bytes]);
    return bytes;
  }

  /**
   * Whether the CR at `cr` is a byte of a binary CRC: an LF one or two bytes before it (in this
   * read, or held from the last) opens bytes that read as a binary-CRC frame head. `undecided` while
   * the read ends before those bytes and what came of them still reads so; at the `last` bytes of
   * the input the CR then ends the frame, as any CR does.
   */
  #crcByte(chunk: Buffer, start: number, cr: number, last: boolean): boolean | 'undecided' {
    // Most CRs follow a digit or `]`: no LF within two bytes before them, nothing to look at.
    const one = cr - 1 >= start ? chunk[cr - 1] : this.#heldByte(start - cr + 1);
    const two = cr - 2 >= start ? chunk[cr - 2] : this.#heldByte(start - cr + 2);
    if (one !== LF && two !== LF) return false;
    const near = (index: number) => (index >= start ? chunk[index] : this.#heldByte(start - index));
    if (binaryHeadAt(near, cr - 1) || binaryHeadAt(near, cr - 2)) return true;
    if (last) return false;
    return binaryHeadMayFollow(near, cr - 1, chunk.length) || binaryHeadMayFollow(near, cr - 2, chunk.length)
      ? 'undecided'
      : false;
  }

  /**
   * The byte `back` bytes before the end of what is held (1 is the last), if known: past the held
   * bytes, the two before the LF that opened them (an LF that was a CRC byte, read alone, opened
   * them and the frame's own LF is one of those two).
   */
  #heldByte(back: number): number | undefined {
    for (let p = this.#parts.length - 1; p >= 0; p--) {
      const part = this.#parts[p] as Buffer;
      if (back <= part.length) return part[part.length - back];
      back -= part.length;
    }
    const before = back === 1 ? this.#before1 : back === 2 ? this.#before2 : -1;
    return before < 0 ? undefined : before;
  }

  /** Bytes held for an unfinished frame (the last of the input: those not yet cut come after it). */
  get held(): number {
    return this.#held + (this.#undecided?.length ?? 0);
  }

  /**
   * Whether a frame has begun and not reached its CR (held, or being discarded as oversized). The
   * LF of a CR LF is not a frame begun: a sender that ends its frames so may stay quiet after one.
   */
  get partial(): boolean {
    return (
      // Line ends alone (CR LF CR) are no frame begun, even while their CR is undecided.
      (this.#undecided?.some((byte) => byte !== CR && byte !== LF) ?? false) ||
      this.#discarding ||
      (this.#held > 0 && !(this.#trailer && this.#onlyNuls))
    );
  }
}

/**
 * Whether a unit after a frame of its connection is the rest of the sender's send buffer rather
 * than a frame: no LF opens it, and no `"` stands where a frame that lost its LF would open its id
 * (after a two-byte CRC and `0LLL`, four hex digits and `LLL`, or four and `0LLL`). DC-09 answers
 * NAK to a frame received and not acceptable; such bytes are no frame, and on a connection that
 * carries many frames a NAK to them is read by the sender as the answer to its next message.
 */
export const strayAfterFrame = (bytes: Uint8Array): boolean =>
  bytes[0] !== LF && bytes[6] !== QUOTE && bytes[7] !== QUOTE && bytes[8] !== QUOTE;

/**
 * A UDP datagram is self-contained: its CR-terminated frames, and an unterminated tail that is a
 * frame cut short (or the whole datagram, when it holds no frame).
 */
export function splitDatagram(datagram: Buffer): Unit[] {
  const splitter = new FrameSplitter();
  // After a frame, bytes that no LF opens are the rest of the sender's buffer (the end of a longer
  // message sent before, its CR included), not a frame that lost its LF: noise, as below.
  let framed = false;
  const units = [...splitter.push(datagram), ...splitter.end()].filter((unit) => {
    const opened = unit.bytes[0] === LF;
    const keep = opened || !framed;
    framed ||= opened;
    return keep;
  });
  if (splitter.held > 0) {
    const tail = datagram.subarray(datagram.length - splitter.held);
    // A frame cut short opens with LF. Anything else after a frame's CR is noise, as bytes before an
    // LF are on TCP (a sender that sends its whole buffer, the end of an older message in it), and
    // so are line ends and NULs after an LF (CR LF NUL). A datagram with no frame in it at all is
    // still a unit, to be counted and recorded (a sender speaking another protocol to our port).
    const cutShort = tail[0] === LF && !tail.every((byte) => byte === LF || byte === CR || byte === 0);
    if (cutShort || (units.length === 0 && tail[0] !== LF))
      units.push({ bytes: Buffer.from(tail), oversized: false });
  }
  return units;
}

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

/**
 * Cuts a TCP byte stream into CR-terminated units, holding at most MAX_FRAME_BYTES per
 * connection. A frame opens with LF: whatever came before the last LF ahead of its CR (the LF of
 * a sender that ends frames with CR LF, line noise, a frame cut short) is not part of it, so it
 * costs neither the frame after it nor a NAK. A sender that never sends CR gets its first
 * MAX_FRAME_BYTES answered as one oversized unit and the rest dropped up to the next LF or CR, so
 * it cannot grow our memory.
 */
export class FrameSplitter {
  #parts: Buffer[] = [];
  #held = 0;
  #discarding = false;
  /** The last byte seen was a CR. */
  #afterCr = false;
  /** What is held is the LF right after a CR: the end of a CR LF, not yet a frame begun. */
  #trailer = false;

  push(chunk: Buffer): Unit[] {
    const units: Unit[] = [];
    let start = 0;
    while (start < chunk.length) {
      const cr = chunk.indexOf(CR, start);
      const end = cr < 0 ? chunk.length : cr + 1;
      let piece = chunk.subarray(start, end);
      const afterCr = this.#afterCr;
      this.#afterCr = cr >= 0;
      start = end;
      const lf = piece.lastIndexOf(LF);
      if (lf >= 0) {
        this.#parts = [];
        this.#held = 0;
        this.#discarding = false;
        this.#trailer = afterCr && lf === 0;
        piece = piece.subarray(lf);
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
        this.#discarding = cr < 0;
        continue;
      }
      this.#parts.push(piece);
      this.#held += piece.length;
      if (cr >= 0) {
        const bytes = Buffer.concat(this.#parts);
        this.#parts = [];
        this.#held = 0;
        if (!onlyLineEnds(bytes)) units.push({ bytes, oversized: false });
      }
    }
    return units;
  }

  /** Bytes held for an unfinished frame. */
  get held(): number {
    return this.#held;
  }

  /**
   * Whether a frame has begun and not reached its CR (held, or being discarded as oversized). The
   * LF of a CR LF is not a frame begun: a sender that ends its frames so may stay quiet after one.
   */
  get partial(): boolean {
    return this.#discarding || this.#held > 1 || (this.#held === 1 && !this.#trailer);
  }
}

/** A UDP datagram is self-contained: its CR-terminated frames, and any unterminated tail. */
export function splitDatagram(datagram: Buffer): Unit[] {
  const splitter = new FrameSplitter();
  const units = splitter.push(datagram);
  if (splitter.held > 0) {
    const tail = datagram.subarray(datagram.length - splitter.held);
    if (!onlyLineEnds(tail)) units.push({ bytes: Buffer.from(tail), oversized: false });
  }
  return units;
}

import { CR, MAX_FRAME_BYTES } from './frame.ts';

/** A unit of input to answer: a CR-terminated frame, or bytes that never became one. */
export interface Unit {
  readonly bytes: Buffer;
  /** The sender went past MAX_FRAME_BYTES without a CR; only the first bytes are kept. */
  readonly oversized: boolean;
}

/**
 * Cuts a TCP byte stream into CR-terminated units, holding at most MAX_FRAME_BYTES per
 * connection. A sender that never sends CR gets its first MAX_FRAME_BYTES answered as one
 * oversized unit and the rest dropped up to the next CR, so it cannot grow our memory.
 */
export class FrameSplitter {
  #parts: Buffer[] = [];
  #held = 0;
  #discarding = false;

  push(chunk: Buffer): Unit[] {
    const units: Unit[] = [];
    let start = 0;
    while (start < chunk.length) {
      const cr = chunk.indexOf(CR, start);
      const end = cr < 0 ? chunk.length : cr + 1;
      const piece = chunk.subarray(start, end);
      start = end;
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
        // A lone CR (or CRLF leftovers) between frames is noise, not a frame to answer.
        if (bytes.length > 1 || bytes[0] !== CR) units.push({ bytes, oversized: false });
      }
    }
    return units;
  }

  /** Bytes held for an unfinished frame. */
  get held(): number {
    return this.#held;
  }

  /** Whether a frame has begun and not reached its CR (held, or being discarded as oversized). */
  get partial(): boolean {
    return this.#held > 0 || this.#discarding;
  }
}

/** A UDP datagram is self-contained: its CR-terminated frames, and any unterminated tail. */
export function splitDatagram(datagram: Buffer): Unit[] {
  const splitter = new FrameSplitter();
  const units = splitter.push(datagram);
  if (splitter.held > 0) {
    const tail = datagram.subarray(datagram.length - splitter.held);
    units.push({ bytes: Buffer.from(tail), oversized: false });
  }
  return units;
}

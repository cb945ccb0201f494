import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import {
  type DialerEvent,
  dialerKey,
  encodeMessage,
  type KeyEncoding,
  type PadStyle,
  type Reply,
  readReplies,
} from './codec.ts';

export interface DiallerOptions {
  readonly host: string;
  readonly port: number;
  readonly transport: 'tcp' | 'udp';
  /** 3–16 hex digits. */
  readonly account: string;
  readonly receiver?: string;
  /** Line prefix digits; '' leaves L out, as some senders do. Default `0`. */
  readonly line?: string;
  readonly key?: { readonly value: string; readonly encoding: KeyEncoding };
  /** How long to wait for an answer before sending again. */
  readonly answerTimeoutMs?: number;
  /** Sends of one message before giving up (NAKs and silences both count). */
  readonly maxAttempts?: number;
  /** Where the dialler's clock starts relative to the real one (a drifted clock). */
  readonly clockOffsetMs?: number;
  /** The real clock the offset applies to (default `Date.now`): a test's manual clock. */
  readonly now?: () => number;
  /** Leave timestamps off plain messages (old senders). */
  readonly noTimestamp?: boolean;
  /**
   * Polls as many dispersers send them: sequence 0000 and, unencrypted, no timestamp, so every
   * poll is the same bytes.
   */
  readonly plainPolls?: boolean;
  /** How the pad is made (default: any allowed byte, a full block when the content fills whole blocks). */
  readonly pad?: PadStyle;
  /** How SIA data is written (default `compact`: `Nri1MA1`). */
  readonly sia?: 'compact' | 'slashed';
}

export interface DialResult {
  readonly reply: 'ACK' | 'DUH';
  readonly seq: number;
  readonly attempts: number;
  /** First send to the final answer. */
  readonly latencyMs: number;
  readonly naks: number;
}

/** The receiver never acknowledged: every attempt met NAK or silence. */
export class DialFailedError extends Error {
  override readonly name = 'DialFailedError';
  constructor(
    message: string,
    readonly context: { readonly attempts: number; readonly naks: number; readonly last?: string },
  ) {
    super(message);
  }
}

/**
 * A DC-09 disperser: numbers its messages 0001–9999, sends one at a time and waits for the
 * answer; on NAK it takes the receiver's clock from the NAK and sends again (re-stamped and
 * re-encrypted), on silence it sends the same message again; DUH ends the attempt, as the
 * standard says.
 */
export class Dc09Dialler {
  readonly #o: DiallerOptions;
  readonly #key: Buffer | undefined;
  #seq = 0;
  #offsetMs: number;
  readonly #now: () => number;
  #tcp: Socket | undefined;
  #udp: UdpSocket | undefined;
  #buffer: Buffer = Buffer.alloc(0);
  #waiting: ((reply: Reply | undefined) => void) | undefined;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(options: DiallerOptions) {
    this.#o = options;
    this.#key = options.key ? dialerKey(options.key.value, options.key.encoding) : undefined;
    this.#offsetMs = options.clockOffsetMs ?? 0;
    this.#now = options.now ?? Date.now;
  }

  /** How far the dialler's clock is from the real one (after corrections from NAKs). */
  get clockOffsetMs(): number {
    return this.#offsetMs;
  }

  async connect(): Promise<void> {
    if (this.#o.transport === 'udp') {
      const socket = createSocket('udp4');
      socket.on('message', (msg) => this.#frames(msg));
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
      this.#udp = socket;
      return;
    }
    const socket = connect({ host: this.#o.host, port: this.#o.port, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.on('data', (chunk: Buffer) => this.#frames(chunk));
    socket.on('error', () => undefined);
    this.#tcp = socket;
  }

  async close(): Promise<void> {
    this.#tcp?.destroy();
    if (this.#udp) await new Promise<void>((resolve) => this.#udp?.close(() => resolve()));
  }

  /** Contact ID events in one ADM-CID message. */
  sendCid(events: readonly Extract<DialerEvent, { kind: 'cid' }>[]): Promise<DialResult> {
    return this.#serial(() => this.#dial('ADM-CID', events));
  }

  /** SIA events in one SIA-DCS message. */
  sendSia(events: readonly Extract<DialerEvent, { kind: 'sia' }>[]): Promise<DialResult> {
    return this.#serial(() => this.#dial('SIA-DCS', events));
  }

  /** A NULL supervision poll. */
  poll(): Promise<DialResult> {
    return this.#serial(() => this.#dial('NULL', []));
  }

  /** Sends raw bytes once and returns the answer (or undefined after the timeout): for tests of bad input. */
  sendRaw(bytes: Uint8Array): Promise<Reply | undefined> {
    return this.#serial(async () => {
      const answer = this.#answer();
      this.#write(bytes);
      return answer;
    });
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(work, work);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #dial(type: 'SIA-DCS' | 'ADM-CID' | 'NULL', events: readonly DialerEvent[]): Promise<DialResult> {
    const plainPoll = type === 'NULL' && this.#o.plainPolls === true;
    if (!plainPoll) this.#seq = (this.#seq % 9999) + 1;
    const seq = plainPoll ? 0 : this.#seq;
    const maxAttempts = this.#o.maxAttempts ?? 3;
    const started = performance.now();
    let naks = 0;
    let bytes: Buffer | undefined;
    let last: string | undefined;
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      // Re-stamped after a NAK (the clock moved); the same bytes after silence (a plain resend).
      if (!bytes) {
        bytes = encodeMessage({
          type,
          seq,
          account: this.#o.account,
          events,
          ...(this.#o.receiver === undefined ? {} : { receiver: this.#o.receiver }),
          ...(this.#o.line === undefined ? {} : { line: this.#o.line }),
          ...((this.#o.noTimestamp || plainPoll) && !this.#key
            ? {}
            : { at: new Date(this.#now() + this.#offsetMs) }),
          ...(this.#key ? { key: this.#key } : {}),
          ...(this.#o.pad ? { pad: this.#o.pad } : {}),
          ...(this.#o.sia ? { sia: this.#o.sia } : {}),
        });
      }
      const answer = this.#answer();
      this.#write(bytes);
      const reply = await answer;
      if (!reply) {
        last = 'no answer';
        continue;
      }
      last = reply.type;
      if (reply.type === 'ACK' && Number(reply.seq) === seq) {
        return { reply: 'ACK', seq, attempts: attempt, latencyMs: performance.now() - started, naks };
      }
      if (reply.type === 'DUH') {
        return { reply: 'DUH', seq, attempts: attempt, latencyMs: performance.now() - started, naks };
      }
      if (reply.type === 'NAK') {
        naks++;
        if (reply.at) this.#offsetMs = reply.at.getTime() - this.#now();
        bytes = undefined;
      }
    }
    throw new DialFailedError(`no ACK for ${type} ${seq} after ${maxAttempts} attempts (last: ${last})`, {
      attempts: maxAttempts,
      naks,
      ...(last === undefined ? {} : { last }),
    });
  }

  #write(bytes: Uint8Array): void {
    if (this.#udp) this.#udp.send(bytes, this.#o.port, this.#o.host);
    else this.#tcp?.write(bytes);
  }

  #answer(): Promise<Reply | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        resolve(undefined);
      }, this.#o.answerTimeoutMs ?? 2_000);
      this.#waiting = (reply) => {
        clearTimeout(timer);
        this.#waiting = undefined;
        resolve(reply);
      };
    });
  }

  #frames(chunk: Buffer): void {
    const { replies, rest } = readReplies(Buffer.concat([this.#buffer, chunk]), this.#key);
    this.#buffer = rest;
    for (const reply of replies) this.#waiting?.(reply);
  }
}

import { connect, type Socket } from 'node:net';
import { AckTimeoutError, EventRejectedError } from '../resend.ts';
import {
  type DialerEvent,
  dialerKey,
  encodeMessage,
  type KeyEncoding,
  type Reply,
  readReplies,
} from './codec.ts';

export interface PanelOptions {
  readonly host: string;
  /** The receiver's TCP port. */
  readonly port: number;
  /** 3–16 hex digits. */
  readonly account: string;
  readonly key: { readonly value: string; readonly encoding: KeyEncoding };
  /** How long the panel waits for an answer to one sending before it counts it unanswered (3 s). */
  readonly answerTimeoutMs?: number;
  /** The wait after a NAK or an unanswered sending before the next: doubling from this (1 s)… */
  readonly resendMs?: number;
  /** …up to this (10 s). Connecting again after the line dropped waits the same way. */
  readonly resendMaxMs?: number;
}

/** A message the receiver acknowledged. */
export interface PanelAck {
  readonly seq: number;
  /** The timestamp of the sending that was ACKed. */
  readonly at: Date;
  /** Sendings of it, the first included. */
  readonly attempts: number;
  readonly naks: number;
}

/** What a panel calls back when it first sends a message: its sequence number and when. */
export type OnFirstSend = (seq: number, at: Date) => void;

interface Queued {
  readonly type: 'SIA-DCS' | 'ADM-CID' | 'NULL';
  readonly events: readonly DialerEvent[];
  readonly onFirstSend: OnFirstSend | undefined;
  resolve(ack: PanelAck): void;
  reject(err: Error): void;
}

/**
 * An encrypted alarm panel on a line that fails, as the fault suite needs one: one persistent TCP
 * connection, dialled again whenever it drops; one message at a time, numbered 0001–9999; each sent
 * until it is ACKed, however long that takes, always under its own sequence number and stamped
 * anew at every sending (with the receiver's time once a NAK told it), a NAK or an unanswered
 * sending followed by a back-off. Answers that belong to another message (a late ACK of an earlier
 * one) are not taken for this one's. A DUH ends the message unsent (the standard says not to retry).
 * Unlike `Dc09Dialler`, it never gives up: `close()` ends what it still holds, unacknowledged.
 */
export class Dc09Panel {
  readonly #o: Required<Omit<PanelOptions, 'key'>> & Pick<PanelOptions, 'key'>;
  readonly #key: Buffer;
  readonly #queue: Queued[] = [];
  #seq = 0;
  #offsetMs = 0;
  #socket: Socket | undefined;
  #buffer: Buffer = Buffer.alloc(0);
  #waiting: ((reply: Reply | undefined) => void) | undefined;
  #running = false;
  #closed = false;
  /** Wakes a back-off early when the panel is closed. */
  #wake: (() => void) | undefined;

  constructor(options: PanelOptions) {
    this.#o = { answerTimeoutMs: 3_000, resendMs: 1_000, resendMaxMs: 10_000, ...options };
    this.#key = dialerKey(options.key.value, options.key.encoding);
  }

  get account(): string {
    return this.#o.account;
  }

  /** Messages queued or being sent. */
  get inFlight(): number {
    return this.#queue.length;
  }

  /** Contact ID events in one ADM-CID message; resolves once it is ACKed. */
  sendCid(
    events: readonly Extract<DialerEvent, { kind: 'cid' }>[],
    onFirstSend?: OnFirstSend,
  ): Promise<PanelAck> {
    return this.#enqueue('ADM-CID', events, onFirstSend);
  }

  /** SIA events in one SIA-DCS message; resolves once it is ACKed. */
  sendSia(
    events: readonly Extract<DialerEvent, { kind: 'sia' }>[],
    onFirstSend?: OnFirstSend,
  ): Promise<PanelAck> {
    return this.#enqueue('SIA-DCS', events, onFirstSend);
  }

  /** A NULL supervision poll, numbered and encrypted as any message. */
  poll(onFirstSend?: OnFirstSend): Promise<PanelAck> {
    return this.#enqueue('NULL', [], onFirstSend);
  }

  /** Stops: the line is closed and every message not yet ACKed is rejected (`AckTimeoutError`). */
  close(): void {
    this.#closed = true;
    this.#wake?.();
    this.#waiting?.(undefined);
    this.#socket?.destroy();
    for (const message of this.#queue.splice(0)) {
      message.reject(new AckTimeoutError(`${this.#o.account}:${message.type}`, 0));
    }
  }

  #enqueue(
    type: Queued['type'],
    events: readonly DialerEvent[],
    onFirstSend?: OnFirstSend,
  ): Promise<PanelAck> {
    if (this.#closed) return Promise.reject(new AckTimeoutError(`${this.#o.account}:${type}`, 0));
    return new Promise((resolve, reject) => {
      this.#queue.push({ type, events, onFirstSend, resolve, reject });
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      for (let message = this.#queue[0]; message && !this.#closed; message = this.#queue[0]) {
        const result = await this.#deliver(message);
        if (this.#closed) return;
        this.#queue.shift();
        if (result instanceof Error) message.reject(result);
        else message.resolve(result);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Sends one message until it is ACKed (or refused with DUH, or the panel closes). */
  async #deliver(message: Queued): Promise<PanelAck | Error> {
    this.#seq = (this.#seq % 9999) + 1;
    const seq = this.#seq;
    let naks = 0;
    for (let attempt = 1; !this.#closed; attempt++) {
      const { reply, at } = await this.#sendOnce(message, seq, attempt);
      if (reply?.type === 'ACK' && at) return { seq, at, attempts: attempt, naks };
      if (reply?.type === 'DUH') return new EventRejectedError(`${this.#o.account}:${seq}`, 'DUH');
      if (reply?.type === 'NAK') {
        naks++;
        // The receiver's time: the next sending is stamped on it.
        if (reply.at) this.#offsetMs = reply.at.getTime() - Date.now();
      }
      await this.#backOff(attempt);
    }
    return new AckTimeoutError(`${this.#o.account}:${seq}`, 0);
  }

  /**
   * One sending, stamped now, and its answer: an ACK or NAK for it, a DUH, or undefined (none); `at`
   * is its timestamp.
   */
  async #sendOnce(
    message: Queued,
    seq: number,
    attempt: number,
  ): Promise<{ reply: Reply | undefined; at?: Date }> {
    const socket = await this.#line();
    if (!socket) return { reply: undefined };
    const at = new Date(Date.now() + this.#offsetMs);
    const bytes = encodeMessage({
      type: message.type,
      seq,
      account: this.#o.account,
      events: message.events,
      at,
      key: this.#key,
    });
    if (attempt === 1) message.onFirstSend?.(seq, at);
    const answer = this.#answer(seq);
    socket.write(bytes);
    return { reply: await answer, at };
  }

  /** The connection, dialled again (after a back-off) while it is down; undefined once closed. */
  async #line(): Promise<Socket | undefined> {
    for (let attempt = 1; !this.#closed; attempt++) {
      if (this.#socket && !this.#socket.destroyed) return this.#socket;
      const socket = connect({ host: this.#o.host, port: this.#o.port, noDelay: true });
      const up = await new Promise<boolean>((resolve) => {
        socket.once('connect', () => resolve(true));
        socket.once('error', () => resolve(false));
      });
      if (up) {
        this.#buffer = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => this.#frames(chunk));
        socket.on('error', () => undefined);
        // A line that drops leaves the sending it carried unanswered.
        socket.on('close', () => this.#waiting?.(undefined));
        this.#socket = socket;
        return socket;
      }
      socket.destroy();
      await this.#backOff(attempt);
    }
    return undefined;
  }

  #backOff(attempt: number): Promise<void> {
    const ms = Math.min(this.#o.resendMaxMs, this.#o.resendMs * 2 ** Math.min(attempt - 1, 20));
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }

  /**
   * The answer to the sending of message `seq` on the line, or undefined when none came in time or
   * the line dropped. An ACK of another number answers an earlier sending of an earlier message (it
   * came late): it is passed over, and the wait goes on.
   */
  #answer(seq: number): Promise<Reply | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        resolve(undefined);
      }, this.#o.answerTimeoutMs);
      this.#waiting = (reply) => {
        if (reply?.type === 'ACK' && Number(reply.seq) !== seq) return;
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

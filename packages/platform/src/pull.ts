/**
 * Pulls from a durable JetStream consumer on one inbox of the consumer loop's own, subscribed for
 * the loop's life. Each pull asks on its own subject under that inbox (`<inbox>.<pull>`), so what
 * arrives says which pull it answers, and a message the server delivers to a pull the loop gave up
 * on still arrives on a subscription that is there.
 *
 * Why not the client's `fetch`: each fetch subscribes an inbox of its own and unsubscribes it when
 * it ends, also when it ends because it heard no heartbeat for two intervals. A server that stalls
 * a moment (CPU starved, paused, a slow link) may receive that pull late, hold it, and deliver a
 * message to it after the client dropped its inbox: the message is lost to the loop until its ack
 * wait (5 s) brings it back. Behind a link that answers a pull later than the client waits for its
 * heartbeats every delivery is lost so, and nothing is handled at all (`test/consumer.int.test.ts`).
 * Why not `consume`: it pulls ahead of the work in hand (it asks again as messages arrive, not as
 * they are finished) and keeps what it pulled in a buffer of its own, out of the loop's reach: it
 * is not told to JetStream as in hand and is dropped on close (see the README, "Pulls").
 */

import type { JetStreamClient } from '@nats-io/jetstream';
import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Status,
  type Subscription,
} from '@nats-io/transport-node';
import { isJetStreamUnavailable } from './nats.ts';

/** What JetStream says a delivered message is (from its ack subject). */
export interface DeliveryInfo {
  readonly stream: string;
  readonly consumer: string;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  readonly streamSequence: number;
  /** Messages left on the consumer after this one, when it was delivered. */
  readonly pending: number;
}

/** A message a pull delivered: what the loop reads of it, and how it settles it with JetStream. */
export interface Delivery {
  readonly subject: string;
  readonly seq: number;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  readonly info: DeliveryInfo;
  ack(): void;
  /** Handed back: redelivered at once, or after `delayMs`. */
  nak(delayMs?: number): void;
  term(): void;
  /** Still in hand: the ack wait starts again. */
  working(): void;
}

const encoder = new TextEncoder();
const ACK = encoder.encode('+ACK');
const NAK = encoder.encode('-NAK');
const TERM = encoder.encode('+TERM');
const WPI = encoder.encode('+WPI');

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>`, or its form with domain and account. */
export function deliveryInfo(reply: string): DeliveryInfo {
  const tokens = reply.split('.');
  if (tokens.length === 9) tokens.splice(2, 0, '_', '');
  if (tokens.length < 11 || tokens[0] !== '$JS' || tokens[1] !== 'ACK')
    throw new Error(`not a JetStream delivery: ${reply}`);
  return {
    stream: tokens[4] as string,
    consumer: tokens[5] as string,
    deliveryCount: Number(tokens[6]),
    streamSequence: Number(tokens[7]),
    pending: Number(tokens[10]),
  };
}

class PulledMessage implements Delivery {
  #info: DeliveryInfo | undefined;
  /** Acked, handed back or terminated: what follows is not sent (only `working` may repeat). */
  #settled = false;

  constructor(private readonly msg: Msg) {}

  get subject(): string {
    return this.msg.subject;
  }

  get data(): Uint8Array {
    return this.msg.data;
  }

  get headers(): MsgHdrs | undefined {
    return this.msg.headers;
  }

  get info(): DeliveryInfo {
    this.#info ??= deliveryInfo(this.msg.reply ?? '');
    return this.#info;
  }

  get seq(): number {
    return this.info.streamSequence;
  }

  ack(): void {
    this.#settle(ACK);
  }

  nak(delayMs?: number): void {
    this.#settle(
      delayMs ? encoder.encode(`-NAK ${JSON.stringify({ delay: Math.round(delayMs * 1_000_000) })}`) : NAK,
    );
  }

  term(): void {
    this.#settle(TERM);
  }

  working(): void {
    if (!this.#settled) this.msg.respond(WPI);
  }

  #settle(payload: Uint8Array): void {
    if (this.#settled) return;
    this.#settled = true;
    this.msg.respond(payload);
  }
}

/** What arrived on the inbox, in the order it arrived. */
export type PullEvent =
  /** A message of any pull: the server does not say which. */
  | { readonly kind: 'message'; readonly message: Delivery }
  | { readonly kind: 'heartbeat'; readonly pull: number }
  /** The server is done with the pull: it expired (`error` undefined), or it was refused. */
  | { readonly kind: 'end'; readonly pull: number; readonly error?: PullRefusedError }
  /** Asked about a pull gone quiet (`probe`), JetStream said it is not available for the moment. */
  | { readonly kind: 'unavailable'; readonly error: unknown };

/** A pull the server refused or ended early (a status other than a heartbeat or an expiry). */
export class PullRefusedError extends Error {
  override readonly name = 'PullRefusedError';
  constructor(
    readonly code: number,
    readonly description: string,
  ) {
    super(`pull refused: ${code} ${description}`);
  }
}

/** The connection a JetStream client speaks through (`jetstream(nc)` keeps it). */
export function connectionOf(js: JetStreamClient): NatsConnection {
  const withConnection = js as JetStreamClient & { getConnection?: () => NatsConnection };
  if (typeof withConnection.getConnection !== 'function')
    throw new Error('the JetStream client does not say which connection it uses');
  return withConnection.getConnection();
}

/**
 * One inbox of pulls for one durable consumer. `pull` asks for messages; `next` gives what arrived,
 * messages of every pull, in the order the server sent them (one subscription, one socket), so one
 * lane's messages stay in stream order even when two pulls answered.
 */
export class PullInbox {
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #events: PullEvent[] = [];
  #wake: (() => void) | undefined;
  #next = 0;
  /**
   * Pulls the server may still answer: the messages each still owes, its expiry, and when it is
   * taken for one the server will never answer (`forgetAt`, performance time).
   */
  readonly #open = new Map<number, { owed: number; expiresMs: number; forgetAt: number }>();
  readonly #statuses: AsyncIterable<Status>;
  #connected: boolean;
  /** How the server is asked how many pulls it holds for the consumer (see `probe`). */
  readonly #ask: () => Promise<{ readonly num_waiting: number }>;
  /** The question to the server in flight (see `probe`), by number; 0 when none is. */
  #probing = 0;
  #questions = 0;
  /** Who waits for the connection to be lost or come back. */
  readonly #linkWaiters = new Set<() => void>();

  /**
   * `apiPrefix` is the client's (`js.apiPrefix`, `$JS.API` unless a domain says otherwise); `ask`
   * asks the server about the consumer (its `num_waiting`, see `probe`).
   */
  constructor(
    nc: NatsConnection,
    apiPrefix: string,
    stream: string,
    consumer: string,
    ask: () => Promise<{ readonly num_waiting: number }>,
  ) {
    this.#nc = nc;
    this.#ask = ask;
    this.#subject = `${apiPrefix}.CONSUMER.MSG.NEXT.${stream}.${consumer}`;
    this.#inbox = createInbox();
    const prefixLength = this.#inbox.length + 1;
    // A status (heartbeat, expiry) comes on its pull's reply subject; a message comes with its
    // own subject, so which pull it answers is not known (the server serves the oldest first).
    this.#sub = nc.subscribe(`${this.#inbox}.*`, {
      callback: (_err, msg) => this.#arrived(msg, prefixLength),
    });
    this.#connected = isConnected(nc);
    this.#statuses = nc.status();
    void this.#follow();
  }

  /** Pulls in flight: asked for and not known to be done with. */
  get open(): number {
    this.#prune();
    return this.#open.size;
  }

  /** Messages arrived and not yet read with `next`. */
  get unreadCount(): number {
    let count = 0;
    for (const event of this.#events) if (event.kind === 'message') count += 1;
    return count;
  }

  /** Whether the connection is up, as its last status said. */
  get connected(): boolean {
    return this.#connected && !this.#nc.isClosed();
  }

  /** Resolves once the connection is up (at once if it is), closed for good, or `signal` aborts. */
  async untilConnected(signal?: AbortSignal): Promise<void> {
    while (!this.connected && !this.#nc.isClosed() && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          signal?.removeEventListener('abort', done);
          this.#linkWaiters.delete(done);
          resolve();
        };
        signal?.addEventListener('abort', done, { once: true });
        this.#linkWaiters.add(done);
      });
    }
  }

  /**
   * Resolves once the connection is lost (at once if it is), after `ms` if it stays up, or when
   * `signal` aborts.
   */
  async untilDisconnected(ms: number, signal?: AbortSignal): Promise<void> {
    if (!this.connected || signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#linkWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.#linkWaiters.add(done);
    });
  }

  /**
   * Asks the server (`ask`, one at a time) about a pull gone quiet: how many pulls it holds for
   * the consumer. A server does not always say when it is done with a pull: nats-server 2.9 drops
   * an expired pull without a word when a message comes for it before its expiry is told (a
   * handed-back message due as a pull expires, a backlog stored as a stalled server runs again).
   * The server reads what a connection sends in order, so every pull sent before the question was
   * received by the time it is answered, or lost. None held: they are all done with, forgotten at
   * once. Some held (they may be another process's): one of this inbox's still held expires its
   * expiry after the answer at the latest, and is forgotten then.
   *
   * Asked too as soon as a lost connection is back: a server that restarted (or crashed) holds
   * none of the pulls sent before, and the loop pulls again at once rather than after their
   * expiry. Not answered then (JetStream not up yet), it is asked again `tries` times in all.
   * Answered that JetStream is not available (503), `next` gives an `unavailable` event, until the
   * next question is asked. `anew`: asked even while a question is in flight.
   */
  probe(tries = 1, anew = false): void {
    // What an earlier question was answered ("not available") is not news once this one is asked.
    for (let i = this.#events.length - 1; i >= 0; i--)
      if (this.#events[i]?.kind === 'unavailable') this.#events.splice(i, 1);
    // Asked anew (the consumer has a new leader): the question in flight, asked while it had
    // none, may never be answered; its answer, if it comes, still counts for the pulls before it.
    if (anew) this.#probing = 0;
    if (this.#probing !== 0 || this.#open.size === 0 || !this.connected) return;
    const question = ++this.#questions;
    this.#probing = question;
    const sentBefore = this.#next;
    this.#ask().then(
      ({ num_waiting: held }) => {
        if (this.#probing === question) this.#probing = 0;
        const now = performance.now();
        let soonest = Number.POSITIVE_INFINITY;
        for (const [pull, open] of this.#open) {
          if (pull > sentBefore) continue;
          open.forgetAt = Math.min(open.forgetAt, held === 0 ? now : now + open.expiresMs + EXPIRY_SLACK_MS);
          soonest = Math.min(soonest, open.forgetAt);
        }
        this.#wakeAt(soonest);
      },
      (err: unknown) => {
        // Not answered (a stalled server answers once it runs, a lost link is told by its status).
        if (this.#probing !== question) return;
        this.#probing = 0;
        // Answered that JetStream is not available (503): the pull went quiet for that reason.
        if (isJetStreamUnavailable(err)) {
          this.#events.push({ kind: 'unavailable', error: err });
          this.#wake?.();
        }
        if (tries > 1) setTimeout(() => this.probe(tries - 1), REPROBE_MS).unref();
      },
    );
  }

  /**
   * Forgets every pull in flight: they asked a consumer that is gone (it was created again), and
   * its successor will not answer them.
   */
  forgetOpen(): void {
    this.#open.clear();
  }

  /** Messages arrived and not yet read with `next`: delivered, so in hand as much as those read. */
  *unread(): Iterable<Delivery> {
    for (const event of this.#events) if (event.kind === 'message') yield event.message;
  }

  /**
   * Asks for up to `batch` messages, waiting up to `expiresMs` for them, with a heartbeat every
   * `heartbeatMs` while it waits; returns the pull's number. Throws when the connection is closed.
   */
  pull(batch: number, expiresMs: number, heartbeatMs: number): number {
    const pull = ++this.#next;
    this.#open.set(pull, { owed: batch, expiresMs, forgetAt: performance.now() + FORGET_AFTER_MS });
    this.#nc.publish(
      this.#subject,
      JSON.stringify({ batch, expires: expiresMs * 1_000_000, idle_heartbeat: heartbeatMs * 1_000_000 }),
      { reply: `${this.#inbox}.${pull}` },
    );
    return pull;
  }

  /**
   * The next thing that arrived (in arrival order), or `undefined` when nothing arrives within
   * `ms` or `signal` aborts.
   */
  async next(ms: number, signal?: AbortSignal): Promise<PullEvent | undefined> {
    const ready = this.#events.shift();
    if (ready || signal?.aborted) return ready;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
    return this.#events.shift();
  }

  /**
   * Hands back (nak) everything unread and what the pulls still open deliver, for up to `ms`
   * while any is open, then unsubscribes. What a pull delivers after that comes back after its
   * ack wait, as from a process that stopped.
   */
  async close(ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    (this.#statuses as Partial<{ stop(): void }>).stop?.();
    for (const waiter of [...this.#linkWaiters]) waiter();
    for (;;) {
      for (let event = this.#events.shift(); event; event = this.#events.shift())
        if (event.kind === 'message') tryTo(() => event.message.nak());
      const left = deadline - performance.now();
      if (this.#open.size === 0 || left <= 0 || this.#nc.isClosed()) break;
      await this.next(left).then((event) => event && this.#events.unshift(event));
    }
    this.#wake = undefined;
    if (!this.#nc.isClosed()) this.#sub.unsubscribe();
  }

  /** Whoever waits on the inbox looks again at `at` (performance time), when a pull is forgotten. */
  #wakeAt(at: number): void {
    const ms = at - performance.now();
    if (ms <= 0) this.#wake?.();
    else if (Number.isFinite(ms)) setTimeout(() => this.#wake?.(), ms + 1).unref();
  }

  /** Pulls the server will not answer any more, dropped from those in flight. */
  #prune(): void {
    const now = performance.now();
    for (const [pull, { forgetAt }] of this.#open) if (now >= forgetAt) this.#open.delete(pull);
  }

  async #follow(): Promise<void> {
    for await (const status of this.#statuses) {
      if (status.type === 'disconnect' || status.type === 'staleConnection' || status.type === 'close') {
        this.#connected = false;
        // A pull the server received before the link was lost expires its expiry after that at
        // the latest (a server that kept it answers on the inbox, subscribed again on reconnect);
        // one it never received, or a server that restarted, never answers.
        const lost = performance.now();
        let soonest = Number.POSITIVE_INFINITY;
        for (const open of this.#open.values()) {
          open.forgetAt = Math.min(open.forgetAt, lost + open.expiresMs + EXPIRY_SLACK_MS);
          soonest = Math.min(soonest, open.forgetAt);
        }
        this.#wakeAt(soonest);
      } else if (status.type === 'reconnect') {
        this.#connected = true;
        // A question asked before the link went may never be answered: asked anew.
        this.#probing = 0;
        this.probe(REPROBE_TRIES);
      } else continue;
      this.#wake?.();
      for (const waiter of [...this.#linkWaiters]) waiter();
    }
  }

  #arrived(msg: Msg, prefixLength: number): void {
    let event: PullEvent | undefined;
    if (msg.reply?.startsWith('$JS.ACK.')) {
      event = { kind: 'message', message: new PulledMessage(msg) };
      // Counted against the oldest pull open, as the server serves them.
      for (const [pull, open] of this.#open) {
        open.owed -= 1;
        if (open.owed <= 0) this.#open.delete(pull);
        break;
      }
    } else {
      const pull = Number(msg.subject.slice(prefixLength));
      const code = msg.headers?.code ?? 0;
      if (code === 0) return; // not a JetStream answer
      if (code === 100) {
        // An idle heartbeat (or a flow-control request, which pull consumers are never sent).
        event = { kind: 'heartbeat', pull };
      } else {
        this.#open.delete(pull);
        event =
          code === 408 || code === 404
            ? { kind: 'end', pull }
            : { kind: 'end', pull, error: new PullRefusedError(code, msg.headers?.description ?? '') };
      }
    }
    this.#events.push(event);
    this.#wake?.();
  }
}

/**
 * How long a pull not answered on a connection that stayed up is still counted as open (far past
 * any pull's expiry): the server answers every pull it received, if only with its expiry, so
 * this bounds only what a server that lost a pull without a word holds up.
 */
const FORGET_AFTER_MS = 60_000;

/** Beyond a pull's expiry, for the server's clock and the last bytes on the link. */
const EXPIRY_SLACK_MS = 250;

/** The question after a reconnect, asked again this often while JetStream does not answer it. */
const REPROBE_MS = 100;
const REPROBE_TRIES = 10;

/**
 * Whether the client is connected now. It says so only through status events from when they are
 * followed; the protocol handler's flag covers a link lost before (the loop starts after
 * connecting, so a client that does not expose it is taken as connected).
 */
function isConnected(nc: NatsConnection): boolean {
  if (nc.isClosed()) return false;
  const protocol = (nc as NatsConnection & { protocol?: { connected?: unknown } }).protocol;
  return typeof protocol?.connected === 'boolean' ? protocol.connected : true;
}

const tryTo = (settle: () => void): void => {
  try {
    settle();
  } catch {
    // Not connected: JetStream redelivers the message after the ack wait, as after a crash.
  }
};

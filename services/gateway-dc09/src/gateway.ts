import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import type { Names, TelecareEvent } from '@telecare/contracts';
import { type Clock, type JetStreamClient, type Logger, publishDeadLetter } from '@telecare/platform';
import type { Dc09Accounts } from './accounts.ts';
import type { Dc09Metrics } from './metrics.ts';
import { type Interpretation, interpretFrame, type TimeWindow } from './receiver.ts';
import { FrameSplitter, splitDatagram, type Unit } from './splitter.ts';

export const SERVICE = 'gateway-dc09';

/**
 * Frames a connection may have waiting; past this the socket is paused, so a sender that
 * pipelines without reading its replies slows itself and nobody else.
 */
const MAX_QUEUED_FRAMES = 16;
/** Datagrams in hand across every UDP sender; past this new ones are dropped (senders retry). */
const MAX_UDP_INFLIGHT = 256;

/** Backoff between attempts at a frame after a transient failure: 100 ms doubling to 2 s. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2_000;
/**
 * How long one store attempt waits for its PubAck. Shorter than the client's default, so a request
 * lost in a reconnect is tried again within the retry bound; a store that did land is then
 * recognised as a duplicate.
 */
const STORE_ATTEMPT_TIMEOUT_MS = 2_000;

/** A step that failed for a reason outside the frame: nothing is replied, the sender retries. */
class UnansweredError extends Error {
  override readonly name = 'UnansweredError';
  constructor(
    readonly stage: 'lookup' | 'store' | 'dead-letter',
    options: { cause: unknown },
  ) {
    super(`${stage} failed; left unanswered for the sender to retry`, options);
  }
}

/**
 * Receives DC-09 over TCP and UDP. Each frame is interpreted, its events stored in JetStream
 * (all of them), a refused frame dead-lettered with its raw bytes, and only then answered.
 * A connection's frames are handled in order, one at a time.
 */
export class Dc09Gateway {
  readonly #n: Names;
  readonly #js: JetStreamClient;
  readonly #accounts: Dc09Accounts;
  readonly #metrics: Dc09Metrics;
  readonly #clock: Clock;
  readonly #partitions: number;
  readonly #window: TimeWindow;
  readonly #idleMs: number;
  readonly #retryMs: number;
  readonly #log: Logger;
  readonly #tcp: Server;
  readonly #udp: UdpSocket;
  readonly #sockets = new Set<Socket>();
  readonly #inflight = new Set<Promise<void>>();
  #udpInflight = 0;
  #closing = false;
  /** Wakes every frame waiting out a backoff, so a drain does not wait for the retry bound. */
  readonly #wakers = new Set<() => void>();

  constructor(deps: {
    names: Names;
    js: JetStreamClient;
    accounts: Dc09Accounts;
    metrics: Dc09Metrics;
    clock: Clock;
    partitions: number;
    window: TimeWindow;
    idleMs: number;
    /** How long a transient failure is retried before the frame is left unanswered. */
    retryMs: number;
    maxConnections: number;
    logger: Logger;
  }) {
    this.#n = deps.names;
    this.#js = deps.js;
    this.#accounts = deps.accounts;
    this.#metrics = deps.metrics;
    this.#clock = deps.clock;
    this.#partitions = deps.partitions;
    this.#window = deps.window;
    this.#idleMs = deps.idleMs;
    this.#retryMs = deps.retryMs;
    this.#log = deps.logger.child({ component: 'receiver' });
    this.#tcp = createServer({ noDelay: true }, (socket) => this.#accept(socket));
    this.#tcp.maxConnections = deps.maxConnections;
    this.#udp = createSocket('udp4');
    this.#udp.on('message', (datagram, peer) => this.#datagram(datagram, peer));
    this.#udp.on('error', (err) => this.#log.error({ err }, 'UDP socket error'));
  }

  async listen(host: string, port: number): Promise<{ tcpPort: number; udpPort: number }> {
    await new Promise<void>((resolve, reject) => {
      this.#tcp.once('error', reject);
      this.#tcp.listen(port, host, () => {
        this.#tcp.off('error', reject);
        resolve();
      });
    });
    const address = this.#tcp.address();
    const tcpPort = typeof address === 'object' && address ? address.port : port;
    await new Promise<void>((resolve, reject) => {
      this.#udp.once('error', reject);
      this.#udp.bind(port, host, () => {
        this.#udp.off('error', reject);
        resolve();
      });
    });
    return { tcpPort, udpPort: this.#udp.address().port };
  }

  /** Stops taking connections and datagrams, answers the frames in hand, then closes sockets. */
  async drain(): Promise<void> {
    this.#closing = true;
    for (const wake of this.#wakers) wake();
    const closed = new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
    await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
    await Promise.allSettled([...this.#inflight]);
    for (const socket of this.#sockets) socket.end();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1_000))]);
    for (const socket of this.#sockets) socket.destroy();
  }

  #accept(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const peer = `tcp:${socket.remoteAddress}:${socket.remotePort}`;
    this.#sockets.add(socket);
    this.#metrics.connections.inc();
    const splitter = new FrameSplitter();
    const queue: Unit[] = [];
    let working = false;
    socket.setTimeout(this.#idleMs, () => socket.destroy());
    socket.on('error', (err) => this.#log.debug({ err, peer }, 'connection error'));
    socket.on('close', () => {
      this.#sockets.delete(socket);
      this.#metrics.connections.dec();
    });
    const pump = async () => {
      working = true;
      while (queue.length > 0 && !socket.destroyed) {
        const unit = queue.shift() as Unit;
        if (queue.length < MAX_QUEUED_FRAMES && socket.isPaused()) socket.resume();
        const reply = await this.#answer(unit, peer, 'tcp');
        if (reply && socket.writable) socket.write(reply);
      }
      working = false;
    };
    socket.on('data', (chunk: Buffer) => {
      queue.push(...splitter.push(chunk));
      if (queue.length >= MAX_QUEUED_FRAMES) socket.pause();
      if (!working) this.#track(pump());
    });
  }

  #datagram(datagram: Buffer, peer: RemoteInfo): void {
    if (this.#closing || this.#udpInflight >= MAX_UDP_INFLIGHT) return;
    this.#udpInflight++;
    const origin = `udp:${peer.address}:${peer.port}`;
    const work = (async () => {
      try {
        for (const unit of splitDatagram(datagram)) {
          const reply = await this.#answer(unit, origin, 'udp');
          if (reply && !this.#closing) this.#udp.send(reply, peer.port, peer.address);
        }
      } finally {
        this.#udpInflight--;
      }
    })();
    this.#track(work);
  }

  #track(work: Promise<void>): void {
    this.#inflight.add(work);
    void work.finally(() => this.#inflight.delete(work));
  }

  /**
   * The reply to send, or undefined when a transient failure outlasted the retry bound (or the
   * gateway is draining): the frame is then left for the sender to send again. The frame keeps
   * the time it arrived through every attempt, so a retry never pushes it out of the window.
   */
  async #answer(unit: Unit, origin: string, transport: 'tcp' | 'udp'): Promise<Buffer | undefined> {
    const now = new Date(this.#clock.now());
    const giveUpAt = performance.now() + this.#retryMs;
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      try {
        const outcome = await this.#handle(unit, origin, now);
        this.#metrics.replies.inc({ reply: outcome.reply, transport });
        return outcome.replyFrame;
      } catch (err) {
        const stage = err instanceof UnansweredError ? err.stage : 'store';
        if (this.#closing || performance.now() + delay > giveUpAt) {
          this.#metrics.unanswered.inc({ stage });
          this.#log.warn({ err, origin, stage }, 'frame left unanswered; the sender will retry');
          return undefined;
        }
        this.#metrics.retries.inc({ stage });
        this.#log.debug({ err, origin, stage, delayMs: delay }, 'transient failure; retrying the frame');
        await this.#pause(delay);
      }
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakers.add(wake);
    });
  }

  async #handle(unit: Unit, origin: string, now: Date): Promise<Interpretation> {
    let lookupFailed: unknown;
    const outcome = await interpretFrame(unit.bytes, {
      now,
      window: this.#window,
      partitions: this.#partitions,
      lookup: async (account) => {
        try {
          return await this.#accounts.lookup(account);
        } catch (err) {
          lookupFailed = err;
          throw err;
        }
      },
    }).catch((err: unknown) => {
      throw new UnansweredError(lookupFailed ? 'lookup' : 'store', { cause: err });
    });
    await this.#store(outcome.events, outcome.serial);
    if (outcome.refusal) {
      const detail = unit.oversized
        ? `${outcome.refusal.detail} (truncated; no CR within the limit)`
        : outcome.refusal.detail;
      const id = await publishDeadLetter(
        this.#js,
        this.#n,
        { service: SERVICE, reason: outcome.refusal.reason, detail, origin, raw: unit.bytes },
        now,
      ).catch((err: unknown) => {
        throw new UnansweredError('dead-letter', { cause: err });
      });
      this.#metrics.rejects.inc({ reason: outcome.refusal.reason });
      this.#log.warn(
        {
          origin,
          account: outcome.account,
          reply: outcome.reply,
          reason: outcome.refusal.reason,
          detail,
          deadLetterId: id,
        },
        'refused',
      );
    }
    return outcome;
  }

  /** Every event of the frame, each awaited to its PubAck: the ACK waits for the last. */
  async #store(events: readonly TelecareEvent[], serial: string | undefined): Promise<void> {
    if (events.length === 0) return;
    const started = performance.now();
    const acks = await Promise.all(
      events.map((event) =>
        this.#js.publish(this.#n.subjects.event(event.partition, event.type), JSON.stringify(event), {
          msgID: event.id,
          timeout: STORE_ATTEMPT_TIMEOUT_MS,
        }),
      ),
    ).catch((err: unknown) => {
      throw new UnansweredError('store', { cause: err });
    });
    this.#metrics.storeSeconds.observe((performance.now() - started) / 1000);
    acks.forEach((ack, index) => {
      if (ack.duplicate) this.#metrics.duplicates.inc();
      else this.#metrics.stored.inc({ type: (events[index] as TelecareEvent).type });
    });
    this.#log.debug({ serial, events: events.map((e) => e.id) }, 'stored');
  }
}

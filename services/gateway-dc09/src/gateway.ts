import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server, type Socket } from 'node:net';
import { type Names, SecurityEvent, type SecurityEventKind, type TelecareEvent } from '@telecare/contracts';
import {
  activeTraceparent,
  backoffDelay,
  type Clock,
  headers,
  injectTrace,
  inSpan,
  type JetStreamClient,
  type JetStreamPublisher,
  LeaderElections,
  type Logger,
  publishDeadLetter,
  ROOT_TRACE,
  SpanKind,
  STORE_RETRY,
} from '@telecare/platform';
import type { Dc09Accounts } from './accounts.ts';
import { type PanelClockBook, PanelClocks } from './clock.ts';
import { type Envelope, type EnvelopeRefusal, LF, readEnvelope } from './frame.ts';
import { PerSourceCount, PerSourceRate } from './limits.ts';
import type { Dc09Metrics } from './metrics.ts';
import { Occurrences, StampedMessages, StoredFrames } from './occurrences.ts';
import { type PadStyleBook, PadStyles } from './pad-styles.ts';
import { type Interpretation, interpretFrame, lifeCritical, type TimeWindow } from './receiver.ts';
import { FrameSplitter, splitDatagram, strayAfterFrame, type Unit } from './splitter.ts';

export const SERVICE = 'gateway-dc09';

/**
 * Frames a connection may have waiting; past this the socket is paused, so a sender that
 * pipelines without reading its replies slows itself and nobody else.
 */
const MAX_QUEUED_FRAMES = 16;
/** At most one log line this often about frames left unanswered or not dead-lettered, with their count. */
const DROPPED_LOG_EVERY_MS = 10_000;

/**
 * A warning that may come for every frame of a flood: logged at most once per
 * `DROPPED_LOG_EVERY_MS`, with how many times it happened since the last line (`countAs`).
 */
class CountedWarning {
  #count = 0;
  #loggedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly log: Logger,
    private readonly countAs: string,
    private readonly message: string,
  ) {}

  note(fields: Record<string, unknown> = {}): void {
    this.#count++;
    const now = performance.now();
    if (now - this.#loggedAt < DROPPED_LOG_EVERY_MS) return;
    this.log.warn({ ...fields, [this.countAs]: this.#count }, this.message);
    this.#loggedAt = now;
    this.#count = 0;
  }
}
/** Accounts whose frame rate is tracked before the longest idle is forgotten (it starts full again). */
const MAX_RATED_ACCOUNTS = 100_000;
/**
 * Security events of forged frames from every source together: a burst, then this many a minute.
 * Past it a forged frame is still refused and counted, and one log line per 10 s says how many.
 */
const SECURITY_EVENT_BURST = 20;
const SECURITY_EVENTS_PER_MINUTE = 60;
/** Datagrams in hand across every UDP sender; past this new ones are dropped (senders retry). */
const MAX_UDP_INFLIGHT = 256;

/**
 * How long one store attempt waits for its PubAck (the publisher's timeout). Shorter than the
 * client's default, so a request lost in a reconnect is tried again within the retry bound; a store
 * that did land is then recognised as a duplicate.
 */
export const STORE_ATTEMPT_TIMEOUT_MS = 2_000;

/**
 * Whether a copy of a stored frame (`StoredFrames`) that came from `origin` over `transport` is
 * answered, the first having come from `first` (`<transport>:<address>:<port>`). Over TCP always:
 * the handshake proved the address, so the answer goes only to whoever opened the connection.
 * Over UDP only to the address the first came from: a datagram's source costs nothing to forge,
 * and anyone holding one recorded frame could otherwise aim an ACK at any address, as often as
 * they sent it, for as long as its timestamp stays in the window (up to an hour). The port may
 * differ: many panels send each datagram from a socket of their own, so a panel's unanswered
 * retry of the same bytes comes from a new port, and a panel that never hears its ACK reports a
 * communication failure and falls back to its other paths. Bound to the first's address, a forged
 * copy can reach only the address that sent the frame (behind a shared NAT, its neighbours at
 * most), never a victim of the sender's choosing.
 */
function copyAnswered(first: string, origin: string, transport: 'tcp' | 'udp'): boolean {
  return transport === 'tcp' || addressOf(first) === addressOf(origin);
}

/** The address of an origin `<transport>:<address>:<port>` (an IPv6 address has colons of its own). */
const addressOf = (origin: string): string => origin.slice(origin.indexOf(':') + 1, origin.lastIndexOf(':'));

/**
 * Holds every store begun in one turn of the event loop until that turn's I/O is read, then lets
 * them go together. The NATS client writes what was published in one microtask run as one socket
 * write; without this, each frame (read in a callback of its own) cost a write of its own.
 */
class StoreTurn {
  #waiting: Array<() => void> = [];

  /** Resolves in this turn's check phase, after the frames read in its poll phase. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      if (this.#waiting.push(resolve) === 1) setImmediate(() => this.#release());
    });
  }

  #release(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }
}

/** A frame in hand: its bytes, when it arrived, and its envelope where the connection already read it. */
interface Pending {
  readonly unit: Unit;
  /** Our clock when its CR arrived: a frame waiting behind another is judged by it, not by its turn. */
  readonly arrived: Date;
  readonly envelope?: Envelope | EnvelopeRefusal;
}

/**
 * What a frame does once, however many times a transient failure has it tried again: its figures
 * counted and its security events raised (a forged frame is one event, not one per try of its dead
 * letter), its refusal's NAK and dead-letter budgets taken (decided by its first try), and its
 * account's rate spent.
 */
interface FrameOnce {
  noted: boolean;
  nak?: boolean;
  deadLetter?: boolean;
  /** Its account's rate (or alarm reserve) spent: a retry of its store spends it again never. */
  rated?: boolean;
  /** Its security events kept (`securityEvent`'s answers): awaited before it is answered. */
  kept?: Promise<unknown>;
}

/** One open TCP connection as it stands (read-only, for tests and diagnostics). */
export interface Dc09Connection {
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Reply bytes written for the sender and not yet handed to the kernel (`writableLength`). */
  readonly pendingOutputBytes: number;
  /** Frames read and not yet answered. */
  readonly queuedFrames: number;
  /** Reading is paused until the sender takes the replies waiting for it. */
  readonly waitingForReader: boolean;
}

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
  /** Dead letters (rare) go through the client; every event through the publisher. */
  readonly #js: JetStreamClient;
  readonly #publisher: JetStreamPublisher;
  readonly #accounts: Dc09Accounts;
  readonly #metrics: Dc09Metrics;
  readonly #clock: Clock;
  readonly #partitions: number;
  readonly #window: TimeWindow;
  readonly #idleMs: number;
  readonly #frameDeadlineMs: number;
  readonly #retryMs: number;
  readonly #maxPendingOutput: number;
  readonly #keyless: 'refuse' | 'allow';
  readonly #occurrences: Occurrences;
  readonly #storedFrames = new StoredFrames();
  readonly #stamped = new StampedMessages();
  readonly #clocks: PanelClockBook;
  readonly #pads: PadStyleBook;
  /** Where a forged frame is told of (`<namespace>.security.events`); none in tests that do not ask. */
  readonly #securityEvent: ((event: SecurityEvent) => Promise<void> | void) | undefined;
  readonly #securityEventBudget = new PerSourceRate(SECURITY_EVENT_BURST, SECURITY_EVENTS_PER_MINUTE);
  readonly #forgedWarning: CountedWarning;
  readonly #perSource: PerSourceCount;
  readonly #nakBudget: PerSourceRate;
  /** Answers over UDP per source address, whatever they are (`DC09_UDP_REPLY_BURST`). */
  readonly #udpReplyBudget: PerSourceRate;
  /** One bucket for every source together: dead letters of refusals (see `DC09_DEAD_LETTER_BURST`). */
  readonly #deadLetterBudget: PerSourceRate;
  /** Frames stored per account, and past that the reserve only alarms spend; undefined: no limit. */
  readonly #accountRate: PerSourceRate | undefined;
  readonly #alarmReserve: PerSourceRate | undefined;
  readonly #rateWarning: CountedWarning;
  readonly #droppedWarning: CountedWarning;
  readonly #copiesWarning: CountedWarning;
  readonly #previousKeyWarning: CountedWarning;
  readonly #log: Logger;
  readonly #tcp: Server;
  readonly #udp: UdpSocket;
  readonly #sockets = new Map<Socket, () => Dc09Connection>();
  readonly #inflight = new Set<Promise<void>>();
  readonly #turn = new StoreTurn();
  #udpInflight = 0;
  #closing = false;
  /** Aborted by drain: ends every frame's wait before its next try at once. */
  readonly #draining = new AbortController();
  /** A new leader of EVENTS or DEADLETTER ends every frame's wait before its next try at once too. */
  readonly #elections: LeaderElections;

  constructor(deps: {
    names: Names;
    js: JetStreamClient;
    /**
     * Stores the events: `js.publish`'s answers and failures, for less CPU a message. Its timeout
     * is one store attempt's (`STORE_ATTEMPT_TIMEOUT_MS`).
     */
    publisher: JetStreamPublisher;
    accounts: Dc09Accounts;
    metrics: Dc09Metrics;
    clock: Clock;
    partitions: number;
    window: TimeWindow;
    /** A TCP connection that completes no frame for this long is closed. */
    idleMs: number;
    /** A frame must reach its CR this long after its first byte. */
    frameDeadlineMs: number;
    maxConnectionsPerSource: number;
    nak: { burst: number; perMinute: number };
    /** Answers of any kind over UDP per source address: a burst, then this many a minute (default: no bound). */
    udpReplies?: { burst: number; perMinute: number };
    /**
     * Frames one account may have stored: `burst`, then `perSecond` (0 or absent: no limit), and
     * past that a reserve only frames carrying a life-critical alarm spend.
     */
    accountRate?: { perSecond: number; burst: number };
    alarmReserve?: { perSecond: number; burst: number };
    /** Dead letters of refusals (NAK, UDP non-frames) from all sources together (default: no bound). */
    deadLetters?: { burst: number; perMinute: number };
    keyless: 'refuse' | 'allow';
    /** How long a transient failure is retried before the frame is left unanswered. */
    retryMs: number;
    /** A message without a timestamp sent again within this long, nothing between, is a retransmission. */
    resendGapMs: number;
    maxConnections: number;
    /** Reply bytes a connection may have waiting for its sender; past this its input is paused. */
    maxPendingOutputBytes: number;
    /**
     * Publishes a security event (at most once; the dead letter and the metric are the record); what
     * it answers (`SecurityEventOutbox.raise`: once the event is on disk) is awaited before the
     * frame that raised it is answered.
     */
    securityEvent?: (event: SecurityEvent) => Promise<void> | void;
    /** What is known of each zoned account's panel clock (default: this instance's memory alone). */
    clocks?: PanelClockBook;
    /** What each account's accepted encrypted frames showed of its pads (default: this instance's memory alone). */
    pads?: PadStyleBook;
    logger: Logger;
  }) {
    this.#clocks = deps.clocks ?? new PanelClocks();
    this.#pads = deps.pads ?? new PadStyles();
    this.#n = deps.names;
    this.#js = deps.js;
    this.#publisher = deps.publisher;
    // A store sent while the stream elected a leader is never answered: sent again at once, it is
    // stored now rather than after its attempt's timeout (seconds of a press's time).
    this.#elections = new LeaderElections(
      deps.publisher.connection,
      [{ stream: deps.names.streams.events }, { stream: deps.names.streams.deadletter }],
      () => deps.publisher.resendWaiting(),
    );
    this.#accounts = deps.accounts;
    this.#metrics = deps.metrics;
    this.#clock = deps.clock;
    this.#partitions = deps.partitions;
    this.#window = deps.window;
    this.#idleMs = deps.idleMs;
    this.#frameDeadlineMs = deps.frameDeadlineMs;
    this.#retryMs = deps.retryMs;
    this.#maxPendingOutput = deps.maxPendingOutputBytes;
    this.#keyless = deps.keyless;
    this.#securityEvent = deps.securityEvent;
    this.#occurrences = new Occurrences(deps.resendGapMs);
    this.#perSource = new PerSourceCount(deps.maxConnectionsPerSource);
    this.#nakBudget = new PerSourceRate(deps.nak.burst, deps.nak.perMinute);
    this.#udpReplyBudget = new PerSourceRate(
      deps.udpReplies?.burst ?? Number.POSITIVE_INFINITY,
      deps.udpReplies?.perMinute ?? 0,
    );
    const perAccount = (rate: { perSecond: number; burst: number } | undefined) =>
      rate && rate.perSecond > 0
        ? new PerSourceRate(rate.burst, rate.perSecond * 60, MAX_RATED_ACCOUNTS)
        : undefined;
    this.#accountRate = perAccount(deps.accountRate);
    this.#alarmReserve = this.#accountRate ? perAccount(deps.alarmReserve) : undefined;
    this.#deadLetterBudget = new PerSourceRate(
      deps.deadLetters?.burst ?? Number.POSITIVE_INFINITY,
      deps.deadLetters?.perMinute ?? 0,
    );
    this.#log = deps.logger.child({ component: 'receiver' });
    this.#rateWarning = new CountedWarning(
      this.#log,
      'dropped',
      'account over its frame rate; its frames are left unanswered until it slows down',
    );
    this.#droppedWarning = new CountedWarning(
      this.#log,
      'dropped',
      'refusals past the dead-letter budget of all sources: answered and counted, not dead-lettered',
    );
    this.#copiesWarning = new CountedWarning(
      this.#log,
      'unanswered',
      'copies of stored frames over UDP from another address than the first: not answered, not stored',
    );
    this.#forgedWarning = new CountedWarning(
      this.#log,
      'dropped',
      'forged frames past the security-event budget: refused and counted, not published one by one',
    );
    this.#previousKeyWarning = new CountedWarning(
      this.#log,
      'frames',
      'frames accepted with an account’s previous key (in its grace after a key change): re-key the panel',
    );
    // Half-open allowed: a sender that has finished writing (a replay tool, a connect-per-event
    // panel that shuts down its side) still hears the replies to what it sent; the connection is
    // ended once they are out.
    this.#tcp = createServer({ noDelay: true, allowHalfOpen: true }, (socket) => this.#accept(socket));
    this.#tcp.maxConnections = deps.maxConnections;
    this.#tcp.on('drop', () => this.#metrics.refusedConnections.inc({ reason: 'max-connections' }));
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
    this.#draining.abort();
    const closed = new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
    await new Promise<void>((resolve) => this.#udp.close(() => resolve()));
    await Promise.allSettled([...this.#inflight]);
    for (const socket of this.#sockets.keys()) socket.end();
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1_000))]);
    for (const socket of this.#sockets.keys()) socket.destroy();
    this.#elections.close();
  }

  /** The open TCP connections as they stand now. */
  connections(): Dc09Connection[] {
    return [...this.#sockets.values()].map((state) => state());
  }

  #accept(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const source = socket.remoteAddress ?? 'unknown';
    if (!this.#perSource.take(source)) {
      this.#metrics.refusedConnections.inc({ reason: 'per-source' });
      this.#log.debug({ source }, 'connection refused: too many from one address');
      socket.destroy();
      return;
    }
    const peer = `tcp:${source}:${socket.remotePort}`;
    this.#metrics.connections.inc();
    const splitter = new FrameSplitter();
    /** A frame (a unit an LF opens) has come on this connection: bytes after it may be a buffer's rest. */
    let framed = false;
    const queue: Pending[] = [];
    let working = false;
    /**
     * The unit being answered is a real frame (framing, CRC and length right): waiting out its
     * store's retries is not idleness. Junk waiting out its dead letter's is: it never re-arms the
     * idle timer, so junk cannot hold a connection open while JetStream is slow or down.
     */
    let realInHand = false;
    /** Its replies are past the bound: nothing more is read or answered until it takes them. */
    let waitingForReader = false;
    const remotePort = socket.remotePort ?? 0;
    this.#sockets.set(socket, () => ({
      remoteAddress: source,
      remotePort,
      pendingOutputBytes: socket.writableLength,
      queuedFrames: queue.length,
      waitingForReader,
    }));
    /** The sender has finished writing: end our side once its frames are answered. */
    let ended = false;
    // Neither timer is the socket's own inactivity timeout: any byte resets that, so a sender
    // trickling one byte at a time would hold the connection for ever.
    let idle: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const close = (why: 'idle' | 'frame-deadline') => {
      this.#metrics.closedConnections.inc({ reason: why });
      this.#log.debug({ peer, why }, 'connection closed');
      socket.destroy();
    };
    const armIdle = () => {
      // Refreshed, not re-created: a busy connection re-arms it with every frame.
      if (idle) {
        idle.refresh();
        return;
      }
      idle = setTimeout(() => {
        // A frame in hand (waiting out a retry) is not idleness; junk in hand, or waiting for the
        // sender to read, is.
        if (working && realInHand && !waitingForReader) armIdle();
        else close('idle');
      }, this.#idleMs);
    };
    const armDeadline = () => {
      deadline = setTimeout(() => {
        // Paused by us while its frames wait behind a busy one: the rest of its frame is not its
        // fault. Paused because it does not read its replies: that is.
        if (socket.isPaused() && !waitingForReader) armDeadline();
        else close('frame-deadline');
      }, this.#frameDeadlineMs);
    };
    armIdle();
    socket.on('error', (err) => this.#log.debug({ err, peer }, 'connection error'));
    socket.on('close', () => {
      clearTimeout(idle);
      clearTimeout(deadline);
      this.#sockets.delete(socket);
      this.#perSource.release(source);
      this.#metrics.connections.dec();
    });
    /**
     * Until `flushed` (the sender has taken enough for our last reply to leave for the kernel), the
     * socket closes or the gateway drains: nothing more is read from it, and none of the frames
     * already read is answered, so its replies stop at the bound plus one.
     */
    const waitForReader = async (flushed: Promise<void>) => {
      waitingForReader = true;
      socket.pause();
      this.#metrics.outputPaused.inc();
      this.#log.debug(
        { peer, pending: socket.writableLength },
        'sender not reading its replies; input paused',
      );
      const drain = this.#draining.signal;
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('close', done);
          drain.removeEventListener('abort', done);
          resolve();
        };
        socket.once('close', done);
        drain.addEventListener('abort', done, { once: true });
        if (drain.aborted) done();
        void flushed.then(done);
      });
      waitingForReader = false;
      if (queue.length < MAX_QUEUED_FRAMES && !socket.destroyed) socket.resume();
    };
    const pump = async () => {
      working = true;
      while (queue.length > 0 && !socket.destroyed) {
        const { unit, arrived, envelope } = queue.shift() as Pending;
        if (queue.length < MAX_QUEUED_FRAMES && socket.isPaused()) socket.resume();
        realInHand = envelope?.ok === true;
        const reply = await this.#answer(unit, source, peer, 'tcp', arrived, envelope);
        realInHand = false;
        if (!reply || !socket.writable) continue;
        // Its callback runs once this reply, and so every one before it, has left for the kernel
        // (or failed with the socket). Not 'drain': that comes only past the stream's own high-water
        // mark, which is not our bound.
        const flushed = new Promise<void>((resolve) => socket.write(reply, () => resolve()));
        if (socket.writableLength > this.#maxPendingOutput) {
          await waitForReader(flushed);
          // Draining: what it has not read it will not read now; the rest is left for it to resend.
          if (this.#closing) break;
        }
      }
      working = false;
      if (ended && !socket.destroyed) socket.end();
    };
    socket.on('end', () => {
      ended = true;
      // Whatever is held will never reach its CR: nothing to wait for.
      clearTimeout(deadline);
      deadline = undefined;
      if (!working) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      const units = splitter.push(chunk);
      if (units.length > 0) {
        clearTimeout(deadline);
        deadline = undefined;
      }
      // Only a real frame (framing, CRC and length right) is activity: junk ended by a CR is not.
      // The envelope read here is the one the frame is answered from: read once.
      let real = false;
      // One reading of the clock for the frames of one read: they arrived together.
      const arrived = units.length > 0 ? new Date(this.#clock.now()) : new Date(0);
      for (const unit of units) {
        // The rest of the sender's buffer after a frame, a CR in it: noise, as bytes after a frame in
        // a datagram are. Not answered (a NAK would be read as the answer to the sender's next
        // message), not dead-lettered, no activity. Before any frame it is still answered and
        // recorded: a sender speaking another protocol to our port.
        if (!unit.oversized && framed && strayAfterFrame(unit.bytes)) continue;
        if (unit.bytes[0] === LF) framed = true;
        if (unit.oversized) {
          queue.push({ unit, arrived });
          continue;
        }
        const envelope = readEnvelope(unit.bytes);
        if (envelope.ok) real = true;
        queue.push({ unit, arrived, envelope });
      }
      if (real) armIdle();
      if (splitter.partial && deadline === undefined) armDeadline();
      if (queue.length >= MAX_QUEUED_FRAMES) socket.pause();
      if (!working) this.#track(pump());
    });
  }

  #datagram(datagram: Buffer, peer: RemoteInfo): void {
    if (this.#closing || this.#udpInflight >= MAX_UDP_INFLIGHT) return;
    this.#udpInflight++;
    const origin = `udp:${peer.address}:${peer.port}`;
    const arrived = new Date(this.#clock.now());
    const work = (async () => {
      try {
        for (const unit of splitDatagram(datagram)) {
          const reply = await this.#answer(unit, peer.address, origin, 'udp', arrived);
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
   * gateway is draining): the frame is then left for the sender to send again. The frame is
   * judged by the time it arrived through every attempt, and while it waited behind an earlier
   * frame of its connection, so neither pushes it out of the window.
   */
  #answer(
    unit: Unit,
    source: string,
    origin: string,
    transport: 'tcp' | 'udp',
    arrived: Date,
    envelope?: Envelope | EnvelopeRefusal,
  ): Promise<Buffer | undefined> {
    // Each frame starts a trace: DC-09 has no field to carry one from the sender.
    return inSpan(
      SERVICE,
      'dc09 frame',
      { parent: ROOT_TRACE, kind: SpanKind.PRODUCER, attributes: { 'network.transport': transport } },
      () => this.#answerFrame(unit, source, origin, transport, arrived, envelope),
    );
  }

  async #answerFrame(
    unit: Unit,
    source: string,
    origin: string,
    transport: 'tcp' | 'udp',
    now: Date,
    envelope: Envelope | EnvelopeRefusal | undefined,
  ): Promise<Buffer | undefined> {
    const giveUpAt = performance.now() + this.#retryMs;
    const once: FrameOnce = { noted: false };
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await this.#handle(unit, source, origin, transport, now, envelope, once);
        // Not answered before what it raised is kept (synced to the state folder: a crash of the
        // machine after the answer does not lose it); meanwhile other frames are read and answered.
        await once.kept;
        if (outcome === 'silent') return undefined;
        if (transport === 'udp' && !this.#udpAnswered(outcome.replyFrame, unit, source)) return undefined;
        this.#metrics.replies.inc({ reply: outcome.reply, transport });
        if (outcome.account)
          this.#metrics.accountReplies.inc({ account: outcome.account, reply: outcome.reply });
        return outcome.replyFrame;
      } catch (err) {
        const stage = err instanceof UnansweredError ? err.stage : 'store';
        // The last wait is cut to the bound, so the whole bound is used: a stream being made again
        // within it (its check runs every 2 s) is not given up on a backoff step early.
        const left = giveUpAt - performance.now();
        const delay = Math.min(backoffDelay(STORE_RETRY, attempt), left);
        if (this.#closing || left <= 0) {
          this.#metrics.unanswered.inc({ stage });
          this.#log.warn({ err, origin, stage }, 'frame left unanswered; the sender will retry');
          return undefined;
        }
        this.#metrics.retries.inc({ stage });
        this.#log.debug({ err, origin, stage, delayMs: delay }, 'transient failure; retrying the frame');
        // Cut short when the stream elects a leader: the failure was most likely its election, and
        // a try that still fails (the leader not serving yet) is tried again soon, not 2 s later.
        if (await this.#elections.sleep(delay, this.#draining.signal)) attempt = 0;
      }
    }
  }

  /**
   * The frame's outcome once its events are stored and any refusal dead-lettered; `silent` when
   * nothing is to be sent: a datagram that cannot be a frame (its source address may be forged,
   * and a reply would make us a reflector), or a refusal past the source's NAK budget.
   */
  async #handle(
    unit: Unit,
    source: string,
    origin: string,
    transport: 'tcp' | 'udp',
    now: Date,
    envelope: Envelope | EnvelopeRefusal | undefined,
    once: FrameOnce,
  ): Promise<Interpretation | 'silent'> {
    let lookupFailed: unknown;
    const outcome = await interpretFrame(unit.bytes, {
      ...(envelope ? { envelope } : {}),
      now,
      window: this.#window,
      partitions: this.#partitions,
      keyless: this.#keyless,
      occurrences: this.#occurrences,
      stored: this.#storedFrames,
      stamped: this.#stamped,
      clocks: this.#clocks,
      pads: this.#pads,
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
    if (outcome.copy && !copyAnswered(outcome.copy.origin, origin, transport)) {
      // Nothing to release: a copy holds no claim and stores nothing.
      this.#copyUnanswered(outcome.account, origin);
      return 'silent';
    }
    if (!once.rated && !this.#withinRate(outcome)) {
      // Unanswered, as for any frame not stored: its sender sends it again later.
      if (outcome.remember) this.#storedFrames.release(outcome.remember.key);
      this.#rateLimited(outcome.account as string);
      return 'silent';
    }
    once.rated = true;
    try {
      await this.#store(outcome.events, outcome.serial);
    } catch (err) {
      // Not stored: its claim is given up (a copy waiting on it is then handled as a first) before
      // the frame is tried again and claims it anew.
      if (outcome.remember) this.#storedFrames.release(outcome.remember.key);
      throw err;
    }
    // Only once stored: what the frame showed of its panel's clock, and its place in the panel's order.
    if (outcome.seen && outcome.account)
      this.#clocks.note(outcome.account, outcome.seen, outcome.seenAtChange === true);
    // Only once stored, and only a frame taken: what its pad showed of how the panel pads.
    if (outcome.pad && outcome.account && !outcome.copy)
      this.#pads.note(outcome.account, outcome.pad.seen, outcome.pad.entry);
    // Only once stored: a frame whose store is retried is not yet a copy of anything.
    if (outcome.remember) {
      const reply = outcome.reply === 'DUH' ? 'DUH' : 'ACK';
      const { key, until, lasting, seq } = outcome.remember;
      this.#storedFrames.add(key, until, now.getTime(), origin, reply, lasting, seq);
    }
    if (outcome.copy) this.#metrics.duplicates.inc();
    if (!once.noted) {
      // Its dead letter below may be tried again: what it raised and counted is not.
      once.noted = true;
      once.kept = Promise.all([
        this.#observe(outcome, now),
        outcome.forged ? this.#forged(outcome, transport, now) : undefined,
      ]);
    }
    if (outcome.refusal) {
      // Refusals cost a dead-letter write and a reply: bounded per source, so one address
      // cannot fill the dead-letter stream or use us to flood someone else.
      // Per transport too: a UDP source address costs nothing to forge, and datagrams in a TCP
      // panel's address must not spend the NAKs (our time, for its clock) that panel is owed.
      if (outcome.reply === 'NAK')
        once.nak ??= this.#nakBudget.take(`${transport}:${source}`, performance.now());
      if (outcome.reply === 'NAK' && !once.nak) {
        this.#metrics.silenced.inc({ reason: 'nak-rate', transport });
        this.#metrics.rejects.inc({ reason: outcome.refusal.reason });
        return 'silent';
      }
      if (outcome.reply === 'NAK') once.deadLetter ??= this.#deadLetterBudget.take('all', performance.now());
      if (outcome.reply === 'NAK' && !once.deadLetter) {
        // Many addresses refused at once: answered as before (each within its own NAK budget), but
        // what they sent is counted, not written down one by one.
        this.#metrics.rejects.inc({ reason: outcome.refusal.reason });
        this.#droppedDeadLetter();
        if (transport === 'udp' && outcome.notAFrame) {
          this.#metrics.silenced.inc({ reason: 'not-a-frame', transport });
          return 'silent';
        }
        return outcome;
      }
      const detail = unit.oversized
        ? `${outcome.refusal.detail} (truncated; no CR within the limit)`
        : outcome.refusal.detail;
      const id = await publishDeadLetter(
        this.#js,
        this.#n,
        {
          service: SERVICE,
          reason: outcome.refusal.reason,
          detail,
          origin,
          ...(outcome.named === undefined ? {} : { account: outcome.named }),
          raw: unit.bytes,
        },
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
      if (transport === 'udp' && outcome.notAFrame) {
        this.#metrics.silenced.inc({ reason: 'not-a-frame', transport });
        return 'silent';
      }
    }
    return outcome;
  }

  /**
   * Whether the frame's account may have it stored now: its rate, or past that, for a frame
   * carrying a life-critical alarm, its alarm reserve (which nothing else spends, so a flood of
   * other messages never holds the account's press). A frame costs one token per event it stores
   * besides its heartbeat: a message may batch a hundred and more. Copies and refusals store
   * nothing and spend nothing (refusals have the NAK budget).
   */
  #withinRate(outcome: Interpretation): boolean {
    if (this.#accountRate === undefined || outcome.account === undefined || outcome.events.length === 0)
      return true;
    const now = performance.now();
    const cost = Math.max(1, outcome.events.filter((event) => event.type !== 'heartbeat').length);
    if (this.#accountRate.take(outcome.account, now, cost)) return true;
    return (
      this.#alarmReserve !== undefined &&
      outcome.events.some((event) => lifeCritical(event.type)) &&
      this.#alarmReserve.take(outcome.account, now, cost)
    );
  }

  #rateLimited(account: string): void {
    this.#metrics.rateLimited.inc();
    this.#rateWarning.note({ account });
  }

  /**
   * Whether an answer over UDP goes out. A datagram's source address costs nothing to forge, so an
   * answer may reach someone who never sent anything: it is never larger than the frame it answers
   * (a NAK, with our time, outgrows a short frame of no account), so the receiver amplifies nothing,
   * and each source address has a budget of answers of every kind (a recorded frame sent again in a
   * panel's own address is a copy, answered ACK, stored never: without it, answered each time).
   * The events of a frame left unanswered are stored all the same; its sender sends it again.
   */
  #udpAnswered(reply: Buffer, unit: Unit, source: string): boolean {
    if (reply.byteLength > unit.bytes.byteLength) {
      this.#metrics.silenced.inc({ reason: 'larger-than-frame', transport: 'udp' });
      return false;
    }
    if (!this.#udpReplyBudget.take(source, performance.now())) {
      this.#metrics.silenced.inc({ reason: 'udp-rate', transport: 'udp' });
      return false;
    }
    return true;
  }

  /**
   * An encrypted frame changed without its key: counted, logged, and raised as a security event
   * (within the budget of all sources together: the source address of a datagram is free to forge).
   * Ids only: the account, the reason and the transport.
   */
  #forged(outcome: Interpretation, transport: 'tcp' | 'udp', now: Date): Promise<void> | undefined {
    const reason = outcome.forged as string;
    this.#metrics.forged.inc({ reason, transport });
    if (reason === 'pad' && outcome.account) this.#metrics.padRefused.inc({ account: outcome.account });
    if (!this.#securityEventBudget.take('all', performance.now())) {
      this.#metrics.securityEventsDropped.inc();
      this.#forgedWarning.note({ account: outcome.account, reason });
      return undefined;
    }
    return this.#securityNotice('dc09-frame-forged', now, {
      account: outcome.account,
      serial: outcome.serial,
      reason,
      transport,
    });
  }

  /**
   * A security event, logged and published (ids only); its budget is the caller's. Resolves once
   * it is kept (`securityEvent`'s answer); never rejects.
   */
  async #securityNotice(kind: SecurityEventKind, now: Date, detail: Record<string, unknown>): Promise<void> {
    this.#log.warn({ securityEvent: kind, ...detail }, `security: ${kind}`);
    try {
      await this.#securityEvent?.(
        SecurityEvent.parse({
          id: null,
          at: now.toISOString(),
          service: SERVICE,
          kind,
          userId: null,
          caseId: null,
          detail,
        }),
      );
    } catch (err) {
      // What raised it stands, counted and recorded; only the notice is lost.
      this.#log.error({ err }, 'security event not published');
    }
  }

  #copyUnanswered(account: string | undefined, origin: string): void {
    this.#metrics.udpCopiesUnanswered.inc();
    this.#copiesWarning.note({ account, origin });
  }

  #droppedDeadLetter(): void {
    this.#metrics.deadLettersDropped.inc();
    this.#droppedWarning.note();
  }

  /** Per-account figures, for known accounts only: an unknown account is anyone's to invent. */
  #observe(outcome: Interpretation, now: Date): Promise<unknown> | undefined {
    if (!outcome.account) return undefined;
    const kept: Promise<void>[] = [];
    if (outcome.poll) this.#metrics.accountLastPoll.set({ account: outcome.account }, now.getTime() / 1000);
    if (outcome.late) {
      this.#metrics.lateAlarms.inc({ account: outcome.account });
      this.#log.warn(
        {
          account: outcome.account,
          serial: outcome.serial,
          types: outcome.events.filter((e) => e.type !== 'heartbeat').map((e) => e.type),
          time: outcome.events[0]?.time,
        },
        'life-critical alarm behind the timestamp window taken late, stored at its own time: the panel sent what it buffered while its line was down',
      );
    }
    if (outcome.clockHoursOff !== undefined) this.#metrics.localClock.inc({ account: outcome.account });
    if (outcome.zoneHoursOff !== undefined) this.#metrics.utcClock.inc({ account: outcome.account });
    if (outcome.previousKey) {
      this.#metrics.previousKeyFrames.inc({ account: outcome.account });
      this.#previousKeyWarning.note({ account: outcome.account });
    }
    for (const { type, disposition } of outcome.mismatched ?? []) {
      this.#metrics.kindMismatch.inc({ type, disposition });
      if (disposition === 'stored') {
        this.#log.warn(
          { account: outcome.account, serial: outcome.serial, type },
          'life-critical alarm from an account whose device kind does not report it: stored as unexpectedkind; check the device’s registered kind',
        );
        if (this.#securityEventBudget.take('all', performance.now()))
          kept.push(
            this.#securityNotice('device-kind-unexpected', now, {
              account: outcome.account,
              serial: outcome.serial,
              type,
            }),
          );
        else this.#metrics.securityEventsDropped.inc();
      }
    }
    for (const code of outcome.unmapped ?? []) {
      this.#metrics.unmapped.inc({ account: outcome.account, code });
      this.#log.warn({ account: outcome.account, code }, `unmapped code from account ${outcome.account}`);
    }
    return kept.length === 0 ? undefined : Promise.all(kept);
  }

  /** Every event of the frame, each awaited to its PubAck: the ACK waits for the last. */
  async #store(events: readonly TelecareEvent[], serial: string | undefined): Promise<void> {
    if (events.length === 0) return;
    const traceparent = activeTraceparent();
    await this.#turn.next();
    const started = performance.now();
    const acks = await Promise.all(
      events.map((event) => {
        // Headers of its own per event: the publisher sets the event's Nats-Msg-Id on them.
        const h = traceparent ? headers() : undefined;
        if (h) injectTrace(h, traceparent);
        return this.#publisher.publish(
          this.#n.subjects.event(event.partition, event.type),
          JSON.stringify(traceparent ? { ...event, traceparent } : event),
          h ? { msgID: event.id, headers: h } : { msgID: event.id },
        );
      }),
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

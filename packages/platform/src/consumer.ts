/**
 * The one loop that reads a durable JetStream consumer: pull, decode and validate against the
 * contract, per-key ordered concurrency, one error policy, heartbeats, drain, metrics and the
 * message's trace context. A service writes only what to do with a valid message.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerUpdateConfig,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
} from '@nats-io/jetstream';
import { errors as natsErrors } from '@nats-io/transport-node';
import { type Names, RejectReason } from '@telecare/contracts';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { Clock } from './clock.ts';
import { type Decoded, decodeJson } from './decode.ts';
import { LeaderElections } from './elections.ts';
import { isDataException, PoisonMessageError, TelecareError } from './errors.ts';
import { Counter, Gauge, Histogram } from './http.ts';
import { LanePool } from './keyed.ts';
import { type Logger, warnFailure } from './logger.ts';
import { isConsumerNotFound, isJetStreamUnavailable, isStreamNotFound, publishDeadLetter } from './nats.ts';
import { connectionOf, type Delivery, PullInbox, PullRefusedError } from './pull.ts';
import { ReadMark } from './read-mark.ts';
import { ACK_WAIT_S, type BackoffPolicy, backoffDelay, Pause, REDELIVERY, sleep } from './work.ts';

/** What a handler is told about the message it holds, beside its decoded value. */
export interface MessageContext {
  readonly subject: string;
  readonly seq: number;
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  /** Messages left on the consumer after this one, when it was delivered. */
  readonly pending: number;
  /** The W3C trace context the publisher sent (`traceparent` header), if any. */
  readonly traceparent: string | undefined;
  readonly headers: ReadonlyMap<string, string>;
  /** Tells JetStream the message is still in hand (the loop also does so on a timer). */
  working(): void;
}

/**
 * Whether a failure is worth another try: a `TelecareError` says so itself (`retryable`); anything
 * else is taken as a dependency failing for the moment. The one place the error policy is read.
 */
/**
 * Whether a failed message may succeed later: a `TelecareError` says; anything else may (a server
 * away, a timeout), but for data PostgreSQL refused (`isDataException`), which never will.
 */
export const isRetryable = (err: unknown): boolean =>
  err instanceof TelecareError ? err.retryable : !isDataException(err);

/** The dead-letter reason of a refused message: the error's own (`context.reason`), else `unhandled`. */
export const refusalReason = (err: unknown): RejectReason => {
  const parsed = RejectReason.safeParse(err instanceof TelecareError ? err.context.reason : undefined);
  return parsed.success ? parsed.data : 'unhandled';
};

export interface ConsumerLoopOptions<T> {
  readonly js: JetStreamClient;
  readonly names: Names;
  readonly stream: string;
  /** The durable consumer's name; it must exist before `start`. */
  readonly consumer: string;
  /** Who refuses a message, in its dead letter (`helpline`, `triage`). */
  readonly service: string;
  readonly schema: z.ZodType<T>;
  /** How a refusal names the whole value (`(event)`); `(root)` unless said. */
  readonly root?: string;
  readonly handle: (value: T, message: MessageContext) => Promise<void>;
  readonly logger: Logger;
  readonly clock: Clock;
  /**
   * The lane of a message: one lane's messages are handled one at a time, in stream order. It is
   * given the decoded message too (undefined when it does not decode), for a key the subject lacks.
   */
  readonly key?: (subject: string, value: T | undefined) => string;
  /**
   * A message that failed for the moment is tried again in hand, after `retryDelay`, instead of
   * being handed back: the messages of its lane behind it wait for it. With several messages in
   * flight (`concurrency` and the consumer's `max_ack_pending` above 1) a message handed back
   * would come back after later ones of its lane; tried in hand, the lane keeps its order. A stop
   * hands it back at once (no delay), before the messages of its lane behind it.
   *
   * A function chooses per failure (and try, 1 the first): say, in hand while a database is
   * unreachable (every message would fail alike), handed back when one message fails for reasons
   * of its own, so it does not hold its lane's later messages for ever.
   */
  readonly retryInPlace?: boolean | ((err: unknown, attempt: number) => boolean);
  /**
   * Streams the handler stores to (triage's ALERTS): a message tried again in hand is tried at once
   * when one of them elects a leader (JetStream's advisory), rather than after the rest of its
   * `retryDelay`. While a stream elects, every store fails at once; the first try once it has a
   * leader stores the message.
   */
  readonly retryOnLeaderOf?: readonly string[];
  /**
   * What else ends the wait of a message tried again in hand, called as the wait begins: its
   * `ready` resolving (a dependency the handler needs answers again: triage's Redis) tries it at
   * once rather than after the rest of its `retryDelay`; `cancel` once the wait ended otherwise.
   */
  readonly retrySooner?: () => { readonly ready: Promise<void>; cancel(): void };
  /** Messages in hand at once over all lanes (1 unless said). */
  readonly concurrency?: number;
  /** Messages asked for per pull; `concurrency` unless said. */
  readonly batch?: number;
  /** How long one pull waits for messages, and so the longest a stop waits for an idle loop. */
  readonly expiresMs?: number;
  /**
   * The idle heartbeat a pull asks the server for: a pull that hears nothing for two of them is
   * given up on (and the server asked whether it still holds it), so it bounds how long a pull
   * lost on its way holds the loop up. Half of `expiresMs` unless said (nats-server 2.9 refuses
   * more), at least 100 ms; an alarm lane says less.
   */
  readonly heartbeatMs?: number;
  /**
   * How soon the loop tries again while JetStream answers that it is not available (503: a leader
   * election, a server starting): the waits of this policy, growing while it stays so. Unless
   * said, the pause after any failed pull (up to a second). An alarm lane says a short one.
   */
  readonly unavailableRetry?: BackoffPolicy;
  /**
   * How long a lookup of the consumer (after errors, on reconnect) waits for its answer: the
   * client's request timeout (5 s) unless said. While a cluster elects the consumer's leader the
   * lookup is not answered at all, and the loop pulls nothing until it gives up. With
   * `unavailableRetry`, a lookup not answered in time counts as JetStream not available: asked
   * again after that policy's short waits, so the loop pulls within one of them of the new leader.
   */
  readonly lookupTimeoutMs?: number;
  readonly ackWaitMs?: number;
  /** The delay before a message that failed for the moment comes back; `REDELIVERY` unless said. */
  readonly retryDelay?: (deliveryCount: number) => number;
  /**
   * What becomes of a message that is not JSON or breaks its contract: dead-lettered (the
   * default), or acked and skipped by a consumer that only reads what another consumer judges.
   */
  readonly undecodable?: 'dead-letter' | 'skip';
  /** Runs before every pull (say, to fire due timers between messages). */
  readonly beforePull?: () => Promise<void>;
  /** Runs when a pull found nothing: everything stored before `pulledAt` (clock time) was read. */
  readonly onIdle?: (pulledAt: number) => Promise<void>;
  /**
   * Wraps every handling; the place to open a span from `message.traceparent` for all consumers
   * at once. Must call `run` once and return what it returns.
   */
  readonly around?: (message: MessageContext, run: () => Promise<void>) => Promise<void>;
  /** The service's own counts of refusals and retries, beside the loop's metrics. */
  readonly observe?: {
    readonly deadLettered?: (reason: RejectReason, err: unknown) => void;
    readonly retried?: (err: unknown) => void;
  };
  /** Where the loop's metrics go, labelled `consumer` with `metricsLabel` (the consumer's name unless said). */
  readonly metrics?: Registry;
  readonly metricsLabel?: string;
  /**
   * What the durable consumer is created with, beside its name and explicit acks. Given, a consumer
   * JetStream says does not exist (a server whose store was lost, a consumer or stream deleted by
   * hand) is created again with it, at once: from the first message this loop has not finished when
   * the stream is the one it was reading (the consumer alone was lost), else from the new stream's
   * start as the settings say. Not given, the loop waits for someone else to create it.
   */
  readonly recreate?: Partial<ConsumerConfig>;
}

/**
 * What a loop that carries alarms asks beside its own options (a press must reach an operator
 * within a second, and these settings take what is left of it from the loop's own waits):
 * - a pull lost on its way with the link up (a route that flapped, a pull the server dropped) is
 *   given up on after two heartbeats of 150 ms, not two of half the pull's expiry (1 s);
 * - while JetStream answers 503 the loop tries again after 10 ms, doubling up to 250 ms (each wait
 *   between half and all of that at random, so many lanes do not ask together), not after a
 *   second's pause: the first alarm stored once JetStream answers again is read within tens of
 *   milliseconds of a short outage, and a quarter second at most after a long one, at about five
 *   small requests a second.
 * The short heartbeats cost idle traffic (see the README, "Alarm lanes"): bulk lanes keep the
 * default.
 */
export const ALARM_LANE = {
  heartbeatMs: 150,
  unavailableRetry: { initialMs: 10, maxMs: 250, jitter: 0.5 },
  lookupTimeoutMs: 1_000,
} as const satisfies Pick<
  ConsumerLoopOptions<unknown>,
  'heartbeatMs' | 'unavailableRetry' | 'lookupTimeoutMs'
>;

export interface ConsumerLoop {
  /** Whether the loop runs: it waits out lost connections and pulls again, so false only once stopped. */
  readonly running: boolean;
  /**
   * A clock time before which every message stored on the consumer has been handled (acked or
   * dead-lettered; −∞ until known), as of the last `checkpoint()` (see `ReadMark`).
   */
  readonly readTo: number;
  /**
   * Asks the server (one or two requests) how far the stream reaches now and how far the consumer
   * has acked: `readTo` passes the present clock time once the ack floor reaches what was stored
   * by now, as seen by this or a later checkpoint, even while messages keep coming.
   */
  checkpoint(): Promise<void>;
  /** Stops pulling, hands back what a pull still delivers, and resolves once the work in hand is acked. */
  stop(): Promise<void>;
}

/** The loop's metrics: one set per registry, labelled by consumer. */
interface LoopMetrics {
  readonly handled: Counter<'consumer'>;
  readonly failed: Counter<'consumer'>;
  readonly deadLettered: Counter<'consumer' | 'reason'>;
  readonly redelivered: Counter<'consumer'>;
  readonly seconds: Histogram<'consumer'>;
  readonly inFlight: Gauge<'consumer'>;
}

const metricsByRegistry = new WeakMap<Registry, LoopMetrics>();

function loopMetrics(registry: Registry | undefined): LoopMetrics {
  const known = registry && metricsByRegistry.get(registry);
  if (known) return known;
  const registers = registry ? [registry] : [];
  const labelNames = ['consumer'] as const;
  const made: LoopMetrics = {
    handled: new Counter({
      name: 'consumer_messages_handled_total',
      help: 'Messages handled and acked',
      labelNames,
      registers,
    }),
    failed: new Counter({
      name: 'consumer_messages_failed_total',
      help: 'Messages that failed for the moment and were handed back with a backoff',
      labelNames,
      registers,
    }),
    deadLettered: new Counter({
      name: 'consumer_messages_dead_lettered_total',
      help: 'Messages refused, dead-lettered and terminated, by reason',
      labelNames: ['consumer', 'reason'] as const,
      registers,
    }),
    redelivered: new Counter({
      name: 'consumer_messages_redelivered_total',
      help: 'Messages delivered more than once (after a failure, a crash or a stop)',
      labelNames,
      registers,
    }),
    seconds: new Histogram({
      name: 'consumer_handler_seconds',
      help: 'Time from a message taken in hand to its ack, nak or term',
      labelNames,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    inFlight: new Gauge({
      name: 'consumer_messages_in_flight',
      help: 'Messages in hand (waiting for their lane or being handled)',
      labelNames,
      registers,
    }),
  };
  if (registry) metricsByRegistry.set(registry, made);
  return made;
}

const tryTo = (settle: () => void): void => {
  try {
    settle();
  } catch {
    // Not connected: JetStream redelivers the message after the ack wait, as after a crash.
  }
};

function contextOf(msg: Delivery): MessageContext {
  // The headers as a map only for a handler that reads them: most read the trace context alone.
  let headers: Map<string, string> | undefined;
  return {
    subject: msg.subject,
    seq: msg.seq,
    deliveryCount: msg.info.deliveryCount,
    pending: msg.info.pending,
    traceparent: msg.headers?.get('traceparent') || undefined,
    get headers() {
      if (headers === undefined) {
        headers = new Map<string, string>();
        for (const [name, values] of msg.headers ?? [])
          if (values[0] !== undefined) headers.set(name, values[0]);
      }
      return headers;
    },
    working: () => tryTo(() => msg.working()),
  };
}

/**
 * Starts the loop on an existing durable consumer. It pulls until stopped, through server restarts
 * (a failed pull is tried again after a pause), and waits out a lost connection.
 */
export function startConsumerLoop<T>(options: ConsumerLoopOptions<T>): ConsumerLoop {
  const log = options.logger.child({ component: 'consumer', consumer: options.consumer });
  const label = { consumer: options.metricsLabel ?? options.consumer };
  const metrics = loopMetrics(options.metrics);
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const pool = new LanePool(concurrency);
  const ackWaitMs = options.ackWaitMs ?? ACK_WAIT_S * 1_000;
  const retryDelay = options.retryDelay ?? ((count: number) => backoffDelay(REDELIVERY, count));
  const pause = new Pause();
  const mark = new ReadMark();
  const decodeOptions = options.root ? { root: options.root } : {};
  const stopped = new AbortController();
  let stopping = false;

  /** The stream as this loop found it (its creation time) and the last message it finished there. */
  let streamCreated: string | undefined;
  let lastFinished = 0;
  const finished = (msg: Delivery): void => {
    if (msg.seq > lastFinished) lastFinished = msg.seq;
  };

  const deadLetter = async (msg: Delivery, err: unknown): Promise<void> => {
    const reason = refusalReason(err);
    await publishDeadLetter(
      options.js,
      options.names,
      {
        service: options.service,
        reason,
        detail: err instanceof Error ? err.message : String(err),
        origin: `${msg.subject}#${msg.seq}`,
        raw: msg.data,
      },
      new Date(options.clock.now()),
    );
    // No reason on the TERM: servers before 2.10 ignore `+TERM <reason>` and leave it pending.
    tryTo(() => msg.term());
    finished(msg);
    metrics.deadLettered.inc({ ...label, reason });
    options.observe?.deadLettered?.(reason, err);
    log.warn({ subject: msg.subject, seq: msg.seq, reason }, 'message dead-lettered');
  };

  const retry = (msg: Delivery, err: unknown): void => {
    const delay = retryDelay(msg.info.deliveryCount);
    tryTo(() => msg.nak(delay));
    metrics.failed.inc(label);
    options.observe?.retried?.(err);
    warnFailure(
      log,
      err,
      { subject: msg.subject, seq: msg.seq, deliveryCount: msg.info.deliveryCount, retryInMs: delay },
      'message handed back for redelivery',
    );
  };

  const retryElections = options.retryOnLeaderOf?.length
    ? new LeaderElections(
        connectionOf(options.js),
        options.retryOnLeaderOf.map((stream) => ({ stream })),
      )
    : undefined;
  /** Tried again in hand: counted and logged like a hand-back, then waits (a stop ends the wait). */
  const retryInHand = async (msg: Delivery, err: unknown, attempt: number): Promise<void> => {
    const delay = retryDelay(msg.info.deliveryCount + attempt - 1);
    metrics.failed.inc(label);
    options.observe?.retried?.(err);
    warnFailure(
      log,
      err,
      { subject: msg.subject, seq: msg.seq, attempt, retryInMs: delay },
      'message failed for the moment; tried again in hand',
    );
    // Ended early by a stop, by a new leader of a stream the handler stores to, or `retrySooner`.
    const sooner = options.retrySooner?.();
    const woken = new AbortController();
    void sooner?.ready.then(() => woken.abort());
    const signal = sooner ? AbortSignal.any([stopped.signal, woken.signal]) : stopped.signal;
    try {
      await (retryElections?.sleep(delay, signal) ?? sleep(delay, signal));
    } finally {
      sooner?.cancel();
    }
  };

  /** Handles and settles one decoded message: ack, or the error policy. */
  const settle = async (msg: Delivery, message: MessageContext, decoded: Decoded<T>): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        if (!decoded.ok && options.undecodable === 'skip') {
          log.debug(
            { subject: msg.subject, seq: msg.seq, reason: decoded.reason },
            'unreadable message skipped',
          );
          tryTo(() => msg.ack());
          finished(msg);
          return;
        }
        if (!decoded.ok)
          throw new PoisonMessageError(decoded.detail, { context: { reason: decoded.reason } });
        const value = decoded.value;
        const run = () => options.handle(value, message);
        await (options.around ? options.around(message, run) : run());
        tryTo(() => msg.ack());
        finished(msg);
        metrics.handled.inc(label);
        return;
      } catch (err) {
        if (isRetryable(err)) {
          const inPlace =
            typeof options.retryInPlace === 'function'
              ? options.retryInPlace(err, attempt)
              : options.retryInPlace;
          if (!inPlace) return retry(msg, err);
          if (!stopping) await retryInHand(msg, err, attempt);
          // Stopped: handed back at once, so it comes back before its lane's later messages.
          if (stopping) return tryTo(() => msg.nak());
          continue;
        }
        try {
          await deadLetter(msg, err);
        } catch (dlqErr) {
          // Not even the dead-letter stream took it: keep the message and try again later.
          retry(msg, dlqErr);
        }
        return;
      }
    }
  };

  /** Messages taken in hand and not yet settled, each with a promise of its settling. */
  const held = new Map<Delivery, Promise<void>>();
  /** Takes a delivered message in hand: heartbeats from now, since waiting for its lane counts too. */
  const take = async (msg: Delivery): Promise<void> => {
    if (msg.info.deliveryCount > 1) metrics.redelivered.inc(label);
    const message = contextOf(msg);
    const decoded = decodeJson(options.schema, msg.data, decodeOptions);
    const lane = options.key?.(msg.subject, decoded.ok ? decoded.value : undefined) ?? '';
    metrics.inFlight.inc(label);
    const endTimer = metrics.seconds.startTimer(label);
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    held.set(msg, finished);
    // A stop while it waited for its lane: not begun, so handed back at once rather than drained.
    const work = () => (stopping ? Promise.resolve(tryTo(() => msg.nak())) : settle(msg, message, decoded));
    await pool.submit(lane, () =>
      work().finally(() => {
        held.delete(msg);
        done();
        endTimer();
        metrics.inFlight.dec(label);
      }),
    );
  };

  const expiresMs = Math.max(1_000, options.expiresMs ?? 1_000);
  // nats-server 2.9 refuses a pull heartbeat over half its expiry.
  const heartbeatMs = Math.min(
    Math.floor(expiresMs / 2),
    Math.max(MIN_HEARTBEAT_MS, options.heartbeatMs ?? expiresMs / 2),
  );
  const inbox = new PullInbox(
    connectionOf(options.js),
    options.js.apiPrefix,
    options.stream,
    options.consumer,
    // Asked with the lookup's timeout (`lookupTimeoutMs`): while a cluster elects the consumer's
    // leader the question is not answered, and the pulls open are not forgotten until one is.
    async () => (await lookupManagerOf()).consumers.info(options.stream, options.consumer),
  );

  /**
   * A loop that tries again soon (`unavailableRetry`) follows the advisory JetStream sends when
   * the consumer elects a leader: whatever waits on JetStream (a lookup not answered yet, the
   * pause before the next try, the question about a pull that went quiet) is asked again at once,
   * rather than when its timeout or pause ends.
   */
  const elections = options.unavailableRetry
    ? new LeaderElections(
        connectionOf(options.js),
        [{ stream: options.stream, consumer: options.consumer }],
        () => {
          log.info('consumer leader elected; asking JetStream again at once');
          pause.wake();
          inbox.probe(1, true);
        },
      )
    : undefined;

  /**
   * One pull: asks for as many messages as there are free slots, takes in what arrives (messages
   * of a pull given up on before included) until the server is done with it, and reports a pull
   * that found nothing (`onIdle`). Throws `HeartbeatsMissedError` when nothing arrived for two
   * heartbeats, and the server's refusal when it refused the pull.
   *
   * While a pull given up on is still open (the server has not said it expired, nor delivered all
   * it asked for), no other is sent: the loop waits for what it delivers, as a round of its own.
   * Every message that arrives is then known to be of the one pull open, so what it still owes is
   * known exactly (with several open the server serves them in turn, and which one a message
   * answers is not said), and what is in hand never passes `concurrency`: after a stall the server
   * answers every pull it was sent at once.
   */
  const round = async (): Promise<void> => {
    // Pull only what free slots can take. A pull open while every slot is busy waits on the
    // consumer's max_ack_pending, and keeps getting heartbeats while it waits.
    await pool.slot();
    if (stopping) return;
    const pulledAt = options.clock.now();
    const room = pool.free - inbox.unreadCount;
    const batch = Math.min(options.batch ?? concurrency, room);
    const pull = inbox.open === 0 && batch > 0 ? inbox.pull(batch, expiresMs, heartbeatMs) : undefined;
    let received = 0;
    let heardAt = performance.now();
    for (;;) {
      const event = await inbox.next(heardAt + 2 * heartbeatMs - performance.now(), stopped.signal);
      if (stopping) {
        // Not ours to finish: handed back at once for whoever consumes next (so is what follows).
        if (event?.kind === 'message') tryTo(() => event.message.nak());
        return;
      }
      if (event === undefined) {
        // The link is down (the loop waits for it), or the pull it waited for was found done with
        // by the server (see `PullInbox.probe`).
        if (!inbox.connected || (pull === undefined && inbox.open === 0)) return;
        // Woken before two heartbeats passed (another pull forgotten): still waiting.
        if (performance.now() < heardAt + 2 * heartbeatMs) continue;
        inbox.probe();
        throw new HeartbeatsMissedError();
      }
      if (event.kind === 'unavailable') {
        // The server, asked about the pull gone quiet, said JetStream is not available: a loop
        // that tries again soon does so now; another waits out the heartbeats as before.
        if (options.unavailableRetry) throw event.error;
        continue;
      }
      heardAt = performance.now();
      if (event.kind === 'message') {
        // Of this pull, or of one given up on that the server answered late: taken in all the same.
        received += 1;
        await take(event.message);
        // Waiting for a slot is not the server's silence.
        heardAt = performance.now();
        if (pull === undefined || received >= batch) return;
      } else if (event.kind === 'end' && (event.pull === pull || pull === undefined)) {
        if (event.error) throw event.error;
        if (pull === undefined) return;
        break;
      }
    }
    // The pull expired and nothing at all arrived since it was sent, from it or an earlier one:
    // everything stored before it was read.
    if (received === 0 && !stopping) await options.onIdle?.(pulledAt);
  };

  let manager: JetStreamManager | undefined;
  const managerOf = async (): Promise<JetStreamManager> => {
    manager ??= await options.js.jetstreamManager(false);
    return manager;
  };
  const consumerInfo = async () => (await managerOf()).consumers.info(options.stream, options.consumer);
  // The ack floor is the last acked message of the filter; with nothing in hand anywhere, every
  // message up to the delivered sequence (which passes the other subjects' messages) is handled.
  const ackedOf = (info: Awaited<ReturnType<typeof consumerInfo>>): number =>
    info.num_ack_pending === 0
      ? Math.max(info.ack_floor.stream_seq, info.delivered.stream_seq)
      : info.ack_floor.stream_seq;
  const checkpoint = async (): Promise<void> => {
    const at = options.clock.now();
    const info = await consumerInfo();
    // Behind: what was stored before `at` is at most the stream's last message (any subject).
    const stored =
      info.num_pending === 0
        ? info.delivered.stream_seq
        : (await (await managerOf()).streams.info(options.stream)).state.last_seq;
    mark.storedBy(at, stored);
    mark.ackedThrough(ackedOf(info));
    if (mark.readTo >= at || info.num_pending > 0 || stopping) return;
    // Everything stored is delivered, and what is not acked yet is mostly the messages in hand
    // (the loop asks between pulls, while the last pull's messages are still being handled). They
    // are this loop's to finish: once they are settled, the ack floor is asked again, so the mark
    // passes `at` now rather than at the next checkpoint. That one is a timer round later (up to
    // a second), and on an accelerated clock hours later. Nothing else was pending, so waiting
    // delays no pull; a message that keeps failing in hand is waited for a quarter pull at most.
    const inHand = [...held].filter(([msg]) => msg.seq <= stored).map(([, finished]) => finished);
    let settled = false;
    await Promise.race([
      Promise.all(inHand).then(() => {
        settled = true;
      }),
      sleep((options.expiresMs ?? 1_000) / 4, stopped.signal),
    ]);
    // An ack is not answered: the server may count it a moment after the loop sent it.
    for (let ask = 0; settled && !stopping && mark.readTo < at && ask < 3; ask++) {
      if (ask > 0) await sleep(10 * ask, stopped.signal);
      mark.ackedThrough(ackedOf(await consumerInfo()));
    }
  };

  let lookupManager: JetStreamManager | undefined;
  const lookupManagerOf = async (): Promise<JetStreamManager> => {
    if (options.lookupTimeoutMs === undefined) return managerOf();
    lookupManager ??= await jetstreamManager(connectionOf(options.js), {
      ...options.js.getOptions(),
      timeout: options.lookupTimeoutMs,
      checkAPI: false,
    });
    return lookupManager;
  };
  /**
   * Looks the consumer up: it fails as JetStream says when the consumer or its stream is missing.
   * Not answered within `lookupTimeoutMs` on a loop that tries again soon: JetStream not available.
   */
  const lookUp = async (): Promise<void> => {
    try {
      const jsm = await lookupManagerOf();
      // Asked again at once when the consumer elects a leader: one asked while it had none is
      // not answered, and would wait out its timeout.
      let asked = jsm.consumers.info(options.stream, options.consumer);
      for (;;) {
        const next = elections?.next();
        const again = await Promise.race([
          asked.then(
            () => false,
            () => false,
          ),
          ...(next ? [next.elected.then(() => true)] : []),
        ]);
        next?.cancel();
        if (!again) break;
        asked = jsm.consumers.info(options.stream, options.consumer);
      }
      await asked;
      if (options.recreate && streamCreated === undefined)
        streamCreated = (await jsm.streams.info(options.stream)).created;
    } catch (err) {
      if (options.unavailableRetry && err instanceof natsErrors.TimeoutError)
        throw new LookupUnansweredError(err);
      throw err;
    }
  };

  /** The consumer JetStream lost, created again (see `recreate`). */
  const restore = async (settings: Partial<ConsumerConfig>): Promise<void> => {
    const jsm = await managerOf();
    const stream = await jsm.streams.info(options.stream);
    const same = streamCreated !== undefined && stream.created === streamCreated;
    let from: number | undefined;
    if (same) {
      // What is in hand is not finished: its acks went to the consumer that is gone.
      let first = Number.POSITIVE_INFINITY;
      for (const msg of held.keys()) first = Math.min(first, msg.seq);
      for (const msg of inbox.unread()) first = Math.min(first, msg.seq);
      from = Number.isFinite(first) ? first : lastFinished > 0 ? lastFinished + 1 : undefined;
    }
    // The pulls open asked the consumer that is gone: its successor does not answer them.
    inbox.forgetOpen();
    await jsm.consumers.add(options.stream, {
      ...settings,
      durable_name: options.consumer,
      ack_policy: AckPolicy.Explicit,
      ...(from === undefined ? {} : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from }),
    });
    if (!same) {
      // A new stream numbers its messages from 1 again: the old numbers mean nothing in it.
      lastFinished = 0;
      mark.restart();
    }
    streamCreated = stream.created;
    log.error(
      { stream: options.stream, from: from ?? 'the stream’s start', streamMadeAgain: !same },
      'consumer was missing: created again',
    );
  };

  const loop = async (): Promise<void> => {
    // The hooks may use the loop this function returns: begin once it has been returned.
    await Promise.resolve();
    let found = false;
    let missedInARow = 0;
    let unavailableInARow = 0;
    /** "Not found" answers since the last 503 (JetStream loading what it holds: see below). */
    let notFoundInARow = 0;
    while (!stopping) {
      try {
        if (!inbox.connected) {
          // A pull sent now would wait in the client's buffer, or go nowhere: none is sent until
          // the client says the link is back, and then one at once (a pull the server may still
          // hold from before is counted until it expires; see "Pulls" in the README).
          log.warn('nats connection lost; waiting for it before pulling again');
          await inbox.untilConnected(stopped.signal);
          if (stopping) break;
          missedInARow = 0;
          // Closed for good (the process is ending): the pull fails and is tried after a pause.
          if (inbox.connected) log.info('nats connection back; pulling again');
        }
        await options.beforePull?.();
        // A stop during the hook: no pull that would only hand its messages back.
        if (stopping) break;
        if (!found) await lookUp();
        found = true;
        // JetStream is back after saying it was not available: a pull sent meanwhile that it took
        // in without a word is held by nobody now. The server is asked, and the loop pulls again as
        // soon as it says so, rather than after two heartbeats.
        if (unavailableInARow > 0) inbox.probe();
        await round();
        missedInARow = 0;
        if (unavailableInARow > 0) log.info({ tries: unavailableInARow }, 'JetStream available again');
        unavailableInARow = 0;
        notFoundInARow = 0;
      } catch (err) {
        if (stopping) break;
        if (err instanceof HeartbeatsMissedError) {
          // Nothing failed: the server said nothing for two idle heartbeats (a server or an event
          // loop stalled a moment), and the loop stops waiting for that pull. What the server still
          // delivers to it arrives on the inbox and is taken in with the next pull's messages.
          // Pulled again at once, without looking the consumer up again (that would wait on the
          // same stalled server). Each such pull lasts a second unless answered, so this cannot
          // spin. A pull unanswered several times running may be a consumer JetStream lost without
          // a word: the consumer is looked up again (and made again if lost) before the next pull,
          // also at once. The lookup waits on a stalled server and is answered as it runs again; a
          // pause before it held the next alarm up to a second more after a stall of three seconds.
          if (++missedInARow >= MISSED_BEFORE_LOOKUP) {
            missedInARow = 0;
            found = false;
            log.warn('pulls unanswered several times running; looking the consumer up again');
          } else log.debug('pull ended by missed heartbeats; pulling again');
          continue;
        }
        if (isServerShutdown(err)) {
          // The server ended the pull on its way down: nothing failed. The link goes next (the
          // loop then waits for it and pulls as soon as it is back); where it stays up (a node of
          // a cluster went, not this client's), the loop pulls again after two heartbeats.
          log.info('pull ended by a server shutting down; waiting for the link');
          missedInARow = 0;
          await inbox.untilDisconnected(2 * heartbeatMs, stopped.signal);
          continue;
        }
        if (isLeadershipChange(err)) {
          // The consumer's leader stepped down (a stepdown asked for, its node leaving the
          // cluster) and ended the pull it held: nothing failed. Pulled again at once, without a
          // pause or a lookup: a new leader answers it, and while there is none JetStream says
          // so (503: the waits of `unavailableRetry`, else the pause).
          log.info('pull ended by a leadership change of the consumer; pulling again');
          missedInARow = 0;
          continue;
        }
        missedInARow = 0;
        found = false;
        // JetStream back after a 503 may still be loading the account's streams and consumers (an
        // account's JetStream enabled again): its first answers can say "not found" for a moment.
        // Asked again at the same short waits, a few times, before the consumer counts as lost (and
        // is made again): the pause after other failures held the first alarm after it a second.
        // Counted from the last 503, however long the outage before it lasted.
        const restoring =
          unavailableInARow > 0 &&
          notFoundInARow < RESTORING_TRIES &&
          (isConsumerNotFound(err) || isStreamNotFound(err));
        if (options.unavailableRetry && restoring) {
          notFoundInARow++;
          log.debug(
            { err: (err as Error).message },
            'not found just after JetStream came back; asking again',
          );
          await pause.wait(backoffDelay(options.unavailableRetry, notFoundInARow));
          continue;
        }
        if (options.unavailableRetry && isUnavailable(err)) {
          notFoundInARow = 0;
          // Nothing is wrong with the pull: JetStream is not serving for the moment. Asked again
          // soon, and less often the longer it lasts (the consumer is looked up first: that is
          // answered 503 too while it lasts, and says whether the consumer survived it).
          if (++unavailableInARow === 1) log.warn({ err }, 'JetStream not available; trying again soon');
          await pause.wait(backoffDelay(options.unavailableRetry, unavailableInARow));
          continue;
        }
        if (options.recreate && isConsumerNotFound(err)) {
          const made = await restore(options.recreate).then(
            () => true,
            (failed: unknown) => {
              log.warn({ err: failed }, 'could not create the missing consumer again; trying again');
              return false;
            },
          );
          if (made) continue;
        } else log.warn({ err }, 'pull failed; trying again');
        await pause.wait(Math.min(1_000, retryDelay(1)));
      }
    }
  };

  // Every message in hand (waiting for its lane too) is told to JetStream as still in hand a third
  // of the ack wait apart, by one timer for the loop rather than one per message.
  const inHand = setInterval(
    () => {
      for (const msg of held.keys()) tryTo(() => msg.working());
      // Delivered and not yet read from the inbox (the loop waits for a slot): in hand too.
      for (const msg of inbox.unread()) tryTo(() => msg.working());
    },
    Math.max(50, Math.floor(ackWaitMs / 3)),
  );
  // Only the messages in hand need it, and they are held by the loop itself.
  inHand.unref();
  const done = loop();
  return {
    get running() {
      return !stopping;
    },
    get readTo() {
      return mark.readTo;
    },
    checkpoint,
    async stop() {
      stopping = true;
      pause.wake();
      stopped.abort();
      await done;
      // The inbox stays subscribed while the pulls in flight may still deliver (their expiry at
      // most): what they deliver, and what arrived and was not read, is handed back at once
      // rather than dropped unseen and held until its ack wait.
      const closed = inbox.close(expiresMs);
      await pool.idle();
      // Taken but never begun (waiting for a free slot when the stop came): handed back now.
      for (const msg of held.keys()) tryTo(() => msg.nak());
      held.clear();
      await closed;
      clearInterval(inHand);
      elections?.close();
      retryElections?.close();
    },
  };
}

/**
 * Creates a durable pull consumer with explicit acks if it does not exist, or brings an existing
 * one to `settings` (the ack wait, above all: what a killed process held comes back in seconds).
 * `created` is what only a new consumer gets (where it starts reading).
 */
export async function ensureDurableConsumer(
  jsm: JetStreamManager,
  stream: string,
  name: string,
  settings: Partial<ConsumerUpdateConfig>,
  created: Partial<ConsumerConfig> = {},
): Promise<void> {
  const existing = await jsm.consumers.info(stream, name).catch(() => undefined);
  if (existing) {
    const changed = Object.entries(settings).some(
      ([field, value]) => existing.config[field as keyof ConsumerConfig] !== value,
    );
    if (changed) await jsm.consumers.update(stream, name, settings);
    return;
  }
  await jsm.consumers.add(stream, {
    ...created,
    ...settings,
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
  });
}

/** The shortest idle heartbeat a pull asks for. */
const MIN_HEARTBEAT_MS = 100;

/**
 * How many answers in a row after a 503 may say a consumer or stream is not found (JetStream back
 * and still loading them) before it counts as lost: at an alarm lane's waits (10 ms doubling to
 * 250 ms) about a second and a half, whatever the outage's length before.
 */
const RESTORING_TRIES = 10;

/** JetStream not serving for the moment: a pull refused 503, or a request answered so. */
const isUnavailable = (err: unknown): boolean =>
  (err instanceof PullRefusedError && err.code === 503) ||
  err instanceof LookupUnansweredError ||
  isJetStreamUnavailable(err);

/** A lookup of the consumer not answered in time: its leader is being elected, or none is up. */
class LookupUnansweredError extends Error {
  override readonly name = 'LookupUnansweredError';
  constructor(cause: unknown) {
    super('consumer lookup not answered in time', { cause });
  }
}

/** A pull the server ended because it is shutting down (`409 Server Shutdown`). */
const isServerShutdown = (err: unknown): boolean =>
  err instanceof PullRefusedError && err.code === 409 && /server shutdown/i.test(err.description);

/** A pull the consumer's leader ended as it stepped down (`409 Leadership Change`). */
const isLeadershipChange = (err: unknown): boolean =>
  err instanceof PullRefusedError && err.code === 409 && /leadership change/i.test(err.description);

/** Pulls ended by missed heartbeats in a row before the loop looks its consumer up again. */
const MISSED_BEFORE_LOOKUP = 3;

/** A pull the server said nothing to for two idle heartbeats. */
class HeartbeatsMissedError extends Error {
  override readonly name = 'HeartbeatsMissedError';
  constructor() {
    super('heartbeats missed');
  }
}

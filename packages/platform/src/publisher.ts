import { JetStreamApiError, JetStreamError, type PubAck } from '@nats-io/jetstream';
import {
  createInbox,
  headers,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  errors as natsErrors,
  type Subscription,
} from '@nats-io/transport-node';

/** How long a publish waits for its PubAck: the JetStream client's default. */
const PUBLISH_TIMEOUT_MS = 5_000;
/** How often waiting publishes are checked against their deadline, while any wait. */
const SWEEP_MS = 250;

interface Waiting {
  readonly resolve: (ack: PubAck) => void;
  readonly reject: (err: Error) => void;
  readonly subject: string;
  readonly data: string | Uint8Array;
  readonly headers: MsgHdrs;
  deadline: number;
}

/**
 * JetStream publishes for a path that stores every message it is given (a gateway's events): each
 * is one NATS publish whose reply subject is on a subscription of the publisher's own, answered by
 * the stream's PubAck. What it resolves and how it fails are `js.publish`'s: the PubAck (with
 * `duplicate` when the stream already held the `msgID`), a `JetStreamApiError` when the stream
 * refuses, `NoRespondersError` when no stream takes the subject, `TimeoutError` when no answer came
 * within the timeout, and the client's own errors (`InvalidArgumentError` for a message over
 * `max_payload`, `InvalidSubjectError`) thrown by the publish itself.
 *
 * `js.publish` goes through the client's request machinery instead: per message a copy of its
 * options, a backoff, a request object with a promise of its own, a timer and a timeout promise raced
 * against it, and the client's JetStream response parsing: about 8 µs of CPU a message more, and
 * its garbage, paid on every event a gateway stores (bench/results/gateway-mqtt-cpu-2026-12-04.txt).
 * Here one timer checks every waiting publish's deadline.
 */
export class JetStreamPublisher {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  readonly #prefixLength: number;
  readonly #sub: Subscription;
  readonly #timeoutMs: number;
  /** In publish order, so in deadline order: a sweep stops at the first not yet due. */
  readonly #waiting = new Map<string, Waiting>();
  #next = 0;
  #sweep: NodeJS.Timeout | undefined;

  constructor(nc: NatsConnection, options: { timeoutMs?: number } = {}) {
    this.#nc = nc;
    this.#timeoutMs = options.timeoutMs ?? PUBLISH_TIMEOUT_MS;
    this.#inbox = createInbox();
    this.#prefixLength = this.#inbox.length + 1;
    this.#sub = nc.subscribe(`${this.#inbox}.*`, { callback: (_err, msg) => this.#answer(msg) });
    void nc.closed().then(() => this.#failAll(new natsErrors.ClosedConnectionError()));
  }

  /** The connection it publishes on. */
  get connection(): NatsConnection {
    return this.#nc;
  }

  /** Messages published and not answered yet. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Stores `data` on `subject`, deduplicated by `msgID` (the `Nats-Msg-Id` header, set on
   * `options.headers` when given); resolves with the PubAck once the stream has stored it. With
   * `expectStream`, only that stream may store it (`Nats-Expected-Stream`, as `js.publish`'s
   * `expect.streamName`): another stream on the subject refuses it.
   */
  publish(
    subject: string,
    data: string | Uint8Array,
    options: { msgID: string; headers?: MsgHdrs; expectStream?: string },
  ): Promise<PubAck> {
    const h = options.headers ?? headers();
    h.set('Nats-Msg-Id', options.msgID);
    if (options.expectStream !== undefined) h.set('Nats-Expected-Stream', options.expectStream);
    const token = (this.#next++).toString(36);
    return new Promise<PubAck>((resolve, reject) => {
      // Throws for a message the server would refuse (size, subject): no retry can send it.
      this.#nc.publish(subject, data, { reply: `${this.#inbox}.${token}`, headers: h });
      this.#waiting.set(token, {
        resolve,
        reject,
        subject,
        data,
        headers: h,
        deadline: performance.now() + this.#timeoutMs,
      });
      this.#sweep ??= setInterval(() => this.#expire(), SWEEP_MS);
    });
  }

  /**
   * Sends every message still waiting for its PubAck again, each with a full timeout from now, and
   * returns how many. For when a stream has elected a leader: a publish that reached the old one, or
   * none, during the election is never answered, and would otherwise wait out its whole timeout
   * before its caller tried again. The stream stores each once (`msgID`): the first answer of either
   * send settles it, `duplicate` when the first send was stored.
   */
  resendWaiting(): number {
    const waiting = [...this.#waiting];
    for (const [token, w] of waiting) {
      try {
        this.#nc.publish(w.subject, w.data, { reply: `${this.#inbox}.${token}`, headers: w.headers });
      } catch {
        continue; // the connection closed: failed with the rest
      }
      // Moved to the end, so the map stays in deadline order.
      this.#waiting.delete(token);
      w.deadline = performance.now() + this.#timeoutMs;
      this.#waiting.set(token, w);
    }
    return waiting.length;
  }

  /** Stops listening for answers: what still waits fails with `ClosedConnectionError`. */
  close(): void {
    this.#sub.unsubscribe();
    this.#failAll(new natsErrors.ClosedConnectionError());
  }

  #answer(msg: Msg): void {
    const token = msg.subject.slice(this.#prefixLength);
    const waiting = this.#waiting.get(token);
    // An answer after its timeout: the publish was failed already (and is retried by its caller).
    if (!waiting) return;
    this.#waiting.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      waiting.reject(new natsErrors.NoRespondersError(waiting.subject));
      return;
    }
    let answer: Partial<PubAck> & { error?: ConstructorParameters<typeof JetStreamApiError>[0] };
    try {
      answer = msg.json();
    } catch (err) {
      waiting.reject(new JetStreamError('invalid ack response', { cause: err }));
      return;
    }
    if (answer.error) waiting.reject(new JetStreamApiError(answer.error));
    else if (!answer.stream || typeof answer.seq !== 'number') {
      waiting.reject(new JetStreamError('invalid ack response'));
    } else {
      answer.duplicate = answer.duplicate === true;
      waiting.resolve(answer as PubAck);
    }
  }

  #expire(): void {
    const now = performance.now();
    for (const [token, waiting] of this.#waiting) {
      if (waiting.deadline > now) break;
      this.#waiting.delete(token);
      waiting.reject(new natsErrors.TimeoutError());
    }
    if (this.#waiting.size === 0) this.#stopSweep();
  }

  #failAll(err: Error): void {
    this.#stopSweep();
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(err);
  }

  #stopSweep(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }
}

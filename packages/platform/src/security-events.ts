import { randomUUID } from 'node:crypto';
import { type Names, SECURITY_EVENT_KINDS, SecurityEvent, type SecurityEventKind } from '@telecare/contracts';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from './logger.ts';
import { isPermanentFailure } from './nats.ts';
import type { JetStreamPublisher } from './publisher.ts';
import { type BackoffPolicy, backoffDelay, Pause, withTimeout } from './work.ts';

/** Events an outbox holds at most (raised and not stored yet): past it the oldest waiting is dropped. */
export const SECURITY_OUTBOX_MAX_HELD = 10_000;
/** How an outbox tries its oldest event again: 250 ms doubling to 5 s, jittered. */
export const SECURITY_OUTBOX_RETRY: BackoffPolicy = { initialMs: 250, maxMs: 5_000, jitter: 0.5 };
/** How long a stopping service keeps trying what its outbox still holds. */
export const SECURITY_OUTBOX_DRAIN_MS = 2_000;
/** While stopping, no wait between tries is longer than this. */
const DRAIN_RETRY_MAX_MS = 250;

/** Why an event left an outbox without being stored (`telecare_security_outbox_dropped_total`). */
export type SecurityOutboxDrop = 'full' | 'refused' | 'stopped';
const DROP_REASONS: readonly SecurityOutboxDrop[] = ['full', 'refused', 'stopped'];

/** One event in an outbox: its body and its `Nats-Msg-Id`, the same on every try. */
export interface HeldSecurityEvent {
  readonly kind: SecurityEventKind;
  readonly at: string;
  readonly body: string;
  readonly msgID: string;
}

export interface SecurityOutboxOptions {
  /** Events held at most (`SECURITY_OUTBOX_MAX_HELD`). */
  readonly maxHeld?: number;
  /** The wait between tries of one event (`SECURITY_OUTBOX_RETRY`). */
  readonly retry?: BackoffPolicy;
  /** How long `close` keeps trying what is held (`SECURITY_OUTBOX_DRAIN_MS`). */
  readonly drainMs?: number;
  /** The service's registry (`ServiceContext.metrics`): the outbox's gauge and counter go on it. */
  readonly metrics?: Registry;
  /**
   * The status iterator of the connection `send` goes through (`nc.status()`), followed until
   * `close`, which stops it: on `reconnect` the oldest event is tried at once (see
   * `SecurityEventOutbox`), on `disconnect` a try is known to go nowhere until then.
   */
  readonly statuses?: AsyncIterable<{ readonly type: string }>;
}

/** A promise and the function that resolves it. */
function signal(): { readonly promise: Promise<void>; readonly resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const DROPPED = 'telecare_security_outbox_dropped_total';
const HELD = 'telecare_security_outbox_events';

function outboxMetrics(registry: Registry | undefined) {
  const registers = registry ? [registry] : [];
  const dropped =
    (registry?.getSingleMetric(DROPPED) as Counter<'kind' | 'reason'> | undefined) ??
    new Counter({
      name: DROPPED,
      help: 'Security events that left the outbox without being stored on SECURITY, by kind and reason (full: the oldest waiting, past the bound; refused: a message NATS cannot take; stopped: still held when the service stopped). Each is logged at error.',
      labelNames: ['kind', 'reason'] as const,
      registers,
    });
  for (const kind of SECURITY_EVENT_KINDS)
    for (const reason of DROP_REASONS) dropped.inc({ kind, reason }, 0);
  const held =
    (registry?.getSingleMetric(HELD) as Gauge | undefined) ??
    new Gauge({
      name: HELD,
      help: 'Security events raised and not yet stored on SECURITY (held in memory, tried in order)',
      registers,
    });
  return { dropped, held };
}

/**
 * The security events a service raised and has not stored yet, in memory, in the order raised.
 * The oldest is tried until it is stored (`send` resolves), with a backoff between tries, and only
 * then the next: one at a time, so they are stored in order, each under its one `Nats-Msg-Id`
 * whatever the number of tries, so a try whose answer was lost is one message. An event NATS can
 * never take (`isPermanentFailure`) is dropped. Past `maxHeld` the oldest event waiting is
 * dropped; every drop is logged at error with its kind and counted
 * (`telecare_security_outbox_dropped_total{kind,reason}`). `close` tries what is left for
 * `drainMs` at most, then logs what it could not store.
 *
 * Told by `statuses` that the connection is back, the outbox tries the oldest event at once: a
 * wait between tries ends, and the backoff starts again from its first step (a server just
 * started may not take the first try). A try sent while the connection was down is not waited for
 * past its return: the client drops what is sent while it is away (its buffer is emptied on every
 * dial), so that try is on no wire and no answer can come for it; the event is tried again under
 * the same id. A try sent while the connection was up is waited for until it is answered or times
 * out, then the next goes at once: never two tries of which both may reach the server.
 */
export class SecurityEventOutbox {
  readonly #send: (event: HeldSecurityEvent) => Promise<unknown>;
  readonly #logger: Logger;
  readonly #maxHeld: number;
  readonly #retry: BackoffPolicy;
  readonly #drainMs: number;
  readonly #metrics: ReturnType<typeof outboxMetrics>;
  /** Waiting, oldest first; the one being tried is `#current`. */
  #waiting: HeldSecurityEvent[] = [];
  #current: HeldSecurityEvent | undefined;
  #running: Promise<void> | undefined;
  readonly #pause = new Pause();
  #draining = false;
  #stopped = false;
  #closing: Promise<void> | undefined;
  readonly #statuses: AsyncIterable<{ readonly type: string }> | undefined;
  /** The connection was told lost (`disconnect`) and not back since. */
  #down = false;
  /** How many times the connection came back: a try or wait that saw it change goes again at once. */
  #backs = 0;
  /** Resolved when the connection is next back. */
  #back = signal();

  constructor(
    send: (event: HeldSecurityEvent) => Promise<unknown>,
    logger: Logger,
    options: SecurityOutboxOptions = {},
  ) {
    this.#send = send;
    this.#logger = logger;
    this.#maxHeld = Math.max(1, options.maxHeld ?? SECURITY_OUTBOX_MAX_HELD);
    this.#retry = options.retry ?? SECURITY_OUTBOX_RETRY;
    this.#drainMs = options.drainMs ?? SECURITY_OUTBOX_DRAIN_MS;
    this.#metrics = outboxMetrics(options.metrics);
    this.#statuses = options.statuses;
    if (this.#statuses) void this.#follow(this.#statuses);
  }

  /** Events raised and not stored yet (the one being tried included). */
  get held(): number {
    return this.#waiting.length + (this.#current ? 1 : 0);
  }

  /**
   * Takes a security event to store; returns at once. Throws for an event that is not a
   * `SecurityEvent` (nothing is held then).
   */
  readonly raise = (event: SecurityEvent): void => {
    const parsed = SecurityEvent.parse(event);
    const held: HeldSecurityEvent = {
      kind: parsed.kind,
      at: parsed.at,
      body: JSON.stringify(parsed),
      msgID: `sec_${randomUUID().replaceAll('-', '')}`,
    };
    if (this.#stopped) {
      this.#drop(held, 'stopped', 'security event raised after the service stopped: not stored');
      return;
    }
    this.#waiting.push(held);
    while (this.held > this.#maxHeld) {
      const oldest = this.#waiting.shift() as HeldSecurityEvent;
      this.#drop(oldest, 'full', 'security event dropped: the outbox is full (NATS away for long)');
    }
    this.#metrics.held.set(this.held);
    this.#running ??= this.#run();
  };

  /**
   * Tries what is held for `drainMs` at most, without waiting long between tries; then stops and
   * logs at error what is left (an event whose try was still out may yet have been stored).
   * Call it before the publisher is closed. Events raised after are logged and not stored.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#draining = true;
      this.#pause.wake();
      const deadline = performance.now() + this.#drainMs;
      // An event raised while draining starts the loop again: it is waited for too.
      while (this.#running && performance.now() < deadline) {
        await withTimeout(this.#running, deadline - performance.now());
      }
      this.#stopped = true;
      this.#pause.wake();
      (this.#statuses as Partial<{ stop(): void }> | undefined)?.stop?.();
      const left = [...(this.#current ? [this.#current] : []), ...this.#waiting];
      this.#waiting = [];
      this.#current = undefined;
      this.#metrics.held.set(0);
      if (left.length === 0) return;
      const kinds: Partial<Record<SecurityEventKind, number>> = {};
      for (const event of left) {
        kinds[event.kind] = (kinds[event.kind] ?? 0) + 1;
        this.#metrics.dropped.inc({ kind: event.kind, reason: 'stopped' });
      }
      this.#logger.error(
        {
          left: left.length,
          kinds,
          first: { at: left[0]?.at, ref: left[0]?.msgID },
          last: { at: left.at(-1)?.at, ref: left.at(-1)?.msgID },
        },
        'security events not stored before the service stopped',
      );
    })();
    return this.#closing;
  }

  async #run(): Promise<void> {
    // Started from `raise`: the first event is taken after `#running` is set.
    await Promise.resolve();
    try {
      for (;;) {
        if (this.#stopped) return;
        const event = this.#waiting.shift();
        if (!event) return;
        this.#current = event;
        await this.#store(event);
        if (this.#current === event) this.#current = undefined;
        this.#metrics.held.set(this.held);
      }
    } finally {
      this.#running = undefined;
    }
  }

  /** Tries `event` until it is stored, refused for good, or the outbox stops. */
  async #store(event: HeldSecurityEvent): Promise<void> {
    // Failed tries since the first, or since the connection last came back: the backoff's step.
    let failed = 0;
    for (let tries = 1; ; tries++) {
      const backs = this.#backs;
      let err: unknown;
      try {
        if (await this.#try(event)) {
          if (tries > 1) {
            this.#logger.info(
              { securityEvent: event.kind, ref: event.msgID, tries },
              'security event stored after failed tries',
            );
          }
          return;
        }
        // Sent while the connection was down, and it is back: that try went nowhere.
        err = new Error('sent while NATS was away');
      } catch (caught) {
        if (this.#stopped) return;
        if (isPermanentFailure(caught)) {
          this.#drop(event, 'refused', 'security event not stored: NATS cannot take it', caught);
          return;
        }
        err = caught;
        failed++;
      }
      if (this.#stopped) return;
      if (tries === 1) {
        this.#logger.warn(
          { err, securityEvent: event.kind, ref: event.msgID, held: this.held },
          'security event not stored yet: trying again until it is',
        );
      }
      if (this.#backs === backs) {
        const delay = backoffDelay(this.#retry, failed);
        // Ended early by `close`, or by the connection coming back.
        await this.#pause.wait(this.#draining ? Math.min(delay, DRAIN_RETRY_MAX_MS) : delay);
        if (this.#stopped) return;
      }
      if (this.#backs !== backs) failed = 0;
    }
  }

  /**
   * One try of `event`: true once stored, false if it was sent while the connection was down and
   * the connection came back before an answer (the client dropped it); throws as `send` does.
   */
  async #try(event: HeldSecurityEvent): Promise<boolean> {
    if (!this.#down) {
      await this.#send(event);
      return true;
    }
    const back = this.#back.promise;
    const sent = this.#send(event);
    return Promise.race([sent.then(() => true), back.then(() => false)]);
  }

  async #follow(statuses: AsyncIterable<{ readonly type: string }>): Promise<void> {
    try {
      for await (const status of statuses) {
        if (this.#stopped) return;
        if (status.type === 'disconnect') this.#down = true;
        else if (status.type === 'reconnect') {
          this.#down = false;
          this.#backs++;
          const back = this.#back;
          this.#back = signal();
          back.resolve();
          this.#pause.wake();
        }
      }
    } catch (err) {
      this.#logger.warn({ err }, 'security outbox: the connection status is no longer followed');
    }
  }

  #drop(event: HeldSecurityEvent, reason: SecurityOutboxDrop, message: string, err?: unknown): void {
    this.#metrics.dropped.inc({ kind: event.kind, reason });
    this.#logger.error({ err, securityEvent: event.kind, ref: event.msgID, at: event.at, reason }, message);
  }
}

/**
 * How a service other than the helpline raises a security event: stored on the SECURITY stream
 * under an id of its own (`sec_…`, the `Nats-Msg-Id`), so a retried store is one message and the
 * helpline stores it once whichever of its instances reads it, and keeps what was raised while it
 * was away. Through a `SecurityEventOutbox`: an event raised while NATS is away is held (up to
 * `maxHeld`) and stored once it is back, in the order raised, tried at once when the publisher's
 * connection says it is back (`statuses`); the raising service's budget bounds
 * how many come. `raise` is the `securityEvent` callback the gateways take; register `close` on
 * the lifecycle after the publisher's (closers run in reverse), so it drains before the publisher
 * closes.
 */
export function securityEventPublisher(
  publisher: JetStreamPublisher,
  n: Names,
  logger: Logger,
  options: SecurityOutboxOptions = {},
): SecurityEventOutbox {
  return new SecurityEventOutbox(
    (event) =>
      publisher.publish(n.subjects.securityEvents, event.body, {
        msgID: event.msgID,
        expectStream: n.streams.security,
      }),
    logger,
    { statuses: publisher.connection.status(), ...options },
  );
}

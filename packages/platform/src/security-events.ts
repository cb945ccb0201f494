import { randomUUID } from 'node:crypto';
import { type Names, SECURITY_EVENT_KINDS, SecurityEvent, type SecurityEventKind } from '@telecare/contracts';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from './logger.ts';
import { isPermanentFailure } from './nats.ts';
import type { JetStreamPublisher } from './publisher.ts';
import { SecuritySpool } from './security-spool.ts';
import type { StateFolderLock } from './state-lock.ts';
import { type BackoffPolicy, backoffDelay, Pause, withTimeout } from './work.ts';

/** Events an outbox holds at most (raised and not stored yet): past it the oldest waiting is dropped. */
export const SECURITY_OUTBOX_MAX_HELD = 10_000;
/** How an outbox tries its oldest event again: 250 ms doubling to 5 s, jittered. */
export const SECURITY_OUTBOX_RETRY: BackoffPolicy = { initialMs: 250, maxMs: 5_000, jitter: 0.5 };
/** How long a stopping service keeps trying what its outbox still holds. */
export const SECURITY_OUTBOX_DRAIN_MS = 2_000;
/** While stopping, no wait between tries is longer than this. */
const DRAIN_RETRY_MAX_MS = 250;
/**
 * A round trip to the server unanswered this long means the server had stopped answering: its
 * answer ends the wait before the next try.
 */
const SILENT_MS = 1_000;
/** The longest the next try waits for the server to answer a round trip. */
const ANSWER_WAIT_MAX_MS = 60_000;

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
  /**
   * A round trip to the server `send` goes to (`nc.flush()`): resolves once it answers, rejects
   * when the connection is lost. After a failed try the next is sent only once the server has
   * answered one (see `SecurityEventOutbox`).
   */
  readonly answers?: () => Promise<unknown>;
  /**
   * A folder of this instance's own (`GATEWAY_STATE_DIR`): what the outbox holds is kept there
   * too (`SecuritySpool`), so that events held when the process crashed are sent at its next
   * start. Taken at construction for this process alone (`lockStateFolder`): a folder another
   * live process holds throws `StateFolderInUseError`. Unset: held in memory only.
   */
  readonly stateDir?: string;
  /**
   * The state folder, taken already (`ServiceContext.stateFolder`: before the service connected
   * anywhere, so a second instance on it is refused without having connected): used as
   * `stateDir`, and let go by its taker, not by `close`.
   */
  readonly stateFolder?: StateFolderLock;
}

/** A promise and the function that resolves it. */
function signal(): { readonly promise: Promise<void>; readonly resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** What `raise` answers when there is nothing to wait for. */
const KEPT: Promise<void> = Promise.resolve();

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
 *
 * A server that stops answering with its connection open (a frozen process) says nothing to the
 * client until its pings go unanswered, and it will read every try sent meanwhile once it runs
 * again. So after a failed try the next waits, beyond its backoff, for the server to answer a
 * round trip (`answers`): a frozen server is sent one try, not one per backoff step, and when its
 * answer comes after a silence (`SILENT_MS`) the next try goes at once, as on a reconnect.
 *
 * With a `stateDir`, each event is written to its spool (and synced) before it is held, and noted
 * there once it leaves; at construction the spool is read back and what it still holds is tried
 * first, under the ids it was raised with, so a try whose answer a crash cut off is one message
 * (the stream's duplicate window). `close` leaves what it could not store in the spool.
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
  readonly #answers: (() => Promise<unknown>) | undefined;
  readonly #spool: SecuritySpool | undefined;

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
    this.#answers = options.answers;
    const stateDir = options.stateFolder?.dir ?? options.stateDir;
    if (stateDir !== undefined) {
      this.#spool = new SecuritySpool(stateDir, {
        ...(options.stateFolder ? { lock: options.stateFolder } : {}),
        compactAfter: this.#maxHeld,
        onSyncError: (err) =>
          this.#logger.error(
            { err },
            'security outbox: the state folder could not be synced: after a machine crash an event may be sent again',
          ),
      });
      this.#readBack(this.#spool);
    }
    if (this.#statuses) void this.#follow(this.#statuses);
  }

  /** Events raised and not stored yet (the one being tried included). */
  get held(): number {
    return this.#waiting.length + (this.#current ? 1 : 0);
  }

  /**
   * Takes a security event to store; returns at once, the event held (and, with a state folder, in
   * its file). Resolves once the event is on disk (its line synced, off the event loop, with the
   * others raised in the same turn; at once without a state folder, or if it could not be
   * written): a caller whose answer must not go before the event is kept awaits it. Never rejects.
   * Throws for an event that is not a `SecurityEvent` (nothing is held then). Given a `msgID`
   * (`securityEventIdFor`: one occurrence's), it is the event's `Nats-Msg-Id`, so the same event
   * raised again is stored once; otherwise a random one.
   */
  readonly raise = (event: SecurityEvent, msgID?: string): Promise<void> => {
    const parsed = SecurityEvent.parse(event);
    const held: HeldSecurityEvent = {
      kind: parsed.kind,
      at: parsed.at,
      body: JSON.stringify(parsed),
      msgID: msgID ?? `sec_${randomUUID().replaceAll('-', '')}`,
    };
    if (this.#stopped) {
      this.#drop(held, 'stopped', 'security event raised after the service stopped: not stored');
      return KEPT;
    }
    let kept = KEPT;
    try {
      if (this.#spool) kept = this.#spool.add(held);
    } catch (err) {
      this.#logger.error(
        { err, securityEvent: held.kind, ref: held.msgID },
        'security event not written to the state folder: held in memory only',
      );
    }
    this.#hold([held]);
    return kept;
  };

  /** Takes `events` after those waiting, drops the oldest past the bound, and starts trying. */
  #hold(events: readonly HeldSecurityEvent[]): void {
    this.#waiting.push(...events);
    while (this.held > this.#maxHeld) {
      const oldest = this.#waiting.shift() as HeldSecurityEvent;
      this.#drop(oldest, 'full', 'security event dropped: the outbox is full (NATS away for long)');
      this.#gone(oldest);
    }
    this.#metrics.held.set(this.held);
    if (this.held > 0) this.#running ??= this.#run();
  }

  /** What the spool held when the process last stopped, tried before anything raised now. */
  #readBack(spool: SecuritySpool): void {
    const { events, skipped } = spool.open();
    if (skipped > 0) {
      this.#logger.warn({ skipped }, 'security outbox: unreadable lines in the state folder skipped');
    }
    if (events.length === 0) return;
    this.#logger.info(
      { held: events.length, first: { at: events[0]?.at, ref: events[0]?.msgID } },
      'security events held when the service last stopped: storing them',
    );
    this.#hold(events);
  }

  /** Notes in the spool that `event` left the outbox (stored, refused or dropped). */
  #gone(event: HeldSecurityEvent): void {
    if (!this.#spool || this.#stopped) return;
    try {
      this.#spool.done(event.msgID, this.held, () => [
        ...(this.#current ? [this.#current] : []),
        ...this.#waiting,
      ]);
    } catch (err) {
      this.#logger.error(
        { err, ref: event.msgID },
        'security outbox: the state folder could not be written: an event may be sent again at the next start',
      );
    }
  }

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
      this.#spool?.close();
      const left = [...(this.#current ? [this.#current] : []), ...this.#waiting];
      this.#waiting = [];
      this.#current = undefined;
      this.#metrics.held.set(0);
      if (left.length === 0) return;
      const kinds: Partial<Record<SecurityEventKind, number>> = {};
      for (const event of left) {
        kinds[event.kind] = (kinds[event.kind] ?? 0) + 1;
        if (!this.#spool) this.#metrics.dropped.inc({ kind: event.kind, reason: 'stopped' });
      }
      const told = {
        left: left.length,
        kinds,
        first: { at: left[0]?.at, ref: left[0]?.msgID },
        last: { at: left.at(-1)?.at, ref: left.at(-1)?.msgID },
      };
      if (this.#spool)
        this.#logger.warn(
          told,
          'security events not stored yet: kept in the state folder for the next start',
        );
      else this.#logger.error(told, 'security events not stored before the service stopped');
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
        const gone = await this.#store(event);
        if (this.#current === event) this.#current = undefined;
        if (gone) this.#gone(event);
        this.#metrics.held.set(this.held);
      }
    } finally {
      this.#running = undefined;
    }
  }

  /** Tries `event` until it is stored or refused for good (true), or the outbox stops (false). */
  async #store(event: HeldSecurityEvent): Promise<boolean> {
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
          return true;
        }
        // Sent while the connection was down, and it is back: that try went nowhere.
        err = new Error('sent while NATS was away');
      } catch (caught) {
        if (this.#stopped) return false;
        if (isPermanentFailure(caught)) {
          this.#drop(event, 'refused', 'security event not stored: NATS cannot take it', caught);
          return true;
        }
        err = caught;
        failed++;
      }
      if (this.#stopped) return false;
      if (tries === 1) {
        this.#logger.warn(
          { err, securityEvent: event.kind, ref: event.msgID, held: this.held },
          'security event not stored yet: trying again until it is',
        );
      }
      if (this.#backs === backs) {
        const delay = backoffDelay(this.#retry, failed);
        const answered = this.#draining ? undefined : this.#ask();
        // Ended early by `close`, by the connection coming back, or by the server answering again.
        await this.#pause.wait(this.#draining ? Math.min(delay, DRAIN_RETRY_MAX_MS) : delay);
        if (this.#stopped) return false;
        if (answered && this.#backs === backs && !this.#draining) {
          await Promise.race([answered, this.#pause.wait(ANSWER_WAIT_MAX_MS)]);
          // Ends the wait above if the answer came first.
          this.#pause.wake();
          if (this.#stopped) return false;
        }
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

  /**
   * A round trip to the server (`answers`): resolves once it answered or the connection was lost
   * (its status tells when it is back); an answer after a silence ends the wait between tries.
   */
  #ask(): Promise<void> | undefined {
    if (!this.#answers) return undefined;
    const asked = performance.now();
    return this.#answers().then(
      () => {
        if (performance.now() - asked > SILENT_MS) this.#pause.wake();
      },
      () => {},
    );
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
    {
      statuses: publisher.connection.status(),
      answers: () => publisher.connection.flush(),
      ...options,
    },
  );
}

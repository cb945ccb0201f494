import type { ServerResponse } from 'node:http';
import type { HelplineCase } from '@telecare/contracts';
import { type Clock, type Logger, warnFailure } from '@telecare/platform';
import { streamedChange } from './case-summary.ts';
import { TooManyStreamsError } from './errors.ts';
import type { CaseFeed, FeedEntry } from './feed.ts';
import type { HeldAlerts } from './held-alerts.ts';
import type { HelplineMetrics } from './metrics.ts';
import type { ConsoleStore } from './presence.ts';
import type { Scheduler } from './scheduler.ts';
import type { CaseStore } from './store/index.ts';

export interface LiveStreamOptions {
  readonly feed: CaseFeed;
  readonly store: CaseStore;
  readonly consoles: ConsoleStore;
  readonly scheduler: Scheduler;
  readonly metrics: HelplineMetrics;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How often each stream is pinged; a console answers each ping with a heartbeat. */
  readonly pingMs: number;
  /** Open streams one principal may hold on this instance. */
  readonly maxPerPrincipal: number;
  /** The alarms this instance holds that PostgreSQL keeps from becoming cases (`event: held`). */
  readonly held?: HeldAlerts;
}

/** One open stream: whose it is and the console row it keeps, if any. */
interface OpenStream {
  readonly principalId: string;
  readonly consoleId: string | undefined;
  readonly write: (text: string) => void;
  readonly end: () => void;
  /** Since when (monotonic ms) what was written waits unsent, or undefined while it drains. */
  readonly stalledSince: () => number | undefined;
  /** Ends the stream and drops what it holds unsent (its client stopped taking data). */
  readonly drop: (why: string) => void;
}

export interface Snapshot {
  readonly position: number;
  readonly cases: HelplineCase[];
}

const SNAPSHOT_LIMIT = 1000;
const REAP_EVERY_MS = 60_000;
/**
 * What one stream may hold unsent before it is ended at once, whatever the time: a storm's changes
 * to a client that stopped reading would otherwise pile up here (a window of a case is up to a few
 * hundred kB, and a storm changes a case several times a second). An opening snapshot of 1,000 open
 * cases fits well under it.
 */
const MAX_UNSENT_BYTES = 32 * 1024 * 1024;

export const sseFrame = (entry: FeedEntry): string =>
  `id: ${entry.seq}\nevent: case\ndata: ${JSON.stringify(streamedChange(entry))}\n\n`;

/** Changes to the held alarms within this long go to the consoles as one frame. */
const HELD_COALESCE_MS = 100;

/**
 * The live streams this instance serves, and the presence they carry. Each stream of a person
 * opens a console row and says hello with its id; every `pingMs` each stream gets a ping the
 * console answers with a heartbeat (the heartbeat makes the person present, and a network that
 * has gone stops it). A stream that closes deletes its row at once and asks the timers to move
 * any offer on. A console signed out on any instance loses its row; the next ping round here
 * sees that and ends the stream.
 *
 * The opening snapshot (the open cases) is read once for every stream that asks while the read
 * before it runs, so a burst of connections costs two queries, not one each, and the pool stays
 * free for the commits that matter.
 */
export class LiveStreams {
  readonly #open = new Set<OpenStream>();
  readonly #perPrincipal = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #lastReap = 0;
  #pinging = false;
  /** Since when the ping rounds have reached PostgreSQL without a failure (heartbeats recordable). */
  #recordingSince: number | undefined;
  #snapshot: Promise<Snapshot> | undefined;
  #nextSnapshot: Promise<Snapshot> | undefined;
  /** The last `held` frame sent to every stream, and the timer that sends the next. */
  #heldFrame: string | undefined;
  #heldTimer: NodeJS.Timeout | undefined;
  #unsubscribeHeld: (() => void) | undefined;

  constructor(private readonly o: LiveStreamOptions) {}

  start(): void {
    this.#timer = setInterval(() => void this.#pingRound(), this.o.pingMs);
    this.#timer.unref();
    this.#unsubscribeHeld = this.o.held?.subscribe(() => {
      this.#heldTimer ??= setTimeout(() => {
        this.#heldTimer = undefined;
        const frame = this.#heldNow();
        if (frame === this.#heldFrame) return;
        this.#heldFrame = frame;
        for (const s of this.#open) s.write(frame);
      }, HELD_COALESCE_MS);
    });
  }

  /**
   * The alarms in hand here that no case holds yet (PostgreSQL down or refusing writes), as a frame:
   * sent on connect and on every change, an empty list once they are committed.
   */
  #heldNow(): string {
    return `event: held\ndata: ${JSON.stringify(this.o.held?.list() ?? { alerts: [], total: 0 })}\n\n`;
  }

  /**
   * Takes a place for a new stream of this principal, or throws TooManyStreamsError. The place is
   * taken before anything is awaited, so a burst of connections cannot all pass the check at once.
   */
  reserve(principalId: string): () => void {
    const count = this.#perPrincipal.get(principalId) ?? 0;
    if (count >= this.o.maxPerPrincipal) {
      this.o.metrics.streamsRefused.inc();
      throw new TooManyStreamsError(this.o.maxPerPrincipal);
    }
    this.#perPrincipal.set(principalId, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#perPrincipal.get(principalId) ?? 1) - 1;
      if (left <= 0) this.#perPrincipal.delete(principalId);
      else this.#perPrincipal.set(principalId, left);
    };
  }

  /**
   * Serves an SSE response: hello (with the console id), then either the changes after
   * `lastId` or a snapshot of the open cases, then live changes and pings until it closes.
   */
  async serve(
    res: ServerResponse,
    who: { principalId: string; consoleId: string | undefined; release: () => void },
    lastId: number | undefined,
  ): Promise<void> {
    const { feed, metrics } = this.o;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    res.write(
      `event: hello\ndata: ${JSON.stringify({
        console: who.consoleId ?? null,
        // The helpline's time: a console counts waits on it, whatever its PC's clock says.
        now: new Date(this.o.clock.now()).toISOString(),
        pingMs: this.o.pingMs,
        timeoutMs: this.o.consoles.timeoutSeconds * 1000,
      })}\n\n`,
    );

    res.write(this.#heldNow());

    // A client that stops reading (a frozen tab, a connection that died without a word, a program
    // that never reads) leaves what is written here in the process's memory: every change to every
    // case, for as long as its socket lasts. Such a stream is ended (see the ping round), and the
    // client, if it is still there, connects again and catches up.
    let stalledSince: number | undefined;
    let ended = false;
    const send = (text: string): void => {
      if (ended) return;
      // Network time, not the service's clock: how long a socket has not drained.
      if (!res.write(text) && stalledSince === undefined) stalledSince = performance.now();
      if (res.writableLength > MAX_UNSENT_BYTES) stream.drop(`more than ${MAX_UNSENT_BYTES} bytes unsent`);
    };
    res.on('drain', () => {
      stalledSince = undefined;
    });

    // Listen before reading the catch-up, so nothing falls between the two.
    let ready = false;
    const held: FeedEntry[] = [];
    const unsubscribe = feed.subscribe((entry) => {
      if (ready) send(sseFrame(entry));
      else held.push(entry);
    });
    const stream: OpenStream = {
      principalId: who.principalId,
      consoleId: who.consoleId,
      write: send,
      stalledSince: () => stalledSince,
      drop: (why) => {
        if (ended) return;
        this.o.logger.warn(
          { principalId: who.principalId, consoleId: who.consoleId, unsentBytes: res.writableLength, why },
          'live stream ended: its client stopped taking data',
        );
        metrics.streamsStalled.inc();
        stream.end();
        // end() would wait for the unsent bytes to go first, and they never go.
        res.destroy();
      },
      end: () => {
        if (ended) return;
        ended = true;
        unsubscribe();
        this.#open.delete(stream);
        who.release();
        metrics.streamClients.dec();
        res.end();
        if (who.consoleId) this.#forget([who.consoleId]);
      },
    };
    this.#open.add(stream);
    metrics.streamClients.inc();
    // The response closes when the client goes away (a closed tab), or when we end it.
    res.on('close', stream.end);
    if (res.destroyed) stream.end();

    try {
      const replay = lastId === undefined ? undefined : feed.replayAfter(lastId);
      let sentUpTo: number;
      if (replay) {
        for (const entry of replay) send(sseFrame(entry));
        sentUpTo = replay.at(-1)?.seq ?? (lastId as number);
      } else {
        // A fresh client, or one whose Last-Event-ID the feed no longer holds: the open cases as
        // they are now, labelled with the feed position they are at least as new as.
        const snapshot = await this.snapshot();
        if (ended) return;
        // Tells the client to drop what it holds: the list that follows is complete.
        send(`event: snapshot\ndata: ${JSON.stringify({ position: snapshot.position })}\n\n`);
        for (const item of snapshot.cases) send(sseFrame({ seq: snapshot.position, case: item }));
        sentUpTo = snapshot.position;
      }
      for (const entry of held) if (entry.seq > sentUpTo) send(sseFrame(entry));
      ready = true;
    } catch (err) {
      this.o.logger.warn({ err }, 'stream catch-up failed; closing so the client reconnects');
      stream.end();
    }
  }

  /**
   * The open cases for a stream that has already subscribed to the feed. A read that started
   * before the caller subscribed could miss a change the caller's feed listener did not see
   * either, so a caller joins the next read, never one already running: at most one runs and
   * one waits, whatever the number of callers.
   */
  snapshot(): Promise<Snapshot> {
    if (this.#nextSnapshot) return this.#nextSnapshot;
    const running = this.#snapshot;
    if (!running) return this.#startSnapshot();
    const next = running
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        this.#nextSnapshot = undefined;
        return this.#startSnapshot();
      });
    this.#nextSnapshot = next;
    return next;
  }

  #startSnapshot(): Promise<Snapshot> {
    const read = (async () => {
      const position = this.o.feed.position;
      this.o.metrics.streamSnapshots.inc();
      const cases = await this.o.store.list('open', SNAPSHOT_LIMIT);
      return { position, cases };
    })();
    this.#snapshot = read;
    const clear = () => {
      if (this.#snapshot === read) this.#snapshot = undefined;
    };
    read.then(clear, clear);
    return read;
  }

  /** Ends the streams of these consoles here (signed out on this instance). */
  endConsoles(ids: readonly string[]): void {
    const gone = new Set(ids);
    for (const s of [...this.#open]) if (s.consoleId && gone.has(s.consoleId)) s.end();
  }

  /** Ends every stream (the service is draining) and deletes their console rows. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#heldTimer);
    this.#unsubscribeHeld?.();
    const ids = [...this.#open].flatMap((s) => (s.consoleId ? [s.consoleId] : []));
    for (const s of [...this.#open]) s.end();
    await this.o.consoles.close(ids).catch((err: unknown) => {
      // Rows left behind stop counting after the presence timeout.
      this.o.logger.warn({ err }, 'could not delete console rows at shutdown');
    });
  }

  #forget(ids: string[]): void {
    this.o.consoles
      .close(ids)
      .catch((err: unknown) =>
        this.o.logger.warn({ err }, 'could not delete a closed console; it stops counting after the timeout'),
      )
      .finally(() => this.o.scheduler.poke());
  }

  async #pingRound(): Promise<void> {
    if (this.#pinging) return;
    this.#pinging = true;
    try {
      const ids: string[] = [];
      const ping = `event: ping\ndata: ${JSON.stringify({ now: new Date(this.o.clock.now()).toISOString() })}\n\n`;
      // A stream whose client has taken nothing for twice the presence timeout carries no presence
      // (its pings wait unsent, so no heartbeat answers them) and only fills memory: it is ended.
      const stallLimitMs = 2 * this.o.consoles.timeoutSeconds * 1000;
      const mono = performance.now();
      for (const s of [...this.#open]) {
        const since = s.stalledSince();
        if (since !== undefined && mono - since > stallLimitMs) {
          s.drop(`nothing drained for ${Math.round((mono - since) / 1000)} s`);
          continue;
        }
        s.write(ping);
        if (s.consoleId) ids.push(s.consoleId);
      }
      const now = this.o.clock.now();
      if (ids.length > 0) {
        // A browser console answers every ping; one silent for twice the presence timeout is a
        // stream that died without a word (a laptop asleep, a roam) or a frozen tab. Its stream is
        // ended: left open, it held one of its person's STREAMS_PER_PRINCIPAL until the operating
        // system gave up on the socket, and a laptop that slept or roamed that many times could
        // not open a stream at all. Judged only once heartbeats have been recordable that long
        // (after a database outage every console is silent in the table, and none is dead).
        const silence = 2 * this.o.consoles.timeoutSeconds * 1000;
        const judge = this.#recordingSince !== undefined && now - this.#recordingSince >= silence;
        const still = await this.o.consoles.existing(
          ids,
          new Date(now),
          judge ? new Date(now - silence) : undefined,
        );
        this.#recordingSince ??= now;
        // Signed out elsewhere (another instance, a supervisor), the session expired, or silent:
        // the stream ends here too, so nobody keeps watching the queue on a session that is over.
        // Only the consoles asked about: one opened while the read ran is not in its answer.
        const asked = new Set(ids);
        for (const s of [...this.#open])
          if (s.consoleId && asked.has(s.consoleId) && !still.has(s.consoleId)) s.end();
      }
      if (now - this.#lastReap >= REAP_EVERY_MS) {
        this.#lastReap = now;
        await this.o.consoles.reap(new Date(now));
      }
    } catch (err) {
      this.#recordingSince = undefined;
      warnFailure(this.o.logger, err, {}, 'presence ping round failed; the next one retries');
    } finally {
      this.#pinging = false;
    }
  }
}

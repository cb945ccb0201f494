import { type Names, TelecareEvent } from '@telecare/contracts';
import { type Counter, decodeJson, type JetStreamClient, type Logger } from '@telecare/platform';

/** A DC-09 code the gateway could not map, kept on EVENTS as `code.unmapped` for a person to map. */
export interface UnmappedCode {
  eventId: string;
  at: string;
  serial: string;
  residentId: string;
  sourceCode: string | null;
  note: string | null;
}

export interface UnmappedCodes {
  events: UnmappedCode[];
  byCode: { sourceCode: string; count: number; serials: string[] }[];
  complete: boolean;
  message?: string;
}

/** The widest window a supervisor may ask for (the overview's `hours`). */
const MAX_HOURS = 24;
/** At most this many codes are kept (the newest): a panel flooding unknown codes costs no more. */
const MAX_KEPT = 20_000;
/** At most this many unmapped-code events are listed (the newest); every one kept is counted. */
const MAX_LISTED = 100;
/** Messages asked of the server in one pull. */
const BATCH = 1_000;
const FETCH_EXPIRES_MS = 2_000;
/**
 * A read just done answers the overviews arriving within this long of it: the screens of a
 * supervisors' room poll within moments of each other, each request first passing its own sign-in
 * check, so they rarely all wait on one read. A code stored meanwhile shows at the next poll.
 */
const FRESH_MS = 1_000;

interface Kept {
  /** When EVENTS stored it (the window is on stored time, as `opt_start_time` is). */
  readonly storedMs: number;
  readonly code: UnmappedCode;
}

export interface UnmappedCounters {
  /** Reads of EVENTS (one ordered consumer each), however many overviews share them. */
  readonly reads: Counter;
  /** Messages those reads took from EVENTS. */
  readonly messages: Counter;
}

/**
 * The `code.unmapped` events of the last 24 hours, kept by the instance and brought up to date on
 * each supervisor overview: the first read takes the window from EVENTS (on the type's subject, no
 * other event read), each later one only what EVENTS stored since the last message read. Overviews
 * asking while a read runs, or within FRESH_MS after it, share it. Every supervisor screen polls every 5 s; reading the window
 * afresh for each poll cost each one up to 20,000 messages, growing with the traffic and the number
 * of screens, where now N screens cost one read of what is new.
 */
export class UnmappedCodesReader {
  #kept: Kept[] = [];
  /** The last EVENTS sequence read; 0 before the first read. */
  #lastSeq = 0;
  /** When the EVENTS read was created: another time is another stream, numbered from 1 again. */
  #streamCreated: string | undefined;
  /** What is kept is every code stored from this time on (later when the newest were too many). */
  #coveredFromMs = Number.POSITIVE_INFINITY;
  #reading: Promise<void> | undefined;
  /** The time the running or last read brought the codes up to (its first overview's). */
  #readToMs = Number.NEGATIVE_INFINITY;
  /** Until then (monotonic ms) what was read last is new enough to answer with. */
  #freshUntil = 0;

  constructor(
    private readonly js: JetStreamClient,
    private readonly names: Names,
    private readonly logger: Logger,
    private readonly counters: UnmappedCounters,
  ) {}

  /** The codes stored in the `hours` before `to` (up to date as of this call or one running). */
  async read(to: Date, hours: number): Promise<UnmappedCodes> {
    try {
      if (this.#reading || performance.now() >= this.#freshUntil) {
        if (!this.#reading) this.#readToMs = to.getTime();
        this.#reading ??= this.#catchUp(to)
          .then(() => {
            this.#freshUntil = performance.now() + FRESH_MS;
          })
          .finally(() => {
            this.#reading = undefined;
          });
        await this.#reading;
      }
    } catch (err) {
      this.logger.warn({ err }, 'unmapped codes could not be read from EVENTS');
      return {
        events: [],
        byCode: [],
        complete: false,
        message: 'the unmapped codes could not be read (EVENTS not reachable)',
      };
    }
    // An overview that took its time a moment before the read it shares began (each passes its own
    // sign-in and rate checks first) is answered as of that read: its window, not a few ms earlier
    // than the read's, whose start it would find uncovered.
    return this.#view(Math.max(to.getTime(), this.#readToMs) - hours * 3600_000);
  }

  #view(fromMs: number): UnmappedCodes {
    const inWindow = this.#kept.filter((k) => k.storedMs >= fromMs).map((k) => k.code);
    const counts = new Map<string, { count: number; serials: Set<string> }>();
    for (const code of inWindow) {
      const key = code.sourceCode ?? '(none)';
      const entry = counts.get(key) ?? { count: 0, serials: new Set<string>() };
      entry.count += 1;
      entry.serials.add(code.serial);
      counts.set(key, entry);
    }
    return {
      events: inWindow.slice(-MAX_LISTED).reverse(),
      byCode: [...counts]
        .map(([sourceCode, c]) => ({ sourceCode, count: c.count, serials: [...c.serials].sort() }))
        .sort((a, b) => b.count - a.count || a.sourceCode.localeCompare(b.sourceCode)),
      complete: this.#coveredFromMs <= fromMs,
    };
  }

  async #catchUp(to: Date): Promise<void> {
    const windowFromMs = to.getTime() - MAX_HOURS * 3600_000;
    // EVENTS deleted and made again (by hand, a server whose store was lost): its sequence starts
    // again from 1, so reading after the last sequence read would wait for numbers the new stream
    // reaches only later, and keep codes of a stream that is gone. Read the window afresh.
    const stream = await (await this.js.streams.get(this.names.streams.events)).info(true);
    if (
      this.#lastSeq > 0 &&
      (stream.created !== this.#streamCreated || stream.state.last_seq < this.#lastSeq)
    ) {
      this.logger.warn(
        { lastSeqRead: this.#lastSeq, lastSeqNow: stream.state.last_seq },
        'EVENTS was made again: unmapped codes read afresh',
      );
      this.#kept = [];
      this.#lastSeq = 0;
      this.#coveredFromMs = Number.POSITIVE_INFINITY;
    }
    this.#streamCreated = stream.created;
    if (this.#lastSeq === 0) await this.#readFrom({ fromMs: windowFromMs, toMs: to.getTime() });
    else if (!(await this.#readFrom({ afterSeq: this.#lastSeq }))) {
      // More new codes than are kept since the last read (a flood): read the window afresh.
      this.#kept = [];
      this.#lastSeq = 0;
      await this.#readFrom({ fromMs: windowFromMs, toMs: to.getTime() });
    }
    const drop = this.#kept.findIndex((k) => k.storedMs >= windowFromMs);
    this.#kept = drop < 0 ? [] : this.#kept.slice(drop);
    if (this.#kept.length > MAX_KEPT) {
      const cut = this.#kept.length - MAX_KEPT;
      this.#coveredFromMs = Math.max(this.#coveredFromMs, (this.#kept[cut - 1]?.storedMs ?? 0) + 1);
      this.#kept = this.#kept.slice(cut);
    }
  }

  /**
   * Reads from a time (the window, shortened to about MAX_KEPT messages when it holds more) or
   * after a sequence. False, having read nothing, when there are more than MAX_KEPT after it.
   */
  async #readFrom(from: { fromMs: number; toMs: number } | { afterSeq: number }): Promise<boolean> {
    const subject = `${this.names.namespace}.events.*.code.unmapped`;
    const open = (start: { fromMs: number } | { afterSeq: number }) =>
      this.js.consumers.get(this.names.streams.events, {
        filter_subjects: subject,
        ...('afterSeq' in start
          ? { deliver_policy: 'by_start_sequence' as const, opt_start_seq: start.afterSeq + 1 }
          : {
              deliver_policy: 'by_start_time' as const,
              opt_start_time: new Date(start.fromMs).toISOString(),
            }),
      });
    this.counters.reads.inc();
    let consumer = await open(from);
    try {
      let pending = (await consumer.info()).num_pending;
      if ('fromMs' in from) {
        let fromMs = from.fromMs;
        if (pending > MAX_KEPT) {
          // Assume an even rate over the window: start late enough to read about MAX_KEPT messages.
          fromMs = from.toMs - Math.floor(((from.toMs - fromMs) * MAX_KEPT) / pending);
          await consumer.delete().catch(() => undefined);
          consumer = await open({ fromMs });
          pending = Math.min((await consumer.info()).num_pending, MAX_KEPT);
        }
        this.#coveredFromMs = fromMs;
      } else if (pending > MAX_KEPT) return false;
      let left = pending;
      while (left > 0) {
        const messages = await consumer.fetch({
          max_messages: Math.min(BATCH, left),
          expires: FETCH_EXPIRES_MS,
        });
        let got = 0;
        let last = false;
        for await (const msg of messages) {
          got += 1;
          left -= 1;
          this.counters.messages.inc();
          this.#lastSeq = msg.seq;
          const parsed = decodeJson(TelecareEvent, msg.data);
          const event = parsed.ok ? parsed.value : undefined;
          if (event && event.type === 'code.unmapped')
            this.#kept.push({
              storedMs: msg.time.getTime(),
              code: {
                eventId: event.id,
                at: event.time,
                serial: event.subject,
                residentId: event.residentid,
                sourceCode: event.sourcecode ?? null,
                note: typeof event.data.note === 'string' ? event.data.note : null,
              },
            });
          last = msg.info.pending === 0;
          if (last || left <= 0 || got >= BATCH) break;
        }
        // Nothing came within the pull's time, or the end is reached: what is read is kept.
        if (got === 0 || last) break;
      }
      return true;
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }
}

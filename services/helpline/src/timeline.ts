import {
  type Client,
  createClient,
  EVENT_INDEX_CAP,
  type EventIndexView,
  type Names,
  partitionOf,
  TelecareEvent,
  TRIAGE_ROUTES,
  type TriageRoutes,
} from '@telecare/contracts';
import { decodeJson, type JetStreamClient, type JetStreamManager, type Logger } from '@telecare/platform';

type StoredMsg = NonNullable<Awaited<ReturnType<JetStreamManager['streams']['getMessage']>>>;
type Consumer = Awaited<ReturnType<JetStreamClient['consumers']['get']>>;

/** At most this many EVENTS messages of the partition are read for one timeline, by default. */
export const TIMELINE_SCAN = 20_000;
/** At most this many of the resident's events are returned (the newest). */
const MAX_EVENTS = 500;
const FETCH_EXPIRES_MS = 2_000;
/** Consumers asked at most to find where a shortened scan starts (a day to the millisecond takes 27). */
const NEWEST_PART_PROBES = 32;
/** Indexed messages read from EVENTS at once. */
const GETS_AT_ONCE = 32;
/** How long triage has to give the index before the timeline scans instead. */
const TRIAGE_TIMEOUT_MS = 1_500;

export interface DeviceEvent {
  id: string;
  type: string;
  serial: string;
  deviceKind: string;
  at: string;
  receivedAt: string;
  location?: string;
  testMode: boolean;
  data: Record<string, unknown>;
}

export interface Timeline {
  residentId: string;
  from: string;
  to: string;
  events: DeviceEvent[];
  complete: boolean;
  /** `index`: the resident's own events, by triage's index; `scan`: the partition, read through. */
  source: 'index' | 'scan';
  scanned: number;
  /** With `source: 'scan'`: why the index was not read. */
  reason?: string;
  /** What an operator should know of what is not shown. */
  message?: string;
}

/** One of the resident's events as read, with its place in EVENTS. */
interface Found {
  seq: number;
  event: DeviceEvent;
}

/** Why the index was not used, in words for the answer's message. */
class IndexUnusable extends Error {
  override readonly name = 'IndexUnusable';
}

/**
 * A resident's recent device events, read from EVENTS. Events are partitioned by resident, not
 * keyed by one: a partition carries hundreds of events a second, most of them other residents'.
 * Triage indexes each resident's newest events by stream sequence as it reads them; the timeline
 * asks triage for the resident's sequences, gets those messages from EVENTS, and reads the
 * partition only past where triage has read. Without the index (triage not configured or not
 * answering, an index that began inside the window or has a gap in it), it scans the resident's partition from
 * the start time and keeps the resident's own events; that read is bounded: when the partition
 * holds more than `scanLimit` messages in the window, the window is shortened to the newest part
 * (and says so) rather than showing the oldest hours.
 */
export class TimelineReader {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #names: Names;
  readonly #partitions: number;
  readonly #log: Logger;
  readonly #scanLimit: number;
  readonly #triage: Client<TriageRoutes> | undefined;

  constructor(deps: {
    js: JetStreamClient;
    jsm: JetStreamManager;
    names: Names;
    partitions: number;
    logger: Logger;
    /** Triage's base URL and the helpline's token there (TRIAGE_URL, HELPLINE_TRIAGE_TOKEN). */
    triage?: { url: string; token: string } | undefined;
    scanLimit?: number;
  }) {
    this.#js = deps.js;
    this.#jsm = deps.jsm;
    this.#names = deps.names;
    this.#partitions = deps.partitions;
    this.#log = deps.logger;
    this.#scanLimit = deps.scanLimit ?? TIMELINE_SCAN;
    this.#triage = deps.triage
      ? createClient(TRIAGE_ROUTES, {
          baseUrl: deps.triage.url,
          token: deps.triage.token,
          timeoutMs: TRIAGE_TIMEOUT_MS,
          service: 'triage',
        })
      : undefined;
  }

  async read(residentId: string, to: Date, hours: number): Promise<Timeline> {
    const from = new Date(to.getTime() - hours * 3600_000);
    let why = 'triage is not configured (TRIAGE_URL)';
    if (this.#triage) {
      const view = await this.#triage.eventIndex({ params: { id: residentId } }).catch((err: unknown) => {
        this.#log.warn({ err, residentId }, 'event index not read; scanning the partition');
      });
      why = 'the event index could not be read (triage not answering)';
      if (view) {
        try {
          return await this.#fromIndex(residentId, from, to, view);
        } catch (err) {
          if (err instanceof IndexUnusable) why = err.message;
          else {
            this.#log.warn({ err, residentId }, 'indexed events not read; scanning the partition');
            why = 'the indexed events could not be read from EVENTS';
          }
        }
      }
    }
    return this.#scan(residentId, from, to, why);
  }

  /**
   * The resident's indexed events in the window, newest first until one is older than the window
   * (or MAX_EVENTS are found), and the partition's events triage has not read yet.
   */
  async #fromIndex(residentId: string, from: Date, to: Date, view: EventIndexView): Promise<Timeline> {
    const subject = this.#subject(residentId);
    await this.#covers(subject, from, view);
    const found: Found[] = [];
    let reachedOlder = false;
    const seqs = [...view.seqs].sort((a, b) => b - a);
    for (let i = 0; i < seqs.length && !reachedOlder && found.length < MAX_EVENTS; i += GETS_AT_ONCE) {
      const batch = await Promise.all(seqs.slice(i, i + GETS_AT_ONCE).map((seq) => this.#get(seq)));
      for (const msg of batch) {
        if (!msg) continue;
        if (msg.time.getTime() < from.getTime()) {
          reachedOlder = true;
          continue;
        }
        const event = this.#own(msg.data, residentId);
        if (event) found.push({ seq: msg.seq, event });
      }
    }
    // Past the index: what triage has not read yet, from the partition itself.
    const tail = await this.#read(subject, { seq: view.through + 1 }, residentId);
    const events = newest([...found, ...tail.found]);
    const whole = reachedOlder || seqs.length < EVENT_INDEX_CAP || events.length >= MAX_EVENTS;
    const complete = whole && !tail.cut;
    return {
      residentId,
      from: from.toISOString(),
      to: to.toISOString(),
      events,
      complete,
      source: 'index',
      scanned: tail.scanned,
      ...(tail.cut
        ? {
            message: `triage is behind on this partition: events after the first ${tail.scanned} it has not read are not shown`,
          }
        : whole
          ? {}
          : { message: 'only the newest of the indexed events could be read' }),
    };
  }

  /**
   * Throws IndexUnusable unless the index holds every event of the resident in the window: it
   * began (`since`) before the window, or the partition has no event in the window before it; and
   * no write of it was skipped (`gap`) for an event in the window.
   */
  async #covers(subject: string, from: Date, view: EventIndexView): Promise<void> {
    if (view.since === null) throw new IndexUnusable('triage has not indexed this partition yet');
    if (!(await this.#noneBefore(subject, from, view.since)))
      throw new IndexUnusable('the event index began after the start of the window');
    if (typeof view.gap === 'number' && !(await this.#noneBefore(subject, from, view.gap + 1)))
      throw new IndexUnusable(
        'the event index has a gap in the window (Redis did not take its writes in time)',
      );
  }

  /** Whether the partition has no event in the window stored before sequence `seq`. */
  async #noneBefore(subject: string, from: Date, seq: number): Promise<boolean> {
    const first = await this.#get(seq);
    if (first && first.time.getTime() <= from.getTime()) return true;
    const consumer = await this.#consumer(subject, { time: from });
    try {
      if ((await consumer.info()).num_pending === 0) return true;
      const messages = await consumer.fetch({ max_messages: 1, expires: FETCH_EXPIRES_MS });
      let none = true;
      for await (const msg of messages) {
        none = msg.seq >= seq;
        break;
      }
      return none;
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  async #get(seq: number): Promise<StoredMsg | null> {
    return this.#jsm.streams.getMessage(this.#names.streams.events, { seq }).catch(() => null);
  }

  /** The partition read through from the start time, bounded (the way without the index). */
  async #scan(residentId: string, start: Date, to: Date, why: string): Promise<Timeline> {
    const subject = this.#subject(residentId);
    let from = start;
    const base = { residentId, to: to.toISOString(), source: 'scan' as const };
    try {
      let consumer = await this.#consumer(subject, { time: from });
      const pending = (await consumer.info()).num_pending;
      let complete = true;
      if (pending > this.#scanLimit) {
        await consumer.delete().catch(() => undefined);
        from = await this.#newestPart(subject, from, to, pending);
        consumer = await this.#consumer(subject, { time: from });
        complete = false;
      }
      const read = await this.#drain(consumer, residentId);
      return {
        ...base,
        from: from.toISOString(),
        events: newest(read.found),
        complete,
        scanned: read.scanned,
        reason: why,
        ...(complete ? {} : { message: `only the events since ${from.toISOString()} could be read` }),
      };
    } catch (err) {
      this.#log.warn({ err, residentId }, 'device events could not be read from EVENTS');
      return {
        ...base,
        from: from.toISOString(),
        events: [],
        complete: false,
        scanned: 0,
        reason: why,
        message: 'the device events could not be read (EVENTS not reachable)',
      };
    }
  }

  /**
   * The earliest start, between `from` (more than scanLimit messages pending) and `to`, from which
   * at most scanLimit of the partition's messages are pending: the newest part of the window that
   * a scan reads whole, found to the millisecond (a burst stores thousands in a second). The first guess takes the rate as even over the window;
   * traffic that came in a burst (a storm just before the alarm) pushes the start later, so the
   * scan never reads the oldest part of the burst and misses the newest events.
   */
  async #newestPart(subject: string, from: Date, to: Date, pending: number): Promise<Date> {
    let over = from.getTime();
    let within = to.getTime();
    let guess = to.getTime() - Math.floor(((to.getTime() - over) * this.#scanLimit) / pending);
    for (let probe = 0; probe < NEWEST_PART_PROBES && within - over > 1; probe++) {
      const consumer = await this.#consumer(subject, { time: new Date(guess) });
      const n = await consumer.info().then(
        (info) => info.num_pending,
        () => Number.POSITIVE_INFINITY,
      );
      await consumer.delete().catch(() => undefined);
      if (n > this.#scanLimit) over = guess;
      else within = guess;
      guess = over + Math.floor((within - over) / 2);
    }
    return new Date(within);
  }

  /** The resident's events of the partition from a sequence on, at most scanLimit messages read. */
  async #read(subject: string, start: { seq: number }, residentId: string) {
    const consumer = await this.#consumer(subject, start);
    return this.#drain(consumer, residentId);
  }

  /** Reads what is pending on an ephemeral consumer (at most scanLimit), then deletes it. */
  async #drain(consumer: Consumer, residentId: string) {
    const found: Found[] = [];
    let scanned = 0;
    try {
      const available = (await consumer.info()).num_pending;
      const pending = Math.min(available, this.#scanLimit);
      if (pending > 0) {
        const messages = await consumer.fetch({ max_messages: pending, expires: FETCH_EXPIRES_MS });
        for await (const msg of messages) {
          scanned += 1;
          const event = this.#own(msg.data, residentId);
          if (event) found.push({ seq: msg.seq, event });
          if (msg.info.pending === 0 || scanned >= pending) break;
        }
      }
      return { found, scanned, cut: available > this.#scanLimit };
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  #subject(residentId: string): string {
    return this.#names.subjects.event(partitionOf(residentId, this.#partitions), '>');
  }

  #consumer(subject: string, start: { time: Date } | { seq: number }): Promise<Consumer> {
    return this.#js.consumers.get(this.#names.streams.events, {
      filter_subjects: subject,
      ...('time' in start
        ? { deliver_policy: 'by_start_time' as const, opt_start_time: start.time.toISOString() }
        : { deliver_policy: 'by_start_sequence' as const, opt_start_seq: start.seq }),
    });
  }

  /** The message as the resident's device event, or undefined when it is not theirs or unreadable. */
  #own(data: Uint8Array, residentId: string): DeviceEvent | undefined {
    const parsed = decodeJson(TelecareEvent, data);
    if (!parsed.ok || parsed.value.residentid !== residentId) return undefined;
    const event = parsed.value;
    return {
      id: event.id,
      type: event.type,
      serial: event.subject,
      deviceKind: event.devicekind,
      at: event.time,
      receivedAt: event.receivedat,
      ...(event.location ? { location: event.location } : {}),
      testMode: event.testmode,
      data: event.data,
    };
  }
}

/**
 * In stream order, each message once and each event once (a device's resend stored again after
 * the duplicate window keeps its first), the newest MAX_EVENTS.
 */
function newest(found: readonly Found[]): DeviceEvent[] {
  const bySeq = new Map<number, DeviceEvent>();
  for (const one of found) bySeq.set(one.seq, one.event);
  const ids = new Set<string>();
  const events: DeviceEvent[] = [];
  for (const [, event] of [...bySeq].sort(([a], [b]) => a - b)) {
    if (ids.has(event.id)) continue;
    ids.add(event.id);
    events.push(event);
  }
  return events.slice(-MAX_EVENTS);
}

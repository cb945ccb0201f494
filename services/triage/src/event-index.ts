import { EVENT_INDEX_CAP, type EventIndexView, type Names, partitionOf } from '@telecare/contracts';
import {
  type JetStreamManager,
  type Logger,
  type Redis,
  TransientError,
  withTimeout,
} from '@telecare/platform';
import { consumerName } from './partitions.ts';

/** Over the longest timeline (24 h): a list that expired had no event of its resident in that time. */
export const EVENT_INDEX_TTL_S = 25 * 3600;
/**
 * How long an event's step waits for its index write once everything else of it is done: a
 * Redis that answers answers well within it, beside the state's save; past it the write is
 * skipped and a gap recorded, so an event that needs nothing else of Redis is not held by it.
 */
export const INDEX_WAIT_MS = 1_000;
/** How soon the gaps not yet recorded are tried again while Redis does not take them. */
const GAP_RETRY_MS = 1_000;

/**
 * One event's sequence into its resident's list, once, in stream order. `KEYS[1]` the resident's
 * list, `KEYS[2]` the hash of where each partition's index begins; `ARGV`: the sequence, the cap,
 * the expiry in seconds, the partition.
 * - A sequence past the list's last is pushed and the list cut to the newest `cap`.
 * - One at or before it (a redelivery, a replay, an event handed back after later ones of its
 *   resident) goes in its place unless it is there already, so the list never holds one twice.
 * - The partition's lowest indexed sequence is kept: the lane reads every event from where it
 *   stands, so the index is whole from there on (its lanes hold several residents' events at once,
 *   so the first one written need not be the lowest).
 */
const APPEND = `
local key = KEYS[1]
local seq = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local since = tonumber(redis.call('HGET', KEYS[2], ARGV[4]))
if not since or seq < since then redis.call('HSET', KEYS[2], ARGV[4], ARGV[1]) end
local last = redis.call('LINDEX', key, -1)
if not last or seq > tonumber(last) then
  if redis.call('RPUSH', key, ARGV[1]) > cap then redis.call('LTRIM', key, -cap, -1) end
elseif seq < tonumber(last) then
  local all = redis.call('LRANGE', key, 0, -1)
  local placed = false
  for i = #all, 1, -1 do
    local at = tonumber(all[i])
    if at == seq then placed = true break end
    if at < seq then
      redis.call('LINSERT', key, 'AFTER', all[i], ARGV[1])
      placed = true
      break
    end
  end
  if not placed and #all < cap then redis.call('LPUSH', key, ARGV[1]) end
  if redis.call('LLEN', key) > cap then redis.call('LTRIM', key, -cap, -1) end
end
redis.call('EXPIRE', key, tonumber(ARGV[3]))
return 1
`;

const APPEND_COMMAND = 'triageEventIndexAppend';

/**
 * A resident's gap: the newest of their sequences whose write was skipped, raised only, expiring
 * with the index. `KEYS[1]` the gap's key; `ARGV`: the sequence, the expiry in seconds.
 */
const GAP = `
local known = tonumber(redis.call('GET', KEYS[1]))
if not known or tonumber(ARGV[1]) > known then redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`;

const GAP_COMMAND = 'triageEventIndexGap';

type Appending = {
  [APPEND_COMMAND](key: string, since: string, ...args: Array<string | number>): Promise<unknown>;
  [GAP_COMMAND](key: string, seq: number, ttlS: number): Promise<unknown>;
};

/** What the index holds for one resident. */
export interface IndexedEvents {
  /** EVENTS stream sequences of the resident's newest events, oldest first. */
  readonly seqs: number[];
  /** The first sequence the resident's partition indexed: from there on the index is whole. */
  readonly since: number | undefined;
  /** The newest of the resident's sequences whose write was skipped: the index is whole only past it. */
  readonly gap: number | undefined;
}

/**
 * Per resident, the EVENTS stream sequences of their newest events (`<ns>:triage:events:<id>`, a
 * list capped at EVENT_INDEX_CAP, expiring EVENT_INDEX_TTL_S after its last write), so a case's
 * timeline reads the resident's own events rather than scanning their partition. Written by the
 * partition lanes, which read every event of a resident in stream order; only sequences, never
 * payloads. A cache like the rest of triage's Redis: what it lost, the timeline reads by scanning.
 * A write Redis did not take in time is skipped, and the resident's gap
 * (`<ns>:triage:events-gap:<id>`) says so once Redis takes it: the timeline then scans too.
 */
export class EventIndex {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #gapPrefix: string;
  readonly #sinceKey: string;
  readonly #log: Logger | undefined;
  /** Per resident, the newest sequence whose write was skipped and whose gap Redis has not taken yet. */
  readonly #unrecorded = new Map<string, number>();
  #retry: NodeJS.Timeout | undefined;
  #recording: Promise<void> | undefined;
  #closed = false;

  constructor(redis: Redis, names: Names, logger?: Logger) {
    this.#redis = redis;
    this.#prefix = `${names.redisPrefix}triage:events:`;
    this.#gapPrefix = `${names.redisPrefix}triage:events-gap:`;
    this.#sinceKey = `${names.redisPrefix}triage:events-since`;
    this.#log = logger?.child({ component: 'event-index' });
    redis.defineCommand(APPEND_COMMAND, { numberOfKeys: 2, lua: APPEND });
    redis.defineCommand(GAP_COMMAND, { numberOfKeys: 1, lua: GAP });
  }

  key(residentId: string): string {
    return `${this.#prefix}${residentId}`;
  }

  gapKey(residentId: string): string {
    return `${this.#gapPrefix}${residentId}`;
  }

  /**
   * Adds one event of a partition lane. Sent on the client, so its auto-pipelining puts it in the
   * socket write of the state's save and the other events in hand.
   */
  async append(residentId: string, seq: number, partition: number): Promise<void> {
    try {
      await (this.#redis as unknown as Appending)[APPEND_COMMAND](
        this.key(residentId),
        this.#sinceKey,
        seq,
        EVENT_INDEX_CAP,
        EVENT_INDEX_TTL_S,
        partition,
      );
    } catch (err) {
      throw new TransientError('could not index the event', {
        cause: err,
        context: { dependency: 'redis', residentId },
      });
    }
  }

  /**
   * Waits for an append sent earlier in the event's step: true once indexed. At most
   * INDEX_WAIT_MS, and not at all while the client is not connected (Redis down: the events that
   * need nothing else of it are not held, one after another, for a wait each). Not indexed in
   * time, or refused, the event is a gap of its resident's index instead (false), recorded as soon
   * as Redis takes it. The write itself may still be applied later (the client sends what it
   * queued once connected again): the gap then only makes the timeline scan when it need not.
   */
  async settle(appending: Promise<void>, residentId: string, seq: number): Promise<boolean> {
    const waitMs = this.#redis.status === 'ready' ? INDEX_WAIT_MS : 0;
    const indexed = await withTimeout(
      appending.then(
        () => true,
        () => false,
      ),
      waitMs,
    );
    if (indexed) return true;
    if (this.#unrecorded.size === 0)
      this.#log?.warn(
        { residentId, seq },
        'event index writes not taken by Redis in time: skipped, their gaps recorded once it takes them',
      );
    this.#unrecorded.set(residentId, Math.max(seq, this.#unrecorded.get(residentId) ?? 0));
    this.#recordSoon(0);
    return false;
  }

  async read(residentId: string, partition: number): Promise<IndexedEvents> {
    try {
      const [list, since, gap] = await Promise.all([
        this.#redis.lrange(this.key(residentId), 0, -1),
        this.#redis.hget(this.#sinceKey, String(partition)),
        this.#redis.get(this.gapKey(residentId)),
      ]);
      // A gap skipped here and not recorded yet counts too.
      const gaps = [gap === null ? 0 : Number(gap), this.#unrecorded.get(residentId) ?? 0];
      const newestGap = Math.max(...gaps.filter((seq) => Number.isSafeInteger(seq)));
      return {
        seqs: list.map(Number).filter((seq) => Number.isSafeInteger(seq) && seq > 0),
        since: since === null ? undefined : Number(since),
        gap: newestGap > 0 ? newestGap : undefined,
      };
    } catch (err) {
      throw new TransientError('could not read the event index', {
        cause: err,
        context: { dependency: 'redis', residentId },
      });
    }
  }

  /** Stops trying; the gaps still unrecorded get one more try if Redis is connected. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    await this.#recording;
    if (this.#unrecorded.size > 0 && this.#redis.status === 'ready') await this.#record();
    if (this.#unrecorded.size > 0)
      this.#log?.warn(
        { residents: this.#unrecorded.size },
        'event index gaps not recorded: Redis did not take them before the stop',
      );
  }

  #recordSoon(ms: number): void {
    if (this.#closed || this.#retry !== undefined || this.#recording !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#recording = this.#record().finally(() => {
        this.#recording = undefined;
        if (this.#unrecorded.size > 0) this.#recordSoon(GAP_RETRY_MS);
      });
    }, ms);
    this.#retry.unref();
  }

  /**
   * Writes the gaps not yet recorded; only while the client is connected, so a Redis that is down
   * does not gather a queue of them in the client.
   */
  async #record(): Promise<void> {
    if (this.#redis.status !== 'ready') return;
    const gaps = [...this.#unrecorded];
    const answers = await Promise.allSettled(
      gaps.map(([residentId, seq]) =>
        (this.#redis as unknown as Appending)[GAP_COMMAND](this.gapKey(residentId), seq, EVENT_INDEX_TTL_S),
      ),
    );
    let recorded = 0;
    for (const [i, answer] of answers.entries()) {
      const [residentId, seq] = gaps[i] as [string, number];
      if (answer.status !== 'fulfilled' || this.#unrecorded.get(residentId) !== seq) continue;
      this.#unrecorded.delete(residentId);
      recorded++;
    }
    if (recorded > 0)
      this.#log?.info({ residents: recorded, left: this.#unrecorded.size }, 'event index gaps recorded');
  }
}

/**
 * What `GET /api/residents/{id}/event-index` answers: the resident's index, and how far the
 * partition lane has read (its consumer's ack floor: every event up to it was handled, and so
 * indexed, before it was acked), so a reader knows which newer events to look for itself.
 */
export async function eventIndexView(
  deps: { index: EventIndex; jsm: JetStreamManager; names: Names; partitions: number },
  residentId: string,
): Promise<EventIndexView> {
  const partition = partitionOf(residentId, deps.partitions);
  const [indexed, through] = await Promise.all([
    deps.index.read(residentId, partition),
    deps.jsm.consumers.info(deps.names.streams.events, consumerName(partition)).then(
      (info) => info.ack_floor.stream_seq,
      (err: unknown) => {
        throw new TransientError('could not read how far the partition is read', {
          cause: err,
          context: { dependency: 'nats', partition },
        });
      },
    ),
  ]);
  return {
    residentId,
    partition,
    seqs: indexed.seqs,
    since: indexed.since ?? null,
    gap: indexed.gap ?? null,
    through,
  };
}

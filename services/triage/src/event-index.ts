import { EVENT_INDEX_CAP, type EventIndexView, type Names, partitionOf } from '@telecare/contracts';
import { type JetStreamManager, type Redis, TransientError } from '@telecare/platform';
import { consumerName } from './partitions.ts';

/** Over the longest timeline (24 h): a list that expired had no event of its resident in that time. */
export const EVENT_INDEX_TTL_S = 25 * 3600;

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

type Appending = {
  [APPEND_COMMAND](key: string, since: string, ...args: Array<string | number>): Promise<unknown>;
};

/** What the index holds for one resident. */
export interface IndexedEvents {
  /** EVENTS stream sequences of the resident's newest events, oldest first. */
  readonly seqs: number[];
  /** The first sequence the resident's partition indexed: from there on the index is whole. */
  readonly since: number | undefined;
}

/**
 * Per resident, the EVENTS stream sequences of their newest events (`<ns>:triage:events:<id>`, a
 * list capped at EVENT_INDEX_CAP, expiring EVENT_INDEX_TTL_S after its last write), so a case's
 * timeline reads the resident's own events rather than scanning their partition. Written by the
 * partition lanes, which read every event of a resident in stream order; only sequences, never
 * payloads. A cache like the rest of triage's Redis: what it lost, the timeline reads by scanning.
 */
export class EventIndex {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #sinceKey: string;

  constructor(redis: Redis, names: Names) {
    this.#redis = redis;
    this.#prefix = `${names.redisPrefix}triage:events:`;
    this.#sinceKey = `${names.redisPrefix}triage:events-since`;
    redis.defineCommand(APPEND_COMMAND, { numberOfKeys: 2, lua: APPEND });
  }

  key(residentId: string): string {
    return `${this.#prefix}${residentId}`;
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

  async read(residentId: string, partition: number): Promise<IndexedEvents> {
    try {
      const [list, since] = await Promise.all([
        this.#redis.lrange(this.key(residentId), 0, -1),
        this.#redis.hget(this.#sinceKey, String(partition)),
      ]);
      return {
        seqs: list.map(Number).filter((seq) => Number.isSafeInteger(seq) && seq > 0),
        since: since === null ? undefined : Number(since),
      };
    } catch (err) {
      throw new TransientError('could not read the event index', {
        cause: err,
        context: { dependency: 'redis', residentId },
      });
    }
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
  return { residentId, partition, seqs: indexed.seqs, since: indexed.since ?? null, through };
}

import { EVENT_INDEX_CAP, type EventIndexView, type Names, partitionOf } from '@telecare/contracts';
import {
  type JetStreamManager,
  type Logger,
  type Redis,
  sleep,
  TransientError,
  withTimeout,
} from '@telecare/platform';
import type { GapClaims, TakenClaim } from './index-gaps.ts';
import { type LaneWork, partitionOfLease } from './leases.ts';
import { consumerName } from './partitions.ts';
import { RedisAway } from './redis-away.ts';

/** Over the longest timeline (24 h): a list that expired had no event of its resident in that time. */
export const EVENT_INDEX_TTL_S = 25 * 3600;
/**
 * How long an event's step waits for its index write once everything else of it is done, unless
 * TRIAGE_INDEX_WAIT_MS says otherwise: a Redis that answers answers well within it, beside the
 * state's save; past it the write is skipped and its gap claimed, so an event that needs nothing
 * else of Redis is not held by it.
 */
export const INDEX_WAIT_MS = 1_000;
/** How soon the claims are tried again while Redis (or, for a look at them, NATS) does not answer. */
const SETTLE_RETRY_MS = 1_000;
/** Residents whose claims are settled at once. */
const SETTLE_AT_ONCE = 64;
/**
 * Index writes remembered for the events they were sent for, until each event's step settles its
 * own: far more than the events in hand (16 a partition lane). One whose event went to another
 * instance is never settled here; past this many the oldest is forgotten (at worst sent again).
 */
const SENT_KEPT = 10_000;

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
 * Settles a resident's claimed sequences, once no write of them is on its way: each is in the list
 * (its write landed, late) or lost, except one older than a full list keeps (cut by the cap, not
 * lost). The resident's gap is raised to the newest lost, never lowered, and expires with the
 * index. `KEYS[1]` the resident's list, `KEYS[2]` their gap; `ARGV`: the expiry in seconds, the
 * cap, then the sequences. Answers the lost ones.
 */
const SETTLE = `
local cap = tonumber(ARGV[2])
local first = tonumber(redis.call('LINDEX', KEYS[1], 0))
local full = redis.call('LLEN', KEYS[1]) >= cap
local lost = {}
local newest = 0
for i = 3, #ARGV do
  local seq = tonumber(ARGV[i])
  local cut = full and first ~= nil and seq < first
  if not cut and not redis.call('LPOS', KEYS[1], ARGV[i]) then
    lost[#lost + 1] = ARGV[i]
    if seq > newest then newest = seq end
  end
end
if newest > 0 then
  local known = tonumber(redis.call('GET', KEYS[2]))
  if not known or newest > known then redis.call('SET', KEYS[2], newest) end
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[1]))
end
return lost
`;

const SETTLE_COMMAND = 'triageEventIndexSettle';

type Scripted = {
  [APPEND_COMMAND](key: string, since: string, ...args: Array<string | number>): Promise<unknown>;
  [SETTLE_COMMAND](key: string, gapKey: string, ...args: Array<string | number>): Promise<string[]>;
};

/** What the index holds for one resident. */
export interface IndexedEvents {
  /** EVENTS stream sequences of the resident's newest events, oldest first. */
  readonly seqs: number[];
  /** The first sequence the resident's partition indexed: from there on the index is whole. */
  readonly since: number | undefined;
  /**
   * The newest of the resident's sequences not known to be in the list (lost, or skipped and not
   * settled yet): the index is whole only past it.
   */
  readonly gap: number | undefined;
}

/** One event's index write, sent early in its step: whether Redis answered yet, and how. */
export class IndexWrite {
  /** True once Redis took it, false once it failed; undefined while unanswered. */
  answered: boolean | undefined;
  /** Settles with `answered`; never rejects. */
  readonly answer: Promise<boolean>;
  /** The partition whose lane sent it: its gap is claimed with that partition's. */
  readonly partition: number;

  constructor(sent: Promise<unknown>, partition: number) {
    this.partition = partition;
    this.answer = sent.then(
      () => {
        this.answered = true;
        return true;
      },
      () => {
        this.answered = false;
        return false;
      },
    );
  }
}

/**
 * Per resident, the EVENTS stream sequences of their newest events (`<ns>:triage:events:<id>`, a
 * list capped at EVENT_INDEX_CAP, expiring EVENT_INDEX_TTL_S after its last write), so a case's
 * timeline reads the resident's own events rather than scanning their partition. Written by the
 * partition lanes, which read every event of a resident in stream order; only sequences, never
 * payloads. A cache like the rest of triage's Redis: what it lost, the timeline reads by scanning.
 *
 * A write Redis did not take in time is skipped: its sequence is claimed in the gap bucket
 * (`GapClaims`, durable) before the event is acked, and settled once Redis has answered for the
 * write: in the list (it landed late) or lost, the resident's gap (`<ns>:triage:events-gap:<id>`)
 * then raised to it, and the claim withdrawn. Until then the claim counts as a gap: the timeline
 * scans too. Claims another process left (it crashed, or stopped with Redis away) are settled by
 * the instance that takes their partition next.
 */
export class EventIndex {
  readonly #redis: Redis;
  readonly #claims: GapClaims;
  readonly #prefix: string;
  readonly #gapPrefix: string;
  readonly #sinceKey: string;
  readonly #log: Logger | undefined;
  readonly #waitMs: number;
  readonly #settled: ((outcome: 'landed' | 'lost', count: number) => void) | undefined;
  /** Per resident, claimed sequences no write of which is on its way any more: to be settled. */
  readonly #settleable = new Map<string, Set<number>>();
  /**
   * The index writes of events in hand (`<residentId> <seq>`), oldest first: a try of the event
   * after one that failed (its state not loaded or not saved) sends no second one.
   */
  readonly #sent = new Map<string, IndexWrite>();
  /** This instance's skipped writes Redis has not answered for yet (`<residentId> <seq>`). */
  readonly #unanswered = new Set<string>();
  /** Partitions taken whose residents' claims are to be taken over, and the look at the bucket for them. */
  readonly #takingOver = new Set<number>();
  #lookingAtClaims: Promise<void> | undefined;
  readonly #partitionOf: ((residentId: string) => number) | undefined;
  #retry: NodeJS.Timeout | undefined;
  #settling: Promise<void> | undefined;
  #closed = false;

  constructor(
    redis: Redis,
    names: Names,
    options: {
      claims: GapClaims;
      waitMs?: number;
      logger?: Logger;
      /** A resident's partition: to take over the claims of the partitions this instance takes. */
      partitionOf?: (residentId: string) => number;
      /** Claims settled: their writes landed late (no gap), or lost (the gap raised). */
      settled?: (outcome: 'landed' | 'lost', count: number) => void;
    },
  ) {
    this.#redis = redis;
    this.#claims = options.claims;
    this.#prefix = `${names.redisPrefix}triage:events:`;
    this.#gapPrefix = `${names.redisPrefix}triage:events-gap:`;
    this.#sinceKey = `${names.redisPrefix}triage:events-since`;
    this.#log = options.logger?.child({ component: 'event-index' });
    this.#waitMs = options.waitMs ?? INDEX_WAIT_MS;
    this.#settled = options.settled;
    this.#partitionOf = options.partitionOf;
    redis.defineCommand(APPEND_COMMAND, { numberOfKeys: 2, lua: APPEND });
    redis.defineCommand(SETTLE_COMMAND, { numberOfKeys: 2, lua: SETTLE });
  }

  key(residentId: string): string {
    return `${this.#prefix}${residentId}`;
  }

  gapKey(residentId: string): string {
    return `${this.#gapPrefix}${residentId}`;
  }

  /** Adds one event of a partition lane and waits for Redis to take it. */
  async append(residentId: string, seq: number, partition: number): Promise<void> {
    try {
      await (this.#redis as unknown as Scripted)[APPEND_COMMAND](
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
   * Sends one event's index write, to be settled at the end of its step. Sent on the client, so
   * its auto-pipelining puts it in the socket write of the state's save and the other events in hand.
   *
   * Once per event, not once per try: an event tried again (its state not loaded or not saved, Redis
   * away) is given the write its first try sent, while that one is on its way or taken. Each try
   * sent one before, and with Redis stopped they all waited on the connection, to run one after
   * another once it answered (a script that scans the list for an older sequence, each). One that
   * failed is sent again only once Redis answers and takes writes; while it is away or refuses them
   * the failed one stands, and the event's step claims its gap (`settle`).
   */
  send(residentId: string, seq: number, partition: number): IndexWrite {
    const key = `${residentId} ${seq}`;
    const earlier = this.#sent.get(key);
    if (earlier !== undefined && (earlier.answered !== false || !RedisAway.of(this.#redis).writable))
      return earlier;
    const write = new IndexWrite(this.append(residentId, seq, partition), partition);
    this.#sent.delete(key);
    this.#sent.set(key, write);
    if (this.#sent.size > SENT_KEPT) this.#sent.delete(this.#sent.keys().next().value as string);
    return write;
  }

  /**
   * Settles an event's write before the event is acked: true once indexed. Unanswered, it is
   * waited for at most the index wait, and not at all while Redis is away (`RedisAway`: down, or
   * stopped: the events that need nothing else of it are not held, one after another, for a wait
   * each). Not indexed by then, or refused, it is skipped (false): its sequence is claimed in the
   * gap bucket first (a bucket that does not take it fails the event, which is handed back), and
   * settled once Redis has answered for the write.
   */
  async settle(write: IndexWrite, residentId: string, seq: number): Promise<boolean> {
    // The event's last try: a redelivery after this (an ack lost) is a try of its own.
    this.#sent.delete(`${residentId} ${seq}`);
    // Answered already (the state's save, sent after it, was): no wait, and no timer to arm. A
    // timer a wait otherwise: one shared by every wait was measured no cheaper (`pnpm bench
    // bounded-waits`).
    if (write.answered === undefined && !RedisAway.of(this.#redis).away)
      await withTimeout(write.answer, this.#waitMs);
    if (write.answered === true) return true;
    await this.#claims.add(residentId, seq, write.partition);
    if (this.#open() === 0)
      this.#log?.warn(
        { residentId, seq },
        'event index writes not taken by Redis in time: skipped, their gaps claimed until Redis answers for them',
      );
    const mine = `${residentId} ${seq}`;
    this.#unanswered.add(mine);
    void write.answer.then(() => {
      this.#unanswered.delete(mine);
      this.#toSettle(residentId, [seq]);
    });
    return false;
  }

  /**
   * Takes over the claims of a partition this instance has just taken (at its start, or from an
   * instance that crashed or gave it up): their writes' process is gone, or no longer writes the
   * partition, so they are settled here as soon as Redis answers. Its own writes still on their
   * way are left to settle as they are answered. Partitions taken at once are looked up together.
   */
  takeOverClaims(partition: number): void {
    this.#takingOver.add(partition);
    if (this.#lookingAtClaims !== undefined || this.#closed) return;
    this.#lookingAtClaims = (async () => {
      // Every partition a start takes, in one look at the bucket.
      await new Promise((resolve) => setImmediate(resolve));
      while (this.#takingOver.size > 0 && !this.#closed) {
        const partitions = new Set(this.#takingOver);
        this.#takingOver.clear();
        try {
          await this.#takeOver(partitions);
        } catch (err) {
          this.#log?.warn(
            { err, partitions: [...partitions] },
            'could not look at the event index gap claims left; looking again',
          );
          for (const partition of partitions) this.#takingOver.add(partition);
          await sleep(SETTLE_RETRY_MS);
        }
      }
    })().finally(() => {
      this.#lookingAtClaims = undefined;
    });
  }

  async #takeOver(partitions: ReadonlySet<number>): Promise<void> {
    let count = 0;
    const taken = (claim: TakenClaim): boolean => {
      const partition = claim.partition ?? this.#partitionOf?.(claim.residentId);
      return partition === undefined || partitions.has(partition);
    };
    for (const { residentId, seqs } of await this.#claims.takeOver(taken)) {
      const left = seqs.filter((seq) => !this.#unanswered.has(`${residentId} ${seq}`));
      if (left.length === 0) continue;
      this.#toSettle(residentId, left);
      count += left.length;
    }
    if (count > 0)
      this.#log?.info(
        { claims: count, partitions: [...partitions] },
        'event index gap claims left by another process taken over',
      );
  }

  async read(residentId: string, partition: number): Promise<IndexedEvents> {
    try {
      // Refused at once while Redis is away: the reader (the helpline's timeline) reads the
      // partition itself rather than wait out the command timeout.
      const [list, since, gap, claimed] = await RedisAway.of(this.#redis).read('the event index', () =>
        Promise.all([
          this.#redis.lrange(this.key(residentId), 0, -1),
          this.#redis.hget(this.#sinceKey, String(partition)),
          this.#redis.get(this.gapKey(residentId)),
          this.#claims.of(residentId, partition),
        ]),
      );
      // A claim not settled yet counts too: its write may be lost.
      const gaps = [gap === null ? 0 : Number(gap), ...claimed];
      const newestGap = Math.max(...gaps.filter((seq) => Number.isSafeInteger(seq)));
      return {
        seqs: list.map(Number).filter((seq) => Number.isSafeInteger(seq) && seq > 0),
        since: since === null ? undefined : Number(since),
        gap: newestGap > 0 ? newestGap : undefined,
      };
    } catch (err) {
      if (err instanceof TransientError) throw err;
      throw new TransientError('could not read the event index', {
        cause: err,
        context: { dependency: 'redis', residentId },
      });
    }
  }

  /**
   * Stops settling; the claims settleable get one more try if Redis is connected. Those left stay
   * in the gap bucket, for the instance that takes their partition next.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    this.#retry = undefined;
    await this.#lookingAtClaims;
    await this.#settling;
    if (this.#settleable.size > 0 && this.#redis.status === 'ready') await this.#settle();
    if (this.#open() > 0)
      this.#log?.warn(
        { claims: this.#open() },
        'event index gap claims not settled before the stop: left for the instance that takes their partition next',
      );
  }

  /** Claims this instance holds that are not settled yet (its own skips, and those it took over). */
  #open(): number {
    let open = this.#unanswered.size;
    for (const held of this.#settleable.values()) open += held.size;
    return open;
  }

  #toSettle(residentId: string, seqs: readonly number[]): void {
    const held = this.#settleable.get(residentId) ?? new Set<number>();
    for (const seq of seqs) held.add(seq);
    this.#settleable.set(residentId, held);
    this.#settleSoon(0);
  }

  #settleSoon(ms: number): void {
    if (this.#closed || this.#retry !== undefined || this.#settling !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#settling = this.#settle()
        .catch(() => false)
        .then((done) => {
          this.#settling = undefined;
          // More became settleable meanwhile: at once; some failed, or Redis is away: a while later.
          if (this.#settleable.size > 0) this.#settleSoon(done ? 0 : SETTLE_RETRY_MS);
        });
    }, ms);
    this.#retry.unref();
  }

  /**
   * Settles the claims whose writes are answered: only while Redis is not away, so a Redis that is
   * down does not gather a queue of them in the client, nor a stopped one on the connection. Each
   * resident's gap is raised in Redis before their claims are withdrawn: a stop between the two
   * settles them again, the same way.
   */
  async #settle(): Promise<boolean> {
    if (RedisAway.of(this.#redis).away) return false;
    const batch = [...this.#settleable].map(([residentId, held]) => ({ residentId, held, seqs: [...held] }));
    let landed = 0;
    let lost = 0;
    let failed = 0;
    // A few residents at a time: after a long outage every resident of the region may have claims.
    for (let from = 0; from < batch.length; from += SETTLE_AT_ONCE) {
      const part = batch.slice(from, from + SETTLE_AT_ONCE);
      const answers = await Promise.allSettled(
        part.map(async ({ residentId, seqs }) => {
          const lostSeqs = await RedisAway.of(this.#redis).write('an index gap settle', () =>
            (this.#redis as unknown as Scripted)[SETTLE_COMMAND](
              this.key(residentId),
              this.gapKey(residentId),
              EVENT_INDEX_TTL_S,
              EVENT_INDEX_CAP,
              ...seqs,
            ),
          );
          await this.#claims.remove(residentId, seqs);
          return lostSeqs.length;
        }),
      );
      for (const [i, answer] of answers.entries()) {
        if (answer.status !== 'fulfilled') {
          failed++;
          continue;
        }
        const { residentId, held, seqs } = part[i] as (typeof part)[number];
        for (const seq of seqs) held.delete(seq);
        if (held.size === 0) this.#settleable.delete(residentId);
        lost += answer.value;
        landed += seqs.length - answer.value;
      }
    }
    if (landed > 0) this.#settled?.('landed', landed);
    if (lost > 0) this.#settled?.('lost', lost);
    if (landed + lost > 0)
      this.#log?.info({ landed, lost, left: this.#open() }, 'event index gap claims settled');
    return failed === 0;
  }
}

/** The lanes of the leases, taking over the gap claims of each partition they take. */
export function takingOverGapClaims(work: LaneWork, index: EventIndex): LaneWork {
  return {
    ...work,
    start: (lease) => {
      work.start(lease);
      const partition = partitionOfLease(lease);
      if (partition !== undefined) index.takeOverClaims(partition);
    },
  };
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

import { createHash, randomBytes } from 'node:crypto';
import { type Logger, type Redis, TransientError } from '@telecare/platform';
import {
  decodeState,
  decodeStateList,
  encodeStateChange,
  encodeStateList,
  type ResidentState,
  StateDecodeError,
  type StoredLayout,
} from '@telecare/rules';
import type { LaneWork } from './leases.ts';
import { RedisAway } from './redis-away.ts';
import type { ScriptWrites } from './timers.ts';

/**
 * One resident's save, as one script so that it is whole. `KEYS[1]` the state's list,
 * `KEYS[2]` where an earlier version kept the state (one JSON value), removed by a whole write.
 * - `whole token ...elements`: the list replaced by the token and the elements.
 * - `change expected token head rhythms n ...removed ...added`: only when the list starts with
 *   `expected` (it is the list this change was made from: not lost, not written by anyone else),
 *   the token and the head and rhythms set (an empty one is unchanged), the `n` rows removed by
 *   their text and the rest pushed. Answers 0, having changed nothing, when it is not.
 */
const SAVE = `
local key = KEYS[1]
local function push(from)
  for i = from, #ARGV, 1000 do
    redis.call('RPUSH', key, unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
end
if ARGV[1] == 'whole' then
  redis.call('DEL', key, KEYS[2])
  push(2)
  return 1
end
local top = redis.pcall('LINDEX', key, 0)
if type(top) ~= 'string' or top ~= ARGV[2] then return 0 end
redis.call('LSET', key, 0, ARGV[3])
if ARGV[4] ~= '' then redis.call('LSET', key, 1, ARGV[4]) end
if ARGV[5] ~= '' then redis.call('LSET', key, 2, ARGV[5]) end
local removed = tonumber(ARGV[6])
for i = 7, 6 + removed do redis.call('LREM', key, 1, ARGV[i]) end
push(7 + removed)
return 1
`;

const SAVE_COMMAND = 'triageStateSave';
/**
 * In a pipeline the script goes by its digest alone (the client's own script command would send its
 * whole text with every pipeline); a Redis that does not know it yet (restarted, flushed) answers
 * NOSCRIPT, and the save is sent again by the client's script command, which loads it.
 */
const SAVE_SHA = createHash('sha1').update(SAVE).digest('hex');
/** Stands for a key that is not a list where the list goes (never a token: tokens have a dot). */
const UNREADABLE = 'unreadable';

type Saving = {
  [SAVE_COMMAND](key: string, legacy: string, ...args: Array<string | number>): unknown;
};

/** What this instance knows of a state it read or saved: the list's token and layout as stored. */
interface Stored {
  readonly token: string;
  readonly layout: StoredLayout;
}

/**
 * Resident state in Redis, one list per resident (`encodeStateList`): a token, the head (all but
 * the rhythms and the recent events), the rhythms, and a row per recent event. An event's save
 * writes what changed (`encodeStateChange`): the head, the rhythms when they changed, the rows
 * that went and came, in one script that applies it only to the very list it was made from
 * (the token each save sets); any other list (lost, emptied, written by another instance, or a
 * state read from the layout before) is written whole instead. A state stored by an earlier version
 * (one JSON value under `legacyKey`) still reads, and the first save moves it to the list.
 * It is a cache: anything unreadable is dropped and rebuilt (deterministic alert ids keep a rebuild
 * from raising anything twice).
 */
export class StateStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #log: Logger;
  /**
   * The states last read or saved, decoded, least recently used first (a Map keeps insertion
   * order). Valid only while this instance is their one writer: see `forgetAll`. The rules core
   * never changes a state it is given (no `reuse`), so a copy here is never half-changed.
   */
  readonly #held = new Map<string, ResidentState>();
  readonly #capacity: number;

  readonly #loaded: (from: 'memory' | 'redis' | 'none') => void;
  /** Per state object read or saved: its list as stored (a state that is not here is written whole). */
  readonly #stored = new WeakMap<ResidentState, Stored>();
  /** Tokens: this instance's own prefix and a count. */
  readonly #tokenPrefix = `${randomBytes(6).toString('base64url')}.`;
  #tokens = 0;

  constructor(
    redis: Redis,
    redisPrefix: string,
    logger: Logger,
    options: { cache?: number; loaded?: (from: 'memory' | 'redis' | 'none') => void } = {},
  ) {
    this.#redis = redis;
    this.#prefix = `${redisPrefix}triage:state:`;
    redis.defineCommand(SAVE_COMMAND, { numberOfKeys: 2, lua: SAVE });
    this.#log = logger.child({ component: 'state-store' });
    this.#capacity = options.cache ?? 0;
    this.#loaded = options.loaded ?? (() => undefined);
  }

  /** Whether a save would be sent now: Redis answers and is not known to refuse writes (`RedisAway`). */
  get redisWritable(): boolean {
    return RedisAway.of(this.#redis).writable;
  }

  /** States held in memory now. */
  get held(): number {
    return this.#held.size;
  }

  /** Keeps `state` as its resident's latest (once it is saved, or as read). */
  remember(state: ResidentState): void {
    if (this.#capacity === 0) return;
    this.#held.delete(state.residentId);
    this.#held.set(state.residentId, state);
    if (this.#held.size > this.#capacity) {
      const oldest = this.#held.keys().next().value;
      if (oldest !== undefined) this.#held.delete(oldest);
    }
  }

  /** The resident's state held in memory, if it is (not counted as a use). */
  peek(residentId: string): ResidentState | undefined {
    return this.#held.get(residentId);
  }

  /** Drops a resident's copy: the next load reads Redis (after a failure part-way through an event). */
  forget(residentId: string): void {
    this.#held.delete(residentId);
  }

  /**
   * Drops every copy. Called whenever a partition lease is taken, given up or lost: another
   * instance may have written those states meanwhile, or is about to.
   */
  forgetAll(): void {
    this.#held.clear();
  }

  /** The resident's state: a list. */
  key(residentId: string): string {
    return `${this.#prefix}v4:${residentId}`;
  }

  /** Where an earlier version kept the resident's state, as one JSON value. */
  legacyKey(residentId: string): string {
    return `${this.#prefix}${residentId}`;
  }

  async load(residentId: string): Promise<ResidentState | undefined> {
    const held = this.#held.get(residentId);
    if (held !== undefined) {
      this.remember(held);
      this.#loaded('memory');
      return held;
    }
    let list: string[];
    let legacy: string | null;
    try {
      const replies = await RedisAway.of(this.#redis).read('a state load', () =>
        this.#redis.pipeline().lrange(this.key(residentId), 0, -1).get(this.legacyKey(residentId)).exec(),
      );
      const [[listErr, listValue] = [null, []], [legacyErr] = [null]] = replies ?? [];
      // A key of another type where the list goes is as unreadable as a list that is not a state.
      const unreadable = listErr !== null && /WRONGTYPE/.test(listErr.message);
      const refused = (unreadable ? null : listErr) ?? legacyErr;
      if (refused) throw RedisAway.of(this.#redis).failure('a state load', refused);
      list = unreadable ? [UNREADABLE] : ((listValue as string[] | undefined) ?? []);
      legacy = (replies?.[1]?.[1] as string | null | undefined) ?? null;
    } catch (err) {
      throw new TransientError('could not load resident state', {
        cause: err,
        context: { dependency: 'redis', residentId },
      });
    }
    if (list.length === 0 && legacy === null) {
      this.#loaded('none');
      return undefined;
    }
    try {
      let state: ResidentState;
      if (list[0] === UNREADABLE) throw new StateDecodeError('not a list');
      if (list.length > 0) {
        const read = decodeStateList(list.slice(1));
        state = read.state;
        this.#stored.set(state, { token: list[0] as string, layout: read.layout });
      } else {
        // Stored by the version before: read, and written whole (as a list) by its next save.
        state = decodeState(legacy as string);
      }
      if (state.residentId === residentId) {
        this.remember(state);
        this.#loaded('redis');
        return state;
      }
    } catch (err) {
      if (!(err instanceof StateDecodeError)) throw err;
    }
    this.#log.warn({ residentId }, 'unreadable resident state dropped; it rebuilds from new events');
    this.#loaded('none');
    return undefined;
  }

  /**
   * Adds the save of `after` to other writes (a pipeline, or the timers' writes on the client; sent,
   * and its failure read, by their owner), as the change from `before` when `before` is a state this store read or saved, and
   * whole otherwise. The owner hands the returned step the script's answer once the pipeline has
   * run: when the list was not the one the change was made from, the step writes it whole.
   */
  saveIn(
    pipeline: ScriptWrites,
    before: ResidentState | undefined,
    after: ResidentState,
  ): (answer: [Error | null, unknown]) => Promise<void> {
    const token = this.#token();
    const from = before === undefined ? undefined : this.#stored.get(before);
    const change =
      from === undefined ? undefined : encodeStateChange(from.layout, before as ResidentState, after);
    const key = this.key(after.residentId);
    const legacy = this.legacyKey(after.residentId);
    let args: Array<string | number>;
    let layout: StoredLayout;
    if (from === undefined || change === undefined) {
      const whole = encodeStateList(after);
      args = ['whole', token, ...whole.elements];
      layout = whole.layout;
    } else {
      args = [
        'change',
        from.token,
        token,
        change.head ?? '',
        change.rhythms ?? '',
        change.removed.length,
        ...change.removed,
        ...change.added,
      ];
      layout = change.layout;
    }
    pipeline.evalsha(SAVE_SHA, 2, key, legacy, ...args);
    return async ([err, answer]) => {
      if (err !== null) {
        if (!/NOSCRIPT/.test(err.message)) throw err;
        answer = await (this.#redis as unknown as Saving)[SAVE_COMMAND](key, legacy, ...args);
      }
      if (answer === 1) {
        this.#stored.set(after, { token, layout });
        return;
      }
      this.#log.info({ residentId: after.residentId }, 'resident state not as last saved; written whole');
      await this.#writeWhole(after);
    };
  }

  async #writeWhole(state: ResidentState): Promise<void> {
    const token = this.#token();
    const whole = encodeStateList(state);
    await (this.#redis as unknown as Saving)[SAVE_COMMAND](
      this.key(state.residentId),
      this.legacyKey(state.residentId),
      'whole',
      token,
      ...whole.elements,
    );
    this.#stored.set(state, { token, layout: whole.layout });
  }

  #token(): string {
    return this.#tokenPrefix + (this.#tokens++).toString(36);
  }

  /** A value of the shell's own (an area's state), under the namespace prefix. */
  async raw(key: string): Promise<string | null> {
    try {
      return await RedisAway.of(this.#redis).read('an area state load', () => this.#redis.get(key));
    } catch (err) {
      throw new TransientError('could not load state', { cause: err, context: { dependency: 'redis' } });
    }
  }

  async saveRaw(key: string, value: string): Promise<void> {
    try {
      await RedisAway.of(this.#redis).write('an area state save', () => this.#redis.set(key, value));
    } catch (err) {
      throw new TransientError('could not save state', { cause: err, context: { dependency: 'redis' } });
    }
  }

  /** Raises `member`'s high-water mark in `key` to `at`; a lower `at` leaves it as it is. */
  async raiseMark(key: string, member: string, at: number): Promise<void> {
    try {
      await RedisAway.of(this.#redis).write('a mark', () => this.#redis.zadd(key, 'GT', at, member));
    } catch (err) {
      throw new TransientError('could not save state', { cause: err, context: { dependency: 'redis' } });
    }
  }

  /** `member`'s high-water mark in `key`, or undefined when none was recorded. */
  async mark(key: string, member: string): Promise<number | undefined> {
    try {
      const score = await RedisAway.of(this.#redis).read('a mark', () => this.#redis.zscore(key, member));
      return score === null ? undefined : Number(score);
    } catch (err) {
      throw new TransientError('could not load state', { cause: err, context: { dependency: 'redis' } });
    }
  }
}

/**
 * The lanes' work, emptying the states held in memory whenever a lease is taken, given up or lost:
 * while another instance ran those partitions it wrote their residents' states in Redis.
 */
export function forgettingStates(work: LaneWork, store: StateStore): LaneWork {
  return {
    ...work,
    start: (lease) => {
      store.forgetAll();
      work.start(lease);
    },
    stop: async (lease) => {
      await work.stop(lease);
      store.forgetAll();
    },
    abandon: async (lease) => {
      store.forgetAll();
      await work.abandon(lease);
      store.forgetAll();
    },
  };
}

import { type ChainableCommander, type Logger, type Redis, TransientError } from '@telecare/platform';
import { decodeState, encodeState, type ResidentState, StateDecodeError } from '@telecare/rules';
import type { LaneWork } from './leases.ts';

/**
 * Resident state in Redis, one JSON value per resident in the rules' compact stored form
 * (`encodeState`; a state stored whole by an earlier version still reads). It is a cache: anything unreadable is
 * dropped and rebuilt (deterministic alert ids keep a rebuild from raising anything twice).
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

  constructor(
    redis: Redis,
    redisPrefix: string,
    logger: Logger,
    options: { cache?: number; loaded?: (from: 'memory' | 'redis' | 'none') => void } = {},
  ) {
    this.#redis = redis;
    this.#prefix = `${redisPrefix}triage:state:`;
    this.#log = logger.child({ component: 'state-store' });
    this.#capacity = options.cache ?? 0;
    this.#loaded = options.loaded ?? (() => undefined);
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

  key(residentId: string): string {
    return `${this.#prefix}${residentId}`;
  }

  async load(residentId: string): Promise<ResidentState | undefined> {
    const held = this.#held.get(residentId);
    if (held !== undefined) {
      this.remember(held);
      this.#loaded('memory');
      return held;
    }
    let raw: string | null;
    try {
      raw = await this.#redis.get(this.key(residentId));
    } catch (err) {
      throw new TransientError('could not load resident state', {
        cause: err,
        context: { dependency: 'redis', residentId },
      });
    }
    if (raw === null) {
      this.#loaded('none');
      return undefined;
    }
    try {
      const state = decodeState(raw);
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

  /** Adds the state's save to a pipeline of other writes (sent, and its failure read, by its owner). */
  saveIn(pipeline: ChainableCommander, state: ResidentState): void {
    pipeline.set(this.key(state.residentId), encodeState(state));
  }

  /** A value of the shell's own (an area's state), under the namespace prefix. */
  async raw(key: string): Promise<string | null> {
    try {
      return await this.#redis.get(key);
    } catch (err) {
      throw new TransientError('could not load state', { cause: err, context: { dependency: 'redis' } });
    }
  }

  async saveRaw(key: string, value: string): Promise<void> {
    try {
      await this.#redis.set(key, value);
    } catch (err) {
      throw new TransientError('could not save state', { cause: err, context: { dependency: 'redis' } });
    }
  }

  /** Raises `member`'s high-water mark in `key` to `at`; a lower `at` leaves it as it is. */
  async raiseMark(key: string, member: string, at: number): Promise<void> {
    try {
      await this.#redis.zadd(key, 'GT', at, member);
    } catch (err) {
      throw new TransientError('could not save state', { cause: err, context: { dependency: 'redis' } });
    }
  }

  /** `member`'s high-water mark in `key`, or undefined when none was recorded. */
  async mark(key: string, member: string): Promise<number | undefined> {
    try {
      const score = await this.#redis.zscore(key, member);
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

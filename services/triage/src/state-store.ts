import { type ChainableCommander, type Logger, type Redis, TransientError } from '@telecare/platform';
import { decodeState, encodeState, type ResidentState, StateDecodeError } from '@telecare/rules';

/**
 * Resident state in Redis, one JSON value per resident in the rules' compact stored form
 * (`encodeState`; a state stored whole by an earlier version still reads). It is a cache: anything unreadable is
 * dropped and rebuilt (deterministic alert ids keep a rebuild from raising anything twice).
 */
export class StateStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #log: Logger;

  constructor(redis: Redis, redisPrefix: string, logger: Logger) {
    this.#redis = redis;
    this.#prefix = `${redisPrefix}triage:state:`;
    this.#log = logger.child({ component: 'state-store' });
  }

  key(residentId: string): string {
    return `${this.#prefix}${residentId}`;
  }

  async load(residentId: string): Promise<ResidentState | undefined> {
    let raw: string | null;
    try {
      raw = await this.#redis.get(this.key(residentId));
    } catch (err) {
      throw new TransientError('could not load resident state', {
        cause: err,
        context: { dependency: 'redis', residentId },
      });
    }
    if (raw === null) return undefined;
    try {
      const state = decodeState(raw);
      if (state.residentId === residentId) return state;
    } catch (err) {
      if (!(err instanceof StateDecodeError)) throw err;
    }
    this.#log.warn({ residentId }, 'unreadable resident state dropped; it rebuilds from new events');
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

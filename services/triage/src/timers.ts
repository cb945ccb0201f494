import type { KV } from '@nats-io/kv';
import { Alert, type Names } from '@telecare/contracts';
import type { ChainableCommander, Logger, NatsConnection, Redis } from '@telecare/platform';
import {
  BucketFullError,
  createBucket,
  isWrongRevision,
  lastValues,
  onBucketRecreated,
  TransientError,
} from '@telecare/platform';
import { Timer, type TimerCommand } from '@telecare/rules';
import { RedisAway, RedisAwayError } from './redis-away.ts';

/** The durable timer bucket of a namespace. */
export const timerBucket = (n: Names): string => n.kv.triageTimers;

/** KV keys allow letters, digits, `-`, `_`, `=`, `.` and `/`: timer ids hold `:`, so encode them. */
const keyOf = (timerId: string): string => Buffer.from(timerId).toString('base64url');

/** The rule a timer id belongs to: ids start with their rule's id (which holds no `:`). */
const ruleOfId = (timerId: string): string =>
  timerId.slice(0, Math.max(0, timerId.indexOf(':'))) || 'unknown';

/** A create refused because the key holds a value already (written meanwhile). */
const alreadyThere = isWrongRevision;

/** How often a full bucket refusing timers is logged again. */
const FULL_TOLD_EVERY_MS = 60_000;

/** How many records a write-back creates at once. */
const WRITE_BACK_BATCH = 500;

/** Where a write of a script (the state's save) goes, with the timers' index writes. */
export interface ScriptWrites {
  evalsha(sha: string, keys: number, ...args: Array<string | number>): unknown;
}

const asError = (reason: unknown): Error => (reason instanceof Error ? reason : new Error(String(reason)));

/**
 * A write to the durable bucket: a timer set or moved (`put`), cancelled or fired (`purge`), or a
 * put the bucket refused because it is full (`refused`: the timer is kept in Redis only).
 */
export type TimerWrite = 'put' | 'purge' | 'refused';

/** What a list of timer commands leaves behind: the last command for each timer. */
function lastPerTimer(commands: readonly TimerCommand[]): TimerCommand[] {
  if (commands.length === 1) return [...commands];
  const last = new Map<string, TimerCommand>();
  for (const command of commands) last.set(command.op === 'set' ? command.timer.id : command.id, command);
  return [...last.values()];
}

/**
 * Timers the rules asked for, stored so that they fire on time with no further event and survive
 * a restart or the loss of Redis:
 *
 * - the record is in a NATS KV bucket (JetStream: replicated and on disk like EVENTS), key = the
 *   timer id, so setting the same timer twice is one record and a later set moves it;
 * - the index is a Redis sorted set per partition (score = due time), which the partition loop
 *   asks for what is due. It is a cache: at start-up it is rebuilt from the bucket;
 * - a copy of each record sits beside the index, in a Redis hash per partition (field = the timer
 *   id), sent with the index entry, in the same write (no round trip of its own). JetStream
 *   can lose the bucket while triage runs (`keepBuckets` makes it again, empty): the copies write
 *   every record back (`onBucketRecreated`), and a timer due before that fires from its copy.
 *   So the bucket rebuilds Redis, and Redis the bucket; only losing both at once loses a timer.
 *
 * Writes go to the record first, then the index; a crash between them leaves a record the next
 * start-up indexes. A fired timer is removed only after its tick's alerts and state are stored.
 */
export class TimerStore {
  readonly #kv: KV;
  /** Every record's last value, in one pass (the index rebuild). */
  readonly #readAll: () => Promise<Map<string, Uint8Array>>;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #partitionOf: (residentId: string) => number;
  readonly #log: Logger;
  readonly #marker: string;
  readonly #copyPrefix: string;
  readonly #partitions: number;
  #checkedAt = Number.NEGATIVE_INFINITY;
  /** When a full bucket was last logged (`#refused`). */
  #fullToldAt = Number.NEGATIVE_INFINITY;
  /** Timers `due` gave to fire while Redis refuses writes: each once a refusal (see `due`). */
  readonly #givenRefusing = new Set<string>();
  #rebuilding: Promise<number> | undefined;
  /** Called when Redis was found to have lost the index (flushed, or restarted empty). */
  onIndexLost: ((indexed: number) => void) | undefined;
  /** Told of every record written (one JetStream publish each), by operation and rule. */
  onWrite: ((op: TimerWrite, ruleId: string) => void) | undefined;

  private constructor(deps: {
    kv: KV;
    readAll: () => Promise<Map<string, Uint8Array>>;
    redis: Redis;
    redisPrefix: string;
    partitions: number;
    partitionOf: (residentId: string) => number;
    logger: Logger;
  }) {
    this.#kv = deps.kv;
    this.#readAll = deps.readAll;
    this.#redis = deps.redis;
    this.#prefix = `${deps.redisPrefix}triage:timers:p`;
    this.#partitionOf = deps.partitionOf;
    this.#log = deps.logger.child({ component: 'timers' });
    this.#marker = `${deps.redisPrefix}triage:timers:indexed`;
    this.#copyPrefix = `${deps.redisPrefix}triage:timers:copy:p`;
    this.#partitions = deps.partitions;
  }

  static async open(deps: {
    nc: NatsConnection;
    names: Names;
    redis: Redis;
    partitions: number;
    partitionOf: (residentId: string) => number;
    logger: Logger;
    /** TELECARE_STREAM_REPLICAS, for the bucket when this creates it. */
    replicas?: number;
    /** TELECARE_JETSTREAM_MAX_BYTES, the store the bucket's bound is a share of. */
    storeBytes?: number | undefined;
  }): Promise<TimerStore> {
    const bucket = timerBucket(deps.names);
    const kv = await createBucket(deps.nc, bucket, { kind: 'triageTimers', history: 1 }, deps);
    const store = new TimerStore({
      ...deps,
      kv,
      readAll: () => lastValues(deps.nc, bucket),
      redisPrefix: deps.names.redisPrefix,
    });
    // JetStream lost the bucket and it was made again empty: the copies in Redis write it back.
    onBucketRecreated(deps.nc, bucket, async () => {
      const written = await store.writeBack();
      store.#log.warn(
        { written },
        'timer records written back from their copies to the bucket JetStream had lost',
      );
    });
    return store;
  }

  indexKey(partition: number): string {
    return `${this.#prefix}${partition}`;
  }

  /** The Redis hash that holds a copy of each record of a partition's timers. */
  copyKey(partition: number): string {
    return `${this.#copyPrefix}${partition}`;
  }

  /**
   * Writes every timer's copy back to the bucket as its record, where the bucket has none (a
   * create: a record written meanwhile is as new or newer, and stays). A copy removed while it
   * was written back (the timer fired or was cancelled meanwhile) has its record removed again.
   * Every instance does it when the bucket is made again (all follow the same bucket); the
   * creates of all but the first are refused. `stored` names the timers known to have a record
   * (they are skipped). Returns how many records it wrote.
   */
  async writeBack(stored: (timerId: string) => boolean = () => false): Promise<number> {
    let written = 0;
    for (const hash of this.#copyKeys()) {
      for await (const batch of this.#redis.hscanStream(hash, { count: WRITE_BACK_BATCH })) {
        const pairs = batch as string[];
        const copies: Array<{ id: string; json: string; ruleId: string }> = [];
        for (let i = 0; i + 1 < pairs.length; i += 2) {
          const id = pairs[i] as string;
          const json = pairs[i + 1] as string;
          const parsed = Timer.safeParse(readJson(json));
          if (parsed.success && parsed.data.id === id && !stored(id))
            copies.push({ id, json, ruleId: parsed.data.ruleId });
        }
        if (copies.length === 0) continue;
        const created = await Promise.all(
          copies.map((copy) =>
            this.#kv.create(keyOf(copy.id), copy.json).then(
              () => true,
              (err: unknown) => {
                if (alreadyThere(err)) return false;
                throw err;
              },
            ),
          ),
        );
        const made = copies.filter((_, i) => created[i]);
        for (const copy of made) this.onWrite?.('put', copy.ruleId);
        written += made.length;
        if (made.length === 0) continue;
        const now = await this.#redis.hmget(hash, ...made.map((copy) => copy.id));
        for (const [i, copy] of made.entries())
          if (now[i] !== copy.json) {
            await this.#kv.purge(keyOf(copy.id));
            this.onWrite?.('purge', copy.ruleId);
          }
      }
    }
    return written;
  }

  /**
   * Indexes every durable record again (start-up, or after Redis lost the index). It only adds or
   * moves entries earlier (`LT`): other instances write the index meanwhile, so a record read here
   * may already be older than its entry, and `due` puts right an entry that is early or whose
   * record is gone, never one that is late.
   */
  async rebuildIndex(): Promise<number> {
    this.#rebuilding ??= this.#rebuild().finally(() => {
      this.#rebuilding = undefined;
    });
    return this.#rebuilding;
  }

  async #rebuild(): Promise<number> {
    const records = await this.#readAll();
    const pipeline = this.#redis.pipeline();
    let count = 0;
    for (const [key, data] of records) {
      const parsed = Timer.safeParse(readJson(data));
      if (!parsed.success) {
        this.#log.warn({ key }, 'unreadable timer record dropped');
        await this.#kv.purge(key);
        this.onWrite?.('purge', 'unknown');
        continue;
      }
      const timer = parsed.data;
      const partition = this.#partitionOf(timer.residentId);
      pipeline.zadd(this.indexKey(partition), 'LT', timer.dueAt, timer.id);
      // A copy written meanwhile by an instance's own write is as new or newer: it stays.
      pipeline.hsetnx(this.copyKey(partition), timer.id, new TextDecoder().decode(data));
      count++;
    }
    // The marker says the index is whole; Redis losing its data loses the marker with it.
    pipeline.set(this.#marker, '1');
    await pipeline.exec();
    // JetStream lost the bucket while no instance ran (nothing saw it made again): the copies of
    // records it lacks are written back. Usually there are none, and nothing is written.
    let copies = 0;
    for (const hash of this.#copyKeys()) copies += await this.#redis.hlen(hash);
    if (copies > count) {
      const written = await this.writeBack((id) => records.has(keyOf(id)));
      if (written > 0)
        this.#log.warn({ written }, 'timer records the bucket lacked written back from their copies');
    }
    return count;
  }

  /** Every partition's copies hash. */
  #copyKeys(): string[] {
    return Array.from({ length: this.#partitions }, (_, partition) => this.copyKey(partition));
  }

  /**
   * Redis can lose the index while triage runs (FLUSHALL, a restart without persistence, a
   * failover to an empty replica). Checked at most once a second by the loops that read the
   * index: when the marker is gone, the index is rebuilt from the durable records at once.
   */
  async #indexWhole(): Promise<void> {
    const wall = performance.now();
    if (wall - this.#checkedAt < 1_000) return;
    this.#checkedAt = wall;
    if ((await this.#redis.exists(this.#marker)) === 1) return;
    const indexed = await this.rebuildIndex();
    this.#log.warn(
      { indexed },
      'Redis lost the timer index (flushed or restarted empty): rebuilt from the durable records',
    );
    this.onIndexLost?.(indexed);
  }

  /**
   * Stores one evaluation's timer commands. Only the last command per timer matters, and those are
   * independent of each other, so they go out at once: one round trip to JetStream, not one each.
   * An evaluation is one resident's (`residentId`), and so are the timers it cancels: their index
   * entries are in that resident's partition. (One left elsewhere, by a change in the number of
   * partitions, is dropped by `due` when it comes up: its record is gone.)
   */
  async apply(
    all: readonly TimerCommand[],
    residentId: string,
    /**
     * More Redis writes to send with the index's (the resident's state), after them. It may return
     * a step that reads the answer of the one command it added (its failure too), once the others
     * are all answered.
     */
    also?: (redis: ScriptWrites) => ((answer: [Error | null, unknown]) => Promise<void>) | undefined,
  ): Promise<void> {
    const commands = all.length === 0 ? [] : lastPerTimer(all);
    if (commands.length === 0 && also === undefined) return;
    // Redis away: the records would be written again with the next try, for nothing.
    const away = RedisAway.of(this.#redis);
    away.check("the timers' index and the state");
    // Each record's JSON, once: the bucket's record and its copy beside the index.
    const records = commands.map((command) =>
      command.op === 'set' ? JSON.stringify(command.timer) : undefined,
    );
    if (commands.length > 0) {
      const stored = await Promise.allSettled(
        commands.map((command, i) =>
          command.op === 'set'
            ? this.#kv.put(keyOf(command.timer.id), records[i] as string)
            : this.#kv.purge(keyOf(command.id)),
        ),
      );
      const failed = stored.find(
        (settled): settled is PromiseRejectedResult =>
          settled.status === 'rejected' && !(settled.reason instanceof BucketFullError),
      );
      if (failed)
        throw new TransientError('could not store timers', {
          cause: failed.reason,
          context: { dependency: 'nats' },
        });
      for (const [i, command] of commands.entries())
        if (stored[i]?.status === 'rejected') this.#refused(command, stored[i].reason);
        else if (command.op === 'set') this.onWrite?.('put', command.timer.ruleId);
        else this.onWrite?.('purge', ruleOfId(command.id));
    }
    let results: Array<[Error | null, unknown]>;
    let then: ((answer: [Error | null, unknown]) => Promise<void>) | undefined;
    try {
      // Sent on the client rather than in a pipeline of their own: its auto-pipelining puts them in
      // one socket write with the commands every other event in hand issued in the same turn (a
      // write per event was a tenth of triage's CPU), still in this order, each answered on its own.
      const writes: Array<Promise<unknown>> = [];
      const own = this.#partitionOf(residentId);
      for (const [i, command] of commands.entries()) {
        if (command.op === 'set') {
          const partition = this.#partitionOf(command.timer.residentId);
          writes.push(this.#redis.zadd(this.indexKey(partition), command.timer.dueAt, command.timer.id));
          writes.push(this.#redis.hset(this.copyKey(partition), command.timer.id, records[i] as string));
        } else {
          writes.push(this.#redis.zrem(this.indexKey(own), command.id));
          writes.push(this.#redis.hdel(this.copyKey(own), command.id));
        }
      }
      then = also?.({
        evalsha: (sha, keys, ...args) => {
          writes.push(this.#redis.evalsha(sha, keys, ...args));
        },
      });
      // Not waited for once Redis is away: the event is tried again, and its writes with it.
      results = (await away.write("the timers' index and the state", () => Promise.allSettled(writes))).map(
        (settled) =>
          settled.status === 'fulfilled' ? [null, settled.value] : [asError(settled.reason), null],
      );
    } catch (err) {
      throw new TransientError("could not write the timers' index or the state", {
        cause: err,
        context: { dependency: 'redis' },
      });
    }
    // Each command is answered on its own: one refused (out of memory, say) is a failure too.
    const answers = then === undefined ? results : results.slice(0, -1);
    const refused = answers.find(([err]) => err !== null)?.[0];
    if (refused)
      throw new TransientError("could not write the timers' index or the state", {
        cause: away.failure("the timers' index and the state", refused),
        context: { dependency: 'redis' },
      });
    if (!then) return;
    try {
      await away.write('the state', () => then(results.at(-1) ?? [new Error('no answer'), null]));
    } catch (err) {
      throw new TransientError('could not save the state', { cause: err, context: { dependency: 'redis' } });
    }
  }

  /**
   * The bucket is full (its share of the store, `BucketFullError`) and refused a timer's record: a
   * new timer, or one moved (the bucket keeps its record as it was), or the purge of one it does
   * not hold (nothing to remove; a purge of one it holds is taken). Failing the event for it would hand the event back for as long as the bucket stays
   * full, holding up the resident's alarms behind it; so the timer is kept in Redis only (its index
   * entry and copy, written next), where it fires on time, and only a loss of Redis meanwhile loses
   * it (or moves it back to its record in the bucket). Counted (`refused`) and logged, at most once a minute: the bucket's gauge and alert say why.
   */
  #refused(command: TimerCommand, err: unknown): void {
    if (command.op !== 'set') return;
    this.onWrite?.('refused', command.timer.ruleId);
    const now = Date.now();
    if (now - this.#fullToldAt < FULL_TOLD_EVERY_MS) return;
    this.#fullToldAt = now;
    this.#log.error(
      { err, timer: command.timer.id },
      'timer bucket full: new timers are kept in Redis only until it has room (grow TELECARE_JETSTREAM_MAX_BYTES)',
    );
  }

  /**
   * A per-home alert held for an area decision: the alert is stored in its timer's record, so it
   * is as durable as the timer (a lost Redis loses neither), and setting it again moves it.
   */
  async hold(timer: Timer, alert: Alert): Promise<void> {
    const record = JSON.stringify({ ...timer, alert });
    const away = RedisAway.of(this.#redis);
    away.check('a held alert');
    try {
      await this.#kv.put(keyOf(timer.id), record);
      this.onWrite?.('put', timer.ruleId);
    } catch (err) {
      if (err instanceof BucketFullError) this.#refused({ op: 'set', timer }, err);
      else
        throw new TransientError('could not store a held alert', {
          cause: err,
          context: { dependency: 'nats' },
        });
    }
    try {
      const partition = this.#partitionOf(timer.residentId);
      await away.write('a held alert', () =>
        sent(
          this.#redis
            .pipeline()
            .zadd(this.indexKey(partition), timer.dueAt, timer.id)
            .hset(this.copyKey(partition), timer.id, record),
        ),
      );
    } catch (err) {
      if (err instanceof RedisAwayError) throw err;
      throw new TransientError('could not index timers', { cause: err, context: { dependency: 'redis' } });
    }
  }

  /**
   * A timer's record: the bucket's, or, when the bucket has none, its copy beside the index (the
   * bucket was lost and is not written back yet). Undefined when neither holds it.
   */
  async #record(timerId: string, partition: number): Promise<{ value: unknown; copy: boolean } | undefined> {
    const entry = await this.#kv.get(keyOf(timerId));
    if (entry?.operation === 'PUT') return { value: entry.json(), copy: false };
    const copy = await RedisAway.of(this.#redis).read("a timer's copy", () =>
      this.#redis.hget(this.copyKey(partition), timerId),
    );
    return copy === null ? undefined : { value: readJson(copy), copy: true };
  }

  /** The alert a hold timer carries, or undefined when its record is gone or unreadable. */
  async heldAlert(timer: Timer): Promise<Alert | undefined> {
    const record = await this.#record(timer.id, this.#partitionOf(timer.residentId));
    const parsed = Alert.safeParse((record?.value as { alert?: unknown } | undefined)?.alert);
    return parsed.success ? parsed.data : undefined;
  }

  /**
   * Timers of a partition due by `now`, earliest first (their records; stale index entries dropped).
   * The index entries it finds wrong are put right by one write, sent as it returns and not waited
   * for (the next read, on the same connection, comes after it), and not sent at all while Redis is
   * away (the next read finds them again). Each was waited for, one after another: a Redis that
   * stopped right after the read held the partition lane (its next pull, and every event behind
   * it) for the command timeout (5 s) an entry.
   * Fails at once (`RedisAwayError`) while Redis is away. While it answers but refuses writes, each
   * due timer is given once (`#givenRefusing`): firing takes writes (its removal, the state's save),
   * so a timer given every round would be decided again every round of its lane, its alert stored
   * again each time; given once, its alert is stored while Redis refuses (an absence check is not
   * held back for the whole refusal), and it is decided again, under the same alert id, and removed
   * once writes are taken.
   */
  async due(partition: number, now: number, limit = 50): Promise<Timer[]> {
    const away = RedisAway.of(this.#redis);
    if (away.refusing === undefined) this.#givenRefusing.clear();
    const ids = await away.read('a due timers read', async () => {
      await this.#indexWhole();
      return this.#redis.zrangebyscore(this.indexKey(partition), '-inf', now, 'LIMIT', 0, limit);
    });
    const timers: Timer[] = [];
    const corrections = this.#redis.pipeline();
    for (const id of ids) {
      const record = await this.#record(id, partition);
      const parsed = record === undefined ? undefined : Timer.safeParse(record.value);
      // The record is gone, and its copy with it (cancelled or fired), or a copy is all that is left
      // in another partition than its resident's (a cancel removes the copy in the resident's
      // partition only): the index entry is stale.
      if (
        !parsed?.success ||
        (record?.copy === true && this.#partitionOf(parsed.data.residentId) !== partition)
      ) {
        corrections.zrem(this.indexKey(partition), id).hdel(this.copyKey(partition), id);
        continue;
      }
      // An entry another number of partitions left here: the timer is its resident's partition's
      // (a timer that lives on, moved by each set, such as a device's check, keeps its record).
      const home = this.#partitionOf(parsed.data.residentId);
      if (home !== partition) {
        corrections
          .zadd(this.indexKey(home), parsed.data.dueAt, id)
          .hset(this.copyKey(home), id, JSON.stringify(record?.value))
          .zrem(this.indexKey(partition), id)
          .hdel(this.copyKey(partition), id);
        continue;
      }
      if (parsed.data.dueAt > now) {
        corrections.zadd(this.indexKey(partition), parsed.data.dueAt, id);
        continue;
      }
      timers.push(parsed.data);
    }
    if (corrections.length > 0 && away.writable)
      sent(corrections).catch((err: unknown) =>
        this.#log.warn(
          { err, partition },
          'could not put the timer index right; the next read finds it again',
        ),
      );
    if (away.refusing === undefined) return timers;
    const fresh = timers.filter((timer) => !this.#givenRefusing.has(timer.id));
    for (const timer of fresh) this.#givenRefusing.add(timer.id);
    return fresh;
  }

  /** The earliest due time in a partition's index, or undefined when it has none. */
  async nextDue(partition: number): Promise<number | undefined> {
    const [, score] = await RedisAway.of(this.#redis).read('a due timers read', () =>
      this.#redis.zrange(this.indexKey(partition), '0', '0', 'WITHSCORES'),
    );
    return score === undefined ? undefined : Number(score);
  }

  /** Removes a fired timer, unless the tick set it again (then its record is newer). */
  async fired(timer: Timer): Promise<void> {
    const entry = await this.#kv.get(keyOf(timer.id));
    if (entry && entry.operation === 'PUT') {
      const current = Timer.safeParse(entry.json());
      if (current.success && current.data.dueAt !== timer.dueAt) return;
      await this.#kv.purge(keyOf(timer.id));
      this.onWrite?.('purge', timer.ruleId);
    }
    const partition = this.#partitionOf(timer.residentId);
    await RedisAway.of(this.#redis).write('a fired timer', () =>
      sent(
        this.#redis
          .pipeline()
          .zrem(this.indexKey(partition), timer.id)
          .hdel(this.copyKey(partition), timer.id),
      ),
    );
  }

  async count(): Promise<number> {
    const status = await this.#kv.status();
    return status.values;
  }
}

/** A stored record's JSON, or undefined when it is not JSON. */
function readJson(data: Uint8Array | string): unknown {
  try {
    return JSON.parse(typeof data === 'string' ? data : new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}

/** Sends a pipeline; a command Redis refused (each is answered on its own) fails it too. */
async function sent(pipeline: ChainableCommander): Promise<void> {
  const refused = (await pipeline.exec())?.find(([err]) => err !== null)?.[0];
  if (refused) throw refused;
}

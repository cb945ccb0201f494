import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { Names } from '@telecare/contracts';
import {
  type BucketFollower,
  type Clock,
  createBucket,
  followBucket,
  headers,
  isWrongRevision,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type KvEntry,
  type Logger,
  type NatsConnection,
  onBucketRecreated,
  type Redis,
  STREAM_CHECK_MS,
  TelecareError,
  TransientError,
} from '@telecare/platform';
import { parseRuleSet, type RuleSet, RuleSetError, type RuleSetIssue } from '@telecare/rules';
import { z } from 'zod';
import { type AnswersAgain, RedisAway, RedisAwayError } from './redis-away.ts';

/** The bucket's one key: the rule set in force. Its history is the record of earlier versions. */
const KEY = 'in-force';

/** Versions kept: the most a NATS 2.9 bucket keeps per key. The copy in Redis keeps as many. */
const HISTORY = 64;

/** How many times a write-back reads the bucket again after another instance wrote first. */
const WRITE_BACK_ROUNDS = 2 * HISTORY;

type Operation = 'PUT' | 'DEL' | 'PURGE';

/**
 * One entry of the key's history as the bucket holds it: its revision, its operation (a removal
 * by hand is history too) and its value exactly as stored, so that it can be written back as it was.
 */
interface HistoryEntry {
  readonly revision: number;
  readonly operation: Operation;
  readonly value: string;
}

/** An entry of the copy in Redis (field = the revision). */
const CopiedEntry = z.object({ operation: z.enum(['PUT', 'DEL', 'PURGE']), value: z.string() });

const entryOf = (entry: KvEntry): HistoryEntry => ({
  revision: entry.revision,
  operation: entry.operation,
  value: entry.operation === 'PUT' ? entry.string() : '',
});

const sameEntry = (a: HistoryEntry, b: HistoryEntry): boolean =>
  a.operation === b.operation && a.value === b.value;

/** What the bucket would keep of these entries: nothing before the last purge, the last HISTORY. */
function bounded(entries: Iterable<HistoryEntry>): HistoryEntry[] {
  const sorted = [...entries].sort((a, b) => a.revision - b.revision);
  const purged = sorted.findLastIndex((entry) => entry.operation === 'PURGE');
  return sorted.slice(Math.max(purged, 0)).slice(-HISTORY);
}

/**
 * A stored rule set, as put, with when and by whom. The rule set itself is checked with
 * `parseRuleSet` whenever it is read, not here: the rules' schema may have changed since.
 */
const StoredRules = z.object({
  ruleSet: z.unknown(),
  putAt: z.string(),
  putBy: z.string().optional(),
});

export interface RulesInForce {
  readonly ruleSet: RuleSet;
  /**
   * `stored`: the bucket's rule set. `default`: nothing valid is stored, so the set triage was
   * started with runs (`TRIAGE_RULES_FILE`, else the built-in set).
   */
  readonly source: 'stored' | 'default';
  /** The key's last revision in the bucket (0: never written): what the next put is based on. */
  readonly revision: number;
  readonly putAt?: string;
  readonly putBy?: string;
  /** The stored set, when it no longer validates and the default rules run instead. */
  readonly refused?: {
    readonly version: number | null;
    readonly issues: readonly RuleSetIssue[];
  };
}

/** One version in the bucket's history. */
export interface RulesVersion {
  readonly revision: number;
  readonly version: number | null;
  readonly rules: number | null;
  readonly putAt: string;
  readonly putBy?: string;
}

export type RulesConflict = 'stale-revision' | 'version-not-greater';

/** A put refused because of the set in force: another put came first, or the version does not grow. */
export class RulesConflictError extends TelecareError {
  readonly retryable = false;
  readonly reason: RulesConflict;
  readonly inForce: RulesInForce;

  constructor(reason: RulesConflict, message: string, inForce: RulesInForce) {
    super(message, { context: { reason, revision: inForce.revision, version: inForce.ruleSet.version } });
    this.reason = reason;
    this.inForce = inForce;
  }
}

/** A stored record, or undefined when the entry is not one (not JSON, or not of this shape). */
function recordOf(entry: KvEntry): z.infer<typeof StoredRules> | undefined {
  let raw: unknown;
  try {
    raw = entry.json();
  } catch {
    return undefined;
  }
  const record = StoredRules.safeParse(raw);
  return record.success ? record.data : undefined;
}

/** The version a stored rule set says it is, read without validating the set. */
function versionOf(ruleSet: unknown): number | null {
  const version = (ruleSet as { version?: unknown } | null | undefined)?.version;
  return typeof version === 'number' ? version : null;
}

/** What an entry of the key (or its absence) puts in force. Never throws: a bad record means the defaults. */
function inForceOf(entry: KvEntry | null, fallback: RuleSet): RulesInForce {
  const revision = entry?.revision ?? 0;
  if (entry?.operation !== 'PUT') return { ruleSet: fallback, source: 'default', revision };
  const record = recordOf(entry);
  if (!record) {
    const issues = [{ path: '(record)', message: 'not a stored rule set' }];
    return { ruleSet: fallback, source: 'default', revision, refused: { version: null, issues } };
  }
  const { ruleSet, putAt, putBy } = record;
  try {
    return {
      ruleSet: parseRuleSet(ruleSet),
      source: 'stored',
      revision,
      putAt,
      ...(putBy ? { putBy } : {}),
    };
  } catch (err) {
    if (!(err instanceof RuleSetError)) throw err;
    return {
      ruleSet: fallback,
      source: 'default',
      revision,
      refused: { version: versionOf(ruleSet), issues: err.issues },
    };
  }
}

const fieldsOf = (entries: readonly HistoryEntry[]): Record<string, string> =>
  Object.fromEntries(
    entries.map((entry) => [
      String(entry.revision),
      JSON.stringify({ operation: entry.operation, value: entry.value }),
    ]),
  );

/** Throws the first error of a Redis pipeline's replies. */
function failed(replies: Array<[Error | null, unknown]> | null): void {
  for (const [err] of replies ?? []) if (err) throw err;
}

const wrongRevision = isWrongRevision;

/**
 * The rule set in force, kept in a NATS KV bucket so that it survives a restart and every triage
 * instance runs the same one: each follows the bucket with a watch and puts what is stored in
 * force. A put is a compare-and-set on the revision it was based on, so two admins changing the
 * rules at once cannot silently overwrite each other. Nothing stored, or a stored set that no
 * longer validates (the schema changed under it), runs the default rules: a bad record must never
 * stop triage from starting.
 */
export class RulesStore {
  readonly #kv: KV;
  readonly #bucket: string;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #redis: Redis;
  /** The Redis hash holding a copy of the key's history (field = revision). */
  readonly #copyKey: string;
  readonly #fallback: RuleSet;
  readonly #clock: Clock;
  readonly #log: Logger;
  /** Work on the copy, one at a time: its writes, and a write-back from it. */
  #copying: Promise<unknown> = Promise.resolve();
  readonly #listeners: Array<(ruleSet: RuleSet) => void | Promise<void>> = [];
  #inForce: RulesInForce;
  /** The listeners' work on the set in force: a put answers once it is done. */
  #applied: Promise<void> = Promise.resolve();
  #following: BucketFollower | undefined;
  #checkingCopy: NodeJS.Timeout | undefined;
  /** Entries not copied because Redis was away: copied once it answers again. */
  #owed: HistoryEntry[] = [];
  #waitingForRedis: AnswersAgain | undefined;

  private constructor(deps: {
    kv: KV;
    bucket: string;
    js: JetStreamClient;
    jsm: JetStreamManager;
    redis: Redis;
    redisPrefix: string;
    fallback: RuleSet;
    clock: Clock;
    logger: Logger;
  }) {
    this.#kv = deps.kv;
    this.#bucket = deps.bucket;
    this.#js = deps.js;
    this.#jsm = deps.jsm;
    this.#redis = deps.redis;
    this.#copyKey = `${deps.redisPrefix}triage:rules:history`;
    this.#fallback = deps.fallback;
    this.#clock = deps.clock;
    this.#log = deps.logger.child({ component: 'rules' });
    this.#inForce = { ruleSet: deps.fallback, source: 'default', revision: 0 };
  }

  /**
   * Opens (creating if missing) the bucket, brings it and the copy of its history in step (a
   * bucket lost while no instance ran gets its history back), puts the stored set in force, and
   * follows the bucket.
   */
  static async open(deps: {
    nc: NatsConnection;
    names: Names;
    /** Where the copy of the history is kept. */
    redis: Redis;
    /** What runs when nothing valid is stored. */
    fallback: RuleSet;
    clock: Clock;
    logger: Logger;
    /** TELECARE_STREAM_REPLICAS, for the bucket when this creates it. */
    replicas?: number;
    /** TELECARE_JETSTREAM_MAX_BYTES, the store the bucket's bound is a share of. */
    storeBytes?: number | undefined;
  }): Promise<RulesStore> {
    const bucket = deps.names.kv.triageRules;
    const kv = await createBucket(deps.nc, bucket, { kind: 'triageRules', history: HISTORY }, deps);
    const store = new RulesStore({
      ...deps,
      kv,
      bucket,
      js: jetstream(deps.nc),
      jsm: await jetstreamManager(deps.nc),
      redisPrefix: deps.names.redisPrefix,
    });
    await store.#reconcile();
    const entry = await kv.get(KEY);
    void store.#take(entry);
    if (!entry) {
      store.#log.info(
        { ruleSetVersion: deps.fallback.version, rules: deps.fallback.rules.length },
        'no rule set stored: the default rules are in force',
      );
    }
    // JetStream lost the bucket and it was made again empty: the copy writes its history back.
    onBucketRecreated(deps.nc, bucket, () => store.#reconcile());
    // Redis can lose the copy (flushed, restarted empty): it is copied again from the bucket.
    store.#checkingCopy = setInterval(() => void store.#checkCopy(), STREAM_CHECK_MS);
    store.#checkingCopy.unref();
    store.#following = followBucket(kv, {
      key: KEY,
      onEntry: (next) => {
        void store.#take(next);
        // Whoever wrote it (another instance, or by hand): every instance copies what it sees.
        store.#copyLater([entryOf(next)]);
      },
      what: 'rule set',
      logger: store.#log,
    });
    return store;
  }

  get inForce(): RulesInForce {
    return this.#inForce;
  }

  /**
   * Called with each rule set put in force after start-up, whichever instance put it. A put on
   * this instance answers once the listeners' promises resolved; they must not reject.
   */
  onChange(listener: (ruleSet: RuleSet) => void | Promise<void>): void {
    this.#listeners.push(listener);
  }

  /**
   * Stores a validated rule set and puts it in force. `basedOn` is the revision the caller read
   * (default: the one this instance has in force); if the bucket has moved on since, or the
   * version is not above the one in force, it throws a RulesConflictError and nothing changes.
   */
  async put(ruleSet: RuleSet, options: { basedOn?: number; by?: string } = {}): Promise<RulesInForce> {
    const current = this.#inForce;
    const floor = Math.max(current.ruleSet.version, current.refused?.version ?? 0);
    if (ruleSet.version <= floor) {
      throw new RulesConflictError(
        'version-not-greater',
        `version ${ruleSet.version} is not above version ${floor}, the latest stored or in force: give the new rule set a higher version`,
        current,
      );
    }
    const basedOn = options.basedOn ?? current.revision;
    // Revisions only grow, also across a bucket written back after a loss: an older one is stale.
    // Refused here, because while the history is written back the bucket has not reached it yet.
    if (basedOn < current.revision) {
      throw new RulesConflictError(
        'stale-revision',
        `the rule set changed since revision ${basedOn} (now revision ${current.revision}, version ${current.ruleSet.version}): read it again and put yours on top`,
        current,
      );
    }
    const putAt = new Date(this.#clock.now()).toISOString();
    const record = JSON.stringify({ ruleSet, putAt, ...(options.by ? { putBy: options.by } : {}) });
    let revision: number;
    try {
      revision =
        basedOn === 0 ? await this.#kv.create(KEY, record) : await this.#kv.update(KEY, record, basedOn);
    } catch (err) {
      if (!wrongRevision(err))
        throw new TransientError('could not store the rule set', {
          cause: err,
          context: { dependency: 'nats' },
        });
      const latest = inForceOf(await this.#kv.get(KEY), this.#fallback);
      throw new RulesConflictError(
        'stale-revision',
        `the rule set changed since revision ${basedOn} (now revision ${latest.revision}, version ${latest.ruleSet.version}): read it again and put yours on top`,
        latest,
      );
    }
    // Copied before it answers; a failed copy does not undo the put (the next reconcile copies it,
    // or, Redis away, the copy once Redis answers again: it is not waited for meanwhile).
    const entry: HistoryEntry = { revision, operation: 'PUT', value: record };
    await this.#copyNow([entry]).catch((err: unknown) => this.#notCopied([entry], err));
    // In force here before it answers: the next event runs it, without waiting for the watch to bring it back.
    await this.#take(null, {
      ruleSet,
      source: 'stored',
      revision,
      putAt,
      ...(options.by ? { putBy: options.by } : {}),
    });
    return this.#inForce;
  }

  /**
   * Brings the bucket and the copy of its history in Redis in step, at start and each time the
   * bucket was made again after JetStream lost it (platform `keepBuckets`):
   *
   * - entries the bucket has and the copy lacks are copied (the copy keeps what the bucket keeps);
   * - entries the copy has past the bucket's last revision are written back, oldest first, each at
   *   the revision it had (an emptied stream is started at the first one's sequence), so the
   *   history and the revision in force read after a loss are those read before, and a put based
   *   on that revision goes on top. The set in force here is one of them if the copy missed it;
   * - every write is a compare-and-set on the key's last revision: instances that all saw the
   *   bucket made again write each entry once between them, whoever comes first; one whose write
   *   is refused reads the bucket again and goes on from there;
   * - a bucket whose entries disagree with the copy (written anew before the copy could write it
   *   back) is the record: the copy becomes a copy of it, and nothing older is written on top.
   *
   * Throws when Redis or NATS cannot be read or written; `keepBuckets` tries again at its next check.
   */
  #reconcile(): Promise<void> {
    const run = this.#copying.then(() => this.#bringInStep());
    this.#copying = run.catch(() => {});
    return run;
  }

  async #bringInStep(): Promise<void> {
    for (let round = 0; round < WRITE_BACK_ROUNDS; round++) {
      const bucket: HistoryEntry[] = [];
      for await (const entry of await this.#kv.history({ key: KEY })) bucket.push(entryOf(entry));
      const copy = await this.#readCopy();
      const copied = Math.max(0, ...copy.keys());
      const oldest = Math.min(...copy.keys());
      // An entry the copy lacks within the revisions it holds was not put in this history.
      const disagrees = bucket.find((entry) => {
        const kept = copy.get(entry.revision);
        return kept ? !sameEntry(kept, entry) : entry.revision > oldest && entry.revision < copied;
      });
      if (disagrees) {
        this.#log.error(
          { revision: disagrees.revision, copied: copy.size, stored: bucket.length },
          'the rules bucket disagrees with the copy of its history: the copy now follows the bucket',
        );
        await this.#replaceCopy(bucket);
        return;
      }
      const last = bucket.at(-1)?.revision ?? 0;
      const known = new Map(copy);
      for (const entry of bucket) known.set(entry.revision, entry);
      const inForce = this.#inForceEntry();
      if (inForce && inForce.revision > last && !known.has(inForce.revision))
        known.set(inForce.revision, inForce);
      const kept = bounded(known.values());
      await this.#writeCopy(kept, copy);
      const owed = kept.filter((entry) => entry.revision > last);
      // A removal with nothing before it to remove carries nothing.
      while (last === 0 && owed[0] && owed[0].operation !== 'PUT') owed.shift();
      if (owed.length === 0) return;
      try {
        let revision = last;
        for (const entry of owed) revision = await this.#writeBack(entry, revision);
        this.#log.warn(
          { written: owed.length, revision },
          'rule set history written back to its bucket, which JetStream had lost',
        );
        return;
      } catch (err) {
        // Another instance wrote the next entry first: read the bucket again and go on from there.
        if (!wrongRevision(err)) throw err;
      }
    }
    throw new TransientError('the rule set history could not be written back: its bucket kept changing', {
      context: { dependency: 'nats', bucket: this.#bucket },
    });
  }

  /** Writes one entry of the history after `last`, at its own revision if it can; returns the one it got. */
  async #writeBack(entry: HistoryEntry, last: number): Promise<number> {
    const stream = `KV_${this.#bucket}`;
    if (last === 0) {
      // The stream was made again from sequence 1: it starts at the entry's, so revisions stay as they were.
      const { state } = await this.#jsm.streams.info(stream);
      if (state.messages === 0 && state.last_seq < entry.revision - 1)
        await this.#jsm.streams.purge(stream, { seq: entry.revision });
    }
    const h = headers();
    if (entry.operation !== 'PUT') h.set('KV-Operation', entry.operation);
    if (entry.operation === 'PURGE') h.set('Nats-Rollup', 'sub');
    const ack = await this.#js.publish(`$KV.${this.#bucket}.${KEY}`, entry.value, {
      headers: h,
      expect: { lastSubjectSequence: last },
    });
    if (ack.seq !== entry.revision) {
      this.#log.warn(
        { revision: entry.revision, writtenAs: ack.seq },
        'rule set history entry written back at another revision (the copy had a gap)',
      );
      if (this.#inForce.revision === entry.revision) this.#inForce = { ...this.#inForce, revision: ack.seq };
    }
    return ack.seq;
  }

  /** The set in force here as its stored record, when it is a stored one. */
  #inForceEntry(): HistoryEntry | undefined {
    const inForce = this.#inForce;
    if (inForce.source !== 'stored' || inForce.revision === 0) return undefined;
    const value = JSON.stringify({
      ruleSet: inForce.ruleSet,
      putAt: inForce.putAt,
      ...(inForce.putBy ? { putBy: inForce.putBy } : {}),
    });
    return { revision: inForce.revision, operation: 'PUT', value };
  }

  /** When Redis lost the copy of a history the bucket has, copies it again (a cheap check, as often as the keeper's). */
  async #checkCopy(): Promise<void> {
    if (this.#inForce.revision === 0) return;
    try {
      if (
        (await RedisAway.of(this.#redis).read('the rule set history copy', () =>
          this.#redis.exists(this.#copyKey),
        )) > 0
      )
        return;
      this.#log.warn(
        { revision: this.#inForce.revision },
        'Redis lost the copy of the rule set history: copying it again',
      );
      await this.#reconcile();
    } catch (err) {
      // Redis away is logged once, as it goes (`RedisAway`), not at every check.
      if (!(err instanceof RedisAwayError))
        this.#log.warn({ err }, 'could not check the copy of the rule set history; the next check retries');
    }
  }

  /** Adds entries to the copy in the background (from the watch); a failure is put right at the next reconcile. */
  #copyLater(entries: HistoryEntry[]): void {
    this.#copyNow(entries).catch((err: unknown) => this.#notCopied(entries, err));
  }

  /**
   * A copy that failed: put right at the next reconcile, or, when Redis is away (its commands refused
   * at once, not waited for: each waited the command timeout, 5 s, a put's answer with them), made
   * as soon as Redis answers again.
   */
  #notCopied(entries: HistoryEntry[], err: unknown): void {
    if (!(err instanceof RedisAwayError)) {
      this.#log.warn({ err }, 'rule set history entry not copied to Redis; copied at the next check');
      return;
    }
    this.#owed.push(...entries);
    if (this.#waitingForRedis !== undefined) return;
    this.#log.info(
      { revisions: entries.map((entry) => entry.revision) },
      'rule set history entry not copied while Redis is away; copied once it answers',
    );
    const redisAway = RedisAway.of(this.#redis);
    const waiting = redisAway.answersAgain();
    this.#waitingForRedis = waiting;
    const copyOwed = (): void => {
      this.#waitingForRedis = undefined;
      this.#copyLater(this.#owed.splice(0));
    };
    // Back already (a wait that ended before this one began would never end it).
    if (redisAway.writable) {
      waiting.cancel();
      copyOwed();
    } else void waiting.ready.then(copyOwed);
  }

  /**
   * Adds entries newer than the copy's last to it. An older one it lacks is not added: it would be
   * an entry of a bucket written anew after a loss, which the next reconcile sorts out.
   */
  #copyNow(entries: HistoryEntry[]): Promise<void> {
    const run = this.#copying.then(async () => {
      const copy = await this.#readCopy();
      const copied = Math.max(0, ...copy.keys());
      const newer = entries.filter((entry) => entry.revision > copied);
      if (newer.length === 0) return;
      const known = new Map(copy);
      for (const entry of newer) known.set(entry.revision, entry);
      await this.#writeCopy(bounded(known.values()), copy);
    });
    this.#copying = run.catch(() => {});
    return run;
  }

  async #readCopy(): Promise<Map<number, HistoryEntry>> {
    const copy = new Map<number, HistoryEntry>();
    const all = await RedisAway.of(this.#redis).read('the rule set history copy', () =>
      this.#redis.hgetall(this.#copyKey),
    );
    for (const [field, raw] of Object.entries(all)) {
      const revision = Number(field);
      let parsed: ReturnType<typeof CopiedEntry.safeParse> | undefined;
      try {
        parsed = CopiedEntry.safeParse(JSON.parse(raw));
      } catch {
        parsed = undefined;
      }
      if (parsed?.success && Number.isSafeInteger(revision) && revision > 0)
        copy.set(revision, { revision, ...parsed.data });
    }
    return copy;
  }

  /**
   * Writes `kept` into the copy read as `before`, and removes what fell out of it. Fields are set
   * and removed one by one, never the hash replaced: an entry another instance adds meanwhile stays.
   */
  async #writeCopy(kept: readonly HistoryEntry[], before: ReadonlyMap<number, HistoryEntry>): Promise<void> {
    const keep = new Set(kept.map((entry) => entry.revision));
    const fresh = kept.filter((entry) => {
      const was = before.get(entry.revision);
      return !was || !sameEntry(was, entry);
    });
    const dropped = [...before.keys()].filter((revision) => !keep.has(revision));
    if (fresh.length === 0 && dropped.length === 0) return;
    const pipeline = this.#redis.pipeline();
    if (fresh.length > 0) pipeline.hset(this.#copyKey, fieldsOf(fresh));
    if (dropped.length > 0) pipeline.hdel(this.#copyKey, ...dropped.map(String));
    failed(await RedisAway.of(this.#redis).write('the rule set history copy', () => pipeline.exec()));
  }

  async #replaceCopy(bucket: readonly HistoryEntry[]): Promise<void> {
    const kept = bounded(bucket);
    const multi = this.#redis.multi().del(this.#copyKey);
    if (kept.length > 0) multi.hset(this.#copyKey, fieldsOf(kept));
    failed(await RedisAway.of(this.#redis).write('the rule set history copy', () => multi.exec()));
  }

  /** The versions put, newest first (as many as the bucket keeps). */
  async history(): Promise<RulesVersion[]> {
    const versions: RulesVersion[] = [];
    for await (const entry of await this.#kv.history({ key: KEY })) {
      if (entry.operation !== 'PUT') continue;
      // A record of the past is listed as it is, valid under today's schema or not.
      const record = recordOf(entry);
      const rules = (record?.ruleSet as { rules?: unknown } | undefined)?.rules;
      versions.push({
        revision: entry.revision,
        version: versionOf(record?.ruleSet),
        rules: Array.isArray(rules) ? rules.length : null,
        putAt: record?.putAt ?? entry.created.toISOString(),
        ...(record?.putBy ? { putBy: record.putBy } : {}),
      });
    }
    return versions.reverse();
  }

  async close(): Promise<void> {
    clearInterval(this.#checkingCopy);
    this.#waitingForRedis?.cancel();
    await this.#following?.close();
    await this.#copying;
  }

  /**
   * Puts an entry of the key (or a set just stored here) in force, unless a later revision already
   * is; resolves once the listeners are done with it (or with the later one, which the watch may
   * have brought before a put got here).
   */
  #take(entry: KvEntry | null, stored?: RulesInForce): Promise<void> {
    const next = stored ?? inForceOf(entry, this.#fallback);
    if (next.revision !== 0 && next.revision <= this.#inForce.revision) return this.#applied;
    const previous = this.#inForce.ruleSet;
    this.#inForce = next;
    const context = {
      revision: next.revision,
      ruleSetVersion: next.ruleSet.version,
      rules: next.ruleSet.rules.length,
    };
    if (next.refused) {
      // Loud, and never fatal: a crash here would crash every restart too.
      this.#log.error(
        { ...context, storedVersion: next.refused.version, issues: next.refused.issues },
        'the stored rule set no longer validates: the default rules are in force until a valid one is put',
      );
    } else if (next.source === 'stored') {
      this.#log.info({ ...context, putAt: next.putAt, putBy: next.putBy }, 'stored rule set in force');
    } else if (entry) {
      this.#log.warn(context, 'the stored rule set was removed: the default rules are in force');
    }
    if (next.ruleSet !== previous)
      this.#applied = Promise.all(this.#listeners.map((listener) => listener(next.ruleSet))).then(() => {});
    return this.#applied;
  }
}

/**
 * The stored rule set of a namespace for a reader that does not run triage (replay): undefined
 * when the bucket does not exist. Does not create the bucket.
 */
export async function readStoredRules(
  nc: NatsConnection,
  names: Names,
  fallback: RuleSet,
): Promise<RulesInForce | undefined> {
  try {
    const kv = await new Kvm(nc).open(names.kv.triageRules);
    return inForceOf(await kv.get(KEY), fallback);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return undefined;
    throw err;
  }
}

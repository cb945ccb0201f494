import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { Names } from '@telecare/contracts';
import {
  type BucketFollower,
  type Clock,
  createBucket,
  followBucket,
  type KvEntry,
  type Logger,
  type NatsConnection,
  onBucketRecreated,
  TelecareError,
  TransientError,
} from '@telecare/platform';
import { parseRuleSet, type RuleSet, RuleSetError, type RuleSetIssue } from '@telecare/rules';
import { z } from 'zod';

/** The bucket's one key: the rule set in force. Its history is the record of earlier versions. */
const KEY = 'in-force';

/** Versions kept: the most a NATS 2.9 bucket keeps per key. */
const HISTORY = 64;

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

const wrongRevision = (err: unknown): boolean =>
  err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
    err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

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
  readonly #fallback: RuleSet;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #listeners: Array<(ruleSet: RuleSet) => void | Promise<void>> = [];
  #inForce: RulesInForce;
  /** The listeners' work on the set in force: a put answers once it is done. */
  #applied: Promise<void> = Promise.resolve();
  #following: BucketFollower | undefined;

  private constructor(deps: { kv: KV; fallback: RuleSet; clock: Clock; logger: Logger }) {
    this.#kv = deps.kv;
    this.#fallback = deps.fallback;
    this.#clock = deps.clock;
    this.#log = deps.logger.child({ component: 'rules' });
    this.#inForce = { ruleSet: deps.fallback, source: 'default', revision: 0 };
  }

  /** Opens (creating if missing) the bucket, puts the stored set in force, and follows the bucket. */
  static async open(deps: {
    nc: NatsConnection;
    names: Names;
    /** What runs when nothing valid is stored. */
    fallback: RuleSet;
    clock: Clock;
    logger: Logger;
    /** TELECARE_STREAM_REPLICAS, for the bucket when this creates it. */
    replicas?: number;
  }): Promise<RulesStore> {
    const kv = await createBucket(deps.nc, deps.names.kv.triageRules, { history: HISTORY }, deps);
    const store = new RulesStore({ ...deps, kv });
    const entry = await kv.get(KEY);
    void store.#take(entry);
    if (!entry) {
      store.#log.info(
        { ruleSetVersion: deps.fallback.version, rules: deps.fallback.rules.length },
        'no rule set stored: the default rules are in force',
      );
    }
    // JetStream lost the bucket and it was made again empty: the set in force is its record again.
    onBucketRecreated(deps.nc, deps.names.kv.triageRules, () => store.#restore());
    store.#following = followBucket(kv, {
      key: KEY,
      onEntry: (next) => void store.#take(next),
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
   * The bucket was made again after JetStream lost it (platform `keepBuckets`): the rule set in
   * force here, when it was a stored one, is written back, so that a triage started later runs it
   * too and the next put is based on the new revision. Another instance may have written it first
   * (they follow the same bucket, so it is the same set): its revision is taken.
   */
  async #restore(): Promise<void> {
    const inForce = this.#inForce;
    if (inForce.source !== 'stored') return;
    const record = JSON.stringify({
      ruleSet: inForce.ruleSet,
      putAt: inForce.putAt,
      ...(inForce.putBy ? { putBy: inForce.putBy } : {}),
    });
    let revision: number;
    try {
      revision = await this.#kv.create(KEY, record);
      this.#log.warn(
        { ruleSetVersion: inForce.ruleSet.version, revision },
        'the rule set in force written again to its bucket, which JetStream had lost',
      );
    } catch (err) {
      if (!wrongRevision(err)) throw err;
      revision = (await this.#kv.get(KEY))?.revision ?? 0;
    }
    this.#inForce = { ...this.#inForce, revision };
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
    await this.#following?.close();
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

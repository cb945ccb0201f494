import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KV } from '@nats-io/kv';
import { type Names, partitionOf } from '@telecare/contracts';
import {
  BUCKET_LOOK_TIMEOUT_MS,
  type BucketFollower,
  ConfigError,
  createBucket,
  followBucket,
  isNoResponders,
  isWrongRevision,
  type Logger,
  type NatsConnection,
  Pause,
} from '@telecare/platform';
import type { TriageMetrics } from './metrics.ts';
import { type Lane, type LaneWorkers, PULL_EXPIRES_MS } from './partitions.ts';
import { SERVICE } from './processor.ts';

/** The lease of the area lanes: one instance of the namespace reads them. */
export const AREA_LEASE = 'area';
export const partitionLease = (partition: number): string => `partition.${partition}`;
/** The partition a lease is of; undefined for the area lease. */
export const partitionOfLease = (lease: string): number | undefined =>
  lease.startsWith('partition.') ? Number(lease.slice('partition.'.length)) : undefined;
const MEMBER = 'member.';
const kindOf = (lease: string): string => (lease === AREA_LEASE ? 'area' : 'partition');

/**
 * How long a lane takes to stop once told (its pull expires, the event in hand is acked): a
 * lease is given up locally at least this long before it can expire in the bucket.
 */
const DRAIN_MS = PULL_EXPIRES_MS;
/** How soon a round comes again after a renewal failed for the moment (a leader election). */
const RETRY_SOON_MS = 250;
/**
 * How long past its lease time a lease is kept while the bucket has no leader (see
 * `PartitionLeases`, "An election of the bucket"): nats-server 2.9 elects in 4 to 9 s, and took
 * up to 40 s on a loaded two-core machine. A bound all the same: a node cut off from the rest of
 * its cluster also answers that nobody leads the bucket, while the others may elect a leader.
 */
export const ELECTION_HOLD_MS = 60_000;

/** What a lease guards: started once it is held, stopped when it is given up or lost. */
export interface LeasedWork {
  start(lease: string): void;
  /** Stops the work (the lease is still ours); resolves once nothing of it is in hand any more. */
  stop(lease: string): Promise<void>;
  /** Stops the work of a lease that is lost: nothing more is taken up, not even what a pull brings. */
  abandon(lease: string): Promise<void>;
}

/** The lanes of the leases, and the area lanes following the rule set in force. */
export interface LaneWork extends LeasedWork {
  /**
   * The area lanes now (the area rules' types changed): new ones start at once if the area lease
   * is held, those gone drain. Resolves once the gone lanes have stopped, with them.
   */
  setAreaLanes(lanes: readonly Lane[]): Promise<Lane[]>;
  /** The event types of the area lanes running here (none without the area lease). */
  areaTypes(): string[];
}

/**
 * The lanes of a lease: a partition's lane and its alarm lanes, or every area lane. The area
 * lanes are the current ones, whatever they were at start-up, and the area lease's stop also
 * waits for a lane still draining because its type left the rules.
 */
export function laneWork(
  workers: LaneWorkers,
  partitionLanes: readonly Lane[],
  areaLanes: readonly Lane[],
): LaneWork {
  let area = [...areaLanes];
  let areaHeld = false;
  const retiring = new Map<string, Lane>();
  const of = (lease: string): Lane[] =>
    lease === AREA_LEASE
      ? [...area, ...retiring.values()]
      : partitionLanes.filter(
          (lane) => lane.partition !== undefined && partitionLease(lane.partition) === lease,
        );
  return {
    start: (lease) => {
      if (lease === AREA_LEASE) areaHeld = true;
      workers.start(lease === AREA_LEASE ? area : of(lease));
    },
    stop: (lease) => {
      if (lease === AREA_LEASE) areaHeld = false;
      return workers.stop(of(lease));
    },
    abandon: (lease) => {
      if (lease === AREA_LEASE) areaHeld = false;
      return workers.abandon(of(lease));
    },
    setAreaLanes: async (lanes) => {
      const names = new Set(lanes.map((lane) => lane.name));
      const kept = new Set(area.map((lane) => lane.name));
      const gone = area.filter((lane) => !names.has(lane.name));
      area = [...lanes];
      if (areaHeld) workers.start(lanes.filter((lane) => !kept.has(lane.name)));
      for (const lane of gone) retiring.set(lane.name, lane);
      // Drained like a handover: no more pulls, the event in hand acked.
      await workers.stop(gone);
      for (const lane of gone) if (retiring.get(lane.name) === lane) retiring.delete(lane.name);
      return gone;
    },
    areaTypes: () => (areaHeld ? area.flatMap((lane) => (lane.type ? [lane.type] : [])) : []),
  };
}

/** Which partitions (and whether the area lanes) this instance runs. */
export interface Ownership {
  readonly instance: string;
  /** Partitions run now, ascending (a partition being handed over is no longer listed). */
  partitions(): number[];
  readonly area: boolean;
  /** The last look at the leases succeeded recently (always, without leases). */
  readonly healthy: boolean;
  /**
   * Owns no partition, and has watched the leases long enough to know that live instances hold
   * every one (more instances than partitions): it takes one over when an owner goes.
   */
  readonly standby: boolean;
  /** Holds its work: at least one partition, or a standby. Not while a dead predecessor's leases run out. */
  readonly ready: boolean;
  /** Drains the work, then gives every lease back. */
  stop(): Promise<void>;
}

/** Letters, digits and `-` only: the id is a KV key token. */
export const instanceId = (): string =>
  `${hostname().replace(/[^A-Za-z0-9-]/g, '-')}-${process.pid}-${randomBytes(3).toString('hex')}`;

export interface LeaseSettings {
  readonly enabled: boolean;
  readonly ttlS: number;
  readonly renewMs: number | undefined;
  /** A stable name (TRIAGE_INSTANCE): its own leases are taken back at start. */
  readonly instance?: string | undefined;
}

/**
 * Without leases, every partition and the area lanes, started at once: the one instance of a
 * namespace. With leases, the fair share of this instance (see PartitionLeases).
 */
export async function startOwnership(options: {
  nc: NatsConnection;
  names: Names;
  partitions: number;
  settings: LeaseSettings;
  work: LeasedWork;
  metrics: TriageMetrics;
  logger: Logger;
  /** TELECARE_STREAM_REPLICAS, for the lease bucket when this creates it. */
  replicas?: number;
  /** TELECARE_JETSTREAM_MAX_BYTES, the store the lease bucket's bound is a share of. */
  storeBytes?: number | undefined;
  /** The lease bucket, opened already (by default it is opened here, and created if missing). */
  bucket?: KV;
}): Promise<Ownership> {
  const instance = options.settings.instance ?? instanceId();
  if (options.settings.enabled) return PartitionLeases.start({ ...options, instance });
  const all = Array.from({ length: options.partitions }, (_, partition) => partition);
  for (const partition of all) options.work.start(partitionLease(partition));
  options.work.start(AREA_LEASE);
  options.metrics.partitionsOwned.set(all.length);
  return {
    instance,
    partitions: () => all,
    area: true,
    healthy: true,
    standby: false,
    ready: true,
    stop: async () => {
      await Promise.all([...all.map(partitionLease), AREA_LEASE].map((lease) => options.work.stop(lease)));
    },
  };
}

/**
 * How often to renew with a lease time of `ttlMs`: by default a quarter of it less a drain. A
 * lease is given up locally, a drain before it could expire, once renewals have failed for
 * `ttl - drain - renew`: three in a row by default. An interval that leaves fewer than two is refused.
 */
export function renewInterval(ttlMs: number, configured: number | undefined): number {
  const renewMs = configured ?? Math.floor((ttlMs - DRAIN_MS) / 4);
  if (renewMs <= 0 || renewMs * 3 > ttlMs - DRAIN_MS)
    throw new ConfigError(SERVICE, [
      `TRIAGE_LEASE_RENEW_MS: ${renewMs} ms with a lease time of ${ttlMs} ms: at most a third of the lease time less ${DRAIN_MS} ms`,
    ]);
  return renewMs;
}

interface Held {
  revision: number;
  /** `performance.now()` when the take or the last renewal that succeeded was sent. */
  renewedAt: number;
  /** Kept past its renewals through an election of the bucket (logged once per election). */
  heldThrough?: boolean;
  releasing: boolean;
  drained: boolean;
}

/** Another instance holds the key, or our lease expired and the key moved on. */
const isTaken = isWrongRevision;

/**
 * The lease bucket's live keys, kept by one watch for the life of the leases. Listing the keys
 * every round (`kv.keys()`) made an ephemeral consumer a round that the server keeps for five
 * minutes: hundreds per instance, every one recovered at each server restart (a restart under load
 * took over 30 s recovering 1,058 of them). A key is live from its last write until it is deleted,
 * or until the bucket's max age has passed since that write (a lease nobody renewed), reckoned by
 * the server's timestamp on the write. Who holds what is still decided by the server alone
 * (`create` and `update` at a revision); this set only says which leases look free and how many
 * members there are.
 */
class LiveKeys {
  readonly #written = new Map<string, number>();
  readonly #follower: BucketFollower;
  readonly #synced: Promise<void>;

  constructor(
    kv: KV,
    private readonly ttlMs: number,
    logger: Logger,
  ) {
    let synced: () => void = () => {};
    this.#synced = new Promise((resolve) => {
      synced = resolve;
    });
    this.#follower = followBucket(kv, {
      what: 'lease',
      logger,
      onEntry: (entry) => {
        if (entry.operation === 'PUT') this.#written.set(entry.key, entry.created.getTime());
        else this.#written.delete(entry.key);
        // The last of the keys there were when the watch began: the set is whole.
        if (entry.delta === 0) synced();
      },
    });
    void kv.status().then(
      (status) => status.values === 0 && synced(),
      () => undefined,
    );
  }

  /** Resolves once the watch has handed over every key there was, or after `ms` at the latest. */
  async synced(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#synced, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  live(now = Date.now()): Set<string> {
    const live = new Set<string>();
    for (const [key, writtenAt] of this.#written) if (writtenAt + this.ttlMs > now) live.add(key);
    return live;
  }

  close(): Promise<void> {
    return this.#follower.close();
  }
}

/**
 * Partition ownership through a NATS KV bucket whose max age is the lease time (nats-server 2.9
 * has no per-message TTL): a key that is not written again within it disappears.
 *
 * - `member.<instance>`: each instance writes its own every round; the live ones are counted.
 * - `partition.<p>` and `area`: taken with `create` (only if absent), renewed with `update` at the
 *   revision last written (compare-and-set), given back with `delete` at that revision.
 *
 * Each round (every `renewMs`) renews, counts the live members, takes free partitions up to the
 * fair share `ceil(partitions / members)`, takes the area lease if it is free, and hands over the
 * partitions beyond the share: their lanes drain first (no pull, the event in hand acked), then
 * the lease is deleted. A renewal refused means another instance has the lease: its work stops at
 * once. A lease not renewed for so long that it could expire within the next round and a drain is
 * given up too, so that its lanes have stopped before anyone else can take it.
 */
export class PartitionLeases implements Ownership {
  readonly instance: string;
  readonly #kv: KV;
  readonly #keys: LiveKeys;
  readonly #partitions: number;
  readonly #ttlMs: number;
  readonly #renewMs: number;
  readonly #work: LeasedWork;
  readonly #metrics: TriageMetrics;
  readonly #log: Logger;
  readonly #value: string;
  /** Where this instance starts looking for free partitions, so instances starting together spread. */
  readonly #offset: number;
  readonly #held = new Map<string, Held>();
  /**
   * Leases given up because their renewals failed (the bucket not answering: a leader election),
   * with when they were last renewed, and leases whose take failed for the moment (the server may
   * have stored it all the same), with when it was sent: while the key may still hold this
   * instance's write, each round takes them back at its revision rather than waiting for them to
   * expire.
   */
  readonly #lapsed = new Map<string, number>();
  /** Leases drained and given up here whose delete is not answered yet (see `#releaseDrained`). */
  readonly #unreleased = new Map<string, Held>();
  /** A renewal or take-back failed for the moment: the next round comes soon, not a renewal later. */
  #retrySoon = false;
  /**
   * When a write to the bucket was last answered "no responders": nobody leads the bucket as the
   * server this instance is connected to sees it (an election), so nobody can take a lease. Cleared
   * by any answer of the bucket's leader.
   */
  #leaderlessAt: number | undefined;
  readonly #drains = new Set<Promise<void>>();
  #closing = false;
  #stopped = false;
  #lastRound = Number.NEGATIVE_INFINITY;
  readonly #startedAt = performance.now();
  readonly #pause = new Pause();
  #loop: Promise<void> = Promise.resolve();
  #watchdog: NodeJS.Timeout | undefined;

  private constructor(deps: {
    kv: KV;
    instance: string;
    partitions: number;
    ttlMs: number;
    renewMs: number;
    work: LeasedWork;
    metrics: TriageMetrics;
    logger: Logger;
  }) {
    this.#kv = deps.kv;
    this.#keys = new LiveKeys(deps.kv, deps.ttlMs, deps.logger);
    this.instance = deps.instance;
    this.#partitions = deps.partitions;
    this.#ttlMs = deps.ttlMs;
    this.#renewMs = deps.renewMs;
    this.#work = deps.work;
    this.#metrics = deps.metrics;
    this.#log = deps.logger;
    this.#value = JSON.stringify({ owner: deps.instance });
    this.#offset = partitionOf(deps.instance, deps.partitions);
  }

  /** Opens the bucket, takes this instance's share in a first round, then keeps renewing. */
  static async start(options: {
    nc: NatsConnection;
    names: Names;
    instance: string;
    partitions: number;
    settings: LeaseSettings;
    work: LeasedWork;
    metrics: TriageMetrics;
    logger: Logger;
    replicas?: number;
    storeBytes?: number | undefined;
    bucket?: KV;
  }): Promise<PartitionLeases> {
    const log = options.logger.child({ component: 'leases', instance: options.instance });
    const configured = options.settings.ttlS * 1000;
    const kv =
      options.bucket ??
      (await createBucket(
        options.nc,
        options.names.kv.triageLeases,
        { kind: 'triageLeases', history: 1, ttl: configured },
        options,
      ));
    // The bucket's max age is what expires a lease: every instance must count with the same one.
    const ttlMs = (await kv.status()).ttl || configured;
    if (ttlMs !== configured)
      log.warn(
        { configuredMs: configured, bucketMs: ttlMs },
        "the lease bucket has another lease time; using the bucket's",
      );
    const renewMs = renewInterval(ttlMs, options.settings.renewMs);
    const leases = new PartitionLeases({ ...options, kv, ttlMs, renewMs, logger: log });
    if (options.settings.instance !== undefined) await leases.#takeBackOwn();
    await leases.#keys.synced(renewMs);
    await leases.#safeRound();
    leases.#loop = leases.#run();
    leases.#watchdog = setInterval(() => leases.#giveUpOverdue(), renewMs);
    leases.#watchdog.unref();
    log.info(
      { ttlMs, renewMs, partitions: leases.partitions(), area: leases.area },
      'partition leases started',
    );
    return leases;
  }

  partitions(): number[] {
    const owned: number[] = [];
    for (const [lease, held] of this.#held)
      if (lease !== AREA_LEASE && !held.releasing) owned.push(partitionOfLease(lease) as number);
    return owned.sort((a, b) => a - b);
  }

  get area(): boolean {
    const held = this.#held.get(AREA_LEASE);
    return held !== undefined && !held.releasing;
  }

  get healthy(): boolean {
    return performance.now() - this.#lastRound < this.#ttlMs;
  }

  get standby(): boolean {
    // After a lease time and a round every lease a dead process held has expired and been free
    // for a round: owning nothing then means live instances own everything.
    return (
      this.partitions().length === 0 && performance.now() - this.#startedAt >= this.#ttlMs + this.#renewMs
    );
  }

  get ready(): boolean {
    return this.healthy && !this.#closing && (this.partitions().length > 0 || this.standby);
  }

  async stop(): Promise<void> {
    this.#closing = true;
    for (const [lease, held] of this.#held) if (!held.releasing) this.#release(lease, held);
    // The rounds go on renewing while the lanes drain, so no lease expires under work in hand.
    while (this.#drains.size > 0) await Promise.all([...this.#drains]);
    this.#stopped = true;
    this.#pause.wake();
    await this.#loop;
    clearInterval(this.#watchdog);
    await this.#releaseDrained();
    // A delete lost on its way would leave this instance counted as a member until its key
    // expired, and the others short of a share of what it gave back: it is sent again once.
    const member = `${MEMBER}${this.instance}`;
    await this.#kv
      .delete(member)
      .catch(() => this.#kv.delete(member))
      .catch(() => undefined);
    await this.#keys.close();
    this.#log.info('partition leases given back');
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      await this.#pause.wait(this.#retrySoon ? Math.min(RETRY_SOON_MS, this.#renewMs) : this.#renewMs);
      if (!this.#stopped) await this.#safeRound();
    }
  }

  async #safeRound(): Promise<void> {
    try {
      await this.#round();
      this.#lastRound = performance.now();
    } catch (err) {
      this.#log.warn({ err }, 'could not look at the leases; trying again');
    }
  }

  #changed(): void {
    this.#metrics.partitionsOwned.set(this.partitions().length);
  }

  async #round(): Promise<void> {
    const at = performance.now();
    this.#retrySoon = false;
    await this.#releaseDrained();
    await this.#renew(at);
    if (this.#closing) return;
    // Not while the bucket is not answering writes: a read of it may then wait its whole timeout.
    if (!this.#retrySoon) await this.#takeBackLapsed(at);
    const live = this.#keys.live();
    live.add(`${MEMBER}${this.instance}`);
    const members = [...live].filter((key) => key.startsWith(MEMBER)).length;
    this.#metrics.leaseMembers.set(members);
    const fair = Math.ceil(this.#partitions / members);
    let owned = this.partitions().length;
    for (let i = 0; i < this.#partitions && owned < fair && !this.#closing; i++) {
      const lease = partitionLease((this.#offset + i) % this.#partitions);
      if (!live.has(lease) && !this.#held.has(lease) && (await this.#take(lease, at))) owned++;
    }
    if (!live.has(AREA_LEASE) && !this.#held.has(AREA_LEASE) && !this.#closing)
      await this.#take(AREA_LEASE, at);
    // Hand over the highest partitions beyond the share; the instances with fewer take them.
    for (const partition of this.partitions().slice(fair)) {
      const lease = partitionLease(partition);
      const held = this.#held.get(lease);
      if (held) this.#release(lease, held);
    }
  }

  async #renew(at: number): Promise<void> {
    const member = this.#kv.put(`${MEMBER}${this.instance}`, this.#value, { timeout: this.#renewMs }).then(
      () => this.#answered(),
      (err: unknown) => {
        this.#unanswered(err);
        this.#log.warn({ err }, 'could not renew membership');
      },
    );
    const leases = [...this.#held].map(async ([lease, held]) => {
      try {
        held.revision = await this.#kv.update(lease, this.#value, held.revision, this.#renewMs);
        held.renewedAt = at;
        held.heldThrough = false;
        this.#answered();
      } catch (err) {
        if (!isTaken(err)) {
          this.#unanswered(err);
          this.#log.warn({ err, lease }, 'could not renew a lease; trying again');
          return;
        }
        this.#answered();
        // A renewal that timed out may still have been stored: then the key holds our own write.
        const entry = await this.#kv.get(lease).catch(() => undefined);
        if (this.#held.get(lease) !== held) return;
        if (entry?.operation === 'PUT' && entry.string() === this.#value) held.revision = entry.revision;
        else if (entry === null) await this.#takeAgain(lease, held, at);
        else this.#lose(lease, 'another instance has it');
      }
    });
    await Promise.all([member, ...leases]);
    this.#giveUpOverdue();
  }

  /** The bucket's leader answered a write (whatever it said): the bucket has a leader. */
  #answered(): void {
    this.#leaderlessAt = undefined;
  }

  /** A write failed for the moment; "no responders" says nobody leads the bucket now. */
  #unanswered(err: unknown): void {
    this.#retrySoon = true;
    if (isNoResponders(err)) this.#leaderlessAt = performance.now();
  }

  /**
   * A lease of ours whose key is gone: it expired while the bucket could not be written (an
   * election that outlasted the lease), and nobody has taken it since (a key is taken only once
   * absent). Taken again at once, its work going on; refused, another instance was first.
   */
  async #takeAgain(lease: string, held: Held, at: number): Promise<void> {
    try {
      held.revision = await this.#kv.create(lease, this.#value);
      held.renewedAt = at;
      held.heldThrough = false;
      this.#log.info({ lease }, 'lease expired while its bucket could not be written: taken again');
    } catch (err) {
      if (this.#held.get(lease) !== held) return;
      if (isTaken(err)) this.#lose(lease, 'another instance took it once it expired');
      else {
        this.#unanswered(err);
        this.#log.warn({ err, lease }, 'could not take an expired lease again; trying again');
      }
    }
  }

  /**
   * A lease that could expire before the next round and a drain stops its work now, unless the
   * bucket has no leader (see `#electionHolds`).
   */
  #giveUpOverdue(): void {
    const now = performance.now();
    for (const [lease, held] of this.#held) {
      if (now + this.#renewMs + DRAIN_MS < held.renewedAt + this.#ttlMs) continue;
      if (this.#electionHolds(now, held)) {
        if (!held.heldThrough)
          this.#log.warn(
            { lease, sinceRenewalMs: Math.round(now - held.renewedAt) },
            'the lease bucket has no leader (an election): its leases are kept and their work goes on',
          );
        held.heldThrough = true;
        continue;
      }
      this.#lose(lease, held.heldThrough ? 'its bucket still not answering' : 'not renewed in time');
      this.#lapsed.set(lease, held.renewedAt);
    }
  }

  /**
   * Whether a lease past its renewals is kept: the bucket answered "no responders" lately (no
   * server leads it, so no instance can write it and nobody can take the lease), and for no longer
   * than `ELECTION_HOLD_MS` past the lease time. Lately is within two of a round's longest waits
   * (a renewal's timeout, the look at the bucket's stream after "no responders", the pause before
   * the next round), so one write whose answer is slow (a client reconnecting) keeps it; a bucket
   * that stops saying so gives the lease up as before.
   */
  #electionHolds(now: number, held: Held): boolean {
    const lately = 2 * (this.#renewMs + BUCKET_LOOK_TIMEOUT_MS + RETRY_SOON_MS);
    return (
      this.#leaderlessAt !== undefined &&
      now - this.#leaderlessAt <= lately &&
      now < held.renewedAt + this.#ttlMs + ELECTION_HOLD_MS
    );
  }

  /**
   * The leases given up for want of a renewal, or whose take was not answered, taken back at once
   * where the key still holds this instance's write: nobody else could take them meanwhile (a key
   * is taken only once absent), so their work starts as soon as the bucket answers, not a lease
   * time after the last write. One whose key is not ours, or has expired by now, is left to the
   * ordinary take, as a free lease.
   */
  async #takeBackLapsed(at: number): Promise<void> {
    for (const [lease, renewedAt] of [...this.#lapsed]) {
      if (this.#closing) return;
      if (this.#held.has(lease) || at >= renewedAt + this.#ttlMs) {
        this.#lapsed.delete(lease);
        continue;
      }
      const taken = await this.#takeBack(lease, at, 'lease taken back after its renewals failed');
      if (taken !== undefined) this.#lapsed.delete(lease);
      else this.#retrySoon = true;
    }
  }

  /**
   * A restart under a stable name: the leases its previous process held (the value names this
   * instance) are renewed at once rather than left to expire, so a lone instance that crashed and
   * came back does not wait a lease time before it reads its partitions again.
   */
  async #takeBackOwn(): Promise<void> {
    const at = performance.now();
    const leases = [AREA_LEASE, ...Array.from({ length: this.#partitions }, (_, p) => partitionLease(p))];
    for (const lease of leases)
      await this.#takeBack(lease, at, 'lease taken back from a previous process of this instance');
  }

  /**
   * Renews a lease whose key holds this instance's write, at that write's revision, and starts its
   * work: true when taken back, false when the key is not ours (or was taken meanwhile), undefined
   * when the bucket did not answer.
   */
  async #takeBack(lease: string, at: number, why: string): Promise<boolean | undefined> {
    let own: number | undefined;
    try {
      const entry = await this.#kv.get(lease);
      own = entry?.operation === 'PUT' && entry.string() === this.#value ? entry.revision : undefined;
    } catch {
      return undefined;
    }
    if (own === undefined) return false;
    try {
      const revision = await this.#kv.update(lease, this.#value, own, this.#renewMs);
      this.#held.set(lease, { revision, renewedAt: at, releasing: false, drained: false });
    } catch (err) {
      if (isTaken(err)) return false;
      this.#log.warn({ err, lease }, 'could not take back a lease');
      return undefined;
    }
    this.#metrics.leasesTaken.inc({ lease: kindOf(lease) });
    this.#log.info({ lease }, why);
    this.#changed();
    this.#work.start(lease);
    return true;
  }

  async #take(lease: string, at: number): Promise<boolean> {
    try {
      const revision = await this.#kv.create(lease, this.#value);
      this.#held.set(lease, { revision, renewedAt: at, releasing: false, drained: false });
    } catch (err) {
      if (isTaken(err)) return false;
      // The server may have stored it all the same (the answer lost, or later than the timeout):
      // the key would then hold this instance's write, refusing every create, ours too, until it
      // expired. Looked at soon, as a lapsed lease, and taken back at once if it is ours.
      this.#unanswered(err);
      this.#lapsed.set(lease, at);
      this.#log.warn({ err, lease }, 'could not take a lease; looking whether it was stored');
      return false;
    }
    this.#metrics.leasesTaken.inc({ lease: kindOf(lease) });
    this.#log.info({ lease }, 'lease taken');
    this.#changed();
    this.#work.start(lease);
    return true;
  }

  #lose(lease: string, why: string): void {
    this.#held.delete(lease);
    this.#metrics.leasesLost.inc({ lease: kindOf(lease) });
    this.#log.warn({ lease, why }, 'lease lost: its work stops now');
    this.#changed();
    this.#track(this.#work.abandon(lease));
  }

  /** Drains the lease's work; the next round gives the lease back (see #releaseDrained). */
  #release(lease: string, held: Held): void {
    held.releasing = true;
    this.#log.info({ lease }, 'handing a lease over: draining');
    this.#changed();
    this.#track(
      this.#work.stop(lease).then(() => {
        held.drained = true;
        this.#pause.wake();
      }),
    );
  }

  /**
   * Deletes the drained leases, at the revision last renewed: no renewal runs meanwhile. A delete
   * that failed for the moment may not have reached the server, leaving the key with this
   * instance's write and nobody able to take it until it expires: it is sent again each round
   * until answered, or until the lease has run out by itself.
   */
  async #releaseDrained(): Promise<void> {
    for (const [lease, held] of [...this.#held]) {
      if (!held.drained) continue;
      this.#held.delete(lease);
      this.#unreleased.set(lease, held);
    }
    const now = performance.now();
    for (const [lease, held] of [...this.#unreleased]) {
      if (now >= held.renewedAt + this.#ttlMs) {
        this.#unreleased.delete(lease);
        continue;
      }
      try {
        await this.#kv.delete(lease, { previousSeq: held.revision });
      } catch (err) {
        // Refused: the key moved on (an earlier delete was stored after all, or the lease expired).
        if (isTaken(err)) this.#unreleased.delete(lease);
        else {
          this.#unanswered(err);
          this.#log.warn({ err, lease }, 'could not release a lease; trying again');
        }
        continue;
      }
      this.#unreleased.delete(lease);
      this.#metrics.leasesReleased.inc({ lease: kindOf(lease) });
      this.#log.info({ lease }, 'lease released');
    }
  }

  #track(work: Promise<void>): void {
    const tracked: Promise<void> = work
      .catch((err: unknown) => this.#log.error({ err }, 'stopping the work of a lease failed'))
      .finally(() => this.#drains.delete(tracked));
    this.#drains.add(tracked);
  }
}

import { randomBytes } from 'node:crypto';
import type { Names } from '@telecare/contracts';
import {
  BucketFullError,
  createBucket,
  decodeJson,
  isWrongRevision,
  KeyedLock,
  type KV,
  type Logger,
  lastValues,
  type NatsConnection,
  TransientError,
} from '@telecare/platform';
import { z } from 'zod';

/** A resident's claims: their sequences whose index write was skipped and is not settled yet. */
const Claim = z.object({ residentId: z.string().min(1), seqs: z.array(z.number().int().positive()) });
export type Claim = z.infer<typeof Claim>;
/** One write of a partition's claims: what its events skipped within one batch interval. */
const Batch = z.object({ partition: z.number().int().nonnegative(), claims: z.array(Claim) });

/**
 * How long a partition's claims gather before they are written (one write for all of them): the
 * most a claim adds to its event's wait, and the fewest writes a second a partition makes.
 */
export const GAP_CLAIM_BATCH_MS = 50;
/** How often a full bucket refusing claims is logged again. */
const FULL_TOLD_EVERY_MS = 60_000;
/** Claims of one write at most (about 30 bytes each), well within a message's size. */
const BATCH_MAX = 2_000;

/**
 * A resident's key in the layout before batches (one key per resident), still read and settled.
 * KV keys allow letters, digits, `-`, `_`, `=`, `.` and `/`: a resident id may hold others.
 */
export const gapClaimKey = (residentId: string): string => Buffer.from(residentId).toString('base64url');

/** A batch's key: `p<partition>.<writer>.<n>`; base64url never holds a `.`, so no resident's key is one. */
const batchKey = (partition: number, writer: string, n: number): string => `p${partition}.${writer}.${n}`;
const partitionKeys = (partition: number): string => `p${partition}.>`;
const isBatchKey = (key: string): boolean => key.includes('.');

const sameSeqs = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((seq, i) => seq === b[i]);

const claimId = (residentId: string, seq: number): string => `${residentId} ${seq}`;

/** How many times a change is read again after another instance changed the key meanwhile. */
const CHANGE_TRIES = 5;

/** Claims gathering for one write of a partition, and the events waiting for it. */
interface Gathering {
  readonly seqs: Map<string, number[]>;
  count: number;
  readonly timer: NodeJS.Timeout;
  readonly waiting: Array<{ resolve: () => void; reject: (err: unknown) => void }>;
}

/** A key of the bucket this instance settles: its claims not settled yet. */
interface Held {
  readonly open: Set<string>;
  /** A key of the layout before batches: the resident whose key it is, and what it held. */
  readonly before?: Claim;
}

/** Claims as taken over: the partition of the write that stored them (none for the layout before). */
export interface TakenClaim extends Claim {
  readonly partition: number | undefined;
}

/** Every claim the bucket's values hold, whichever layout wrote them. */
export function claimsIn(values: ReadonlyMap<string, Uint8Array>): TakenClaim[] {
  const claims: TakenClaim[] = [];
  for (const [key, value] of values) {
    if (isBatchKey(key)) {
      const parsed = decodeJson(Batch, value, { root: '(claims)' });
      if (!parsed.ok) continue;
      for (const claim of parsed.value.claims)
        if (claim.seqs.length > 0) claims.push({ ...claim, partition: parsed.value.partition });
    } else {
      const parsed = decodeJson(Claim, value, { root: '(claim)' });
      if (parsed.ok && parsed.value.seqs.length > 0) claims.push({ ...parsed.value, partition: undefined });
    }
  }
  return claims;
}

/**
 * The event index's unsettled gaps, in a JetStream KV bucket (`triage-index-gaps`), so that they
 * outlive the process that skipped the writes: written before the event is acked, removed once
 * Redis has said whether each write landed (see `EventIndex`). NATS is there whenever events flow,
 * and Redis need not be. The bucket's max age is the index's expiry: a claim never settled is gone
 * when its gap would have been.
 *
 * The claims of a partition's events are gathered for `GAP_CLAIM_BATCH_MS` and written in one
 * `create` of a key of their own (`p<partition>.<writer>.<n>`), each event waiting for the write
 * that holds its claim: with Redis away, one write a partition a batch interval instead of one an
 * event. As its claims are settled a key is written again without them (compare and set), so a
 * settled claim no longer counts as a gap while another of the key is not settled yet; it is
 * deleted once every claim it holds is settled.
 */
export class GapClaims {
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  readonly #kv: KV;
  readonly #batchMs: number;
  /** This instance's part of its keys: no other writer's key is the same. */
  readonly #writer = randomBytes(6).toString('base64url');
  #written = 0;
  readonly #gathering = new Map<number, Gathering>();
  /** The keys whose claims this instance settles, and for each claim the keys holding it. */
  readonly #held = new Map<string, Held>();
  readonly #keysOf = new Map<string, Set<string>>();
  /** Keys holding claims settled since their last write answered: to be written without them. */
  readonly #settledIn = new Set<string>();
  /** One write of a key at a time: each writes what is left of it by then. */
  readonly #keyLocks = new KeyedLock();
  /** Layout before batches: what this instance last read of a resident's key. */
  readonly #known = new Map<string, { revision: number | undefined; seqs: number[] }>();
  readonly #locks = new KeyedLock();

  readonly #log: Logger | undefined;
  /** When a full bucket was last logged. */
  #fullToldAt = Number.NEGATIVE_INFINITY;
  /** Claims a full bucket did not take (for metrics and tests). */
  unclaimed = 0;

  private constructor(nc: NatsConnection, bucket: string, kv: KV, batchMs: number, logger?: Logger) {
    this.#nc = nc;
    this.#bucket = bucket;
    this.#kv = kv;
    this.#batchMs = batchMs;
    this.#log = logger?.child({ component: 'index-gaps' });
  }

  static async open(deps: {
    nc: NatsConnection;
    names: Names;
    ttlS: number;
    replicas?: number;
    storeBytes?: number | undefined;
    logger?: Logger;
    batchMs?: number;
  }): Promise<GapClaims> {
    const bucket = deps.names.kv.triageIndexGaps;
    const kv = await createBucket(
      deps.nc,
      bucket,
      { kind: 'triageIndexGaps', history: 1, ttl: deps.ttlS * 1000 },
      deps,
    );
    return new GapClaims(deps.nc, bucket, kv, deps.batchMs ?? GAP_CLAIM_BATCH_MS, deps.logger);
  }

  /**
   * Claims `seq` for the resident: from now on their index says it may be missing. Answers once
   * the write that holds it is stored (it fails with that write), within a batch interval and a
   * round trip.
   */
  add(residentId: string, seq: number, partition: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let gathering = this.#gathering.get(partition);
      if (gathering === undefined) {
        gathering = {
          seqs: new Map(),
          count: 0,
          timer: setTimeout(() => void this.#write(partition), this.#batchMs),
          waiting: [],
        };
        this.#gathering.set(partition, gathering);
      }
      const seqs = gathering.seqs.get(residentId);
      if (seqs === undefined) gathering.seqs.set(residentId, [seq]);
      else if (!seqs.includes(seq)) seqs.push(seq);
      gathering.count++;
      gathering.waiting.push({ resolve, reject });
      if (gathering.count >= BATCH_MAX) void this.#write(partition);
    });
  }

  async #write(partition: number): Promise<void> {
    const gathering = this.#gathering.get(partition);
    if (gathering === undefined) return;
    this.#gathering.delete(partition);
    clearTimeout(gathering.timer);
    const key = batchKey(partition, this.#writer, ++this.#written);
    const claims = [...gathering.seqs].map(([residentId, seqs]) => ({
      residentId,
      seqs: seqs.sort((a, b) => a - b),
    }));
    try {
      await this.#kv.create(key, JSON.stringify({ partition, claims }));
    } catch (err) {
      if (err instanceof BucketFullError) {
        this.#unclaimable(gathering, err);
        return;
      }
      // Its events are handed back and claimed again when they skip their writes again. A write
      // that was stored all the same is deleted, or settled by whoever takes the partition next.
      this.#kv.delete(key).catch(() => undefined);
      const failed = new TransientError('could not claim event index gaps', {
        cause: err,
        context: { dependency: 'nats', partition, claims: gathering.count },
      });
      for (const { reject } of gathering.waiting) reject(failed);
      return;
    }
    this.#hold(key, claims);
    for (const { resolve } of gathering.waiting) resolve();
  }

  /**
   * The bucket is full (its share of the store; claims pile up only while Redis stays away under
   * load, and expire with the bucket's max age): the events are let through unclaimed rather than
   * failed. Failed, they would be handed back for as long as the bucket stays full, each resident's
   * alarms held up behind them; unclaimed, an event Redis then loses is missing from the resident's
   * timeline (which reads the index) until the index expires. Counted and logged, at most once a
   * minute.
   */
  #unclaimable(gathering: Gathering, err: BucketFullError): void {
    this.unclaimed += gathering.count;
    const now = Date.now();
    if (now - this.#fullToldAt >= FULL_TOLD_EVERY_MS) {
      this.#fullToldAt = now;
      this.#log?.error(
        { err, claims: gathering.count, unclaimed: this.unclaimed },
        'event index gap bucket full: events acked unclaimed; a case timeline may miss those Redis loses',
      );
    }
    for (const { resolve } of gathering.waiting) resolve();
  }

  #hold(key: string, claims: readonly Claim[], before?: Claim): void {
    const held = this.#held.get(key) ?? { open: new Set<string>(), ...(before ? { before } : {}) };
    for (const claim of claims)
      for (const seq of claim.seqs) {
        const id = claimId(claim.residentId, seq);
        held.open.add(id);
        const keys = this.#keysOf.get(id) ?? new Set<string>();
        keys.add(key);
        this.#keysOf.set(id, keys);
      }
    if (held.open.size > 0) this.#held.set(key, held);
  }

  /**
   * Withdraws settled claims (their writes landed, or their gap is recorded in Redis): each key
   * this instance settles is written again without them, so that only its claims not settled yet
   * count, and deleted once every claim in it is settled.
   */
  async remove(residentId: string, settled: readonly number[]): Promise<void> {
    for (const seq of settled) {
      const id = claimId(residentId, seq);
      for (const key of this.#keysOf.get(id) ?? []) {
        this.#held.get(key)?.open.delete(id);
        this.#settledIn.add(key);
      }
      this.#keysOf.delete(id);
    }
    const keys = [...this.#settledIn];
    const answers = await Promise.allSettled(keys.map((key) => this.#withdraw(key)));
    const failed = answers.find((answer) => answer.status === 'rejected');
    if (failed !== undefined)
      throw new TransientError('could not withdraw event index gap claims', {
        cause: (failed as PromiseRejectedResult).reason,
        context: { dependency: 'nats', residentId },
      });
  }

  /** Writes `key` without the claims settled here, or deletes it once none is left. */
  #withdraw(key: string): Promise<void> {
    return this.#keyLocks.run(key, async () => {
      // Written meanwhile, by an earlier call, with everything settled until then.
      if (!this.#settledIn.delete(key)) return;
      const held = this.#held.get(key);
      if (held === undefined) return;
      try {
        if (await this.#keep(key, held)) this.#held.delete(key);
      } catch (err) {
        this.#settledIn.add(key);
        throw err;
      }
    });
  }

  /**
   * Keeps in `key` only the claims of `held` not settled yet: true once the key is gone. A batch's
   * key keeps the claims that both it and `held` still hold, by compare and set: another instance
   * holding it too (it took the partition over) settles its part the same way, and a claim one of
   * them withdrew is never written back.
   */
  async #keep(key: string, held: Held): Promise<boolean> {
    const before = held.before;
    // A resident's key of the layout before: an instance of that version may still add to it.
    if (before !== undefined) {
      const settled = before.seqs.filter((seq) => !held.open.has(claimId(before.residentId, seq)));
      await this.#change(before.residentId, (seqs) => seqs.filter((seq) => !settled.includes(seq)));
      return held.open.size === 0;
    }
    if (held.open.size === 0) {
      await this.#kv.delete(key);
      return true;
    }
    for (let attempt = 1; ; attempt++) {
      const entry = await this.#kv.get(key);
      const stored =
        entry?.operation === 'PUT' ? decodeJson(Batch, entry.value, { root: '(claims)' }) : undefined;
      if (entry === null || stored === undefined || !stored.ok) return true;
      const { partition, claims } = stored.value;
      const left = claims
        .map(({ residentId, seqs }) => ({
          residentId,
          seqs: seqs.filter((seq) => held.open.has(claimId(residentId, seq))),
        }))
        .filter((claim) => claim.seqs.length > 0);
      const unchanged =
        left.length === claims.length &&
        left.every((claim, i) => sameSeqs(claim.seqs, claims[i]?.seqs ?? []));
      try {
        if (left.length === 0) await this.#kv.delete(key, { previousSeq: entry.revision });
        else if (!unchanged)
          await this.#kv.update(key, JSON.stringify({ partition, claims: left }), entry.revision);
        return left.length === 0;
      } catch (err) {
        if (!isWrongRevision(err) || attempt >= CHANGE_TRIES) throw err;
      }
    }
  }

  /** The resident's claims now, as any instance wrote them. */
  async of(residentId: string, partition: number): Promise<number[]> {
    try {
      const [batches, before] = await Promise.all([
        lastValues(this.#nc, this.#bucket, { keys: partitionKeys(partition) }),
        this.#read(residentId),
      ]);
      const seqs = new Set(before.seqs);
      for (const claim of claimsIn(batches))
        if (claim.residentId === residentId) for (const seq of claim.seqs) seqs.add(seq);
      return [...seqs].sort((a, b) => a - b);
    } catch (err) {
      throw new TransientError('could not read the event index gap claims', {
        cause: err,
        context: { dependency: 'nats', residentId },
      });
    }
  }

  /**
   * The claims of the keys `taken` takes (the partitions this instance has just taken: what an
   * instance that stopped before settling them left), from then on settled by this one too.
   */
  async takeOver(taken: (claim: TakenClaim) => boolean): Promise<TakenClaim[]> {
    const claims: TakenClaim[] = [];
    for (const [key, value] of await lastValues(this.#nc, this.#bucket)) {
      const inKey = claimsIn(new Map([[key, value]]));
      if (inKey.length === 0 || !inKey.every(taken)) continue;
      this.#hold(key, inKey, isBatchKey(key) ? undefined : inKey[0]);
      claims.push(...inKey);
    }
    return claims;
  }

  async #read(residentId: string): Promise<{ revision: number | undefined; seqs: number[] }> {
    const entry = await this.#kv.get(gapClaimKey(residentId));
    if (entry?.operation !== 'PUT') return { revision: entry?.revision, seqs: [] };
    const parsed = decodeJson(Claim, entry.value, { root: '(claim)' });
    return { revision: entry.revision, seqs: parsed.ok ? parsed.value.seqs : [] };
  }

  /** A resident's key of the layout before batches, changed by compare and set. */
  #change(residentId: string, change: (seqs: number[]) => number[]): Promise<void> {
    return this.#locks.run(residentId, async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const cached = this.#known.get(residentId);
          let known = cached ?? (await this.#read(residentId));
          let seqs = change(known.seqs);
          // Nothing to change by what this instance last wrote: another may have written since (it
          // took the partition, settled these claims and claimed its own), so the key is read again.
          if (cached && sameSeqs(seqs, known.seqs)) {
            known = await this.#read(residentId);
            seqs = change(known.seqs);
          }
          if (sameSeqs(seqs, known.seqs)) {
            this.#known.delete(residentId);
            return;
          }
          const key = gapClaimKey(residentId);
          if (seqs.length > 0) {
            const value = JSON.stringify({ residentId, seqs } satisfies Claim);
            const revision =
              known.revision === undefined
                ? await this.#kv.create(key, value)
                : await this.#kv.update(key, value, known.revision);
            this.#known.set(residentId, { revision, seqs });
          } else {
            if (known.revision !== undefined) await this.#kv.delete(key, { previousSeq: known.revision });
            this.#known.delete(residentId);
          }
          return;
        } catch (err) {
          this.#known.delete(residentId);
          if (isWrongRevision(err) && attempt < CHANGE_TRIES) continue;
          throw new TransientError('could not keep an event index gap', {
            cause: err,
            context: { dependency: 'nats', residentId },
          });
        }
      }
    });
  }
}

import type { Names } from '@telecare/contracts';
import {
  createBucket,
  decodeJson,
  isWrongRevision,
  KeyedLock,
  type KV,
  lastValues,
  type NatsConnection,
  TransientError,
} from '@telecare/platform';
import { z } from 'zod';

/** A resident's claims: their sequences whose index write was skipped and is not settled yet. */
const Claim = z.object({ residentId: z.string().min(1), seqs: z.array(z.number().int().positive()) });
type Claim = z.infer<typeof Claim>;

/** KV keys allow letters, digits, `-`, `_`, `=`, `.` and `/`: a resident id may hold others. */
export const gapClaimKey = (residentId: string): string => Buffer.from(residentId).toString('base64url');

const sameSeqs = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((seq, i) => seq === b[i]);

/** How many times a change is read again after another instance changed the key meanwhile. */
const CHANGE_TRIES = 5;

/**
 * The event index's unsettled gaps, in a JetStream KV bucket (`triage-index-gaps`, one key per
 * resident, the skipped sequences as a list), so that they outlive the process that skipped the
 * writes: written before the event is acked, removed once Redis has said whether each write landed
 * (see `EventIndex`). NATS is there whenever events flow, and Redis need not be. The bucket's max
 * age is the index's expiry: a claim never settled is gone when its gap would have been.
 */
export class GapClaims {
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  readonly #kv: KV;
  /** What this instance last wrote or read of a resident's key, so a change needs no read first. */
  readonly #known = new Map<string, { revision: number | undefined; seqs: number[] }>();
  /** This instance's changes of one resident's key, one at a time. */
  readonly #locks = new KeyedLock();

  private constructor(nc: NatsConnection, bucket: string, kv: KV) {
    this.#nc = nc;
    this.#bucket = bucket;
    this.#kv = kv;
  }

  static async open(deps: {
    nc: NatsConnection;
    names: Names;
    ttlS: number;
    replicas?: number;
  }): Promise<GapClaims> {
    const bucket = deps.names.kv.triageIndexGaps;
    const kv = await createBucket(deps.nc, bucket, { history: 1, ttl: deps.ttlS * 1000 }, deps);
    return new GapClaims(deps.nc, bucket, kv);
  }

  /** Claims `seq` for the resident: from now on their index says it may be missing. */
  add(residentId: string, seq: number): Promise<void> {
    return this.#change(residentId, (seqs) =>
      seqs.includes(seq) ? seqs : [...seqs, seq].sort((a, b) => a - b),
    );
  }

  /** Withdraws settled claims: their writes landed, or their gap is recorded in Redis. */
  remove(residentId: string, settled: readonly number[]): Promise<void> {
    return this.#change(residentId, (seqs) => seqs.filter((seq) => !settled.includes(seq)));
  }

  /** The resident's claims now, as any instance wrote them. */
  async of(residentId: string): Promise<number[]> {
    try {
      return (await this.#read(residentId)).seqs;
    } catch (err) {
      throw new TransientError('could not read the event index gap claims', {
        cause: err,
        context: { dependency: 'nats', residentId },
      });
    }
  }

  /** Every resident's claims: what an instance that stopped before settling them left. */
  async all(): Promise<Claim[]> {
    const claims: Claim[] = [];
    for (const value of (await lastValues(this.#nc, this.#bucket)).values()) {
      const parsed = decodeJson(Claim, value, { root: '(claim)' });
      if (parsed.ok && parsed.value.seqs.length > 0) claims.push(parsed.value);
    }
    return claims;
  }

  async #read(residentId: string): Promise<{ revision: number | undefined; seqs: number[] }> {
    const entry = await this.#kv.get(gapClaimKey(residentId));
    if (entry?.operation !== 'PUT') return { revision: entry?.revision, seqs: [] };
    const parsed = decodeJson(Claim, entry.value, { root: '(claim)' });
    return { revision: entry.revision, seqs: parsed.ok ? parsed.value.seqs : [] };
  }

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

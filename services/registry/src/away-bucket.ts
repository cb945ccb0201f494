import type { Names } from '@telecare/contracts';
import {
  BucketFullError,
  type BucketOptions,
  type Counter,
  createBucket,
  type KV,
  type Logger,
  lastValues,
  type NatsConnection,
} from '@telecare/platform';
import { isRevisionConflict } from './device-map.ts';
import { LeftoverRetry } from './leftovers.ts';
import type { RegistryStore } from './store.ts';

/**
 * How writing a resident's entry ended: written, deleted (no period left), nothing to write (no
 * period, and the key never written), failed, or refused by the full bucket (`full`: answered with
 * an `AwayPeriodsFullError`). The last two are tried again with backoff.
 */
export type AwayOutcome = 'written' | 'deleted' | 'absent' | 'failed' | 'full';

const CAS_ATTEMPTS = 5;

/**
 * Keeps the `resident-away` KV bucket (key = resident id, value = JSON `ResidentAwayEntry`) in
 * step with PostgreSQL, which is the record: after every commit the resident's entry is written
 * again from the rows (a resident with no period left has their key deleted), at the revision of
 * the key read before them (`#writeCurrent`), and at start-up the whole bucket is brought in step. Triage follows the bucket and gives each resident's periods to
 * the rules with every input. A write that fails, or that the full bucket refuses, is logged,
 * counted and tried again with backoff (every 30 s at most) until it is taken or the service closes.
 */
export class AwayPublisher {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #store: RegistryStore;
  readonly #log: Logger;
  readonly #puts: Counter<'outcome'>;
  /** Copies, store and logger the bucket is made with (`createBucket`). */
  readonly #bucketOptions: BucketOptions;
  readonly #clock: () => Date;
  readonly #retry: { initialMs: number; maxMs: number };
  /** Residents whose last write failed, tried again after a backoff. */
  readonly #pending = new Map<string, NodeJS.Timeout>();
  /** Keys of residents with no period that the full bucket would not delete at the start-up sync. */
  readonly #leftovers: LeftoverRetry;
  #closed = false;
  #kv: KV | undefined;

  constructor(options: {
    nc: NatsConnection;
    names: Names;
    store: RegistryStore;
    logger: Logger;
    puts: Counter<'outcome'>;
    clock: () => Date;
    replicas?: number;
    /** TELECARE_JETSTREAM_MAX_BYTES, the store the bucket's bound is a share of. */
    storeBytes?: number | undefined;
    retry?: { initialMs: number; maxMs: number };
  }) {
    this.#nc = options.nc;
    this.#names = options.names;
    this.#store = options.store;
    this.#log = options.logger.child({ component: 'resident-away' });
    this.#puts = options.puts;
    this.#bucketOptions = {
      replicas: options.replicas ?? 1,
      storeBytes: options.storeBytes,
      logger: options.logger,
    };
    this.#clock = options.clock;
    this.#retry = options.retry ?? { initialMs: 500, maxMs: 30_000 };
    this.#leftovers = new LeftoverRetry({
      retry: this.#retry,
      drop: async (residentId) => this.#dropLeftover(this.#kv ?? (await this.open()), residentId),
      refused: (err) => {
        if (err instanceof BucketFullError) this.#puts.inc({ outcome: 'full' });
        else {
          // The bucket may have been removed under us; open it again (creating it) next time.
          this.#kv = undefined;
          this.#puts.inc({ outcome: 'failed' });
        }
      },
      done: (deleted) =>
        this.#log.info(
          { deleted },
          'away periods: the leftovers the full bucket kept are gone (deleted, or the resident is away again)',
        ),
    });
  }

  async open(): Promise<KV> {
    this.#kv = await createBucket(
      this.#nc,
      this.#names.kv.residentAway,
      { kind: 'residentAway', history: 5 },
      this.#bucketOptions,
    );
    return this.#kv;
  }

  /**
   * Writes the resident's entry from the rows (deletes the key when no period is left). Never
   * throws: a failure or a refusal by the full bucket is logged, counted and tried again with
   * backoff; the caller answers a `full` (the change is saved, triage does not see it yet).
   */
  async publish(residentId: string): Promise<AwayOutcome> {
    this.#cancelRetry(residentId);
    const outcome = await this.#publishOnce(residentId);
    if (outcome === 'failed' || outcome === 'full') this.#scheduleRetry(residentId, 0);
    return outcome;
  }

  /**
   * Start-up: every resident with a period gets their entry; keys of the others go, each at the
   * revision read and only while the resident still has no period (`#dropLeftover`): one who
   * declared a period after the residents away were read is never deleted. A write or a delete the
   * full bucket refuses does not stop the start-up (it would stop in a loop while the bucket stays
   * full): the entry is left to the retries with backoff, and so is the leftover (`LeftoverRetry`).
   */
  async syncAll(): Promise<void> {
    const kv = this.#kv ?? (await this.open());
    const wanted = new Set(await this.#store.residentsAway(this.#clock()));
    const held = await lastValues(this.#nc, this.#names.kv.residentAway);
    let full = 0;
    for (const residentId of wanted) if ((await this.publish(residentId)) === 'full') full++;
    const kept: string[] = [];
    for (const key of held.keys()) {
      if (wanted.has(key)) continue;
      try {
        await this.#dropLeftover(kv, key);
      } catch (err) {
        // With its history, a full bucket refuses even a delete.
        if (!(err instanceof BucketFullError)) throw err;
        this.#puts.inc({ outcome: 'full' });
        kept.push(key);
      }
    }
    this.#leftovers.add(kept);
    if (full > 0 || kept.length > 0)
      this.#log.error(
        { residents: wanted.size, full, leftoversKept: kept.length },
        'away periods not in step: the bucket is full, triage goes on with those residents as it had them (a leftover still holds their inactivity checks); entries will be written and leftovers deleted with backoff once it has room',
      );
    else this.#log.info({ residents: wanted.size }, 'away periods in step');
  }

  /**
   * Deletes the key of a resident with no period, at the revision read (`#writeCurrent`). A
   * resident the rows read after it give a period again (declared since the sync read who is away)
   * is brought in step instead, never deleted; a key deleted meanwhile is left. Whether the key was
   * deleted.
   */
  async #dropLeftover(kv: KV, residentId: string): Promise<boolean> {
    return (await this.#writeCurrent(kv, residentId, 'held')) === 'deleted';
  }

  /**
   * Writes the resident's entry as PostgreSQL has it now, or deletes their key when no period is
   * left. The key is read before the rows the entry is built from, and written (or deleted) only at
   * the revision read: a change committed after the rows were read publishes after this and wins;
   * one that publishes in between makes this write fail, and it goes again from fresh rows. So two
   * publishes of one resident at once (two requests, a retry and a change, two instances) leave the
   * last commit's entry, never the older one: a cancelled period put back would hold the resident's
   * inactivity checks, a declared one deleted would raise false alarms. The entry is written even
   * when the bucket holds it already, and a deleted key deleted again: the write moves the revision
   * on, so a publish that read older rows before this one's commit cannot land after it. With
   * `held`, a key the bucket no longer holds is left as it is (a leftover deleted meanwhile).
   */
  async #writeCurrent(
    kv: KV,
    residentId: string,
    only: 'any' | 'held',
  ): Promise<Exclude<AwayOutcome, 'failed' | 'full'>> {
    for (let attempt = 1; ; attempt++) {
      const current = await kv.get(residentId);
      if (only === 'held' && current?.operation !== 'PUT') return 'absent';
      const entry = await this.#store.awayEntry(residentId, this.#clock());
      try {
        if (entry.periods.length > 0) {
          const value = JSON.stringify(entry);
          await kv.put(residentId, value, { previousSeq: current?.revision ?? 0 });
          // Counted as the device map's: the same entry written again only moves the revision on.
          const same = current?.operation === 'PUT' && current.string() === value;
          this.#puts.inc({ outcome: same ? 'rewritten' : 'written' });
          return 'written';
        }
        // A key never written has no revision a delete can be made at (the client sends none for
        // 0, which would delete unconditionally), and nothing to delete.
        if (current === null) return 'absent';
        await kv.delete(residentId, { previousSeq: current.revision });
        this.#puts.inc({ outcome: current.operation === 'PUT' ? 'deleted' : 'rewritten' });
        return 'deleted';
      } catch (err) {
        if (!isRevisionConflict(err) || attempt >= CAS_ATTEMPTS) throw err;
      }
    }
  }

  /** Stops trying again; the next start-up sync repairs what is left. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
    this.#leftovers.close();
  }

  async #publishOnce(residentId: string): Promise<AwayOutcome> {
    try {
      return await this.#writeCurrent(this.#kv ?? (await this.open()), residentId, 'any');
    } catch (err) {
      if (err instanceof BucketFullError) {
        this.#puts.inc({ outcome: 'full' });
        this.#log.error(
          { err, residentId },
          "away periods full: the resident's entry not written, triage goes on with their periods as they were; will retry",
        );
        return 'full';
      }
      // The bucket may have been removed under us; open it again (creating it) next time.
      this.#kv = undefined;
      this.#puts.inc({ outcome: 'failed' });
      this.#log.warn({ err, residentId }, 'away periods not published; will retry');
      return 'failed';
    }
  }

  #scheduleRetry(residentId: string, attempt: number): void {
    if (this.#closed) return;
    const delay = Math.min(this.#retry.maxMs, this.#retry.initialMs * 2 ** attempt);
    const timer = setTimeout(() => {
      this.#pending.delete(residentId);
      void this.#publishOnce(residentId).then((outcome) => {
        if (outcome === 'failed' || outcome === 'full') this.#scheduleRetry(residentId, attempt + 1);
      });
    }, delay);
    // A pending retry must not keep a finished process alive; start-up sync covers it.
    timer.unref();
    this.#pending.set(residentId, timer);
  }

  #cancelRetry(residentId: string): void {
    const timer = this.#pending.get(residentId);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#pending.delete(residentId);
  }
}

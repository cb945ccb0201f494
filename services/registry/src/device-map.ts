import { DeviceMapEntry, type Names } from '@telecare/contracts';
import {
  BucketFullError,
  type BucketOptions,
  type Counter,
  type KV,
  type KvEntry,
  type Logger,
  lastValues,
  type NatsConnection,
  openDeviceMap,
} from '@telecare/platform';
import { buildDeviceMapEntry } from './device-map-entry.ts';
import type { MapRows, RegistryStore } from './store.ts';

/**
 * How bringing a serial's entry in step ended: written, written again as the bucket held it (a
 * publication's `rewritten`: the same entry, or a deleted key's deletion), already there and left
 * (the start-up sync's `unchanged`), deleted, never there, failed, or refused by a full bucket
 * (`full`: retried like a failure, and answered with a `DeviceMapFullError`).
 */
export type MapOutcome = 'written' | 'rewritten' | 'unchanged' | 'deleted' | 'absent' | 'failed' | 'full';

/**
 * Who brings an entry in step. A `publish` (a commit's publication, its retry, an import's) writes
 * at the revision read even when the bucket holds the entry already, and deletes a deleted key
 * again: the write moves the revision on, so a publication that read older rows before this one's
 * commit (a change straight changed back: test mode on and off) cannot land after it. Skipped, the
 * revision stood still and that older write was taken: the bucket kept test mode on.
 *
 * The start-up `sync` writes only what is not in step: it is no commit's publication, and every
 * commit's own publication moves the revision on, so an older publication in flight fails against
 * that one whatever the sync does. What the skip leaves is a commit whose publication was lost (its
 * instance stopped between the commit and the write) while another instance's older publication of
 * the same device is still in flight, and the commit put the device back as the bucket holds it: the
 * older write can land after the sync looked (README, "PostgreSQL first, then the map"). Rewriting
 * every entry at each start would put the whole estate through the bucket to close it.
 */
type Writer = 'publish' | 'sync';

/** An outcome that leaves the entry to be written again: failed, or refused by a full bucket. */
const unwritten = (outcome: MapOutcome | undefined): boolean => outcome === 'failed' || outcome === 'full';

const CAS_ATTEMPTS = 5;
/** Serials the start-up sync reads and writes together (`#reconcileChunk`). */
const SYNC_CHUNK = 256;

/** JetStream "wrong last sequence": someone else wrote the key between our read and our write. */
export const isRevisionConflict = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && 'code' in err && (err.code === 10071 || err.code === 10164);

/**
 * Key order fixed so two equal entries compare equal whatever order their fields arrived in, at
 * every depth (a replacer list of the top-level keys would also drop a nested object's own keys).
 */
const canonical = (entry: DeviceMapEntry): string =>
  JSON.stringify(entry, (_key, value: unknown) =>
    value !== null && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );

/**
 * Keeps the NATS KV device map in step with PostgreSQL, which is the record: every write here
 * is a copy of committed rows, so it can always be redone — after a failed put, by the retry
 * loop; after anything else, by `syncAll` at start-up.
 */
export class DeviceMapPublisher {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #store: RegistryStore;
  readonly #log: Logger;
  readonly #puts: Counter<'outcome'>;
  readonly #retry: { initialMs: number; maxMs: number };
  /** Copies, store and logger the bucket is made with (`createBucket`). */
  readonly #bucketOptions: BucketOptions;
  #kv: KV | undefined;
  readonly #pending = new Map<string, Retry>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: {
    nc: NatsConnection;
    names: Names;
    store: RegistryStore;
    logger: Logger;
    puts: Counter<'outcome'>;
    retry?: { initialMs: number; maxMs: number };
    /** TELECARE_STREAM_REPLICAS, for the bucket when this creates it. */
    replicas?: number;
    /** TELECARE_JETSTREAM_MAX_BYTES, the store the bucket's bound is a share of. */
    storeBytes?: number | undefined;
  }) {
    this.#bucketOptions = {
      replicas: options.replicas ?? 1,
      storeBytes: options.storeBytes,
      logger: options.logger,
    };
    this.#nc = options.nc;
    this.#names = options.names;
    this.#store = options.store;
    this.#log = options.logger.child({ component: 'device-map' });
    this.#puts = options.puts;
    this.#retry = options.retry ?? { initialMs: 500, maxMs: 30_000 };
  }

  /**
   * Opens the bucket, creating it if it is missing (with the one configuration every service
   * uses), and re-creating it if it was removed while we ran.
   */
  async open(): Promise<KV> {
    this.#kv = await openDeviceMap(this.#nc, this.#names, this.#bucketOptions);
    return this.#kv;
  }

  /**
   * Writes the serial's entry as PostgreSQL has it now (deletes it when the device is not mapped);
   * the sync leaves one the bucket holds already (`Writer`). The bucket's entry is read before the
   * rows the entry is built from, and written only at the revision read: a change committed after
   * the rows were read publishes after this and wins; one that publishes in between makes this write
   * fail, and it goes again from fresh rows. So the bucket ends with the last commit's entry,
   * whatever the clocks of the requests (or instances) that made them said: an entry's `updatedAt`
   * orders nothing here.
   */
  async #reconcile(serial: string, writer: Writer): Promise<Exclude<MapOutcome, 'failed'>> {
    const kv = this.#kv ?? (await this.open());
    for (let attempt = 1; ; attempt++) {
      const current = await kv.get(serial);
      const rows = await this.#store.mapRowsFor(serial);
      try {
        return await this.#writeAt(kv, serial, current, rows, writer);
      } catch (err) {
        if (!isRevisionConflict(err) || attempt >= CAS_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * Writes (or deletes) the entry `rows` make, at the revision of `current`, the bucket's entry read
   * before the rows; throws a revision conflict when the key was written since. What the bucket
   * holds already is written again by a publication, left by the sync (`Writer`).
   */
  async #writeAt(
    kv: KV,
    serial: string,
    current: KvEntry | null,
    rows: MapRows | undefined,
    writer: Writer,
  ): Promise<Exclude<MapOutcome, 'failed'>> {
    const entry = rows ? buildDeviceMapEntry(rows.device, rows.resident) : null;
    if (!entry) {
      // A key never written has no revision a delete can be made at (the client sends none for 0,
      // which would delete unconditionally), and nothing to delete.
      if (current === null) return 'absent';
      const held = current.operation === 'PUT';
      if (!held && writer === 'sync') return 'absent';
      await kv.delete(serial, { previousSeq: current.revision });
      return held ? 'deleted' : 'rewritten';
    }
    const value = canonical(entry);
    const same = current?.operation === 'PUT' && sameEntry(current.string(), value);
    if (same && writer === 'sync') return 'unchanged';
    await kv.put(serial, value, { previousSeq: current?.revision ?? 0 });
    return same ? 'rewritten' : 'written';
  }

  /**
   * `#reconcile` for a chunk of serials at once: the bucket's entries read side by side, then the
   * chunk's rows in one statement, then each written at the revision read, side by side. A serial
   * whose write conflicts goes again alone from fresh rows (`#reconcile`). Answers each serial's
   * outcome; a failure is counted and logged here, and left to the caller to try again.
   */
  async #reconcileChunk(serials: readonly string[], writer: Writer): Promise<Map<string, MapOutcome>> {
    const outcomes = new Map<string, MapOutcome>();
    const failed = (serial: string, err: unknown) => {
      const outcome = err instanceof BucketFullError ? 'full' : 'failed';
      outcomes.set(serial, outcome);
      this.#puts.inc({ outcome });
      return err;
    };
    let cause: unknown;
    try {
      const kv = this.#kv ?? (await this.open());
      const read = await Promise.allSettled(serials.map((serial) => kv.get(serial)));
      const currents = new Map<string, KvEntry | null>();
      read.forEach((got, i) => {
        const serial = serials[i]!;
        if (got.status === 'fulfilled') currents.set(serial, got.value);
        else cause = failed(serial, got.reason);
      });
      const rows = currents.size > 0 ? await this.#store.mapRowsForMany([...currents.keys()]) : new Map();
      const written = await Promise.allSettled(
        [...currents].map(([serial, current]) =>
          this.#writeAt(kv, serial, current, rows.get(serial), writer).catch((err: unknown) => {
            if (isRevisionConflict(err)) return this.#reconcile(serial, writer);
            throw err;
          }),
        ),
      );
      [...currents.keys()].forEach((serial, i) => {
        const done = written[i]!;
        if (done.status === 'rejected') cause = failed(serial, done.reason);
        else {
          outcomes.set(serial, done.value);
          if (done.value !== 'absent') this.#puts.inc({ outcome: done.value });
        }
      });
    } catch (err) {
      for (const serial of serials) if (!outcomes.has(serial)) cause = failed(serial, err);
    }
    if (cause !== undefined) {
      // The bucket may have been removed under us; open it again (creating it) next time.
      this.#kv = undefined;
      const count = [...outcomes.values()].filter(unwritten).length;
      if (cause instanceof BucketFullError)
        this.#log.error(
          { err: cause, failed: count, of: serials.length },
          'device map full: entries not written, the gateways go on with them as they were (a new device refused as unknown); will retry',
        );
      else
        this.#log.warn(
          { err: cause, failed: count, of: serials.length },
          'device map puts failed; will retry',
        );
    }
    return outcomes;
  }

  /**
   * Publishes many devices' committed state (an import's, after its commit), `chunk` serials at a
   * time (`#reconcileChunk`): a statement of rows and two round trips of NATS requests a chunk
   * rather than a statement and two round trips a device. Once a whole chunk fails (NATS cannot be
   * reached), the rest are not tried now. Answers the serials not published: each is retried with
   * backoff, a chunk at a time, until it is or the service closes. Never throws.
   */
  async publishMany(serials: readonly string[], chunk: number): Promise<string[]> {
    const unique = [...new Set(serials)];
    for (const serial of unique) this.#cancelRetry(serial);
    const work = this.#publishChunks(unique, chunk);
    this.#inFlight.add(work);
    try {
      const pending = await work;
      this.#scheduleRetry(pending, 0, chunk);
      return pending;
    } finally {
      this.#inFlight.delete(work);
    }
  }

  async #publishChunks(serials: readonly string[], chunk: number): Promise<string[]> {
    const pending: string[] = [];
    for (let from = 0; from < serials.length; from += chunk) {
      const part = serials.slice(from, from + chunk);
      const outcomes = await this.#reconcileChunk(part, 'publish');
      const failed = part.filter((serial) => unwritten(outcomes.get(serial)));
      pending.push(...failed);
      if (failed.length === part.length) {
        pending.push(...serials.slice(from + chunk));
        break;
      }
    }
    return pending;
  }

  /**
   * Publishes the committed state of one device. Never throws: on failure it logs, counts and
   * retries with backoff until it succeeds or the service closes. Call it after the commit.
   */
  async publish(serial: string): Promise<MapOutcome> {
    this.#cancelRetry(serial);
    const work = this.#publishOnce(serial);
    this.#inFlight.add(work);
    try {
      const outcome = await work;
      if (unwritten(outcome)) this.#scheduleRetry([serial], 0);
      return outcome;
    } finally {
      this.#inFlight.delete(work);
    }
  }

  /**
   * Makes the bucket match PostgreSQL: puts every mapped device and deletes keys for serials that
   * are no longer mapped. Keys are listed before rows are read, so a device committed meanwhile
   * cannot be mistaken for a leftover and deleted. Every mapped device, and every leftover key, is
   * brought in step from the bucket and fresh rows a chunk at a time (`#reconcileChunk`, as an
   * import's are), so neither a snapshot older than a change published meanwhile nor an entry
   * dated ahead of PostgreSQL's rows is left as it is. An entry already in step is left as it is
   * (`Writer`: why that is safe, and the one case it is not). Throws once an entry could not be
   * written.
   */
  async syncAll(): Promise<Record<MapOutcome, number>> {
    // Opened (created if missing) before it is read whole.
    await this.open();
    const counts: Record<MapOutcome, number> = {
      written: 0,
      rewritten: 0,
      unchanged: 0,
      deleted: 0,
      absent: 0,
      failed: 0,
      full: 0,
    };
    // Refused by a full bucket: retried with backoff rather than stopping the start-up, which
    // would stop the registry in a loop while the bucket stays full.
    const full: string[] = [];
    const leftovers = new Set((await lastValues(this.#nc, this.#names.kv.deviceMap)).keys());
    const reconcile = async (serials: readonly string[]) => {
      for (const [serial, outcome] of await this.#reconcileChunk(serials, 'sync')) {
        counts[outcome]++;
        if (outcome === 'full') full.push(serial);
      }
      if (counts.failed > 0) throw new Error(`device map sync: ${counts.failed} entries not written`);
    };
    let chunk: string[] = [];
    for await (const { device, resident } of this.#store.allMapRows(SYNC_CHUNK)) {
      if (!buildDeviceMapEntry(device, resident)) continue;
      leftovers.delete(device.serial);
      chunk.push(device.serial);
      if (chunk.length < SYNC_CHUNK) continue;
      await reconcile(chunk);
      chunk = [];
    }
    await reconcile(chunk);
    const left = [...leftovers];
    for (let from = 0; from < left.length; from += SYNC_CHUNK)
      await reconcile(left.slice(from, from + SYNC_CHUNK));
    this.#scheduleRetry(full, 0, SYNC_CHUNK);
    if (full.length > 0) this.#log.error(counts, 'device map not in step with postgres: the bucket is full');
    else this.#log.info(counts, 'device map in step with postgres');
    return counts;
  }

  /** Stops retrying and waits for publishes in hand; the next start-up sync repairs anything left. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const serial of [...this.#pending.keys()]) this.#cancelRetry(serial);
    await Promise.allSettled([...this.#inFlight]);
  }

  async #publishOnce(serial: string): Promise<MapOutcome> {
    try {
      const outcome = await this.#reconcile(serial, 'publish');
      if (outcome !== 'absent') this.#puts.inc({ outcome });
      this.#log.debug({ serial, outcome }, 'device map entry');
      return outcome;
    } catch (err) {
      if (err instanceof BucketFullError) {
        this.#puts.inc({ outcome: 'full' });
        this.#log.error(
          { err, serial },
          'device map full: entry not written, the gateways go on with it as it was (a new device refused as unknown); will retry',
        );
        return 'full';
      }
      // The bucket may have been removed under us; open it again (creating it) next time.
      this.#kv = undefined;
      this.#puts.inc({ outcome: 'failed' });
      this.#log.warn({ err, serial }, 'device map put failed; will retry');
      return 'failed';
    }
  }

  /** Tries `serials` again after a backoff, a chunk at a time, and those that fail again after a longer one. */
  #scheduleRetry(serials: readonly string[], attempt: number, chunk = 1): void {
    if (this.#closed || serials.length === 0) return;
    for (const serial of serials) this.#cancelRetry(serial);
    const delay = Math.min(this.#retry.maxMs, this.#retry.initialMs * 2 ** attempt);
    const retry: Retry = {
      serials: new Set(serials),
      timer: setTimeout(() => {
        for (const serial of retry.serials) this.#pending.delete(serial);
        const work = this.#publishChunks([...retry.serials], chunk).then((pending) =>
          this.#scheduleRetry(pending, attempt + 1, chunk),
        );
        this.#inFlight.add(work);
        void work.finally(() => this.#inFlight.delete(work));
      }, delay),
    };
    // A pending retry must not keep a finished process alive; start-up sync covers it.
    retry.timer.unref();
    for (const serial of serials) this.#pending.set(serial, retry);
  }

  #cancelRetry(serial: string): void {
    const retry = this.#pending.get(serial);
    if (!retry) return;
    this.#pending.delete(serial);
    retry.serials.delete(serial);
    if (retry.serials.size === 0) clearTimeout(retry.timer);
  }
}

/** Serials tried again together after one backoff. */
interface Retry {
  readonly serials: Set<string>;
  readonly timer: NodeJS.Timeout;
}

/** Whether a stored value is the entry `value` (canonical), whatever order its fields were kept in. */
function sameEntry(stored: string, value: string): boolean {
  const existing = DeviceMapEntry.safeParse(safeJson(stored));
  return existing.success && canonical(existing.data) === value;
}

/** The JSON a stored value holds, or undefined when it is not JSON. */
export function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

import { type KV, Kvm } from '@nats-io/kv';
import { Dc09AccountEntry, type Names } from '@telecare/contracts';
import {
  BucketFullError,
  type BucketOptions,
  type Clock,
  type Counter,
  isStreamFull,
  type Logger,
  lastValues,
  type NatsConnection,
  openDc09Accounts,
  StreamReplicasError,
  StreamStorageError,
  systemClock,
} from '@telecare/platform';
import { isRevisionConflict } from './device-map.ts';
import { pairingsOf } from './device-map-entry.ts';
import { LeftoverRetry } from './leftovers.ts';
import type { DeviceRow, ResidentRow } from './records.ts';
import type { RegistryStore } from './store.ts';

/**
 * The DC-09 account entry for a device, or null when the device does not report over DC-09 under
 * an account for a resident. The key is decrypted here: the bucket is the hand-over to the DC-09
 * gateway and must be readable only by it and the registry.
 */
export function buildDc09AccountEntry(
  device: DeviceRow,
  resident: Pick<ResidentRow, 'id' | 'postcode_district' | 'updated_at'> | null,
  openKey: (stored: string) => string,
  now: Date = new Date(),
): Dc09AccountEntry | null {
  if (device.protocol !== 'dc09' || device.dc09_account === null) return null;
  if (!resident || device.resident_id !== resident.id || device.state === 'decommissioned') return null;
  const updatedAt = Math.max(device.updated_at.getTime(), resident.updated_at.getTime());
  return Dc09AccountEntry.parse({
    account: device.dc09_account,
    serial: device.serial,
    kind: device.kind,
    residentId: resident.id,
    key: device.dc09_key_enc === null ? null : openKey(device.dc09_key_enc),
    keyEncoding: device.dc09_key_encoding,
    // Only while its grace runs: past it the gateway refuses the old key anyway, and the secret
    // need not be handed on.
    ...(device.dc09_key_enc !== null &&
    device.dc09_prev_key_enc !== null &&
    device.dc09_prev_key_until !== null &&
    device.dc09_prev_key_until.getTime() > now.getTime()
      ? {
          previousKey: {
            key: openKey(device.dc09_prev_key_enc),
            keyEncoding: device.dc09_prev_key_encoding ?? device.dc09_key_encoding,
            until: device.dc09_prev_key_until.toISOString(),
          },
        }
      : {}),
    codeOverrides: device.dc09_code_overrides ?? {},
    clockZone: device.dc09_clock_zone ?? null,
    supervisionIntervalS: device.supervision_interval_s,
    state: device.state,
    testMode: device.test_mode,
    postcodeDistrict: resident.postcode_district,
    // The device map's pairings: the DC-09 gateway attributes a panel's backlog by the same rule.
    ...pairingsOf(device),
    updatedAt: new Date(updatedAt).toISOString(),
  });
}

const CAS_ATTEMPTS = 5;

/**
 * Who brings an account's entry in step, as in the device map (`device-map.ts`, `Writer`): a
 * `publish` (a commit's publication, its retry, an import's, the key sweep's) writes at the
 * revision read even when the bucket holds the entry already, and deletes a deleted key again, so
 * the revision moves on and a publication that read older rows before this one's commit fails
 * rather than landing after it (a panel's test mode turned on and straight off was left on); the
 * start-up `sync` writes only what is not in step.
 */
type Writer = 'publish' | 'sync';

/**
 * How publishing a device's account ended: the bucket holds what PostgreSQL says (`published`),
 * or not yet, after a failure or refused by the full bucket (`full`: answered with a
 * `Dc09AccountsFullError`); either is tried again with backoff.
 */
export type Dc09Outcome = 'published' | 'failed' | 'full';

/** The bucket refused a write for want of room (the handle names it; a plain handle does not). */
const isFull = (err: unknown): boolean => err instanceof BucketFullError || isStreamFull(err);

const FULL_MESSAGE =
  'dc09 accounts full: entry not written, the DC-09 gateway goes on with the account as it was (a new account answered NAK, a new key not taken yet); will retry';

/**
 * Keeps the DC-09 accounts bucket (key = account) in step with PostgreSQL, like the device map:
 * a put after every committed change, a full resync at start-up. Failures, and writes or deletes
 * the full bucket refuses, are logged, counted and tried again with backoff.
 */
export class Dc09AccountPublisher {
  readonly #nc: NatsConnection;
  readonly #names: Names;
  readonly #store: RegistryStore;
  readonly #log: Logger;
  readonly #puts: Counter<'outcome'>;
  /** Copies, store and logger the bucket is made with (`createBucket`). */
  readonly #bucketOptions: BucketOptions;
  readonly #clock: Clock;
  readonly #retry: { initialMs: number; maxMs: number };
  /** Devices whose last publication failed, tried again with backoff (with the account they left). */
  readonly #pending = new Map<
    string,
    { previousAccount: string | null | undefined; timer: NodeJS.Timeout }
  >();
  /** Accounts the start-up sync found no device for and the full bucket would not delete. */
  readonly #leftovers: LeftoverRetry;
  #closed = false;
  #kv: KV | undefined;

  constructor(options: {
    nc: NatsConnection;
    names: Names;
    store: RegistryStore;
    logger: Logger;
    puts: Counter<'outcome'>;
    /** TELECARE_STREAM_REPLICAS, for the bucket when this creates it. */
    replicas?: number;
    /** TELECARE_JETSTREAM_MAX_BYTES, the store the bucket's bound is a share of. */
    storeBytes?: number | undefined;
    /** Whether a previous key's grace still runs is judged by it. */
    clock?: Clock;
    retry?: { initialMs: number; maxMs: number };
  }) {
    this.#retry = options.retry ?? { initialMs: 500, maxMs: 30_000 };
    this.#bucketOptions = {
      replicas: options.replicas ?? 1,
      storeBytes: options.storeBytes,
      logger: options.logger,
    };
    this.#clock = options.clock ?? systemClock;
    this.#nc = options.nc;
    this.#names = options.names;
    this.#store = options.store;
    this.#log = options.logger.child({ component: 'dc09-accounts' });
    this.#puts = options.puts;
    this.#leftovers = new LeftoverRetry({
      retry: this.#retry,
      drop: async (account) => this.#dropLeftover(this.#kv ?? (await this.open()), account, 'sync'),
      refused: (err) => {
        if (isFull(err)) this.#puts.inc({ outcome: 'full' });
        else {
          // The bucket may have been removed under us; open it again (creating it) next time.
          this.#kv = undefined;
          this.#puts.inc({ outcome: 'failed' });
        }
      },
      done: (deleted) =>
        this.#log.info(
          { deleted },
          'dc09 accounts: the leftovers the full bucket kept are gone (deleted, or a device holds the account now)',
        ),
    });
  }

  async open(): Promise<KV> {
    // Whichever of registry and DC-09 gateway comes first creates it; bind if it exists already.
    this.#kv = await openDc09Accounts(this.#nc, this.#names, this.#bucketOptions).catch((err) => {
      if (err instanceof StreamReplicasError || err instanceof StreamStorageError) throw err;
      return new Kvm(this.#nc).open(this.#names.kv.dc09Accounts, { allow_direct: true });
    });
    return this.#kv;
  }

  #entryFor(
    device: DeviceRow,
    resident: Pick<ResidentRow, 'id' | 'postcode_district' | 'updated_at'> | null,
  ) {
    return buildDc09AccountEntry(
      device,
      resident,
      (stored) => this.#store.open(stored, device.id, 'dc09Key') ?? '',
      new Date(this.#clock.now()),
    );
  }

  /**
   * Publishes one device's account; `previousAccount` is removed when the device no longer holds
   * it. Never throws: whether the bucket now holds what PostgreSQL says. A failure, or a refusal by
   * the full bucket, is logged, counted and tried again with backoff (the account left with it)
   * until it succeeds or the service closes: a decommissioned panel's entry left in the bucket would
   * keep its key accepted by the gateway until a restart.
   */
  async publish(serial: string, previousAccount?: string | null): Promise<Dc09Outcome> {
    const pending = this.#pending.get(serial);
    if (pending) {
      clearTimeout(pending.timer);
      this.#pending.delete(serial);
    }
    const leaving = previousAccount ?? pending?.previousAccount;
    const outcome = await this.#publishOnce(serial, leaving);
    if (outcome !== 'published') this.#scheduleRetry(serial, leaving, 0);
    return outcome;
  }

  /** Stops trying again; the next start-up sync repairs what is left. */
  close(): void {
    this.#closed = true;
    for (const { timer } of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
    this.#leftovers.close();
  }

  #scheduleRetry(serial: string, previousAccount: string | null | undefined, attempt: number): void {
    if (this.#closed) return;
    const delay = Math.min(this.#retry.maxMs, this.#retry.initialMs * 2 ** attempt);
    const timer = setTimeout(() => {
      this.#pending.delete(serial);
      void this.#publishOnce(serial, previousAccount).then((outcome) => {
        if (outcome !== 'published') this.#scheduleRetry(serial, previousAccount, attempt + 1);
      });
    }, delay);
    timer.unref();
    this.#pending.set(serial, { previousAccount, timer });
  }

  async #publishOnce(serial: string, previousAccount: string | null | undefined): Promise<Dc09Outcome> {
    try {
      const kv = this.#kv ?? (await this.open());
      const { entry, account } = await this.#putCurrent(kv, serial, 'publish');
      // The account the device left, or holds with no entry (a panel unpaired keeps its account),
      // goes unless a device has an entry for it by the time it is read.
      for (const left of new Set([previousAccount, account]))
        if (left && left !== entry?.account) await this.#dropLeftover(kv, left, 'publish');
      return 'published';
    } catch (err) {
      if (isFull(err)) {
        this.#puts.inc({ outcome: 'full' });
        this.#log.error({ err, serial }, FULL_MESSAGE);
        return 'full';
      }
      this.#kv = undefined;
      this.#puts.inc({ outcome: 'failed' });
      this.#log.warn({ err, serial }, 'dc09 account put failed; will retry');
      return 'failed';
    }
  }

  /**
   * `publish` for many devices (an import's, after its commit), `chunk` serials at a time: the
   * chunk's rows in one statement, which tells the devices with an account (most imports have none:
   * nothing more for them); those accounts' entries read side by side; the rows read again in one
   * statement; each written at the revision read, side by side, as `#putCurrent` writes one (even
   * when the bucket holds it already: `Writer`). A
   * device whose account changed between the two reads, or whose write conflicts or fails, goes
   * through `publish` alone. Once NATS failed every read of a chunk (or the bucket could not be
   * opened), the accounts of the rest are not tried now. Answers the serials not published (retried with backoff). Never throws.
   */
  async publishMany(serials: readonly string[], chunk: number): Promise<string[]> {
    const pending: string[] = [];
    let unreachable = false;
    const unique = [...new Set(serials)];
    for (let from = 0; from < unique.length; from += chunk) {
      const part = unique.slice(from, from + chunk);
      try {
        const done = await this.#publishChunk(part, unreachable);
        unreachable ||= done.unreachable;
        pending.push(...done.failed);
      } catch (err) {
        this.#log.warn({ err, of: part.length }, 'dc09 account puts failed; will retry');
        for (const serial of part) if (!this.#pending.has(serial)) this.#scheduleRetry(serial, undefined, 0);
        pending.push(...part);
        unreachable = true;
      }
    }
    return pending;
  }

  /** One chunk of `publishMany`: the serials left pending, and whether NATS failed every read. */
  async #publishChunk(
    serials: readonly string[],
    skipNats: boolean,
  ): Promise<{ failed: string[]; unreachable: boolean }> {
    const holding: Array<{ serial: string; account: string }> = [];
    const alone: string[] = [];
    for (const [serial, rows] of await this.#store.mapRowsForMany(serials)) {
      const account = this.#entryFor(rows.device, rows.resident)?.account;
      // A device with a retry in hand may be leaving an account: that goes with it, alone.
      if (this.#pending.has(serial)) alone.push(serial);
      else if (account !== undefined) holding.push({ serial, account });
    }
    const failed: string[] = [];
    let unreachable = false;
    if (skipNats) {
      for (const { serial } of holding) {
        this.#puts.inc({ outcome: 'failed' });
        this.#scheduleRetry(serial, undefined, 0);
        failed.push(serial);
      }
      holding.length = 0;
    } else if (holding.length > 0) {
      const kv = this.#kv ?? (await this.open());
      const read = await Promise.allSettled(holding.map(({ account }) => kv.get(account)));
      unreachable = read.every((got) => got.status === 'rejected');
      const rows = await this.#store.mapRowsForMany(holding.map(({ serial }) => serial));
      await Promise.all(
        holding.map(async ({ serial, account }, i) => {
          const current = read[i]!;
          const now = rows.get(serial);
          const entry = now ? this.#entryFor(now.device, now.resident) : null;
          if (current.status === 'fulfilled' && entry?.account === account) {
            const value = JSON.stringify(entry);
            const same = current.value?.operation === 'PUT' && current.value.string() === value;
            try {
              await kv.put(account, value, { previousSeq: current.value?.revision ?? 0 });
              this.#puts.inc({ outcome: same ? 'rewritten' : 'written' });
              return;
            } catch {
              // Goes again alone, from fresh rows.
            }
          } else if (current.status === 'rejected') {
            this.#puts.inc({ outcome: 'failed' });
            this.#scheduleRetry(serial, undefined, 0);
            failed.push(serial);
            return;
          }
          if ((await this.publish(serial)) !== 'published') failed.push(serial);
        }),
      );
    }
    for (const serial of alone) if ((await this.publish(serial)) !== 'published') failed.push(serial);
    if (failed.length > 0)
      this.#log.warn({ failed: failed.length, of: serials.length }, 'dc09 account puts failed; will retry');
    return { failed, unreachable };
  }

  /**
   * Writes the device's entry as PostgreSQL has it now; the sync leaves one the bucket holds already
   * (`Writer`). The account's key is read before the rows the entry is built from, and written only
   * at the revision read: a change committed after the rows were read publishes after this and wins; one that
   * publishes in between makes this write fail, and it goes again from fresh rows. (Rows read
   * before the bucket could put back what a newer change had just replaced: a sweep and a key
   * change of one device at once would leave the gateway without the new key.) Answers the entry
   * (null: the device has none) and the account the device's row holds, which a device with no
   * entry may hold too (a panel unpaired from its resident keeps its account).
   */
  async #putCurrent(
    kv: KV,
    serial: string,
    writer: Writer,
  ): Promise<{ entry: Dc09AccountEntry | null; account: string | null }> {
    for (let attempt = 1; ; attempt++) {
      const before = await this.#store.mapRowsFor(serial);
      const account = before ? this.#entryFor(before.device, before.resident)?.account : undefined;
      if (account === undefined) return { entry: null, account: before?.device.dc09_account ?? null };
      const current = await kv.get(account);
      const rows = await this.#store.mapRowsFor(serial);
      const entry = rows ? this.#entryFor(rows.device, rows.resident) : null;
      if (entry?.account !== account) {
        if (attempt >= CAS_ATTEMPTS) throw new Error(`device ${serial}'s DC-09 account kept changing`);
        continue;
      }
      const value = JSON.stringify(entry);
      const same = current?.operation === 'PUT' && current.string() === value;
      if (same && writer === 'sync') return { entry, account };
      try {
        await kv.put(account, value, { previousSeq: current?.revision ?? 0 });
        this.#puts.inc({ outcome: same ? 'rewritten' : 'written' });
        return { entry, account };
      } catch (err) {
        if (!isRevisionConflict(err) || attempt >= CAS_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * Makes the bucket match PostgreSQL: every account written, every other key deleted. Keys are
   * listed before rows are read; an entry the bucket does not already hold as the rows read here
   * have it is written from the bucket and fresh rows at the revision read (`#putCurrent`), and a
   * leftover is deleted only at the revision read and when no device holds its account now
   * (`#dropLeftover`), as the live path does: a key change or a registration published while the
   * sync ran is never overwritten by its older snapshot, nor deleted as a leftover.
   *
   * A write the full bucket refuses does not stop the sync (nor the start-up, which would stop in
   * a loop while the bucket stays full): the device is left to the retries with backoff, and so is
   * a leftover the full bucket will not delete (`LeftoverRetry`, each decided again by
   * `#dropLeftover` when it is tried).
   */
  async syncAll(): Promise<{ written: number; deleted: number; full: number }> {
    const kv = await this.open();
    const leftovers = new Set((await lastValues(this.#nc, this.#names.kv.dc09Accounts)).keys());
    let written = 0;
    let deleted = 0;
    const full: string[] = [];
    const kept: string[] = [];
    const refused = (err: unknown): void => {
      if (!isFull(err)) throw err;
      this.#puts.inc({ outcome: 'full' });
    };
    for await (const { device, resident } of this.#store.allMapRows()) {
      const entry = this.#entryFor(device, resident);
      if (!entry) continue;
      leftovers.delete(entry.account);
      const current = await kv.get(entry.account);
      if (current?.operation === 'PUT' && current.string() === JSON.stringify(entry)) continue;
      try {
        const put = await this.#putCurrent(kv, device.serial, 'sync');
        if (put.entry?.account !== entry.account && (await this.#dropLeftover(kv, entry.account, 'sync')))
          deleted++;
        written++;
      } catch (err) {
        refused(err);
        full.push(device.serial);
      }
    }
    for (const account of leftovers) {
      try {
        if (await this.#dropLeftover(kv, account, 'sync')) deleted++;
      } catch (err) {
        refused(err);
        kept.push(account);
      }
    }
    for (const serial of full) if (!this.#pending.has(serial)) this.#scheduleRetry(serial, undefined, 0);
    this.#leftovers.add(kept);
    if (full.length > 0 || kept.length > 0)
      this.#log.error(
        { written, deleted, full: full.length, leftoversKept: kept.length },
        'dc09 accounts not in step with postgres: the bucket is full, the DC-09 gateway goes on with those accounts as they were (a leftover account still accepted); entries will be written and leftovers deleted with backoff once it has room',
      );
    else this.#log.info({ written, deleted }, 'dc09 accounts in step with postgres');
    return { written, deleted, full: full.length };
  }

  /**
   * Deletes the entry of an account no device has an entry for (a leftover of the start-up sync, or
   * an account a device left), at the revision read, from rows read after it. An account a device
   * holds now (registered after the sync read its rows, a replacement panel given a decommissioned
   * one's account, a panel paired again after the publication that unpaired it read its rows, or
   * while the full bucket kept the entry a device before it left) is that device's: its entry is
   * brought in step instead (`#putCurrent`), never deleted. (Decided from rows read before the key,
   * a late removal could delete the entry of a panel paired again meanwhile: its alarms answered NAK.)
   * A publication deletes a deleted key again (`Writer`): a panel paired and straight unpaired kept
   * its entry when the pairing's publication, slow, landed after the unpairing's skipped. Whether
   * an entry was deleted.
   */
  async #dropLeftover(kv: KV, account: string, writer: Writer): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      const current = await kv.get(account);
      // A key never written has no revision a delete can be made at, and nothing to delete.
      if (current === null) return false;
      const held = current.operation === 'PUT';
      if (!held && writer === 'sync') return false;
      const holder = (await this.#store.existingKeys([], [account])).accounts.get(account);
      const rows = holder === undefined ? undefined : await this.#store.mapRowsFor(holder);
      if (holder !== undefined && rows && this.#entryFor(rows.device, rows.resident)?.account === account) {
        await this.#putCurrent(kv, holder, writer);
        return false;
      }
      try {
        await kv.delete(account, { previousSeq: current.revision });
        this.#puts.inc({ outcome: held ? 'deleted' : 'rewritten' });
        return held;
      } catch (err) {
        if (!isRevisionConflict(err) || attempt >= CAS_ATTEMPTS) throw err;
      }
    }
  }
}

/**
 * Takes a previous DC-09 key out of its account entry once its grace has ended: the gateway refuses
 * it past the grace anyway, but the bucket would hand the old secret on until the device's next
 * change. Every `intervalMs` (REGISTRY_DC09_KEY_SWEEP_S), each device whose previous key's grace has
 * ended has its entry written again (without it) and then the key forgotten in PostgreSQL, which
 * is what marks it done: a write that fails leaves it for the next sweep. Idempotent, and safe
 * with several registry instances: they write the same entry (at the revision each read) and only
 * one forgets the key.
 */
export function startPreviousKeySweep(deps: {
  store: RegistryStore;
  publisher: Dc09AccountPublisher;
  clock: Clock;
  logger: Logger;
  intervalMs: number;
}): { stop(): Promise<void>; sweep(): Promise<number> } {
  const log = deps.logger.child({ component: 'dc09-accounts' });
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const sweep = async (): Promise<number> => {
    const now = new Date(deps.clock.now());
    let ended = 0;
    for (const serial of await deps.store.endedPreviousKeys(now)) {
      if (stopped) break;
      if ((await deps.publisher.publish(serial)) !== 'published') continue;
      if (await deps.store.forgetPreviousKey(serial, now)) {
        ended++;
        log.info({ serial }, 'previous DC-09 key out of its account entry: its grace has ended');
      }
    }
    return ended;
  };
  const timer = setInterval(() => {
    if (stopped) return;
    running = running
      .then(sweep)
      .catch((err: unknown) => log.warn({ err }, 'previous DC-09 key sweep failed'));
  }, deps.intervalMs);
  timer.unref();
  return {
    sweep: () => {
      const run = running.then(sweep);
      running = run.catch(() => undefined);
      return run;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}

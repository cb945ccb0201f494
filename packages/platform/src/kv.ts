import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
} from '@nats-io/jetstream';
import { type KV, Kvm, type KvOptions } from '@nats-io/kv';
import { DeviceMapEntry, type Names } from '@telecare/contracts';
import { BucketFullError, BucketMissingError, formatBytes } from './errors.ts';
import type { Logger } from './logger.ts';
import {
  isNoResponders,
  isStreamFull,
  isStreamNotFound,
  type JetStreamStore,
  jetStreamStore,
  type NatsConnection,
  STREAM_CHECK_MS,
  type StreamOptions,
  streamBytes,
  withReplicas,
  withStorage,
} from './nats.ts';
import { Pause, SECOND_NS, TimeoutError } from './work.ts';

export type { KV };

/**
 * A write with an expected revision refused because the key moved on (another writer's write, a
 * create of a key that holds a value, a lease taken over): read it again and decide.
 */
export const isWrongRevision = (err: unknown): boolean =>
  err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
    err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

/**
 * The device map bucket (key = serial, value = JSON DeviceMapEntry), created if missing with
 * one configuration, so whichever of registry, gateways and triage starts first makes the same
 * bucket and the others bind to it. A little history lets an installer see recent changes.
 */
export async function openDeviceMap(nc: NatsConnection, n: Names, options: BucketOptions = {}): Promise<KV> {
  return createBucket(nc, n.kv.deviceMap, { kind: 'deviceMap', history: 5 }, options);
}

/** The DC-09 accounts bucket (key = account, value = JSON Dc09AccountEntry), made like the device map. */
export async function openDc09Accounts(
  nc: NatsConnection,
  n: Names,
  options: BucketOptions = {},
): Promise<KV> {
  return createBucket(nc, n.kv.dc09Accounts, { kind: 'dc09Accounts', history: 5 }, options);
}

/** Which of a namespace's buckets a bucket is (`Names['kv']`), for its bounds. */
export type BucketKind = keyof Names['kv'];

/**
 * How the room the store leaves for the KV buckets (`streamBytes(store).buckets`, 1/32 of it) is
 * split, in 64ths: each bucket is bounded by its part, so no bucket can fill the store and a full
 * one refuses only its own writes. The parts follow what each holds at 1,000,000 devices
 * (docs/capacity.md, "KV buckets"): at a store of 800 GB or more each holds that with room.
 * One 64th is left over.
 */
export const BUCKET_SHARES: Readonly<Record<BucketKind, number>> = {
  deviceMap: 16,
  dc09Accounts: 8,
  dc09Clocks: 2,
  triageLeases: 1,
  triageRules: 4,
  residentAway: 8,
  triageTimers: 20,
  triageIndexGaps: 4,
};

/**
 * The largest value each bucket takes (`maxValueSize`), where its values have a known upper size:
 * several times the largest a valid entry makes, so only a value no code should write is refused.
 * The rules bucket has none: a rule set is as large as its authors make it, up to NATS's
 * max_payload.
 */
export const BUCKET_MAX_VALUE_BYTES: Readonly<Partial<Record<BucketKind, number>>> = {
  // An entry is about 450 B: ids, a location of up to 64 characters and a few times.
  deviceMap: 16 * 1024,
  // About 600 B: the account's keys (current and previous) and code overrides.
  dc09Accounts: 16 * 1024,
  // A panel's clock profile or pad style: under 500 B.
  dc09Clocks: 4 * 1024,
  // `{ owner }`: an instance id.
  triageLeases: 1024,
  // Up to 32 periods of about 130 B.
  residentAway: 16 * 1024,
  // A timer with the alert it raises when it fires (an event's data is at most 1 KiB).
  triageTimers: 64 * 1024,
  // A batch of up to 2,000 claims, each a resident id and event numbers.
  triageIndexGaps: 256 * 1024,
};

/** Each bucket's byte bound in a store of `store` bytes: its part of the buckets' room. */
export function bucketBytes(store: number): Record<BucketKind, number> {
  const room = streamBytes(store).buckets;
  const bytes = {} as Record<BucketKind, number>;
  for (const [kind, share] of Object.entries(BUCKET_SHARES) as Array<[BucketKind, number]>)
    bytes[kind] = Math.floor((room * share) / 64);
  return bytes;
}

/** What a bucket is made with beside its bounds, which come from its kind. */
export type BucketConfig = Omit<Partial<KvOptions>, 'replicas' | 'max_bytes' | 'maxValueSize'> & {
  readonly kind: BucketKind;
};

/**
 * Copies (TELECARE_STREAM_REPLICAS), the store the bounds are a share of
 * (TELECARE_JETSTREAM_MAX_BYTES), and where to say that an existing bucket was left without one.
 */
export interface BucketOptions extends StreamOptions {
  readonly logger?: Logger;
}

/**
 * A KV bucket, created if missing with `replicas` copies (TELECARE_STREAM_REPLICAS) and bounded by
 * its part of the store (`bucketBytes`, `BUCKET_MAX_VALUE_BYTES`); an existing one is given its
 * bounds (`boundBucket`). Every bucket a service creates goes through here. Full, a bucket refuses
 * puts (discard new: a new key surely, a new value of a key it holds unless the old one was
 * larger), and its handle says so with a `BucketFullError`. A purge of a key it holds replaces a
 * larger message when the key is at its history (history 1), so it is taken and frees room; in a
 * bucket with a longer history even a delete or purge can be refused. Its handle's reads and writes fail at once with a `BucketMissingError` while the bucket's stream
 * is missing (see `FailFastBucket`).
 */
export async function createBucket(
  nc: NatsConnection,
  name: string,
  bucket: BucketConfig,
  options: BucketOptions = {},
): Promise<KV> {
  const replicas = options.replicas ?? 1;
  const { kind, ...rest } = bucket;
  const jsm = await jetstreamManager(nc);
  const store = await jetStreamStore(jsm, options.storeBytes, replicas, options.defaultStoreBytes);
  const maxBytes = bucketBytes(store.bytes)[kind];
  const maxValueSize = BUCKET_MAX_VALUE_BYTES[kind];
  const config: Partial<KvOptions> = {
    ...rest,
    replicas,
    max_bytes: maxBytes,
    ...(maxValueSize === undefined ? {} : { maxValueSize }),
  };
  const stream = `KV_${name}`;
  const kv = await withStorage(stream, maxBytes, store, () =>
    withReplicas(`KV bucket ${name}`, replicas, () => new Kvm(nc).create(name, config)),
  );
  await withStorage(stream, maxBytes, store, () =>
    boundBucket(jsm, name, { maxBytes, maxValueSize, store, logger: options.logger }),
  );
  const known = bucketsOf(nc).get(name);
  bucketsOf(nc).set(name, {
    config,
    recreated: known?.recreated ?? [],
    // When it was made, so that a loss before the first check is told apart too.
    madeAt:
      known?.madeAt ??
      (await kv.status().then(
        (status) => status.streamInfo.created,
        () => undefined,
      )),
  });
  return new FailFastBucket(nc, name, kv);
}

/**
 * Gives an existing bucket its bounds: one made before buckets were bounded has none, and Kvm
 * binds an existing bucket as it is. A byte bound follows the store when the store was told
 * (TELECARE_JETSTREAM_MAX_BYTES or the account's limit), up or down. It is never set below what
 * the bucket holds: JetStream would then drop the oldest entries (every key's last value, for a
 * bucket with one), so such a bucket keeps the bound it has, or none, and this is logged as a
 * warning naming the setting. A value bound is given where there is none.
 */
async function boundBucket(
  jsm: JetStreamManager,
  name: string,
  bounds: {
    maxBytes: number;
    maxValueSize: number | undefined;
    store: JetStreamStore;
    logger: Logger | undefined;
  },
): Promise<void> {
  const info = await jsm.streams.info(`KV_${name}`);
  const existing = info.config;
  const changed: { max_bytes?: number; max_msg_size?: number } = {};
  const bounded = existing.max_bytes > 0;
  const follow = bounds.store.source !== 'default' && existing.max_bytes !== bounds.maxBytes;
  if (!bounded || follow) {
    if (info.state.bytes < bounds.maxBytes) changed.max_bytes = bounds.maxBytes;
    else
      bounds.logger?.warn(
        {
          bucket: name,
          holds: formatBytes(info.state.bytes),
          bound: formatBytes(bounds.maxBytes),
          kept: bounded ? formatBytes(existing.max_bytes) : 'none',
          store: formatBytes(bounds.store.bytes),
          source: bounds.store.source,
        },
        "KV bucket holds more than its share of the JetStream store: its byte bound is left as it is (a smaller one would drop entries); set TELECARE_JETSTREAM_MAX_BYTES to the servers' max_file_store",
      );
  }
  if (bounds.maxValueSize !== undefined && !(existing.max_msg_size > 0))
    changed.max_msg_size = bounds.maxValueSize;
  if (Object.keys(changed).length > 0) await jsm.streams.update(existing.name, { ...existing, ...changed });
}

/** The buckets this connection opened with `createBucket`, by name (for the stream gauges). */
export function openedBuckets(nc: NatsConnection): string[] {
  // A hook set before its bucket was opened (`onBucketRecreated`) leaves an entry with no config.
  return [...bucketsOf(nc)].filter(([, kept]) => kept.config.replicas !== undefined).map(([name]) => name);
}

/**
 * How long a bucket's `get` or `create` waits for its answer before the bucket's stream is looked
 * up. A read answers in a millisecond or two on a healthy server; one still unanswered after this
 * is either slow (the lookup finds the stream: it goes on waiting, up to the request timeout) or
 * on a missing bucket (it fails now).
 */
export const BUCKET_LOOK_AFTER_MS = 250;
/** How long a look at a bucket's stream waits for its answer (see `BucketMissingError`). */
export const BUCKET_LOOK_TIMEOUT_MS = 1_000;

/**
 * A bucket handle that does not wait out the request timeout (5 s) on a bucket whose stream is
 * missing, between JetStream losing it and `keepBuckets` making it again. A put, update, delete or
 * purge fails at once by itself (nothing listens on the bucket's subjects: no responders, which the
 * client calls "jetstream is not enabled"; a look at the stream then names the bucket instead, see
 * `#namedWhenMissing`), but a `get` is a direct get, `$JS.API.DIRECT.GET.KV_<bucket>`, which the
 * stream itself answers: with the stream gone, the server's JetStream API (subscribed to all of
 * `$JS.API.>`, so there is no "no responders" either) drops the request unanswered. A `create` is
 * a put with an expected revision, and when that fails with anything but "wrong revision" the
 * client reads the key with such a get before it gives up. So both are raced against a look at the stream (`STREAM.INFO`,
 * which answers "stream not found" at once), taken when the operation is still unanswered after
 * `BUCKET_LOOK_AFTER_MS`, one look at a time for every operation waiting on the bucket. While the
 * last look found the stream missing, the next operation looks at once. Binding without direct
 * gets (reads through `STREAM.MSG.GET`, which does answer "not found") is not an option: nats-server
 * 2.9 can crash on a `MSG.GET` of a key written at that moment (see testkit's `openBucket`).
 */
class FailFastBucket implements KV {
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  readonly #kv: KV;
  #manager: Promise<JetStreamManager> | undefined;
  /** The look in flight: true when the stream is missing. */
  #looking: Promise<boolean> | undefined;
  #seenMissing = false;

  constructor(nc: NatsConnection, bucket: string, kv: KV) {
    this.#nc = nc;
    this.#bucket = bucket;
    this.#kv = kv;
  }

  get(...args: Parameters<KV['get']>): ReturnType<KV['get']> {
    return this.#failFast('get', () => this.#kv.get(...args));
  }

  create(...args: Parameters<KV['create']>): ReturnType<KV['create']> {
    return this.#failFast('create', () => this.#kv.create(...args));
  }

  update(...args: Parameters<KV['update']>): ReturnType<KV['update']> {
    return this.#namedWhenMissing('update', () => this.#kv.update(...args));
  }

  put(...args: Parameters<KV['put']>): ReturnType<KV['put']> {
    return this.#namedWhenMissing('put', () => this.#kv.put(...args));
  }

  delete(...args: Parameters<KV['delete']>): ReturnType<KV['delete']> {
    return this.#namedWhenMissing('delete', () => this.#kv.delete(...args));
  }

  purge(...args: Parameters<KV['purge']>): ReturnType<KV['purge']> {
    return this.#namedWhenMissing('purge', () => this.#kv.purge(...args));
  }

  destroy(): ReturnType<KV['destroy']> {
    return this.#kv.destroy();
  }

  history(...args: Parameters<KV['history']>): ReturnType<KV['history']> {
    return this.#kv.history(...args);
  }

  watch(...args: Parameters<KV['watch']>): ReturnType<KV['watch']> {
    return this.#kv.watch(...args);
  }

  status(): ReturnType<KV['status']> {
    return this.#kv.status();
  }

  keys(...args: Parameters<KV['keys']>): ReturnType<KV['keys']> {
    return this.#kv.keys(...args);
  }

  /**
   * `operation`'s answer, or a `BucketMissingError` as soon as a look finds the stream missing.
   * A look that finds it, or cannot tell (NATS away), leaves the operation to its own timeout.
   */
  #failFast<T>(operation: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const look = () => {
        void this.#missing().then((missing) => {
          if (!missing || settled) return;
          settled = true;
          reject(new BucketMissingError(this.#bucket, operation));
        });
      };
      const timer = this.#seenMissing ? undefined : setTimeout(look, BUCKET_LOOK_AFTER_MS);
      if (!timer) look();
      run().then(
        (value) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          reject(isStreamFull(err) ? new BucketFullError(this.#bucket, operation, { cause: err }) : err);
        },
      );
    });
  }

  /**
   * `operation`'s answer. A write fails at once on a missing bucket, but with the client's
   * "jetstream is not enabled" (no responders: nothing listens on the bucket's subjects), which
   * says nothing of the bucket; one look at the stream tells: a `BucketMissingError` when it is
   * missing, else the client's error as it was.
   */
  async #namedWhenMissing<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (isNoResponders(err) && (await this.#missing()))
        throw new BucketMissingError(this.#bucket, operation, { cause: err });
      if (isStreamFull(err)) throw new BucketFullError(this.#bucket, operation, { cause: err });
      throw err;
    }
  }

  /** Whether the bucket's stream is missing: one look at a time, shared by whoever asks meanwhile. */
  #missing(): Promise<boolean> {
    this.#looking ??= (async () => {
      // Not answered while the cluster elects the stream's leader: the look gives up soon, and the
      // operation fails as it did, rather than holding its caller the client's whole timeout.
      this.#manager ??= jetstreamManager(this.#nc, { checkAPI: false, timeout: BUCKET_LOOK_TIMEOUT_MS });
      const jsm = await this.#manager;
      return jsm.streams.info(`KV_${this.#bucket}`).then(
        () => false,
        (err: unknown) => {
          if (isStreamNotFound(err)) return true;
          throw err;
        },
      );
    })()
      .then(
        (missing) => {
          this.#seenMissing = missing;
          return missing;
        },
        () => false,
      )
      .finally(() => {
        this.#looking = undefined;
      });
    return this.#looking;
  }
}

interface KeptBucket {
  readonly config: Partial<KvOptions>;
  /** Called after the bucket was made again (the registry writes the device map whole again). */
  readonly recreated: Array<() => Promise<unknown>>;
  /** Made again and its hooks not all through yet: the next check runs them again. */
  owed?: boolean;
  /** When its stream was made, as last seen: another time means it was made again (by anyone). */
  madeAt?: string;
}

/** The buckets each connection has opened (`createBucket`), for `keepBuckets`. */
const opened = new WeakMap<NatsConnection, Map<string, KeptBucket>>();
const bucketsOf = (nc: NatsConnection): Map<string, KeptBucket> => {
  let buckets = opened.get(nc);
  if (!buckets) {
    buckets = new Map();
    opened.set(nc, buckets);
  }
  return buckets;
};

/**
 * Runs `fn` each time `keepBuckets` makes the bucket `name` again: what writes the bucket from a
 * system of record (the registry's device map) writes it whole.
 */
export function onBucketRecreated(nc: NatsConnection, name: string, fn: () => Promise<unknown>): void {
  const buckets = bucketsOf(nc);
  const kept = buckets.get(name);
  if (kept) kept.recreated.push(fn);
  else buckets.set(name, { config: {}, recreated: [fn] });
}

/**
 * Keeps in being every bucket this connection opened with `createBucket`: every `everyMs` each one's
 * stream is looked up, and one JetStream says does not exist (a server whose store was lost, a
 * bucket deleted by hand) is made again with the configuration it was opened with, logged as an
 * error, and its `onBucketRecreated` hooks run. Triage's leases, timers and rules, the device map:
 * without this a lost bucket stops a service's work (triage gives up its leases and cannot take them
 * again) until a restart. Returns the function that stops it.
 */
export function keepBuckets(
  nc: NatsConnection,
  options: { logger: Logger; everyMs?: number; onRecreated?: (bucket: string) => void },
): () => void {
  let checking = false;
  // Made once, on the first check: each `jetstreamManager` asks the server for the account first.
  let manager: Promise<JetStreamManager> | undefined;
  const check = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    try {
      manager ??= jetstreamManager(nc);
      const jsm = await manager.catch((err: unknown) => {
        manager = undefined;
        throw err;
      });
      for (const [name, kept] of bucketsOf(nc)) {
        if (!kept.config.replicas) continue; // hooks for a bucket this connection did not open
        const stream = `KV_${name}`;
        let info = await jsm.streams.info(stream).catch((err: unknown) => {
          if (isStreamNotFound(err)) return undefined;
          throw err;
        });
        if (!info) {
          await new Kvm(nc).create(name, kept.config);
          options.logger.error(
            { bucket: name },
            'KV bucket was missing: created again (what it held is lost)',
          );
          options.onRecreated?.(name);
          info = await jsm.streams.info(stream);
        }
        // Made again here or by another service (whichever found it missing first).
        if (kept.madeAt !== undefined && info.created !== kept.madeAt) kept.owed = true;
        kept.madeAt = info.created;
        if (!kept.owed) continue;
        kept.owed = false;
        for (const fn of kept.recreated)
          await fn().catch((err: unknown) => {
            kept.owed = true;
            options.logger.warn(
              { err, bucket: name },
              'could not write a bucket made again; the next check retries',
            );
          });
      }
    } catch (err) {
      options.logger.warn({ err }, 'could not make a missing bucket again; trying again');
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), options.everyMs ?? STREAM_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

export type KvEntry = NonNullable<Awaited<ReturnType<KV['get']>>>;
type Watch = Awaited<ReturnType<KV['watch']>>;

const WATCH_RESTART_MS = 1_000;

export interface BucketFollower {
  /** Stops the watch and waits for it to end. */
  close(): Promise<void>;
}

/**
 * Hands every entry of a bucket (or of one key) to `onEntry`, the last value of each key first
 * and then each change, and restarts the watch when it ends (a long NATS outage can end it)
 * until closed. A restarted watch hands the last values again: `onEntry` skips what it has seen.
 */
export function followBucket(
  kv: KV,
  options: {
    key?: string;
    onEntry: (entry: KvEntry) => void;
    /** What the entries are, for logs. */
    what: string;
    logger: Logger;
  },
): BucketFollower {
  let watch: Watch | undefined;
  let closed = false;
  const pause = new Pause();
  const watching = (async () => {
    while (!closed) {
      try {
        watch = await kv.watch(options.key === undefined ? {} : { key: options.key });
        if (closed) watch.stop();
        for await (const entry of watch) options.onEntry(entry);
      } catch (err) {
        if (!closed) options.logger.warn({ err }, `${options.what} watch failed; it restarts`);
      }
      if (closed) break;
      await pause.wait(WATCH_RESTART_MS);
    }
  })();
  return {
    async close() {
      closed = true;
      watch?.stop();
      pause.wake();
      await watching;
    },
  };
}

/**
 * A KV bucket mirrored in memory by a watch, so a lookup on the alarm path rarely waits on the
 * network; a miss falls back to `kv.get`, so an entry written a moment ago (before the watch
 * delivered it) is still found. Values are parsed with `schema` and must name their own key
 * (`keyOf`): an entry that does not is treated as absent and logged, so its sender is refused
 * as unknown (visible, dead-lettered) rather than published under a guessed resident.
 */
export class WatchedBucket<T> {
  readonly #kv: KV;
  readonly #schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } };
  readonly #keyOf: (value: T) => string;
  readonly #what: string;
  readonly #log: Logger;
  readonly #entries = new Map<string, T>();
  /** Keys the watch (or a miss's read) has given: what they hold is newer than a preload's. */
  readonly #delivered = new Set<string>();
  /** Keys whose latest operation, as delivered, was a delete or purge. */
  readonly #removed = new Set<string>();
  readonly #following: BucketFollower;

  constructor(options: {
    kv: KV;
    schema: { safeParse(value: unknown): { success: true; data: T } | { success: false } };
    keyOf: (value: T) => string;
    /** What the entries are, for logs: `device map`, `DC-09 accounts`. */
    what: string;
    logger: Logger;
  }) {
    this.#kv = options.kv;
    this.#schema = options.schema;
    this.#keyOf = options.keyOf;
    this.#what = options.what;
    this.#log = options.logger;
    this.#following = followBucket(this.#kv, {
      onEntry: (entry) => this.#apply(entry),
      what: this.#what,
      logger: this.#log,
    });
  }

  /** Entries held in memory (for metrics and tests). */
  get size(): number {
    return this.#entries.size;
  }

  /** The entry for a key, or undefined. Throws if the bucket cannot be read: that is transient. */
  async lookup(key: string): Promise<T | undefined> {
    const cached = this.#entries.get(key);
    if (cached) return cached;
    const entry = await this.#kv.get(key);
    if (!entry) return undefined;
    this.#apply(entry);
    return this.#entries.get(key);
  }

  /**
   * Whether the bucket said this key was removed (its latest operation, as the watch or a lookup
   * delivered it, a delete or purge), as opposed to never held: a device decommissioned rather than
   * one the map never knew.
   */
  removed(key: string): boolean {
    return this.#removed.has(key);
  }

  /**
   * The entry held in memory for a key, without reading the bucket on a miss: for a bucket most
   * keys are absent from (a resident's away periods), where a miss must not cost a round trip.
   * A put reaches it as soon as the watch delivers it.
   */
  held(key: string): T | undefined {
    return this.#entries.get(key);
  }

  /**
   * Takes the bucket read whole (`lastValues`), so that a service that reads it before it starts
   * work sees every entry from the first lookup on, instead of from when the watch delivers it.
   * A key the watch has given already keeps what it gave (as new or newer). Returns the entries
   * held after it.
   */
  preload(values: ReadonlyMap<string, Uint8Array>): number {
    const decoder = new TextDecoder();
    for (const [key, data] of values) {
      if (this.#delivered.has(key)) continue;
      let value: unknown;
      try {
        value = JSON.parse(decoder.decode(data));
      } catch {
        value = undefined;
      }
      this.#set(key, value, undefined);
    }
    return this.#entries.size;
  }

  close(): Promise<void> {
    return this.#following.close();
  }

  #apply(entry: KvEntry): void {
    this.#delivered.add(entry.key);
    if (entry.operation !== 'PUT') {
      this.#entries.delete(entry.key);
      this.#removed.add(entry.key);
      return;
    }
    this.#removed.delete(entry.key);
    let value: unknown;
    try {
      value = entry.json();
    } catch {
      value = undefined;
    }
    this.#set(entry.key, value, entry.revision);
  }

  #set(key: string, value: unknown, revision: number | undefined): void {
    const parsed = this.#schema.safeParse(value);
    if (!parsed.success || this.#keyOf(parsed.data) !== key) {
      this.#entries.delete(key);
      this.#log.warn({ key, revision }, `${this.#what} entry is not valid for its key; ignoring it`);
      return;
    }
    this.#entries.set(key, parsed.data);
  }
}

/** The registry's device map (key = serial), mirrored in memory (see `WatchedBucket`). */
export type DeviceMap = WatchedBucket<DeviceMapEntry>;

/**
 * The device map as the alarm path reads it: in memory, kept current by a watch, a miss read from
 * the bucket. The gateway looks up every message's sender in it; triage every event's device.
 */
export async function openDeviceMapMirror(
  nc: NatsConnection,
  n: Names,
  logger: Logger,
  options: BucketOptions = {},
): Promise<DeviceMap> {
  return new WatchedBucket({
    kv: await openDeviceMap(nc, n, { logger, ...options }),
    schema: DeviceMapEntry,
    keyOf: (entry) => entry.serial,
    what: 'device map',
    logger: logger.child({ component: 'device-map' }),
  });
}

/** How long the server keeps a reader's consumer after the reader stopped without deleting it. */
const READER_INACTIVE_S = 30;
const READ_BATCH = 1_000;
/** How long one batch of a bucket read waits for its messages (the server ends it then). */
const READ_EXPIRES_MS = 5_000;
/**
 * How long a bucket read may go without a message or the end of a batch before it gives up with
 * a `TimeoutError`: a batch is ended by the server at its expiry, or by the client when the
 * server's heartbeats stop; this bounds the rest (a connection down for the whole read).
 */
const READ_STALL_MS = 15_000;

/**
 * Every live key of a bucket with its last value, read in one pass by a consumer of our own that
 * is deleted when done (and that the server drops 30 s after a reader that died first). A key
 * listing (`kv.keys()`) and a `get` per key cost a round trip per key, and the listing leaves an
 * ordered consumer the server keeps for five minutes and recovers at every restart: dozens of them
 * over a large bucket made a NATS restart take more than 30 s.
 *
 * It reads what the bucket held when the read began: the consumer's pending count at creation
 * (the last message of each key), not "until nothing is pending". A bucket written steadily (the
 * timer records under load) always has something pending again by the time a batch comes back
 * over a slow round trip; reading until it had none chased the writes for minutes. Writes made
 * during the read are taken when they come in the batches, never waited for. A read that stops
 * making progress fails with a `TimeoutError` (retryable) after `stallMs`, never hangs.
 * `keys` reads only the keys it matches (a subject filter: `p3.>`), the whole bucket without it.
 */
export async function lastValues(
  nc: NatsConnection,
  bucket: string,
  options: { stallMs?: number; keys?: string } = {},
): Promise<Map<string, Uint8Array>> {
  const stallMs = options.stallMs ?? READ_STALL_MS;
  const stream = `KV_${bucket}`;
  const prefix = `$KV.${bucket}.`;
  const jsm = await jetstreamManager(nc);
  const info = await jsm.consumers.add(stream, {
    ack_policy: AckPolicy.None,
    deliver_policy: DeliverPolicy.LastPerSubject,
    filter_subject: `${prefix}${options.keys ?? '>'}`,
    inactive_threshold: READER_INACTIVE_S * SECOND_NS,
    num_replicas: 1,
  });
  const values = new Map<string, Uint8Array>();
  try {
    // The keys' last messages when the consumer was made; a message of them deleted since (a
    // key purged again) is skipped by the server, which `pending` reaching 0 tells.
    let left = info.num_pending;
    const consumer = await jetstream(nc).consumers.get(stream, info.name);
    while (left > 0) {
      const batch = await consumer.fetch({
        max_messages: Math.min(left, READ_BATCH),
        expires: READ_EXPIRES_MS,
      });
      let stalled = false;
      let watchdog: NodeJS.Timeout | undefined;
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          stalled = true;
          void batch.close();
        }, stallMs);
        watchdog.unref();
      };
      arm();
      let read = 0;
      try {
        for await (const msg of batch) {
          arm();
          read++;
          const key = msg.subject.slice(prefix.length);
          const operation = msg.headers?.get('KV-Operation');
          if (operation === 'DEL' || operation === 'PURGE') values.delete(key);
          else values.set(key, msg.data);
          left = Math.min(left - 1, msg.info.pending);
          if (left <= 0) break;
        }
      } finally {
        clearTimeout(watchdog);
      }
      if (stalled)
        throw new TimeoutError(`reading bucket ${bucket}: no message for ${stallMs} ms`, {
          context: { bucket, ms: stallMs, left },
        });
      if (read === 0) break;
    }
  } finally {
    await jsm.consumers.delete(stream, info.name).catch(() => false);
  }
  return values;
}

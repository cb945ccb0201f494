import { isIP } from 'node:net';
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from '@nats-io/jetstream';
import { connect, headers, type NatsConnection, errors as natsErrors } from '@nats-io/transport-node';
import { type DeadLetter, type Names, newId, type RejectReason } from '@telecare/contracts';
import { PoisonMessageError, StreamReplicasError, StreamStorageError } from './errors.ts';
import type { Logger } from './logger.ts';
import { plaintextHosts, type TlsCa, warnPlaintext } from './tls.ts';

export type { JetStreamClient, JetStreamManager, NatsConnection };

/**
 * Connects to NATS and keeps reconnecting for ever: a service outlives a broker restart.
 * The first connection fails fast so a wrong URL shows at boot.
 *
 * `tls://` servers are reached over TLS only, verified against `tls` (TELECARE_TLS_CA; unset, the
 * public CAs), the name in the URL checked: nats.js reads no scheme, and without its `tls` option
 * it would talk plaintext to a server that offers no TLS. Such a server is named by its DNS name:
 * for an IP address nats.js checks the certificate against "localhost" (`natsTlsAddress`).
 */
export async function connectNats(options: {
  url: string;
  name: string;
  logger: Logger;
  tls?: TlsCa | undefined;
  /**
   * false: a request does not capture its caller's stack in advance (a `RequestError` and a
   * `TimeoutError` built per request, 10–30 µs each). Its errors are the same classes, with the
   * client's stack only. For a hot path of many small requests (a gateway's stores).
   */
  asyncTraces?: boolean;
}): Promise<NatsConnection> {
  const log = options.logger.child({ component: 'nats' });
  const servers = options.url.split(',').map((one) => one.trim());
  const secure = servers.some((one) => one.startsWith('tls://'));
  const address = servers.find(natsTlsAddress);
  if (address)
    throw new Error(`NATS_URL ${address}: a tls: server is named by its DNS name, not an IP address`);
  warnPlaintext(
    log,
    'NATS_URL',
    plaintextHosts(servers, (url) => url.protocol === 'tls:'),
    'tls:// servers, verified against TELECARE_TLS_CA',
  );
  const nc = await connect({
    servers,
    ...(secure ? { tls: options.tls ? { ca: options.tls.pem } : {} } : {}),
    name: options.name,
    timeout: 5_000,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    pingInterval: 10_000,
    noAsyncTraces: options.asyncTraces === false,
  });
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect' || status.type === 'error') {
        log.warn({ status: status.type }, 'nats connection status');
      }
    }
  })();
  log.info({ server: nc.getServer() }, 'connected to nats');
  return nc;
}

/** Whether a NATS URL is a `tls:` one naming an IP address, whose certificate nats.js cannot check. */
export function natsTlsAddress(url: string): boolean {
  const parsed = URL.parse(url);
  return parsed?.protocol === 'tls:' && isIP(parsed.hostname.replace(/^\[|\]$/g, '')) !== 0;
}

const DAY_NS = 24 * 60 * 60 * 1_000_000_000;
const MINUTE_NS = 60 * 1_000_000_000;

type StreamKey = keyof Names['streams'];

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/**
 * DEADLETTER's bounds. Refusals are rate-limited where they are made, but a flood of bad input
 * from many senders over weeks must not fill the disk JetStream shares with EVENTS: past a bound
 * the oldest letters go first. Each subject (a service and a reason) keeps its own most recent
 * letters, so a flood of one kind of refusal does not push out the rare letters of another. The
 * size is at most this, less on a small store (`streamBytes`).
 */
export const DEAD_LETTER_STREAM_MAX_BYTES = 2 * GIB;
export const DEAD_LETTERS_PER_REASON = 200_000;

/**
 * SECURITY's bounds. The gateways budget their security events (a burst, then about one a second
 * from all devices or senders together), but weeks of a flood from several gateways must not fill
 * the disk JetStream shares with EVENTS: past a bound the oldest go first. The helpline stores
 * what it reads within a cap of its own (HELPLINE_SECURITY_EVENTS_PER_HOUR). The size is at most
 * this, less on a small store (`streamBytes`).
 */
export const SECURITY_STREAM_MAX_BYTES = 256 * MIB;
export const SECURITY_STREAM_MAX_MSGS = 1_000_000;

/**
 * The JetStream store the streams are sized from when neither TELECARE_JETSTREAM_MAX_BYTES is set
 * nor JetStream reports a limit for the account (a server's `max_file_store` is not told to its
 * clients): small enough for a development server shared by many test namespaces. Production
 * sets TELECARE_JETSTREAM_MAX_BYTES to its servers' `max_file_store` (infra/nats/).
 */
export const DEFAULT_JETSTREAM_MAX_BYTES = 4 * GIB;

/** The byte bound of each stream, and the room left unreserved for the KV buckets. */
export interface StreamBytes {
  readonly events: number;
  readonly alerts: number;
  readonly cases: number;
  readonly deadletter: number;
  readonly security: number;
  readonly buckets: number;
}

/**
 * How a JetStream store of `store` bytes is shared. JetStream with a full store refuses every
 * write to every stream, so every stream is bounded and the bounds with the buckets' room add up
 * to the store: when EVENTS reaches its bound its oldest events go first (DiscardOld), and a
 * press, an alert or a case always has room. ALERTS and CASES are small (a fifth of a home's
 * alerts a day) and get a share each; DEADLETTER and SECURITY a share up to their own bounds; the
 * KV buckets (unbounded streams, the device map the largest) a share left unreserved; EVENTS
 * the rest, 83 % of a small store to 87 % of a large one.
 */
export function streamBytes(store: number): StreamBytes {
  const share = (part: number) => Math.floor(store / part);
  const alerts = share(32);
  const cases = share(16);
  const deadletter = Math.min(DEAD_LETTER_STREAM_MAX_BYTES, share(32));
  const security = Math.min(SECURITY_STREAM_MAX_BYTES, share(64));
  const buckets = share(32);
  return {
    events: store - alerts - cases - deadletter - security - buckets,
    alerts,
    cases,
    deadletter,
    security,
    buckets,
  };
}

/** How many copies JetStream keeps of what a service creates (TELECARE_STREAM_REPLICAS). */
export interface ReplicaOptions {
  readonly replicas?: number;
}

/** What the streams are made with: copies, and the store they share (TELECARE_JETSTREAM_MAX_BYTES). */
export interface StreamOptions extends ReplicaOptions {
  /** The store the streams share; `DEFAULT_JETSTREAM_MAX_BYTES` when not given. */
  readonly storeBytes?: number | undefined;
  /** The store guessed when none is told or reported (`DEFAULT_JETSTREAM_MAX_BYTES`; tests make it small). */
  readonly defaultStoreBytes?: number;
}

/**
 * Stream definitions (DESIGN §2). EVENTS keeps weeks so triage state and routines can be rebuilt,
 * within its share of the store (`streamBytes`). `replicas` is TELECARE_STREAM_REPLICAS: 3 on the
 * cluster, so losing one server loses nothing.
 */
export function streamConfigs(
  n: Names,
  options: StreamOptions = {},
): Record<StreamKey, Partial<StreamConfig> & { name: string; subjects: string[] }> {
  const base = {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    num_replicas: options.replicas ?? 1,
    // Past its bound a stream drops its oldest messages; it never refuses a new one.
    discard: DiscardPolicy.Old,
  };
  const bytes = streamBytes(options.storeBytes ?? DEFAULT_JETSTREAM_MAX_BYTES);
  return {
    events: {
      ...base,
      name: n.streams.events,
      subjects: [n.subjects.allEvents],
      max_age: 42 * DAY_NS,
      max_bytes: bytes.events,
      duplicate_window: 10 * MINUTE_NS,
    },
    alerts: {
      ...base,
      name: n.streams.alerts,
      subjects: [n.subjects.allAlerts],
      max_age: 90 * DAY_NS,
      max_bytes: bytes.alerts,
      duplicate_window: 60 * MINUTE_NS,
    },
    cases: {
      ...base,
      name: n.streams.cases,
      subjects: [n.subjects.allCases],
      max_age: 400 * DAY_NS,
      max_bytes: bytes.cases,
      duplicate_window: 10 * MINUTE_NS,
    },
    deadletter: {
      ...base,
      name: n.streams.deadletter,
      subjects: [n.subjects.allDeadletters],
      max_age: 90 * DAY_NS,
      duplicate_window: 2 * MINUTE_NS,
      max_bytes: bytes.deadletter,
      max_msgs_per_subject: DEAD_LETTERS_PER_REASON,
    },
    security: {
      ...base,
      name: n.streams.security,
      subjects: [n.subjects.securityEvents],
      max_age: 30 * DAY_NS,
      // A gateway's retry of one publish (its `sec_…` id) is stored once.
      duplicate_window: 10 * MINUTE_NS,
      max_bytes: bytes.security,
      max_msgs: SECURITY_STREAM_MAX_MSGS,
    },
  };
}

/**
 * Runs the creation of a stream or bucket; a server that cannot keep `replicas` copies (a single
 * server asked for 3, a cluster smaller than asked) fails with a StreamReplicasError that says
 * which setting to change, instead of the server's bare answer.
 */
export async function withReplicas<T>(what: string, replicas: number, create: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (replicas > 1 && /replica|peers|insufficient resources/i.test(message))
      throw new StreamReplicasError(what, replicas, message, { cause: err });
    throw err;
  }
}

/** The store the streams are sized from, and where that figure came from. */
export interface JetStreamStore {
  readonly bytes: number;
  readonly source: 'TELECARE_JETSTREAM_MAX_BYTES' | 'account limit' | 'default';
}

/** What `ensureStreams` sized the streams from, and the streams it left without a byte bound. */
export interface StreamsEnsured extends JetStreamStore {
  /**
   * Existing streams with no byte bound that hold more than their share of a store only guessed
   * (`source: 'default'`): bounding them would discard what they hold, so they are left as they
   * are until the store is told.
   */
  readonly unbounded: readonly string[];
}

/**
 * The store the streams share: TELECARE_JETSTREAM_MAX_BYTES when set, else the file-store limit
 * JetStream reports for the account (its limit, or its tier's for `replicas` copies) when finite,
 * else `DEFAULT_JETSTREAM_MAX_BYTES`. A server's own `max_file_store` is not reported to clients.
 */
export async function jetStreamStore(
  jsm: JetStreamManager,
  configured: number | undefined,
  replicas = 1,
  guess = DEFAULT_JETSTREAM_MAX_BYTES,
): Promise<JetStreamStore> {
  if (configured !== undefined) return { bytes: configured, source: 'TELECARE_JETSTREAM_MAX_BYTES' };
  const account = await jsm.getAccountInfo();
  const limit = [account.limits.max_storage, account.tiers?.[`R${replicas}`]?.limits.max_storage].find(
    (bytes) => bytes !== undefined && bytes > 0,
  );
  if (limit !== undefined) return { bytes: limit, source: 'account limit' };
  return { bytes: guess, source: 'default' };
}

/** JetStream cannot reserve a stream's byte bound: its store has not that much left unreserved. */
const isStorageRefused = (err: unknown): boolean =>
  err instanceof JetStreamApiError && (err.code === 10047 || /insufficient storage/i.test(err.message));

/** Runs a creation or update of `stream`; a bound JetStream cannot reserve fails naming the setting. */
export async function withStorage<T>(
  stream: string,
  bytes: number,
  store: JetStreamStore,
  run: () => Promise<T>,
) {
  try {
    return await run();
  } catch (err) {
    if (isStorageRefused(err))
      throw new StreamStorageError(stream, bytes, store, (err as Error).message, { cause: err });
    throw err;
  }
}

/**
 * Creates the named streams if missing (services create what they use at start-up), each bounded
 * by its share of the store (`streamBytes` of `jetStreamStore`). An existing stream is given the
 * bounds it lacks (`raiseBounds`), except a byte bound from a store only guessed that is smaller
 * than what the stream holds: an upgrade that did not set the store would otherwise discard weeks
 * of EVENTS at its first start (`unbounded`, for the service to say so).
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  n: Names,
  keys: readonly StreamKey[],
  options: StreamOptions = {},
): Promise<StreamsEnsured | undefined> {
  if (keys.length === 0) return undefined;
  const replicas = options.replicas ?? 1;
  const store = await jetStreamStore(jsm, options.storeBytes, replicas, options.defaultStoreBytes);
  const configs = streamConfigs(n, { replicas, storeBytes: store.bytes });
  const unbounded: string[] = [];
  for (const key of keys) {
    let config = configs[key];
    const bytes = config.max_bytes ?? 0;
    let existing: StreamConfig;
    try {
      const info = await jsm.streams.info(config.name);
      existing = info.config;
      if (store.source === 'default' && !(existing.max_bytes > 0) && info.state.bytes > bytes) {
        config = { ...config, max_bytes: undefined };
        unbounded.push(config.name);
      }
    } catch {
      try {
        await withStorage(config.name, bytes, store, () =>
          withReplicas(`stream ${config.name}`, replicas, () => jsm.streams.add(config)),
        );
      } catch (err) {
        // Another service may have created it between our look and our add.
        await jsm.streams.info(config.name).catch(() => {
          throw err;
        });
      }
      continue;
    }
    // EVENTS follows a store that was told (the setting or the account's limit), up or down.
    const follow = key === 'events' && store.source !== 'default';
    const wanted = config;
    await withStorage(config.name, bytes, store, () => raiseBounds(jsm, existing, wanted, follow));
  }
  return { ...store, unbounded };
}

/** JetStream answered that a stream (or, for a consumer, its stream) does not exist. */
export const isStreamNotFound = (err: unknown): boolean =>
  err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;

/**
 * Nothing listens on the subject of a request ("no responders"): the JetStream client says
 * `JetStreamNotEnabled: jetstream is not enabled` for it (a class it does not export), though on a
 * server with JetStream it means no stream takes the subject.
 */
export const isNoResponders = (err: unknown): boolean =>
  err instanceof natsErrors.NoRespondersError ||
  (err instanceof natsErrors.RequestError && err.isNoResponders()) ||
  (err instanceof Error && err.name === 'JetStreamNotEnabled');

/**
 * JetStream did not serve a request for the moment: it answered 503 (a cluster electing a leader
 * says "temporarily unavailable", an account whose JetStream is not up "not enabled"), or no one
 * answered at once ("no responders"). Worth asking again soon, unlike an answer about the request.
 */
export const isJetStreamUnavailable = (err: unknown): boolean =>
  isNoResponders(err) || (err instanceof JetStreamApiError && err.status === 503);

/**
 * JetStream refused a write because the stream is at its byte bound and discards new (a KV
 * bucket): "stream store failed" (10077) with the store's "maximum bytes exceeded".
 */
export const isStreamFull = (err: unknown): boolean =>
  err instanceof JetStreamApiError && err.code === 10077 && /maximum bytes/i.test(err.message);

/** JetStream answered that a durable consumer does not exist. */
export const isConsumerNotFound = (err: unknown): boolean =>
  err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound;

/** How often a running service looks for its streams (`keepStreams`). */
export const STREAM_CHECK_MS = 2_000;

/**
 * Keeps a running service's streams in being: every `everyMs` each is looked up, and one JetStream
 * says does not exist (a server whose store was lost or replaced, a stream deleted by hand) is
 * created again as `ensureStreams` creates it. Without this every store and every pull of the
 * service fails, and waits, until someone restarts it; with it, what devices resend and what waits
 * in the services' hands is stored again within a check. What the lost stream held is gone (that
 * is the server's loss), and it is logged as an error. Any other answer (NATS away, a cluster
 * without a leader for the moment) recreates nothing. Returns the function that stops it.
 */
export function keepStreams(
  jsm: JetStreamManager,
  n: Names,
  keys: readonly StreamKey[],
  options: StreamOptions & {
    logger: Logger;
    everyMs?: number;
    /** Called with the stream's name after it was created again. */
    onRecreated?: (stream: string) => void;
  },
): () => void {
  // Only the names are read here: the bounds are decided when a stream is made.
  const configs = streamConfigs(n);
  let checking = false;
  const check = async (): Promise<void> => {
    if (checking) return;
    checking = true;
    try {
      for (const key of keys) {
        const name = configs[key].name;
        const missing = await jsm.streams.info(name).then(
          () => false,
          (err: unknown) => isStreamNotFound(err),
        );
        if (!missing) continue;
        await ensureStreams(jsm, n, [key], options);
        options.logger.error({ stream: name }, 'stream was missing: created again (what it held is lost)');
        options.onRecreated?.(name);
      }
    } catch (err) {
      options.logger.warn({ err }, 'could not create a missing stream; trying again');
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), options.everyMs ?? STREAM_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

const BOUNDS = ['max_bytes', 'max_msgs', 'max_msgs_per_subject'] as const;

/**
 * A stream made by an older version keeps its settings, but a bound the code now sets (a byte
 * bound on every stream) is given to it where it has none, so an upgrade does not leave it
 * unbounded. A bound an operator has set is theirs, except EVENTS' size when `followBytes` (a
 * store that was told: it is the operator's), and nothing else of an existing stream is changed
 * but the discard policy of a stream given a byte bound: its oldest go first, it never refuses.
 */
async function raiseBounds(
  jsm: JetStreamManager,
  existing: StreamConfig,
  wanted: Partial<StreamConfig>,
  followBytes: boolean,
) {
  const changed: Partial<StreamConfig> = {};
  for (const bound of BOUNDS) {
    const value = wanted[bound];
    if (value !== undefined && !(existing[bound] > 0)) changed[bound] = value;
  }
  if (followBytes && wanted.max_bytes !== undefined && existing.max_bytes !== wanted.max_bytes)
    changed.max_bytes = wanted.max_bytes;
  if (changed.max_bytes !== undefined) changed.discard = DiscardPolicy.Old;
  if (Object.keys(changed).length > 0) await jsm.streams.update(existing.name, { ...existing, ...changed });
}

export { DiscardPolicy, headers, jetstream, jetstreamManager };

/**
 * The most raw bytes a dead letter keeps. Refused input can be as large as a broker lets through
 * (a megabyte or more); its letter must stay well under NATS's max_payload (1 MiB by default) in
 * base64 and JSON, or writing it fails for ever and whatever waits behind it waits for ever too.
 */
export const DEAD_LETTER_MAX_RAW_BYTES = 64 * 1024;

/**
 * Writes refused input to DEADLETTER with its raw bytes (the first DEAD_LETTER_MAX_RAW_BYTES of
 * them, with the full size in `truncatedFrom`), so it is counted, visible and never silently
 * lost. Returns the dead-letter id.
 */
export async function publishDeadLetter(
  js: JetStreamClient,
  n: Names,
  entry: {
    service: string;
    reason: RejectReason;
    detail: string;
    origin: string;
    /** DC-09: the account the frame named (see `DeadLetter.account`). */
    account?: string;
    raw: Uint8Array;
    /** The input's full size, when `raw` is already only its first bytes. */
    rawSize?: number;
  },
  now: Date = new Date(),
): Promise<string> {
  const size = Math.max(entry.rawSize ?? 0, entry.raw.byteLength);
  const letter: DeadLetter = {
    id: newId('dlq', now.getTime()),
    at: now.toISOString(),
    service: entry.service,
    reason: entry.reason,
    detail: entry.detail.slice(0, 2000),
    origin: entry.origin,
    ...(entry.account === undefined ? {} : { account: entry.account }),
    rawBase64: Buffer.from(entry.raw.subarray(0, DEAD_LETTER_MAX_RAW_BYTES)).toString('base64'),
    ...(size > Math.min(entry.raw.byteLength, DEAD_LETTER_MAX_RAW_BYTES) ? { truncatedFrom: size } : {}),
  };
  await js.publish(n.subjects.deadletter(entry.service, entry.reason), JSON.stringify(letter), {
    msgID: letter.id,
  });
  return letter.id;
}

/**
 * An error that no retry can cure: the message itself cannot be sent (larger than max_payload,
 * an invalid subject or argument), or cannot even be serialised (too deep, too long a string).
 * Such a message is refused and dead-lettered once; retrying it would hold everything behind it.
 */
export function isPermanentFailure(err: unknown): boolean {
  return (
    err instanceof PoisonMessageError ||
    err instanceof natsErrors.InvalidArgumentError ||
    err instanceof natsErrors.InvalidSubjectError ||
    err instanceof RangeError
  );
}

/** For /readyz: NATS is connected and answers a round trip within `timeoutMs`. */
export async function natsAnswers(nc: NatsConnection, timeoutMs = 1_000): Promise<boolean> {
  if (nc.isClosed() || nc.isDraining()) return false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([nc.rtt().then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

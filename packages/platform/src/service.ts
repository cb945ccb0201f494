/**
 * The frame of a service process, so that each service writes only its own wiring: configuration,
 * the one logger, names, clock, lifecycle, its connections (each with its readiness check),
 * streams, the HTTP server with `/healthz`, `/readyz` and `/metrics`, signals and drain.
 */
import { mkdirSync } from 'node:fs';
import { type Names, names } from '@telecare/contracts';
import type { Registry } from 'prom-client';
import { type Clock, systemClock } from './clock.ts';
import type { RedisTarget } from './config.ts';
import { natsDurability, postgresDurability, warnDurability } from './durability.ts';
import { formatBytes } from './errors.ts';
import {
  Counter,
  createHttpServer,
  createMetrics,
  type FastifyInstance,
  type ReadinessCheck,
} from './http.ts';
import { keepBuckets, openedBuckets } from './kv.ts';
import { createLogger, type Logger } from './logger.ts';
import {
  connectNats,
  ensureStreams,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  keepStreams,
  type NatsConnection,
  natsAnswers,
  type streamConfigs,
} from './nats.ts';
import { createPool, type Pool, PostgresHostsError, writesRefused } from './postgres.ts';
import { createRedis, type Redis, redisLoading } from './redis.ts';
import { Lifecycle, runService } from './shutdown.ts';
import { lockStateFolder, type StateFolderLock } from './state-lock.ts';
import { watchStreams } from './stream-metrics.ts';
import type { TlsCa } from './tls.ts';
import { withTimeout } from './work.ts';

type StreamKey = keyof ReturnType<typeof streamConfigs>;

/** The settings every service reads (see `commonEnv`). */
export interface ServiceConfig {
  readonly LOG_LEVEL: string;
  readonly TELECARE_NAMESPACE: string;
  readonly NATS_URL: string;
  readonly TELECARE_STREAM_REPLICAS: number;
  /** The JetStream store the streams share (`commonEnv`; unset: the account's limit, or the default). */
  readonly TELECARE_JETSTREAM_MAX_BYTES?: number | undefined;
  /** Open HTTP sockets per client address (`commonEnv`; unset: `HTTP_CONNECTIONS_PER_ADDRESS`). */
  readonly HTTP_CONNECTIONS_PER_ADDRESS?: number;
  /** Open HTTP sockets in all (`commonEnv`; unset: no cap). */
  readonly HTTP_MAX_CONNECTIONS?: number;
  /** The CA the servers' certificates are verified against (`commonEnv`; unset: the public CAs). */
  readonly TELECARE_TLS_CA?: TlsCa | undefined;
}

/** How long a readiness check of a dependency waits for its answer. */
export const DEPENDENCY_CHECK_MS = 1_000;

/** A NATS connection with its JetStream clients. */
export interface NatsClients {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
}

/** What `start` is given: the process's shell, made once by the frame. */
export interface ServiceContext<C extends ServiceConfig> {
  readonly name: string;
  readonly config: C;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly names: Names;
  /** Closers run in reverse order at drain: register consumers after the connections they use. */
  readonly lifecycle: Lifecycle;
  readonly metrics: Registry;
  /** The HTTP server; routes are added during `start`, it listens once `start` has returned. */
  readonly http: FastifyInstance;
  /** Connects to NATS (once) and ensures the definition's streams; readiness check `nats`. */
  nats(): Promise<NatsClients>;
  /**
   * Connects to Redis (`redisTarget`: REDIS_URL, or the Sentinels); readiness check `redis` (a
   * ping; `loading` while Redis loads its dataset).
   */
  redis(options: RedisTarget): Promise<Redis>;
  /**
   * A PostgreSQL pool; readiness checks `postgres` (a query) and `postgres-writes` (not read-only,
   * no write refused lately: the reason when not).
   */
  postgres(options: { url: string; max?: number }): Pool;
  /** Adds a readiness check of the service's own ("I own work"): `/readyz` names it when false. */
  ready(name: string, check: ReadinessCheck): void;
  /** What else `/readyz` tells, beside the checks. */
  details(describe: () => Record<string, unknown>): void;
  /**
   * The service's state folder (`ServiceDefinition.stateDir`), taken for this process before
   * anything connected, and let go after every other closer ran; undefined when it has none.
   */
  readonly stateFolder: StateFolderLock | undefined;
  /**
   * Names the step of start-up now under way. A step still running after `SLOW_STEP_MS` is
   * logged (a warning naming it), so a start that hangs says where.
   */
  step(what: string): void;
}

/** How long a start-up step may take before the service says it is waiting on it. */
export const SLOW_STEP_MS = 10_000;

export interface ServiceDefinition<C extends ServiceConfig, H extends object> {
  readonly name: string;
  /** Reads the environment with the service's one schema (a `ConfigError` lists what is wrong). */
  readonly config: () => C;
  /** The streams the service creates when missing, before `start` uses them. */
  readonly streams?: readonly StreamKey[];
  /** The NATS connection's request stacks (`connectNats`'s `asyncTraces`; default true). */
  readonly natsAsyncTraces?: boolean;
  /** Where the HTTP server listens. */
  readonly http: (config: C) => { port: number; host: string; trustProxy?: string[] | undefined };
  /**
   * A folder of this instance's own (`GATEWAY_STATE_DIR`), or undefined for none: made if missing
   * and taken (`lockStateFolder`) first, before any connection, so that a second instance on it
   * fails at once naming the holder's pid, having connected to nothing. `ServiceContext.stateFolder`.
   */
  readonly stateDir?: (config: C) => string | undefined;
  /** Builds the service on the context; what it returns is added to the handle. */
  readonly start: (context: ServiceContext<C>) => Promise<H>;
  /**
   * How long the process's start may take before it exits for its supervisor to start it again
   * (default `START_TIMEOUT_MS`): longer for a service whose start does work that grows with its
   * data (the helpline counting the alerts stored before a schema upgrade).
   */
  readonly startTimeoutMs?: number;
}

/** A started service: where it listens, how to drain it, and what `start` returned. */
export type ServiceHandle<H extends object> = H & {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
};

export interface DefinedService<C extends ServiceConfig, H extends object> {
  readonly name: string;
  /** Starts the service in this process (tests give their own logger, clock and slow-step time). */
  start(
    config: C,
    options?: { logger?: Logger; clock?: Clock; slowStepMs?: number },
  ): Promise<ServiceHandle<H>>;
  /** The process's entry point: `await service.main()` is the whole `main.ts`. */
  main(): Promise<void>;
}

/** The connections of one service and the readiness check each brings. */
function dependencies<C extends ServiceConfig>(
  name: string,
  config: C,
  n: Names,
  streams: readonly StreamKey[],
  asyncTraces: boolean,
  logger: Logger,
  lifecycle: Lifecycle,
  readiness: Record<string, ReadinessCheck>,
  metrics: Registry,
) {
  let nats: Promise<NatsClients> | undefined;
  const connectOnce = async (): Promise<NatsClients> => {
    const nc = await connectNats({
      url: config.NATS_URL,
      name,
      logger,
      asyncTraces,
      tls: config.TELECARE_TLS_CA,
    });
    lifecycle.add('nats', () => nc.drain());
    readiness.nats = () => natsAnswers(nc, DEPENDENCY_CHECK_MS);
    warnDurability(logger, natsDurability(nc, config.TELECARE_STREAM_REPLICAS));
    const jsm = await jetstreamManager(nc);
    const streamOptions = {
      replicas: config.TELECARE_STREAM_REPLICAS,
      storeBytes: config.TELECARE_JETSTREAM_MAX_BYTES,
    };
    const store = await ensureStreams(jsm, n, streams, streamOptions);
    if (store) {
      const bounds = { store: formatBytes(store.bytes), source: store.source };
      if (store.source === 'default')
        logger.warn(
          bounds,
          "streams sized from a default JetStream store: set TELECARE_JETSTREAM_MAX_BYTES to the servers' max_file_store",
        );
      else logger.info(bounds, 'streams sized from the JetStream store');
      if (store.unbounded.length > 0)
        logger.error(
          { ...bounds, streams: store.unbounded },
          "streams left without a byte bound: they hold more than a default store would keep, and a full JetStream store refuses every alarm; set TELECARE_JETSTREAM_MAX_BYTES to the servers' max_file_store",
        );
    }
    // And the buckets the service opens (createBucket), once it has opened them.
    watchStreams(metrics, jsm, () => [
      ...streams.map((key) => n.streams[key]),
      ...openedBuckets(nc).map((bucket) => `KV_${bucket}`),
    ]);
    // A stream JetStream loses while the service runs is made again, not waited for.
    const recreated = new Counter({
      name: 'telecare_streams_recreated_total',
      help: 'Streams this service found missing while it ran and created again (what they held was lost)',
      labelNames: ['stream'] as const,
      registers: [metrics],
    });
    const stopKeeping = keepStreams(jsm, n, streams, {
      ...streamOptions,
      logger,
      onRecreated: (stream) => recreated.inc({ stream }),
    });
    // And so is a bucket the service opened (createBucket), such as triage's leases.
    const stopKeepingBuckets = keepBuckets(nc, {
      logger,
      onRecreated: (bucket) => recreated.inc({ stream: `KV_${bucket}` }),
    });
    lifecycle.add('streams', async () => {
      stopKeeping();
      stopKeepingBuckets();
    });
    return { nc, js: jetstream(nc), jsm };
  };
  return {
    nats: () => {
      nats ??= connectOnce();
      return nats;
    },
    redis: async (target: RedisTarget) => {
      const redis = await createRedis({ ...target, logger, name, tls: config.TELECARE_TLS_CA });
      lifecycle.add('redis', async () => {
        await redis.quit().catch(() => redis.disconnect());
      });
      readiness.redis = async () => {
        // Not ready while it loads: the client waits for it, and it answers nothing meanwhile.
        if (redis.status !== 'ready') return redisLoading(redis)?.reason ?? false;
        return (await withTimeout(redis.ping(), DEPENDENCY_CHECK_MS)) === 'PONG';
      };
      return redis;
    },
    postgres: (url: string, max: number | undefined) => {
      const pool = createPool({
        url,
        logger,
        name,
        tls: config.TELECARE_TLS_CA,
        ...(max === undefined ? {} : { max }),
      });
      lifecycle.add('postgres', () => pool.end());
      // Said once the database answers; a database that is down says so through readiness.
      void postgresDurability(pool)
        .then((findings) => warnDurability(logger, findings))
        .catch(() => undefined);
      // A host answering read-only where a writable one is asked for answers: `postgres-writes` says why.
      readiness.postgres = async () =>
        (await withTimeout(
          pool.query('select 1').then(
            () => true,
            (err: unknown) => {
              if (err instanceof PostgresHostsError && err.code !== undefined) return true;
              throw err;
            },
          ),
          DEPENDENCY_CHECK_MS,
        )) === true;
      // A database that answers but refuses writes (read-only, disk full) says why.
      readiness['postgres-writes'] = async () =>
        (await withTimeout(
          writesRefused(pool).then((reason) => reason ?? true),
          DEPENDENCY_CHECK_MS,
        )) ?? false;
      return pool;
    },
  };
}

/** Takes `dir` (made if missing) for this process; let go by the lifecycle's last closer. */
function takeStateFolder(dir: string | undefined, lifecycle: Lifecycle): StateFolderLock | undefined {
  if (dir === undefined) return undefined;
  mkdirSync(dir, { recursive: true });
  const lock = lockStateFolder(dir);
  // Added first, so closed last: after whatever wrote to the folder.
  lifecycle.add('state-folder', async () => lock.release());
  return lock;
}

/** Node waits for every open socket at close; after a grace for requests in flight, they are cut. */
const HTTP_DRAIN_GRACE_MS = 1_500;

async function closeHttp(app: FastifyInstance): Promise<void> {
  const grace = setTimeout(() => app.server.closeAllConnections(), HTTP_DRAIN_GRACE_MS);
  grace.unref();
  try {
    await app.close();
  } finally {
    clearTimeout(grace);
  }
}

const urlOf = (host: string, port: number): string => {
  // Listening on every address: reach it on loopback.
  if (host === '0.0.0.0' || host === '::') return `http://127.0.0.1:${port}`;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
};

/**
 * Defines a service: `start` wires only what is the service's own, on a context that already has
 * the logger, names, clock, lifecycle, metrics and HTTP server, and makes its connections with
 * their readiness checks. A failure to start closes what was opened and rethrows; `/readyz` is
 * 503 while draining or while any dependency or the service's own check says no, naming which.
 */
export function defineService<C extends ServiceConfig, H extends object>(
  definition: ServiceDefinition<C, H>,
): DefinedService<C, H> {
  const start = async (
    config: C,
    options: { logger?: Logger; clock?: Clock; slowStepMs?: number } = {},
  ): Promise<ServiceHandle<H>> => {
    const { name } = definition;
    const logger = options.logger ?? createLogger(name, config.LOG_LEVEL);
    const lifecycle = new Lifecycle(logger);
    // Before anything connects: a second instance on the folder is refused having touched nothing.
    const stateFolder = takeStateFolder(definition.stateDir?.(config), lifecycle);
    const n = names(config.TELECARE_NAMESPACE);
    const metrics = createMetrics(name);
    const listen = definition.http(config);
    const readiness: Record<string, ReadinessCheck> = {};
    const described: Array<() => Record<string, unknown>> = [];
    const http = createHttpServer({
      logger,
      metrics,
      readiness,
      draining: () => lifecycle.closing,
      trustProxy: listen.trustProxy,
      ...(config.HTTP_CONNECTIONS_PER_ADDRESS === undefined
        ? {}
        : { connectionsPerAddress: config.HTTP_CONNECTIONS_PER_ADDRESS }),
      ...(config.HTTP_MAX_CONNECTIONS === undefined ? {} : { maxConnections: config.HTTP_MAX_CONNECTIONS }),
      details: () => Object.assign({}, ...described.map((describe) => describe())),
    });
    const deps = dependencies(
      name,
      config,
      n,
      definition.streams ?? [],
      definition.natsAsyncTraces ?? true,
      logger,
      lifecycle,
      readiness,
      metrics,
    );
    let step = { what: 'connecting', since: performance.now(), told: false };
    const watch = setInterval(
      () => {
        const waited = performance.now() - step.since;
        if (step.told || waited < (options.slowStepMs ?? SLOW_STEP_MS)) return;
        step.told = true;
        logger.warn(
          { step: step.what, waitedMs: Math.round(waited) },
          `start-up still waits on: ${step.what}`,
        );
      },
      Math.min(1_000, options.slowStepMs ?? 1_000),
    );
    watch.unref();
    try {
      const own = await definition.start({
        name,
        config,
        logger,
        clock: options.clock ?? systemClock,
        names: n,
        lifecycle,
        metrics,
        http,
        nats: deps.nats,
        redis: (target) => deps.redis(target),
        postgres: (pg) => deps.postgres(pg.url, pg.max),
        stateFolder,
        ready: (check, answer) => {
          readiness[check] = answer;
        },
        details: (describe) => {
          described.push(describe);
        },
        step: (what) => {
          step = { what, since: performance.now(), told: false };
          logger.debug({ step: what }, 'start-up step');
        },
      });
      clearInterval(watch);
      // Closed first at drain: no new requests while consumers finish their work in hand.
      lifecycle.add('http', () => closeHttp(http));
      await http.listen({ port: listen.port, host: listen.host });
      const address = http.server.address();
      const port = typeof address === 'object' && address ? address.port : listen.port;
      const url = urlOf(listen.host, port);
      logger.info({ url }, `${name} listening`);
      return Object.assign(own, { port, url, close: () => lifecycle.close() });
    } catch (err) {
      clearInterval(watch);
      await lifecycle.close();
      await http.close().catch(() => undefined);
      throw err;
    }
  };
  return {
    name: definition.name,
    start,
    main: () =>
      runService(definition.name, {
        load: definition.config,
        start: (config, { logger }) => start(config, { logger }),
        ...(definition.startTimeoutMs ? { startTimeoutMs: definition.startTimeoutMs } : {}),
      }),
  };
}

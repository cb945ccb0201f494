import { fileURLToPath } from 'node:url';
import { names } from '@telecare/contracts';
import {
  Counter,
  connectNats,
  createLogger,
  createPool,
  type DefinedService,
  defineService,
  jetstreamManager,
  type Logger,
  migrate,
  type ServiceContext,
  type ServiceHandle,
} from '@telecare/platform';
import { registerApi } from './api.ts';
import { loadReportsConfig, type ReportsConfig } from './config.ts';
import { deleteConsumers, startIngest } from './ingest.ts';
import { ReadSlots } from './read-slots.ts';
import { reapplySeeds } from './seed.ts';
import { READ_CONNECTIONS, ReportsStore } from './store.ts';

export const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/**
 * Empties the read model and deletes the durable consumers: the next start reads CASES, ALERTS
 * and EVENTS from their first message. Simulated activity (`reports seed`), which is on no stream,
 * is written again from its recorded options. Run it with the service stopped.
 */
export async function rebuildReports(
  config: ReportsConfig,
  options: { logger?: Logger } = {},
): Promise<void> {
  const logger = options.logger ?? createLogger('reports', config.LOG_LEVEL);
  const n = names(config.TELECARE_NAMESPACE);
  const schema = n.schema('reports');
  await migrate({ url: config.DATABASE_URL, schema, dir: MIGRATIONS, logger, tls: config.TELECARE_TLS_CA });
  const pool = createPool({ url: config.DATABASE_URL, logger, name: 'reports', tls: config.TELECARE_TLS_CA });
  const nc = await connectNats({
    url: config.NATS_URL,
    name: 'reports-rebuild',
    logger,
    tls: config.TELECARE_TLS_CA,
  });
  try {
    await deleteConsumers(await jetstreamManager(nc), n, config.REPORTS_CONSUMER);
    const store = new ReportsStore(pool, schema);
    await store.truncateReadModel();
    // Simulated activity is on no stream: it is written again from the options recorded.
    const seeds = await reapplySeeds(store);
    logger.info(
      { namespace: n.namespace, seeds },
      'reports read model emptied and simulated activity written again: the next start replays the streams',
    );
  } finally {
    await nc.drain();
    await pool.end();
  }
}

/** What a started reports service adds to its handle: the read model, for tests and the seed. */
export interface ReportsOwn {
  store: ReportsStore;
}

export type ReportsHandle = ServiceHandle<ReportsOwn>;

/**
 * The reports service: migrates its schema, follows CASES, ALERTS and EVENTS into it, and serves
 * the figures. Ready while PostgreSQL and NATS answer; at drain the HTTP server closes first, then
 * the ingest finishes what it holds, then the connections close.
 */
export const reportsService: DefinedService<ReportsConfig, ReportsOwn> = defineService({
  name: 'reports',
  config: () => loadReportsConfig(),
  streams: ['events', 'alerts', 'cases'],
  http: (config: ReportsConfig) => ({ port: config.REPORTS_PORT, host: config.HTTP_HOST }),
  start: wireReports,
});

/** Starts the reports service; resolves once listening, rejects (having closed what it opened) on failure. */
export const startReports: DefinedService<ReportsConfig, ReportsOwn>['start'] = reportsService.start;

async function wireReports(service: ServiceContext<ReportsConfig>): Promise<ReportsOwn> {
  const { config, logger, clock, lifecycle, metrics } = service;
  const n = service.names;
  const schema = n.schema('reports');
  await migrate({ url: config.DATABASE_URL, schema, dir: MIGRATIONS, logger, tls: config.TELECARE_TLS_CA });
  // Writes (the streams' ingest, imports, tokens) and readiness on one pool; reports' reads on a
  // pool of their own, so that a burst of five-year summaries never holds a write back.
  const pool = service.postgres({ url: config.DATABASE_URL, max: 5 });
  const readPool = createPool({
    url: config.DATABASE_URL,
    logger,
    tls: config.TELECARE_TLS_CA,
    name: 'reports-reads',
    max: READ_CONNECTIONS,
  });
  lifecycle.add('postgres reads', () => readPool.end());
  // One session per instance holds this instance's share of each token's read slots.
  const slotsPool = createPool({
    url: config.DATABASE_URL,
    logger,
    name: 'reports-read-slots',
    max: 1,
    tls: config.TELECARE_TLS_CA,
  });
  const readSlots = new ReadSlots(slotsPool, schema, config.REPORTS_READS_PER_TOKEN, logger);
  lifecycle.add('postgres read slots', async () => {
    await readSlots.close();
    await slotsPool.end();
  });
  const { js, jsm } = await service.nats();
  const store = new ReportsStore(pool, schema, config.REPORTS_READ_TIMEOUT_MS, readPool);

  const applied = new Counter({
    name: 'reports_messages_applied_total',
    help: 'Stream messages applied to the read model, by source stream',
    labelNames: ['source'] as const,
    registers: [metrics],
  });
  const refused = new Counter({
    name: 'reports_messages_refused_total',
    help: 'Stream messages refused (not the contract), by source stream',
    labelNames: ['source'] as const,
    registers: [metrics],
  });
  const ingest = await startIngest({
    js,
    jsm,
    names: n,
    store,
    metrics: { applied, refused },
    logger: logger.child({ component: 'ingest' }),
    prefix: config.REPORTS_CONSUMER,
  });
  lifecycle.add('ingest', () => ingest.stop());

  await registerApi(service.http, { store, clock, logger, config, readSlots });
  if (config.REGISTRY_URL && !config.REPORTS_REGISTRY_TOKEN)
    logger.warn(
      'REGISTRY_URL is set without REPORTS_REGISTRY_TOKEN: no care hours, and bed days count from the first device event seen',
    );
  if (!config.TELECARE_ADMIN_TOKEN)
    logger.warn('TELECARE_ADMIN_TOKEN is not set: only report tokens are accepted');
  return { store };
}

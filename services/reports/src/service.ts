import { fileURLToPath } from 'node:url';
import { names } from '@telecare/contracts';
import {
  type Clock,
  Counter,
  connectNats,
  createHttpServer,
  createLogger,
  createMetrics,
  createPool,
  ensureStreams,
  type FastifyInstance,
  jetstream,
  jetstreamManager,
  Lifecycle,
  type Logger,
  migrate,
  systemClock,
  within,
} from '@telecare/platform';
import { registerApi } from './api.ts';
import type { ReportsConfig } from './config.ts';
import { deleteConsumers, startIngest } from './ingest.ts';
import { ReportsStore } from './store.ts';

export interface ReportsHandle {
  port: number;
  url: string;
  store: ReportsStore;
  close(): Promise<void>;
}

export const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/**
 * Empties the read model and deletes the durable consumers: the next start reads CASES, ALERTS
 * and EVENTS from their first message. Run it with the service stopped.
 */
export async function rebuildReports(
  config: ReportsConfig,
  options: { logger?: Logger } = {},
): Promise<void> {
  const logger = options.logger ?? createLogger('reports', config.LOG_LEVEL);
  const n = names(config.TELECARE_NAMESPACE);
  const schema = n.schema('reports');
  await migrate({ url: config.DATABASE_URL, schema, dir: MIGRATIONS, logger });
  const pool = createPool({ url: config.DATABASE_URL, logger, name: 'reports' });
  const nc = await connectNats({ url: config.NATS_URL, name: 'reports-rebuild', logger });
  try {
    await deleteConsumers(await jetstreamManager(nc), n, config.REPORTS_CONSUMER);
    await new ReportsStore(pool, schema).truncateReadModel();
    logger.info({ namespace: n.namespace }, 'reports read model emptied: the next start replays the streams');
  } finally {
    await nc.drain();
    await pool.end();
  }
}

function listenUrl(app: FastifyInstance, config: ReportsConfig): { port: number; url: string } {
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.REPORTS_PORT;
  const host = config.HTTP_HOST.includes(':') ? `[${config.HTTP_HOST}]` : config.HTTP_HOST;
  return { port, url: `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}` };
}

/**
 * Starts the reports service: migrates its schema, follows CASES, ALERTS and EVENTS into it, and
 * serves the figures. Resolves once listening; rejects (having closed what it opened) on failure.
 */
export async function startReports(
  config: ReportsConfig,
  options: { logger?: Logger; clock?: Clock } = {},
): Promise<ReportsHandle> {
  const logger = options.logger ?? createLogger('reports', config.LOG_LEVEL);
  const clock = options.clock ?? systemClock;
  const n = names(config.TELECARE_NAMESPACE);
  const schema = n.schema('reports');
  const lifecycle = new Lifecycle(logger);
  try {
    await migrate({ url: config.DATABASE_URL, schema, dir: MIGRATIONS, logger });
    const pool = createPool({ url: config.DATABASE_URL, logger, name: 'reports' });
    lifecycle.add('postgres', () => pool.end());
    const nc = await connectNats({ url: config.NATS_URL, name: 'reports', logger });
    lifecycle.add('nats', () => nc.drain());
    const store = new ReportsStore(pool, schema);

    const metrics = createMetrics('reports');
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

    const jsm = await jetstreamManager(nc);
    await ensureStreams(jsm, n, ['events', 'alerts', 'cases'], { replicas: config.TELECARE_STREAM_REPLICAS });
    const ingest = await startIngest({
      js: jetstream(nc),
      jsm,
      names: n,
      store,
      metrics: { applied, refused },
      logger: logger.child({ component: 'ingest' }),
      prefix: config.REPORTS_CONSUMER,
    });
    lifecycle.add('ingest', () => ingest.stop());

    const app = createHttpServer({
      logger,
      metrics,
      readiness: {
        postgres: async () => (await within(pool.query('select 1'), 2_000)).rowCount === 1,
        nats: async () => !nc.isClosed() && (await within(nc.rtt(), 2_000)) >= 0,
      },
    });
    await registerApi(app, { store, clock, logger, config });
    lifecycle.add('http', () => app.close());
    await app.listen({ port: config.REPORTS_PORT, host: config.HTTP_HOST });
    const { port, url } = listenUrl(app, config);
    logger.info({ url, namespace: n.namespace }, 'reports listening');
    if (!config.TELECARE_ADMIN_TOKEN)
      logger.warn('TELECARE_ADMIN_TOKEN is not set: only report tokens are accepted');
    return { port, url, store, close: () => lifecycle.close() };
  } catch (err) {
    await lifecycle.close();
    throw err;
  }
}

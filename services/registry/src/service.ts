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
  Lifecycle,
  type Logger,
  migrate,
  systemClock,
} from '@telecare/platform';
import { registerApi } from './api.ts';
import type { RegistryConfig } from './config.ts';
import { DeviceMapPublisher } from './device-map.ts';
import { RegistryStore } from './store.ts';

export interface RegistryHandle {
  port: number;
  url: string;
  close(): Promise<void>;
}

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));

/** Bounded so a hung connection makes /readyz say "not ready" instead of hanging the probe. */
const within = <T>(ms: number, work: Promise<T>): Promise<T> =>
  Promise.race([
    work,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms).unref(),
    ),
  ]);

/**
 * Starts the registry: migrates its schema, brings the device map in step with PostgreSQL, then
 * serves the API. Resolves once it is listening; rejects (having closed what it opened) if any
 * step fails.
 */
export async function startRegistry(
  config: RegistryConfig,
  options: { logger?: Logger; clock?: Clock } = {},
): Promise<RegistryHandle> {
  const logger = options.logger ?? createLogger('registry', config.LOG_LEVEL);
  const clock = options.clock ?? systemClock;
  const n = names(config.TELECARE_NAMESPACE);
  const schema = n.schema('registry');
  const lifecycle = new Lifecycle(logger);

  try {
    await migrate({ url: config.DATABASE_URL, schema, dir: MIGRATIONS, logger });

    const pool = createPool({ url: config.DATABASE_URL, logger, name: 'registry' });
    lifecycle.add('postgres', () => pool.end());
    const nc = await connectNats({ url: config.NATS_URL, name: 'registry', logger });
    lifecycle.add('nats', () => nc.drain());

    const metrics = createMetrics('registry');
    const residentsCreated = new Counter({
      name: 'registry_residents_created_total',
      help: 'Residents created',
      registers: [metrics],
    });
    const devicesCreated = new Counter({
      name: 'registry_devices_created_total',
      help: 'Devices created',
      registers: [metrics],
    });
    const puts = new Counter({
      name: 'registry_device_map_puts_total',
      help: 'Device map (NATS KV) writes by outcome: written, unchanged, stale, deleted, failed',
      labelNames: ['outcome'] as const,
      registers: [metrics],
    });
    const refused = new Counter({
      name: 'registry_requests_refused_total',
      help: 'API requests refused, by reason',
      labelNames: ['reason'] as const,
      registers: [metrics],
    });

    const store = new RegistryStore(pool, schema);
    const deviceMap = new DeviceMapPublisher({ nc, names: n, store, logger, puts });
    lifecycle.add('device-map', () => deviceMap.close());
    await deviceMap.syncAll();

    const app = createHttpServer({
      logger,
      metrics,
      readiness: {
        postgres: async () => (await within(2_000, pool.query('select 1'))).rowCount === 1,
        nats: async () => {
          if (nc.isClosed()) return false;
          await within(2_000, nc.rtt());
          return true;
        },
      },
    });
    await registerApi(app, {
      store,
      deviceMap,
      clock,
      logger,
      adminToken: config.TELECARE_ADMIN_TOKEN,
      metrics: { residentsCreated, devicesCreated, refused },
    });
    // Registered last so it closes first: stop taking requests, let those in hand finish.
    lifecycle.add('http', () => app.close());
    await app.listen({ port: config.REGISTRY_PORT, host: config.HTTP_HOST });

    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.REGISTRY_PORT;
    const host = config.HTTP_HOST.includes(':') ? `[${config.HTTP_HOST}]` : config.HTTP_HOST;
    const url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
    logger.info({ url, namespace: n.namespace }, 'registry listening');
    if (!config.TELECARE_ADMIN_TOKEN)
      logger.warn('TELECARE_ADMIN_TOKEN is not set: every /api request is refused');
    return { port, url, close: () => lifecycle.close() };
  } catch (err) {
    await lifecycle.close();
    throw err;
  }
}

import type { AddressInfo } from 'node:net';
import { names } from '@telecare/contracts';
import {
  type Clock,
  connectNats,
  createHttpServer,
  createLogger,
  createMetrics,
  ensureStreams,
  jetstream,
  jetstreamManager,
  Lifecycle,
  type Logger,
  natsAnswers,
  systemClock,
} from '@telecare/platform';
import { openDc09AccountsMirror } from './accounts.ts';
import type { GatewayDc09Config } from './config.ts';
import { Dc09Gateway, SERVICE } from './gateway.ts';
import { createDc09Metrics } from './metrics.ts';

export interface GatewayDc09Handle {
  /** HTTP port (health, metrics). */
  readonly port: number;
  readonly url: string;
  /** Where DC-09 senders connect (TCP) and send datagrams (UDP). */
  readonly dc09: { readonly host: string; readonly tcpPort: number; readonly udpPort: number };
  close(): Promise<void>;
}

/**
 * Starts the DC-09 receiver: frames from IP dispersers and panels over TCP and UDP, each
 * answered only after JetStream stored every event in it (or dead-lettered what it refused).
 */
export async function startGatewayDc09(
  config: GatewayDc09Config,
  options: { logger?: Logger; clock?: Clock } = {},
): Promise<GatewayDc09Handle> {
  const logger = options.logger ?? createLogger(SERVICE, config.LOG_LEVEL);
  const clock = options.clock ?? systemClock;
  const n = names(config.TELECARE_NAMESPACE);
  const lifecycle = new Lifecycle(logger);
  try {
    const registry = createMetrics(SERVICE);
    const metrics = createDc09Metrics(registry);
    const nc = await connectNats({ url: config.NATS_URL, name: SERVICE, logger });
    lifecycle.add('nats', () => nc.drain());
    const replicas = { replicas: config.TELECARE_STREAM_REPLICAS };
    await ensureStreams(await jetstreamManager(nc), n, ['events', 'deadletter'], replicas);
    const accounts = await openDc09AccountsMirror(nc, n, logger, replicas);
    lifecycle.add('accounts', () => accounts.close());

    const gateway = new Dc09Gateway({
      names: n,
      js: jetstream(nc),
      accounts,
      metrics,
      clock,
      partitions: config.TELECARE_PARTITIONS,
      window: { behindMs: config.DC09_WINDOW_BEHIND_S * 1000, aheadMs: config.DC09_WINDOW_AHEAD_S * 1000 },
      idleMs: config.DC09_IDLE_TIMEOUT_S * 1000,
      frameDeadlineMs: config.DC09_FRAME_DEADLINE_S * 1000,
      maxConnectionsPerSource: config.DC09_MAX_CONNECTIONS_PER_SOURCE,
      nak: { burst: config.DC09_NAK_BURST, perMinute: config.DC09_NAK_PER_MINUTE },
      keyless: config.DC09_KEYLESS,
      retryMs: config.DC09_RETRY_S * 1000,
      maxConnections: config.DC09_MAX_CONNECTIONS,
      logger,
    });
    const { tcpPort, udpPort } = await gateway.listen(config.DC09_HOST, config.DC09_PORT);
    lifecycle.add('receiver', () => gateway.drain());

    const app = createHttpServer({
      logger,
      metrics: registry,
      readiness: { nats: () => natsAnswers(nc) },
    });
    await app.listen({ port: config.GATEWAY_DC09_PORT, host: config.HTTP_HOST });
    lifecycle.add('http', () => app.close());
    const { port } = app.server.address() as AddressInfo;
    const url = `http://${config.HTTP_HOST.includes(':') ? `[${config.HTTP_HOST}]` : config.HTTP_HOST}:${port}`;
    logger.info({ url, tcpPort, udpPort }, 'gateway-dc09 started');
    return { port, url, dc09: { host: config.DC09_HOST, tcpPort, udpPort }, close: () => lifecycle.close() };
  } catch (err) {
    await lifecycle.close();
    throw err;
  }
}

import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

export type { Redis };

/**
 * Redis holds only rebuildable state. Commands fail fast while disconnected (so a handler can nak
 * and retry) and the client reconnects with capped backoff.
 */
export async function createRedis(options: { url: string; logger: Logger; name: string }): Promise<Redis> {
  const log = options.logger.child({ component: 'redis' });
  const redis = new Redis(options.url, {
    connectionName: options.name,
    lazyConnect: true,
    connectTimeout: 5_000,
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
  redis.on('reconnecting', () => log.warn('redis reconnecting'));
  await redis.connect();
  log.info('connected to redis');
  return redis;
}

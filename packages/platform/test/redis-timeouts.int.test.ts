import { FaultProxy, servers } from '@telecare/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, createRedis, type Redis, TransientError } from '../src/index.ts';

/**
 * A Redis that accepts the connection and never answers (stopped, or behind a link that lost
 * the bytes): connecting and every command fail with a retryable error within a bound, instead of
 * waiting for ever (a service's start-up hung on it with nothing said).
 */
const logger = createLogger('redis', 'silent');
const target = new URL(servers.redisUrl);
let proxy: FaultProxy | undefined;
let redis: Redis | undefined;

afterEach(async () => {
  redis?.disconnect();
  redis = undefined;
  await proxy?.close();
  proxy = undefined;
});

const within = <T>(promise: Promise<T>, ms: number): Promise<T | 'no answer'> =>
  Promise.race([promise, new Promise<'no answer'>((r) => setTimeout(() => r('no answer'), ms))]);

describe('createRedis against a Redis that does not answer', () => {
  it('fails to connect with a TransientError within the connect timeout', async () => {
    proxy = await FaultProxy.start({ port: Number(target.port || 6379) });
    proxy.set({ kind: 'blackhole' });
    const started = performance.now();
    const outcome = await within(
      createRedis({ url: proxy.url('redis'), logger, name: 'blackholed', connectTimeoutMs: 2_000 }).then(
        (client) => {
          redis = client;
          return 'connected';
        },
        (err: unknown) => err,
      ),
      10_000,
    );
    expect(outcome).toBeInstanceOf(TransientError);
    expect((outcome as Error).message).toMatch(/Redis/);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('fails a command, and a pipeline, once connected, within the command timeout', async () => {
    proxy = await FaultProxy.start({ port: Number(target.port || 6379) });
    redis = await createRedis({
      url: proxy.url('redis'),
      logger,
      name: 'half-open',
      commandTimeoutMs: 1_000,
    });
    expect(await redis.ping()).toBe('PONG');
    proxy.set({ kind: 'half-open', direction: 'down' });
    const started = performance.now();
    const ping = await within(
      redis.ping().catch((err: unknown) => err),
      8_000,
    );
    expect(ping).toBeInstanceOf(Error);
    expect((ping as Error).message).toMatch(/timed out/i);
    const pipeline = redis.pipeline();
    pipeline.set('redis-timeouts-test', '1');
    const exec = await within(
      pipeline.exec().then(
        (results) => results?.[0]?.[0] ?? 'answered',
        (err: unknown) => err,
      ),
      8_000,
    );
    expect(exec).toBeInstanceOf(Error);
    expect(performance.now() - started).toBeLessThan(6_000);
  });
});

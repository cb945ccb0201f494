import { createLogger, createRedis } from '@telecare/platform';
import { servers } from '@telecare/testkit';
import { describe, expect, it } from 'vitest';
import { RedisAway } from '../src/redis-away.ts';

// A triage closing (a deploy, a scale-down) quits its Redis client. The breaker took the close as
// Redis going away and warned "redis away" at every orderly stop: an on-call engineer reading the
// log of a deploy saw an outage that was not one.
describe('Redis away, as the service closes its client', () => {
  it('says the connection was closed, at info, and no warning', async () => {
    const lines: Array<{ level: number; msg: string }> = [];
    const logger = createLogger('triage-redis-away-quit-test', 'info', {
      write: (line: string) => void lines.push(JSON.parse(line)),
    });
    const redis = await createRedis({ url: servers.redisUrl, logger, name: 'triage-away-quit-test' });
    const away = RedisAway.of(redis, logger);
    const changes: boolean[] = [];
    away.onChange = (isAway) => changes.push(isAway);
    await redis.quit();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const own = lines.filter((line) => line.msg.startsWith('redis'));
    expect(own.filter((line) => line.level >= 40)).toEqual([]);
    expect(own.map((line) => line.msg)).toContain('redis connection closed');
    // What waits on Redis is still released: the client is gone.
    expect(away.away).toBe(true);
    expect(changes).toEqual([true]);
  });
});

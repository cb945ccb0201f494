import { createLogger, createRedis, type Redis } from '@telecare/platform';
import { servers } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { REDIS_PING_WAIT_MS, REDIS_QUIET_MS, RedisAway } from '../src/redis-away.ts';

// A Redis that answers, on a process whose event loop stalls (a long synchronous stretch: a big
// batch decoded, a garbage collection, a busy machine). The answers wait in the socket until the
// loop reads them; the PING's wait, a timer, runs first in the loop's turn. Read as "unanswered",
// every lane failed its events for a second and an alarm could be decided ahead of its state.
const logger = createLogger('triage-redis-away-stall-test', process.env.TEST_LOG_LEVEL ?? 'silent');
let redis: Redis;

beforeAll(async () => {
  redis = await createRedis({ url: servers.redisUrl, logger, name: 'triage-away-stall-test' });
});
afterAll(() => redis?.disconnect());

/** Holds the event loop for `ms`, as a long synchronous stretch does. */
const stall = (ms: number) => {
  const until = performance.now() + ms;
  while (performance.now() < until);
};

describe('Redis away, on an event loop that stalls', () => {
  it('is not taken as away when Redis answered while the loop was held', async () => {
    const away = RedisAway.of(redis, logger);
    const changes: boolean[] = [];
    away.onChange = (isAway) => changes.push(isAway);
    // A command Redis answers a little after the watch's first look, so the look asks for a PING;
    // the loop is then held past the PING's wait, with both answers already sent.
    const blockedS = ((REDIS_QUIET_MS + 50) / 1000).toFixed(2);
    // Held outside the timers' turn (as an I/O callback is), so the loop's next turn runs its timers
    // before it reads the socket.
    setTimeout(() => setImmediate(() => stall(REDIS_PING_WAIT_MS + 400)), REDIS_QUIET_MS + 20);
    const answer = await away.read('a blocking pop', () => redis.blpop('telecare:test:stall:none', blockedS));
    expect(answer).toBeNull();
    // Past the watch's next look, with nothing held.
    await new Promise((resolve) => setTimeout(resolve, REDIS_QUIET_MS + REDIS_PING_WAIT_MS));
    expect(changes).toEqual([]);
    expect(away.away).toBe(false);
  });

  it('asks no PING when the answer was only waiting to be read', async () => {
    const away = RedisAway.of(redis, logger);
    const ping = vi.spyOn(redis, 'ping');
    try {
      // A command Redis answers at once, then the loop held past the watch's look, outside the
      // timers' turn: the look runs before the answer is read.
      const answer = away.read('a plain read', () => redis.get('telecare:test:stall:none'));
      setImmediate(() => stall(REDIS_QUIET_MS + 200));
      expect(await answer).toBeNull();
      await new Promise((resolve) => setTimeout(resolve, REDIS_QUIET_MS + REDIS_PING_WAIT_MS));
      expect(ping).not.toHaveBeenCalled();
      expect(away.away).toBe(false);
    } finally {
      ping.mockRestore();
    }
  });
});

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

  it('takes an answer that came while the loop was held past the command timeout, not a timeout', async () => {
    // The client's command timeout is a timer too (5 s in service; shorter here, the same race):
    // armed as the command is sent, it ran before the socket was read, and the command failed as
    // timed out with its answer waiting. Redis then counted as away, every command in hand failed.
    const timeoutMs = 600;
    const quick = await createRedis({
      url: servers.redisUrl,
      logger,
      name: 'triage-away-stall-timeout-test',
      commandTimeoutMs: timeoutMs,
    });
    try {
      const away = RedisAway.of(quick, logger);
      const changes: boolean[] = [];
      away.onChange = (isAway) => changes.push(isAway);
      const key = 'telecare:test:stall:timeout';
      await quick.set(key, 'answered');
      // Sent in this turn (auto-pipelined: written in the loop's check phase), then the loop held
      // past the timeout while Redis answers at once.
      const answer = away.read('a read in flight', () => quick.get(key));
      setImmediate(() => stall(timeoutMs + 400));
      expect(await answer).toBe('answered');
      expect(changes).toEqual([]);
      expect(away.away).toBe(false);
      await quick.del(key);
    } finally {
      quick.disconnect();
    }
  });

  it('still times out a command Redis does not answer', async () => {
    const timeoutMs = 300;
    const quick = await createRedis({
      url: servers.redisUrl,
      logger,
      name: 'triage-away-stall-unanswered-test',
      commandTimeoutMs: timeoutMs,
    });
    try {
      // A blocking pop Redis holds for a second: not answered within the timeout.
      const began = performance.now();
      await expect(quick.blpop('telecare:test:stall:never', 1)).rejects.toThrow('Command timed out');
      expect(performance.now() - began).toBeLessThan(900);
    } finally {
      quick.disconnect();
    }
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

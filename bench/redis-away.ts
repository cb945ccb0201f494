import { createLogger, createRedis } from '@telecare/platform';
import { servers } from '@telecare/testkit';
import { RedisAway } from '@telecare/triage';
import { machineLine } from './lib/services.ts';
import type { Benchmark } from './run.ts';
import { percentile, round } from './stats.ts';

/**
 * What triage's Redis breaker (`RedisAway`) costs a command while Redis answers: `BENCH_COMMANDS`
 * (20,000) GETs a round against the Redis at REDIS_URL, `BENCH_IN_HAND` (16) at once as a lane
 * holds events, each sent bare and through the guard (`read`: the away check, the count of
 * commands outstanding its watch keeps, the wait it ends as Redis goes), in alternated rounds so
 * that drift in the machine's load falls on both sides. CPU of this process per command, and the
 * PINGs the watch sent meanwhile (none while every command is answered within its 300 ms).
 */
const COMMANDS = Number(process.env.BENCH_COMMANDS ?? 20_000);
const IN_HAND = Number(process.env.BENCH_IN_HAND ?? 16);
const ROUNDS = 5;

type Side = 'bare' | 'guarded';

const benchmark: Benchmark = {
  description:
    "triage's Redis breaker on a command while Redis answers: CPU per GET guarded (RedisAway.read) against bare, and the PINGs its watch sent",
  async run(log) {
    log(machineLine());
    const logger = createLogger('bench-redis-away', 'silent');
    const redis = await createRedis({ url: servers.redisUrl, logger, name: 'bench-redis-away' });
    const away = RedisAway.of(redis);
    const key = `bench:redis-away:${process.pid}`;
    await redis.set(key, 'x'.repeat(64));
    const pings = async () =>
      Number(/cmdstat_ping:calls=(\d+)/.exec(await redis.info('commandstats'))?.[1] ?? 0);
    const round_ = async (side: Side): Promise<number> => {
      const one = () => (side === 'bare' ? redis.get(key) : away.read('a bench read', () => redis.get(key)));
      const started = process.cpuUsage();
      for (let done = 0; done < COMMANDS; done += IN_HAND)
        await Promise.all(Array.from({ length: Math.min(IN_HAND, COMMANDS - done) }, one));
      const used = process.cpuUsage(started);
      return (used.user + used.system) / COMMANDS;
    };
    log(`${COMMANDS} GETs a round, ${IN_HAND} at once; ${ROUNDS} rounds a side, alternated`);
    const sides: Side[] = ['bare', 'guarded'];
    const cpu = new Map<Side, number[]>(sides.map((side) => [side, []]));
    for (const side of sides) await round_(side);
    const pingsBefore = await pings();
    for (let r = 0; r < ROUNDS; r++)
      for (const side of sides) {
        const us = await round_(side);
        cpu.get(side)?.push(us);
        log(`round ${r + 1}  ${side.padEnd(8)} ${round(us, 2)} µs a command`);
      }
    const pinged = (await pings()) - pingsBefore;
    const bare = percentile(cpu.get('bare') ?? [], 50);
    const guarded = percentile(cpu.get('guarded') ?? [], 50);
    log(
      `medians: bare ${round(bare, 2)} µs, guarded ${round(guarded, 2)} µs a command; the guard ${round(guarded - bare, 2)} µs`,
    );
    log(`PINGs sent by the watch (and anyone else) meanwhile: ${pinged}`);
    await redis.del(key);
    redis.disconnect();
    return {
      commands: COMMANDS,
      inHand: IN_HAND,
      bareUs: round(bare, 2),
      guardedUs: round(guarded, 2),
      guardUs: round(guarded - bare, 2),
      pings: pinged,
    };
  },
};

export default benchmark;

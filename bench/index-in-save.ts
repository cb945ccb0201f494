import { names as namesOf } from '@telecare/contracts';
import { createLogger, createRedis } from '@telecare/platform';
import { initialState, type ResidentState } from '@telecare/rules';
import { servers } from '@telecare/testkit';
import { EventIndex, type GapClaims, StateStore } from '@telecare/triage';
import { machineLine } from './lib/services.ts';
import type { Benchmark } from './run.ts';
import { percentile, round } from './stats.ts';

/**
 * A partition lane's event's index append beside its state's save (`apart`: two scripts, the
 * append's answer settled as triage settles it) or in the save's script (`in`: one), as triage
 * sends them on the client: `BENCH_EVENTS` (4,000) saves a round of 16 residents at once against the
 * Redis at REDIS_URL, in alternated rounds so that drift in the machine's load falls on both sides.
 * CPU of this process per event.
 */
const EVENTS = Number(process.env.BENCH_EVENTS ?? 4_000);
const IN_HAND = 16;
const ROUNDS = 4;

type Side = 'apart' | 'in';

const benchmark: Benchmark = {
  description:
    "triage's event index append beside the state's save (two scripts) against in its script (one): CPU per event",
  async run(log) {
    log(machineLine());
    const logger = createLogger('bench-index-in-save', 'silent');
    const redis = await createRedis({ url: servers.redisUrl, logger, name: 'bench-index-in-save' });
    const names = namesOf(`benchiis${process.pid}`);
    // The claims are written only for a write Redis did not answer in time: none here.
    const index = new EventIndex(redis, names, { claims: {} as GapClaims });
    const store = new StateStore(redis, names.redisPrefix, logger);
    const states = new Map<string, ResidentState>();
    let seq = 0;
    const event = async (side: Side, residentId: string): Promise<void> => {
      const before = states.get(residentId);
      const at = ++seq;
      const after = {
        ...(before ?? initialState(residentId)),
        seen: [...(before?.seen.slice(-7) ?? []), `evt_${at}`],
      };
      const write = side === 'apart' ? index.send(residentId, at, 0) : undefined;
      const sent: Array<Promise<unknown>> = [];
      const then = store.saveIn(
        { evalsha: (sha, keys, ...args) => void sent.push(redis.evalsha(sha, keys, ...args)) },
        before,
        after,
        side === 'in' ? index.appending(residentId, at, 0) : undefined,
      );
      const [answer] = await Promise.allSettled(sent);
      await then(answer?.status === 'fulfilled' ? [null, answer.value] : [answer?.reason as Error, null]);
      if (write && !(await index.settle(write, residentId, at))) throw new Error('an index write not taken');
      states.set(residentId, after);
    };
    const round_ = async (side: Side): Promise<number> => {
      const started = process.cpuUsage();
      for (let done = 0; done < EVENTS; done += IN_HAND)
        await Promise.all(Array.from({ length: IN_HAND }, (_, k) => event(side, `res_bench${k}`)));
      const used = process.cpuUsage(started);
      return (used.user + used.system) / EVENTS;
    };
    log(`${EVENTS} events a round, ${IN_HAND} residents at once; ${ROUNDS} rounds a side, alternated`);
    const sides: Side[] = ['apart', 'in'];
    const cpu = new Map<Side, number[]>(sides.map((side) => [side, []]));
    for (const side of sides) await round_(side);
    for (let r = 0; r < ROUNDS; r++)
      for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
        const us = await round_(side);
        cpu.get(side)?.push(us);
        log(`round ${r + 1}  ${side.padEnd(6)} ${round(us, 1)} µs an event`);
      }
    const apart = percentile(cpu.get('apart') ?? [], 50);
    const inSave = percentile(cpu.get('in') ?? [], 50);
    log(
      `medians: apart ${round(apart, 1)} µs, in the save ${round(inSave, 1)} µs an event (${round(inSave / apart, 2)})`,
    );
    const keys = await redis.keys(`${names.redisPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
    return {
      events: EVENTS,
      apartUs: round(apart, 1),
      inSaveUs: round(inSave, 1),
      ratio: round(inSave / apart, 2),
    };
  },
};

export default benchmark;

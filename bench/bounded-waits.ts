import { withTimeout } from '@telecare/platform';
import { machineLine } from './lib/services.ts';
import type { Benchmark } from './run.ts';
import { percentile, round } from './stats.ts';

/**
 * What bounding triage's wait for each event's index write costs (INDEX_WAIT_MS, 1 s), without
 * Redis: `BENCH_WAITS` (200,000) waits a round, `BENCH_IN_HAND` (256) at once as a lane holds
 * events, each answered a turn of the event loop after its wait began (a Redis reply read after the
 * rest of the step). CPU per wait of `withTimeout` (a timer of its own for each wait, armed and
 * cleared, triage's way) against one timer for all (`BoundedWaits` here), and the same waits with no bound (the
 * baseline: what is left is the bound's own cost), in alternated rounds so that drift in the
 * machine's load falls on every side. (A write answered before the rest of its step ends, as it
 * is when the state's save followed it to Redis, is not waited for at all.)
 */
const WAITS = Number(process.env.BENCH_WAITS ?? 200_000);
const IN_HAND = Number(process.env.BENCH_IN_HAND ?? 256);
const ROUNDS = 5;
const BOUND_MS = 1_000;

/**
 * The other way measured: waits for at most the same `ms`, all on one timer (they end in the
 * order they began, so the timer is armed for the oldest only).
 */
class BoundedWaits {
  readonly #ms: number;
  readonly #waits = new Set<{ readonly until: number; readonly end: () => void }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(ms: number) {
    this.#ms = ms;
  }

  until(answer: Promise<unknown>): Promise<void> {
    return new Promise((resolve) => {
      const wait = { until: performance.now() + this.#ms, end: resolve };
      this.#waits.add(wait);
      const answered = () => {
        if (this.#waits.delete(wait)) resolve();
      };
      answer.then(answered, answered);
      this.#arm();
    });
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    const oldest = this.#waits.values().next().value;
    if (oldest === undefined) return;
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, oldest.until - performance.now()));
    this.#timer.unref();
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const wait of this.#waits) {
      if (wait.until > now) break;
      this.#waits.delete(wait);
      wait.end();
    }
    this.#arm();
  }
}

type Side = 'timer each' | 'one timer' | 'no bound';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** CPU microseconds per wait of one round of `side`. */
async function round_(side: Side): Promise<number> {
  const waits = new BoundedWaits(BOUND_MS);
  const wait = async (): Promise<void> => {
    const answer = nextTurn().then(() => true);
    if (side === 'no bound') await answer;
    else if (side === 'timer each') await withTimeout(answer, BOUND_MS);
    else await waits.until(answer);
  };
  const started = process.cpuUsage();
  for (let done = 0; done < WAITS; done += IN_HAND)
    await Promise.all(Array.from({ length: Math.min(IN_HAND, WAITS - done) }, wait));
  const used = process.cpuUsage(started);
  return (used.user + used.system) / WAITS;
}

const benchmark: Benchmark = {
  description:
    "the bound on each event's index write wait: CPU per wait with a timer each (withTimeout) against one timer for all (BoundedWaits), baseline the unbounded wait",
  async run(log) {
    log(machineLine());
    log(
      `${WAITS} waits a round, ${IN_HAND} at once, each answered a turn later; ${ROUNDS} rounds a side, alternated`,
    );
    const sides: Side[] = ['no bound', 'timer each', 'one timer'];
    const cpu = new Map<Side, number[]>(sides.map((side) => [side, []]));
    // A first round of each, not counted: the code warmed before it is timed.
    for (const side of sides) await round_(side);
    for (let r = 0; r < ROUNDS; r++)
      for (const side of sides) {
        const us = await round_(side);
        cpu.get(side)?.push(us);
        log(`round ${r + 1}  ${side.padEnd(14)} ${round(us, 3)} µs a wait`);
      }
    const median = (side: Side) => percentile(cpu.get(side) ?? [], 50);
    const timerEach = median('timer each');
    const oneTimer = median('one timer');
    const unbounded = median('no bound');
    log(
      `medians: no bound ${round(unbounded, 3)} µs, timer each ${round(timerEach, 3)} µs, one timer ${round(oneTimer, 3)} µs a wait`,
    );
    log(
      `the bound's own cost: timer each ${round(timerEach - unbounded, 3)} µs, one timer ${round(oneTimer - unbounded, 3)} µs a wait (ratio ${round((oneTimer - unbounded) / (timerEach - unbounded))})`,
    );
    return {
      waits: WAITS,
      inHand: IN_HAND,
      noBoundUs: round(unbounded, 3),
      timerEachUs: round(timerEach, 3),
      oneTimerUs: round(oneTimer, 3),
      oneTimerOverTimerEach: round(oneTimer / timerEach),
    };
  },
};

export default benchmark;

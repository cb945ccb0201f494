import { HELPLINE_MIGRATIONS, RequestBudget, SharedBudget, upgradeSchema } from '@telecare/helpline';
import { Counter, createLogger, createMetrics, createPool } from '@telecare/platform';
import { servers, uniqueNamespace } from '@telecare/testkit';
import type { Benchmark } from './run.ts';
import { percentile, round } from './stats.ts';

const TAKES = Number(process.env.BENCH_TAKES ?? 2_000);
const AT_ONCE = Number(process.env.BENCH_AT_ONCE ?? 16);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);

/**
 * What the shared read and write budgets add to a request: `SharedBudget.take` (one
 * `INSERT … ON CONFLICT … DO UPDATE … RETURNING` on the person's row of `request_budgets`) one at
 * a time and `BENCH_AT_ONCE` (16) at once, people spread over 50 rows and all on one person's row
 * (a script's requests, which take turns on it). Baselines, same run, in alternated rounds: the
 * same pool's `select 1` (a round trip to PostgreSQL and nothing else) and the per-instance
 * count in memory (`RequestBudget.take`, what the budgets were).
 */
const benchmark: Benchmark = {
  description: `shared request budget: µs a request counted, one at a time and ${AT_ONCE} at once, against select 1 and the in-memory count`,
  async run(log) {
    const logger = createLogger('bench-budgets', 'silent');
    const schema = uniqueNamespace('benchbudgets').replace(/[^a-z0-9_]/gi, '_');
    await upgradeSchema({ url: servers.databaseUrl, schema, dir: HELPLINE_MIGRATIONS, logger });
    const pool = createPool({ url: servers.databaseUrl, logger, name: 'bench-budgets', max: AT_ONCE });
    const fallbacks = new Counter({
      name: 'bench_budget_fallbacks_total',
      help: 'fallbacks',
      labelNames: ['budget'],
      registers: [createMetrics('bench')],
    });
    const store = { pool, schema, logger, fallbacks };
    // A budget never reached: every request is counted, none refused.
    const shared = new SharedBudget('reads', 1_000_000_000, 60_000, () => Date.now(), store);
    const local = new RequestBudget(1_000_000_000, 60_000, () => Date.now());
    const ways = {
      shared: (person: string) => shared.take(person),
      select1: async (_person: string) => pool.query('select 1'),
      memory: async (person: string) => local.take(person),
    } as const;
    type Way = keyof typeof ways;
    const samples: Record<string, number[]> = {};
    const time = async (way: Way, label: string, people: (i: number) => string, atOnce: number) => {
      const out: number[] = samples[`${way} ${label}`] ?? [];
      samples[`${way} ${label}`] = out;
      let next = 0;
      const worker = async () => {
        while (next < TAKES) {
          const i = next++;
          const t0 = performance.now();
          await ways[way](people(i));
          out.push((performance.now() - t0) * 1000);
        }
      };
      await Promise.all(Array.from({ length: atOnce }, worker));
    };
    try {
      for (const way of Object.keys(ways) as Way[]) await time(way, 'warm-up', (i) => `usr_${i % 50}`, 1);
      for (let r = 0; r < ROUNDS; r++)
        for (const way of Object.keys(ways) as Way[]) {
          await time(way, 'one at a time', (i) => `usr_${i % 50}`, 1);
          await time(way, `${AT_ONCE} at once`, (i) => `usr_${i % 50}`, AT_ONCE);
          await time(way, `${AT_ONCE} at once, one person`, () => 'usr_script', AT_ONCE);
        }
      // Requests counted in memory because PostgreSQL did not answer in time: the figures above are
      // PostgreSQL's counts only when this is 0.
      const fellBack = (await fallbacks.get()).values.reduce((sum, v) => sum + v.value, 0);
      log(`shared counted in memory instead (no answer in time): ${fellBack} requests`);
      const figures: Record<string, number> = { shared_fallbacks: fellBack };
      for (const [label, xs] of Object.entries(samples)) {
        if (label.endsWith('warm-up')) continue;
        const p50 = round(percentile(xs, 50), 0);
        const p99 = round(percentile(xs, 99), 0);
        log(`${label}: p50 ${p50} µs, p99 ${p99} µs (${xs.length} requests)`);
        const key = label.replace(/[^a-z0-9]+/gi, '_');
        figures[`${key}_p50_us`] = p50;
        figures[`${key}_p99_us`] = p99;
      }
      return figures;
    } finally {
      await pool.query(`drop schema if exists "${schema}" cascade`).catch(() => undefined);
      await pool.end();
    }
  },
};
export default benchmark;

import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { HELPLINE_MIGRATIONS, upgradeSchema } from '@telecare/helpline';
import { createLogger, migrate } from '@telecare/platform';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import { runPreviousVersion, seedAt012, tallyMismatches } from '@telecare/tests';
import type { Benchmark } from './run.ts';
import { round } from './stats.ts';

const { values: args } = parseArgs({
  args: process.argv.slice(3),
  options: {
    alerts: { type: 'string' },
    'per-case': { type: 'string' },
    baseline: { type: 'string' },
  },
  strict: true,
});

const SIZES = (args.alerts ?? '100000,1000000').split(',').map(Number);
const PER_CASE = Number(args['per-case'] ?? 20);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The helpline's schema upgrade from migration 012 while the previous version works on it: a
 * schema of `--alerts` alerts (100,000 and 1,000,000; `--per-case` 20 to a case), two intake
 * workers storing alerts and two console workers reading and changing cases as that version did,
 * and the upgrade run beside them as the service runs it at its start. Figures: how long the
 * upgrade took, the longest any one statement of the previous version waited, its failed
 * transactions (deadlocks, statement timeouts), and whether every tally matches its rows. With
 * `--baseline <checkout>`, that checkout's migrations run the same way first (`migrate`, as its
 * service ran them), in a schema of their own filled the same.
 */
const benchmark: Benchmark = {
  description: `the helpline's schema upgrade from 012 at ${SIZES.join(', ')} alerts while the previous version stores alerts (longest wait)`,
  async run(log) {
    const figures: Record<string, number | string> = {};
    const logger = createLogger('bench-migrate', 'silent');
    const sides: [string, (schema: string) => Promise<void>][] = [];
    if (args.baseline) {
      const dir = path.join(path.resolve(args.baseline), 'services/helpline/migrations');
      sides.push(['baseline', (schema) => migrate({ url: servers.databaseUrl, schema, dir, logger })]);
    }
    sides.push([
      'this',
      (schema) => upgradeSchema({ url: servers.databaseUrl, schema, dir: HELPLINE_MIGRATIONS, logger }),
    ]);
    for (const alerts of SIZES) {
      const cases = Math.max(1, Math.round(alerts / PER_CASE));
      for (const [side, upgrade] of sides) {
        const ns = uniqueNamespace('benchmig');
        const schema = `${ns}_helpline`;
        try {
          await seedAt012({
            url: servers.databaseUrl,
            schema,
            migrationsDir: HELPLINE_MIGRATIONS,
            cases,
            alerts,
          });
          const load = runPreviousVersion({ url: servers.databaseUrl, schema, cases });
          await sleep(1_000);
          const t0 = performance.now();
          const failed = await upgrade(schema).then(
            () => '',
            (err: unknown) => (err instanceof Error ? err.message : String(err)),
          );
          const upgradeS = (performance.now() - t0) / 1000;
          await sleep(1_000);
          const report = await load.stop();
          const mismatches = failed ? undefined : await tallyMismatches(servers.databaseUrl, schema);
          const key = `${side}_${alerts}`;
          figures[`${key}_upgrade_s`] = round(upgradeS, 1);
          figures[`${key}_longest_wait_ms`] = round(report.longestStatementMs, 0);
          figures[`${key}_failed_transactions`] = Object.values(report.failures).reduce((a, b) => a + b, 0);
          figures[`${key}_alerts_stored`] = report.stored.length;
          log(
            `${side.padEnd(8)} ${String(alerts).padStart(8)} alerts (${cases} cases): upgrade ${round(upgradeS, 1)} s` +
              `${failed ? ` FAILED (${failed})` : ''}; previous version: ${report.stored.length} alerts stored in ` +
              `${report.transactions} transactions, failed ${JSON.stringify(report.failures)}, longest statement ` +
              `${round(report.longestStatementMs, 0)} ms (${report.longestStatement}… at ${round(report.longestStatementAt / 1000, 1)} s), ` +
              `longest intake ${round(report.longestIntakeMs, 0)} ms; tallies off: ${JSON.stringify(mismatches ?? 'not checked')}; ` +
              `load average ${loadavg()
                .map((l) => l.toFixed(1))
                .join(' ')}`,
          );
        } finally {
          await cleanupNamespace(ns);
        }
      }
    }
    return figures;
  },
};

export default benchmark;

import { HELPLINE_MIGRATIONS, upgradeSchema } from '@telecare/helpline';
import { createLogger } from '@telecare/platform';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { runPreviousVersion, seedAt012, tallyMismatches } from '../support/helpline-upgrade.ts';

// A rolling upgrade from migration 012: the previous version keeps storing alerts and serving
// consoles while the new version upgrades the schema at its start.
// At CI size (30,000 alerts) beside the other test files; `HELPLINE_UPGRADE_ALERTS=100000` for the
// size measured (`pnpm bench helpline-migrate` for 1,000,000). Counted inside the migration, as
// before, statements waited for the whole count (30,000: several seconds; 100,000: into the
// intake's 15 s statement timeout), and the previous version deadlocked at any size.
const ALERTS = Number(process.env.HELPLINE_UPGRADE_ALERTS ?? 30_000);
const CASES = Math.max(100, Math.round(ALERTS / 20));
// The longest any statement of the previous version may wait. Counted in batches of 50 cases, the
// longest measured 0.4–0.9 s at 100,000 alerts on two cores at load average 8–11.
const LONGEST_WAIT_MS = 2_000;

const namespaces: string[] = [];
afterAll(async () => {
  for (const ns of namespaces) await cleanupNamespace(ns);
});

async function upgradeUnderLoad() {
  const ns = uniqueNamespace('hlupgrade');
  namespaces.push(ns);
  const schema = `${ns}_helpline`;
  await seedAt012({
    url: servers.databaseUrl,
    schema,
    migrationsDir: HELPLINE_MIGRATIONS,
    cases: CASES,
    alerts: ALERTS,
  });
  const load = runPreviousVersion({
    url: servers.databaseUrl,
    schema,
    cases: CASES,
    intakes: 2,
    consoles: 2,
  });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const t0 = performance.now();
  const upgrade = await upgradeSchema({
    url: servers.databaseUrl,
    schema,
    dir: HELPLINE_MIGRATIONS,
    logger: createLogger('helpline-upgrade', 'silent'),
  }).then(
    () => undefined,
    (err: unknown) => err,
  );
  const upgradeMs = Math.round(performance.now() - t0);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const report = await load.stop();
  return { schema, upgrade, upgradeMs, report };
}

/**
 * What the earlier migrations 013–015 left: the tally columns NOT NULL, their indexes, no CHECK of
 * their own; and 016's index.
 */
async function schemaShape(schema: string) {
  const db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
  try {
    const columns = await db.query<{ column: string; nullable: string; default: string | null }>(
      `select table_name || '.' || column_name as column, is_nullable as nullable, column_default as default
         from information_schema.columns
        where table_schema = $1 and column_name = any($2) order by 1`,
      [schema, ['alert_count', 'raisers', 'position', 'priority', 'presses', 'device_serials']],
    );
    const indexes = await db.query<{ def: string }>(
      `select replace(pg_get_indexdef(i.indexrelid), $1 || '.', '') as def from pg_index i
         join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and i.indisvalid and c.relname = any($2) order by c.relname`,
      [
        schema,
        [
          'case_alerts_position',
          'case_alerts_urgent',
          'case_alerts_press',
          'case_alerts_closing',
          'case_alerts_repeating',
          'case_events_joins',
          'case_events_steps',
          'cases_newest',
        ],
      ],
    );
    const checks = await db.query(
      `select conname from pg_constraint c join pg_namespace n on n.oid = c.connamespace
        where n.nspname = $1 and conname like '%counted'`,
      [schema],
    );
    return { columns: columns.rows, indexes: indexes.rows.map((r) => r.def), checks: checks.rows };
  } finally {
    await db.end();
  }
}

describe('the helpline schema upgrade from 012 while the previous version works', () => {
  it('neither side deadlocks, every alert is stored and counted, and no statement waits 2 s', async () => {
    const { schema, upgrade, upgradeMs, report } = await upgradeUnderLoad();
    const { stored, ...figures } = report;
    process.stdout.write(`${JSON.stringify({ upgradeMs, stored: stored.length, ...figures })}\n`);
    expect(upgrade).toBeUndefined();
    expect(report.failures).toEqual({});
    expect(report.stored.length).toBeGreaterThan(0);
    expect(await tallyMismatches(servers.databaseUrl, schema)).toEqual({ alerts: 0, cases: 0 });
    // The schema as the earlier migrations 013–015 left it, with 016's index.
    expect(await schemaShape(schema)).toEqual({
      columns: [
        { column: 'case_alerts.position', nullable: 'NO', default: null },
        { column: 'case_alerts.priority', nullable: 'NO', default: null },
        { column: 'cases.alert_count', nullable: 'NO', default: '0' },
        { column: 'cases.device_serials', nullable: 'NO', default: "'{}'::text[]" },
        { column: 'cases.presses', nullable: 'NO', default: '0' },
        { column: 'cases.priority', nullable: 'NO', default: null },
        { column: 'cases.raisers', nullable: 'NO', default: "'{}'::jsonb" },
      ],
      indexes: [
        'CREATE INDEX case_alerts_closing ON case_alerts USING btree (case_id, closes_id, "position") WHERE (closes_id IS NOT NULL)',
        'CREATE UNIQUE INDEX case_alerts_position ON case_alerts USING btree (case_id, "position")',
        'CREATE INDEX case_alerts_press ON case_alerts USING btree (case_id, press_key) WHERE (press_key IS NOT NULL)',
        'CREATE INDEX case_alerts_repeating ON case_alerts USING btree (case_id, repeats_id) WHERE (repeats_id IS NOT NULL)',
        'CREATE INDEX case_alerts_urgent ON case_alerts USING btree (case_id, priority, "position" DESC)',
        "CREATE INDEX case_events_joins ON case_events USING btree (case_id, seq) WHERE (kind = 'alert-joined'::text)",
        "CREATE INDEX case_events_steps ON case_events USING btree (case_id, seq) WHERE (kind <> 'alert-joined'::text)",
        'CREATE INDEX cases_newest ON cases USING btree (raised_at, id) WHERE (NOT test_mode)',
      ],
      checks: [],
    });
    expect(report.longestStatementMs).toBeLessThan(LONGEST_WAIT_MS);
  }, 180_000);
});

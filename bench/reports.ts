import { isDeepStrictEqual } from 'node:util';
import { names } from '@telecare/contracts';
import { createLogger, createPool, migrate, type Pool } from '@telecare/platform';
import {
  checkEpisodes,
  MIGRATIONS,
  monthsOf,
  type ReportRows,
  ReportsStore,
  summarise,
  summariseCounts,
} from '@telecare/reports';
import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import type { Benchmark } from './run.ts';
import { percentile, round } from './stats.ts';

const CASES = Number(process.env.BENCH_CASES ?? 100_000);
const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const EPISODES = Number(process.env.BENCH_EPISODES ?? 20_000);
/** One resident's rows in the second episodes file (a file of day cases, or one row repeated). */
const ONE_RESIDENT = Number(process.env.BENCH_ONE_RESIDENT ?? 20_000);
const TO = new Date('2026-12-01T00:00:00.000Z');
const FROM = new Date('2021-12-01T00:00:00.000Z');
const MONTHS = 60;
const DISTRICTS = Array.from({ length: 12 }, (_, i) => `GL${i + 1}`);

/**
 * A five-year read model as `ReportsStore.rows` gives it: `CASES` calls (each with its alert) spread
 * evenly over the period in twelve districts, a fifth with a responder visit and a tenth a fall,
 * and `DEVICES` devices heard every month (one activity row per device and month). Seeded.
 */
function readModel(): ReportRows {
  let seed = 7;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const span = TO.getTime() - FROM.getTime();
  const cases = [];
  const alerts = [];
  for (let i = 0; i < CASES; i++) {
    const raisedAt = new Date(FROM.getTime() + random() * span);
    const district = DISTRICTS[i % DISTRICTS.length] as string;
    const fall = i % 10 === 0;
    const visit = i % 5 === 0;
    const t = (s: number) => new Date(raisedAt.getTime() + s * 1000);
    cases.push({
      caseId: `case_${i}`,
      residentId: `res_${i % DEVICES}`,
      district,
      priority: 1,
      type: fall ? 'fall.detected' : 'pendant.pressed',
      raisedAt,
      acceptedAt: t(20 + random() * 60),
      responderCalledAt: visit ? t(120) : null,
      resolvedAt: t(1800),
      closedAt: t(2400),
      outcome: visit ? 'responder-visit' : 'reassurance-given',
      facts: [
        ...(visit ? [{ fact: 'responder-arrived', at: t(120 + random() * 3600), onFloorMinutes: null }] : []),
        ...(fall ? [{ fact: 'found-on-floor', at: t(600), onFloorMinutes: Math.round(random() * 120) }] : []),
      ],
    });
    alerts.push({
      type: cases[i]?.type as string,
      priority: 1,
      district,
      raisedAt,
      late: false,
      deviceKind: null,
    });
  }
  const activity = [];
  for (let d = 0; d < DEVICES; d++)
    for (let m = 0; m < MONTHS; m++) {
      const day = new Date(Date.UTC(2021, 11 + m, 1 + (d % 28))).toISOString().slice(0, 10);
      activity.push({
        serial: `PEN-${d}`,
        residentId: `res_${d}`,
        deviceKind: 'pendant',
        district: DISTRICTS[d % DISTRICTS.length] as string,
        day,
      });
    }
  return { cases, alerts, activity, faults: [] };
}

/** A trust's episodes file: `EPISODES` stays of 10,000 residents, each resident's apart. */
function episodesFile(): { text: string; known: Set<string> } {
  const day = (n: number) => new Date(Date.UTC(2015, 0, 1) + n * 86_400_000).toISOString().slice(0, 10);
  const known = new Set<string>();
  const lines = ['resident,admitted,discharged'];
  for (let i = 0; i < EPISODES; i++) {
    const resident = `res_${i % 10_000}`;
    known.add(resident);
    const from = Math.floor(i / 10_000) * 20;
    lines.push(`${resident},${day(from)},${day(from + 5)}`);
  }
  return { text: lines.join('\n'), known };
}

/**
 * One resident's file: `ONE_RESIDENT` same-day stays (day cases), out of date order, a third of them
 * repeated. Compared row with row this took over a minute at 20,000.
 */
function oneResidentFile(): { text: string; known: Set<string> } {
  const day = (n: number) => new Date(Date.UTC(1960, 0, 1) + n * 86_400_000).toISOString().slice(0, 10);
  const lines = ['resident,admitted,discharged'];
  for (let i = 0; i < ONE_RESIDENT; i++) {
    const d = day((i * 7919) % Math.ceil((ONE_RESIDENT * 2) / 3));
    lines.push(`res_0,${d},${d}`);
  }
  return { text: lines.join('\n'), known: new Set(['res_0']) };
}

/** The least any summary does: every row read once and counted by its month. */
function onePass(rows: ReportRows): number {
  const months = new Map<string, number>();
  const count = (month: string) => months.set(month, (months.get(month) ?? 0) + 1);
  for (const c of rows.cases) count(c.raisedAt.toISOString().slice(0, 7));
  for (const a of rows.alerts) count(a.raisedAt.toISOString().slice(0, 7));
  for (const a of rows.activity) count(a.day.slice(0, 7));
  return months.size;
}

/** The same read model in PostgreSQL, in a schema of its own (one device day per device and month). */
async function loadReadModel(pool: Pool, schema: string, rows: ReportRows): Promise<void> {
  const q = (table: string) => `"${schema}".${table}`;
  const chunk = 20_000;
  const insert = async <T>(items: readonly T[], sql: string, columns: ((item: T) => unknown)[]) => {
    for (let i = 0; i < items.length; i += chunk) {
      const part = items.slice(i, i + chunk);
      await pool.query(
        sql,
        columns.map((col) => part.map(col)),
      );
    }
  };
  const cases = rows.cases;
  await insert(
    cases,
    `insert into ${q('rp_alerts')} (alert_id, resident_id, priority, type, raised_at, late, test_mode, record_only)
     select a, r, p, t, at, false, false, false
     from unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[]) as x(a, r, p, t, at)`,
    [(c) => `alr_${c.caseId}`, (c) => c.residentId, (c) => c.priority, (c) => c.type, (c) => c.raisedAt],
  );
  await insert(
    cases,
    `insert into ${q('rp_cases')} (case_id, alert_id, priority, type, opened_at, accepted_at, responder_called_at,
       resolved_at, closed_at, outcome)
     select * from unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[], $6::timestamptz[],
       $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::text[])`,
    [
      (c) => c.caseId,
      (c) => `alr_${c.caseId}`,
      (c) => c.priority,
      (c) => c.type,
      (c) => c.raisedAt,
      (c) => c.acceptedAt,
      (c) => c.responderCalledAt,
      (c) => c.resolvedAt,
      (c) => c.closedAt,
      (c) => c.outcome,
    ],
  );
  const facts = cases.flatMap((c) =>
    c.facts.map((f, i) => ({ ...f, caseId: c.caseId, stepId: `${c.caseId}_${i}` })),
  );
  await insert(
    facts,
    `insert into ${q('rp_case_facts')} (step_id, case_id, fact, at, on_floor_minutes)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::int[])`,
    [(f) => f.stepId, (f) => f.caseId, (f) => f.fact, (f) => f.at, (f) => f.onFloorMinutes],
  );
  await insert(
    rows.activity,
    `insert into ${q('rp_device_days')} (serial, day, resident_id, device_kind, district)
     select * from unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[])`,
    [(a) => a.serial, (a) => a.day, (a) => a.residentId, (a) => a.deviceKind, (a) => a.district],
  );
  await pool.query(
    `insert into ${q('rp_residents')} (resident_id, district, first_seen_at, updated_at)
     select resident_id, min(district), min(day)::timestamptz, min(day)::timestamptz from ${q('rp_device_days')}
     group by resident_id`,
  );
  await pool.query(
    `analyze ${['rp_alerts', 'rp_cases', 'rp_case_facts', 'rp_device_days', 'rp_residents'].map(q).join(', ')}`,
  );
}

async function timeAsync<T>(
  work: () => Promise<T>,
): Promise<{ ms: number; value: T | undefined; error?: string }> {
  const start = performance.now();
  try {
    const value = await work();
    return { ms: performance.now() - start, value };
  } catch (err) {
    return { ms: performance.now() - start, value: undefined, error: (err as Error).message };
  }
}

/**
 * The whole request's work against PostgreSQL, alternated round by round: "rows" reads the
 * period's rows and counts them in Node (`store.rows` then `summarise`, as the service did, on
 * the indexes it had: migration 008's is dropped for its turn), "counts" has PostgreSQL count them
 * (`store.counts` then `summariseCounts`, with 008's index). Both under the service's 15 s read limit.
 */
async function databaseRounds(rows: ReportRows, log: (line: string) => void) {
  const ns = uniqueNamespace('benchrp');
  const schema = names(ns).schema('reports');
  const logger = createLogger('bench-reports', 'warn');
  await migrate({ url: servers.databaseUrl, schema, dir: MIGRATIONS, logger });
  const pool = createPool({ url: servers.databaseUrl, logger, name: 'bench-reports' });
  try {
    const loadStart = performance.now();
    await loadReadModel(pool, schema, rows);
    log(`database: read model loaded in ${round((performance.now() - loadStart) / 1000, 1)} s`);
    const store = new ReportsStore(pool, schema);
    const scope = { from: FROM, to: TO, districts: null };
    const options = { ...scope, now: TO };
    const viaRows: number[] = [];
    const viaCounts: number[] = [];
    let same = true;
    let cancelled = 0;
    // "Before" is the read model as it was: without migration 008's index (dropped for its turn).
    const index = `"${schema}".rp_device_days_resident_day_district_idx`;
    const indexDefinition = (
      await pool.query<{ def: string }>('select pg_get_indexdef($1::regclass) as def', [index])
    ).rows[0]?.def as string;
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      await pool.query(`drop index ${index}`);
      const old = await timeAsync(async () => {
        const read = await store.rows(scope);
        return summarise(read, { ...options, unplaced: read.unplaced });
      });
      await pool.query(indexDefinition);
      const fresh = await timeAsync(async () => {
        const counts = await store.counts(scope, monthsOf(FROM, TO), TO);
        return summariseCounts(counts, { ...options, unplaced: counts.unplaced });
      });
      viaRows.push(old.ms);
      viaCounts.push(fresh.ms);
      if (old.error) cancelled++;
      if (!old.error && !isDeepStrictEqual(old.value, fresh.value)) same = false;
      log(
        `database round ${round_ + 1}: rows ${round(old.ms, 0)} ms${old.error ? ` (${old.error})` : ''}, counts ${round(fresh.ms, 0)} ms${fresh.error ? ` (${fresh.error})` : ''}`,
      );
    }
    const r = percentile(viaRows, 50);
    const c = percentile(viaCounts, 50);
    log(
      `median: rows read and counted in Node ${round(r, 0)} ms, counted in PostgreSQL ${round(c, 0)} ms: ${round(r / c, 1)}×; same figures: ${same ? 'yes' : 'NO'}`,
    );
    return {
      db_rows_ms_p50: round(r, 0),
      db_counts_ms_p50: round(c, 0),
      db_rows_vs_counts_ratio: round(r / c, 1),
      db_rows_cancelled: cancelled,
      db_same_figures: same ? 'yes' : 'no',
    };
  } finally {
    await pool.query(`drop schema if exists "${schema}" cascade`).catch(() => undefined);
    await pool.end();
    await cleanupNamespace(ns).catch(() => undefined);
  }
}

const time = (work: () => unknown): number => {
  const start = performance.now();
  work();
  return performance.now() - start;
};

const benchmark: Benchmark = {
  description: `a commissioner's five-year summary over ${CASES} calls and ${DEVICES} devices, and a trust's episodes file of ${EPISODES} stays checked (the pure functions), and the same summary read from PostgreSQL as rows or as counts`,
  async run(log) {
    const rows = readModel();
    log(
      `read model: ${rows.cases.length} calls, ${rows.alerts.length} alerts, ${rows.activity.length} activity rows`,
    );
    const baseline: number[] = [];
    const summary: number[] = [];
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      baseline.push(time(() => onePass(rows)));
      summary.push(time(() => summarise(rows, { from: FROM, to: TO, districts: null, now: TO })));
      log(
        `round ${round_ + 1}: one pass ${round(baseline.at(-1) as number, 1)} ms, summary ${round(summary.at(-1) as number, 0)} ms`,
      );
    }
    const base = percentile(baseline, 50);
    const sum = percentile(summary, 50);
    log(
      `median: one pass ${round(base, 1)} ms, summary ${round(sum, 0)} ms: ${round(sum / base, 1)}× one pass`,
    );

    const database = process.env.BENCH_REPORTS_DB === 'off' ? {} : await databaseRounds(rows, log);

    // The episodes file an admin imports, checked row by row before anything is written.
    const file = episodesFile();
    const split: number[] = [];
    const check: number[] = [];
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      split.push(time(() => file.text.split('\n').map((line) => line.split(','))));
      check.push(time(() => checkEpisodes(file.text, file.known, new Map(), '2026-12-01')));
      log(
        `episodes round ${round_ + 1}: split ${round(split.at(-1) as number, 1)} ms, check ${round(check.at(-1) as number, 0)} ms`,
      );
    }
    // The same number of rows for one resident: no slower per row than a file of many.
    const one = oneResidentFile();
    const oneCheck: number[] = [];
    for (let round_ = 0; round_ < ROUNDS; round_++)
      oneCheck.push(time(() => checkEpisodes(one.text, one.known, new Map(), '2026-12-01')));
    const oneP50 = percentile(oneCheck, 50);
    const splitP50 = percentile(split, 50);
    const checkP50 = percentile(check, 50);
    log(
      `median: ${EPISODES} episodes split ${round(splitP50, 1)} ms, checked ${round(checkP50, 0)} ms: ${round(checkP50 / splitP50, 1)}× the split`,
    );
    log(`median: ${ONE_RESIDENT} episodes of one resident checked ${round(oneP50, 0)} ms`);
    return {
      cases: CASES,
      devices: DEVICES,
      one_pass_ms_p50: round(base, 1),
      summary_ms_p50: round(sum, 0),
      summary_vs_one_pass_ratio: round(sum / base, 1),
      ...database,
      episodes: EPISODES,
      episodes_split_ms_p50: round(splitP50, 1),
      episodes_check_ms_p50: round(checkP50, 0),
      episodes_check_vs_split_ratio: round(checkP50 / splitP50, 1),
      one_resident_episodes: ONE_RESIDENT,
      one_resident_check_ms_p50: round(oneP50, 0),
      one_resident_vs_many_ratio: round(oneP50 / ((checkP50 * ONE_RESIDENT) / EPISODES), 1),
    };
  },
};

export default benchmark;

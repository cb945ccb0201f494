import { copyFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, migrate } from '@telecare/platform';
import pg from 'pg';

/**
 * A rolling upgrade of the helpline's schema, as a deployment meets it: a database at migration 012
 * holding many cases and their alerts, the previous version's intake and consoles working on it
 * (their SQL as that version ran it), and the new version's schema upgrade run beside them.
 */

const OPEN = ['queued', 'offered', 'accepted', 'on_hold'];

/** Migrates `schema` to 012 and fills it with `cases` open cases sharing `alerts` alerts (and a case event each). */
export async function seedAt012(options: {
  url: string;
  schema: string;
  migrationsDir: string;
  cases: number;
  alerts: number;
}): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'helpline-012-'));
  try {
    for (const file of readdirSync(options.migrationsDir).filter((f) => f.endsWith('.sql') && f < '013')) {
      copyFileSync(path.join(options.migrationsDir, file), path.join(dir, file));
    }
    await migrate({
      url: options.url,
      schema: options.schema,
      dir,
      logger: createLogger('helpline-upgrade', 'silent'),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const db = new pg.Client({ connectionString: options.url });
  await db.connect();
  try {
    await db.query(`set search_path to "${options.schema}"`);
    await db.query(
      `insert into cases (id, resident_id, priority, type, state, raised_at, last_alert_at, created_at, updated_at)
       select 'case_' || i, 'res_' || i, 1, 'pendant.pressed', 'queued', t, t, t, t
         from generate_series(0, $1 - 1) i, lateral (select now() - interval '30 days' + i * interval '1 second' as t) x`,
      [options.cases],
    );
    // Alert k of case i, in ten kinds: presses (the second the same press again, the ninth a repeat
    // of the first), mains lost and restored (closing the loss before it), and a cancel of the first press.
    await db.query(
      `insert into case_alerts (alert_id, case_id, alert, received_at)
       select 'alt_' || i || '_' || k, 'case_' || i, jsonb_strip_nulls(jsonb_build_object(
                'id', 'alt_' || i || '_' || k, 'residentId', 'res_' || i, 'type', type, 'priority', priority,
                'raisedAt', to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                'rule', jsonb_build_object('id', 'rule.' || type, 'version', 1),
                'evidence', jsonb_build_array(evidence), 'thresholds', '{}'::jsonb, 'reason', type,
                'late', false, 'testMode', false, 'deviceSerial', serial,
                'closes', closes, 'repeats', repeats)), at
         from generate_series(0, $2 - 1) g,
              lateral (select g % $1 as i, g / $1 as k) ik,
              lateral (select now() - interval '29 days' + g * interval '10 milliseconds' as at,
                              CASE WHEN k % 10 IN (0, 1, 2, 8) THEN 'pendant.pressed' WHEN k % 10 = 7 THEN 'mains.restored'
                                   WHEN k % 10 = 9 THEN 'alarm.cancelled' ELSE 'mains.lost' END as type) t,
              lateral (select CASE t.type WHEN 'pendant.pressed' THEN 1 WHEN 'mains.lost' THEN 3 ELSE 5 END as priority,
                              'evt_' || i || '_' || CASE WHEN k % 10 = 1 THEN k - 1 ELSE k END as evidence,
                              CASE WHEN t.type = 'pendant.pressed' THEN 'PND-' || (k % 3) ELSE 'HUB-' || i END as serial,
                              CASE WHEN k % 10 = 7 THEN jsonb_build_object('alertId', 'alt_' || i || '_' || (k - 1), 'outcome', 'restored')
                                   WHEN k % 10 = 9 THEN jsonb_build_object('alertId', 'alt_' || i || '_' || (k - 9), 'outcome', 'false-alarm')
                              END as closes,
                              CASE WHEN k % 10 = 8 THEN jsonb_build_object('alertId', 'alt_' || i || '_' || (k - 8)) END as repeats) p`,
      [options.cases, options.alerts],
    );
    await db.query(
      `insert into case_events (id, case_id, at, actor, kind, data)
       select 'cev_' || alert_id, case_id, received_at, 'system', 'alert-joined', jsonb_build_object('alertId', alert_id)
         from case_alerts`,
    );
    await db.query('analyze cases; analyze case_alerts; analyze case_events');
  } finally {
    await db.end();
  }
}

/** What the previous version's work met while the upgrade ran. */
export interface LoadReport {
  /** Alerts the intake committed. */
  stored: string[];
  /** Transactions that failed, by SQLSTATE (40P01 a deadlock, 57014 a statement timeout). */
  failures: Record<string, number>;
  /** The longest any one statement took, intake and consoles, in ms. */
  longestStatementMs: number;
  /** That statement, and when it started (ms after the work began). */
  longestStatement: string;
  longestStatementAt: number;
  /** The longest an intake transaction took, in ms. */
  longestIntakeMs: number;
  transactions: number;
}

/**
 * The previous version's work on the schema until `stop()`: `intakes` workers storing alerts as its
 * intake did (the resident's lock, the alert looked up, the case locked with its alerts, the case
 * changed, the alert and its case event inserted), and `consoles` workers doing what its consoles and
 * timers did (the queue read with each case's alerts; a case locked with its alerts, changed and its
 * event appended). Every fifth alert closes an earlier one of its case.
 */
export function runPreviousVersion(options: {
  url: string;
  schema: string;
  cases: number;
  intakes?: number;
  consoles?: number;
}): { stop: () => Promise<LoadReport> } {
  const report: LoadReport = {
    stored: [],
    failures: {},
    longestStatementMs: 0,
    longestStatement: '',
    longestStatementAt: 0,
    longestIntakeMs: 0,
    transactions: 0,
  };
  let running = true;
  let next = 0;
  const began = performance.now();
  const snapshot = (where: string) =>
    `select c.*, (select json_agg(a.alert order by a.received_at, a.alert_id) from case_alerts a where a.case_id = c.id) as alerts
       from cases c where ${where}`;

  type Query = (sql: string, params?: unknown[]) => Promise<pg.QueryResult>;
  // A worker's transactions one after another; `work` returns the alert it stores, if any.
  const worker = async (work: (q: Query) => Promise<string | undefined>) => {
    const db = new pg.Client({ connectionString: options.url, statement_timeout: 15_000 });
    await db.connect();
    await db.query(`set search_path to "${options.schema}"`);
    const q = async (sql: string, params?: unknown[]) => {
      const t0 = performance.now();
      try {
        return await db.query(sql, params);
      } finally {
        const ms = performance.now() - t0;
        if (ms > report.longestStatementMs) {
          report.longestStatementMs = ms;
          report.longestStatement = sql.replace(/\s+/g, ' ').slice(0, 60);
          report.longestStatementAt = Math.round(t0 - began);
        }
      }
    };
    try {
      while (running) {
        try {
          await q('begin');
          const stored = await work(q);
          await q('commit');
          report.transactions++;
          if (stored) report.stored.push(stored);
        } catch (err) {
          const code = (err as { code?: string }).code ?? 'other';
          report.failures[code] = (report.failures[code] ?? 0) + 1;
          await db.query('rollback').catch(() => undefined);
        }
      }
    } finally {
      await db.end();
    }
  };

  const intake = () =>
    worker(async (q) => {
      const n = next++;
      const i = (n * 7919) % options.cases;
      const residentId = `res_${i}`;
      const id = `alt_${i}_new_${n}`;
      const at = new Date();
      const t0 = performance.now();
      const closing = n % 5 === 4;
      const alert = {
        id,
        residentId,
        type: closing ? 'mains.restored' : n % 2 ? 'pendant.pressed' : 'mains.lost',
        priority: closing ? 5 : n % 2 ? 1 : 3,
        raisedAt: at.toISOString(),
        rule: { id: 'rule.upgrade', version: 1 },
        evidence: [`evt_new_${n}`],
        thresholds: {},
        reason: 'upgrade',
        late: false,
        testMode: false,
        deviceSerial: n % 2 ? 'PND-9' : `HUB-${i}`,
        ...(closing ? { closes: { alertId: `alt_${i}_3`, outcome: 'restored' } } : {}),
      };
      await q('select pg_advisory_xact_lock(hashtextextended($1, 0))', [`${options.schema}:${residentId}`]);
      await q('select case_id from case_alerts where alert_id = $1', [id]);
      const open = await q(
        `${snapshot('c.resident_id = $1 and c.state = any($2) order by c.last_alert_at desc limit 1')} for update of c`,
        [residentId, OPEN],
      );
      const caseId = open.rows[0]?.id as string;
      await q('update cases set last_alert_at = $2, updated_at = $2 where id = $1', [caseId, at]);
      await q('insert into case_alerts (alert_id, case_id, alert, received_at) values ($1, $2, $3, $4)', [
        id,
        caseId,
        JSON.stringify(alert),
        at,
      ]);
      await q(
        `insert into case_events (id, case_id, at, actor, kind, data) values ($1, $2, $3, 'system', 'alert-joined', $4)`,
        [`cev_${id}`, caseId, at, { alertId: id }],
      );
      report.longestIntakeMs = Math.max(report.longestIntakeMs, performance.now() - t0);
      return id;
    });

  const consoleWork = (k: number) =>
    worker(async (q) => {
      const n = next++;
      if (n % 2) {
        await q(`${snapshot('c.state = any($1) order by c.priority, c.raised_at, c.id limit 20')}`, [OPEN]);
        return undefined;
      }
      const caseId = `case_${(n * 104_729 + k) % options.cases}`;
      const at = new Date();
      await q(`${snapshot('c.id = $1')} for update of c`, [caseId]);
      await q('update cases set updated_at = $2 where id = $1', [caseId, at]);
      await q(
        `insert into case_events (id, case_id, at, actor, kind, data) values ($1, $2, $3, 'system', 'noted', '{}')`,
        [`cev_console_${n}`, caseId, at],
      );
      return undefined;
    });

  const workers = [
    ...Array.from({ length: options.intakes ?? 2 }, () => intake()),
    ...Array.from({ length: options.consoles ?? 2 }, (_, k) => consoleWork(k)),
  ];
  return {
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return report;
    },
  };
}

/**
 * How far the schema's tallies are from what its rows say: alerts whose place, priority, press,
 * closing or standing differ from their case's alerts (places must run 0, 1, ... in the order the
 * case took them), and cases whose tally (alert count, presses, latest press, devices, raisers)
 * differs from their alerts counted afresh.
 */
export async function tallyMismatches(
  url: string,
  schema: string,
): Promise<{ alerts: number; cases: number }> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    await db.query(`set search_path to "${schema}"`);
    const alerts = await db.query<{ n: number }>(
      `with e as (
         select a.*, (a.alert ->> 'priority')::smallint as e_priority,
                CASE WHEN NOT (a.alert ? 'closes') AND a.alert ->> 'type' IN ('pendant.pressed', 'pullcord.pulled', 'bogus-caller.pressed')
                  THEN coalesce(a.alert -> 'evidence' ->> 0, a.alert_id) END as e_press_key,
                a.alert -> 'closes' ->> 'alertId' as e_closes_id, a.alert -> 'repeats' ->> 'alertId' as e_repeats_id,
                row_number() over (partition by a.case_id order by a.position) - 1 as rank
           from case_alerts a),
       s as (
         select e.*, d.how as direct, r.how as via_repeat from e
           left join lateral (select c.alert -> 'closes' ->> 'outcome' as how from case_alerts c
                               where c.case_id = e.case_id and c.closes_id = e.alert_id order by c.position desc limit 1) d on true
           left join lateral (select c.alert -> 'closes' ->> 'outcome' as how from case_alerts c
                               where c.case_id = e.case_id and c.closes_id = e.e_repeats_id order by c.position desc limit 1) r on true)
       select count(*)::integer as n from s
        where position is distinct from rank or priority is distinct from e_priority
           or press_key is distinct from e_press_key or closes_id is distinct from e_closes_id
           or repeats_id is distinct from e_repeats_id
           or (closes_id is null and (closed_directly <> (direct is not null)
               or closed_as is distinct from coalesce(direct, via_repeat)))`,
    );
    const cases = await db.query<{ n: number }>(
      `with t as (
         select c.id, count(a.alert_id)::integer as alert_count, count(distinct a.press_key)::integer as presses,
                max((a.alert ->> 'raisedAt')::timestamptz) filter (where a.press_key is not null) as last_press_at,
                max(a.position) filter (where a.press_key is not null) as last_press_position,
                coalesce((select array_agg(s.serial order by s.first) from
                  (select a2.alert ->> 'deviceSerial' as serial, min(a2.position) as first from case_alerts a2
                    where a2.case_id = c.id and a2.alert ? 'deviceSerial' group by 1) s), '{}') as device_serials,
                coalesce((select jsonb_object_agg(type, counts) from
                  (select a3.alert ->> 'type' as type, jsonb_build_object(
                      'open', count(*) filter (where a3.closed_as is null),
                      'false-alarm', count(*) filter (where a3.closed_as = 'false-alarm'),
                      'restored', count(*) filter (where a3.closed_as = 'restored')) as counts
                     from case_alerts a3 where a3.case_id = c.id and a3.closes_id is null group by 1) g), '{}') as raisers
           from cases c left join case_alerts a on a.case_id = c.id group by c.id)
       select count(*)::integer as n from cases c join t using (id)
        where c.alert_count is distinct from t.alert_count or c.presses is distinct from t.presses
           or c.last_press_at is distinct from t.last_press_at or c.last_press_position is distinct from t.last_press_position
           or c.device_serials is distinct from t.device_serials or c.raisers is distinct from t.raisers`,
    );
    return { alerts: alerts.rows[0]?.n ?? -1, cases: cases.rows[0]?.n ?? -1 };
  } finally {
    await db.end();
  }
}

import { type Pool, type PoolClient, withTransaction } from '@telecare/platform';
import type { QueryResult } from 'pg';
import type { CohortResident, StayDays } from './cohort.ts';
import { type ActivityCounts, type AlertGroup, assembleCounts, type CaseCounts } from './counts.ts';
import {
  type ActivityRow,
  ALARM_PRIORITIES,
  type AlertRow,
  type CaseRow,
  type FactRow,
  type FaultRow,
  LONG_LIE_MINUTES,
  type Rows,
} from './figures.ts';
import type { AlertRecord, CaseStep, DeviceActivity } from './records.ts';
import type { SummaryCounts } from './summary.ts';

/** What a report is asked for: [from, to) and the postcode districts (null: every district). */
export interface Scope {
  readonly from: Date;
  readonly to: Date;
  readonly districts: readonly string[] | null;
}

/**
 * A report's read given up at the read limit: cancelled by PostgreSQL (the period or districts are
 * too much for it), or the registry's cohort not come by then.
 */
export class ReadTimeoutError extends Error {
  constructor(
    readonly limitMs: number,
    cause: unknown,
    readonly source: 'postgres' | 'registry' = 'postgres',
  ) {
    super(`a read of this report (${source}) took longer than ${limitMs} ms and was cancelled`, { cause });
  }
}

/**
 * Every connection for reports' reads was in use by other reports for as long as the pool waits
 * for one: the reports are busy (each caller within its bound), not a server down.
 */
export class ReadsBusyError extends Error {
  constructor(
    readonly connections: number,
    cause: unknown,
  ) {
    super(`all ${connections} connections for reports were in use by other reports`, { cause });
  }
}

/** What node-postgres says when no pooled connection came within its wait. */
const CHECKOUT_TIMEOUT = /^timeout exceeded when trying to connect/;

/**
 * At most this many of one report's reads run at once, each on a connection of its own: a summary
 * has six to make. With `REPORTS_READS_PER_TOKEN` (2) a token holds at most six of the read
 * connections (`READ_CONNECTIONS`), so another token's report always finds one.
 */
export const READS_PER_REPORT = 3;

/**
 * The connections of the pool for reports' reads, apart from the one for writes (the streams'
 * ingest, imports, tokens): a burst of large reports never holds a write back.
 */
export const READ_CONNECTIONS = 8;

/** Runs `tasks`, at most `width` at a time, and gives their results in order. */
async function inTurns<const T extends readonly (() => Promise<unknown>)[]>(
  tasks: T,
  width: number,
): Promise<{ -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
  const results: unknown[] = new Array(tasks.length);
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < tasks.length) {
      const i = next++;
      try {
        results[i] = await (tasks[i] as () => Promise<unknown>)();
      } catch (err) {
        // The others still in hand finish; none more is begun.
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, lane));
  return results as { -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> };
}

/** The read-model tables `rebuild` empties (the tokens are not read-model and stay). */
export const READ_MODEL_TABLES = [
  'rp_residents',
  'rp_device_days',
  'rp_device_faults',
  'rp_alerts',
  'rp_cases',
  'rp_case_steps',
  'rp_case_facts',
] as const;

const CASE_COLUMNS = {
  alertId: 'alert_id',
  priority: 'priority',
  type: 'type',
  openedAt: 'opened_at',
  acceptedAt: 'accepted_at',
  responderCalledAt: 'responder_called_at',
  resolvedAt: 'resolved_at',
  closedAt: 'closed_at',
  outcome: 'outcome',
  testMode: 'test_mode',
  recordOnly: 'record_only',
} as const;

type Queryable = Pick<PoolClient, 'query'>;
type Tables = Record<(typeof READ_MODEL_TABLES)[number] | 'rp_hospital_stays' | 'rp_seeds', string>;

/** Writes the read model. Every write is idempotent by the id of what caused it. */
export class ReportsStore {
  readonly #t: Tables;
  /** Reads holding a connection of `readPool` now. */
  #readsHeld = 0;
  /** This process's turn at importing stays: one waits here, not on a pooled connection. */
  #importTurn: Promise<unknown> = Promise.resolve();

  constructor(
    readonly pool: Pool,
    readonly schema: string,
    /** How long one read of a report may run before PostgreSQL cancels it (ms). */
    readonly readTimeoutMs = 15_000,
    /** Where reports' reads run: a pool of their own, so that writes never wait behind them. */
    readonly readPool: Pool = pool,
  ) {
    const q = (table: string) => `"${schema}".${table}`;
    this.#t = Object.fromEntries(
      [...READ_MODEL_TABLES, 'rp_hospital_stays', 'rp_seeds'].map((t) => [t, q(t)]),
    ) as Tables;
  }

  table(name: keyof Tables): string {
    return this.#t[name];
  }

  async applyActivity(a: DeviceActivity): Promise<void> {
    const t = this.#t;
    await withTransaction(this.pool, async (db) => {
      await db.query(
        `insert into ${t.rp_residents} (resident_id, district, first_seen_at, updated_at)
         values ($1, $2, $3, $3)
         on conflict (resident_id) do update set
           first_seen_at = least(${t.rp_residents}.first_seen_at, excluded.first_seen_at),
           district = case when excluded.updated_at >= ${t.rp_residents}.updated_at and excluded.district is not null
                           then excluded.district else ${t.rp_residents}.district end,
           updated_at = greatest(${t.rp_residents}.updated_at, excluded.updated_at)`,
        [a.residentId, a.district, a.at],
      );
      await db.query(
        `insert into ${t.rp_device_days} (serial, day, resident_id, device_kind, district)
         values ($1, $2, $3, $4, $5) on conflict do nothing`,
        [a.serial, a.day, a.residentId, a.deviceKind, a.district],
      );
      if (a.fault)
        await db.query(
          `insert into ${t.rp_device_faults} (event_id, serial, resident_id, type, district, at)
           values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
          [a.eventId, a.serial, a.residentId, a.fault, a.district, a.at],
        );
    });
  }

  /** Many activities in one transaction (the same writes as `applyActivity`, for a bulk load). */
  async applyActivities(list: readonly DeviceActivity[]): Promise<void> {
    if (list.length === 0) return;
    const t = this.#t;
    const firstSeen = new Map<string, DeviceActivity>();
    for (const a of list) {
      const seen = firstSeen.get(a.residentId);
      if (!seen || a.at < seen.at) firstSeen.set(a.residentId, a);
    }
    const residents = [...firstSeen.values()];
    const faults = list.filter((a) => a.fault);
    await withTransaction(this.pool, async (db) => {
      await db.query(
        `insert into ${t.rp_residents} (resident_id, district, first_seen_at, updated_at)
         select * from unnest($1::text[], $2::text[], $3::timestamptz[], $3::timestamptz[])
         on conflict (resident_id) do update set
           first_seen_at = least(${t.rp_residents}.first_seen_at, excluded.first_seen_at)`,
        [residents.map((a) => a.residentId), residents.map((a) => a.district), residents.map((a) => a.at)],
      );
      await db.query(
        `insert into ${t.rp_device_days} (serial, day, resident_id, device_kind, district)
         select * from unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[]) on conflict do nothing`,
        [
          list.map((a) => a.serial),
          list.map((a) => a.day),
          list.map((a) => a.residentId),
          list.map((a) => a.deviceKind),
          list.map((a) => a.district),
        ],
      );
      if (faults.length > 0)
        await db.query(
          `insert into ${t.rp_device_faults} (event_id, serial, resident_id, type, district, at)
           select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
           on conflict do nothing`,
          [
            faults.map((a) => a.eventId),
            faults.map((a) => a.serial),
            faults.map((a) => a.residentId),
            faults.map((a) => a.fault),
            faults.map((a) => a.district),
            faults.map((a) => a.at),
          ],
        );
    });
  }

  async applyAlert(a: AlertRecord): Promise<void> {
    await this.#insertAlert(this.pool, a);
  }

  async #insertAlert(db: Queryable, a: AlertRecord): Promise<void> {
    await db.query(
      `insert into ${this.#t.rp_alerts}
         (alert_id, resident_id, priority, type, raised_at, late, test_mode, record_only, device_kind)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing`,
      [
        a.alertId,
        a.residentId,
        a.priority,
        a.type,
        a.raisedAt,
        a.late,
        a.testMode,
        a.recordOnly,
        a.deviceKind,
      ],
    );
  }

  /** Applies one CASES step; false when it was applied before (a redelivery). */
  async applyCaseStep(step: CaseStep): Promise<boolean> {
    return withTransaction(this.pool, (db) => this.#applyStep(db, step));
  }

  /** Steps (in order) and alerts in one transaction, for a bulk load. */
  async applyMany(alerts: readonly AlertRecord[], steps: readonly CaseStep[]): Promise<void> {
    await withTransaction(this.pool, async (db) => {
      for (const a of alerts) await this.#insertAlert(db, a);
      for (const step of steps) await this.#applyStep(db, step);
    });
  }

  async #applyStep(db: Queryable, step: CaseStep): Promise<boolean> {
    const t = this.#t;
    const fresh = await db.query(
      `insert into ${t.rp_case_steps} (step_id, case_id, kind, at) values ($1, $2, $3, $4)
       on conflict do nothing`,
      [step.stepId, step.caseId, step.kind, step.at],
    );
    if (fresh.rowCount === 0) return false;
    const entries = Object.entries(step.update).filter(([, v]) => v !== undefined);
    const columns = entries.map(([k]) => CASE_COLUMNS[k as keyof typeof CASE_COLUMNS]);
    // The first value of each column wins: a case accepted twice (after a hold) answered once.
    const sets = columns.map((c) => `${c} = coalesce(${t.rp_cases}.${c}, excluded.${c})`);
    await db.query(
      `insert into ${t.rp_cases} (case_id${columns.map((c) => `, ${c}`).join('')})
       values ($1${columns.map((_, i) => `, $${i + 2}`).join('')})
       on conflict (case_id) do ${sets.length ? `update set ${sets.join(', ')}` : 'nothing'}`,
      [step.caseId, ...entries.map(([, v]) => v)],
    );
    if (step.fact) {
      const f = step.fact;
      await db.query(
        `insert into ${t.rp_case_facts} (step_id, case_id, fact, at, on_floor_minutes, source)
         values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
        [
          step.stepId,
          step.caseId,
          f.fact,
          new Date(f.at),
          f.fact === 'found-on-floor' ? f.onFloorMinutes : null,
          f.fact === 'found-on-floor' ? f.source : null,
        ],
      );
    }
    return true;
  }

  /**
   * One read of a report, under `readTimeoutMs`: a read PostgreSQL cancels at that limit rejects
   * with a `ReadTimeoutError` (a report too large for the limit, not a server down).
   */
  async #read(text: string, values: unknown[]): Promise<QueryResult> {
    try {
      return await withTransaction(this.readPool, async (db) => {
        this.#readsHeld++;
        try {
          await db.query(`set local statement_timeout = ${Math.floor(this.readTimeoutMs)}`);
          // Room to group and sort a five-year period's groups in memory rather than on disk.
          await db.query(`set local work_mem = '64MB'`);
          return await db.query(text, values);
        } finally {
          this.#readsHeld--;
        }
      });
    } catch (err) {
      if ((err as { code?: unknown }).code === '57014') throw new ReadTimeoutError(this.readTimeoutMs, err);
      // No connection came in time while every one was held by a read: busy, not down (a server
      // down or frozen leaves connections unmade, not held).
      const connections = this.readPool.options.max ?? 10;
      if (err instanceof Error && CHECKOUT_TIMEOUT.test(err.message) && this.#readsHeld >= connections)
        throw new ReadsBusyError(connections, err);
      throw err;
    }
  }

  /** The rows a report counts, and how many cases could not be placed in a district. */
  async rows(scope: Scope): Promise<Rows & { unplaced: number }> {
    const [cases, alerts, activity, faults, unplaced] = await inTurns(
      [
        () => this.#cases(scope),
        () => this.#alerts(scope),
        () => this.#activity(scope),
        () => this.#faults(scope),
        () => this.#unplaced(scope),
      ],
      READS_PER_REPORT,
    );
    return { cases, alerts, activity, faults, unplaced };
  }

  /**
   * A join giving `p.district`: where the resident (`resident`) lived at `at`, as their devices
   * reported it: the district of their last device day on or before that day, else of their first
   * one after it, else their latest. A resident who moved in the period has each call counted
   * where it was raised, not where they live now.
   */
  #districtAt(resident: string, at: string): string {
    const t = this.#t;
    const day = `(${at} at time zone 'UTC')::date`;
    const pick = (when: string, order: string) =>
      `(select d.district from ${t.rp_device_days} d
         where d.resident_id = ${resident} and d.district is not null and ${when}
         order by d.day ${order}, d.district limit 1)`;
    return `left join ${t.rp_residents} r on r.resident_id = ${resident}
      left join lateral (select coalesce(${pick(`d.day <= ${day}`, 'desc')}, ${pick(`d.day > ${day}`, 'asc')},
        r.district) as district) p on true`;
  }

  /** Cases that count: opened from a real alert (not a test, a cancel or a restore), raised in the period. */
  #caseFrom(join = ''): string {
    const t = this.#t;
    return `from ${t.rp_cases} c
      left join ${t.rp_alerts} a on a.alert_id = c.alert_id
      ${this.#districtAt('a.resident_id', 'coalesce(a.raised_at, c.opened_at)')}
      ${join}
      where not c.test_mode and not c.record_only and c.opened_at is not null
        and coalesce(a.raised_at, c.opened_at) >= $1 and coalesce(a.raised_at, c.opened_at) < $2`;
  }

  async #cases(scope: Scope): Promise<CaseRow[]> {
    const t = this.#t;
    const { rows } = await this.#read(
      `select c.case_id, a.resident_id, p.district, c.priority, c.type, coalesce(a.raised_at, c.opened_at) as raised_at,
         c.accepted_at, c.responder_called_at, c.resolved_at, c.closed_at, c.outcome,
         coalesce((select json_agg(json_build_object('fact', f.fact, 'at', f.at, 'onFloorMinutes', f.on_floor_minutes))
                   from ${t.rp_case_facts} f where f.case_id = c.case_id), '[]'::json) as facts
       ${this.#caseFrom()} and ($3::text[] is null or p.district = any($3))`,
      [scope.from, scope.to, scope.districts],
    );
    return rows.map((row) => ({
      caseId: row.case_id,
      residentId: row.resident_id,
      district: row.district,
      priority: row.priority,
      type: row.type,
      raisedAt: row.raised_at,
      acceptedAt: row.accepted_at,
      responderCalledAt: row.responder_called_at,
      resolvedAt: row.resolved_at,
      closedAt: row.closed_at,
      outcome: row.outcome,
      facts: (row.facts as { fact: string; at: string; onFloorMinutes: number | null }[]).map(
        (f): FactRow => ({ fact: f.fact, at: new Date(f.at), onFloorMinutes: f.onFloorMinutes }),
      ),
    }));
  }

  /**
   * A summary's counts, counted by PostgreSQL: what it returns are groups (month, district,
   * outcome and the buckets of each target) with their counts, and the one or two middle values of
   * each median, not the period's rows. The same figures as `countsOf` over `rows(scope)`.
   */
  async counts(
    scope: Scope,
    months: readonly string[],
    now: Date,
  ): Promise<SummaryCounts & { unplaced: number }> {
    const [cases, alerts, residents, devices, faults, unplaced] = await inTurns(
      [
        () => this.#caseCounts(scope, now),
        () => this.#alertCounts(scope),
        () => this.#residentCounts(scope),
        () => this.#deviceCounts(scope),
        () => this.#faultCounts(scope),
        () => this.#unplaced(scope),
      ],
      READS_PER_REPORT,
    );
    return { ...assembleCounts(months, cases, alerts, { residents, devices }, faults), unplaced };
  }

  async #caseCounts(scope: Scope, now: Date): Promise<CaseCounts> {
    const t = this.#t;
    const raised = 'coalesce(a.raised_at, c.opened_at)';
    // Ms between two times (exact: the streams' times carry milliseconds).
    const ms = (to: string, from: string) => `(extract(epoch from (${to} - ${from})) * 1000)::float8`;
    // The one or two middle values of `v` over the calls `where`, and how many there are.
    const middle = (v: string, where: string) =>
      `(select json_build_object('count', coalesce(max(n), 0),
          'middle', coalesce(json_agg(v order by v) filter (where rn in ((n + 1) / 2, n / 2 + 1)), '[]'))
        from (select ${v} as v, row_number() over (order by ${v}) as rn, count(*) over () as n
              from c where ${where}) m)`;
    const { rows } = await this.#read(
      `with c as materialized (
         select to_char(${raised} at time zone 'UTC', 'YYYY-MM') as month, p.district, c.outcome,
           coalesce(c.priority = any($4::int[]), false) as alarm,
           c.accepted_at is not null as answered,
           ${ms('c.accepted_at', raised)} as answer_ms,
           ${ms('coalesce(c.resolved_at, c.closed_at, $5)', raised)} as wait_ms,
           case when f.arrived is not null -- greatest() ignores a null
             then greatest(0, ${ms('f.arrived', `coalesce(c.responder_called_at, ${raised})`)}) end as attend_ms,
           (c.outcome = 'ambulance' or coalesce(f.ambulance, false)) as ambulance,
           (c.outcome = 'admitted-to-hospital' or coalesce(f.admitted, false)) as admitted,
           (coalesce(f.on_floor, false) or (c.type = 'fall.detected' and c.outcome is distinct from 'false-alarm')) as fall,
           f.on_floor_minutes
         ${this.#caseFrom(`left join lateral (
           select min(f.at) filter (where f.fact = 'responder-arrived') as arrived,
             bool_or(f.fact in ('ambulance-requested', 'ambulance-attended', 'ambulance-conveyed')) as ambulance,
             bool_or(f.fact = 'admitted') as admitted,
             bool_or(f.fact = 'found-on-floor') as on_floor,
             (array_agg(f.on_floor_minutes order by f.at, f.step_id) filter (where f.fact = 'found-on-floor'))[1]
               as on_floor_minutes
           from ${t.rp_case_facts} f where f.case_id = c.case_id) f on true`)}
           and ($3::text[] is null or p.district = any($3))
       )
       select json_build_object(
         'groups', (select coalesce(json_agg(g), '[]') from (
           select month, district, outcome,
             case when not alarm then null
                  when answered then case when answer_ms <= 60000 then 'a60' when answer_ms <= 180000 then 'a180' else 'alate' end
                  else case when wait_ms > 180000 then 'ulate' when wait_ms > 60000 then 'umid' else 'uearly' end
             end as answer,
             case when attend_ms is null then null when attend_ms <= 2700000 then 'w45'
                  when attend_ms <= 3600000 then 'w60' else 'late' end as attend,
             ambulance, admitted, fall,
             case when not fall or on_floor_minutes is null then null
                  when on_floor_minutes > ${LONG_LIE_MINUTES} then 'long' else 'short' end as lie,
             count(*)::int as n
           from c group by 1, 2, 3, 4, 5, 6, 7, 8, 9) g),
         'answerMs', ${middle('answer_ms', 'alarm and answered')},
         'attendMs', ${middle('attend_ms', 'attend_ms is not null')},
         'onFloorMinutes', ${middle('on_floor_minutes', 'fall and on_floor_minutes is not null')},
         'attendP90Ms', (select coalesce(json_agg(json_build_object('district', district, 'v', v)), '[]') from (
           select district, attend_ms as v,
             row_number() over (partition by district order by attend_ms) as rn,
             count(*) over (partition by district) as n
           from c where attend_ms is not null) m where rn = ceil(0.9::float8 * n))
       ) as counts`,
      [scope.from, scope.to, scope.districts, ALARM_PRIORITIES, now],
    );
    return rows[0].counts as CaseCounts;
  }

  async #alertCounts(scope: Scope): Promise<AlertGroup[]> {
    const t = this.#t;
    const { rows } = await this.#read(
      `select to_char(a.raised_at at time zone 'UTC', 'YYYY-MM') as month, p.district, a.type, a.priority, a.late,
         a.device_kind as "deviceKind", count(*)::int as n
       from ${t.rp_alerts} a ${this.#districtAt('a.resident_id', 'a.raised_at')}
       where not a.test_mode and a.raised_at >= $1 and a.raised_at < $2
         and (not a.record_only or exists (${this.#opensCall('a.alert_id')}))
         and ($3::text[] is null or p.district = any($3))
       group by 1, 2, 3, 4, 5, 6`,
      [scope.from, scope.to, scope.districts],
    );
    return rows as AlertGroup[];
  }

  /** Device days in the period and districts (`$1`, `$2`, `$3`). */
  get #activityWithin(): string {
    return `day >= ($1::timestamptz at time zone 'UTC')::date
         and (day::timestamp at time zone 'UTC') < $2
         and ($3::text[] is null or district = any($3))`;
  }

  /**
   * Distinct residents in the period, each month and each district, from the distinct (month,
   * district, resident) heard: hashed, not sorted by resident id in the text collation.
   */
  async #residentCounts(scope: Scope): Promise<ActivityCounts['residents']> {
    const { rows } = await this.#read(
      `with d as materialized (
         select distinct date_trunc('month', day)::date as month, district, resident_id
         from ${this.#t.rp_device_days} where ${this.#activityWithin})
       select 'all' as by, null::text as month, null::text as district, count(*)::int as n
         from (select distinct resident_id from d) x
       union all
       select 'month', to_char(month, 'YYYY-MM'), null, count(*)::int
         from (select distinct month, resident_id from d) x group by month
       union all
       select 'district', null, district, count(*)::int
         from (select distinct district, resident_id from d) x group by district`,
      [scope.from, scope.to, scope.districts],
    );
    return rows as ActivityCounts['residents'];
  }

  /** Devices by kind, a device's kind as last heard in the period. */
  async #deviceCounts(scope: Scope): Promise<ActivityCounts['devices']> {
    const { rows } = await this.#read(
      `select device_kind as kind, count(*)::int as n from (
         select distinct on (serial collate "C") serial, device_kind from ${this.#t.rp_device_days}
         where ${this.#activityWithin}
         order by serial collate "C", day desc) d
       group by device_kind`,
      [scope.from, scope.to, scope.districts],
    );
    return rows as ActivityCounts['devices'];
  }

  async #faultCounts(scope: Scope): Promise<{ type: string; n: number }[]> {
    const { rows } = await this.#read(
      `select type, count(*)::int as n from ${this.#t.rp_device_faults}
       where at >= $1 and at < $2 and ($3::text[] is null or district = any($3))
       group by type`,
      [scope.from, scope.to, scope.districts],
    );
    return rows as { type: string; n: number }[];
  }

  async #unplaced(scope: Scope): Promise<number> {
    if (!scope.districts) return 0;
    const { rows } = await this.#read(
      `select count(*)::int as n ${this.#caseFrom()} and p.district is null`,
      [scope.from, scope.to],
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * Whether this alert opened a case of its own that counts. A repeat press is record-only while
   * the call it repeats is open (it joins it), but the helpline opens a new case for it once that
   * call was resolved: then it is a new call, and counts as one.
   */
  #opensCall(alertId: string): string {
    return `select 1 from ${this.#t.rp_cases} oc where oc.alert_id = ${alertId}
      and not oc.test_mode and not oc.record_only and oc.opened_at is not null`;
  }

  async #alerts(scope: Scope): Promise<AlertRow[]> {
    const t = this.#t;
    const { rows } = await this.#read(
      `select a.type, a.priority, p.district, a.raised_at, a.late, a.device_kind
       from ${t.rp_alerts} a ${this.#districtAt('a.resident_id', 'a.raised_at')}
       where not a.test_mode and a.raised_at >= $1 and a.raised_at < $2
         and (not a.record_only or exists (${this.#opensCall('a.alert_id')}))
         and ($3::text[] is null or p.district = any($3))`,
      [scope.from, scope.to, scope.districts],
    );
    return rows.map((row) => ({
      type: row.type,
      priority: row.priority,
      district: row.district,
      raisedAt: row.raised_at,
      late: row.late,
      deviceKind: row.device_kind,
    }));
  }

  /**
   * Who was active: one row per device, resident, district and calendar month (UTC), with the first
   * day it was heard that month. Every figure counts activity by month at the finest (distinct
   * residents and devices, per month and per district), so a day-by-day read would only cost: five
   * years of 10,000 devices are 600,000 rows this way, 18 million a day at a time.
   */
  async #activity(scope: Scope): Promise<ActivityRow[]> {
    const { rows } = await this.#read(
      `select serial, resident_id, device_kind, district, min(day)::text as day from ${this.#t.rp_device_days}
       where day >= ($1::timestamptz at time zone 'UTC')::date
         and (day::timestamp at time zone 'UTC') < $2
         and ($3::text[] is null or district = any($3))
       group by serial, resident_id, device_kind, district, date_trunc('month', day)
       order by serial, day`,
      [scope.from, scope.to, scope.districts],
    );
    return rows.map((row) => ({
      serial: row.serial,
      residentId: row.resident_id,
      deviceKind: row.device_kind,
      district: row.district,
      day: row.day,
    }));
  }

  async #faults(scope: Scope): Promise<FaultRow[]> {
    const { rows } = await this.#read(
      `select type, district, at from ${this.#t.rp_device_faults}
       where at >= $1 and at < $2 and ($3::text[] is null or district = any($3))`,
      [scope.from, scope.to, scope.districts],
    );
    return rows.map((row) => ({ type: row.type, district: row.district, at: row.at }));
  }

  /** Which of these resident ids the service has seen. */
  async knownResidents(ids: readonly string[]): Promise<Set<string>> {
    const { rows } = await this.pool.query<{ resident_id: string }>(
      `select resident_id from ${this.#t.rp_residents} where resident_id = any($1)`,
      [ids],
    );
    return new Set(rows.map((r) => r.resident_id));
  }

  /** The stays already imported for these residents (null: everyone's), a report's read. */
  async staysOf(ids: readonly string[] | null): Promise<StayDays[]> {
    return this.#staysRows(await this.#read(this.#staysQuery, [ids]));
  }

  get #staysQuery(): string {
    return `select resident_id, admitted_on::text as admitted, discharged_on::text as discharged
      from ${this.#t.rp_hospital_stays} where $1::text[] is null or resident_id = any($1)`;
  }

  #staysRows({ rows }: QueryResult): StayDays[] {
    return rows.map((r) => ({ residentId: r.resident_id, admitted: r.admitted, discharged: r.discharged }));
  }

  /**
   * One import of hospital stays at a time (within this process, then under a transaction-scoped
   * advisory lock across instances): `decide` is given the stays already imported for `ids` and
   * says which to `add` (and what to answer), and those are added before the next import reads. A file sent twice at
   * once is checked the second time against what the first added, so its stays are not doubled.
   */
  async importStays<T>(
    ids: readonly string[],
    decide: (existing: StayDays[]) => { add: readonly StayDays[]; result: T },
    importId: string,
    now: Date,
  ): Promise<T> {
    const mine = this.#importTurn.then(() =>
      withTransaction(this.pool, async (db) => {
        await db.query('select pg_advisory_xact_lock(hashtext($1))', [`${this.schema}:hospital-stays`]);
        const { add, result } = decide(this.#staysRows(await db.query(this.#staysQuery, [ids])));
        await this.insertStays(add, importId, now, db);
        return result;
      }),
    );
    this.#importTurn = mine.catch(() => undefined);
    return mine;
  }

  async insertStays(
    stays: readonly StayDays[],
    importId: string,
    now: Date,
    db: Queryable = this.pool,
  ): Promise<void> {
    if (stays.length === 0) return;
    await db.query(
      `insert into ${this.#t.rp_hospital_stays} (resident_id, admitted_on, discharged_on, import_id, imported_at)
       select r, a, d, $4, $5 from unnest($1::text[], $2::date[], $3::date[]) as t(r, a, d)`,
      [
        stays.map((s) => s.residentId),
        stays.map((s) => s.admitted),
        stays.map((s) => s.discharged),
        importId,
        now,
      ],
    );
  }

  /** Residents (of these districts) with when telecare started: their first device event seen. */
  async cohort(districts: readonly string[] | null): Promise<CohortResident[]> {
    const { rows } = await this.#read(
      `select resident_id, first_seen_at, district from ${this.#t.rp_residents}
       where $1::text[] is null or district = any($1)`,
      [districts],
    );
    return rows.map((r) => ({
      residentId: r.resident_id,
      startedAt: r.first_seen_at,
      ...(r.district ? { district: r.district } : {}),
    }));
  }

  /** Records the options of simulated activity written, so a rebuild can write it again. */
  async recordSeed(id: string, options: unknown, now: Date): Promise<void> {
    await this.pool.query(
      `insert into ${this.#t.rp_seeds} (id, options, seeded_at) values ($1, $2, $3)
       on conflict (id) do update set options = excluded.options, seeded_at = excluded.seeded_at`,
      [id, JSON.stringify(options), now],
    );
  }

  /** The options of every simulated activity written, oldest first. */
  async seeds(): Promise<unknown[]> {
    const { rows } = await this.pool.query<{ options: unknown }>(
      `select options from ${this.#t.rp_seeds} order by seeded_at, id`,
    );
    return rows.map((r) => r.options);
  }

  /** Empties the read model (not the tokens), for a replay from the start of the streams. */
  async truncateReadModel(): Promise<void> {
    await this.pool.query(`truncate ${READ_MODEL_TABLES.map((t) => this.#t[t]).join(', ')}`);
  }
}

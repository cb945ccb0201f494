import { PRESS_TYPES } from '@telecare/contracts';
import { createPgClient, type Logger, migrate, sleep, type TlsCa } from '@telecare/platform';
import type pg from 'pg';

/**
 * What migrations 013–016, 022, 023 and 025 leave to the service (see their comments and the README's upgrade
 * notes): the alerts stored before them counted, their indexes built without stopping the intake, and
 * the tally columns made NOT NULL, so that the schema ends as those migrations once left it.
 */

/** Cases counted in one transaction: an alert's store waits for one batch at most. */
const BATCH_CASES = 50;
/** Rows below which a table's index is built under its lock (a moment) rather than CONCURRENTLY. */
const SMALL_TABLE = 10_000;
/** How long a schema change waits for a table before it lets go and tries again. */
const LOCK_TIMEOUT = '100ms';

/** Null until the case or alert is counted, then NOT NULL. */
const COUNTED: Record<string, readonly string[]> = {
  cases: ['alert_count', 'raisers'],
  case_alerts: ['position', 'priority'],
};

/**
 * The indexes of migrations 013, 014 and 015, as those migrations once built them in their
 * transaction, and of migrations 016, 022, 023 and 025, which leave their indexes to the service from the start.
 */
const INDEXES: Record<string, string> = {
  case_alerts_position:
    'create unique index concurrently case_alerts_position on case_alerts (case_id, position)',
  case_alerts_urgent:
    'create index concurrently case_alerts_urgent on case_alerts (case_id, priority, position desc)',
  case_alerts_press:
    'create index concurrently case_alerts_press on case_alerts (case_id, press_key) where press_key is not null',
  case_events_joins:
    "create index concurrently case_events_joins on case_events (case_id, seq) where kind = 'alert-joined'",
  case_events_steps:
    "create index concurrently case_events_steps on case_events (case_id, seq) where kind <> 'alert-joined'",
  case_events_notes:
    "create index concurrently case_events_notes on case_events (case_id, seq) where kind = 'note'",
  case_alerts_closing:
    'create index concurrently case_alerts_closing on case_alerts (case_id, closes_id, position) where closes_id is not null',
  case_alerts_repeating:
    'create index concurrently case_alerts_repeating on case_alerts (case_id, repeats_id) where repeats_id is not null',
  cases_newest: 'create index concurrently cases_newest on cases (raised_at, id) where not test_mode',
  case_alerts_device_faults:
    "create index concurrently case_alerts_device_faults on case_alerts ((alert ->> 'deviceSerial'), (alert ->> 'type'), received_at) where alert ? 'deviceSerial' and closes_id is null and repeats_id is null",
  security_events_service_received:
    'create index concurrently security_events_service_received on security_events (service, received_at)',
  security_events_received:
    'create index concurrently security_events_received on security_events (received_at)',
};

// Each alert's place, priority and press, as migration 013's trigger sets them (places in the order
// the case read its alerts before it: received, then id), and each case's tally from them. A case
// migration 013 did not count was not counted by 015 either (015 came with it or after it): what
// each alert closes and repeats is set in the same write, its standing afresh (the trigger ran on
// these cases' rows with nothing counted yet).
const COUNT_ALERTS = `
  with p as (
    select alert_id, (row_number() over (partition by case_id order by received_at, alert_id) - 1)::integer as position
      from case_alerts where case_id = any($1))
  update case_alerts a set
      position = p.position,
      priority = (a.alert ->> 'priority')::smallint,
      press_key = case when not (a.alert ? 'closes') and a.alert ->> 'type' = any($2)
        then coalesce(a.alert -> 'evidence' ->> 0, a.alert_id) end,
      closes_id = a.alert -> 'closes' ->> 'alertId',
      repeats_id = a.alert -> 'repeats' ->> 'alertId',
      closed_as = null,
      closed_directly = false
    from p
   where a.alert_id = p.alert_id and a.case_id = any($1)`;

const COUNT_CASES = `
  update cases c set
      alert_count = coalesce(t.alert_count, 0),
      presses = coalesce(t.presses, 0),
      last_press_at = t.last_press_at,
      last_press_position = t.last_press_position,
      device_serials = coalesce(t.device_serials, '{}')
    from unnest($1::text[]) ids (id)
    left join (
      select case_id,
             count(*)::integer as alert_count,
             count(distinct press_key)::integer as presses,
             max((alert ->> 'raisedAt')::timestamptz) filter (where press_key is not null) as last_press_at,
             max(position) filter (where press_key is not null) as last_press_position,
             (select array_agg(s.serial order by s.first)
                from (select a2.alert ->> 'deviceSerial' as serial, min(a2.position) as first
                        from case_alerts a2
                       where a2.case_id = a.case_id and a2.alert ? 'deviceSerial'
                       group by 1) s) as device_serials
        from case_alerts a where case_id = any($1) group by case_id) t on t.case_id = ids.id
   where c.id = ids.id`;

// What each alert closes and repeats and how each raiser stands, as migration 015's trigger keeps
// them, all set afresh (the trigger ran on these cases' rows with nothing counted yet).
const MARK_CLOSES = `
  update case_alerts set
      closes_id = alert -> 'closes' ->> 'alertId',
      repeats_id = alert -> 'repeats' ->> 'alertId',
      closed_as = null,
      closed_directly = false
   where case_id = any($1)`;

// A raiser stands as the latest closing alert (by place) that names it, else as the latest that
// names the press it repeats: the latest closing alert for each alert named, then joined by hash.
const MARK_RAISERS = `
  with latest as (
    select distinct on (case_id, closes_id) case_id, closes_id, alert -> 'closes' ->> 'outcome' as how
      from case_alerts where case_id = any($1) and closes_id is not null
     order by case_id, closes_id, position desc)
  update case_alerts a set closed_directly = d.how is not null, closed_as = coalesce(d.how, p.how)
    from case_alerts s
    left join latest d on d.case_id = s.case_id and d.closes_id = s.alert_id
    left join latest p on p.case_id = s.case_id and p.closes_id = s.repeats_id
   where a.alert_id = s.alert_id and s.case_id = any($1) and s.closes_id is null
     and coalesce(d.how, p.how) is not null`;

const COUNT_RAISERS = `
  update cases c set raisers = coalesce(t.raisers, '{}')
    from unnest($1::text[]) ids (id)
    left join (
      select case_id, jsonb_object_agg(type, counts) as raisers
        from (select case_id, alert ->> 'type' as type,
                     jsonb_build_object(
                       'open', count(*) filter (where closed_as is null),
                       'false-alarm', count(*) filter (where closed_as = 'false-alarm'),
                       'restored', count(*) filter (where closed_as = 'restored')) as counts
                from case_alerts where case_id = any($1) and closes_id is null group by 1, 2) g
       group by case_id) t on t.case_id = ids.id
   where c.id = ids.id`;

/**
 * Brings the helpline's schema up to date: its migrations, then what they leave to the service.
 * Runs before the service serves (what it reads is counted by then) while instances of the previous
 * version may go on storing alerts: nothing here holds a table for longer than a batch of cases.
 */
export async function upgradeSchema(options: {
  url: string;
  schema: string;
  dir: string;
  logger: Logger;
  batchCases?: number;
  /** The CA the database's certificate is verified against (TELECARE_TLS_CA). */
  tls?: TlsCa | undefined;
}): Promise<void> {
  const log = options.logger.child({ component: 'schema-upgrade' });
  await migrate({
    url: options.url,
    schema: options.schema,
    dir: options.dir,
    logger: options.logger,
    tls: options.tls,
  });
  // It writes (counts, indexes, constraints): the writable host of DATABASE_URL's, as `migrate` takes.
  const db = createPgClient({
    url: options.url,
    name: 'helpline-upgrade',
    logger: options.logger,
    readWrite: true,
    tls: options.tls,
  });
  // A connection lost mid-way fails the statement in hand; the event must not end the process.
  db.on('error', (err) => log.warn({ err: err.message }, 'schema upgrade connection lost'));
  await db.connect();
  try {
    await db.query(`set search_path to "${options.schema}"`);
    // One instance at a time. Tried, not waited for: a statement waiting for it would hold a
    // snapshot that the running instance's CREATE INDEX CONCURRENTLY waits for in turn.
    while (!(await tryLock(db, `${options.schema}:schema-upgrade`))) await sleep(100 + Math.random() * 100);
    const nullable = await nullableColumns(db);
    const counted = nullable.length ? await countAll(db, options.batchCases ?? BATCH_CASES, log) : 0;
    const built = await buildIndexes(db, options.schema);
    for (const [table, columns] of nullable) await requireNotNull(db, table, columns);
    if (counted || built.length || nullable.length) {
      log.info({ schema: options.schema, counted, built }, 'alerts stored before the upgrade counted');
    }
  } finally {
    // Ending the session lets the lock go.
    await db.end().catch(() => undefined);
  }
}

async function tryLock(db: pg.Client, key: string): Promise<boolean> {
  const { rows } = await db.query<{ locked: boolean }>(
    'select pg_try_advisory_lock(hashtextextended($1, 0)) as locked',
    [key],
  );
  return rows[0]?.locked === true;
}

/** The tally columns not yet NOT NULL, by table (none where migrations 013 and 015 counted). */
async function nullableColumns(db: pg.Client): Promise<[string, string[]][]> {
  const found: [string, string[]][] = [];
  for (const [table, columns] of Object.entries(COUNTED)) {
    const { rows } = await db.query<{ attname: string }>(
      `select attname from pg_attribute
        where attrelid = $1::regclass and attname = any($2) and not attnotnull and not attisdropped`,
      [table, columns],
    );
    if (rows.length) found.push([table, rows.map((r) => r.attname)]);
  }
  return found;
}

/**
 * Counts every case not yet counted, a batch at a time, each batch in its own transaction: its
 * cases' rows locked first, then their alerts, as the intake locks them. A case another
 * transaction holds is passed over (never waited for: that transaction may hold two cases) and
 * taken on the next pass.
 */
async function countAll(db: pg.Client, batch: number, log: Logger): Promise<number> {
  let counted = 0;
  let reported = Date.now();
  for (;;) {
    let after = '';
    for (;;) {
      const last = await countBatch(db, after, batch);
      if (last === undefined) break;
      counted += last.count;
      after = last.id;
      if (Date.now() - reported > 5_000) {
        log.info({ counted }, 'counting the alerts stored before the upgrade');
        reported = Date.now();
      }
    }
    const { rows } = await db.query<{ left: boolean }>(
      'select exists (select 1 from cases where alert_count is null or raisers is null) as left',
    );
    if (!rows[0]?.left) return counted;
    await sleep(50);
  }
}

async function countBatch(
  db: pg.Client,
  after: string,
  batch: number,
): Promise<{ id: string; count: number } | undefined> {
  await db.query('begin');
  try {
    const { rows } = await db.query<{ id: string; alerts: boolean; raisers: boolean }>(
      `select id, alert_count is null as alerts, raisers is null as raisers from cases
        where (alert_count is null or raisers is null) and id > $1
        order by id limit $2 for update skip locked`,
      [after, batch],
    );
    const alerts = rows.filter((r) => r.alerts).map((r) => r.id);
    const raisersOnly = rows.filter((r) => r.raisers && !r.alerts).map((r) => r.id);
    const raisers = rows.filter((r) => r.raisers).map((r) => r.id);
    if (alerts.length) await db.query(COUNT_ALERTS, [alerts, PRESS_TYPES]);
    if (raisersOnly.length) await db.query(MARK_CLOSES, [raisersOnly]);
    if (raisers.length) await db.query(MARK_RAISERS, [raisers]);
    if (alerts.length) await db.query(COUNT_CASES, [alerts]);
    if (raisers.length) await db.query(COUNT_RAISERS, [raisers]);
    await db.query('commit');
    const last = rows.at(-1);
    return last && { id: last.id, count: rows.length };
  } catch (err) {
    await db.query('rollback').catch(() => undefined);
    throw err;
  }
}

/**
 * Builds the indexes not there yet (or left invalid by a build cut short), without stopping writes:
 * CONCURRENTLY on a large table. A small one (a new schema) is indexed in a moment under the
 * table's lock instead, as CONCURRENTLY waits for every transaction in the database to end.
 */
async function buildIndexes(db: pg.Client, schema: string): Promise<string[]> {
  const built: string[] = [];
  const large = new Map<string, boolean>();
  for (const [name, create] of Object.entries(INDEXES)) {
    const { rows } = await db.query<{ valid: boolean }>(
      `select i.indisvalid as valid from pg_index i
         join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and c.relname = $2`,
      [schema, name],
    );
    if (rows[0]?.valid) continue;
    if (rows[0]) await db.query(`drop index concurrently "${schema}".${name}`);
    await buildIndex(db, schema, name, create, large);
    built.push(name);
  }
  return built;
}

/**
 * One index. A concurrent build waits for every transaction that began before it, and one of them
 * may wait for the build's own lock on the table (a database-wide ANALYZE): PostgreSQL then ends
 * the build as a deadlock, leaving the index invalid; it is dropped and built again.
 */
async function buildIndex(
  db: pg.Client,
  schema: string,
  name: string,
  create: string,
  large: Map<string, boolean>,
): Promise<void> {
  const table = create.match(/ on (\w+) /)?.[1] ?? '';
  if (!large.has(table)) {
    const { rows: sized } = await db.query<{ large: boolean }>(
      `select count(*) >= ${SMALL_TABLE} as large from (select 1 from ${table} limit ${SMALL_TABLE}) r`,
    );
    large.set(table, sized[0]?.large === true);
  }
  if (!large.get(table)) return briefly(db, [create.replace(' concurrently', '')]);
  for (let attempt = 1; ; attempt++) {
    try {
      await db.query(create);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== '40P01' || attempt === 5) throw err;
      await db.query(`drop index concurrently if exists "${schema}".${name}`);
      await sleep(1_000);
    }
  }
}

/**
 * Makes counted columns NOT NULL without reading the table under an exclusive lock: a CHECK added
 * NOT VALID, validated (while writes go on), then the NOT NULL it proves and the CHECK dropped.
 */
async function requireNotNull(db: pg.Client, table: string, columns: readonly string[]): Promise<void> {
  const check = `${table}_counted`;
  const { rows } = await db.query(
    'select 1 from pg_constraint where conrelid = $1::regclass and conname = $2',
    [table, check],
  );
  if (!rows.length) {
    const condition = columns.map((c) => `${c} is not null`).join(' and ');
    await briefly(db, [`alter table ${table} add constraint ${check} check (${condition}) not valid`]);
  }
  await db.query(`alter table ${table} validate constraint ${check}`);
  await briefly(db, [
    `alter table ${table} ${columns.map((c) => `alter column ${c} set not null`).join(', ')}`,
    `alter table ${table} drop constraint ${check}`,
  ]);
}

/** Statements that take a table exclusively for a moment: a try that waits longer lets go and tries again. */
async function briefly(db: pg.Client, statements: readonly string[]): Promise<void> {
  for (;;) {
    try {
      await db.query('begin');
      await db.query(`set local lock_timeout = '${LOCK_TIMEOUT}'`);
      for (const sql of statements) await db.query(sql);
      await db.query('commit');
      return;
    } catch (err) {
      await db.query('rollback').catch(() => undefined);
      const code = (err as { code?: string }).code;
      if (code !== '55P03' && code !== '40P01') throw err;
      await sleep(50 + Math.random() * 100);
    }
  }
}

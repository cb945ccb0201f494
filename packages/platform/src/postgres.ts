import { createHash } from 'node:crypto';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { type PostgresRefusal, postgresRefusal } from './errors.ts';
import { isDependencyDown } from './http-errors.ts';
import type { Logger } from './logger.ts';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** How long a write refused stays the pool's answer to `/readyz` without another refusal. */
export const REFUSAL_FRESH_MS = 30_000;

/**
 * What PostgreSQL refuses a pool's transactions (read-only, disk full: `postgresRefusal`), said
 * once when it begins or changes, not per statement, and once when it is over: for a refusal of
 * every write, a transaction that wrote; for one of a connection or statement, any that committed.
 */
class Refusals {
  #current: (PostgresRefusal & { at: number }) | undefined;
  constructor(private readonly log: Logger) {}

  refused(refusal: PostgresRefusal): void {
    if (this.#current?.code !== refusal.code) this.log.warn({ code: refusal.code }, refusal.reason);
    this.#current = { ...refusal, at: Date.now() };
  }

  /** Whether a commit must say whether it wrote to end the refusal (a read-only one would not). */
  get writesRefused(): boolean {
    return this.#current?.allWrites === true;
  }

  committed(wrote: boolean): void {
    const current = this.#current;
    if (!current || (current.allWrites && !wrote)) return;
    this.log.info(
      { was: current.code },
      current.allWrites ? 'PostgreSQL takes writes again' : 'PostgreSQL answers again',
    );
    this.#current = undefined;
  }

  /** A refusal of every write (disk full) met within `REFUSAL_FRESH_MS`, if any. */
  get recent(): PostgresRefusal | undefined {
    const current = this.#current;
    return current?.allWrites && Date.now() - current.at < REFUSAL_FRESH_MS ? current : undefined;
  }
}

const refusalsOf = new WeakMap<pg.Pool, Refusals>();
const READ_ONLY = '25006';

/**
 * Why the pool's writes are refused now, in words, or undefined: the server is read-only (asked:
 * a standby, `default_transaction_read_only`), or a transaction of the pool was refused lately
 * (disk full). Throws when PostgreSQL does not answer.
 */
export async function writesRefused(pool: pg.Pool): Promise<string | undefined> {
  const { rows } = await pool.query<{ transaction_read_only: string }>('show transaction_read_only');
  if (rows[0]?.transaction_read_only === 'on') return postgresRefusal({ code: READ_ONLY })?.reason;
  // A read-only refusal met lately is over: the server (or the one the name now reaches) writes.
  const recent = refusalsOf.get(pool)?.recent;
  return recent?.code === READ_ONLY ? undefined : recent?.reason;
}

/** A pool whose idle-client errors are logged instead of crashing the process. */
export function createPool(options: { url: string; logger: Logger; name: string; max?: number }): pg.Pool {
  const log = options.logger.child({ component: 'postgres' });
  const pool = new pg.Pool({
    connectionString: options.url,
    application_name: options.name,
    max: options.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: 15_000,
    // The server stops a statement at 15 s. One it has not answered 5 s after that is on a server
    // frozen or cut off without a reset, whose replies are lost, which no server-side timeout sees:
    // the query fails ('Query read timeout', a dependency down: 503), and the client is dropped.
    query_timeout: 20_000,
  });
  refusalsOf.set(pool, new Refusals(log));
  pool.on('error', (err) => log.warn({ err: err.message }, 'idle postgres client error'));
  // pg only listens for errors of idle clients. A client checked out (in a transaction, between
  // two statements) when the server restarts emits 'error' with no listener, which would end the
  // process; its next query fails instead, and the caller's retry path handles that.
  pool.on('connect', (client) => {
    client.on('error', (err) =>
      log.warn({ err: err.message }, 'postgres connection lost under a checked-out client'),
    );
  });
  return pool;
}

/**
 * Runs a service's SQL migrations (node-pg-migrate, `-- Up Migration` files) into its own schema.
 * Safe to call from several instances at once. What a migration raises as a WARNING (what it left
 * as it was, and why) is logged as a warning with the schema; its notices at debug.
 */
export async function migrate(options: {
  url: string;
  schema: string;
  dir: string;
  logger: Logger;
  timeoutMs?: number;
}): Promise<void> {
  const log = options.logger.child({ component: 'migrate' });
  // node-pg-migrate holds an advisory lock while it migrates and refuses at once while another
  // holds it, so instances of one service that start together wait their turn. The lock is the
  // schema's own: a long migration of one service's tables holds up no other service's start.
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: options.url, application_name: 'migrate' });
    client.on('notice', (notice) => {
      // node-pg-migrate releases its lock even when its try to take it was refused (another
      // service migrating): PostgreSQL's warning of that release says nothing of a migration.
      const lockNotHeld = notice.routine === 'LockRelease';
      if (notice.severity === 'WARNING' && !lockNotHeld) log.warn({ schema: options.schema }, notice.message);
      else log.debug({ schema: options.schema, severity: notice.severity }, notice.message);
    });
    // A connection lost mid-migration fails the statement in hand; the event must not end the process.
    client.on('error', (err) => log.warn({ err: err.message }, 'migration connection lost'));
    try {
      await client.connect();
      const applied = await runner({
        dbClient: client,
        dir: options.dir,
        direction: 'up',
        schema: options.schema,
        createSchema: true,
        migrationsTable: 'pgmigrations',
        lockValue: migrationLockOf(options.schema),
        checkOrder: true,
        singleTransaction: true,
        log: (message: string) => log.debug(message),
      });
      log.info({ schema: options.schema, applied: applied.map((m) => m.name) }, 'migrations up to date');
      return;
    } catch (err) {
      const busy = err instanceof Error && /another migration is already running/i.test(err.message);
      if (!busy || Date.now() > deadline) throw err;
      log.debug({ attempt }, 'another migration holds the lock; waiting');
      await new Promise((resolve) => setTimeout(resolve, Math.min(50 * attempt, 500) + Math.random() * 50));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/**
 * The advisory lock a schema's migrations hold (node-pg-migrate's `lockValue`): FNV-1a of the
 * schema's name, so each service's schema has its own.
 */
export function migrationLockOf(schema: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(`telecare-migrate:${schema}`, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

const preparedNames = new Map<string, string>();
const PREPARED_NAMES_KEPT = 1_000;
// `select *`, `select c.*`, `, c.*`, `returning *`: a column added later would change the result.
const STAR_RESULT = /(?:select|returning|,)\s*(?:\w+\.)?\*/i;

/**
 * A query PostgreSQL parses and plans once per connection and then runs from its plan: for a
 * statement run again and again (a timer's scans, every few hundred milliseconds, each with its
 * sub-queries), planning costs many times what running it on a small table does. Named by a hash
 * of its text, so one text is one prepared statement on each connection of the pool; PostgreSQL
 * plans it again by itself when a table it reads changes. Its result must name its columns: a
 * prepared `select *` fails ("cached plan must not change result type") on every run after a
 * migration adds a column, until the connection closes, so such a text is refused here.
 */
export function prepared(text: string, values: readonly unknown[]): pg.QueryConfig {
  let name = preparedNames.get(text);
  if (name === undefined) {
    if (STAR_RESULT.test(text)) throw new Error('a prepared statement names its result columns (no `*`)');
    if (preparedNames.size >= PREPARED_NAMES_KEPT) preparedNames.clear();
    name = `p_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;
    preparedNames.set(text, name);
  }
  return { name, text, values: [...values] };
}

/** Runs `fn` in a transaction; commits on success, rolls back on any error. */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const refusals = refusalsOf.get(pool);
  const client = await pool.connect().catch((err: unknown) => {
    const refusal = postgresRefusal(err);
    if (refusal) refusals?.refused(refusal);
    throw err;
  });
  let result: T;
  let wrote = false;
  try {
    await client.query('BEGIN');
    result = await fn(client);
    // While writes were refused, whether this one wrote (was given a transaction id) says they
    // are taken again; a read-only transaction commits on a standby too.
    if (refusals?.writesRefused) {
      const { rows } = await client.query<{ xid: string | null }>('select txid_current_if_assigned() as xid');
      wrote = rows[0]?.xid != null;
    }
    await client.query('COMMIT');
  } catch (err) {
    const refusal = postgresRefusal(err);
    if (refusal) refusals?.refused(refusal);
    // A client whose connection is gone (or whose server stopped answering) is destroyed without a
    // ROLLBACK, which would wait behind the unanswered statement: the server ends the transaction
    // with the connection. A client whose rollback fails has lost its connection too. So is one
    // refused (read-only, say): its pool's next connection may reach the new primary a name now
    // points at, where this one stays on the standby.
    if (isDependencyDown(err)) {
      client.release(err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
    const broken = await client.query('ROLLBACK').then(
      () => undefined,
      (rollbackErr: unknown) => (rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr))),
    );
    client.release(broken);
    throw err;
  }
  client.release();
  refusals?.committed(wrote);
  return result;
}

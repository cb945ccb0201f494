import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { isDependencyDown } from './http-errors.ts';
import type { Logger } from './logger.ts';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

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

/** Runs `fn` in a transaction; commits on success, rolls back on any error. */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let result: T;
  try {
    await client.query('BEGIN');
    result = await fn(client);
    await client.query('COMMIT');
  } catch (err) {
    // A client whose connection is gone (or whose server stopped answering) is destroyed without a
    // ROLLBACK, which would wait behind the unanswered statement: the server ends the transaction
    // with the connection. A client whose rollback fails has lost its connection too.
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
  return result;
}

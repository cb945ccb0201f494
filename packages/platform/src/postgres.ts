import { createHash } from 'node:crypto';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { type PostgresRefusal, postgresRefusal } from './errors.ts';
import { isDependencyDown } from './http-errors.ts';
import type { Logger } from './logger.ts';
import { type PostgresHost, type PostgresTarget, parsePostgresUrl } from './postgres-url.ts';
import { plaintextHosts, type TlsCa, warnPlaintext } from './tls.ts';

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
 * a standby, `default_transaction_read_only`; or, for `target_session_attrs=read-write`, no host
 * is writable), or a transaction of the pool was refused lately (disk full). Throws when
 * PostgreSQL does not answer.
 */
export async function writesRefused(pool: pg.Pool): Promise<string | undefined> {
  const readOnly = await pool.query<{ transaction_read_only: string }>('show transaction_read_only').then(
    ({ rows }) => rows[0]?.transaction_read_only === 'on',
    (err: unknown) => {
      if (err instanceof PostgresHostsError && err.code === READ_ONLY) return true;
      throw err;
    },
  );
  if (readOnly) return postgresRefusal({ code: READ_ONLY })?.reason;
  // A read-only refusal met lately is over: the server (or the one the name now reaches) writes.
  const recent = refusalsOf.get(pool)?.recent;
  return recent?.code === READ_ONLY ? undefined : recent?.reason;
}

/** How long one host has to take a connection before the next one in the URL is tried. */
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * No host of a multi-host DATABASE_URL took the connection: each one's reason. When one answered
 * read-only and a writable one was asked for, it is PostgreSQL's read-only refusal (`code` 25006,
 * `postgresRefusal`): the database answers, and refuses writes until a primary does.
 */
export class PostgresHostsError extends Error {
  override readonly name = 'PostgresHostsError';
  readonly code: string | undefined;

  constructor(failures: ReadonlyArray<{ host: PostgresHost; reason: string; err?: unknown }>) {
    const readOnly = failures.some((failure) => failure.err === undefined);
    super(
      `${readOnly ? 'no PostgreSQL host takes writes' : 'no PostgreSQL host took the connection'}: ${failures
        .map((failure) => `${failure.host.label} ${failure.reason}`)
        .join('; ')}`,
      // The first host's own error: whether it is down (`isDependencyDown`) or refusing.
      { cause: failures.find((failure) => failure.err !== undefined)?.err },
    );
    this.code = readOnly ? READ_ONLY : undefined;
  }
}

/**
 * The hosts one pool (or one client) connects to, and the one that last took a connection: a
 * new connection goes there first, then to every other in the URL's order. So a pool pays the
 * search once after a failover, not per connection, and stays on the primary it found when the
 * old one comes back still writable (two primaries) until its own goes.
 */
class Hosts {
  #current: PostgresHost;

  constructor(
    readonly target: PostgresTarget,
    readonly readWrite: boolean,
    private readonly log: Logger,
  ) {
    this.#current = target.hosts[0] as PostgresHost;
  }

  order(): PostgresHost[] {
    return [this.#current, ...this.target.hosts.filter((host) => host !== this.#current)];
  }

  took(host: PostgresHost): void {
    if (host === this.#current) return;
    this.log.info(
      { host: host.label, was: this.#current.label },
      this.readWrite ? 'PostgreSQL writes go to another host' : 'PostgreSQL connections go to another host',
    );
    this.#current = host;
  }
}

/** A connection's end, or a moment: a stream destroyed ends at once, and a next host must not wait on it. */
const endedOrLate = (ended: Promise<void>): Promise<void> =>
  Promise.race([ended, new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref())]);

const EMITTER_STATE = new Set(['_events', '_eventsCount', '_maxListeners']);

/**
 * A `pg.Client` that connects to the first of its hosts that takes it (`Hosts`), passing over, for
 * `read-write`, one that is read-only: the check costs nothing on PostgreSQL 14 and later, which
 * reports `in_hot_standby` and `default_transaction_read_only` when the session starts, and one
 * `show transaction_read_only` before. pg's Pool calls `connect(callback)` once per client and
 * keeps the object: a host that fails is followed by the next on this same client, given a fresh
 * client's state for it (its listeners kept).
 */
function hostsClient(hosts: Hosts): typeof pg.Client {
  return class HostsClient extends pg.Client {
    readonly #config: pg.ClientConfig;

    constructor(config: pg.ClientConfig = {}) {
      const { connectionString: _, ...rest } = config;
      const own = { ...rest, connectionTimeoutMillis: CONNECT_TIMEOUT_MS };
      super({ ...own, connectionString: (hosts.order()[0] as PostgresHost).url });
      this.#config = own;
    }

    override connect(): Promise<pg.Client>;
    override connect(callback: ((err: Error) => void) | ((err: null, c: pg.Client) => void)): void;
    override connect(
      callback?: ((err: Error) => void) | ((err: null, c: pg.Client) => void),
    ): Promise<pg.Client> | undefined {
      const connected = this.#connectToHosts().then(() => this);
      if (!callback) return connected;
      const done = callback as (err: Error | null, c?: pg.Client) => void;
      connected.then(
        (client) => done(null, client),
        (err: unknown) => done(err instanceof Error ? err : new Error(String(err))),
      );
      return undefined;
    }

    async #connectToHosts(): Promise<void> {
      const order = hosts.order();
      const failures: Array<{ host: PostgresHost; reason: string; err?: unknown }> = [];
      for (const host of order) {
        this.#restartFor(host);
        const reported = new Map<string, string>();
        const connection = this.connection;
        connection.on('parameterStatus', (msg: { parameterName: string; parameterValue: string }) =>
          reported.set(msg.parameterName, msg.parameterValue),
        );
        const ended = new Promise<void>((resolve) => connection.once('end', () => resolve()));
        let readOnly: boolean;
        try {
          await new Promise<void>((resolve, reject) =>
            super.connect((err: Error | null) => (err ? reject(err) : resolve())),
          );
          readOnly = hosts.readWrite && (await this.#readOnly(reported));
        } catch (err) {
          // The only host: its error as node-postgres gave it, as before there were several.
          if (order.length === 1) throw err;
          failures.push({ host, reason: err instanceof Error ? err.message : String(err), err });
          connection.stream.destroy();
          await endedOrLate(ended);
          continue;
        }
        if (!readOnly) {
          hosts.took(host);
          return;
        }
        failures.push({ host, reason: 'is read-only (a standby?)' });
        await super.end();
        await endedOrLate(ended);
      }
      throw new PostgresHostsError(failures);
    }

    async #readOnly(reported: ReadonlyMap<string, string>): Promise<boolean> {
      const standby = reported.get('in_hot_standby');
      const readOnly = reported.get('default_transaction_read_only');
      if (standby !== undefined && readOnly !== undefined) return standby === 'on' || readOnly === 'on';
      const { rows } = await super.query<{ transaction_read_only: string }>('show transaction_read_only');
      return rows[0]?.transaction_read_only === 'on';
    }

    /**
     * Gives this client a fresh client's state for `host`: node-postgres connects a client once, so
     * the state an attempt left (its connection, flags, queues) is replaced as a whole by a new
     * client's, whatever it holds. The listeners set on this one stay; the last attempt's
     * connection has ended, its 'end' passed. Done before the first attempt too: the host the
     * constructor chose may have changed since. This leans on how pg 8 keeps a client's state in
     * own properties: at a pg upgrade, `test/postgres-failover.int.test.ts` says whether it holds.
     */
    #restartFor(host: PostgresHost): void {
      const fresh = new pg.Client({ ...this.#config, connectionString: host.url });
      for (const key of Object.getOwnPropertyNames(fresh)) {
        if (EMITTER_STATE.has(key)) continue;
        Object.defineProperty(this, key, Object.getOwnPropertyDescriptor(fresh, key) as PropertyDescriptor);
      }
    }
  };
}

/**
 * A `pg.Client` (not connected) that follows DATABASE_URL's hosts as `createPool`'s connections do.
 * `readWrite` asks for a writable host whatever the URL says: a migration, say, writes.
 */
export function createPgClient(options: {
  url: string;
  name: string;
  logger: Logger;
  readWrite?: boolean;
  tls?: TlsCa | undefined;
}): pg.Client {
  const target = parsePostgresUrl(options.url, { caFile: options.tls?.file });
  // One host is taken as node-postgres takes it: there is no other to look for.
  if (target.hosts.length === 1)
    return new pg.Client({
      connectionString: (target.hosts[0] as PostgresHost).url,
      application_name: options.name,
    });
  const readWrite = options.readWrite === true || target.targetSessionAttrs === 'read-write';
  const Client = hostsClient(new Hosts(target, readWrite, options.logger.child({ component: 'postgres' })));
  return new Client({ application_name: options.name });
}

/**
 * A pool whose idle-client errors are logged instead of crashing the process. Its connections go
 * to DATABASE_URL's hosts (one, or several as libpq takes them: `Hosts`). With
 * `sslmode=verify-full` every host is reached over TLS only, its certificate verified against the
 * URL's `sslrootcert`, else `tls` (TELECARE_TLS_CA), else the public CAs, and its name checked.
 */
export function createPool(options: {
  url: string;
  logger: Logger;
  name: string;
  max?: number;
  tls?: TlsCa | undefined;
}): pg.Pool {
  const log = options.logger.child({ component: 'postgres' });
  const target = parsePostgresUrl(options.url, { caFile: options.tls?.file });
  warnPlaintext(
    log,
    'DATABASE_URL',
    plaintextHosts(
      target.hosts.map(({ url }) => url),
      (url) => url.searchParams.get('sslmode') === 'verify-full',
    ),
    'sslmode=verify-full, verified against TELECARE_TLS_CA',
  );
  const readWrite = target.targetSessionAttrs === 'read-write';
  // One host with nothing to check is taken as node-postgres takes it; `hostsClient` otherwise.
  const plain = target.hosts.length === 1 && !readWrite;
  const pool = new pg.Pool({
    ...(plain
      ? { connectionString: (target.hosts[0] as PostgresHost).url }
      : { Client: hostsClient(new Hosts(target, readWrite, log)) }),
    application_name: options.name,
    max: options.max ?? 10,
    // Each host has its own `CONNECT_TIMEOUT_MS` (the client's), as libpq's connect_timeout is.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS * target.hosts.length,
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
  tls?: TlsCa | undefined;
}): Promise<void> {
  const log = options.logger.child({ component: 'migrate' });
  // node-pg-migrate holds an advisory lock while it migrates and refuses at once while another
  // holds it, so instances of one service that start together wait their turn. The lock is the
  // schema's own: a long migration of one service's tables holds up no other service's start.
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (let attempt = 1; ; attempt++) {
    // A migration writes: it goes to the writable host whatever the URL asks of the pool's.
    const client = createPgClient({
      url: options.url,
      name: 'migrate',
      logger: options.logger,
      readWrite: true,
      tls: options.tls,
    });
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

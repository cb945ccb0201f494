import { fileURLToPath } from 'node:url';
import { OwnPostgres, waitFor } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLogger,
  createPool,
  defineService,
  isDependencyDown,
  migrate,
  type Pool,
  postgresRefusal,
  type ServiceConfig,
  withTransaction,
  writesRefused,
} from '../src/index.ts';

/**
 * A primary and its streaming standby, both of the test's own, named together in one multi-host
 * DATABASE_URL (libpq's form): connections find the primary whichever host is listed first, and
 * follow a failover (the primary gone, the standby promoted) with no change to the URL.
 */
let primary: OwnPostgres;
let standby: OwnPostgres;
const pools: Pool[] = [];
const logger = createLogger('postgres-failover-test', 'silent');
const migrations = fileURLToPath(new URL('./migrations', import.meta.url));

const urlOf = (first: OwnPostgres, second: OwnPostgres, query = '?target_session_attrs=read-write') =>
  `postgresql://postgres@127.0.0.1:${first.port},127.0.0.1:${second.port}/test${query}`;

const pool = (url: string): Pool => {
  const made = createPool({ url, logger, name: 'failover-test', max: 4 });
  pools.push(made);
  return made;
};

/** The port of the server a statement of `db` ran on. */
const portOf = async (db: Pick<pg.Pool, 'query'>): Promise<number> =>
  (await db.query<{ port: number }>('select inet_server_port() as port')).rows[0]?.port ?? 0;

async function onServer<T>(server: OwnPostgres, fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const db = new pg.Client({ connectionString: server.url });
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

/** A service of PostgreSQL alone, whose pool the failover test writes through. */
const frame = defineService({
  name: 'failover-test',
  config: (): ServiceConfig & { readonly DATABASE_URL: string } => {
    throw new Error('given by the test');
  },
  http: () => ({ port: 0, host: '127.0.0.1' }),
  start: async (service) => ({ pool: service.postgres({ url: service.config.DATABASE_URL, max: 4 }) }),
});

const readyz = async (url: string) => {
  const res = await fetch(`${url}/readyz`);
  const body = (await res.json()) as { checks: Record<string, boolean>; reasons?: Record<string, string> };
  return { ...body, http: res.status };
};

beforeAll(async () => {
  primary = await OwnPostgres.start();
  standby = await OwnPostgres.standbyOf(primary);
  await onServer(primary, (db) => db.query('create table written (id int primary key)'));
}, 120_000);

afterAll(async () => {
  await Promise.all(pools.map((made) => made.end().catch(() => undefined)));
  standby?.destroy();
  primary?.destroy();
});

describe('a multi-host DATABASE_URL', () => {
  it('sends writes to the primary when the standby is listed first', async () => {
    const writes = pool(urlOf(standby, primary));
    // Four at once: every new connection of the pool, not only the first, passes the standby over.
    await Promise.all(
      [1, 2, 3, 4].map((id) =>
        withTransaction(writes, async (client) => {
          await client.query('insert into written (id) values ($1)', [id]);
          expect(await portOf(client)).toBe(primary.port);
        }),
      ),
    );
    expect(writes.totalCount).toBe(4);
    expect(await writesRefused(writes)).toBeUndefined();
    const { rows } = await onServer(primary, (db) => db.query('select count(*)::int as n from written'));
    expect(rows[0]?.n).toBe(4);
  }, 30_000);

  it('migrates the primary with the standby listed first', async () => {
    // Without target_session_attrs the pool would take the standby; a migration writes, so it does not.
    await migrate({ url: urlOf(standby, primary, ''), schema: 'failover_migrated', dir: migrations, logger });
    const { rows } = await onServer(primary, (db) =>
      db.query('select count(*)::int as n from failover_migrated.pgmigrations'),
    );
    expect(rows[0]?.n).toBe(1);
  }, 30_000);

  it('writes to the promoted standby after the primary is lost, the URL unchanged', async () => {
    const service = await frame.start(
      {
        LOG_LEVEL: 'silent',
        TELECARE_NAMESPACE: 'failover',
        NATS_URL: 'nats://127.0.0.1:4222',
        TELECARE_STREAM_REPLICAS: 1,
        DATABASE_URL: urlOf(primary, standby),
      },
      { logger },
    );
    try {
      const writes = service.pool;
      await withTransaction(writes, (client) => client.query('insert into written (id) values (10)'));
      expect(await portOf(writes)).toBe(primary.port);
      expect(await readyz(service.url)).toMatchObject({ http: 200, checks: { 'postgres-writes': true } });
      // Replication is asynchronous: what the standby has not received when the primary goes is lost.
      await waitFor(
        () =>
          onServer(
            standby,
            async (db) => (await db.query('select 1 from written where id = 10')).rowCount === 1,
          ),
        { what: 'the standby to replay the last write', timeoutMs: 15_000 },
      );

      await primary.crash();
      // Only a standby answers: writes are refused as PostgreSQL's read-only refusal (a 503), and
      // readiness says PostgreSQL answers but takes no writes, and why. (A client the pool had idle
      // on the old primary may be handed out once before its loss is seen, and fail as lost.)
      const refused = await waitFor(
        () =>
          withTransaction(writes, (client) => client.query('insert into written (id) values (11)')).then(
            () => undefined,
            (err: unknown) => (postgresRefusal(err)?.code === '25006' ? err : undefined),
          ),
        { what: 'writes refused as read-only', timeoutMs: 15_000 },
      );
      expect(isDependencyDown(refused)).toBe(true);
      expect(await writesRefused(writes)).toMatch(/read-only/);
      const notReady = await readyz(service.url);
      expect(notReady).toMatchObject({ http: 503, checks: { postgres: true, 'postgres-writes': false } });
      expect(notReady.reasons?.['postgres-writes']).toMatch(/read-only/);

      await standby.promote();
      const promotedAt = Date.now();
      await waitFor(
        () =>
          withTransaction(writes, (client) => client.query('insert into written (id) values (11)')).then(
            () => true,
            () => false,
          ),
        { what: 'a write through the pool after the promotion', timeoutMs: 15_000, intervalMs: 100 },
      );
      expect(Date.now() - promotedAt).toBeLessThan(10_000);
      expect(await portOf(writes)).toBe(standby.port);
      expect(await writesRefused(writes)).toBeUndefined();
      expect(await readyz(service.url)).toMatchObject({ http: 200, checks: { postgres: true } });
      const { rows } = await onServer(standby, (db) =>
        db.query('select id from written where id >= 10 order by id'),
      );
      expect(rows.map((row) => row.id)).toEqual([10, 11]);
    } finally {
      await service.close();
    }
  }, 60_000);
  it('keeps to the host it found when the old primary comes back, and leaves one turned read-only', async () => {
    // After the last test: the promoted standby is the primary, the old primary down.
    const writes = pool(urlOf(primary, standby));
    await withTransaction(writes, (client) => client.query('insert into written (id) values (20)'));
    expect(await portOf(writes)).toBe(standby.port);

    // The old primary back as it was, writable (two primaries): new connections stay where the
    // pool's writes went, not to the first host listed.
    primary.start();
    await Promise.all(
      [21, 22, 23, 24].map((id) =>
        withTransaction(writes, async (client) => {
          await client.query('insert into written (id) values ($1)', [id]);
          expect(await portOf(client)).toBe(standby.port);
        }),
      ),
    );

    // Now the one the pool writes to refuses writes: the refused client is dropped, and the next
    // connection passes that host over for the writable one.
    await standby.alterSystem('default_transaction_read_only', 'on');
    await waitFor(
      () =>
        withTransaction(writes, (client) => client.query('insert into written (id) values (25)')).then(
          () => true,
          () => false,
        ),
      { what: 'a write through the pool on the writable host', timeoutMs: 15_000, intervalMs: 100 },
    );
    expect(await portOf(writes)).toBe(primary.port);
    const { rows } = await onServer(primary, (db) => db.query('select 1 from written where id = 25'));
    expect(rows).toHaveLength(1);
  }, 60_000);
});

import { OwnPostgres } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createPool, type Pool, withTransaction } from '../src/index.ts';

/**
 * A PostgreSQL crash-restart must cost the queries in flight, never the process: a `pg` client
 * checked out of the pool (in a transaction, between two statements) emits `'error'` when its
 * connection is cut, and an `'error'` event without a listener ends a Node process.
 */
let server: OwnPostgres;
let pool: Pool;
const logger = createLogger('postgres-restart-test', 'silent');

beforeAll(async () => {
  server = await OwnPostgres.start();
  pool = createPool({ url: server.url, logger, name: 'restart-test', max: 4 });
}, 120_000);

afterAll(async () => {
  await pool?.end().catch(() => undefined);
  server?.destroy();
});

describe('createPool across a PostgreSQL crash-restart', () => {
  it('survives a cut under a checked-out client and serves again once the server is back', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      await pool.query('select 1');
      let crashed!: () => void;
      const crashedNow = new Promise<void>((resolve) => {
        crashed = resolve;
      });
      // A transaction holds its client while the server goes down between two statements.
      const inFlight = withTransaction(pool, async (client) => {
        await client.query('select 1');
        await server.crash();
        // Give the cut connection time to report itself before the next statement.
        await new Promise((resolve) => setTimeout(resolve, 200));
        crashed();
        await client.query('select 2');
      });
      await crashedNow;
      await expect(inFlight).rejects.toThrow();
      expect(uncaught).toEqual([]);

      server.start();
      const row = await pool.query<{ n: number }>('select 42 as n');
      expect(row.rows[0]?.n).toBe(42);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  }, 120_000);
});

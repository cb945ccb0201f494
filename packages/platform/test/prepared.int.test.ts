import { cleanupNamespace, servers, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createPool, prepared } from '../src/index.ts';

// A timer's scan runs every few hundred milliseconds: as a prepared statement PostgreSQL plans it
// once per connection, not on every run. These run against the real server.
const ns = uniqueNamespace('prepared');
const schema = `${ns}_prep`;
const pool = createPool({
  url: servers.databaseUrl,
  logger: createLogger('prepared-test', 'silent'),
  name: 'prepared-test',
  max: 2,
});

beforeAll(async () => {
  await pool.query(`create schema "${schema}"`);
  await pool.query(`create table "${schema}".cases (id text primary key, state text not null)`);
  await pool.query(`insert into "${schema}".cases values ('c1', 'queued'), ('c2', 'offered')`);
});

afterAll(async () => {
  await pool.end();
  await cleanupNamespace(ns);
});

const plans = async (): Promise<{ name: string; generic: number; custom: number }[]> => {
  // One client, so the statement and the view of it are on the same connection.
  const client = await pool.connect();
  try {
    const scan = `select c.id, c.state from "${schema}".cases c where c.state = $1 order by c.id`;
    for (let i = 0; i < 8; i++) {
      const { rows } = await client.query(prepared(scan, ['queued']));
      expect(rows).toEqual([{ id: 'c1', state: 'queued' }]);
    }
    const { rows } = await client.query<{ name: string; generic: number; custom: number }>(
      `select name, generic_plans::int as generic, custom_plans::int as custom
         from pg_prepared_statements where statement = $1`,
      [scan],
    );
    return rows;
  } finally {
    client.release();
  }
};

describe('prepared', () => {
  it('is one statement per text on a connection, planned once and then run from its plan', async () => {
    const [statement] = await plans();
    expect(statement?.name).toMatch(/^p_[\w-]{24}$/);
    // PostgreSQL plans the first five runs for their values, then keeps a generic plan.
    expect(statement?.generic).toBeGreaterThan(0);
    expect(statement?.custom).toBeLessThanOrEqual(5);
    expect(prepared('select 1 as x', []).name).toBe(prepared('select 1 as x', []).name);
    expect(prepared('select 1 as x', []).name).not.toBe(prepared('select 2 as x', []).name);
  });

  it('keeps answering after a column is added to a table it reads (its columns are named)', async () => {
    const client = await pool.connect();
    try {
      const scan = `select c.id, c.state from "${schema}".cases c where c.id = $1`;
      for (let i = 0; i < 6; i++) await client.query(prepared(scan, ['c2']));
      await pool.query(`alter table "${schema}".cases add column note text`);
      const { rows } = await client.query(prepared(scan, ['c2']));
      expect(rows).toEqual([{ id: 'c2', state: 'offered' }]);
    } finally {
      client.release();
    }
  });

  it('refuses a text whose result is `*`, which a migration adding a column would break', () => {
    for (const text of [
      'select * from t',
      'select c.* from t c',
      'select c.id, c.* from t c',
      'update t set a = 1 returning *',
    ])
      expect(() => prepared(text, [])).toThrow(/names its result columns/);
    expect(() => prepared('select count(*) as n from t', [])).not.toThrow();
  });
});

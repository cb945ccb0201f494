import { randomBytes } from 'node:crypto';
import { servers } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, createPool, hashToken, type Pool, TokenStore } from '../src/index.ts';

/** The one token store, on the table shape every service's `api_tokens` has, in real PostgreSQL. */
const schema = `tokens_${randomBytes(4).toString('hex')}`;
let pool: Pool;
let tokens: TokenStore;
let n = 0;

beforeAll(async () => {
  pool = createPool({
    url: servers.databaseUrl,
    logger: createLogger('tokens-test', 'silent'),
    name: 'tokens-test',
  });
  await pool.query(`create schema "${schema}"`);
  await pool.query(`create table "${schema}".api_tokens (
    id text primary key, token_hash text not null unique, subject text, role text, label text not null,
    created_at timestamptz not null, expires_at timestamptz, revoked_at timestamptz)`);
  tokens = new TokenStore(pool, schema, { secretPrefix: 'tst_', newId: () => `tid_${++n}` });
});

afterAll(async () => {
  await pool.query(`drop schema "${schema}" cascade`);
  await pool.end();
});

describe('TokenStore', () => {
  const now = new Date('2026-03-01T10:00:00Z');

  it('keeps only the hash of a secret shown once, and finds the live token by its secret', async () => {
    const issued = await tokens.issue({ role: 'installer', label: 'north team' }, now);
    expect(issued.token).toMatch(/^tst_[A-Za-z0-9_-]{32}$/);
    const { rows } = await pool.query(`select * from "${schema}".api_tokens where id = $1`, [issued.id]);
    expect(rows[0].token_hash).toBe(hashToken(issued.token));
    expect(JSON.stringify(rows[0])).not.toContain(issued.token);
    expect(await tokens.find(issued.token, now)).toEqual({
      id: issued.id,
      role: 'installer',
      subject: null,
      label: 'north team',
      createdAt: now.toISOString(),
      expiresAt: null,
    });
  });

  it('refuses a wrong secret, another prefix, a revoked token and an expired one', async () => {
    const issued = await tokens.issue(
      { subject: 'usr_1', label: 'laptop', expiresAt: new Date(now.getTime() + 60_000) },
      now,
    );
    expect(await tokens.find(`${issued.token}x`, now)).toBeUndefined();
    expect(await tokens.find(issued.token.replace('tst_', 'oth_'), now)).toBeUndefined();
    expect((await tokens.find(issued.token, now))?.subject).toBe('usr_1');
    expect(await tokens.find(issued.token, new Date(now.getTime() + 60_000))).toBeUndefined();
    const other = await tokens.issue({ role: 'analyst', label: 'trust' }, now);
    expect(await tokens.revoke(other.id, now)).toBe(true);
    expect(await tokens.revoke(other.id, now)).toBe(false);
    expect(await tokens.find(other.token, now)).toBeUndefined();
  });
});

import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';

/**
 * Bearer tokens are long random strings, so a fast hash is enough (nothing to brute-force) and a
 * request is authenticated by one indexed lookup. Only this hash is ever stored.
 */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

/** A new bearer secret: `prefix` (which says whose it is) and 192 random bits. */
export const newSecret = (prefix: string): string => `${prefix}${randomBytes(24).toString('base64url')}`;

/** A token as its store knows it: never the secret, which is shown once when issued. */
export interface TokenRecord {
  readonly id: string;
  /** What the token may do, for a program's token; null for a person's (it acts as the person). */
  readonly role: string | null;
  /** The person it acts as (a user id), for a person's token; null for a program's. */
  readonly subject: string | null;
  /** Who or what it was issued for (a name, a recipient, a label). */
  readonly label: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
}

export interface TokenFormat {
  /** The secret's prefix: `tct_` (registry), `tok_` (a person at the helpline), `rpt_` (reports). */
  readonly secretPrefix: string;
  /** A new token id (what an admin revokes by). */
  readonly newId: (now: Date) => string;
}

interface TokenRow {
  id: string;
  role: string | null;
  subject: string | null;
  label: string;
  created_at: Date;
  expires_at: Date | null;
}

const record = (row: TokenRow): TokenRecord => ({
  id: row.id,
  role: row.role,
  subject: row.subject,
  label: row.label,
  createdAt: row.created_at.toISOString(),
  expiresAt: row.expires_at?.toISOString() ?? null,
});

/**
 * The one identity store for tokens, used by every service that issues them, each on the same
 * table shape in its own schema: `api_tokens (id, token_hash, subject, role, label, created_at,
 * expires_at, revoked_at)`. People sign in (the helpline) and may hold personal tokens that act as
 * them (`subject`); programs hold tokens with a role and no person (`role`). A token works until it
 * is revoked or expires; what else makes a person's token stop (the person disabled) is checked
 * by the service that knows people.
 */
export class TokenStore {
  readonly #table: string;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
    private readonly format: TokenFormat,
  ) {
    this.#table = `"${schema}".api_tokens`;
  }

  /**
   * Issues a token: its secret is in the answer and nowhere else. `db`: a transaction of the
   * caller's to issue it in (committed with the caller's other work), else the pool.
   */
  async issue(
    input: { label: string; role?: string | null; subject?: string | null; expiresAt?: Date | null },
    now: Date,
    db: Pick<pg.Pool, 'query'> = this.pool,
  ): Promise<TokenRecord & { token: string }> {
    const token = newSecret(this.format.secretPrefix);
    const { rows } = await db.query<TokenRow>(
      `insert into ${this.#table} (id, token_hash, subject, role, label, created_at, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7)
       returning id, role, subject, label, created_at, expires_at`,
      [
        this.format.newId(now),
        hashToken(token),
        input.subject ?? null,
        input.role ?? null,
        input.label,
        now,
        input.expiresAt ?? null,
      ],
    );
    return { ...record(rows[0]!), token };
  }

  /** The live token (not revoked, not expired at `now`) with this secret, if any. */
  async find(token: string, now: Date): Promise<TokenRecord | undefined> {
    if (!token.startsWith(this.format.secretPrefix)) return undefined;
    return this.findByHash(hashToken(token), now);
  }

  /**
   * The live token whose secret hashes to `hash` (`hashToken`), if any: for what was granted on a
   * token and stays good only as long as it does (the helpline's stream tickets).
   */
  async findByHash(hash: string, now: Date): Promise<TokenRecord | undefined> {
    const { rows } = await this.pool.query<TokenRow>(
      `select id, role, subject, label, created_at, expires_at from ${this.#table}
       where token_hash = $1 and revoked_at is null and (expires_at is null or expires_at > $2)`,
      [hash, now],
    );
    return rows[0] ? record(rows[0]) : undefined;
  }

  /** Revokes a token by its id at once; false when there is no such live token. */
  async revoke(id: string, now: Date): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update ${this.#table} set revoked_at = $2 where id = $1 and revoked_at is null`,
      [id, now],
    );
    return rowCount === 1;
  }
}

import { createHash, randomBytes } from 'node:crypto';
import type { ReportRole } from '@telecare/contracts';
import { bearerToken, type FastifyRequest, sameSecret } from '@telecare/platform';
import type { ReportsStore } from './store.ts';

export { REPORT_ROLES, type ReportRole } from '@telecare/contracts';
export type Role = ReportRole | 'admin';

export interface Principal {
  readonly role: Role;
  /** Who the figures are for: a token's recipient, `admin` for the admin token. */
  readonly recipient: string;
  readonly tokenId: string | null;
}

const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Report tokens: made by an admin, shown once, kept only as their SHA-256. */
export class TokenStore {
  constructor(private readonly store: ReportsStore) {}

  async create(role: ReportRole, recipient: string, now: Date): Promise<{ id: string; token: string }> {
    const id = `rtk_${randomBytes(8).toString('hex')}`;
    const token = `rpt_${randomBytes(24).toString('base64url')}`;
    await this.store.pool.query(
      `insert into ${this.store.table('rp_tokens')} (id, token_sha256, role, recipient, created_at)
       values ($1, $2, $3, $4, $5)`,
      [id, sha256(token), role, recipient, now],
    );
    return { id, token };
  }

  async revoke(id: string, now: Date): Promise<boolean> {
    const { rowCount } = await this.store.pool.query(
      `update ${this.store.table('rp_tokens')} set revoked_at = $2 where id = $1 and revoked_at is null`,
      [id, now],
    );
    return rowCount === 1;
  }

  async find(token: string): Promise<Principal | undefined> {
    const { rows } = await this.store.pool.query<{ id: string; role: ReportRole; recipient: string }>(
      `select id, role, recipient from ${this.store.table('rp_tokens')}
       where token_sha256 = $1 and revoked_at is null`,
      [sha256(token)],
    );
    const row = rows[0];
    return row ? { role: row.role, recipient: row.recipient, tokenId: row.id } : undefined;
  }
}

/**
 * Who a request is from: the admin token, or a report token this service made; undefined for no
 * token or one it does not know. What each role may call is in the route contracts.
 */
export async function authenticate(
  tokens: TokenStore,
  adminToken: string | undefined,
  req: FastifyRequest,
): Promise<Principal | undefined> {
  const token = bearerToken(req.headers.authorization);
  if (!token) return undefined;
  if (adminToken && sameSecret(token, adminToken))
    return { role: 'admin', recipient: 'admin', tokenId: null };
  return token.startsWith('rpt_') ? tokens.find(token) : undefined;
}

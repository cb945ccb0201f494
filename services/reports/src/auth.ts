import { createHash, randomBytes } from 'node:crypto';
import { bearerToken, type FastifyReply, type FastifyRequest, sameSecret } from '@telecare/platform';
import type { ReportsStore } from './store.ts';

/** Who may read what here (docs/security.md, Reports): aggregates, or the pseudonymised export. */
export const REPORT_ROLES = ['commissioner', 'analyst'] as const;
export type ReportRole = (typeof REPORT_ROLES)[number];
export type Role = ReportRole | 'admin';

export interface Principal {
  readonly role: Role;
  /** Who the figures are for: a token's recipient, `admin` for the admin token. */
  readonly recipient: string;
  readonly tokenId: string | null;
}

export const PERMISSIONS = {
  aggregates: ['commissioner', 'analyst', 'admin'],
  episodes: ['analyst', 'admin'],
  import: ['admin'],
  tokens: ['admin'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof PERMISSIONS;

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
 * A preHandler admitting the roles of `permission`: 401 without a known token, 403 for a role the
 * permission does not include. The principal is kept for the handler (`principalOf`).
 */
export function authorize(tokens: TokenStore, adminToken: string | undefined, permission: Permission) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const token = bearerToken(req.headers.authorization);
    const principal: Principal | undefined = !token
      ? undefined
      : adminToken && sameSecret(token, adminToken)
        ? { role: 'admin', recipient: 'admin', tokenId: null }
        : token.startsWith('rpt_')
          ? await tokens.find(token)
          : undefined;
    if (!principal)
      return reply.code(401).send({ error: 'unauthorized', message: 'send Authorization: Bearer <token>' });
    if (!(PERMISSIONS[permission] as readonly Role[]).includes(principal.role))
      return reply.code(403).send({ error: 'forbidden', message: `role ${principal.role} may not do this` });
    principals.set(req, principal);
  };
}

const principals = new WeakMap<FastifyRequest, Principal>();

export function principalOf(req: FastifyRequest): Principal {
  const principal = principals.get(req);
  if (!principal) throw new Error('route registered without authorize()');
  return principal;
}

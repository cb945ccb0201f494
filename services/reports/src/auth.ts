import { randomBytes } from 'node:crypto';
import {
  bearerToken,
  type FastifyReply,
  type FastifyRequest,
  TokenStore as PlatformTokens,
  sameSecret,
} from '@telecare/platform';
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

/** Report tokens (`TokenStore` of the platform): made by an admin, shown once, kept only hashed. */
export class TokenStore {
  readonly #tokens: PlatformTokens;

  constructor(store: ReportsStore) {
    this.#tokens = new PlatformTokens(store.pool, store.schema, {
      secretPrefix: 'rpt_',
      newId: () => `rtk_${randomBytes(8).toString('hex')}`,
    });
  }

  async create(role: ReportRole, recipient: string, now: Date): Promise<{ id: string; token: string }> {
    const { id, token } = await this.#tokens.issue({ role, label: recipient }, now);
    return { id, token };
  }

  revoke(id: string, now: Date): Promise<boolean> {
    return this.#tokens.revoke(id, now);
  }

  async find(token: string, now: Date): Promise<Principal | undefined> {
    const found = await this.#tokens.find(token, now);
    return found ? { role: found.role as ReportRole, recipient: found.label, tokenId: found.id } : undefined;
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
        : await tokens.find(token, new Date());
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

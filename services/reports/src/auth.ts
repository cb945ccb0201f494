import { randomBytes } from 'node:crypto';
import type { ReportRole } from '@telecare/contracts';
import {
  bearerToken,
  type FastifyRequest,
  TokenStore as PlatformTokens,
  sameSecret,
} from '@telecare/platform';
import type { ReportsStore } from './store.ts';

export { REPORT_ROLES, type ReportRole } from '@telecare/contracts';
export type Role = ReportRole | 'admin';

export interface Principal {
  readonly role: Role;
  /** Who the figures are for: a token's recipient, `admin` for the admin token. */
  readonly recipient: string;
  readonly tokenId: string | null;
}

/** Report tokens (`TokenStore` of the platform): made by an admin, shown once, kept only hashed. */
export class TokenStore {
  readonly #tokens: PlatformTokens;

  constructor(store: ReportsStore) {
    this.#tokens = new PlatformTokens(store.pool, store.schema, {
      secretPrefix: 'rpt_',
      newId: () => `rtk_${randomBytes(8).toString('hex')}`,
    });
  }

  async create(
    role: ReportRole,
    recipient: string,
    expiresInDays: number,
    now: Date,
  ): Promise<{ id: string; token: string; expiresAt: string }> {
    const expiresAt = new Date(now.getTime() + expiresInDays * 86_400_000);
    const { id, token } = await this.#tokens.issue({ role, label: recipient, expiresAt }, now);
    return { id, token, expiresAt: expiresAt.toISOString() };
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
 * Who a request is from: the admin token, or a report token this service made; undefined for no
 * token or one it does not know. What each role may call is in the route contracts.
 */
export async function authenticate(
  tokens: TokenStore,
  adminToken: string | undefined,
  req: FastifyRequest,
  now: Date,
): Promise<Principal | undefined> {
  const token = bearerToken(req.headers.authorization);
  if (!token) return undefined;
  if (adminToken && sameSecret(token, adminToken))
    return { role: 'admin', recipient: 'admin', tokenId: null };
  return tokens.find(token, now);
}

import { randomBytes } from 'node:crypto';
import type { ReportRole } from '@telecare/contracts';
import {
  bearerToken,
  type FastifyRequest,
  ForbiddenError,
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
  /** The postcode districts the token may see; null: every district. */
  readonly districts: readonly string[] | null;
}

/** Report tokens (`TokenStore` of the platform): made by an admin, shown once, kept only hashed. */
export class TokenStore {
  readonly #tokens: PlatformTokens;
  readonly #store: ReportsStore;
  readonly #districts: string;

  constructor(store: ReportsStore) {
    this.#store = store;
    this.#districts = `"${store.schema}".token_districts`;
    this.#tokens = new PlatformTokens(store.pool, store.schema, {
      secretPrefix: 'rpt_',
      newId: () => `rtk_${randomBytes(8).toString('hex')}`,
    });
  }

  async create(
    role: ReportRole,
    recipient: string,
    expiresInDays: number,
    districts: readonly string[] | null,
    now: Date,
  ): Promise<{ id: string; token: string; expiresAt: string }> {
    const expiresAt = new Date(now.getTime() + expiresInDays * 86_400_000);
    const { id, token } = await this.#tokens.issue({ role, label: recipient, expiresAt }, now);
    if (districts) {
      // The secret is in no one's hands until this answer: a token whose districts were not
      // written is revoked, never handed out unbound.
      try {
        await this.#store.pool.query(`insert into ${this.#districts} (token_id, districts) values ($1, $2)`, [
          id,
          districts,
        ]);
      } catch (err) {
        await this.#tokens.revoke(id, now).catch(() => false);
        throw err;
      }
    }
    return { id, token, expiresAt: expiresAt.toISOString() };
  }

  revoke(id: string, now: Date): Promise<boolean> {
    return this.#tokens.revoke(id, now);
  }

  async find(token: string, now: Date): Promise<Principal | undefined> {
    const found = await this.#tokens.find(token, now);
    if (!found) return undefined;
    const { rows } = await this.#store.pool.query<{ districts: string[] }>(
      `select districts from ${this.#districts} where token_id = $1`,
      [found.id],
    );
    return {
      role: found.role as ReportRole,
      recipient: found.label,
      tokenId: found.id,
      districts: rows[0]?.districts ?? null,
    };
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
    return { role: 'admin', recipient: 'admin', tokenId: null, districts: null };
  return tokens.find(token, now);
}

/**
 * The districts a request may cover: what it asked for, within what its token may see. Nothing
 * asked: the token's districts (every district for a token without). A district outside the
 * token's is refused, naming it.
 */
export function districtsFor(
  principal: Principal | undefined,
  asked: readonly string[] | null,
): readonly string[] | null {
  const allowed = principal?.districts ?? null;
  if (!allowed) return asked;
  if (!asked) return allowed;
  const outside = asked.filter((d) => !allowed.includes(d));
  if (outside.length > 0)
    throw new ForbiddenError(
      `this token does not cover ${outside.join(', ')}: it covers ${allowed.join(', ')}`,
    );
  return asked;
}

import { HELPLINE_API, HELPLINE_PERMISSIONS, type HelplinePermission } from '@telecare/contracts';
import { bearerToken, type FastifyRequest, sameSecret } from '@telecare/platform';
import { ADMIN_PRINCIPAL, type PeopleStore, type Principal, type Role } from './people.ts';

/** The console's session cookie, as the OpenAPI document names it. */
export const SESSION_COOKIE = HELPLINE_API.sessionCookie;

/** What each kind of action needs: the roles of the route contracts. */
export type Permission = HelplinePermission;

export const can = (role: Role, permission: Permission): boolean =>
  (HELPLINE_PERMISSIONS[permission] as readonly Role[]).includes(role);

const cookie = (req: FastifyRequest, name: string): string | undefined => {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
};

/**
 * Who a request is from: `Authorization: Bearer` with the admin token or a personal `tok_…`
 * token (programs), or the console's session cookie (people).
 */
export class Authenticator {
  constructor(
    private readonly people: PeopleStore,
    private readonly adminToken: string | undefined,
  ) {}

  sessionToken(req: FastifyRequest): string | undefined {
    return cookie(req, SESSION_COOKIE);
  }

  async authenticate(
    req: FastifyRequest,
    now: Date,
    options: { queryToken?: boolean } = {},
  ): Promise<Principal | undefined> {
    let bearer = bearerToken(req.headers.authorization);
    // EventSource cannot set headers; a program following the stream may pass its token in the query.
    if (!bearer && options.queryToken) {
      const query = req.query as Record<string, unknown> | undefined;
      if (typeof query?.access_token === 'string') bearer = query.access_token;
    }
    if (bearer) {
      if (this.adminToken && sameSecret(bearer, this.adminToken)) return ADMIN_PRINCIPAL;
      if (bearer.startsWith('tok_')) return this.people.tokenUser(bearer, now);
      return undefined;
    }
    const session = this.sessionToken(req);
    return session ? this.people.sessionUser(session, now) : undefined;
  }
}

import { HELPLINE_API, HELPLINE_PERMISSIONS, type HelplinePermission } from '@telecare/contracts';
import { bearerToken, type FastifyRequest, hashToken, sameSecret } from '@telecare/platform';
import { ADMIN_PRINCIPAL, type PeopleStore, type Principal, type Role } from './people.ts';
import type { StreamTickets, TicketBinding } from './stream-tickets.ts';

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
 * token (programs), or the console's session cookie (people); on the live stream, a stream ticket.
 */
export class Authenticator {
  constructor(
    private readonly people: PeopleStore,
    private readonly adminToken: string | undefined,
    private readonly tickets: StreamTickets,
  ) {}

  sessionToken(req: FastifyRequest): string | undefined {
    return cookie(req, SESSION_COOKIE);
  }

  async authenticate(req: FastifyRequest, now: Date): Promise<Principal | undefined> {
    const bearer = bearerToken(req.headers.authorization);
    if (bearer) {
      if (this.adminToken && sameSecret(bearer, this.adminToken)) return ADMIN_PRINCIPAL;
      if (bearer.startsWith('tok_')) return this.people.tokenUser(bearer, now);
      return undefined;
    }
    const session = this.sessionToken(req);
    return session ? this.people.sessionUser(session, now) : undefined;
  }

  /** What a stream ticket asked now is bound to: the caller and the credential it came with. */
  bindingOf(req: FastifyRequest, principal: Principal): TicketBinding {
    const bearer = bearerToken(req.headers.authorization);
    const session = bearer ? undefined : this.sessionToken(req);
    return {
      userId: principal.id,
      tokenHash: bearer ? hashToken(bearer) : null,
      sessionHash: session ? hashToken(session) : null,
    };
  }

  /**
   * A stream ticket for the caller, bound to the credential this request came with; its life runs
   * on PostgreSQL's clock, which every instance shares.
   */
  issueTicket(req: FastifyRequest, principal: Principal): Promise<{ ticket: string; expiresAt: Date }> {
    return this.tickets.issue(this.bindingOf(req, principal));
  }

  /**
   * Who a stream ticket lets in: the person it was issued to, while the credential that asked for
   * it still works (a token neither revoked nor expired, the admin token still the one configured,
   * a session not ended); undefined for a ticket unknown, used, expired, or of a dead credential.
   */
  async ticketHolder(
    ticket: string,
    now: Date,
  ): Promise<{ principal: Principal; binding: TicketBinding } | undefined> {
    const binding = await this.tickets.redeem(ticket);
    if (!binding) return undefined;
    let principal: Principal | undefined;
    if (binding.userId === ADMIN_PRINCIPAL.id) {
      const admin = this.adminToken ? hashToken(this.adminToken) : '';
      principal =
        admin && binding.tokenHash && sameSecret(binding.tokenHash, admin) ? ADMIN_PRINCIPAL : undefined;
    } else if (binding.tokenHash) principal = await this.people.tokenUserByHash(binding.tokenHash, now);
    else if (binding.sessionHash) principal = await this.people.sessionUserByHash(binding.sessionHash, now);
    return principal?.id === binding.userId ? { principal, binding } : undefined;
  }
}

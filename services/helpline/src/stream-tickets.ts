import { hashToken, newSecret, type Pool } from '@telecare/platform';
import { z } from 'zod';

/** What a ticket was asked with: the person, and the one credential whose life bounds the ticket's. */
export interface TicketBinding {
  readonly userId: string;
  /** The hash of the bearer token that asked (a personal token or the admin token), or null. */
  readonly tokenHash: string | null;
  /** The hash of the session that asked, or null. */
  readonly sessionHash: string | null;
}

const Row = z.object({
  user_id: z.string(),
  token_hash: z.string().nullable(),
  session_hash: z.string().nullable(),
  live: z.boolean(),
});
const Issued = z.object({ expires_at: z.date() });

/**
 * Stream tickets: EventSource sets no headers, so a client signed in with a token opens the live
 * stream with `?ticket=` rather than its token in the URL, where proxy logs, browser history and
 * Referer would keep it. A ticket is good once, for `ttlSeconds`, and kept in PostgreSQL (as its
 * hash) so an instance other than the one that issued it takes it. Its life is judged by
 * PostgreSQL's clock, at issue and at redeem: instances behind one proxy whose clocks are apart by
 * more than the ticket's life still agree on it.
 */
export class StreamTickets {
  readonly #table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    readonly ttlSeconds: number,
  ) {
    this.#table = `"${schema}".stream_tickets`;
  }

  async issue(binding: TicketBinding): Promise<{ ticket: string; expiresAt: Date }> {
    const ticket = newSecret('stk_');
    // Tickets never used are cleared as new ones are issued, as sessions are.
    await this.pool.query(`delete from ${this.#table} where expires_at < now()`);
    const { rows } = await this.pool.query(
      `insert into ${this.#table} (ticket_hash, user_id, token_hash, session_hash, expires_at)
       values ($1, $2, $3, $4, now() + make_interval(secs => $5))
       returning expires_at`,
      [hashToken(ticket), binding.userId, binding.tokenHash, binding.sessionHash, this.ttlSeconds],
    );
    return { ticket, expiresAt: Issued.parse(rows[0]).expires_at };
  }

  /**
   * What the ticket was issued to, if it is one and has not expired; used up either way: taken in
   * one statement, so two requests with one ticket never both get it.
   */
  async redeem(ticket: string): Promise<TicketBinding | undefined> {
    if (!ticket.startsWith('stk_')) return undefined;
    const { rows } = await this.pool.query(
      `delete from ${this.#table} where ticket_hash = $1
       returning user_id, token_hash, session_hash, expires_at > now() as live`,
      [hashToken(ticket)],
    );
    if (!rows[0]) return undefined;
    const row = Row.parse(rows[0]);
    if (!row.live) return undefined;
    return { userId: row.user_id, tokenHash: row.token_hash, sessionHash: row.session_hash };
  }
}

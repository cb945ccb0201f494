import {
  SECURITY_EVENT_KINDS,
  type SecurityEventKind,
  SecurityEvent as SecurityEventMessage,
  type SecurityEventView,
} from '@telecare/contracts';
import type { Logger, NatsConnection, Pool } from '@telecare/platform';
import { z } from 'zod';

export { SECURITY_EVENT_KINDS, type SecurityEventKind };

/** A security event as `GET /api/security-events` lists it. */
export type SecurityEvent = SecurityEventView;

const Row = z.object({
  id: z.union([z.string(), z.number()]).transform(String),
  at: z.date(),
  kind: z.enum(SECURITY_EVENT_KINDS),
  user_id: z.string().nullable(),
  case_id: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
});

/** Where raised events are published (core NATS) so other services can follow them. */
export interface SecurityFeed {
  readonly nc: NatsConnection;
  readonly subject: string;
}

/**
 * Misuse a supervisor must see (`GET /api/security-events`): kept in PostgreSQL so every instance
 * and a restart see the same list, logged at warn with ids only for whoever watches the logs, and
 * published on `<namespace>.security.events` for other services and supervisors' tools.
 */
export class SecurityEvents {
  readonly #table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    private readonly logger: Logger,
    private readonly feed?: SecurityFeed,
  ) {
    this.#table = `"${schema}".security_events`;
  }

  async raise(
    kind: SecurityEventKind,
    who: { userId: string | null; caseId: string | null },
    detail: Record<string, unknown>,
    now: Date,
  ): Promise<void> {
    this.logger.warn(
      { securityEvent: kind, userId: who.userId, caseId: who.caseId, ...detail },
      `security: ${kind}`,
    );
    let id: string | null = null;
    try {
      const { rows } = await this.pool.query(
        `insert into ${this.#table} (at, kind, user_id, case_id, detail) values ($1, $2, $3, $4, $5) returning id`,
        [now, kind, who.userId, who.caseId, JSON.stringify(detail)],
      );
      id = rows[0] ? String((rows[0] as { id: string | number }).id) : null;
    } catch (err) {
      // The refusal stands whether or not it could be stored; the log line above still carries it.
      this.logger.error({ err, securityEvent: kind }, 'security event not stored');
    }
    this.#publish({
      id,
      at: now.toISOString(),
      service: 'helpline',
      kind,
      userId: who.userId,
      caseId: who.caseId,
      detail,
    });
  }

  /** At most once: the stored record is what counts; a closed connection loses only the notice. */
  #publish(event: SecurityEventMessage): void {
    if (!this.feed) return;
    try {
      this.feed.nc.publish(this.feed.subject, JSON.stringify(SecurityEventMessage.parse(event)));
    } catch (err) {
      this.logger.error({ err, securityEvent: event.kind }, 'security event not published');
    }
  }

  async list(limit: number): Promise<SecurityEvent[]> {
    const { rows } = await this.pool.query(
      `select id, at, kind, user_id, case_id, detail from ${this.#table} order by at desc, id desc limit $1`,
      [limit],
    );
    return rows.map((row) => {
      const r = Row.parse(row);
      return {
        id: r.id,
        at: r.at.toISOString(),
        kind: r.kind,
        userId: r.user_id,
        caseId: r.case_id,
        detail: r.detail,
      };
    });
  }
}

import type { Logger, Pool } from '@telecare/platform';
import { z } from 'zod';

export const SECURITY_EVENT_KINDS = ['reveal-rate-limited', 'reveal-refused'] as const;
export type SecurityEventKind = (typeof SECURITY_EVENT_KINDS)[number];

export const SecurityEvent = z.object({
  id: z.string(),
  at: z.iso.datetime({ offset: true }),
  kind: z.enum(SECURITY_EVENT_KINDS),
  userId: z.string().nullable(),
  caseId: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
});
export type SecurityEvent = z.infer<typeof SecurityEvent>;

const Row = z.object({
  id: z.union([z.string(), z.number()]).transform(String),
  at: z.date(),
  kind: z.enum(SECURITY_EVENT_KINDS),
  user_id: z.string().nullable(),
  case_id: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
});

/**
 * Misuse a supervisor must see (`GET /api/security-events`): kept in PostgreSQL so every instance
 * and a restart see the same list, and logged at warn with ids only for whoever watches the logs.
 */
export class SecurityEvents {
  readonly #table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    private readonly logger: Logger,
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
    try {
      await this.pool.query(
        `insert into ${this.#table} (at, kind, user_id, case_id, detail) values ($1, $2, $3, $4, $5)`,
        [now, kind, who.userId, who.caseId, JSON.stringify(detail)],
      );
    } catch (err) {
      // The refusal stands whether or not it could be stored; the log line above still carries it.
      this.logger.error({ err, securityEvent: kind }, 'security event not stored');
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

import type { Pool, RateDecision } from '@telecare/platform';
import { z } from 'zod';

const Row = z.object({
  outcome: z.enum(['counted', 'again', 'first-refusal', 'refused']),
  n: z.number().int(),
  oldest: z.union([z.string(), z.number()]).transform(Number).nullable(),
});

/**
 * At most `max` distinct keys per person in any `windowMs`, counted in PostgreSQL so every
 * instance behind the proxy and every restart share one count. A key already counted in the
 * window is free (a resident read again); a refused attempt is not counted. The count and the
 * insert are one statement on the person's row (`migrations/020_person_limits.sql`): two
 * instances answering the same person at the same moment cannot both let the last one through.
 * Times are the instance's clock, which in a deployment is the system clock; the window is long
 * beside any skew between instances.
 */
export class PersonLimit {
  readonly #table: string;
  #lastSweep = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly pool: Pool,
    schema: string,
    /** Which limit: rows of different limits never mix. */
    readonly kind: string,
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be a whole number of at least 1');
    if (!(windowMs > 0)) throw new RangeError('windowMs must be positive');
    this.#table = `"${schema}".person_limits`;
  }

  /** Counts `key` for `person` when it is allowed. */
  async attempt(person: string, key: string): Promise<RateDecision> {
    const now = this.now();
    await this.#sweep(now);
    const { rows } = await this.pool.query(
      `insert into ${this.#table} as t (kind, person_id, hits, refusing, outcome, last_at)
       values ($1, $2, jsonb_build_object($3::text, $4::bigint), false, 'counted', to_timestamp($4::bigint / 1000.0))
       on conflict (kind, person_id) do update set (hits, refusing, outcome, last_at) = (
         select
           case when k.again or k.n >= $5 then k.kept else k.kept || excluded.hits end,
           case when k.again then t.refusing else k.n >= $5 end,
           case when k.again then 'again' when k.n < $5 then 'counted'
                when t.refusing then 'refused' else 'first-refusal' end,
           excluded.last_at
         from (
           select coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb) as kept, count(*) as n,
                  coalesce(bool_or(e.key = $3::text), false) as again
           from jsonb_each(t.hits) e
           where (e.value)::bigint > $4::bigint - $6::bigint
         ) k
       )
       returning outcome,
         (select count(*) from jsonb_object_keys(t.hits))::int as n,
         (select min(v::bigint) from jsonb_each_text(t.hits) x(k, v)) as oldest`,
      [this.kind, person, key, now, this.max, this.windowMs],
    );
    const row = Row.parse(rows[0]);
    if (row.outcome === 'counted' || row.outcome === 'again')
      return { allowed: true, remaining: Math.max(0, this.max - row.n) };
    return {
      allowed: false,
      retryAfterS: Math.max(1, Math.ceil(((row.oldest ?? now) + this.windowMs - now) / 1000)),
      firstRefusal: row.outcome === 'first-refusal',
    };
  }

  /** The rows of people who have not tried for a window: their counts and refusal runs are over. */
  async #sweep(now: number): Promise<void> {
    if (now - this.#lastSweep < this.windowMs / 10) return;
    this.#lastSweep = now;
    await this.pool.query(
      `delete from ${this.#table} where kind = $1 and last_at <= to_timestamp(($2::bigint - $3::bigint) / 1000.0)`,
      [this.kind, now, this.windowMs],
    );
  }
}

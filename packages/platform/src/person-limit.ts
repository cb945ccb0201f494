import { z } from 'zod';
import type { Pool } from './postgres.ts';

/** What a rate limit decided for one attempt. */
export type RateDecision =
  | { readonly allowed: true; readonly remaining: number }
  | {
      readonly allowed: false;
      /** Seconds until the oldest counted attempt leaves the window. */
      readonly retryAfterS: number;
      /** True for the first refusal of a burst, so a caller raises one alarm per burst, not per request. */
      readonly firstRefusal: boolean;
    };

const Row = z.object({
  kind: z.string(),
  person_id: z.string(),
  outcome: z.enum(['counted', 'again', 'first-refusal', 'refused']),
  n: z.number().int(),
  oldest: z.union([z.string(), z.number()]).transform(Number).nullable(),
});

/** One limit and the person (a user, an address, a token) it counts for. */
export interface LimitOf {
  readonly limit: PersonLimit;
  readonly person: string;
}

/**
 * At most `max` distinct keys per person in any `windowMs`, counted in PostgreSQL so every
 * instance of a service and every restart share one count. A key already counted in the window is
 * free (a resident read again); an attempt that must always count takes a key of its own (a random
 * id). A refused attempt is not counted. The count and the insert are one statement on the
 * person's row: two instances answering the same person at the same moment cannot both let the
 * last one through. The table is the service's own (`person_limits` in its schema, made by its
 * migration: kind, person_id, hits, refusing, outcome, last_at). Times are the instance's clock,
 * which in a deployment is the system clock; the window is long beside any skew between instances.
 */
export class PersonLimit {
  readonly table: string;
  #lastSweep = Number.NEGATIVE_INFINITY;

  constructor(
    readonly pool: Pool,
    schema: string,
    /** Which limit: rows of different limits never mix. */
    readonly kind: string,
    readonly max: number,
    readonly windowMs: number,
    readonly now: () => number,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be a whole number of at least 1');
    if (!(windowMs > 0)) throw new RangeError('windowMs must be positive');
    this.table = `"${schema}".person_limits`;
  }

  /** Counts `key` for `person` when it is allowed. */
  attempt(person: string, key: string): Promise<RateDecision> {
    return attemptAll([{ limit: this, person }], key);
  }

  /** The rows of people who have not tried for a window: their counts and refusal runs are over. */
  async sweep(now: number): Promise<void> {
    if (now - this.#lastSweep < this.windowMs / 10) return;
    this.#lastSweep = now;
    await this.pool.query(
      `delete from ${this.table} where kind = $1 and last_at <= to_timestamp(($2::bigint - $3::bigint) / 1000.0)`,
      [this.kind, now, this.windowMs],
    );
  }
}

/** The limits of `parts`, which must share one table (one service's), sorted so rows lock in one order. */
function together(parts: readonly LimitOf[]): { first: PersonLimit; sorted: LimitOf[] } {
  const first = parts[0]?.limit;
  if (!first) throw new RangeError('no limit to count');
  if (parts.some((p) => p.limit.table !== first.table || p.limit.pool !== first.pool))
    throw new RangeError('limits counted together must share one table');
  const sorted = [...parts].sort((a, b) =>
    a.limit.kind === b.limit.kind
      ? a.person.localeCompare(b.person)
      : a.limit.kind.localeCompare(b.limit.kind),
  );
  return { first, sorted };
}

/**
 * Counts `key` under every limit of `parts` (a username's failures and its address's) only when
 * every one of them allows it, in one statement (one round trip) while all allow it: a refused
 * attempt is counted under none. When one refuses and another counted, a second statement takes
 * the key back. Refused: the longest wait, and a first refusal when any limit's run of refusals
 * starts with it.
 */
export async function attemptAll(parts: readonly LimitOf[], key: string): Promise<RateDecision> {
  const { first, sorted } = together(parts);
  const now = first.now();
  for (const p of sorted) await p.limit.sweep(now);
  const { rows } = await first.pool.query(
    `insert into ${first.table} as t (kind, person_id, hits, refusing, outcome, last_at)
     select x.kind, x.person, jsonb_build_object($3::text, $4::bigint), false, 'counted',
            to_timestamp($4::bigint / 1000.0)
     from unnest($1::text[], $2::text[]) with ordinality x(kind, person, i)
     order by x.i
     on conflict (kind, person_id) do update set (hits, refusing, outcome, last_at) = (
       select
         case when k.again or k.n >= l.max then k.kept else k.kept || excluded.hits end,
         case when k.again then t.refusing else k.n >= l.max end,
         case when k.again then 'again' when k.n < l.max then 'counted'
              when t.refusing then 'refused' else 'first-refusal' end,
         excluded.last_at
       from unnest($1::text[], $5::int[], $6::bigint[]) l(kind, max, window_ms),
       lateral (
         select coalesce(jsonb_object_agg(e.key, e.value), '{}'::jsonb) as kept, count(*) as n,
                coalesce(bool_or(e.key = $3::text), false) as again
         from jsonb_each(t.hits) e
         where (e.value)::bigint > $4::bigint - l.window_ms
       ) k
       where l.kind = t.kind
       limit 1
     )
     returning kind, person_id, outcome,
       (select count(*) from jsonb_object_keys(t.hits))::int as n,
       (select min(v::bigint) from jsonb_each_text(t.hits) x(k, v)) as oldest`,
    [
      sorted.map((p) => p.limit.kind),
      sorted.map((p) => p.person),
      key,
      now,
      sorted.map((p) => p.limit.max),
      sorted.map((p) => p.limit.windowMs),
    ],
  );
  const decided = rows.map((r) => {
    const row = Row.parse(r);
    const part = sorted.find((p) => p.limit.kind === row.kind && p.person === row.person_id);
    if (!part) throw new Error(`a limit row nobody asked for: ${row.kind}`);
    return { part, row };
  });
  const refused = decided.filter((d) => d.row.outcome === 'refused' || d.row.outcome === 'first-refusal');
  if (refused.length === 0)
    return {
      allowed: true,
      remaining: Math.min(...decided.map((d) => Math.max(0, d.part.limit.max - d.row.n))),
    };
  const counted = decided.filter((d) => d.row.outcome === 'counted').map((d) => d.part);
  if (counted.length > 0) await forgetAttempt(counted, key);
  return {
    allowed: false,
    retryAfterS: Math.max(
      ...refused.map(({ part, row }) =>
        Math.max(1, Math.ceil(((row.oldest ?? now) + part.limit.windowMs - now) / 1000)),
      ),
    ),
    firstRefusal: refused.some((d) => d.row.outcome === 'first-refusal'),
  };
}

/**
 * Takes `key` back from the limits of `parts`, in one statement; a part marked `whole` forgets the
 * person's every key and its run of refusals (a user who signed in correctly starts again from nothing).
 */
export async function forgetAttempt(
  parts: readonly (LimitOf & { readonly whole?: boolean })[],
  key: string,
): Promise<void> {
  const { first, sorted } = together(parts);
  await first.pool.query(
    `update ${first.table} as t
     set hits = case when x.whole then '{}'::jsonb else t.hits - $3::text end,
         refusing = t.refusing and not x.whole
     from unnest($1::text[], $2::text[], $4::boolean[]) x(kind, person, whole)
     where t.kind = x.kind and t.person_id = x.person`,
    [
      sorted.map((p) => p.limit.kind),
      sorted.map((p) => p.person),
      key,
      sorted.map((p) => 'whole' in p && p.whole === true),
    ],
  );
}

import { type Counter, type Logger, type Pool, within } from '@telecare/platform';
import { z } from 'zod';

/** What the budget decided for one request: past it, the seconds until the window ends. */
export type BudgetDecision =
  | { readonly allowed: true; readonly remaining: number }
  | { readonly allowed: false; readonly retryAfterS: number };

/** One person's count in their current window. */
interface Window {
  readonly start: number;
  count: number;
  /** Whether a request was refused in this window already: one security event per window. */
  refused: boolean;
}

/**
 * At most `max` requests per person in a window of `windowMs` that starts at their first request,
 * counted in this instance's memory: what `SharedBudget` counts with while PostgreSQL cannot
 * answer (behind a balancer a person then gets `max` at each instance). A refused request is not counted. Only people signed in are counted, so the map holds
 * at most one entry per person who asked in the last window.
 */
export class RequestBudget {
  readonly #windows = new Map<string, Window>();
  #lastSweep = Number.NEGATIVE_INFINITY;

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number,
  ) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('max must be a whole number of at least 1');
    if (!(windowMs > 0)) throw new RangeError('windowMs must be positive');
  }

  /** Counts one request of `person` when it is within the budget. */
  take(person: string): BudgetDecision {
    const now = this.now();
    this.#sweep(now);
    let window = this.#windows.get(person);
    if (!window || now - window.start >= this.windowMs) {
      window = { start: now, count: 0, refused: false };
      this.#windows.set(person, window);
    }
    if (window.count < this.max) {
      window.count += 1;
      return { allowed: true, remaining: this.max - window.count };
    }
    return {
      allowed: false,
      retryAfterS: Math.max(1, Math.ceil((window.start + this.windowMs - now) / 1000)),
    };
  }

  /**
   * Notes that a request of `person` past the budget was refused; true for the first in their
   * window, so a caller raises one alarm per window, not one per request.
   */
  refused(person: string): boolean {
    const window = this.#windows.get(person);
    if (!window || window.refused) return false;
    window.refused = true;
    return true;
  }

  #sweep(now: number): void {
    if (now - this.#lastSweep < this.windowMs) return;
    this.#lastSweep = now;
    for (const [person, window] of this.#windows)
      if (now - window.start >= this.windowMs) this.#windows.delete(person);
  }
}

/** What a shared budget decided: past it, also whether this is the window's first refusal. */
export type SharedDecision =
  | { readonly allowed: true; readonly remaining: number }
  | { readonly allowed: false; readonly retryAfterS: number; readonly firstRefusal: boolean };

/** Where the shared budgets count, and what they do when it does not answer. */
export interface BudgetStore {
  readonly pool: Pool;
  /** The service's schema: its `request_budgets` table (migration 026). */
  readonly schema: string;
  readonly logger: Logger;
  /** Requests counted in this instance's memory because PostgreSQL did not answer, per budget. */
  readonly fallbacks: Counter<'budget'>;
  /** How long a count may take before the request is counted in memory instead. */
  readonly timeoutMs?: number;
  /** How long after a failed count requests are counted in memory before PostgreSQL is asked again. */
  readonly retryMs?: number;
}

const Counted = z.object({
  window_start_ms: z.union([z.string(), z.number()]).transform(Number),
  counted: z.number().int(),
  refused: z.number().int(),
});

/**
 * At most `max` requests per person in a window of `windowMs` from their first request, counted in
 * PostgreSQL for every instance of the helpline together: one `INSERT … ON CONFLICT … DO UPDATE …
 * RETURNING` on the person's row per request, atomic without a lock (two instances counting one
 * person at once take turns). A refused request is not counted; the first refusal of a window says
 * so, for one security event per window whichever instance refuses. Times are the instance's clock.
 *
 * When PostgreSQL does not answer within `timeoutMs` (down, or its pool taken by a storm), the
 * request is counted in this instance's memory instead (`RequestBudget`), counted in `fallbacks`,
 * and so are the requests of the next `retryMs`, so an outage adds no wait to each of them: the
 * helpline keeps answering its operators, each instance holding the budget alone meanwhile. The
 * change both ways is logged once.
 */
export class SharedBudget {
  readonly #local: RequestBudget;
  readonly #table: string;
  readonly #timeoutMs: number;
  readonly #retryMs: number;
  /** Until when (performance.now) requests are counted in memory; 0: counted in PostgreSQL. */
  #localUntil = 0;
  #degraded = false;

  constructor(
    /** Which budget: rows of different budgets never mix. */
    readonly kind: string,
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number,
    private readonly store: BudgetStore,
  ) {
    this.#local = new RequestBudget(max, windowMs, now);
    this.#table = `"${store.schema}".request_budgets`;
    this.#timeoutMs = store.timeoutMs ?? 250;
    this.#retryMs = store.retryMs ?? 5_000;
  }

  /** Counts one request of `person` when it is within the budget. */
  async take(person: string): Promise<SharedDecision> {
    const now = this.now();
    if (performance.now() < this.#localUntil) return this.#takeHere(person);
    let row: z.infer<typeof Counted>;
    try {
      row = await within(this.#count(person, now), this.#timeoutMs);
    } catch (err) {
      this.#localUntil = performance.now() + this.#retryMs;
      if (!this.#degraded)
        this.store.logger.warn(
          {
            budget: this.kind,
            err: err instanceof Error ? err.message : String(err),
            retryMs: this.#retryMs,
          },
          'shared request budget not answering: counting at this instance',
        );
      this.#degraded = true;
      return this.#takeHere(person);
    }
    if (this.#degraded) {
      this.#degraded = false;
      this.store.logger.info({ budget: this.kind }, 'shared request budget answering again');
    }
    if (row.refused === 0) return { allowed: true, remaining: Math.max(0, this.max - row.counted) };
    return {
      allowed: false,
      retryAfterS: Math.max(1, Math.ceil((row.window_start_ms + this.windowMs - now) / 1000)),
      firstRefusal: row.refused === 1,
    };
  }

  /** The person's row after counting this request: a new window when the last one has ended. */
  async #count(person: string, now: number) {
    const { rows } = await this.store.pool.query(
      `insert into ${this.#table} as t (kind, person_id, window_start_ms, counted, refused)
       values ($1, $2, $3::bigint, 1, 0)
       on conflict (kind, person_id) do update set
         window_start_ms = case when t.window_start_ms <= $3::bigint - $5::bigint then $3::bigint
                                else t.window_start_ms end,
         counted = case when t.window_start_ms <= $3::bigint - $5::bigint then 1
                        when t.counted < $4::int then t.counted + 1 else t.counted end,
         refused = case when t.window_start_ms <= $3::bigint - $5::bigint or t.counted < $4::int then 0
                        else t.refused + 1 end
       returning window_start_ms, counted, refused`,
      [this.kind, person, now, this.max, this.windowMs],
    );
    return Counted.parse(rows[0]);
  }

  #takeHere(person: string): SharedDecision {
    this.store.fallbacks.inc({ budget: this.kind });
    const decision = this.#local.take(person);
    if (decision.allowed) return decision;
    return { ...decision, firstRefusal: this.#local.refused(person) };
  }
}

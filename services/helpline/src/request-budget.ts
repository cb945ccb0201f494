import {
  type Counter,
  type Logger,
  type Pool,
  type PoolClient,
  TimeoutError,
  within,
} from '@telecare/platform';
import pg from 'pg';
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
  counted: z.coerce.number().int(),
  refused: z.coerce.number().int(),
  now_ms: z.union([z.string(), z.number()]).transform(Number),
});
/** The answer to the count: the `set local`'s result, then the upsert's one row. */
const CountAnswer = z.tuple([z.unknown(), z.object({ rows: z.tuple([Counted]) })]);

/** PostgreSQL's clock in epoch ms, the same all through one statement: every instance's windows are on it. */
const DB_NOW_MS = '(extract(epoch from statement_timestamp()) * 1000)::bigint';

/**
 * At most `max` requests per person in a window of `windowMs` from their first request, counted in
 * PostgreSQL for every instance of the helpline together: one `INSERT … ON CONFLICT … DO UPDATE …
 * RETURNING` on the person's row per request, atomic without a lock (two instances counting one
 * person at once take turns). A refused request is not counted; the first refusal of a window says
 * so, for one security event per window whichever instance refuses. Windows are on PostgreSQL's
 * clock, so instances whose clocks are apart neither split nor restart one.
 *
 * When PostgreSQL does not answer within `timeoutMs` (down, slow, or its pool taken by a storm), the
 * request is counted in this instance's memory instead (`RequestBudget`, on the instance's clock),
 * counted in `fallbacks`, and so are the requests of the next `retryMs`, so an outage adds no wait
 * to each of them: the helpline keeps answering its operators, each instance holding the budget
 * alone meanwhile. The change both ways is logged once. A request is counted once: a count still
 * waiting for a connection at the deadline is never sent, and the upsert carries the time left as
 * its statement timeout, so PostgreSQL cancels one it has not finished by then rather than let it
 * land after the request was counted in memory.
 */
export class SharedBudget {
  readonly #local: RequestBudget;
  /** The upsert, all but the person: kind, budget and window are this budget's for good. */
  readonly #upsert: (person: string) => string;
  readonly #timeoutMs: number;
  readonly #retryMs: number;
  /** Until when (performance.now) requests are counted in memory; 0: counted in PostgreSQL. */
  #localUntil = 0;
  #degraded = false;
  /** Requests counted in memory since PostgreSQL last answered, for the log line when it does again. */
  #countedHere = 0;

  constructor(
    /** Which budget: rows of different budgets never mix. */
    readonly kind: string,
    readonly max: number,
    readonly windowMs: number,
    /** The instance's clock: the in-memory count's windows while PostgreSQL does not answer. */
    now: () => number,
    private readonly store: BudgetStore,
  ) {
    this.#local = new RequestBudget(max, windowMs, now);
    if (!Number.isInteger(windowMs)) throw new RangeError('windowMs must be a whole number');
    this.#timeoutMs = store.timeoutMs ?? 250;
    this.#retryMs = store.retryMs ?? 5_000;
    // On /metrics at 0 from the start: a series that first appears at 1 shows no increase.
    store.fallbacks.inc({ budget: kind }, 0);
    const table = `"${store.schema}".request_budgets`;
    const newWindow = `t.window_start_ms <= excluded.window_start_ms - ${windowMs}`;
    this.#upsert = (person) =>
      `insert into ${table} as t (kind, person_id, window_start_ms, counted, refused)
       values (${pg.escapeLiteral(kind)}, ${pg.escapeLiteral(person)}, ${DB_NOW_MS}, 1, 0)
       on conflict (kind, person_id) do update set
         window_start_ms = case when ${newWindow} then excluded.window_start_ms else t.window_start_ms end,
         counted = case when ${newWindow} then 1 when t.counted < ${max} then t.counted + 1 else t.counted end,
         refused = case when ${newWindow} or t.counted < ${max} then 0 else t.refused + 1 end
       returning window_start_ms, counted, refused, ${DB_NOW_MS} as now_ms`;
  }

  /** Counts one request of `person` when it is within the budget. */
  async take(person: string): Promise<SharedDecision> {
    if (performance.now() < this.#localUntil) return this.#takeHere(person);
    let row: z.infer<typeof Counted>;
    try {
      row = await this.#count(person);
    } catch (err) {
      this.#localUntil = performance.now() + this.#retryMs;
      if (!this.#degraded)
        this.store.logger.warn(
          {
            budget: this.kind,
            err: err instanceof Error ? err.message : String(err),
            timeoutMs: this.#timeoutMs,
            retryMs: this.#retryMs,
          },
          'shared request budget not answering: counting at this instance',
        );
      this.#degraded = true;
      return this.#takeHere(person);
    }
    if (this.#degraded) {
      this.store.logger.info(
        { budget: this.kind, countedHere: this.#countedHere },
        'shared request budget answering again',
      );
      this.#degraded = false;
      this.#countedHere = 0;
    }
    if (row.refused === 0) return { allowed: true, remaining: Math.max(0, this.max - row.counted) };
    return {
      allowed: false,
      retryAfterS: Math.max(1, Math.ceil((row.window_start_ms + this.windowMs - row.now_ms) / 1000)),
      firstRefusal: row.refused === 1,
    };
  }

  /**
   * The person's row after counting this request (a new window when the last one has ended), or an
   * error when it was not counted. One round trip: `set local statement_timeout` and the upsert
   * sent as one simple query, a transaction of their own (a simple query takes no parameters, so the
   * person's id is in it as an escaped literal). PostgreSQL cancels the upsert at the deadline,
   * and the error says so; only an answer lost on the way (a connection cut, a server frozen) is
   * given up on without it, `timeoutMs` after the deadline, and its connection dropped.
   */
  async #count(person: string): Promise<z.infer<typeof Counted>> {
    const deadline = performance.now() + this.#timeoutMs;
    const connecting = this.store.pool.connect();
    let client: PoolClient;
    try {
      client = await within(connecting, this.#timeoutMs);
    } catch (err) {
      // A connection that comes after the deadline goes back unused: the count is never sent.
      connecting.then(
        (late) => late.release(),
        () => undefined,
      );
      throw err;
    }
    const leftMs = Math.floor(deadline - performance.now());
    if (leftMs < 1) {
      client.release();
      throw new TimeoutError(`no connection in ${this.#timeoutMs} ms`, { context: { ms: this.#timeoutMs } });
    }
    let lost: Error | undefined;
    try {
      const answer = await within(
        client.query(`set local statement_timeout = ${leftMs}; ${this.#upsert(person)}`) as Promise<unknown>,
        leftMs + this.#timeoutMs,
      );
      return CountAnswer.parse(answer)[1].rows[0];
    } catch (err) {
      // PostgreSQL's own refusal (the statement timeout among them) leaves the connection sound.
      if (!(err instanceof pg.DatabaseError)) lost = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      client.release(lost);
    }
  }

  #takeHere(person: string): SharedDecision {
    this.store.fallbacks.inc({ budget: this.kind });
    this.#countedHere += 1;
    const decision = this.#local.take(person);
    if (decision.allowed) return decision;
    return { ...decision, firstRefusal: this.#local.refused(person) };
  }
}

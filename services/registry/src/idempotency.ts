import { createHash } from 'node:crypto';
import {
  type Pool,
  type PoolClient,
  RateLimitedError,
  RefusedError,
  RequestError,
  withTransaction,
} from '@telecare/platform';

/** How long a key's answer is kept and replayed. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;
/** Expired rows one keyed request deletes at most (the sweep's bounded share of the work). */
export const IDEMPOTENCY_SWEEP_BATCH = 500;
/** What a 409 for a key still at work tells the caller to wait. */
const IN_PROGRESS_RETRY_AFTER_S = 1;

/** One request's claim on a key: whose, which, where, and what it asked. */
export interface IdempotencyClaim {
  /** The calling token's id: keys are per caller. */
  actor: string;
  key: string;
  /** Method and path (`POST /api/residents/res_…/care-packages`). */
  route: string;
  /** What was sent (the validated body): the same key with another body is a reuse. */
  body: unknown;
}

/** A request's answer as kept for its key. */
export interface KeptAnswer {
  status: number;
  body: unknown;
}

/** A repeat of a key whose first request has not finished: 409 with Retry-After. */
export class KeyInProgressError extends RefusedError {
  constructor() {
    super(
      409,
      'idempotency-key-in-progress',
      'a request with this Idempotency-Key is still in progress; try again shortly',
      [{ path: 'idempotency-key', message: 'in progress' }],
    );
  }
  override headers() {
    return { 'retry-after': String(IN_PROGRESS_RETRY_AFTER_S) };
  }
}

/** A refusal kept for a key, answered again as it was (with `Idempotent-Replayed: true`). */
export class ReplayedRefusal extends RequestError {
  readonly code: string;
  readonly #details: Record<string, unknown>;
  constructor(
    readonly status: number,
    body: Record<string, unknown>,
  ) {
    const { error, message, ...details } = body;
    super(String(message ?? ''));
    this.code = String(error ?? 'refused');
    this.#details = details;
  }
  override details() {
    return this.#details;
  }
  override headers() {
    return { 'idempotent-replayed': 'true' };
  }
}

/**
 * What is kept, in place of an answer that showed a secret (an MQTT secret, an API token), for its
 * key: a refusal to show it again, 409 `secret-not-replayed`, saying what was done and what to do
 * (`message`), with the rest of the answer. A secret is kept nowhere, not even hashed: a lost
 * answer's secret is issued again, and the repeat never shows one to anybody.
 */
export function secretNotReplayed(
  message: string,
  answer: Record<string, unknown>,
  secretFields: readonly string[],
): KeptAnswer {
  const rest = Object.fromEntries(Object.entries(answer).filter(([field]) => !secretFields.includes(field)));
  return { status: 409, body: { ...rest, error: 'secret-not-replayed', message } };
}

/**
 * Whether an error means the request did nothing a retry could repeat (a refusal of what it
 * asked: 4xx but 429) and so is kept as the key's answer; a 5xx or 429 is not kept, so the
 * retry after it runs again.
 */
const keepsRefusal = (err: unknown): err is RequestError =>
  err instanceof RequestError && err.status < 500 && err.status !== 429;

/** JSON with every object's keys in order: the same body always has the same fingerprint. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Fields sealed at rest (AES-256-GCM under the data key): their values are left out of the
 * fingerprint, only whether they were sent is in it. A hash of a body holding a four-digit key-safe
 * code beside a name and address the database also holds would give the code away in 10,000 tries.
 */
export const SEALED_FIELDS: readonly string[] = ['keySafe', 'medicalSummary', 'dc09Key'];

/** The body with the sealed fields' values replaced by whether they were sent (a blank stays blank). */
export const withoutSealed = (body: unknown): unknown => {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return body;
  const copy: Record<string, unknown> = { ...(body as Record<string, unknown>) };
  for (const field of SEALED_FIELDS)
    if (copy[field] !== undefined && copy[field] !== null && copy[field] !== '') copy[field] = '(sealed)';
  return copy;
};

/** A SHA-256 of the body in canonical JSON, sealed fields' values left out. */
export const fingerprintOf = (body: unknown): string =>
  createHash('sha256')
    .update(canonical(withoutSealed(body) ?? null))
    .digest('hex');

/**
 * The answers of creating POSTs sent with an `Idempotency-Key`, kept in PostgreSQL for 24 h per
 * caller. The key's row is inserted before the work, in the work's own transaction: the work and
 * its answer commit together, or neither does (a crash or a 5xx leaves no key behind). A repeat
 * while the first is at work finds its transaction-level advisory lock held and is answered 409
 * at once, holding nothing while it waits.
 */
export class IdempotencyStore {
  readonly #pool: Pool;
  readonly #table: string;
  readonly #lockSpace: string;
  readonly #keysPerActor: number;

  constructor(pool: Pool, schema: string, options: { keysPerActor: number }) {
    this.#pool = pool;
    this.#table = `"${schema.replace(/"/g, '""')}".idempotency_keys`;
    this.#lockSpace = `${schema}:idempotency`;
    this.#keysPerActor = options.keysPerActor;
  }

  /**
   * Runs `work` once for the claim's key: the first time in a transaction with the key's row, and
   * keeps what it answered (or the refusal it ended in); a repeat with the same route and body
   * gets the kept answer (`replayed`), one with another route or body 422 `idempotency-key-reused`.
   * `keep` gives the answer kept for what `work` answered, when it is not `status` with the body
   * itself (an answer that showed a secret keeps a refusal in its place).
   */
  async once<T>(
    claim: IdempotencyClaim,
    now: Date,
    status: number,
    work: (client: PoolClient) => Promise<T>,
    keep: (body: T) => KeptAnswer = (body) => ({ status, body }),
  ): Promise<{ replayed: false; body: T } | { replayed: true; answer: KeptAnswer }> {
    const fingerprint = fingerprintOf(claim.body);
    return withTransaction(this.#pool, async (client) => {
      const locked = await client.query<{ ok: boolean }>(
        'select pg_try_advisory_xact_lock(hashtext($1), hashtext($2)) as ok',
        [this.#lockSpace, `${claim.actor}\u001f${claim.key}`],
      );
      if (!locked.rows[0]?.ok) throw new KeyInProgressError();
      await this.#sweep(client, claim, now);
      const kept = await this.#kept(client, claim, now);
      if (kept) return { replayed: true as const, answer: this.#replay(kept, claim, fingerprint) };
      await this.#withinLimit(client, claim.actor, now);
      const inserted = await client.query(
        `insert into ${this.#table} (actor, key, route, fingerprint, created_at, expires_at)
         values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
        [claim.actor, claim.key, claim.route, fingerprint, now, new Date(now.getTime() + IDEMPOTENCY_TTL_MS)],
      );
      if (inserted.rowCount === 0) throw new KeyInProgressError(); // committed between the lock and the read
      await client.query('savepoint idempotent_work');
      let body: T;
      try {
        body = await work(client);
      } catch (err) {
        if (!keepsRefusal(err)) throw err;
        await client.query('rollback to savepoint idempotent_work');
        await this.#keep(client, claim, err.status, {
          error: err.code,
          message: err.message,
          ...err.details(),
        });
        return { refused: err };
      }
      const answer = keep(body);
      await this.#keep(client, claim, answer.status, answer.body);
      return { replayed: false as const, body };
    }).then((outcome) => {
      if ('refused' in outcome) throw outcome.refused;
      return outcome;
    });
  }

  /** Deletes this key's row if it has expired, and a bounded batch of other expired rows. */
  async #sweep(client: PoolClient, claim: IdempotencyClaim, now: Date): Promise<void> {
    await client.query(`delete from ${this.#table} where actor = $1 and key = $2 and expires_at <= $3`, [
      claim.actor,
      claim.key,
      now,
    ]);
    await client.query(
      `delete from ${this.#table} where ctid = any(array(
         select ctid from ${this.#table} where expires_at <= $1 limit $2 for update skip locked))`,
      [now, IDEMPOTENCY_SWEEP_BATCH],
    );
  }

  async #kept(
    client: PoolClient,
    claim: IdempotencyClaim,
    now: Date,
  ): Promise<{ route: string; fingerprint: string; status: number; body: unknown } | undefined> {
    const { rows } = await client.query<{
      route: string;
      fingerprint: string;
      status: number;
      body: unknown;
    }>(
      `select route, fingerprint, status, body from ${this.#table}
        where actor = $1 and key = $2 and expires_at > $3`,
      [claim.actor, claim.key, now],
    );
    return rows[0];
  }

  #replay(
    kept: { route: string; fingerprint: string; status: number; body: unknown },
    claim: IdempotencyClaim,
    fingerprint: string,
  ): KeptAnswer {
    if (kept.route !== claim.route || kept.fingerprint !== fingerprint) {
      const where = kept.route !== claim.route ? 'another route' : 'another body';
      throw new RefusedError(
        422,
        'idempotency-key-reused',
        `this Idempotency-Key was used for ${where} in the last 24 h: send a new key for a new request`,
        [{ path: 'idempotency-key', message: `already used for ${where}` }],
      );
    }
    return { status: kept.status, body: kept.body };
  }

  /** A caller holds at most `keysPerActor` unexpired keys; a new one past it is refused (429, not kept). */
  async #withinLimit(client: PoolClient, actor: string, now: Date): Promise<void> {
    const { rows } = await client.query<{ n: number; oldest: Date | null }>(
      `select count(*)::int as n, min(expires_at) as oldest from ${this.#table}
        where actor = $1 and expires_at > $2`,
      [actor, now],
    );
    const { n, oldest } = rows[0]!;
    if (n < this.#keysPerActor) return;
    const retryAfterS = Math.max(1, Math.ceil(((oldest?.getTime() ?? now.getTime()) - now.getTime()) / 1000));
    throw new RateLimitedError(
      'keep another Idempotency-Key (this token holds the most it may for 24 h)',
      retryAfterS,
      'too-many-idempotency-keys',
    );
  }

  async #keep(client: PoolClient, claim: IdempotencyClaim, status: number, body: unknown): Promise<void> {
    await client.query(
      `update ${this.#table} set status = $3, body = $4::jsonb where actor = $1 and key = $2`,
      [claim.actor, claim.key, status, JSON.stringify(body)],
    );
  }
}

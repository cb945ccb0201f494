import { randomBytes } from 'node:crypto';
import type { Pool } from '@telecare/platform';

/** How long an abandoned console row is kept before it is deleted (it stopped counting long before). */
const REAP_AFTER_S = 3600;

/**
 * Who is there. A person is *there* while one of their consoles (a browser tab holding the live
 * stream) answered the server's ping within the timeout, and their chosen presence is not `away`.
 * Console rows live in PostgreSQL so every helpline instance decides offers from the same facts;
 * the row is written by the instance holding the stream and refreshed by heartbeats that any
 * instance may receive. A closed stream or a sign-out deletes its row at once; a lost network or
 * a dead instance stops the heartbeats, and the row stops counting after the timeout.
 */
export class ConsoleStore {
  readonly #consoles: string;
  readonly #presence: string;
  readonly #sessions: string;
  readonly #tokens: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    /** A console not heard from for longer than this no longer makes its person present. */
    readonly timeoutSeconds: number,
  ) {
    this.#consoles = `"${schema}".consoles`;
    this.#presence = `"${schema}".presence`;
    this.#sessions = `"${schema}".sessions`;
    this.#tokens = `"${schema}".api_tokens`;
  }

  /**
   * SQL that is true when the user in `userExpr` has a console heard from within the timeout
   * before the timestamp in `nowExpr`. The timeout is a validated integer, so it is inlined.
   */
  connectedSql(userExpr: string, nowExpr: string): string {
    return `exists (select 1 from ${this.#consoles} k where k.user_id = ${userExpr} and ${this.#live('k', nowExpr)})`;
  }

  /** SQL for the number of the user's consoles heard from within the timeout. */
  liveCountSql(userExpr: string, nowExpr: string): string {
    return `(select count(*) from ${this.#consoles} k where k.user_id = ${userExpr} and ${this.#live('k', nowExpr)})`;
  }

  /** SQL for the last heartbeat of any of the user's consoles. */
  lastSeenSql(userExpr: string): string {
    return `(select max(k.last_seen) from ${this.#consoles} k where k.user_id = ${userExpr})`;
  }

  #live(alias: string, nowExpr: string): string {
    return `${alias}.last_seen > ${nowExpr}::timestamptz - interval '${Math.trunc(this.timeoutSeconds)} seconds'`;
  }

  /** SQL that is true when the user chose `away` (or a supervisor set them away). */
  awaySql(userExpr: string): string {
    return `exists (select 1 from ${this.#presence} pp where pp.user_id = ${userExpr} and pp.status = 'away')`;
  }

  /**
   * SQL that is true when the user is still signed in at the timestamp in `nowExpr`: a session of
   * theirs not ended or expired, or a console heard from within the timeout (a program's stream).
   */
  signedInSql(userExpr: string, nowExpr: string): string {
    return `(exists (select 1 from ${this.#sessions} s where s.user_id = ${userExpr} and s.expires_at > ${nowExpr}::timestamptz) or ${this.connectedSql(userExpr, nowExpr)})`;
  }

  /** SQL that is true when the user is there to take a case: connected and not away. */
  thereSql(userExpr: string, nowExpr: string): string {
    return `(${this.connectedSql(userExpr, nowExpr)} and not ${this.awaySql(userExpr)})`;
  }

  /**
   * Opens a console for a stream, bound to what it signed in with (hashes): a session, or a
   * program's personal token. Neither for the admin token's, which opens none.
   */
  async open(
    userId: string,
    signedInWith: { sessionHash: string | null; tokenHash: string | null },
    now: Date,
  ): Promise<string> {
    const id = `con_${now.getTime().toString(36)}${randomBytes(8).toString('hex')}`;
    await this.pool.query(
      `insert into ${this.#consoles} (id, user_id, session_hash, token_hash, opened_at) values ($1, $2, $3, $4, $5)`,
      [id, userId, signedInWith.sessionHash, signedInWith.tokenHash, now],
    );
    return id;
  }

  /**
   * A heartbeat from the console's owner: `back` when it makes the console count again (its first,
   * or the first after a lapse), `again` when it already counted, `unknown` when the console is
   * not (or no longer) theirs.
   */
  async beat(id: string, userId: string, now: Date): Promise<'back' | 'again' | 'unknown'> {
    const { rows } = await this.pool.query<{ counted: boolean }>(
      `with before as (select id, last_seen from ${this.#consoles} where id = $1 and user_id = $2 for update)
       update ${this.#consoles} k set last_seen = greatest(k.last_seen, $3)
       from before where k.id = before.id
       returning coalesce(${this.#live('before', '$3')}, false) as counted`,
      [id, userId, now],
    );
    const row = rows[0];
    return !row ? 'unknown' : row.counted ? 'again' : 'back';
  }

  async close(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query(`delete from ${this.#consoles} where id = any($1)`, [ids]);
  }

  /** Ends the consoles of one signed-in session; returns their ids. */
  async closeSession(sessionHash: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `delete from ${this.#consoles} where session_hash = $1 returning id`,
      [sessionHash],
    );
    return rows.map((r) => r.id);
  }

  /** Ends the consoles of the streams opened with one personal token (by its id); returns their ids. */
  async closeToken(tokenId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `delete from ${this.#consoles}
        where token_hash in (select t.token_hash from ${this.#tokens} t where t.id = $1) returning id`,
      [tokenId],
    );
    return rows.map((r) => r.id);
  }

  /** Ends every console of a user; returns their ids. */
  async closeUser(userId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `delete from ${this.#consoles} where user_id = $1 returning id`,
      [userId],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Which of these consoles may go on: their row is there (not signed out, possibly on another
   * instance) and the session or personal token they signed in with is still valid (not ended,
   * revoked or expired). With `silentAfter`, a signed-in console (a browser tab, which answers
   * every ping) not heard from since then may not go on either: its stream is dead or its tab
   * frozen. A program's stream (no session) keeps the hour it has before its row is reaped.
   */
  async existing(ids: readonly string[], now: Date, silentAfter?: Date): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const { rows } = await this.pool.query<{ id: string }>(
      `select k.id from ${this.#consoles} k where k.id = any($1)
         and (k.session_hash is null or exists (select 1 from ${this.#sessions} s
           where s.token_hash = k.session_hash and s.expires_at > $2))
         and ($3::timestamptz is null or k.session_hash is null or coalesce(k.last_seen, k.opened_at) > $3)
         and (k.token_hash is null or exists (select 1 from ${this.#tokens} t
           where t.token_hash = k.token_hash and t.revoked_at is null
             and (t.expires_at is null or t.expires_at > $2)))`,
      [ids, now, silentAfter ?? null],
    );
    return new Set(rows.map((r) => r.id));
  }

  /** How many live consoles the user has now. */
  async connected(userId: string, now: Date): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(`select ${this.liveCountSql('$1', '$2')} as n`, [
      userId,
      now,
    ]);
    return Number(rows[0]?.n ?? 0);
  }

  /** Deletes rows abandoned long ago (a crashed instance's streams, a laptop closed overnight). */
  async reap(now: Date): Promise<void> {
    await this.pool.query(
      `delete from ${this.#consoles} where coalesce(last_seen, opened_at) < $1::timestamptz - interval '${REAP_AFTER_S} seconds'`,
      [now],
    );
  }
}

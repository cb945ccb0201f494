import type { Logger } from '@telecare/platform';
import type pg from 'pg';

/** The instance's connection that holds its slots, and its statements in turn. */
interface Session {
  readonly client: Promise<pg.PoolClient>;
  /** The last statement asked: the next waits for it (one statement at a time on a connection). */
  last: Promise<unknown>;
  /** Cut, failed or closed: PostgreSQL has ended its locks. */
  lost: boolean;
  /** Lost because PostgreSQL stopped answering on it (`Query read timeout`), not because it was cut. */
  stalled: boolean;
}

/** A statement that waited behind one on a session since lost. */
const lostError = () => new Error('Connection terminated: the read slots session was lost');

/**
 * A token's reports being read at once, counted across every instance of the service: each read
 * holds one of the token's `limit` slots, a PostgreSQL session-level advisory lock
 * `(hashtext(schema:reads:token), slot)`. One session per instance holds its slots, so an instance
 * that stops or crashes lets go of its slots with its connection, and a balancer sending a token's
 * reads to N instances admits `limit`, not N times it.
 *
 * A session's advisory locks are re-entrant, so the instance also keeps which slots it holds: two
 * of its own reads never try the same slot at once, and the session is asked only for the others.
 * When the session is lost, the reads it counted go on uncounted across instances (each instance
 * still bounds them) until they end; the next read opens another session.
 */
export class ReadSlots {
  /** Per token, the slots this instance holds or is asking for. */
  readonly #held = new Map<string, Set<number>>();
  #session: Session | undefined;
  readonly #log: Logger;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    readonly limit: number,
    logger: Logger,
  ) {
    this.#log = logger.child({ component: 'read-slots' });
  }

  /**
   * One of the token's slots, or undefined when every one is held (here or on another instance).
   * The slot is the caller's until it calls the release it is given. PostgreSQL down is thrown as
   * node-postgres says it (a 503 for the HTTP error handler).
   */
  async take(token: string): Promise<(() => Promise<void>) | undefined> {
    const mine = this.#held.get(token) ?? new Set<number>();
    this.#held.set(token, mine);
    const key = `${this.schema}:reads:${token}`;
    try {
      for (let slot = 0; slot < this.limit; slot++) {
        if (mine.has(slot)) continue;
        mine.add(slot);
        const taken = await this.#ask('select pg_try_advisory_lock(hashtext($1), $2) as ok', [
          key,
          slot,
        ]).catch((err: unknown) => {
          mine.delete(slot);
          throw err;
        });
        if (taken.ok) return () => this.#release(token, key, slot, taken.session);
        mine.delete(slot);
      }
      return undefined;
    } finally {
      if (mine.size === 0) this.#held.delete(token);
    }
  }

  /** Lets the session go: its slots go with it. */
  async close(): Promise<void> {
    const session = this.#session;
    if (!session) return;
    this.#session = undefined;
    session.lost = true;
    const client = await session.client.catch(() => undefined);
    // Destroyed, not given back to the pool: a connection kept would keep its locks.
    client?.release(true);
  }

  async #release(token: string, key: string, slot: number, session: Session): Promise<void> {
    const mine = this.#held.get(token);
    try {
      // A slot taken on a session since lost went with it.
      if (!session.lost)
        await this.#ask('select pg_advisory_unlock(hashtext($1), $2) as ok', [key, slot], false);
    } catch (err) {
      // A failed unlock drops the session, so the slot is not left held.
      this.#log.warn({ err: (err as Error).message }, 'read slot not unlocked: its session was dropped');
    } finally {
      mine?.delete(slot);
      if (mine?.size === 0) this.#held.delete(token);
    }
  }

  /**
   * One statement on the instance's session, in turn, opening one when there is none. A session
   * found cut (PostgreSQL restarted, the connection dropped while idle) is replaced once, at once:
   * its loss is not the caller's. One that stopped answering is not, for the statements that
   * waited on it either: a server that does not answer one connection is not asked on another
   * while the read waits.
   */
  async #ask(sql: string, values: unknown[], again = true): Promise<{ ok: boolean; session: Session }> {
    const opened = this.#session === undefined;
    const session = this.#session ?? this.#open();
    const turn = session.last.then(() => this.#run(session, sql, values));
    session.last = turn.catch(() => undefined);
    try {
      return { ok: await turn, session };
    } catch (err) {
      if (again && !opened && !session.stalled) return this.#ask(sql, values, false);
      throw err;
    }
  }

  async #run(session: Session, sql: string, values: unknown[]): Promise<boolean> {
    const client = await session.client;
    if (session.lost) throw lostError();
    try {
      const { rows } = await client.query<{ ok: boolean }>(sql, values);
      return rows[0]?.ok === true;
    } catch (err) {
      this.#lost(session, client, err);
      throw err;
    }
  }

  #open(): Session {
    const client = this.pool.connect();
    const session: Session = { client, last: Promise.resolve(), lost: false, stalled: false };
    this.#session = session;
    client.then(
      (c) => c.on('error', (err) => this.#lost(session, c, err)),
      () => {
        // Not connected (PostgreSQL down): the statements waiting fail with that; the next read tries again.
        session.lost = true;
        if (this.#session === session) this.#session = undefined;
      },
    );
    return session;
  }

  /** The session failed: its locks are gone (PostgreSQL ends them with it); the next read opens another. */
  #lost(session: Session, client: pg.PoolClient, err: unknown): void {
    if (session.lost) return;
    session.lost = true;
    session.stalled = /^Query read timeout/.test((err as Error).message);
    if (this.#session === session) this.#session = undefined;
    const reads = [...this.#held.values()].reduce((n, slots) => n + slots.size, 0);
    this.#log.warn(
      { err: (err as Error).message, reads },
      'read slots session lost: the reports being read are no longer counted across instances',
    );
    client.release(err instanceof Error ? err : true);
  }
}

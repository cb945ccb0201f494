import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { Presence, HelplineRole as Role } from '@telecare/contracts';
import { hashToken, type Pool, RefusedError, type TokenRecord, TokenStore } from '@telecare/platform';
import { z } from 'zod';
import type { ConsoleStore } from './presence.ts';
import type { Db } from './store/context.ts';

export { HELPLINE_ROLES as ROLES, PRESENCE } from '@telecare/contracts';
export { Presence, Role };

/** Who is making a request: a person (session or token) or the platform's admin token. */
export interface Principal {
  readonly id: string;
  readonly username: string;
  readonly name: string;
  readonly role: Role;
  /** The console session the request came with (none for a token). */
  readonly session?: SessionTimes;
}

/** When a console session ends: unused (`expiresAt`, moved on by each use) and at the latest (`endsAt`). */
export interface SessionTimes {
  readonly signedInAt: Date | null;
  /** Unused until then, it ends; each request or console heartbeat moves this on, up to `endsAt`. */
  readonly expiresAt: Date;
  /** The latest it lasts, however busy: SESSION_MAX_S after sign-in. */
  readonly endsAt: Date;
}

/** How long console sessions last: unused (`idleSeconds`, sliding) and at most from sign-in. */
export interface SessionPolicy {
  readonly idleSeconds: number;
  readonly maxSeconds: number;
}

/**
 * A session is written again only when its end would move on by more than this: a console
 * heartbeats every few seconds, and each need not be a write to the sessions table.
 */
const RENEW_STEP_S = 30;

/** The admin token from the environment acts as this principal in the audit trail. */
export const ADMIN_PRINCIPAL: Principal = {
  id: 'admin',
  username: 'admin',
  name: 'Admin token',
  role: 'admin',
};

export interface User {
  readonly id: string;
  readonly username: string;
  readonly name: string;
  readonly role: Role;
  /**
   * Presence as it is: what the person chose, except `away` while none of their consoles is
   * connected (tab closed, network lost, signed out). Null for someone who never set one.
   */
  readonly presence: Presence | null;
  /** What the person (or a supervisor) chose. */
  readonly chosenPresence: Presence | null;
  /** Consoles heard from within the presence timeout. */
  readonly consoles: number;
  /** The last heartbeat of any of their consoles. */
  readonly lastSeenAt: string | null;
  /** Their phone or softphone extension, which click-to-call rings first. */
  readonly extension: string | null;
}

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: object,
) => Promise<Buffer>;
// N=2^14, r=8: about 16 MB and tens of milliseconds per hash, the OWASP-recommended floor for scrypt.
const SCRYPT = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const KEY_LENGTH = 32;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, KEY_LENGTH, SCRYPT);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem,
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** Tokens and session ids are stored as their SHA-256, so the database never holds a usable one. */
/** Sessions are kept as their hash too, as tokens are. */
export const tokenHash = hashToken;

const newUserId = (now: Date): string => `usr_${now.getTime().toString(36)}${randomBytes(6).toString('hex')}`;

const UserRow = z.object({
  id: z.string(),
  username: z.string(),
  display_name: z.string(),
  role: Role,
  status: Presence.nullable().optional(),
  consoles: z.coerce.number().int().optional(),
  last_seen: z.date().nullable().optional(),
  extension: z.string().nullable().optional(),
});
const toUser = (row: unknown): User => {
  const r = UserRow.parse(row);
  const chosen = r.status ?? null;
  const consoles = r.consoles ?? 0;
  return {
    id: r.id,
    username: r.username,
    name: r.display_name,
    role: r.role,
    presence: chosen === null ? null : consoles > 0 ? chosen : 'away',
    chosenPresence: chosen,
    consoles,
    lastSeenAt: r.last_seen?.toISOString() ?? null,
    extension: r.extension ?? null,
  };
};

/** A new user's name is already someone's (409). */
export class UsernameTakenError extends RefusedError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(409, 'conflict', message);
    if (options.cause !== undefined) this.cause = options.cause;
  }
}

/** Users, their tokens and sessions, and operator presence, in the helpline schema. */
export class PeopleStore {
  readonly #t: { users: string; sessions: string; presence: string; consoles: string };
  readonly #tokens: TokenStore;
  readonly #userSelect: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    /** Whose consoles count as connected, and when "now" is (the service's clock). */
    private readonly live: { readonly consoles: ConsoleStore; readonly now: () => Date },
    /** How long console sessions last. */
    readonly sessions: SessionPolicy = { idleSeconds: 3600, maxSeconds: 24 * 3600 },
  ) {
    const q = (table: string) => `"${schema}".${table}`;
    this.#t = {
      users: q('users'),
      sessions: q('sessions'),
      presence: q('presence'),
      consoles: q('consoles'),
    };
    this.#tokens = new TokenStore(pool, schema, {
      secretPrefix: 'tok_',
      newId: () => `tkn_${randomBytes(12).toString('hex')}`,
    });
    // $1 is always "now": the user's presence is what they chose only while a console is connected.
    this.#userSelect = `select u.id, u.username, u.display_name, u.role, p.status, u.extension,
        ${live.consoles.liveCountSql('u.id', '$1')} as consoles, ${live.consoles.lastSeenSql('u.id')} as last_seen
      from ${this.#t.users} u left join ${this.#t.presence} p on p.user_id = u.id`;
  }

  async createUser(
    input: { username: string; name: string; role: Role; password: string },
    now: Date,
  ): Promise<User> {
    const hash = await hashPassword(input.password);
    const id = newUserId(now);
    try {
      await this.pool.query(
        `insert into ${this.#t.users} (id, username, display_name, role, password_hash, created_at)
         values ($1, $2, $3, $4, $5, $6)`,
        [id, input.username, input.name, input.role, hash, now],
      );
    } catch (err) {
      if (typeof err === 'object' && err !== null && 'code' in err && err.code === '23505')
        throw new UsernameTakenError(`the username ${input.username} is taken`, { cause: err });
      throw err;
    }
    return {
      id,
      username: input.username,
      name: input.name,
      role: input.role,
      presence: null,
      chosenPresence: null,
      consoles: 0,
      lastSeenAt: null,
      extension: null,
    };
  }

  /** Sets (or clears, with null) the person's phone extension. False when there is no such user. */
  async setExtension(userId: string, extension: string | null): Promise<boolean> {
    const { rowCount } = await this.pool.query(`update ${this.#t.users} set extension = $2 where id = $1`, [
      userId,
      extension,
    ]);
    return rowCount === 1;
  }

  async listUsers(): Promise<User[]> {
    const { rows } = await this.pool.query(`${this.#userSelect} order by u.username`, [this.live.now()]);
    return rows.map(toUser);
  }

  async getUser(id: string): Promise<User | undefined> {
    const { rows } = await this.pool.query(`${this.#userSelect} where u.id = $2`, [this.live.now(), id]);
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  /** The user for a username and password, or undefined; the same work is done for an unknown name. */
  /**
   * Creates the first admin from the environment unless a user with that username exists (an
   * existing user is never changed: the password set in the console stays). True when created.
   */
  async seedAdmin(username: string, password: string, now: Date): Promise<boolean> {
    const { rows } = await this.pool.query(`select 1 from ${this.#t.users} where username = $1`, [username]);
    if (rows.length > 0) return false;
    try {
      await this.createUser({ username, name: 'Administrator', role: 'admin', password }, now);
      return true;
    } catch (err) {
      // Another instance starting at the same moment created it.
      if (err instanceof UsernameTakenError) return false;
      throw err;
    }
  }

  async checkPassword(username: string, password: string): Promise<User | undefined> {
    const { rows } = await this.pool.query<{ password_hash: string; disabled_at: Date | null }>(
      `select id, username, display_name, role, password_hash, disabled_at from ${this.#t.users} where username = $1`,
      [username],
    );
    const row = rows[0];
    // An unknown username still costs a hash, so timing does not tell which usernames exist.
    const ok = await verifyPassword(password, row?.password_hash ?? DUMMY_HASH);
    // A disabled user is answered as a wrong password: the answer does not say the account exists.
    return row && ok && row.disabled_at === null ? toUser(row) : undefined;
  }

  /** Disables or enables a user; disabling ends their sessions (their tokens stop working too). */
  async setDisabled(userId: string, disabled: boolean, now: Date): Promise<boolean> {
    const { rowCount } = await this.pool.query(`update ${this.#t.users} set disabled_at = $2 where id = $1`, [
      userId,
      disabled ? now : null,
    ]);
    if (!rowCount) return false;
    if (disabled) {
      await this.endSessionsOf(userId);
      // A disabled operator must not be offered the next case. Under the user row lock, as every
      // presence change (see `setPresence`).
      await this.pool.query(
        `update ${this.#t.presence} p set status = 'away', since = $2
           from (select id from ${this.#t.users} where id = $1 for no key update) who where p.user_id = who.id`,
        [userId, now],
      );
    }
    return true;
  }

  /** Sets a new password and ends the user's sessions, except `keepSession` (the one changing it). */
  async setPassword(userId: string, password: string, keepSession?: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `update ${this.#t.users} set password_hash = $2 where id = $1`,
      [userId, await hashPassword(password)],
    );
    if (!rowCount) return false;
    await this.endSessionsOf(userId, keepSession);
    return true;
  }

  /** Ends every console session of a user (but `keepSession`); the number ended. */
  async endSessionsOf(userId: string, keepSession?: string): Promise<number> {
    const { rowCount } = await this.pool.query(
      `delete from ${this.#t.sessions} where user_id = $1 and token_hash <> $2`,
      [userId, keepSession ? tokenHash(keepSession) : ''],
    );
    return rowCount ?? 0;
  }

  /** Whether the password is the user's current one (for a change that asks for it). */
  async passwordMatches(userId: string, password: string): Promise<boolean> {
    const { rows } = await this.pool.query<{ password_hash: string }>(
      `select password_hash from ${this.#t.users} where id = $1`,
      [userId],
    );
    return verifyPassword(password, rows[0]?.password_hash ?? DUMMY_HASH);
  }

  /**
   * Signs a person in: a new session, unused for `idleSeconds` it ends, and it ends `maxSeconds`
   * from now whatever happens. With `replacing` (the session cookie the sign-in came with, the
   * console signing in again before its session ends), that session of the same person ends and
   * its consoles are carried over to the new one in the same statement: their streams, presence and
   * cases go on as they were. A session of someone else, or one already over, is left alone.
   */
  async createSession(
    userId: string,
    now: Date,
    replacing?: string,
  ): Promise<{ token: string; times: SessionTimes; replaced: boolean }> {
    const token = randomBytes(32).toString('base64url');
    const { idleSeconds, maxSeconds } = this.sessions;
    const endsAt = new Date(now.getTime() + maxSeconds * 1000);
    const expiresAt = new Date(Math.min(endsAt.getTime(), now.getTime() + idleSeconds * 1000));
    await this.pool.query(`delete from ${this.#t.sessions} where expires_at < $1`, [now]);
    await this.pool.query(
      `insert into ${this.#t.sessions} (token_hash, user_id, expires_at, signed_in_at, ends_at)
       values ($1, $2, $3, $4, $5)`,
      [tokenHash(token), userId, expiresAt, now, endsAt],
    );
    let replaced = false;
    if (replacing) {
      const { rows } = await this.pool.query(
        `with old as (
           delete from ${this.#t.sessions} where token_hash = $1 and user_id = $2 and expires_at > $3
           returning token_hash),
         moved as (
           update ${this.#t.consoles} set session_hash = $4
            where session_hash in (select token_hash from old) returning id)
         select (select count(*) from old)::int as old, (select count(*) from moved)::int as moved`,
        [tokenHash(replacing), userId, now, tokenHash(token)],
      );
      replaced = (rows[0] as { old: number } | undefined)?.old === 1;
    }
    return { token, times: { signedInAt: now, expiresAt, endsAt }, replaced };
  }

  async endSession(token: string): Promise<void> {
    await this.pool.query(`delete from ${this.#t.sessions} where token_hash = $1`, [tokenHash(token)]);
  }

  /**
   * The person a live session is for, and the session renewed: used now, it lasts `idleSeconds`
   * more, never past its `ends_at`. Read and renewed in one statement, and only a session that is
   * still there, unexpired, of a user not disabled: an ended, expired or disabled one is never
   * brought back. A session from before renewal (no `ends_at`) ends at its `expires_at`.
   */
  sessionUser(token: string, now: Date): Promise<Principal | undefined> {
    return this.sessionUserByHash(tokenHash(token), now);
  }

  /** `sessionUser` for the session whose token hashes to `hash` (what a stream ticket keeps). */
  async sessionUserByHash(hash: string, now: Date): Promise<Principal | undefined> {
    const idle = `$2::timestamptz + interval '${Math.trunc(this.sessions.idleSeconds)} seconds'`;
    const { rows } = await this.pool.query(
      `with live as (
         select s.token_hash, s.signed_in_at, s.expires_at, coalesce(s.ends_at, s.expires_at) as ends_at,
                u.id, u.username, u.display_name, u.role
           from ${this.#t.sessions} s join ${this.#t.users} u on u.id = s.user_id
          where s.token_hash = $1 and s.expires_at > $2 and u.disabled_at is null),
       renewed as (
         update ${this.#t.sessions} t set expires_at = least(live.ends_at, ${idle})
           from live
          where t.token_hash = live.token_hash and t.expires_at > $2
            and least(live.ends_at, ${idle}) > t.expires_at + interval '${RENEW_STEP_S} seconds'
          returning t.expires_at)
       select live.*, coalesce((select expires_at from renewed), live.expires_at) as renewed_until from live`,
      [hash, now],
    );
    const row = rows[0] as
      | { signed_in_at: Date | null; renewed_until: Date; ends_at: Date; [k: string]: unknown }
      | undefined;
    if (!row) return undefined;
    const user = toUser(row);
    return {
      id: user.id,
      username: user.username,
      name: user.name,
      role: user.role,
      session: { signedInAt: row.signed_in_at, expiresAt: row.renewed_until, endsAt: row.ends_at },
    };
  }

  /** A personal token that acts as the user and stops working `expiresInDays` from now, or when revoked. */
  async createToken(
    userId: string,
    label: string,
    expiresInDays: number,
    now: Date,
  ): Promise<{ token: string; id: string; expiresAt: string }> {
    const expiresAt = new Date(now.getTime() + expiresInDays * 86_400_000);
    const issued = await this.#tokens.issue({ subject: userId, label, expiresAt }, now);
    return { token: issued.token, id: issued.id, expiresAt: expiresAt.toISOString() };
  }

  /** Revokes a token by its id; false when there is no such live token. */
  revokeToken(id: string, now: Date): Promise<boolean> {
    return this.#tokens.revoke(id, now);
  }

  /** The user a live personal token acts as, unless that user is disabled. */
  async tokenUser(token: string, now: Date = new Date()): Promise<Principal | undefined> {
    return this.#subjectOf(await this.#tokens.find(token, now));
  }

  /** `tokenUser` for the token whose secret hashes to `hash` (what a stream ticket keeps). */
  async tokenUserByHash(hash: string, now: Date): Promise<Principal | undefined> {
    return this.#subjectOf(await this.#tokens.findByHash(hash, now));
  }

  async #subjectOf(found: TokenRecord | undefined): Promise<Principal | undefined> {
    if (!found?.subject) return undefined;
    const { rows } = await this.pool.query(
      `select id, username, display_name, role from ${this.#t.users} where id = $1 and disabled_at is null`,
      [found.subject],
    );
    return rows[0] ? toUser(rows[0]) : undefined;
  }

  /**
   * Sets a presence under the person's user row lock: a supervisor's reassign holds that row while
   * it checks they are not away and moves an accepted case to them, so a change to away either
   * comes before (the reassign is refused) or after it has committed (and the case is found and
   * handed back by the caller).
   */
  async setPresence(userId: string, status: Presence, now: Date, db: Db = this.pool): Promise<void> {
    await db.query(
      `with who as (select id from ${this.#t.users} where id = $1 for no key update)
       insert into ${this.#t.presence} (user_id, status, since) select who.id, $2, $3 from who
       on conflict (user_id) do update set status = excluded.status,
         since = case when ${this.#t.presence}.status = excluded.status then ${this.#t.presence}.since else excluded.since end`,
      [userId, status, now],
    );
  }
}

// A valid hash of a random password, verified against when the username is unknown.
const DUMMY_HASH = await hashPassword(randomBytes(16).toString('hex'));

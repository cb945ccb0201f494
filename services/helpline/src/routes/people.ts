import { randomUUID } from 'node:crypto';
import type { ApiError, HELPLINE_PEOPLE_ROUTES } from '@telecare/contracts';
import {
  attemptAll,
  type FastifyRequest,
  forgetAttempt,
  InvalidRequestError,
  RateLimitedError,
  type RouteHandlers,
  UnavailableError,
} from '@telecare/platform';
import { can, SESSION_COOKIE } from '../auth.ts';
import { ForbiddenError } from '../errors.ts';
import { passwordProblem } from '../password-rule.ts';
import { type SessionTimes, tokenHash } from '../people.ts';
import { overTls } from '../web-security.ts';
import { type RouteContext, releaseCasesOf, withinLimit } from './context.ts';

type Routes = typeof HELPLINE_PEOPLE_ROUTES;

/** A session's times as the API says them. */
export const sessionView = (t: SessionTimes) => ({
  signedInAt: t.signedInAt?.toISOString() ?? null,
  expiresAt: t.expiresAt.toISOString(),
  endsAt: t.endsAt.toISOString(),
});

/** A password the rule refuses, as a 400 naming the field. */
const checkPassword = (password: string, personal: readonly string[]) => {
  const problem = passwordProblem(password, personal);
  if (problem) throw new InvalidRequestError([{ path: 'password', message: problem }]);
};

/**
 * Signing in and out, the people of the helpline (an admin creates, disables and enables them,
 * sets their passwords and ends their sessions), personal tokens for programs, and a person's own
 * password and phone extension.
 */
export function peopleHandlers(ctx: RouteContext): RouteHandlers<Routes> {
  const { deps, now, who } = ctx;
  const cookie = (req: FastifyRequest, value: string, maxAge: number): string =>
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${
      deps.cookieSecure === 'always' || overTls(req) ? '; Secure' : ''
    }`;
  // Sessions ended by an admin end that person's consoles too, at once: they are no longer there,
  // so an offer to them moves on now rather than when their console's heartbeat times out.
  const endConsolesOf = async (userId: string) => {
    const ended = await deps.consoles.closeUser(userId);
    deps.streams.endConsoles(ended);
    await releaseCasesOf(deps, userId, now());
    return ended.length;
  };
  /**
   * One guess at `username`'s password from `address`: counted as a failure of both before the
   * password is checked (in PostgreSQL, every instance together), so guesses sent at once to
   * several instances cannot all pass a count that has not seen them yet; a right password takes
   * it back and forgets the username's failures. A locked name or address learns nothing, right
   * password or not: `lockedForS` says how long it waits. Without PostgreSQL the count cannot be
   * read, and the guess is refused (503) rather than let through uncounted.
   */
  const guess = async <T>(
    username: string,
    address: string,
    check: () => Promise<T | undefined>,
  ): Promise<{ readonly lockedForS: number; readonly found?: T | undefined }> => {
    const user = { limit: deps.loginLimits.user, person: username };
    const from = { limit: deps.loginLimits.address, person: address };
    const key = randomUUID();
    const decision = await attemptAll([user, from], key).catch((err: unknown) => {
      deps.logger.error({ err, clientIp: address }, 'sign-in refused: failed sign-ins cannot be counted');
      throw new UnavailableError(
        'sign-in is unavailable for now (failed sign-ins cannot be counted); try again shortly',
      );
    });
    if (!decision.allowed) return { lockedForS: decision.retryAfterS };
    let found: T | undefined;
    try {
      found = await check();
    } catch (err) {
      await forgetAttempt([user, from], key).catch(() => undefined);
      throw err;
    }
    if (found !== undefined) await forgetAttempt([{ ...user, whole: true }, from], key);
    return { lockedForS: 0, found };
  };
  /** An admin's action on a user: the user must exist; the timers run at once after it. */
  const userAction = async <R extends Record<string, unknown>>(
    action: string,
    req: FastifyRequest & { params: { id: string } },
    change: (userId: string) => Promise<R>,
  ) => {
    const { id } = req.params;
    if (!(await deps.people.getUser(id)))
      throw new InvalidRequestError([{ path: 'id', message: `no user ${id}` }]);
    const result = await change(id);
    deps.logger.info({ userId: id, by: who(req).id, action }, 'user changed');
    deps.scheduler.poke();
    return { userId: id, ...result };
  };

  return {
    login: async (req, reply) => {
      const body = req.body;
      const address = req.ip;
      const userKey = body.username;
      const { lockedForS: wait, found: user } = await guess(userKey, address, () =>
        deps.people.checkPassword(body.username, body.password),
      );
      if (wait > 0) {
        deps.metrics.logins.inc({ outcome: 'locked' });
        deps.logger.warn(
          { username: userKey, clientIp: address, retryAfterS: wait },
          'sign-in refused: too many failures',
        );
        return reply
          .code(429)
          .header('retry-after', String(wait))
          .send({
            error: 'rate-limited',
            message: `too many failed sign-ins; try again in ${wait} s`,
          } satisfies ApiError);
      }
      if (!user) {
        deps.metrics.logins.inc({ outcome: 'refused' });
        // `clientIp`, not `address`: the logger redacts `address` as a postal address.
        deps.logger.warn({ username: userKey, clientIp: address }, 'sign-in failed');
        return reply
          .code(401)
          .send({ error: 'unauthorized', message: 'wrong username or password' } satisfies ApiError);
      }
      // A console signing in again before its session ends sends the cookie it has: that session
      // is replaced, and its consoles (streams, presence, the cases held) go on under the new one.
      const { token, times, replaced } = await deps.people.createSession(
        user.id,
        now(),
        deps.auth.sessionToken(req),
      );
      deps.metrics.logins.inc({ outcome: 'ok' });
      deps.logger.info({ userId: user.id, role: user.role, replaced }, 'signed in');
      // An operator who signs in is there to take calls; one still busy with a case stays busy.
      if (user.role === 'operator' && deps.presenceOnLogin !== 'keep') {
        const current = (await deps.people.getUser(user.id))?.chosenPresence;
        if (current !== 'busy') {
          await deps.people.setPresence(user.id, deps.presenceOnLogin, now());
          deps.scheduler.poke();
        }
      }
      // The cookie may live as long as the session can; the helpline decides when it is over.
      reply.header('set-cookie', cookie(req, token, deps.people.sessions.maxSeconds));
      return { user: (await deps.people.getUser(user.id)) ?? user, session: sessionView(times) };
    },

    // Signing out ends this session's consoles at once (their streams too), and someone with no
    // other console left is away: an offer to them moves on now, not when it times out.
    logout: async (req, reply) => {
      const token = deps.auth.sessionToken(req);
      if (token) {
        const at = now();
        const user = await deps.people.sessionUser(token, at);
        const ended = await deps.consoles.closeSession(tokenHash(token));
        await deps.people.endSession(token);
        deps.streams.endConsoles(ended);
        // The cases first, then the presence: away with a case still accepted, a tick of the timers
        // meanwhile (any instance's) sends it back as "went away", not "signed out".
        if (user) await releaseCasesOf(deps, user.id, at);
        if (user && can(user.role, 'presence') && (await deps.consoles.connected(user.id, at)) === 0)
          await deps.people.setPresence(user.id, 'away', at);
        if (user) deps.logger.info({ userId: user.id, consoles: ended.length }, 'signed out');
        deps.scheduler.poke();
      }
      reply.header('set-cookie', cookie(req, '', 0));
      return {};
    },

    me: async (req) => {
      const p = who(req);
      const user = await deps.people.getUser(p.id);
      const { session, ...principal } = p;
      return {
        ...(user ?? {
          ...principal,
          presence: null,
          chosenPresence: null,
          consoles: 0,
          lastSeenAt: null,
          extension: null,
        }),
        session: session ? sessionView(session) : null,
      };
    },

    consoleLinks: async () => ({ reportsUrl: deps.reportsUrl ?? null }),

    // Everyone's presence, consoles and last heartbeat: bounded per person (STAFF_LIST_PER_MINUTE),
    // so a stolen session cannot watch the staff in a loop.
    listUsers: async (req) => {
      await withinLimit(
        deps,
        who(req),
        {
          action: 'read the staff list',
          what: 'the staff list was asked',
          limit: deps.staffListLimit,
          refused: deps.metrics.staffListRefused,
          event: 'staff-list-rate-limited',
        },
        now(),
      );
      return { users: await deps.people.listUsers() };
    },

    createUser: async (req) => {
      const body = req.body;
      checkPassword(body.password, [body.username, body.name]);
      const user = await deps.people.createUser(body, now());
      deps.logger.info({ userId: user.id, role: user.role, by: who(req).id }, 'user created');
      return user;
    },

    issueToken: async (req) => {
      const body = req.body;
      if (!(await deps.people.getUser(body.userId)))
        throw new InvalidRequestError([{ path: 'userId', message: `no user ${body.userId}` }]);
      const issued = await deps.people.createToken(body.userId, body.label, body.expiresInDays, now());
      deps.logger.info({ userId: body.userId, tokenId: issued.id, by: who(req).id }, 'token issued');
      return { ...issued, userId: body.userId, label: body.label };
    },

    revokeToken: async (req) => {
      const { id } = req.params;
      if (!(await deps.people.revokeToken(id, now())))
        throw new InvalidRequestError([{ path: 'id', message: `no live token ${id}` }]);
      // Its live streams end now here; on another instance, at that instance's next ping round.
      const ended = await deps.consoles.closeToken(id);
      deps.streams.endConsoles(ended);
      deps.logger.info({ tokenId: id, by: who(req).id, consoles: ended.length }, 'token revoked');
      return { id, revoked: true as const };
    },

    disableUser: (req) =>
      userAction('disable', req, async (id) => {
        if (id === who(req).id)
          throw new InvalidRequestError([{ path: 'id', message: 'an admin cannot disable themselves' }]);
        await deps.people.setDisabled(id, true, now());
        return { disabled: true, consolesEnded: await endConsolesOf(id) };
      }),

    enableUser: (req) =>
      userAction('enable', req, async (id) => {
        await deps.people.setDisabled(id, false, now());
        return { disabled: false };
      }),

    endSessions: (req) =>
      userAction('end-sessions', req, async (id) => {
        const sessionsEnded = await deps.people.endSessionsOf(id);
        const consolesEnded = await endConsolesOf(id);
        const target = await deps.people.getUser(id);
        if (target && can(target.role, 'presence')) await deps.people.setPresence(id, 'away', now());
        return { sessionsEnded, consolesEnded };
      }),

    setPassword: (req) =>
      userAction('password', req, async (id) => {
        const target = await deps.people.getUser(id);
        checkPassword(req.body.password, [target?.username ?? '', target?.name ?? '']);
        await deps.people.setPassword(id, req.body.password);
        return { passwordChanged: true as const, consolesEnded: await endConsolesOf(id) };
      }),

    // Says whether `current` is right, as sign-in does, so it spends the same failures: a leaked
    // token or an open session is no way past the sign-in lock to guess the person's password.
    changePassword: async (req) => {
      const body = req.body;
      const p = who(req);
      const address = req.ip;
      const { lockedForS: wait, found: matches } = await guess(p.username, address, async () =>
        (await deps.people.passwordMatches(p.id, body.current)) ? true : undefined,
      );
      if (wait > 0) {
        deps.logger.warn(
          { userId: p.id, clientIp: address, retryAfterS: wait },
          'password change refused: too many failures',
        );
        throw new RateLimitedError('check your password', wait);
      }
      if (!matches) {
        deps.logger.warn({ userId: p.id, clientIp: address }, 'password change: wrong current password');
        throw new InvalidRequestError([{ path: 'current', message: 'not your current password' }]);
      }
      checkPassword(body.password, [p.username, p.name]);
      // The session changing it stays signed in; every other session of this person ends.
      await deps.people.setPassword(p.id, body.password, deps.auth.sessionToken(req));
      deps.logger.info({ userId: p.id }, 'password changed');
      return { userId: p.id, passwordChanged: true as const };
    },

    // A person's phone extension (click-to-call rings it first): their own, or anyone's for an admin.
    setExtension: async (req) => {
      const { id } = req.params;
      const { extension } = req.body;
      const p = who(req);
      if (p.id !== id && p.role !== 'admin')
        throw new ForbiddenError(p.role, ['admin'], "setting someone else's extension");
      if (!(await deps.people.setExtension(id, extension)))
        throw new InvalidRequestError([{ path: 'id', message: `no user ${id}` }]);
      deps.logger.info({ userId: id, by: p.id }, 'extension set');
      return { userId: id, extension };
    },
  };
}

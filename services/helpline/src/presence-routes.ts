import type { FastifyInstance, FastifyReply, FastifyRequest } from '@telecare/platform';
import type { z } from 'zod';
import { type ApiError, HeartbeatBody, PresenceBody, UserIdParams } from './api.ts';
import { can, type Permission } from './auth.ts';
import type { Principal } from './people.ts';
import type { RouteDeps } from './routes.ts';

/** What the route modules share from `registerRoutes`: the guard, the caller, body parsing, the clock. */
export interface RouteHelpers {
  readonly guard: (
    permission: Permission,
  ) => (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;
  readonly who: (req: FastifyRequest) => Principal;
  readonly parse: <S extends z.ZodType>(schema: S, value: unknown) => z.infer<S>;
  readonly now: () => Date;
}

const notFound = (reply: FastifyReply, message: string) =>
  reply.code(404).send({ error: 'not-found', message } satisfies ApiError);

/**
 * Presence: a person's own choice, the heartbeat that proves their console is there, and the
 * supervisor's controls over someone else (set away, sign out everywhere). Every change asks the
 * timers to run now, so an offer to someone who has gone moves on at once.
 */
export function registerPresenceRoutes(app: FastifyInstance, deps: RouteDeps, h: RouteHelpers): void {
  const { guard, who, parse, now } = h;

  app.put('/api/presence', { preHandler: guard('presence') }, async (req) => {
    const body = parse(PresenceBody, req.body);
    const p = who(req);
    await deps.people.setPresence(p.id, body.status, now());
    deps.scheduler.poke();
    return { userId: p.id, status: body.status };
  });

  // A console answers each ping of its stream with this. The first heartbeat (and the first after
  // a lapse) makes its person present again, so the timers run at once to offer them the queue.
  app.post('/api/presence/heartbeat', { preHandler: guard('signed-in') }, async (req, reply) => {
    const body = parse(HeartbeatBody, req.body);
    const p = who(req);
    const beat = await deps.consoles.beat(body.console, p.id, now());
    if (beat === 'unknown') return notFound(reply, 'no such console of yours; reconnect the stream');
    if (beat === 'back') deps.scheduler.poke();
    const user = await deps.people.getUser(p.id);
    return {
      console: body.console,
      presence: user?.presence ?? null,
      chosenPresence: user?.chosenPresence ?? null,
    };
  });

  const person = async (req: FastifyRequest) => {
    const { id } = parse(UserIdParams, req.params);
    const user = await deps.people.getUser(id);
    return user && can(user.role, 'presence') ? user : undefined;
  };

  app.put('/api/users/:id/presence', { preHandler: guard('manage-presence') }, async (req, reply) => {
    const body = parse(PresenceBody, req.body);
    const user = await person(req);
    if (!user) return notFound(reply, 'no operator or supervisor with that id');
    await deps.people.setPresence(user.id, body.status, now());
    deps.logger.info(
      { userId: user.id, status: body.status, by: who(req).id },
      'presence set by a supervisor',
    );
    deps.scheduler.poke();
    return { userId: user.id, status: body.status };
  });

  // Ends every session of the person and every console they hold, on every instance (the others
  // end theirs at their next ping round), and sets them away. Program tokens are not sessions and
  // keep working.
  app.post('/api/users/:id/logout', { preHandler: guard('manage-presence') }, async (req, reply) => {
    const user = await person(req);
    if (!user) return notFound(reply, 'no operator or supervisor with that id');
    const at = now();
    const sessionsEnded = await deps.people.endSessionsOf(user.id);
    const ended = await deps.consoles.closeUser(user.id);
    deps.streams.endConsoles(ended);
    await deps.people.setPresence(user.id, 'away', at);
    deps.logger.info(
      { userId: user.id, sessions: sessionsEnded, consoles: ended.length, by: who(req).id },
      'signed out by a supervisor',
    );
    deps.scheduler.poke();
    return { userId: user.id, sessionsEnded, consolesEnded: ended.length };
  });
}

import type { HELPLINE_STREAM_ROUTES, HELPLINE_SUPERVISOR_ROUTES } from '@telecare/contracts';
import type { RouteHandlers } from '@telecare/platform';
import { ADMIN_PRINCIPAL } from '../people.ts';
import { type RouteContext, withinLimit } from './context.ts';

/**
 * What a supervisor watches: who is there and what they hold, the queue by priority, the answer
 * figures (alarm calls only), the calls past a target, misuse and unmapped panel codes.
 */
export function supervisorHandlers(ctx: RouteContext): RouteHandlers<typeof HELPLINE_SUPERVISOR_ROUTES> {
  const { deps, now } = ctx;
  return {
    securityEvents: async (req) => ({ events: await deps.security.list(req.query.limit) }),

    // A commissioner (another organisation) gets the figures without `byOperator`: each member of
    // staff's calls and answer times by name is not an aggregate.
    answerStats: async (req) => {
      const to = now();
      const stats = await deps.store.answerStats(
        new Date(to.getTime() - req.query.hours * 3600_000),
        new Date(to.getTime() + 1),
        to,
      );
      return ctx.who(req).role === 'commissioner' ? { ...stats, byOperator: [] } : stats;
    },

    // The heaviest read a person can ask (people, queue, figures, breaches, EVENTS' unmapped codes):
    // bounded per person (OVERVIEW_PER_MINUTE); a supervisor's console asks every 5 s.
    supervisorOverview: async (req) => {
      const { hours } = req.query;
      const at = now();
      await withinLimit(
        deps,
        ctx.who(req),
        {
          action: "read the supervisor's overview",
          what: "the supervisor's overview was asked",
          limit: deps.overviewLimit,
          refused: deps.metrics.overviewRefused,
          event: 'overview-rate-limited',
        },
        at,
      );
      const from = new Date(at.getTime() - hours * 3600_000);
      const [users, holders, operatorGone, queue, answer, breaches, securityEvents, unmappedCodes] =
        await Promise.all([
          deps.people.listUsers(),
          deps.store.holders(),
          deps.store.operatorGone(),
          deps.store.queueOverview(at),
          deps.store.answerStats(from, new Date(at.getTime() + 1), at),
          deps.store.breaches(at),
          deps.security.list(20),
          deps.unmapped.read(at, hours),
        ]);
      return {
        at: at.toISOString(),
        operators: users
          .filter((u) => u.role === 'operator' || u.role === 'supervisor')
          .map((u) => ({
            ...u,
            offered: holders.get(u.id)?.offered ?? [],
            working: holders.get(u.id)?.working ?? [],
          })),
        queue,
        answer,
        breaches,
        operatorGone,
        securityEvents,
        unmappedCodes,
      };
    },
  };
}

/**
 * The live stream. A person's stream is one of their consoles: it says hello with the console id,
 * pings, and the console's heartbeats keep its person present (see stream.ts).
 */
export function streamHandlers(ctx: RouteContext): RouteHandlers<typeof HELPLINE_STREAM_ROUTES> {
  const { deps, now, who, ticketOf } = ctx;
  return {
    streamTicket: async (req) => {
      const { ticket, expiresAt } = await deps.auth.issueTicket(req, who(req));
      return { ticket, expiresAt: expiresAt.toISOString() };
    },
    stream: async (req, reply) => {
      const header = req.headers['last-event-id'];
      const lastId = typeof header === 'string' && /^\d+$/.test(header) ? Number(header) : undefined;
      const principal = who(req);
      const release = deps.streams.reserve(principal.id);
      let consoleId: string | undefined;
      try {
        if (principal.id !== ADMIN_PRINCIPAL.id) {
          // A stream opened with a bearer token is a program's, not a session's: it lasts as long
          // as the token (revoked or expired, the stream ends), as a session's lasts as the session.
          // One opened with a ticket lasts as the token or session that asked for the ticket.
          const bound = ticketOf(req) ?? deps.auth.bindingOf(req, principal);
          consoleId = await deps.consoles.open(
            principal.id,
            { sessionHash: bound.sessionHash, tokenHash: bound.tokenHash },
            now(),
          );
        }
      } catch (err) {
        release();
        throw err;
      }
      reply.hijack();
      await deps.streams.serve(reply.raw, { principalId: principal.id, consoleId, release }, lastId);
    },
  };
}

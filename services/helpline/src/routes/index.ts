import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HELPLINE_API, HELPLINE_ROUTES, isCaseWrite } from '@telecare/contracts';
import {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  ForbiddenError,
  httpErrorHandler,
  InvalidRequestError,
  mountRoutes,
  RateLimitedError,
  serveOpenApi,
  UnauthorizedError,
} from '@telecare/platform';
import { CONSOLE_TICKER, type ConsoleBundle, consoleBundle } from '../console-bundle.ts';
import { caseInHand, ownContextRead, readGround } from '../context-reads.ts';
import { CaseNotFoundError } from '../errors.ts';
import { ADMIN_PRINCIPAL, type Principal } from '../people.ts';
import type { StoredCase } from '../store/index.ts';
import type { TicketBinding } from '../stream-tickets.ts';
import { registerWebSecurity } from '../web-security.ts';
import { callHandlers } from './calls.ts';
import { caseHandlers, refusedReason, TRANSITION_ROUTES } from './cases.ts';
import type { RouteContext, RouteDeps } from './context.ts';
import { peopleHandlers } from './people.ts';
import { presenceHandlers } from './presence.ts';
import { streamHandlers, supervisorHandlers } from './supervisor.ts';

export type { RouteDeps } from './context.ts';

const CONSOLE_HTML = fileURLToPath(new URL('../../public/console.html', import.meta.url));

/**
 * The reads of one case (what a console reads of the case on screen): the case is read once before
 * the handler, and the read counted against the budget it falls under (`caseRead` below).
 */
const CASE_READS: ReadonlySet<string> = new Set([
  'getCase',
  'caseAlerts',
  'caseJoins',
  'listCalls',
  'callTargets',
  'caseContext',
  'caseTimeline',
  'caseNotes',
]);

/**
 * The writes on one case (every `POST /api/cases/{id}/…`), counted against the writer's bound
 * (CASE_WRITES_PER_MINUTE) before the case is looked up.
 */
const CASE_WRITES: ReadonlySet<string> = new Set(
  Object.entries(HELPLINE_ROUTES)
    .filter(([, route]) => isCaseWrite(route))
    .map(([name]) => name),
);

/** The name of the contract a request is for (`accept`…); undefined for a route without one. */
const contractOf = (req: FastifyRequest): string | undefined =>
  (req.routeOptions.config as { contract?: string } | undefined)?.contract;

/**
 * The console (`/`, `/console.js`, `/console-ticker.js`), `/api/openapi.json`, and the routes of
 * `HELPLINE_ROUTES` (one module per resource in this folder). Every route but sign-in and sign-out
 * needs a person's session or a bearer token; the roles each allows are in the contracts
 * (docs/security.md).
 */
export async function registerRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const consoleHtml = readFileSync(CONSOLE_HTML, 'utf8');
  // Bundled now, so the first operator to open the console does not wait for it.
  consoleBundle().catch((err: unknown) => deps.logger.error({ err }, 'console bundle failed'));
  const now = () => new Date(deps.clock.now());
  registerWebSecurity(app, {
    consoleHtml,
    publicOrigin: deps.publicOrigin,
    onCrossSite: (req, why) =>
      deps.logger.warn({ method: req.method, url: req.routeOptions.url, why }, 'cross-site request refused'),
  });

  app.get('/', async (_req, reply) =>
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(consoleHtml),
  );
  // A script of the console's, revalidated on every load (ETag, `no-cache`).
  const sendScript = (req: FastifyRequest, reply: FastifyReply, script: ConsoleBundle) => {
    reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'no-cache')
      .header('etag', script.etag);
    return req.headers['if-none-match'] === script.etag ? reply.code(304).send() : reply.send(script.js);
  };
  app.get('/console.js', async (req, reply) => sendScript(req, reply, await consoleBundle()));
  app.get('/console-ticker.js', async (req, reply) => sendScript(req, reply, CONSOLE_TICKER));
  await serveOpenApi(app, HELPLINE_API);
  app.setErrorHandler(httpErrorHandler({ logger: deps.logger }));

  const principals = new WeakMap<FastifyRequest, Principal>();
  /** The case each read of one case is about, read and counted before its handler. */
  const caseReads = new WeakMap<FastifyRequest, StoredCase>();

  /**
   * A person's reads or case writes in a minute, every instance together, and what passing them raises
   * (read when asked: the routes are registered before anything is counted).
   */
  const budgets = () =>
    ({
      reads: {
        budget: deps.requestBudget,
        refused: deps.metrics.requestsRefused,
        event: 'requests-rate-limited',
        action: 'read',
        what: 'reads',
        spared: ' (accepting, signing in and the case you hold or are offered are not limited by it)',
      },
      inHand: {
        budget: deps.caseInHandBudget,
        refused: deps.metrics.caseInHandReadsRefused,
        event: 'case-in-hand-reads-rate-limited',
        action: 'read',
        what: 'reads of the cases you hold or are offered',
        spared: '',
      },
      writes: {
        budget: deps.caseWriteBudget,
        refused: deps.metrics.caseWritesRefused,
        event: 'case-writes-rate-limited',
        action: 'write on cases',
        what: 'writes on cases',
        spared: '',
      },
    }) as const;

  /**
   * Counts a request of `principal` against one of their budgets; past it: counted, a security
   * event at the window's first refusal (naming the case read in hand), 429.
   */
  const take = async (
    principal: Principal,
    kind: keyof ReturnType<typeof budgets>,
    caseId: string | null,
  ) => {
    const { budget, refused, event, action, what, spared } = budgets()[kind];
    const decision = await budget.take(principal.id);
    if (decision.allowed) return;
    refused.inc();
    if (decision.firstRefusal)
      await deps.security.raise(
        event,
        { userId: principal.id, caseId },
        { role: principal.role, limit: budget.max, windowS: budget.windowMs / 1000 },
        now(),
      );
    throw new RateLimitedError(
      action,
      decision.retryAfterS,
      'rate-limited',
      `${budget.max} ${what} in a minute at this helpline; try again in ${decision.retryAfterS} s${spared}`,
    );
  };

  /**
   * Counts a read (a GET, or the HEAD Fastify answers for it, but the live stream, which has its
   * own cap) against the caller's budget, but a read of one case, counted once the case is read;
   * and a write on a case against the writer's bound, before the case is looked up, so past it an
   * id no case has is answered as a real one is (429). Other writes are bounded by their own
   * limits, and the admin token is the deployment's own program: neither is counted. Sign-in and
   * sign-out have no caller yet.
   */
  const countRequest = async (name: string, principal: Principal) => {
    const route = HELPLINE_ROUTES[name as keyof typeof HELPLINE_ROUTES];
    if (route === HELPLINE_ROUTES.stream || principal.id === ADMIN_PRINCIPAL.id) return;
    if (CASE_WRITES.has(name)) await take(principal, 'writes', null);
    else if (route.method === 'GET' && !CASE_READS.has(name)) await take(principal, 'reads', null);
  };

  /**
   * A read of one case: the case in the caller's hand counts against its own bound, so the alarm
   * being answered shows however many reads came before; any other, and an id no case has, against
   * the budget. Past it an unknown id is answered as a case not in hand is (429), so the budget's
   * refusals tell a script nothing about which ids are cases.
   */
  const readCase = async (req: FastifyRequest, principal: Principal) => {
    const { id } = req.params as { id: string };
    const stored = await deps.store.get(id);
    if (principal.id !== ADMIN_PRINCIPAL.id) {
      const inHand = stored !== undefined && caseInHand(stored.case, principal);
      await take(principal, inHand ? 'inHand' : 'reads', inHand ? id : null);
    }
    if (!stored) throw new CaseNotFoundError(id);
    caseReads.set(req, stored);
  };
  const tickets = new WeakMap<FastifyRequest, TicketBinding>();
  const ctx: RouteContext = {
    deps,
    now,
    who: (req) => {
      const principal = principals.get(req);
      if (!principal) throw new UnauthorizedError('sign in, or send Authorization: Bearer <token>');
      return principal;
    },
    ticketOf: (req) => tickets.get(req),
    requestKeyOf: (req) => {
      const key = req.headers['idempotency-key'];
      return typeof key === 'string' ? key : undefined;
    },
    mayReadResident: async (req, c) => {
      const principal = principals.get(req);
      if (!principal || ownContextRead(c, principal)) return;
      const decision = await deps.contextReadLimit.attempt(principal.id, c.residentId);
      if (decision.allowed) return;
      deps.metrics.contextReadsRefused.inc();
      if (decision.firstRefusal)
        await deps.security.raise(
          'context-reads-rate-limited',
          { userId: principal.id, caseId: c.id },
          {
            role: principal.role,
            residentId: c.residentId,
            limit: deps.contextReadLimit.max,
            windowS: deps.contextReadLimit.windowMs / 1000,
          },
          now(),
        );
      throw new RateLimitedError(
        'read residents outside your own cases',
        decision.retryAfterS,
        'rate-limited',
        `you have read ${deps.contextReadLimit.max} residents outside your own cases in the past hour; try again in ${decision.retryAfterS} s, or ask a supervisor (cases you hold or are offered, and the queue, are not limited)`,
      );
    },
    caseRead: (req) => {
      const stored = caseReads.get(req);
      if (!stored) throw new Error(`${contractOf(req)} is not a read of one case (CASE_READS)`);
      return stored;
    },
    personalRead: (req, what, residentIds, of) => {
      const principal = principals.get(req);
      deps.logger.info(
        {
          event: 'personal-data-read',
          userId: principal?.id,
          role: principal?.role,
          what,
          ...(of ? { caseId: of.id, ground: principal ? readGround(of, principal) : 'outside' } : {}),
          residentIds,
        },
        'personal data read',
      );
    },
  };

  await app.register(async (api) => {
    // Who is calling (bearer token, session cookie, or a ticket on the stream), before anything
    // else: a caller who is not signed in learns nothing about validation.
    api.addHook('onRequest', async (req) => {
      const name = contractOf(req);
      const route = name ? HELPLINE_ROUTES[name as keyof typeof HELPLINE_ROUTES] : undefined;
      if (!route || route.roles === 'anyone') return;
      if (route === HELPLINE_ROUTES.stream) {
        const query = req.query as Record<string, unknown>;
        // A token in a URL is kept by every proxy log, the browser's history and Referer: refused
        // before it is even looked at, so a leaked one is not confirmed either.
        if (query.access_token !== undefined)
          throw new InvalidRequestError([
            {
              path: 'access_token',
              message:
                'a token in the URL is refused (URLs are kept in logs and history): send Authorization: Bearer <token>, or get a one-use ticket from POST /api/stream/ticket and pass ?ticket=',
            },
          ]);
        if (typeof query.ticket === 'string' && !req.headers.authorization) {
          const holder = await deps.auth.ticketHolder(query.ticket, now());
          if (!holder)
            throw new UnauthorizedError(
              'stream ticket unknown, used, expired or of a credential no longer valid: ask POST /api/stream/ticket for another',
            );
          principals.set(req, holder.principal);
          tickets.set(req, holder.binding);
          return;
        }
      }
      const principal = await deps.auth.authenticate(req, now());
      if (!principal) throw new UnauthorizedError('sign in, or send Authorization: Bearer <token>');
      principals.set(req, principal);
      if (name) await countRequest(name, principal);
    });
    // After the role check and validation: a caller who may not read cases learns nothing of them.
    api.addHook('preHandler', async (req) => {
      const name = contractOf(req);
      const principal = principals.get(req);
      if (name && principal && CASE_READS.has(name)) await readCase(req, principal);
    });
    // Refused accepts, holds and resolves are counted by reason, invalid ones included.
    api.addHook('onError', async (req, _reply, error) => {
      const action = TRANSITION_ROUTES[contractOf(req) ?? ''];
      if (action && !(error instanceof UnauthorizedError) && !(error instanceof ForbiddenError))
        deps.metrics.transitionsRefused.inc({ action, reason: refusedReason(error) });
    });
    mountRoutes(
      api,
      HELPLINE_ROUTES,
      {
        ...peopleHandlers(ctx),
        ...presenceHandlers(ctx),
        ...caseHandlers(ctx),
        ...callHandlers(ctx),
        ...supervisorHandlers(ctx),
        ...streamHandlers(ctx),
      },
      (req) => principals.get(req)?.role,
    );
  });
}

import { CaseFact } from '@telecare/contracts';
import type { FastifyInstance, FastifyRequest } from '@telecare/platform';
import { CaseIdParams } from './api.ts';
import type { Principal } from './people.ts';
import type { RouteHelpers } from './presence-routes.ts';
import type { RouteDeps } from './routes.ts';
import type { Actor } from './store/index.ts';

interface Helpers extends RouteHelpers {
  readonly requestKeyOf: (req: FastifyRequest) => string | undefined;
  readonly actorOf: (principal: Principal) => Actor;
}

/**
 * The facts the reports count, recorded on a case as `fact-recorded` steps (the body is one
 * contracts `CaseFact`, and so is the step's data): by the operator holding the case, or a
 * supervisor or admin, while it is worked or after it is resolved. A time in the future or before
 * the case was raised is refused (400); a case nobody has accepted, or someone else's, is 409.
 */
export function registerFactRoutes(app: FastifyInstance, deps: RouteDeps, h: Helpers): void {
  app.post('/api/cases/:id/facts', { preHandler: h.guard('work') }, async (req, reply) => {
    const { id } = h.parse(CaseIdParams, req.params);
    const fact = h.parse(CaseFact, req.body);
    const p = h.who(req);
    const result = await deps.store.recordFacts(id, [fact], h.actorOf(p), h.now(), h.requestKeyOf(req));
    if (!result.duplicate) {
      deps.publisher.flushInBackground();
      deps.logger.info({ caseId: id, fact: fact.fact, by: p.id }, 'fact recorded');
    }
    return reply.code(result.duplicate ? 200 : 201).send(result.events[0]);
  });
}

import { randomUUID } from 'node:crypto';
import type { HELPLINE_CASE_ROUTES } from '@telecare/contracts';
import type { RouteHandler } from '@telecare/platform';
import { CaseNotFoundError, RateLimitedError, RevealRefusedError } from '../errors.ts';
import { revealRefusal } from '../reveal-policy.ts';
import { actorOf, type RouteContext } from './context.ts';

/**
 * The key-safe code and medical notes are shown only through this call, only on an open case the
 * caller holds (a supervisor or admin: any open case), a limited number of times per person: the
 * registry reveals and audits the read (naming the case and person), the case records it.
 */
export function revealHandler(ctx: RouteContext): RouteHandler<typeof HELPLINE_CASE_ROUTES.reveal> {
  const { deps, now, who } = ctx;
  return async (req) => {
    const { id } = req.params;
    const body = req.body;
    const principal = who(req);
    const at = now();
    // Every attempt counts (a key of its own), refused ones too: probing cases one by one is what
    // the limit is for. Counted in PostgreSQL, on every instance together.
    const decision = await deps.revealLimit.attempt(principal.id, randomUUID());
    if (!decision.allowed) {
      deps.metrics.revealsRefused.inc({ reason: 'rate-limited' });
      if (decision.firstRefusal)
        await deps.security.raise(
          'reveal-rate-limited',
          { userId: principal.id, caseId: id },
          { role: principal.role, limit: deps.revealLimit.max, windowS: deps.revealLimit.windowMs / 1000 },
          at,
        );
      throw new RateLimitedError('reveal sensitive fields', decision.retryAfterS);
    }
    const stored = await deps.store.get(id);
    if (!stored) throw new CaseNotFoundError(id);
    const refusal = revealRefusal(stored.case, principal);
    if (refusal) {
      deps.metrics.revealsRefused.inc({ reason: 'case' });
      await deps.security.raise(
        'reveal-refused',
        { userId: principal.id, caseId: id },
        { role: principal.role, state: stored.case.state, field: body.field, reason: refusal },
        at,
      );
      throw new RevealRefusedError(id, refusal);
    }
    const role = principal.role === 'supervisor' || principal.role === 'admin' ? principal.role : 'operator';
    const found = await deps.registry.reveal(stored.case.residentId, body.field, {
      caseId: id,
      actorId: principal.id,
      actorRole: role,
      ...(body.reason ? { reason: body.reason } : {}),
    });
    const { event } = await deps.store.record(
      id,
      'revealed',
      {
        field: body.field,
        found: found.value !== null,
        registryAudited: found.audited,
        ...(body.reason ? { reason: body.reason } : {}),
      },
      actorOf(principal),
      now(),
    );
    deps.publisher.flushInBackground();
    deps.logger.info({ caseId: id, field: body.field, userId: principal.id }, 'sensitive field revealed');
    return {
      field: body.field,
      value: found.value,
      ...(found.message ? { message: found.message } : {}),
      eventId: event.id,
    };
  };
}

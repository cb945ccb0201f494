import { randomUUID } from 'node:crypto';
import type { RESIDENT_ROUTES } from '@telecare/contracts';
import { attemptAll, type FastifyRequest, type RouteHandlers } from '@telecare/platform';
import type { Principal } from '../api.ts';
import { AwayPeriodsFullError, CopyFullError, InvalidRequestError, RateLimitedError } from '../errors.ts';
import type { RevealBody } from '../schemas.ts';
import type { RevealAudit } from '../store.ts';
import type { RouteContext } from './context.ts';

/** Residents, their sensitive fields (audited reveals), responders and care packages. */
export function residentHandlers(ctx: RouteContext): RouteHandlers<typeof RESIDENT_ROUTES> {
  const { deps, log, now } = ctx;

  /**
   * After a commit, the resident's away entry follows; an `AwayPeriodsFullError` (507) when the
   * full bucket does not take it (the write is tried again meanwhile).
   */
  const awayPublished = async (residentId: string): Promise<void> => {
    if ((await deps.away?.publish(residentId)) === 'full') throw new AwayPeriodsFullError(residentId);
  };

  /** A resident's call list (responders' names and phone numbers), its read recorded. */
  const callList = async (req: FastifyRequest, residentId: string) => {
    const responders = await deps.store.listResponders(residentId);
    ctx.personalRead(req, 'responders', [residentId]);
    return { responders };
  };

  return {
    createResident: async (req, reply) => {
      const { body: resident, replayed } = await ctx.once(req, reply, (db) =>
        deps.store.createResident(req.body, now(), db),
      );
      if (!replayed) {
        deps.metrics.residentsCreated.inc();
        log.info(
          { residentId: resident.id, postcodeDistrict: resident.postcodeDistrict },
          'resident created',
        );
      }
      return reply.header('location', `/api/residents/${resident.id}`).send(resident);
    },

    updateResident: async (req) => {
      const { resident, serials } = await deps.store.updateResident(req.params.id, req.body, now());
      log.info(
        { residentId: resident.id, fields: Object.keys(req.body), devices: serials.length },
        'resident changed',
      );
      // The district (and updatedAt) of every device's entries follows the resident; a full
      // bucket is answered after every device's copies were tried.
      let full: CopyFullError | undefined;
      for (const serial of serials)
        await ctx.published(serial).catch((err: unknown) => {
          if (!(err instanceof CopyFullError)) throw err;
          full ??= err;
        });
      if (full) throw full;
      ctx.personalRead(req, 'resident', [resident.id]);
      return resident;
    },

    listResidents: async (req) => {
      const query = req.query;
      const { residents, total } = await deps.store.searchResidents(query, query);
      ctx.personalRead(
        req,
        'residents',
        residents.map((r) => r.id),
      );
      return { residents, total, limit: query.limit, offset: query.offset };
    },

    getResident: async (req) => {
      const resident = await deps.store.getResident(req.params.id);
      ctx.personalRead(req, 'resident', [resident.id]);
      return resident;
    },

    revealResident: async (req) => {
      const principal = ctx.principal(req);
      const audit = revealAudit(principal, req.body);
      // Per calling token and named person, and per token, counted together in PostgreSQL (every
      // instance, every restart): each call its own key, refused under both when either refuses.
      const decision = await attemptAll(
        [
          { limit: deps.revealLimits.perPerson, person: `${principal.actor}\u001f${audit.actor.id}` },
          { limit: deps.revealLimits.perToken, person: principal.actor },
        ],
        randomUUID(),
      );
      if (!decision.allowed) {
        // A security event: logged once per burst, with ids only.
        if (decision.firstRefusal)
          log.warn(
            {
              event: 'reveal-rate-limited',
              principal: principal.actor,
              actorId: audit.actor.id,
              caseId: audit.caseId,
              residentId: req.params.id,
            },
            'security: reveals refused, too many in the window',
          );
        throw new RateLimitedError('reveal sensitive fields', decision.retryAfterS);
      }
      const values = await deps.store.reveal(req.params.id, req.body.fields, audit, now());
      log.info(
        {
          residentId: req.params.id,
          fields: req.body.fields,
          principal: principal.actor,
          actorId: audit.actor.id,
          caseId: audit.caseId,
        },
        'sensitive fields revealed',
      );
      return { residentId: req.params.id, ...values };
    },

    residentAudit: async (req) => ({ reads: await deps.store.sensitiveReads(req.params.id) }),

    listResponders: async (req) => callList(req, req.params.id),

    addResponder: async (req, reply) => {
      const residentId = req.params.id;
      const { body } = await ctx.once(req, reply, async (db) => {
        await deps.store.addResponder(residentId, req.body, now(), db);
        return { responders: await deps.store.listResponders(residentId, db) };
      });
      ctx.personalRead(req, 'responders', [residentId]);
      return body;
    },

    removeResponder: async (req) => {
      await deps.store.removeResponder(req.params.id, req.params.responderId);
      return callList(req, req.params.id);
    },

    listCarePackages: async (req) => ({
      carePackages: await deps.store.listCarePackages(req.params.id),
    }),

    addCarePackage: async (req, reply) => {
      const { body } = await ctx.once(req, reply, (db) =>
        deps.store.addCarePackage(req.params.id, req.body, now(), db),
      );
      return body;
    },

    listAway: async (req) => {
      const away = await deps.store.listAway(req.params.id);
      ctx.personalRead(req, 'away', [req.params.id]);
      return { away };
    },

    setAway: async (req, reply) => {
      const principal = ctx.principal(req);
      const { body: period, replayed } = await ctx.once(req, reply, (db) =>
        deps.store.addAway(req.params.id, req.body, who(principal), now(), db),
      );
      if (!replayed) {
        log.info(
          {
            residentId: period.residentId,
            awayId: period.id,
            reason: period.reason,
            principal: principal.actor,
          },
          'resident declared away',
        );
        await awayPublished(period.residentId);
      }
      ctx.personalRead(req, 'away', [period.residentId]);
      return reply.send(period);
    },

    endAway: async (req) => {
      const principal = ctx.principal(req);
      const at = req.body.at ? new Date(req.body.at) : now();
      const period = await deps.store.endAway(req.params.id, req.params.awayId, at, who(principal), now());
      log.info(
        { residentId: period.residentId, awayId: period.id, until: period.until, principal: principal.actor },
        'away period ended',
      );
      await awayPublished(period.residentId);
      ctx.personalRead(req, 'away', [period.residentId]);
      return period;
    },

    cohort: async () => ({ residents: await deps.store.cohortFacts() }),
  };
}

/** Who set or ended a period, as the record keeps it: the calling token and its role. */
const who = (principal: Principal): string => `${principal.actor} (${principal.role})`;

/**
 * Who a reveal is recorded for. The helpline's token must name the case and the person on it; an
 * admin reads as itself (a break-glass read with a reason) and may not name someone else.
 */
function revealAudit(principal: Principal, body: RevealBody): RevealAudit {
  const via = { actor: principal.actor, role: principal.role };
  if (principal.role === 'helpline-service') {
    if (!body.caseId || !body.actor)
      throw new InvalidRequestError([
        ...(body.caseId
          ? []
          : [{ path: 'caseId', message: 'required of the helpline: the case it reads for' }]),
        ...(body.actor
          ? []
          : [{ path: 'actor', message: 'required of the helpline: the person on the case' }]),
      ]);
    return { actor: body.actor, caseId: body.caseId, reason: body.reason, via };
  }
  if (body.actor)
    throw new InvalidRequestError([
      { path: 'actor', message: 'only the helpline names the person it reads for' },
    ]);
  return {
    actor: { id: principal.actor, role: principal.role },
    caseId: body.caseId,
    reason: body.reason,
    via,
  };
}

import type { Clock, FastifyInstance, FastifyReply, Logger } from '@telecare/platform';
import type { z } from 'zod';
import { authorize, principalOf, TokenStore } from './auth.ts';
import {
  bedDaysBeforeAfter,
  type CohortResident,
  careHoursBeforeAfter,
  NO_REGISTRY_COMPARISON,
  type Waiting,
} from './cohort.ts';
import type { ReportsConfig } from './config.ts';
import { beforeAfterTable, exportCsv, summaryTables, toCsv } from './csv.ts';
import { episodeTable, recipientKey } from './episodes.ts';
import { checkEpisodes } from './hospital.ts';
import { openApiDocument } from './openapi.ts';
import {
  installedCohort,
  type RegistryCohort,
  RegistryUnavailableError,
  readRegistryCohort,
} from './registry.ts';
import { BedDaysQuery, MAX_DAYS, ScopeQuery, TokenRequest } from './schemas.ts';
import type { ReportsStore, Scope } from './store.ts';
import { summarise } from './summary.ts';
import { registerDashboard } from './web.ts';

export interface ApiDeps {
  readonly store: ReportsStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly config: ReportsConfig;
}

export function scopeOf(query: unknown, now: Date): { scope: Scope } | { error: string } {
  const parsed = ScopeQuery.safeParse(query);
  if (!parsed.success)
    return { error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  const to = parsed.data.to ?? now;
  const from = parsed.data.from ?? new Date(to.getTime() - 30 * 86_400_000);
  if (!(from < to)) return { error: 'from: must be before to' };
  if (to.getTime() - from.getTime() > MAX_DAYS * 86_400_000)
    return { error: 'to: at most five years after from' };
  return { scope: { from, to, districts: parsed.data.districts } };
}

function badRequest(error: z.ZodError) {
  return {
    error: 'bad-request',
    message: error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
  };
}

const csvReply = (reply: FastifyReply, name: string, body: string) =>
  reply
    .header('content-type', 'text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${name}.csv"`)
    .send(body);

export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const tokens = new TokenStore(deps.store);
  const admin = deps.config.TELECARE_ADMIN_TOKEN;
  const log = deps.logger.child({ component: 'api' });
  registerDashboard(app);
  app.get('/api/openapi.json', async () => openApiDocument());

  const summaryOf = async (scope: Scope) => {
    const rows = await deps.store.rows(scope);
    return summarise(rows, {
      ...scope,
      now: new Date(deps.clock.now()),
      unplaced: rows.unplaced,
      ...(deps.config.REPORTS_DISTRICT_ADJACENCY
        ? { adjacency: deps.config.REPORTS_DISTRICT_ADJACENCY }
        : {}),
      clusterAlertsPer30Days: deps.config.REPORTS_CLUSTER_ALERTS_PER_30_DAYS,
      ...(deps.config.REPORTS_MODELLED_SAVINGS === 'on'
        ? {
            savings: {
              extraBedDaysPerLongLie: deps.config.REPORTS_EXTRA_BED_DAYS_PER_LONG_LIE ?? 0,
              costPerBedDay: deps.config.REPORTS_COST_PER_BED_DAY ?? 0,
            },
          }
        : {}),
    });
  };
  const aggregates = { preHandler: authorize(tokens, admin, 'aggregates') };

  /** The registry's cohort, or why there is none (not configured: null). */
  const registryCohort = async (): Promise<RegistryCohort | null> => {
    const { REGISTRY_URL: url, REPORTS_REGISTRY_TOKEN: token } = deps.config;
    return url && token ? readRegistryCohort(url, token) : null;
  };
  const unavailable = (reply: FastifyReply, message: string) =>
    reply.code(503).send({ error: 'unavailable', message });

  /** Bed days before and after, from the registry's first installs when it is there. */
  const bedDaysFigures = async (districts: readonly string[] | null) => {
    const registry = await registryCohort();
    const fromRegistry = registry && installedCohort(registry, districts);
    const cohort: CohortResident[] = fromRegistry ? fromRegistry.cohort : await deps.store.cohort(districts);
    const waiting: Waiting = fromRegistry ? fromRegistry.waiting : { why: NO_REGISTRY_COMPARISON };
    const ids = [...cohort, ...('referred' in waiting ? waiting.referred : [])].map((r) => r.residentId);
    const stays = await deps.store.staysOf(ids);
    const now = new Date(deps.clock.now());
    return {
      districts,
      startedFrom: registry ? ('registry-first-install' as const) : ('first-event-seen' as const),
      windows: [6, 12].map((months) => bedDaysBeforeAfter(cohort, stays, months, now, waiting)),
    };
  };

  /** Care hours before and after: the registry's care packages, or why there are none. */
  const careHoursFigures = async (districts: readonly string[] | null) => {
    const registry = await registryCohort();
    if (!registry)
      return {
        districts,
        available: false,
        why: 'REGISTRY_URL and REPORTS_REGISTRY_TOKEN are not both set: care packages and install dates come from the registry',
        startedFrom: null,
        windows: [],
      };
    const { cohort, packages, waiting } = installedCohort(registry, districts);
    const now = new Date(deps.clock.now());
    return {
      districts,
      available: true,
      startedFrom: 'registry-first-install' as const,
      windows: [6, 12].map((months) => careHoursBeforeAfter(cohort, packages, months, now, waiting)),
    };
  };

  /** Sends what `figures` gives, or a 503 naming what could not be read from the registry. */
  const cohortReply = async (reply: FastifyReply, what: string, figures: () => Promise<unknown>) => {
    try {
      return reply.send(await figures());
    } catch (err) {
      if (!(err instanceof RegistryUnavailableError)) throw err;
      log.warn({ err }, 'registry cohort not read');
      return unavailable(reply, `${what}: ${err.message}`);
    }
  };

  app.get('/api/reports/summary', aggregates, async (req, reply) => {
    const asked = scopeOf(req.query, new Date(deps.clock.now()));
    if ('error' in asked) return reply.code(400).send({ error: 'bad-request', message: asked.error });
    return reply.send(await summaryOf(asked.scope));
  });

  app.get('/api/reports/export.csv', aggregates, async (req, reply) => {
    const asked = scopeOf(req.query, new Date(deps.clock.now()));
    if ('error' in asked) return reply.code(400).send({ error: 'bad-request', message: asked.error });
    return csvReply(reply, 'summary', exportCsv(await summaryOf(asked.scope)));
  });

  app.get<{ Params: { chart: string } }>('/api/reports/csv/:chart', aggregates, async (req, reply) => {
    const asked = scopeOf(req.query, new Date(deps.clock.now()));
    if ('error' in asked) return reply.code(400).send({ error: 'bad-request', message: asked.error });
    const { chart } = req.params;
    const { districts } = asked.scope;
    try {
      // The before/after figures have fixed windows: the period is not theirs.
      const table =
        chart === 'bed-days'
          ? beforeAfterTable((await bedDaysFigures(districts)).windows, 'bedDaysBefore', 'bedDaysAfter')
          : chart === 'care-hours'
            ? beforeAfterTable(
                (await careHoursFigures(districts)).windows,
                'careHoursBefore',
                'careHoursAfter',
              )
            : summaryTables(await summaryOf(asked.scope))[chart];
      if (!table) return reply.code(404).send({ error: 'not-found', message: 'no such chart' });
      return csvReply(reply, chart, toCsv(table));
    } catch (err) {
      if (!(err instanceof RegistryUnavailableError)) throw err;
      return unavailable(reply, `${chart}: ${err.message}`);
    }
  });

  app.get(
    '/api/reports/episodes.csv',
    { preHandler: authorize(tokens, admin, 'episodes') },
    async (req, reply) => {
      const secret = deps.config.REPORTS_PSEUDONYM_KEY;
      if (!secret)
        return reply
          .code(503)
          .send({ error: 'unavailable', message: 'REPORTS_PSEUDONYM_KEY is not set: no episode export' });
      const asked = scopeOf(req.query, new Date(deps.clock.now()));
      if ('error' in asked) return reply.code(400).send({ error: 'bad-request', message: asked.error });
      const principal = principalOf(req);
      const { cases } = await deps.store.rows(asked.scope);
      log.info(
        { tokenId: principal.tokenId, role: principal.role, episodes: cases.length },
        'episode export',
      );
      return csvReply(
        reply,
        'episodes',
        toCsv(episodeTable(cases, recipientKey(secret, principal.recipient))),
      );
    },
  );

  app.get('/api/reports/bed-days', aggregates, async (req, reply) => {
    const parsed = BedDaysQuery.safeParse(req.query);
    if (!parsed.success) return reply.code(400).send(badRequest(parsed.error));
    return cohortReply(reply, 'install dates', () => bedDaysFigures(parsed.data.districts));
  });

  app.get('/api/reports/care-hours', aggregates, async (req, reply) => {
    const parsed = BedDaysQuery.safeParse(req.query);
    if (!parsed.success) return reply.code(400).send(badRequest(parsed.error));
    return cohortReply(reply, 'care packages', () => careHoursFigures(parsed.data.districts));
  });

  // The trust's episodes file: refused row by row; nothing imported while a row is refused, unless
  // `partial=true` asks for the good rows.
  app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: 10 * 1_048_576 }, (_req, body, done) =>
    done(null, body),
  );
  app.post(
    '/api/reports/hospital-episodes',
    { preHandler: authorize(tokens, admin, 'import') },
    async (req, reply) => {
      if (typeof req.body !== 'string')
        return reply.code(415).send({ error: 'unsupported', message: 'send the file as text/csv' });
      const partial = (req.query as Record<string, unknown>).partial === 'true';
      const ids = [
        ...new Set(req.body.split(/\r?\n/).map((l) => l.split(',')[0]?.replace(/"/g, '').trim() ?? '')),
      ];
      // Residents the registry holds count as known too: one referred and not yet installed has
      // no device, so the read model has never seen them.
      let registry: RegistryCohort | null;
      try {
        registry = await registryCohort();
      } catch (err) {
        if (!(err instanceof RegistryUnavailableError)) throw err;
        log.warn({ err }, 'registry cohort not read');
        return unavailable(reply, `residents cannot be checked: ${err.message}`);
      }
      const known = await deps.store.knownResidents(ids);
      for (const r of registry?.residents ?? []) known.add(r.residentId);
      const existing = new Map<string, { admitted: string; discharged: string }[]>();
      for (const s of await deps.store.staysOf([...known]))
        existing.set(s.residentId, [...(existing.get(s.residentId) ?? []), s]);
      const checked = checkEpisodes(req.body, known, existing);
      if (checked.fileError)
        return reply.code(400).send({ error: 'bad-file', message: checked.fileError, imported: 0 });
      if (checked.refused.length > 0 && !partial)
        return reply.code(422).send({
          imported: 0,
          alreadyImported: checked.alreadyImported,
          refused: checked.refused,
          message: 'nothing imported: fix the rows refused, or send partial=true',
        });
      const importId = `imp_${Date.now().toString(36)}`;
      await deps.store.insertStays(checked.accepted, importId, new Date(deps.clock.now()));
      log.info(
        {
          importId,
          imported: checked.accepted.length,
          alreadyImported: checked.alreadyImported,
          refused: checked.refused.length,
        },
        'hospital episodes imported',
      );
      return reply.send({
        importId,
        imported: checked.accepted.length,
        alreadyImported: checked.alreadyImported,
        refused: checked.refused,
      });
    },
  );

  app.post('/api/tokens', { preHandler: authorize(tokens, admin, 'tokens') }, async (req, reply) => {
    const parsed = TokenRequest.safeParse(req.body);
    if (!parsed.success) return reply.code(400).send(badRequest(parsed.error));
    const created = await tokens.create(parsed.data.role, parsed.data.recipient, new Date(deps.clock.now()));
    log.info({ tokenId: created.id, role: parsed.data.role }, 'report token created');
    return reply.code(201).send({ ...created, ...parsed.data });
  });

  app.delete<{ Params: { id: string } }>(
    '/api/tokens/:id',
    { preHandler: authorize(tokens, admin, 'tokens') },
    async (req, reply) => {
      const revoked = await tokens.revoke(req.params.id, new Date(deps.clock.now()));
      return revoked ? reply.code(204).send() : reply.code(404).send({ error: 'not-found' });
    },
  );
}

import { randomBytes } from 'node:crypto';
import { MAX_REPORT_DAYS, REPORTS_API, REPORTS_ROUTES } from '@telecare/contracts';
import {
  type Clock,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  httpErrorHandler,
  InvalidRequestError,
  type Logger,
  mountRoutes,
  NotFoundError,
  RateLimitedError,
  RequestError,
  type RouteHandlers,
  serveOpenApi,
  UnauthorizedError,
  UnavailableError,
} from '@telecare/platform';
import { authenticate, districtsFor, type Principal, TokenStore } from './auth.ts';
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
import { monthsOf } from './figures.ts';
import { checkEpisodes, readEpisodeFile, residentsOf } from './hospital.ts';
import type { ReadSlots } from './read-slots.ts';
import {
  installedCohort,
  type RegistryCohort,
  RegistryUnavailableError,
  readRegistryCohort,
} from './registry.ts';
import { ReadsBusyError, ReadTimeoutError, type ReportsStore, type Scope } from './store.ts';
import { summariseCounts } from './summary.ts';
import { registerDashboard } from './web.ts';

export interface ApiDeps {
  readonly store: ReportsStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly config: ReportsConfig;
  /** Each token's reports being read, counted across instances (`REPORTS_READS_PER_TOKEN`). */
  readonly readSlots: ReadSlots;
}

type Routes = typeof REPORTS_ROUTES;

/**
 * A report whose read was given up at the read limit (`REPORTS_READ_TIMEOUT_MS`): 503 with
 * Retry-After, naming the limit and what to ask for instead; not a 500 (not a bug) and not a
 * server down.
 */
class ReportTooSlowError extends UnavailableError {
  constructor(err: ReadTimeoutError) {
    super(
      err.source === 'registry'
        ? `the registry's cohort took longer than the ${err.limitMs} ms read limit to come: try again shortly`
        : `this report's read took longer than the ${err.limitMs} ms limit and was cancelled: try again shortly, or ask for a shorter period or fewer districts`,
      { cause: err },
    );
  }
  override headers() {
    return { 'retry-after': '30' };
  }
}

/**
 * Every connection for reports' reads in use by other reports (each caller within
 * `REPORTS_READS_PER_TOKEN`) for as long as the pool waits: 503 `reports-busy` with Retry-After,
 * saying so, rather than a server down.
 */
class ReportsBusyError extends RequestError {
  override readonly retryable = true;
  readonly status = 503;
  readonly code = 'reports-busy';
  constructor(err: ReadsBusyError) {
    super(`every connection for reports (${err.connections}) is in use by other reports: try again shortly`, {
      cause: err,
    });
  }
  override headers() {
    return { 'retry-after': '5' };
  }
}

/** The registry, which a report or an import reads, did not answer or refused: 503, worth retrying. */
class RegistryDownError extends UnavailableError {
  override headers() {
    return { 'retry-after': '5' };
  }
}

/**
 * A token with `REPORTS_READS_PER_TOKEN` reports already being read, on this instance or any
 * other, asked for one more: 429 with Retry-After at once, naming the limit, rather than a read
 * that takes the connections every other commissioner's report and the imports need.
 */
class TooManyReadsError extends RateLimitedError {
  constructor(limit: number) {
    super(
      'read reports',
      5,
      'too-many-reads',
      `this token already has ${limit} reports being read, the most one token may have at once (REPORTS_READS_PER_TOKEN): ask again when one has come`,
    );
  }
}

/**
 * Runs one report read within its token's slots (`ReadSlots`, across instances); with every slot
 * held the token is refused, not queued.
 */
async function withinSlots<T>(
  slots: ReadSlots,
  principal: Principal | undefined,
  read: () => Promise<T>,
): Promise<T> {
  // The admin token is one caller too.
  const key = principal?.tokenId ?? principal?.role ?? 'unknown';
  // PostgreSQL down is the error handler's 503, as for the read itself.
  const release = await slots.take(key);
  if (!release) throw new TooManyReadsError(slots.limit);
  try {
    return await read();
  } finally {
    await release();
  }
}

/**
 * The scope a report covers: the period asked (the last 30 days by default), at most five years,
 * begun by now, and ended by the end of this month (UTC): a period under way may end after now,
 * so this month may be asked whole, but a `to` further on would show months to come as empty
 * months, as if measured. It is refused rather than cut short: a CSV has nowhere to say that
 * the period was not the one asked. What is wrong is said in the caller's terms: a `to` not sent
 * is now, and a `from` not sent is 30 days before `to`.
 */
export function scopeOf(
  query: { from?: Date | undefined; to?: Date | undefined; districts: string[] | null },
  now: Date,
): Scope {
  const to = query.to ?? now;
  const from = query.from ?? new Date(to.getTime() - 30 * 86_400_000);
  const noTo = `now (${now.toISOString()}), as no to was given`;
  const refuse = (path: 'from' | 'to', message: string) => new InvalidRequestError([{ path, message }]);
  // Its figures would all be nothing, shown as measured: a mistyped year, not a question.
  if (query.from && from > now)
    throw refuse('from', `after now (${now.toISOString()}): a period not yet begun has no figures`);
  const monthEnd = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  if (to > monthEnd)
    throw refuse(
      'to',
      `after the end of this month (${monthEnd.toISOString()}): a period may be under way, but months to come have no figures`,
    );
  if (from > now)
    throw refuse('to', 'with no from, the period is the 30 days before to, and those have not begun');
  if (!(from < to)) throw refuse('from', `must be before ${query.to ? 'to' : noTo}`);
  if (to.getTime() - from.getTime() > MAX_REPORT_DAYS * 86_400_000)
    throw query.to
      ? refuse('to', 'at most five years after from')
      : refuse('from', `more than five years before ${noTo}: a report covers at most five years`);
  return { from, to, districts: query.districts };
}

/**
 * The summary's period widened to whole calendar months (UTC): every published count is a cell of
 * that fixed grid, so no two periods differ by a few days whose counts subtraction would give
 * back, and no boundary can be slid to find where a rounded count steps (`suppress.ts`). The
 * answer's `period` is the one counted. The episode export is rows, not counts, and keeps its days.
 */
export function wholeMonths(scope: Scope): Scope {
  const { from, to } = scope;
  const start = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), 1));
  const end = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), 1));
  if (end < to) end.setUTCMonth(end.getUTCMonth() + 1);
  return { ...scope, from: start, to: end };
}

/** The chart of that name, or undefined: a name such as `constructor` is no chart, though every object has it. */
const chartOf = <T>(tables: Record<string, T>, name: string): T | undefined =>
  Object.hasOwn(tables, name) ? tables[name] : undefined;

const csvReply = (reply: FastifyReply, name: string, body: string) =>
  reply
    .header('content-type', 'text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${name}.csv"`)
    .send(body);

/**
 * The dashboard, `/api/openapi.json`, and the routes of `REPORTS_ROUTES`: every one needs a
 * bearer token (the admin token or a report token); the roles each allows are in the contracts.
 */
export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const tokens = new TokenStore(deps.store);
  const log = deps.logger.child({ component: 'api' });
  const principals = new WeakMap<FastifyRequest, Principal>();
  registerDashboard(app);
  await serveOpenApi(app, REPORTS_API);
  await app.register(async (api) => {
    // onRequest: a caller without a token learns nothing about validation.
    api.addHook('onRequest', async (req) => {
      // Token lifetimes are wall-clock time, as the platform's token store keeps them.
      const principal = await authenticate(tokens, deps.config.TELECARE_ADMIN_TOKEN, req, new Date());
      if (!principal) throw new UnauthorizedError('send Authorization: Bearer <token>');
      principals.set(req, principal);
    });
    const errors = httpErrorHandler({ logger: log });
    api.setErrorHandler((err: Error, req, reply) =>
      errors(
        err instanceof ReadTimeoutError
          ? new ReportTooSlowError(err)
          : err instanceof ReadsBusyError
            ? new ReportsBusyError(err)
            : err,
        req,
        reply,
      ),
    );
    // The trust's episodes file comes as CSV text (its size bounded by the route's bodyLimit).
    api.addContentTypeParser('text/csv', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    mountRoutes(
      api,
      REPORTS_ROUTES,
      handlers(deps, tokens, log, principals),
      (req) => principals.get(req)?.role,
    );
  });
}

function handlers(
  deps: ApiDeps,
  tokens: TokenStore,
  log: Logger,
  principals: WeakMap<FastifyRequest, Principal>,
): RouteHandlers<Routes> {
  const now = () => new Date(deps.clock.now());
  /** One report read, counted against the caller's token. */
  const bounded = <T>(req: FastifyRequest, read: () => Promise<T>): Promise<T> =>
    withinSlots(deps.readSlots, principals.get(req), read);
  /** The districts a request may cover (a token bound to districts sees only those). */
  const districtsOf = (req: FastifyRequest, asked: readonly string[] | null) =>
    districtsFor(principals.get(req), asked);
  /** The period and districts asked for, within what the caller's token may see. */
  const scopeFor = (
    req: FastifyRequest,
    query: { from?: Date | undefined; to?: Date | undefined; districts: string[] | null },
  ): Scope => {
    const scope = scopeOf(query, now());
    return { ...scope, districts: districtsOf(req, scope.districts) };
  };
  const summaryOf = async (asked: Scope) => {
    const scope = wholeMonths(asked);
    const at = now();
    // Counted by PostgreSQL: the read returns groups and middle values, not the period's rows.
    const counts = await deps.store.counts(scope, monthsOf(scope.from, scope.to), at);
    return summariseCounts(counts, {
      ...scope,
      now: at,
      unplaced: counts.unplaced,
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
  /** The registry's cohort, or why there is none (not configured: null). */
  const registryCohort = async (what: string): Promise<RegistryCohort | null> => {
    const { REGISTRY_URL: url, REPORTS_REGISTRY_TOKEN: token } = deps.config;
    try {
      return url && token ? await readRegistryCohort(url, token, deps.config.REPORTS_READ_TIMEOUT_MS) : null;
    } catch (err) {
      if (!(err instanceof RegistryUnavailableError)) throw err;
      log.warn({ err }, 'registry cohort not read');
      throw new RegistryDownError(`${what}: ${err.message}`, { cause: err });
    }
  };

  /** Bed days before and after, from the registry's first installs when it is there. */
  const bedDaysFigures = async (districts: readonly string[] | null) => {
    const registry = await registryCohort('install dates');
    // Every district's residents: a small district is judged the same whatever is asked (cohort.ts).
    const fromRegistry = registry && installedCohort(registry, null);
    const cohort: CohortResident[] = fromRegistry ? fromRegistry.cohort : await deps.store.cohort(null);
    const waiting: Waiting = fromRegistry ? fromRegistry.waiting : { why: NO_REGISTRY_COMPARISON };
    const ids = [...cohort, ...('referred' in waiting ? waiting.referred : [])].map((r) => r.residentId);
    const stays = await deps.store.staysOf(ids);
    const at = now();
    return {
      districts,
      startedFrom: registry ? ('registry-first-install' as const) : ('first-event-seen' as const),
      windows: [6, 12].map((months) => bedDaysBeforeAfter(cohort, stays, months, at, waiting, districts)),
    };
  };

  /** Care hours before and after: the registry's care packages, or why there are none. */
  const careHoursFigures = async (districts: readonly string[] | null) => {
    const registry = await registryCohort('care packages');
    if (!registry)
      return {
        districts,
        available: false,
        why: 'REGISTRY_URL and REPORTS_REGISTRY_TOKEN are not both set: care packages and install dates come from the registry',
        startedFrom: null,
        windows: [],
      };
    const { cohort, packages, waiting } = installedCohort(registry, null);
    const at = now();
    return {
      districts,
      available: true,
      startedFrom: 'registry-first-install' as const,
      windows: [6, 12].map((months) =>
        careHoursBeforeAfter(cohort, packages, months, at, waiting, districts),
      ),
    };
  };

  return {
    summary: (req) => bounded(req, () => summaryOf(scopeFor(req, req.query))),
    exportCsv: (req, reply) =>
      bounded(req, async () =>
        csvReply(reply, 'summary', exportCsv(await summaryOf(scopeFor(req, req.query)))),
      ),
    chartCsv: (req, reply) =>
      bounded(req, async () => {
        const scope = scopeFor(req, req.query);
        const { chart } = req.params;
        // The before/after figures have fixed windows: the period is not theirs.
        const table =
          chart === 'bed-days'
            ? beforeAfterTable(
                (await bedDaysFigures(scope.districts)).windows,
                'bedDaysBefore',
                'bedDaysAfter',
              )
            : chart === 'care-hours'
              ? beforeAfterTable(
                  (await careHoursFigures(scope.districts)).windows,
                  'careHoursBefore',
                  'careHoursAfter',
                )
              : chartOf(summaryTables(await summaryOf(scope)), chart);
        if (!table) throw new NotFoundError('no such chart');
        return csvReply(reply, chart, toCsv(table));
      }),
    episodesCsv: (req, reply) =>
      bounded(req, async () => {
        const secret = deps.config.REPORTS_PSEUDONYM_KEY;
        if (!secret) throw new UnavailableError('REPORTS_PSEUDONYM_KEY is not set: no episode export');
        const scope = scopeFor(req, req.query);
        const principal = principals.get(req);
        if (!principal) throw new UnauthorizedError('send Authorization: Bearer <token>');
        const { cases } = await deps.store.rows(scope);
        log.info(
          { tokenId: principal.tokenId, role: principal.role, episodes: cases.length },
          'episode export',
        );
        return csvReply(
          reply,
          'episodes',
          toCsv(episodeTable(cases, recipientKey(secret, principal.recipient))),
        );
      }),
    bedDays: (req) => bounded(req, () => bedDaysFigures(districtsOf(req, req.query.districts))),
    careHours: (req) => bounded(req, () => careHoursFigures(districtsOf(req, req.query.districts))),
    // Refused row by row; nothing imported while a row is refused, unless `partial=true` asks for
    // the good rows.
    importEpisodes: async (req, reply) => {
      const file = readEpisodeFile(req.body);
      const partial = req.query.partial === 'true';
      if ('fileError' in file)
        return reply.code(400).send({ error: 'bad-file', message: file.fileError, imported: 0 });
      const ids = residentsOf(file);
      // Residents the registry holds count as known too: one referred and not yet installed has
      // no device, so the read model has never seen them.
      const registry = await registryCohort('residents cannot be checked');
      const known = await deps.store.knownResidents(ids);
      for (const r of registry?.residents ?? []) known.add(r.residentId);
      const importId = `imp_${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
      // Checked against the stays already imported and written in one turn, so that a file sent
      // twice at once is imported once.
      const checked = await deps.store.importStays(
        [...known],
        (stays) => {
          const existing = new Map<string, { admitted: string; discharged: string }[]>();
          for (const s of stays) existing.set(s.residentId, [...(existing.get(s.residentId) ?? []), s]);
          const result = checkEpisodes(file, known, existing, now().toISOString().slice(0, 10));
          const refusedWhole = result.fileError || (result.refused.length > 0 && !partial);
          return { add: refusedWhole ? [] : result.accepted, result };
        },
        importId,
        now(),
      );
      if (checked.refused.length > 0 && !partial)
        return reply.code(422).send({
          imported: 0,
          alreadyImported: checked.alreadyImported,
          duplicates: checked.duplicates,
          refused: checked.refused,
          message: 'nothing imported: fix the rows refused, or send partial=true',
        });
      log.info(
        {
          importId,
          imported: checked.accepted.length,
          alreadyImported: checked.alreadyImported,
          duplicates: checked.duplicates.length,
          refused: checked.refused.length,
        },
        'hospital episodes imported',
      );
      return {
        importId,
        imported: checked.accepted.length,
        alreadyImported: checked.alreadyImported,
        duplicates: checked.duplicates,
        refused: checked.refused,
      };
    },
    createToken: async (req) => {
      const { role, recipient, expiresInDays, districts = null } = req.body;
      // Token lifetimes are wall-clock time, as they are checked (above).
      const created = await tokens.create(role, recipient, expiresInDays, districts, new Date());
      log.info(
        { tokenId: created.id, role, expiresAt: created.expiresAt, districts },
        'report token created',
      );
      return { ...created, role, recipient, districts };
    },
    revokeToken: async (req, reply) => {
      if (!(await tokens.revoke(req.params.id, now()))) throw new NotFoundError(`no token ${req.params.id}`);
      return reply.code(204).send();
    },
  };
}

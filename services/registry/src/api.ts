import { REGISTRY_API, REGISTRY_ROUTES } from '@telecare/contracts';
import {
  bearerToken,
  type Clock,
  type Counter,
  type FastifyInstance,
  type FastifyRequest,
  httpErrorHandler,
  type Logger,
  mountRoutes,
  type PersonLimit,
  sameSecret,
  serveOpenApi,
  UnauthorizedError,
  withTimeout,
} from '@telecare/platform';
import type { AwayPublisher } from './away-bucket.ts';
import type { CredentialAuthority } from './credentials.ts';
import type { Dc09AccountPublisher } from './dc09-accounts.ts';
import type { DeviceMapPublisher } from './device-map.ts';
import { Dc09AccountsFullError, DeviceMapFullError, ForbiddenError } from './errors.ts';
import { type IdempotencyStore, ReplayedRefusal } from './idempotency.ts';
import { adminHandlers } from './routes/admin.ts';
import type { RouteContext } from './routes/context.ts';
import { deviceHandlers } from './routes/devices.ts';
import { residentHandlers } from './routes/residents.ts';
import type { ApiRole } from './schemas.ts';
import type { RegistryStore } from './store.ts';

export interface ApiDeps {
  store: RegistryStore;
  /** The answers kept for `Idempotency-Key` (absent in tests that mount the routes alone: keys ignored). */
  idempotency?: IdempotencyStore;
  deviceMap: DeviceMapPublisher;
  dc09: Dc09AccountPublisher;
  /** The resident-away bucket triage follows (absent in tests that mount the routes alone). */
  away?: AwayPublisher;
  credentials: CredentialAuthority | undefined;
  /** Devices whose copies `publishedAll` publishes together, a chunk (REGISTRY_PUBLISH_WINDOW; 256 unless told). */
  publishWindow?: number;
  clock: Clock;
  logger: Logger;
  adminToken: string | undefined;
  /** The helpline's token (role `helpline-service`) from the environment, when set. */
  helplineToken?: string | undefined;
  /** The reports service's token (role `reports-service`) from the environment, when set. */
  reportsToken?: string | undefined;
  /** Reveals per calling token and named person, and per token, counted in PostgreSQL. */
  revealLimits: { perPerson: PersonLimit; perToken: PersonLimit };
  testTimeoutS: number;
  /** Test calls one token (the admin token aside) may hold waiting at once. */
  testsPerToken?: number;
  /** Whether a DC-09 account may be registered without a key. */
  dc09Keyless: 'refuse' | 'allow';
  metrics: {
    residentsCreated: Counter;
    devicesCreated: Counter;
    refused: Counter<'reason'>;
  };
}

/** Who is calling: the admin token from the environment, or a token from the registry's table. */
export interface Principal {
  actor: string;
  role: ApiRole;
}

const PUBLISH_WAIT_MS = 2_000;

export const HELPLINE_ACTOR = 'helpline';
export const REPORTS_ACTOR = 'reports';

/**
 * Registers the routes of `REGISTRY_ROUTES` (one file per resource under `routes/`) and
 * `/openapi.json`. Every route needs a bearer token; the roles each allows are in the contracts
 * (docs/security.md's matrix).
 */
export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const log = deps.logger.child({ component: 'api' });
  const principals = new WeakMap<FastifyRequest, Principal>();
  const ctx: RouteContext = {
    deps,
    log,
    now: () => new Date(deps.clock.now()),
    principal: (req) => {
      const principal = principals.get(req);
      if (!principal) throw new ForbiddenError('act', 'unknown');
      return principal;
    },
    personalRead: (req, what, residentIds) => {
      const principal = principals.get(req);
      // Who read whose record: an audit trail in the log, by ids (the data itself never is).
      log.info(
        {
          event: 'personal-data-read',
          principal: principal?.actor,
          role: principal?.role,
          what,
          residentIds,
        },
        'personal data read',
      );
    },
    once: async (req, reply, work, options = {}) => {
      const key = req.headers['idempotency-key'];
      if (typeof key !== 'string' || !deps.idempotency)
        return { body: await work(undefined), replayed: false };
      const claim = {
        actor: ctx.principal(req).actor,
        key,
        route: `${req.method} ${req.url.split('?')[0]}`,
        body: 'fingerprinted' in options ? options.fingerprinted : req.body,
      };
      const outcome = await deps.idempotency.once(claim, ctx.now(), reply.statusCode, work, options.keep);
      if (!outcome.replayed) return outcome;
      const { status, body } = outcome.answer;
      log.info(
        { event: 'idempotent-replay', principal: claim.actor, route: claim.route, status },
        'request replayed',
      );
      // A refusal is thrown again as it was; an answer with a failing status of its own (an import's
      // 422 listing its errors) is sent as it was.
      if (status >= 400 && typeof (body as { error?: unknown } | null)?.error === 'string')
        throw new ReplayedRefusal(status, body as Record<string, unknown>);
      reply.code(status).header('idempotent-replayed', 'true');
      return { body: body as never, replayed: true };
    },
    published: async (serial, previousAccount) => {
      const outcomes = await withTimeout(
        Promise.all([deps.deviceMap.publish(serial), deps.dc09.publish(serial, previousAccount)]),
        PUBLISH_WAIT_MS,
      );
      if (outcomes?.[0] === 'full') throw new DeviceMapFullError(serial);
      if (outcomes?.[1] === 'full') {
        // The account the change concerns: the one it holds now, or the one it left.
        const rows = await deps.store.mapRowsFor(serial).catch(() => undefined);
        throw new Dc09AccountsFullError(serial, rows?.device.dc09_account ?? previousAccount ?? null);
      }
    },
    publishedAll: async (serials) => {
      // A chunk at a time, each device once in it: its copies are never published twice at once.
      const window = deps.publishWindow ?? 256;
      const pending = await Promise.all([
        deps.deviceMap.publishMany(serials, window),
        deps.dc09.publishMany(serials, window),
      ]);
      return new Set(pending.flat()).size;
    },
  };
  const authenticate = async (req: FastifyRequest): Promise<Principal | undefined> => {
    const token = bearerToken(req.headers.authorization);
    if (!token) return undefined;
    if (deps.adminToken && sameSecret(token, deps.adminToken)) return { actor: 'admin-token', role: 'admin' };
    if (deps.helplineToken && sameSecret(token, deps.helplineToken))
      return { actor: HELPLINE_ACTOR, role: 'helpline-service' };
    if (deps.reportsToken && sameSecret(token, deps.reportsToken))
      return { actor: REPORTS_ACTOR, role: 'reports-service' };
    const found = await deps.store.tokenFor(token, ctx.now());
    return found ? { actor: found.id, role: found.role as ApiRole } : undefined;
  };

  await serveOpenApi(app, REGISTRY_API);
  await app.register(async (api) => {
    // onRequest, not preHandler: an unauthenticated caller learns nothing about body validation.
    api.addHook('onRequest', async (req) => {
      const principal = await authenticate(req);
      if (!principal) throw new UnauthorizedError('send Authorization: Bearer <token>');
      principals.set(req, principal);
    });
    api.setErrorHandler(
      httpErrorHandler({
        logger: log,
        internalMessage: 'the registry could not complete this',
        onRefused: (code) => {
          if (code !== 'not-found') deps.metrics.refused.inc({ reason: refusalReason(code) });
        },
      }),
    );
    mountRoutes(
      api,
      REGISTRY_ROUTES,
      { ...residentHandlers(ctx), ...deviceHandlers(ctx), ...adminHandlers(ctx) },
      (req) => principals.get(req)?.role,
    );
  });
}

/** The `reason` label of the refused counter. */
const refusalReason = (code: string): string =>
  code === 'invalid-request' ? 'invalid' : code === 'unauthorized' ? 'unauthorized' : code;

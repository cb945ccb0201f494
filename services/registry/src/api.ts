import {
  bearerToken,
  type Clock,
  type Counter,
  type FastifyInstance,
  type FastifyRequest,
  type Logger,
  nulPaths,
  SlidingWindowLimiter,
  sameSecret,
  withTimeout,
} from '@telecare/platform';
import type { CredentialAuthority } from './credentials.ts';
import { hashSecret, hashToken, newApiToken, newSecret } from './crypto.ts';
import type { Dc09AccountPublisher } from './dc09-accounts.ts';
import type { DeviceMapPublisher } from './device-map.ts';
import {
  DependencyError,
  DuplicateSerialError,
  ForbiddenError,
  InvalidRequestError,
  NotFoundError,
  RateLimitedError,
  RefusedError,
  UnknownResidentError,
} from './errors.ts';
import { importCsv } from './import.ts';
import type { Device } from './records.ts';
import {
  type ApiRole,
  CreateCarePackageBody,
  CreateDeviceBody,
  CreateResidentBody,
  CreateResponderBody,
  CreateTokenBody,
  HealthQuery,
  ImportBody,
  keylessProblem,
  ListDevicesQuery,
  ListResidentsQuery,
  parseRequest,
  RevealBody,
  StartTestBody,
  UpdateDeviceBody,
  UpdateResidentBody,
} from './schemas.ts';
import type { RegistryStore, RevealAudit } from './store.ts';

export interface ApiDeps {
  store: RegistryStore;
  deviceMap: DeviceMapPublisher;
  dc09: Dc09AccountPublisher;
  credentials: CredentialAuthority | undefined;
  clock: Clock;
  logger: Logger;
  adminToken: string | undefined;
  /** The helpline's token (role `helpline-service`) from the environment, when set. */
  helplineToken?: string | undefined;
  /** The reports service's token (role `reports-service`) from the environment, when set. */
  reportsToken?: string | undefined;
  revealLimits?: { perPerson: number; perToken: number; windowS: number };
  testTimeoutS: number;
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

/**
 * The role × endpoint matrix (docs/security.md): people's roles never reveal here; the helpline
 * reveals for them with its own token, naming the case and the person; a commissioner reads no
 * identifiable resident data (names, addresses, phones, notes, responders).
 */
const WRITE: readonly ApiRole[] = ['admin', 'installer'];
const REVEAL: readonly ApiRole[] = ['admin', 'helpline-service'];
const ADMIN: readonly ApiRole[] = ['admin'];
/** Identifiable resident data, one record at a time. */
const READ_PERSON: readonly ApiRole[] = ['admin', 'installer', 'operator', 'supervisor', 'helpline-service'];
/** Every resident at once: not the helpline's token, which reads the residents its cases name. */
const LIST_PEOPLE: readonly ApiRole[] = ['admin', 'installer', 'operator', 'supervisor'];
/** Devices carry resident ids and rooms, no names. */
const READ_DEVICES: readonly ApiRole[] = ['admin', 'installer', 'operator', 'supervisor', 'helpline-service'];
/** Device health (battery, mains, overdue) also feeds commissioners' fault figures. */
const READ_HEALTH: readonly ApiRole[] = [
  'admin',
  'installer',
  'operator',
  'supervisor',
  'commissioner',
  'helpline-service',
];

/** Per resident id, non-identifying: the reports service's one read. */
const READ_COHORT: readonly ApiRole[] = ['admin', 'reports-service'];

export const HELPLINE_ACTOR = 'helpline';
export const REPORTS_ACTOR = 'reports';

/** Registers `/api/…`; every route there needs a bearer token, and writes need a role that may write. */
export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const log = deps.logger.child({ component: 'api' });
  const now = () => new Date(deps.clock.now());
  const principals = new WeakMap<FastifyRequest, Principal>();
  const allow = (req: FastifyRequest, roles: readonly ApiRole[], action: string): Principal => {
    const principal = principals.get(req);
    if (!principal) throw new ForbiddenError(action, 'unknown');
    if (!roles.includes(principal.role)) throw new ForbiddenError(action, principal.role);
    return principal;
  };

  // The services' own tokens from the environment, each with its one role.
  const serviceTokens: [string | undefined, Principal][] = [
    [deps.helplineToken, { actor: HELPLINE_ACTOR, role: 'helpline-service' }],
    [deps.reportsToken, { actor: REPORTS_ACTOR, role: 'reports-service' }],
  ];
  const limits = deps.revealLimits ?? { perPerson: 20, perToken: 600, windowS: 600 };
  const clockNow = () => deps.clock.now();
  const revealLimit = {
    perPerson: new SlidingWindowLimiter(limits.perPerson, limits.windowS * 1000, clockNow),
    perToken: new SlidingWindowLimiter(limits.perToken, limits.windowS * 1000, clockNow),
  };

  /** After a commit, the copies follow: device map and DC-09 accounts. */
  const published = async (serial: string, previousAccount?: string | null) => {
    await withTimeout(
      Promise.all([deps.deviceMap.publish(serial), deps.dc09.publish(serial, previousAccount)]),
      PUBLISH_WAIT_MS,
    );
  };

  await app.register(
    async (api) => {
      // onRequest, not preHandler: an unauthenticated caller learns nothing about body validation.
      api.addHook('onRequest', async (req, reply) => {
        const token = bearerToken(req.headers.authorization);
        if (token && deps.adminToken && sameSecret(token, deps.adminToken)) {
          principals.set(req, { actor: 'admin-token', role: 'admin' });
          return;
        }
        const service = token
          ? serviceTokens.find(([secret]) => secret && sameSecret(token, secret))
          : undefined;
        if (service) {
          principals.set(req, service[1]);
          return;
        }
        const found = token ? await deps.store.tokenByHash(hashToken(token)) : undefined;
        if (found) {
          principals.set(req, { actor: found.id, role: found.role as ApiRole });
          return;
        }
        deps.metrics.refused.inc({ reason: 'unauthorized' });
        return reply.code(401).send({ error: 'unauthorized', message: 'send Authorization: Bearer <token>' });
      });

      api.addHook('preValidation', async (req) => {
        const withNul = nulPaths(req.params);
        if (withNul.length > 0)
          throw new InvalidRequestError(
            withNul.map((path) => ({ path: `params.${path}`, message: 'must not contain NUL (\\u0000)' })),
          );
      });

      api.setErrorHandler(async (err, req, reply) => {
        if (err instanceof InvalidRequestError) {
          deps.metrics.refused.inc({ reason: 'invalid' });
          return reply.code(400).send({ error: 'invalid-request', message: err.message, issues: err.issues });
        }
        if (err instanceof RateLimitedError) {
          deps.metrics.refused.inc({ reason: 'rate-limited' });
          return reply
            .code(429)
            .header('retry-after', String(err.retryAfterS))
            .send({ error: 'rate-limited', message: err.message });
        }
        if (err instanceof NotFoundError) {
          return reply.code(404).send({ error: 'not-found', message: err.message });
        }
        if (err instanceof ForbiddenError) {
          deps.metrics.refused.inc({ reason: 'forbidden' });
          return reply.code(403).send({ error: 'forbidden', message: err.message });
        }
        if (err instanceof DuplicateSerialError) {
          deps.metrics.refused.inc({ reason: 'duplicate-serial' });
          return reply.code(409).send({
            error: 'duplicate-serial',
            message: err.message,
            issues: [{ path: 'serial', message: 'already registered' }],
          });
        }
        if (err instanceof UnknownResidentError) {
          deps.metrics.refused.inc({ reason: 'unknown-resident' });
          return reply.code(422).send({
            error: 'unknown-resident',
            message: err.message,
            issues: [{ path: 'residentId', message: err.message }],
          });
        }
        if (err instanceof RefusedError) {
          deps.metrics.refused.inc({ reason: err.code });
          return reply.code(err.status).send({ error: err.code, message: err.message, issues: err.issues });
        }
        if (err instanceof DependencyError) {
          log.warn({ err }, 'dependency refused or did not answer');
          return reply.code(503).send({ error: 'unavailable', message: err.message });
        }
        // Fastify's own 4xx (malformed JSON, wrong content type, body too large).
        const status = typeof err === 'object' && err !== null && 'statusCode' in err ? err.statusCode : 500;
        if (typeof status === 'number' && status >= 400 && status < 500) {
          deps.metrics.refused.inc({ reason: 'invalid' });
          const message = err instanceof Error ? err.message : 'bad request';
          return reply.code(status).send({ error: 'invalid-request', issues: [{ path: '(body)', message }] });
        }
        log.error({ err, method: req.method, url: req.routeOptions.url }, 'request failed');
        return reply.code(500).send({ error: 'internal', message: 'the registry could not complete this' });
      });

      // --- residents ----------------------------------------------------------------------------

      api.post('/residents', async (req, reply) => {
        allow(req, WRITE, 'create residents');
        const body = parseRequest(CreateResidentBody, req.body);
        const resident = await deps.store.createResident(body, now());
        deps.metrics.residentsCreated.inc();
        log.info(
          { residentId: resident.id, postcodeDistrict: resident.postcodeDistrict },
          'resident created',
        );
        return reply.code(201).header('location', `/api/residents/${resident.id}`).send(resident);
      });

      api.patch<{ Params: { id: string } }>('/residents/:id', async (req) => {
        allow(req, WRITE, 'change residents');
        const body = parseRequest(UpdateResidentBody, req.body);
        const { resident, serials } = await deps.store.updateResident(req.params.id, body, now());
        log.info(
          { residentId: resident.id, fields: Object.keys(body), devices: serials.length },
          'resident changed',
        );
        // The district (and updatedAt) of every device's entries follows the resident.
        for (const serial of serials) await published(serial);
        return resident;
      });

      api.get('/residents', async (req) => {
        allow(req, LIST_PEOPLE, 'list residents');
        const query = parseRequest(ListResidentsQuery, req.query);
        const { residents, total } = await deps.store.searchResidents(query, query);
        return { residents, total, limit: query.limit, offset: query.offset };
      });

      api.get<{ Params: { id: string } }>('/residents/:id', async (req) => {
        allow(req, READ_PERSON, 'read residents');
        return deps.store.getResident(req.params.id);
      });

      api.post<{ Params: { id: string } }>('/residents/:id/reveal', async (req) => {
        const principal = allow(req, REVEAL, 'reveal sensitive fields');
        const body = parseRequest(RevealBody, req.body);
        const audit = revealAudit(principal, body);
        const person = revealLimit.perPerson.attempt(`${principal.actor}\u001f${audit.actor.id}`);
        const decision = person.allowed ? revealLimit.perToken.attempt(principal.actor) : person;
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
        const values = await deps.store.reveal(req.params.id, body.fields, audit, now());
        log.info(
          {
            residentId: req.params.id,
            fields: body.fields,
            principal: principal.actor,
            actorId: audit.actor.id,
            caseId: audit.caseId,
          },
          'sensitive fields revealed',
        );
        return { residentId: req.params.id, ...values };
      });

      api.get<{ Params: { id: string } }>('/residents/:id/audit', async (req) => {
        allow(req, ADMIN, 'read the audit of sensitive reads');
        return { reads: await deps.store.sensitiveReads(req.params.id) };
      });

      api.get<{ Params: { id: string } }>('/residents/:id/responders', async (req) => {
        allow(req, READ_PERSON, 'read responders');
        return { responders: await deps.store.listResponders(req.params.id) };
      });

      api.post<{ Params: { id: string } }>('/residents/:id/responders', async (req, reply) => {
        allow(req, WRITE, 'change responders');
        const body = parseRequest(CreateResponderBody, req.body);
        await deps.store.addResponder(req.params.id, body, now());
        return reply.code(201).send({ responders: await deps.store.listResponders(req.params.id) });
      });

      api.delete<{ Params: { id: string; responderId: string } }>(
        '/residents/:id/responders/:responderId',
        async (req) => {
          allow(req, WRITE, 'change responders');
          await deps.store.removeResponder(req.params.id, req.params.responderId);
          return { responders: await deps.store.listResponders(req.params.id) };
        },
      );

      api.get<{ Params: { id: string } }>('/residents/:id/care-packages', async (req) => {
        allow(req, READ_PERSON, 'read care packages');
        return { carePackages: await deps.store.listCarePackages(req.params.id) };
      });

      api.post<{ Params: { id: string } }>('/residents/:id/care-packages', async (req, reply) => {
        allow(req, WRITE, 'change care packages');
        const body = parseRequest(CreateCarePackageBody, req.body);
        return reply.code(201).send(await deps.store.addCarePackage(req.params.id, body, now()));
      });

      api.get('/cohort', async (req) => {
        allow(req, READ_COHORT, 'read the cohort');
        return { residents: await deps.store.cohortFacts() };
      });

      // --- devices ------------------------------------------------------------------------------

      api.post('/devices', async (req, reply) => {
        allow(req, WRITE, 'register devices');
        const body = parseRequest(CreateDeviceBody, req.body);
        const keyless = keylessProblem(deps.dc09Keyless, body.dc09Account, body.dc09Key !== null);
        if (keyless) throw new InvalidRequestError([{ path: 'dc09Key', message: keyless }]);
        const issueSecret = body.protocol === 'mqtt' && deps.credentials !== undefined;
        const secret = issueSecret ? newSecret() : undefined;
        // The broker learns the secret inside the transaction: if it refuses, nothing is written.
        const device = await deps.store.createDevice(body, now(), {
          credentialHash: secret ? hashSecret(secret) : null,
          ...(secret ? { credentialSecret: secret } : {}),
          ...(secret && deps.credentials
            ? { beforeCommit: (d: Device) => deps.credentials!.install(d.serial, secret) }
            : {}),
        });
        deps.metrics.devicesCreated.inc();
        log.info(
          { deviceId: device.id, serial: device.serial, residentId: device.residentId },
          'device created',
        );
        await published(device.serial);
        return reply
          .code(201)
          .header('location', `/api/devices/${device.serial}`)
          .send({ ...device, ...credentialsOf(device, secret) });
      });

      api.get('/devices', async (req) => {
        allow(req, READ_DEVICES, 'read devices');
        const query = parseRequest(ListDevicesQuery, req.query);
        return { devices: await deps.store.listDevices({ residentId: query.residentId }, query) };
      });

      api.get('/devices/health', async (req) => {
        allow(req, READ_HEALTH, 'read device health');
        const query = parseRequest(HealthQuery, req.query);
        return {
          devices: await deps.store.health(
            { overdue: query.overdue, batteryBelow: query.batteryBelow },
            now(),
          ),
        };
      });

      api.get<{ Params: { serial: string } }>('/devices/:serial', async (req) => {
        allow(req, READ_DEVICES, 'read devices');
        return deps.store.getDevice(req.params.serial);
      });

      api.patch<{ Params: { serial: string } }>('/devices/:serial', async (req) => {
        allow(req, WRITE, 'change devices');
        const body = parseRequest(UpdateDeviceBody, req.body);
        if (body.dc09Key === null) {
          const current = await deps.store.getDevice(req.params.serial);
          const keyless = keylessProblem(deps.dc09Keyless, current.dc09Account, false);
          if (keyless) throw new InvalidRequestError([{ path: 'dc09Key', message: keyless }]);
        }
        const { after } = await deps.store.updateDevice(req.params.serial, body, now());
        log.info(
          { serial: after.serial, residentId: after.residentId, state: after.state },
          'device changed',
        );
        await published(after.serial);
        return after;
      });

      api.post<{ Params: { serial: string } }>('/devices/:serial/credentials', async (req, reply) => {
        allow(req, WRITE, 'issue device credentials');
        const authority = deps.credentials;
        if (!authority) {
          throw new RefusedError(
            409,
            'credentials-disabled',
            'MQTT_ADMIN_URL is not set: the broker takes devices without credentials',
          );
        }
        const secret = newSecret();
        const device = await deps.store.setCredential(
          req.params.serial,
          { hash: hashSecret(secret), secret },
          now(),
          (d) => authority.install(d.serial, secret),
        );
        log.info({ serial: device.serial }, 'device secret issued');
        return reply.code(201).send({ ...device, ...credentialsOf(device, secret) });
      });

      api.post<{ Params: { serial: string } }>('/devices/:serial/decommission', async (req) => {
        allow(req, WRITE, 'decommission devices');
        const { before, after } = await deps.store.decommission(req.params.serial, now(), async (d) => {
          if (deps.credentials && d.protocol === 'mqtt') await deps.credentials.revoke(d.serial);
        });
        log.info({ serial: after.serial }, 'device decommissioned');
        await published(after.serial, before.dc09Account);
        return after;
      });

      // --- test calls and health ----------------------------------------------------------------

      api.post<{ Params: { serial: string } }>('/devices/:serial/test', async (req, reply) => {
        const principal = allow(req, WRITE, 'run test calls');
        const body = parseRequest(StartTestBody, req.body);
        const test = await deps.store.startTest(
          req.params.serial,
          body.timeoutS ?? deps.testTimeoutS,
          principal.actor,
          now(),
        );
        log.info({ serial: test.serial, testId: test.id, deadline: test.deadline }, 'test call started');
        await published(test.serial);
        return reply.code(201).send(test);
      });

      api.get<{ Params: { serial: string } }>('/devices/:serial/test', async (req) => {
        allow(req, READ_DEVICES, 'read test calls');
        await deps.store.getDevice(req.params.serial);
        const test = await deps.store.latestTest(req.params.serial);
        if (!test) throw new NotFoundError('test call', req.params.serial);
        return test;
      });

      api.delete<{ Params: { serial: string } }>('/devices/:serial/test', async (req) => {
        allow(req, WRITE, 'run test calls');
        const waiting = await deps.store.waitingTest(req.params.serial);
        if (!waiting) throw new NotFoundError('test call', req.params.serial);
        const test = await deps.store.finishTest(
          waiting.id,
          { status: 'cancelled', reason: 'cancelled' },
          now(),
        );
        await published(req.params.serial);
        return test ?? (await deps.store.latestTest(req.params.serial));
      });

      api.get<{ Params: { serial: string } }>('/devices/:serial/health', async (req) => {
        allow(req, READ_HEALTH, 'read device health');
        await deps.store.getDevice(req.params.serial);
        const [health] = await deps.store.health({ serial: req.params.serial }, now());
        if (!health) {
          throw new RefusedError(409, 'not-in-service', `device ${req.params.serial} is not in service`);
        }
        return health;
      });

      // --- bulk import and tokens ---------------------------------------------------------------

      api.post('/import', async (req, reply) => {
        allow(req, WRITE, 'import');
        const body = parseRequest(ImportBody, req.body);
        const result = await importCsv(deps.store, body, now(), deps.credentials, deps.dc09Keyless);
        if (result.imported) {
          for (const serial of result.serials) await published(serial);
          log.info(
            { residents: result.residents.length, devices: result.devices.length },
            'import committed',
          );
        }
        return reply.code(result.errors.length > 0 && !result.imported ? 422 : 200).send({
          imported: result.imported,
          residents: result.residents,
          devices: result.devices,
          // The secrets are shown this once, as for a single registration.
          ...(deps.credentials ? { credentials: result.credentials } : {}),
          errors: result.errors,
        });
      });

      api.post('/tokens', async (req, reply) => {
        allow(req, ADMIN, 'create API tokens');
        const body = parseRequest(CreateTokenBody, req.body);
        const token = newApiToken();
        const created = await deps.store.createToken({ ...body, hash: hashToken(token) }, now());
        log.info({ tokenId: created.id, role: created.role }, 'api token created');
        // The token is shown this once; only its hash is kept.
        return reply.code(201).send({ ...created, token });
      });

      api.delete<{ Params: { id: string } }>('/tokens/:id', async (req) => {
        allow(req, ADMIN, 'revoke API tokens');
        await deps.store.revokeToken(req.params.id, now());
        return { id: req.params.id, revoked: true };
      });
    },
    { prefix: '/api' },
  );
}

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

/** The MQTT login, with the secret only in the one answer that issues it. */
function credentialsOf(device: Device, secret: string | undefined) {
  return secret ? { credentials: { username: device.serial, secret } } : {};
}

import type { Clock, Counter, FastifyInstance, Logger } from '@telecare/platform';
import { bearerAuth } from '@telecare/platform';
import type { DeviceMapPublisher } from './device-map.ts';
import { DuplicateSerialError, InvalidRequestError, NotFoundError, UnknownResidentError } from './errors.ts';
import {
  CreateDeviceBody,
  CreateResidentBody,
  ListDevicesQuery,
  ListResidentsQuery,
  parseRequest,
} from './schemas.ts';
import type { RegistryStore } from './store.ts';

export interface ApiDeps {
  store: RegistryStore;
  deviceMap: DeviceMapPublisher;
  clock: Clock;
  logger: Logger;
  adminToken: string | undefined;
  metrics: {
    residentsCreated: Counter;
    devicesCreated: Counter;
    refused: Counter<'reason'>;
  };
}

const PUBLISH_WAIT_MS = 2_000;

const settledWithin = (ms: number, work: Promise<unknown>): Promise<unknown> =>
  Promise.race([work, new Promise((resolve) => setTimeout(resolve, ms).unref())]);

/** Registers `/api/…`; every route there needs the bearer token. */
export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const log = deps.logger.child({ component: 'api' });
  const now = () => new Date(deps.clock.now());

  await app.register(
    async (api) => {
      // onRequest, not preHandler: an unauthenticated caller learns nothing about body validation.
      api.addHook('onRequest', bearerAuth(deps.adminToken));
      api.addHook('onResponse', async (_req, reply) => {
        if (reply.statusCode === 401) deps.metrics.refused.inc({ reason: 'unauthorized' });
      });

      api.setErrorHandler(async (err, req, reply) => {
        if (err instanceof InvalidRequestError) {
          deps.metrics.refused.inc({ reason: 'invalid' });
          return reply.code(400).send({ error: 'invalid-request', issues: err.issues });
        }
        if (err instanceof NotFoundError) {
          return reply.code(404).send({ error: 'not-found', message: err.message });
        }
        if (err instanceof DuplicateSerialError) {
          deps.metrics.refused.inc({ reason: 'duplicate-serial' });
          return reply.code(409).send({ error: 'duplicate-serial', message: err.message });
        }
        if (err instanceof UnknownResidentError) {
          deps.metrics.refused.inc({ reason: 'unknown-resident' });
          return reply.code(422).send({
            error: 'unknown-resident',
            message: err.message,
            issues: [{ path: 'residentId', message: err.message }],
          });
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

      api.post('/residents', async (req, reply) => {
        const body = parseRequest(CreateResidentBody, req.body);
        const resident = await deps.store.createResident(body, now());
        deps.metrics.residentsCreated.inc();
        log.info(
          { residentId: resident.id, postcodeDistrict: resident.postcodeDistrict },
          'resident created',
        );
        return reply.code(201).header('location', `/api/residents/${resident.id}`).send(resident);
      });

      api.get('/residents', async (req) => {
        const query = parseRequest(ListResidentsQuery, req.query);
        return { residents: await deps.store.listResidents(query) };
      });

      api.get<{ Params: { id: string } }>('/residents/:id', async (req) =>
        deps.store.getResident(req.params.id),
      );

      api.post('/devices', async (req, reply) => {
        const body = parseRequest(CreateDeviceBody, req.body);
        const device = await deps.store.createDevice(body, now());
        deps.metrics.devicesCreated.inc();
        log.info(
          { deviceId: device.id, serial: device.serial, residentId: device.residentId },
          'device created',
        );
        // After the commit: the row is the record, the map a copy. Wait (briefly) for the first
        // attempt so a caller that gets 201 normally finds the entry already there; a failed or slow
        // put carries on and retries on its own, and must not hold the installer's request.
        await settledWithin(PUBLISH_WAIT_MS, deps.deviceMap.publish(device.serial));
        return reply.code(201).header('location', `/api/devices/${device.serial}`).send(device);
      });

      api.get('/devices', async (req) => {
        const query = parseRequest(ListDevicesQuery, req.query);
        return { devices: await deps.store.listDevices({ residentId: query.residentId }, query) };
      });

      api.get<{ Params: { serial: string } }>('/devices/:serial', async (req) =>
        deps.store.getDevice(req.params.serial),
      );
    },
    { prefix: '/api' },
  );
}

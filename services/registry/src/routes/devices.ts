import type { DEVICE_ROUTES } from '@telecare/contracts';
import type { RouteHandlers } from '@telecare/platform';
import { hashSecret, newSecret } from '../crypto.ts';
import { InvalidRequestError, NotFoundError, RefusedError } from '../errors.ts';
import type { Device } from '../records.ts';
import { keylessProblem } from '../schemas.ts';
import type { RouteContext } from './context.ts';

/** Devices: registration (with the broker login), changes, credentials, test calls and health. */
export function deviceHandlers(ctx: RouteContext): RouteHandlers<typeof DEVICE_ROUTES> {
  const { deps, log, now } = ctx;
  return {
    createDevice: async (req, reply) => {
      const body = req.body;
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
      await ctx.published(device.serial);
      return reply
        .header('location', `/api/devices/${device.serial}`)
        .send({ ...device, ...credentialsOf(device, secret) });
    },

    listDevices: async (req) => ({
      devices: await deps.store.listDevices({ residentId: req.query.residentId }, req.query),
    }),

    devicesHealth: async (req) => ({
      devices: await deps.store.health(
        { overdue: req.query.overdue, batteryBelow: req.query.batteryBelow },
        now(),
      ),
    }),

    getDevice: async (req) => deps.store.getDevice(req.params.serial),

    updateDevice: async (req) => {
      const body = req.body;
      if (body.dc09Key === null) {
        const current = await deps.store.getDevice(req.params.serial);
        const keyless = keylessProblem(deps.dc09Keyless, current.dc09Account, false);
        if (keyless) throw new InvalidRequestError([{ path: 'dc09Key', message: keyless }]);
      }
      // A device that leaves its resident gets a new secret (used only then): see updateDevice.
      const authority = deps.credentials;
      const secret = authority ? newSecret() : undefined;
      const { after, rekeyed } = await deps.store.updateDevice(
        req.params.serial,
        body,
        now(),
        undefined,
        secret && authority
          ? { hash: hashSecret(secret), secret, beforeCommit: (d) => authority.install(d.serial, secret) }
          : undefined,
      );
      log.info(
        { serial: after.serial, residentId: after.residentId, state: after.state, rekeyed },
        'device changed',
      );
      await ctx.published(after.serial);
      return { ...after, ...credentialsOf(after, rekeyed ? secret : undefined) };
    },

    issueCredentials: async (req) => {
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
      return { ...device, ...credentialsOf(device, secret) };
    },

    decommissionDevice: async (req) => {
      const { before, after } = await deps.store.decommission(req.params.serial, now(), async (d) => {
        if (deps.credentials && d.protocol === 'mqtt') await deps.credentials.revoke(d.serial);
      });
      log.info({ serial: after.serial }, 'device decommissioned');
      await ctx.published(after.serial, before.dc09Account);
      return after;
    },

    startTest: async (req) => {
      const principal = ctx.principal(req);
      const test = await deps.store.startTest(
        req.params.serial,
        req.body.timeoutS ?? deps.testTimeoutS,
        principal.actor,
        now(),
        principal.role === 'admin' ? undefined : (deps.testsPerToken ?? 10),
      );
      log.info({ serial: test.serial, testId: test.id, deadline: test.deadline }, 'test call started');
      await ctx.published(test.serial);
      return test;
    },

    getTest: async (req) => {
      await deps.store.getDevice(req.params.serial);
      const test = await deps.store.latestTest(req.params.serial);
      if (!test) throw new NotFoundError('test call', req.params.serial);
      return test;
    },

    cancelTest: async (req) => {
      const waiting = await deps.store.waitingTest(req.params.serial);
      if (!waiting) throw new NotFoundError('test call', req.params.serial);
      const test = await deps.store.finishTest(
        waiting.id,
        { status: 'cancelled', reason: 'cancelled' },
        now(),
      );
      await ctx.published(req.params.serial);
      return test ?? (await deps.store.latestTest(req.params.serial));
    },

    deviceHealth: async (req) => {
      await deps.store.getDevice(req.params.serial);
      const [health] = await deps.store.health({ serial: req.params.serial }, now());
      if (!health) {
        throw new RefusedError(409, 'not-in-service', `device ${req.params.serial} is not in service`);
      }
      return health;
    },
  };
}

/** The MQTT login, with the secret only in the one answer that issues it. */
function credentialsOf(device: Device, secret: string | undefined) {
  return secret ? { credentials: { username: device.serial, secret } } : {};
}

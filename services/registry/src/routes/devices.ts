import type { DEVICE_ROUTES } from '@telecare/contracts';
import type { Logger, RouteHandlers } from '@telecare/platform';
import type { CredentialAuthority } from '../credentials.ts';
import { hashSecret, newSecret } from '../crypto.ts';
import { DependencyError, InvalidRequestError, NotFoundError, RefusedError } from '../errors.ts';
import { secretNotReplayed } from '../idempotency.ts';
import type { Device } from '../records.ts';
import { keylessProblem } from '../schemas.ts';
import type { HeldSecret, RegistryStore } from '../store.ts';
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
      const issuing = secret && deps.credentials ? issue(deps, secret, log, now) : undefined;
      const { body: answer, replayed } = await (issuing ?? unissued).run(() =>
        ctx.once(
          req,
          reply,
          async (db) => {
            const device = await deps.store.createDevice(body, now(), {
              credentialHash: secret ? hashSecret(secret) : null,
              ...(secret ? { credentialSecret: secret } : {}),
              ...(issuing ? { beforeCommit: issuing.beforeCommit } : {}),
              ...(db ? { client: db } : {}),
            });
            return { ...device, ...credentialsOf(device, secret) };
          },
          {
            keep: (shown) =>
              shown.credentials
                ? secretNotReplayed(
                    `device ${shown.serial} was registered by the request first sent with this Idempotency-Key; its MQTT secret was shown in that answer only and is not kept: issue a new one with POST /api/devices/${shown.serial}/credentials`,
                    shown,
                    ['credentials'],
                  )
                : { status: reply.statusCode, body: shown },
          },
        ),
      );
      if (!replayed) {
        deps.metrics.devicesCreated.inc();
        log.info(
          { deviceId: answer.id, serial: answer.serial, residentId: answer.residentId },
          'device created',
        );
        await ctx.published(answer.serial);
      }
      return reply.header('location', `/api/devices/${answer.serial}`).send(answer);
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
      const secret = deps.credentials ? newSecret() : undefined;
      const issuing = secret ? issue(deps, secret, log, now) : undefined;
      // Only a change of resident can issue one, so only then is the row marked beforehand.
      const { after, rekeyed } = await (issuing ?? unissued).run(
        () =>
          deps.store.updateDevice(
            req.params.serial,
            body,
            now(),
            undefined,
            secret && issuing
              ? {
                  hash: hashSecret(secret),
                  secret,
                  beforeCommit: issuing.beforeCommit,
                  issue: issuing.token,
                }
              : undefined,
          ),
        body.residentId === undefined ? undefined : req.params.serial,
      );
      log.info(
        { serial: after.serial, residentId: after.residentId, state: after.state, rekeyed },
        'device changed',
      );
      await ctx.published(after.serial);
      return { ...after, ...credentialsOf(after, rekeyed ? secret : undefined) };
    },

    issueCredentials: async (req, reply) => {
      if (!deps.credentials) {
        throw new RefusedError(
          409,
          'credentials-disabled',
          'MQTT_ADMIN_URL is not set: the broker takes devices without credentials',
        );
      }
      const secret = newSecret();
      const issuing = issue(deps, secret, log, now);
      const serial = req.params.serial;
      const { body: answer, replayed } = await issuing.run(
        () =>
          ctx.once(
            req,
            reply,
            async (db) => {
              const device = await deps.store.setCredential(
                serial,
                { hash: hashSecret(secret), secret, issue: issuing.token },
                now(),
                issuing.beforeCommit,
                db,
              );
              return { ...device, ...credentialsOf(device, secret) };
            },
            {
              keep: (shown) =>
                secretNotReplayed(
                  `a new MQTT secret for ${serial} was issued by the request first sent with this Idempotency-Key; it was shown in that answer only and is not kept: issue another with POST /api/devices/${serial}/credentials`,
                  shown,
                  ['credentials'],
                ),
            },
          ),
        serial,
      );
      if (!replayed) log.info({ serial }, 'device secret issued');
      return answer;
    },

    decommissionDevice: async (req) => {
      const { before, after } = await deps.store.decommission(req.params.serial, now(), async (d) => {
        if (deps.credentials && d.protocol === 'mqtt') await deps.credentials.revoke(d.serial);
      });
      log.info({ serial: after.serial }, 'device decommissioned');
      await ctx.published(after.serial, before.dc09Account);
      return after;
    },

    startTest: async (req, reply) => {
      const principal = ctx.principal(req);
      const { body: test, replayed } = await ctx.once(req, reply, (db) =>
        deps.store.startTest(
          req.params.serial,
          req.body.timeoutS ?? deps.testTimeoutS,
          principal.actor,
          now(),
          principal.role === 'admin' ? undefined : (deps.testsPerToken ?? 10),
          db,
        ),
      );
      if (!replayed) {
        log.info({ serial: test.serial, testId: test.id, deadline: test.deadline }, 'test call started');
        await ctx.published(test.serial);
      }
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

/** A write that issues no secret. */
const unissued = { run: <T>(write: () => Promise<T>, _serial?: string) => write() };

/**
 * A new MQTT secret, installed in the broker as the last step before its write commits (the broker
 * changes the password last of all, `DynsecAuthority.install`). When the write does not commit —
 * the broker failed part-way, its answer to the new password lost (it may hold it), or PostgreSQL
 * failed after it — nobody was shown the new secret, so the broker is given back what the device
 * held: its previous secret (sealed under the data key), or no client for a device that had none.
 * The installer at the door is answered 503 and the device goes on with the secret it has. Put
 * back under the device's row lock, and only while the row still holds the previous credential,
 * so a write that committed after all, or a secret issued since, is never undone. When it cannot
 * be put back (no sealed copy, or the broker gone away meanwhile), the row is marked in that same
 * transaction, and the broker repair (`broker-repair.ts`) gives the broker the row's secret once
 * it answers again: the device is not left refused until someone issues it a secret.
 *
 * `run(write, serial)` for a device that has a row records the issue first, in a write of its own
 * (`beginBrokerIssue`): a registry that dies after the broker took the new secret and before the
 * commit (or the putting back) leaves its token, and the repair puts the row's secret back. The
 * write tells the broker nothing if the repair has taken that token meanwhile (503, try again).
 */
function issue(
  deps: { store: RegistryStore; credentials?: CredentialAuthority | undefined },
  secret: string,
  log: Logger,
  now: () => Date,
) {
  const authority = deps.credentials!;
  /** This issue's token (`beginBrokerIssue`), if it recorded one. */
  let token: string | undefined;
  let touched: { serial: string; held: HeldSecret } | undefined;
  /** An issue whose write told the broker nothing takes its token back. */
  const untouched = async (marked: string | undefined) => {
    if (!marked || !token || touched) return;
    await deps.store.endBrokerIssue(token).catch((err: unknown) => {
      // Left behind: past the grace, the repair gives the broker the secret it already holds.
      log.warn({ err, serial: marked }, 'broker issue token not taken back');
    });
  };
  return {
    get token() {
      return token;
    },
    beforeCommit: async (device: Device, held: HeldSecret) => {
      touched = { serial: device.serial, held };
      await authority.install(device.serial, secret);
    },
    run: async <T>(write: () => Promise<T>, marked?: string): Promise<T> => {
      if (marked) token = await deps.store.beginBrokerIssue(marked, now());
      try {
        const done = await write();
        await untouched(marked);
        return done;
      } catch (err) {
        await untouched(marked);
        if (!touched) throw err;
        const { serial, held } = touched;
        const sealed = !held.issued || held.secret !== null;
        const putBack = await deps.store
          .putBackBrokerLogin(
            serial,
            held.issued ? held.hash : null,
            sealed
              ? () => (held.issued ? authority.install(serial, held.secret!) : authority.revoke(serial))
              : undefined,
            now(),
            token ?? null,
          )
          .catch((undo: unknown) => {
            // PostgreSQL failed too: nothing put back, and no mark for the repair to find.
            log.error({ err: undo, serial }, 'new secret not committed, nor put back, nor marked for repair');
            throw new DependencyError(
              `the broker did not confirm the new secret of ${serial}, nor take back the one it had: the device may be refused until a new secret is issued`,
              { cause: err },
            );
          });
        if (putBack.outcome === 'unconfirmed') {
          const repaired = sealed && putBack.marked;
          log.error(
            { err: putBack.err ?? err, serial, marked: putBack.marked },
            sealed
              ? 'new secret not committed, and the previous login could not be put back'
              : 'new secret not committed; the previous one cannot be put back without its sealed copy',
          );
          throw new DependencyError(
            repaired
              ? `the broker did not confirm the new secret of ${serial}, nor take back the one it had: the device may be refused until the broker answers again and the registry gives it back`
              : sealed
                ? `the broker did not confirm the new secret of ${serial}, nor take back what it had`
                : `the broker did not confirm the new secret of ${serial}, and the one it had cannot be put back (not sealed under the data key): the device may be refused until a new secret is issued`,
            { cause: err },
          );
        }
        log.warn(
          { err, serial, putBack: putBack.outcome === 'put-back' },
          'new secret not committed: the broker given back what the device held',
        );
        if (!(err instanceof DependencyError)) throw err;
        throw new DependencyError(
          `${err.message}: the new secret of ${serial} was not issued, the device keeps the one it had; try again`,
          { cause: err },
        );
      }
    },
  };
}

/** The MQTT login, with the secret only in the one answer that issues it. */
function credentialsOf(device: Device, secret: string | undefined) {
  return secret ? { credentials: { username: device.serial, secret } } : {};
}

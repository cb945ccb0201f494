import type { ADMIN_ROUTES } from '@telecare/contracts';
import type { RouteHandlers } from '@telecare/platform';
import { CopyFullError } from '../errors.ts';
import { type KeptAnswer, secretNotReplayed } from '../idempotency.ts';
import { type ImportResult, importCsv, importFingerprinted } from '../import.ts';
import type { RouteContext } from './context.ts';

/** Bulk import and API tokens. */
export function adminHandlers(ctx: RouteContext): RouteHandlers<typeof ADMIN_ROUTES> {
  const { deps, log, now } = ctx;
  return {
    importCsv: async (req, reply) => {
      const issuing = deps.credentials !== undefined;
      // One import at a time: a file sent twice at once is checked against what the first wrote.
      // Secrets installed for devices written in a key's transaction, which commits after the import.
      let installed: string[] = [];
      const { body: result, replayed } = await deps.store
        .exclusively('import', () =>
          ctx.once(
            req,
            reply,
            async (db) => {
              const done = await importCsv(
                deps.store,
                req.body,
                now(),
                deps.credentials,
                deps.dc09Keyless,
                db,
              );
              if (db && done.imported) installed = done.credentials.map((c) => c.serial);
              return done;
            },
            {
              fingerprinted: importFingerprinted(req.body),
              keep: (done) => keptImport(importAnswer(done, issuing)),
            },
          ),
        )
        .catch(async (err: unknown) => {
          // Not committed after all: the broker forgets the devices PostgreSQL does not hold.
          for (const serial of installed) {
            const undone = await deps.store
              .putBackBrokerLogin(serial, null, () => deps.credentials!.revoke(serial), now())
              .catch((undo: unknown) => ({ outcome: 'unconfirmed' as const, err: undo }));
            if (undone.outcome === 'unconfirmed')
              log.warn({ err: undone.err, serial }, 'broker client of an import not committed left');
          }
          throw err;
        });
      // A repeat is answered with the kept answer as it was (its status set by `once`).
      if (replayed) return reply.send(result as unknown as ReturnType<typeof importAnswer>['body']);
      let pending: number | undefined;
      if (result.imported) {
        pending = await ctx.publishedAll(result.serials);
        log.info(
          { residents: result.residents.length, devices: result.devices.length, pending },
          'import committed',
        );
      }
      const { status, body } = importAnswer(result, issuing);
      // Said only when some are pending, so the answer is the one kept for a replay otherwise.
      return reply.code(status).send(pending ? { ...body, pending } : body);
    },

    createToken: async (req, reply) => {
      const { body: created, replayed } = await ctx.once(
        req,
        reply,
        (db) => deps.store.createToken(req.body, now(), db),
        {
          keep: (shown) =>
            secretNotReplayed(
              `token ${shown.id} was created by the request first sent with this Idempotency-Key; it was shown in that answer only and is not kept: revoke it (DELETE /api/tokens/${shown.id}) and create another`,
              shown,
              ['token'],
            ),
        },
      );
      if (!replayed) log.info({ tokenId: created.id, role: created.role }, 'api token created');
      // The token is shown this once; only its hash is kept.
      return created;
    },

    revokeToken: async (req) => {
      await deps.store.revokeToken(req.params.id, now());
      // What the token left running goes with it: a device in test mode has its alarms routed to
      // the installer, not the operators, for up to an hour a call.
      // Every test is ended whatever the buckets say; a full one is answered after them all.
      let full: CopyFullError | undefined;
      for (const test of await deps.store.waitingTestsBy(req.params.id)) {
        const ended = await deps.store.finishTest(
          test.id,
          { status: 'cancelled', reason: 'token revoked' },
          now(),
        );
        if (!ended) continue;
        log.info(
          { tokenId: req.params.id, serial: test.serial, testId: test.id },
          'test call ended: its token was revoked',
        );
        await ctx.published(test.serial).catch((err: unknown) => {
          if (!(err instanceof CopyFullError)) throw err;
          full = err;
        });
      }
      if (full) throw full;
      return { id: req.params.id, revoked: true as const };
    },
  };
}

/**
 * An import's answer: 422 when it was refused (nothing written), else 200; with broker credentials
 * on (`issuing`), the secrets of the MQTT devices it created.
 */
function importAnswer(result: ImportResult, issuing: boolean) {
  return {
    status: result.errors.length > 0 && !result.imported ? 422 : 200,
    body: {
      imported: result.imported,
      residents: result.residents,
      devices: result.devices,
      // The secrets are shown this once, as for a single registration.
      ...(issuing ? { credentials: result.credentials } : {}),
      errors: result.errors,
    },
  };
}

/**
 * What an import's Idempotency-Key keeps: its answer, or, when that showed secrets, a refusal to
 * show them again naming the devices (`reissue`) with the rest of the answer.
 */
function keptImport({ status, body }: ReturnType<typeof importAnswer>): KeptAnswer {
  const reissue = (body.credentials ?? []).map((c) => c.serial);
  if (reissue.length === 0) return { status, body };
  return secretNotReplayed(
    `this import was done by the request first sent with this Idempotency-Key; the MQTT secrets of the devices it created were shown in that answer only and are not kept: issue new ones with POST /api/devices/{serial}/credentials for each serial in reissue`,
    { ...body, reissue },
    ['credentials'],
  );
}

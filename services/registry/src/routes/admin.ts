import type { ADMIN_ROUTES } from '@telecare/contracts';
import type { RouteHandlers } from '@telecare/platform';
import { importCsv } from '../import.ts';
import type { RouteContext } from './context.ts';

/** Bulk import and API tokens. */
export function adminHandlers(ctx: RouteContext): RouteHandlers<typeof ADMIN_ROUTES> {
  const { deps, log, now } = ctx;
  return {
    importCsv: async (req, reply) => {
      // One import at a time: a file sent twice at once is checked against what the first wrote.
      const result = await deps.store.exclusively('import', () =>
        importCsv(deps.store, req.body, now(), deps.credentials, deps.dc09Keyless),
      );
      if (result.imported) {
        for (const serial of result.serials) await ctx.published(serial);
        log.info({ residents: result.residents.length, devices: result.devices.length }, 'import committed');
      }
      return reply.code(result.errors.length > 0 && !result.imported ? 422 : 200).send({
        imported: result.imported,
        residents: result.residents,
        devices: result.devices,
        // The secrets are shown this once, as for a single registration.
        ...(deps.credentials ? { credentials: result.credentials } : {}),
        errors: result.errors,
      });
    },

    createToken: async (req) => {
      const created = await deps.store.createToken(req.body, now());
      log.info({ tokenId: created.id, role: created.role }, 'api token created');
      // The token is shown this once; only its hash is kept.
      return created;
    },

    revokeToken: async (req) => {
      await deps.store.revokeToken(req.params.id, now());
      // What the token left running goes with it: a device in test mode has its alarms routed to
      // the installer, not the operators, for up to an hour a call.
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
        await ctx.published(test.serial);
      }
      return { id: req.params.id, revoked: true as const };
    },
  };
}

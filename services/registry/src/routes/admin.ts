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
      return { id: req.params.id, revoked: true as const };
    },
  };
}

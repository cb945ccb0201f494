import type { Clock, FastifyInstance, Logger } from '@telecare/platform';
import { z } from 'zod';
import { authorize, REPORT_ROLES, TokenStore } from './auth.ts';
import type { ReportsConfig } from './config.ts';
import type { ReportsStore } from './store.ts';

export interface ApiDeps {
  readonly store: ReportsStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly config: ReportsConfig;
}

const TokenRequest = z.object({
  role: z.enum(REPORT_ROLES),
  /** Who the token is for (an organisation or person id, never a name with spaces). */
  recipient: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/),
});

function badRequest(error: z.ZodError) {
  return {
    error: 'bad-request',
    message: error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
  };
}

export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const tokens = new TokenStore(deps.store);
  const admin = deps.config.TELECARE_ADMIN_TOKEN;
  const log = deps.logger.child({ component: 'api' });

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

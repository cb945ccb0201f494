import type { FastifyInstance, FastifyReply, FastifyRequest } from '@telecare/platform';
import { z } from 'zod';
import type { Permission } from './auth.ts';
import type { RouteDeps } from './routes.ts';

/** Where the console points people whose work is elsewhere (a commissioner: the reports dashboard). */
export const ConsoleLinks = z.object({ reportsUrl: z.url().nullable() });

/** `GET /api/console/links`, for anyone signed in. */
export function registerConsoleLinks(
  app: FastifyInstance,
  deps: Pick<RouteDeps, 'reportsUrl'>,
  guard: (
    permission: Permission,
  ) => (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>,
): void {
  const links: z.infer<typeof ConsoleLinks> = { reportsUrl: deps.reportsUrl ?? null };
  app.get('/api/console/links', { preHandler: guard('signed-in') }, async () => links);
}

import { readFileSync } from 'node:fs';
import { type FastifyInstance, pagePolicy, registerWebSecurity } from '@telecare/platform';

const WEB = new URL('../web/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, WEB), 'utf8');

/**
 * The dashboard's Content-Security-Policy: its script and stylesheet from this origin only, no
 * inline script or style element, requests only to this origin, no framing. Downloads are blob:
 * links the page makes from the CSV it fetched.
 */
export const DASHBOARD_POLICY = pagePolicy("'self'");

/**
 * Serves the dashboard: `/`, `/dashboard.js`, `/dashboard.css` (read once at start), with the
 * security headers on every answer and state-changing requests from other sites refused.
 */
export function registerDashboard(app: FastifyInstance): void {
  registerWebSecurity(app, {
    pagePolicyOf: (req) =>
      req.method === 'GET' && (req.url === '/' || req.url.startsWith('/?')) ? DASHBOARD_POLICY : undefined,
    publicOrigin: undefined,
    onCrossSite: (req, why) => req.log.warn({ why, url: req.url }, 'cross-site request refused'),
  });
  const files = {
    '/': { body: read('index.html'), type: 'text/html; charset=utf-8' },
    '/dashboard.js': { body: read('dashboard.js'), type: 'text/javascript; charset=utf-8' },
    '/dashboard.css': { body: read('dashboard.css'), type: 'text/css; charset=utf-8' },
  };
  // Browsers ask for one; there is none, and a 404 would be noise in their console.
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());
  for (const [path, file] of Object.entries(files))
    app.get(path, async (_req, reply) =>
      reply.header('content-type', file.type).header('cache-control', 'no-cache').send(file.body),
    );
}

import { readFileSync } from 'node:fs';
import type { FastifyInstance } from '@telecare/platform';

const WEB = new URL('../web/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, WEB), 'utf8');

/**
 * The dashboard's Content-Security-Policy: its script and stylesheet from this origin only, no
 * inline script or style element, requests only to this origin, no framing. Downloads are blob:
 * links the page makes from the CSV it fetched.
 */
export const DASHBOARD_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "style-src-attr 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Serves the dashboard: `/`, `/dashboard.js`, `/dashboard.css` (read once at start). */
export function registerDashboard(app: FastifyInstance): void {
  const files = {
    '/': { body: read('index.html'), type: 'text/html; charset=utf-8' },
    '/dashboard.js': { body: read('dashboard.js'), type: 'text/javascript; charset=utf-8' },
    '/dashboard.css': { body: read('dashboard.css'), type: 'text/css; charset=utf-8' },
  };
  // Browsers ask for one; there is none, and a 404 would be noise in their console.
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());
  for (const [path, file] of Object.entries(files))
    app.get(path, async (_req, reply) =>
      reply
        .header('content-type', file.type)
        .header('content-security-policy', DASHBOARD_POLICY)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .send(file.body),
    );
}

import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from '@telecare/platform';

const sha256 = (text: string): string =>
  `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** The text between the first `<tag>` and `</tag>` of a page, as the browser hashes it. */
const inline = (html: string, tag: 'script' | 'style'): string | undefined => {
  const open = html.indexOf(`<${tag}>`);
  const close = html.indexOf(`</${tag}>`, open);
  return open < 0 || close < 0 ? undefined : html.slice(open + tag.length + 2, close);
};

/**
 * The console's Content-Security-Policy: scripts only from its own origin (the bundled
 * `/console.js`; no inline script at all), its one inline style allowed by hash (no
 * `'unsafe-inline'` for either), requests only to its own origin, no framing, no plugins, no base
 * or form targets elsewhere. Style attributes stay allowed: one layout one in the case view.
 */
export function consolePolicy(html: string): string {
  const style = inline(html, 'style');
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src ${style === undefined ? "'none'" : sha256(style)}`,
    "style-src-attr 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** API answers are data, never a page: nothing may run or be framed from them. */
const API_POLICY = "default-src 'none'; frame-ancestors 'none'";

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Whether the request came over TLS, directly or through a proxy that terminated it. */
export const overTls = (req: FastifyRequest): boolean =>
  req.protocol === 'https' ||
  String(req.headers['x-forwarded-proto'] ?? '')
    .split(',')[0]
    ?.trim() === 'https';

/**
 * Why a state-changing request looks like it came from another site's page, or undefined.
 * Browsers say where a request comes from (`Sec-Fetch-Site`, `Origin`); programs send neither
 * and authenticate with a bearer token a page elsewhere cannot read.
 */
export function crossSiteReason(req: FastifyRequest, publicOrigin: string | undefined): string | undefined {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site: ${site}`;
  const origin = req.headers.origin;
  if (typeof origin !== 'string') return undefined;
  const own = publicOrigin ?? `${overTls(req) ? 'https' : 'http'}://${req.headers.host ?? ''}`;
  return origin === own ? undefined : `Origin ${origin} is not ${own}`;
}

/**
 * Security headers on every answer, and the cross-site check on every state-changing request
 * (sign-in included: a page elsewhere must not sign a browser in as someone else).
 */
export function registerWebSecurity(
  app: FastifyInstance,
  options: {
    consoleHtml: string;
    publicOrigin: string | undefined;
    onCrossSite: (req: FastifyRequest, why: string) => void;
  },
): void {
  const consoleCsp = consolePolicy(options.consoleHtml);
  app.addHook('onRequest', async (req, reply) => {
    if (!STATE_CHANGING.has(req.method)) return;
    const why = crossSiteReason(req, options.publicOrigin);
    if (!why) return;
    options.onCrossSite(req, why);
    return reply.code(403).send({ error: 'forbidden', message: `cross-site request refused (${why})` });
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const page = req.method === 'GET' && (req.url === '/' || req.url.startsWith('/?'));
    reply.header('content-security-policy', page ? consoleCsp : API_POLICY);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('x-frame-options', 'DENY');
    reply.header('cross-origin-opener-policy', 'same-origin');
    if (overTls(req)) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });
}

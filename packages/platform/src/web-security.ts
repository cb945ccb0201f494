import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

/** A CSP source for an inline script or style: its SHA-256, as the browser hashes it. */
export const sha256Source = (text: string): string =>
  `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * The Content-Security-Policy of a page the services serve (the operators' console, the
 * commissioners' dashboard): scripts only from the page's own origin (no inline script at all),
 * styles from `styleSrc` (a hash or `'self'`, never `'unsafe-inline'`), requests only to its own
 * origin, no framing, no plugins, no base or form targets elsewhere. Style attributes stay allowed.
 */
export function pagePolicy(styleSrc: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    `style-src ${styleSrc}`,
    "style-src-attr 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Every answer that is not a page is data: nothing may run or be framed from it. */
export const DATA_POLICY = "default-src 'none'; frame-ancestors 'none'";

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
 * The headers every answer carries: `policy` as its CSP (the data policy unless it is a page),
 * never sniffed into another type, never framed, no Referer sent from it, HSTS over TLS.
 */
export function securityHeaders(req: FastifyRequest, policy: string = DATA_POLICY): Record<string, string> {
  return {
    'content-security-policy': policy,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    ...(overTls(req) ? { 'strict-transport-security': 'max-age=31536000' } : {}),
  };
}

export interface WebSecurityOptions {
  /** The policy of the page this request asks for, or undefined when it asks for data. */
  readonly pagePolicyOf: (req: FastifyRequest) => string | undefined;
  /** The origin browsers reach the service at, when a proxy in front changes it. */
  readonly publicOrigin: string | undefined;
  /** Told of every cross-site request refused (to log it or raise a security event). */
  readonly onCrossSite: (req: FastifyRequest, why: string) => void;
}

/**
 * Security headers on every answer, and the cross-site check on every state-changing request
 * (sign-in included: a page elsewhere must not sign a browser in as someone else).
 */
export function registerWebSecurity(app: FastifyInstance, options: WebSecurityOptions): void {
  app.addHook('onRequest', async (req, reply) => {
    if (!STATE_CHANGING.has(req.method)) return;
    const why = crossSiteReason(req, options.publicOrigin);
    if (!why) return;
    options.onCrossSite(req, why);
    return reply.code(403).send({ error: 'forbidden', message: `cross-site request refused (${why})` });
  });
  app.addHook('onSend', async (req, reply, payload) => {
    for (const [name, value] of Object.entries(securityHeaders(req, options.pagePolicyOf(req))))
      reply.header(name, value);
    return payload;
  });
}

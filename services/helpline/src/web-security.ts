import {
  type FastifyInstance,
  type FastifyRequest,
  overTls,
  pagePolicy,
  registerWebSecurity as registerHeaders,
  sha256Source,
} from '@telecare/platform';

export { overTls };

/** The text between the first `<tag>` and `</tag>` of a page, as the browser hashes it. */
const inline = (html: string, tag: 'script' | 'style'): string | undefined => {
  const open = html.indexOf(`<${tag}>`);
  const close = html.indexOf(`</${tag}>`, open);
  return open < 0 || close < 0 ? undefined : html.slice(open + tag.length + 2, close);
};

/**
 * The console's Content-Security-Policy (`pagePolicy`): scripts only from its own origin (the
 * bundled `/console.js` and its ticker's worker, `/console-ticker.js`; no inline script at all), its one inline style allowed by hash (no
 * `'unsafe-inline'` for either). Style attributes stay allowed: one layout one in the case view.
 */
export function consolePolicy(html: string): string {
  const style = inline(html, 'style');
  return pagePolicy(style === undefined ? "'none'" : sha256Source(style));
}

/**
 * Security headers on every answer (the console's policy on the console page), and the
 * cross-site check on every state-changing request.
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
  registerHeaders(app, {
    pagePolicyOf: (req) =>
      req.method === 'GET' && (req.url === '/' || req.url.startsWith('/?')) ? consoleCsp : undefined,
    publicOrigin: options.publicOrigin,
    onCrossSite: options.onCrossSite,
  });
}

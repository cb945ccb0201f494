import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: the console could be framed by any page (clickjacking), a page elsewhere could
// post to the API with the operator's cookie when the browser sent it, the session cookie went
// without `Secure` behind TLS, and no Content-Security-Policy limited what a page could run.

let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;
let operator: { id: string; cookie: string };

beforeAll(async () => {
  p = await startRegistryAndHelpline('seccons');
  operator = await p.user('cathy@example.org', 'operator');
});

afterAll(async () => {
  await p?.close();
});

describe('the console page and API headers', () => {
  it('serves the page with a strict policy: no framing, scripts from its own origin only (no inline script), same-origin requests', async () => {
    const page = await fetch(p.helpline.url);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).not.toMatch(/script-src[^;]*(unsafe|\*|http|sha256)/);
    // The page's one script is a file of its own origin, served as JavaScript that is not sniffed.
    const html = await page.text();
    expect(html).toContain('<script type="module" src="/console.js"></script>');
    expect(html).not.toMatch(/<script>/);
    const script = await fetch(new URL('/console.js', p.helpline.url));
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(script.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await script.text()).toContain('/api/stream');
    expect(csp).toContain("connect-src 'self'");
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const api = await p.helplineCall('GET', '/api/cases', { as: operator.cookie });
    expect(api.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(api.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('marks the session cookie Secure when the console is reached over TLS', async () => {
    const created = await p.helplineCall('POST', '/api/users', {
      body: { username: 'tls@example.org', name: 'Tls', role: 'operator', password: 'Tls-pass-0427!' },
    });
    expect(created.status).toBe(201);
    const viaProxy = await p.helplineCall('POST', '/api/login', {
      as: '',
      body: { username: 'tls@example.org', password: 'Tls-pass-0427!' },
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(viaProxy.status).toBe(200);
    expect(viaProxy.headers.get('set-cookie')).toMatch(/; Secure/);
    expect(viaProxy.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
  });
});

describe('state-changing requests from another site are refused', () => {
  it.each([
    ['Origin', { origin: 'https://evil.example' }],
    ['Sec-Fetch-Site', { 'sec-fetch-site': 'cross-site' }],
    ['Sec-Fetch-Site same-site', { 'sec-fetch-site': 'same-site' }],
  ])('with the operator’s cookie and a foreign %s', async (_label, headers) => {
    const presence = await p.helplineCall('PUT', '/api/presence', {
      as: operator.cookie,
      body: { status: 'away' },
      headers,
    });
    expect(presence.status).toBe(403);
    expect(presence.json.message).toMatch(/cross-site/);
    const login = await p.helplineCall('POST', '/api/login', {
      as: '',
      body: { username: 'cathy@example.org', password: 'whatever-it-is' },
      headers,
    });
    expect(login.status).toBe(403);
  });

  it('lets the console’s own page act (same origin) and programs without browser headers', async () => {
    const own = new URL(p.helpline.url);
    const sameOrigin = await p.helplineCall('PUT', '/api/presence', {
      as: operator.cookie,
      body: { status: 'away' },
      headers: { origin: own.origin, 'sec-fetch-site': 'same-origin' },
    });
    expect(sameOrigin.status).toBe(200);
    const program = await p.helplineCall('PUT', '/api/presence', {
      as: operator.cookie,
      body: { status: 'away' },
    });
    expect(program.status).toBe(200);
  });
});

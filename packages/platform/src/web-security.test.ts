import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { DATA_POLICY, pagePolicy, registerWebSecurity } from './web-security.ts';

const PAGE = pagePolicy("'self'");

async function app() {
  const refused: string[] = [];
  const server = Fastify();
  registerWebSecurity(server, {
    pagePolicyOf: (req) => (req.url === '/' ? PAGE : undefined),
    publicOrigin: undefined,
    onCrossSite: (_req, why) => refused.push(why),
  });
  server.get('/', async () => 'page');
  server.get('/api/data', async () => ({ ok: true }));
  server.post('/api/change', async () => ({ ok: true }));
  await server.ready();
  return { server, refused };
}

describe('registerWebSecurity', () => {
  it('gives the page its policy and every other answer the data policy, with the same headers', async () => {
    const { server } = await app();
    const page = await server.inject({ method: 'GET', url: '/' });
    const data = await server.inject({ method: 'GET', url: '/api/data' });
    expect(page.headers['content-security-policy']).toBe(PAGE);
    expect(data.headers['content-security-policy']).toBe(DATA_POLICY);
    for (const answer of [page, data]) {
      expect(answer.headers['x-frame-options']).toBe('DENY');
      expect(answer.headers['x-content-type-options']).toBe('nosniff');
      expect(answer.headers['strict-transport-security']).toBeUndefined();
    }
    const overTls = await server.inject({
      method: 'GET',
      url: '/api/data',
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(overTls.headers['strict-transport-security']).toBe('max-age=31536000');
  });

  it('refuses a state-changing request from another site and lets programs and its own pages through', async () => {
    const { server, refused } = await app();
    const other = await server.inject({
      method: 'POST',
      url: '/api/change',
      headers: { origin: 'https://elsewhere.example', host: 'localhost:80' },
    });
    expect(other.statusCode).toBe(403);
    expect(refused).toEqual(['Origin https://elsewhere.example is not http://localhost:80']);
    const fetchSite = await server.inject({
      method: 'POST',
      url: '/api/change',
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(fetchSite.statusCode).toBe(403);
    const own = await server.inject({
      method: 'POST',
      url: '/api/change',
      headers: { origin: 'http://localhost:80', host: 'localhost:80', 'sec-fetch-site': 'same-origin' },
    });
    expect(own.statusCode).toBe(200);
    const program = await server.inject({ method: 'POST', url: '/api/change' });
    expect(program.statusCode).toBe(200);
  });
});

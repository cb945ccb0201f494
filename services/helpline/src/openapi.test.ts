import { readFileSync } from 'node:fs';
import { fastifyPath, HELPLINE_API, HELPLINE_ROUTES } from '@telecare/contracts';
import {
  collectRoutes,
  createHttpServer,
  createLogger,
  createMetrics,
  ManualClock,
  openApiDocument,
} from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { type RouteDeps, registerRoutes } from './routes/index.ts';

const contractRoutes = Object.values(HELPLINE_ROUTES).map((r) => `${r.method} ${fastifyPath(r.path)}`);

/** The helpline's routes mounted on a bare server: nothing is called, so nothing else is needed. */
async function mounted() {
  const logger = createLogger('helpline-openapi-test', 'silent');
  const app = createHttpServer({ logger, metrics: createMetrics('helpline'), readiness: {} });
  const seen = collectRoutes(app);
  const deps = { logger, clock: new ManualClock(0) } as Partial<RouteDeps> as RouteDeps;
  await registerRoutes(app, deps);
  await app.ready();
  return { app, seen };
}

type Doc = {
  paths: Record<
    string,
    Record<
      string,
      {
        description: string;
        requestBody?: unknown;
        parameters?: { name: string; in: string }[];
        responses: object;
      }
    >
  >;
};

describe("the helpline's routes", () => {
  it('are all mounted from the contracts, and every contract is mounted', async () => {
    const { app, seen } = await mounted();
    const api = [...seen].filter((route) => route.includes(' /api/') && !route.endsWith('/api/openapi.json'));
    expect(api.sort()).toEqual([...contractRoutes].sort());
    await app.close();
  });

  it('are all in the OpenAPI document served at /api/openapi.json, which is the committed copy (pnpm --filter @telecare/helpline openapi)', async () => {
    const { app } = await mounted();
    const served = (await app.inject({ url: '/api/openapi.json' })).json();
    await app.close();
    const documented = Object.entries(served.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${fastifyPath(path)}`),
    );
    expect(documented.sort()).toEqual([...contractRoutes].sort());
    expect(served).toEqual(await openApiDocument(HELPLINE_API, HELPLINE_ROUTES));
    const committed = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(served);
  });

  it('document the DESIGN §4 endpoints with their bodies, roles, refusals and idempotency keys', async () => {
    const doc = (await openApiDocument(HELPLINE_API, HELPLINE_ROUTES)) as Doc;
    for (const path of [
      '/api/cases',
      '/api/cases/{id}',
      '/api/cases/{id}/accept',
      '/api/cases/{id}/hold',
      '/api/cases/{id}/resolve',
      '/api/stream',
    ])
      expect(doc.paths[path], path).toBeDefined();
    const resolve = doc.paths['/api/cases/{id}/resolve']?.post;
    expect(JSON.stringify(resolve?.requestBody)).toContain('false-alarm');
    expect(resolve?.description).toBe('Roles: operator, supervisor, admin');
    expect(Object.keys(resolve?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '404', '409']),
    );
    expect(resolve?.parameters).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'idempotency-key', in: 'header' })]),
    );
    expect(doc.paths['/api/login']?.post?.description).toBe('Roles: anyone');
    expect(Object.keys(doc.paths['/api/cases/{id}/reveal']?.post?.responses ?? {})).toContain('429');
  });
});

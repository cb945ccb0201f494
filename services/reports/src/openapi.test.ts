import { readFileSync } from 'node:fs';
import { fastifyPath, REPORTS_API, REPORTS_ROUTES, SummaryView } from '@telecare/contracts';
import {
  collectRoutes,
  createHttpServer,
  createLogger,
  createMetrics,
  openApiDocument,
} from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { registerApi } from './api.ts';
import { loadReportsConfig } from './config.ts';
import { summarise } from './summary.ts';

const contractRoutes = Object.values(REPORTS_ROUTES).map((r) => `${r.method} ${fastifyPath(r.path)}`);

describe('the reports API', () => {
  it('mounts exactly its contracts, all in the OpenAPI document it serves, which is the committed copy (pnpm --filter @telecare/reports openapi)', async () => {
    const logger = createLogger('reports-openapi-test', 'silent');
    const app = createHttpServer({ logger, metrics: createMetrics('reports'), readiness: {} });
    const seen = collectRoutes(app);
    // Nothing is called: the store is not needed to mount the routes.
    await registerApi(app, {
      store: {} as never,
      clock: { now: () => 0 } as never,
      logger,
      config: loadReportsConfig({}),
    });
    await app.ready();
    expect(
      [...seen].filter((route) => route.includes(' /api/reports') || route.includes(' /api/tokens')).sort(),
    ).toEqual([...contractRoutes].sort());
    const served = (await app.inject({ url: '/api/openapi.json' })).json();
    await app.close();
    const documented = Object.entries(served.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${fastifyPath(path)}`),
    );
    expect(documented.sort()).toEqual([...contractRoutes].sort());
    expect(served).toEqual(await openApiDocument(REPORTS_API, REPORTS_ROUTES));
    const committed = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(served);
  });

  it('documents every route with its roles', async () => {
    const doc = (await openApiDocument(REPORTS_API, REPORTS_ROUTES)) as {
      paths: Record<string, Record<string, { description: string; requestBody?: unknown }>>;
    };
    expect(doc.paths['/api/reports/episodes.csv']?.get?.description).toBe('Roles: analyst, admin');
    expect(doc.paths['/api/reports/summary']?.get?.description).toBe('Roles: commissioner, analyst, admin');
    expect(JSON.stringify(doc.paths['/api/reports/hospital-episodes']?.post?.requestBody)).toContain(
      'text/csv',
    );
  });

  it('describes the summary the code produces', () => {
    const summary = summarise(
      { cases: [], alerts: [], activity: [], faults: [] },
      {
        from: new Date('2026-11-01T00:00:00Z'),
        to: new Date('2026-12-01T00:00:00Z'),
        districts: null,
        now: new Date('2026-12-01T00:00:00Z'),
      },
    );
    expect(SummaryView.strict().safeParse(summary).success).toBe(true);
  });
});

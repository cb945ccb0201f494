import { readFileSync } from 'node:fs';
import { fastifyPath, TRIAGE_API, TRIAGE_ROUTES } from '@telecare/contracts';
import {
  collectRoutes,
  createHttpServer,
  createLogger,
  createMetrics,
  openApiDocument,
} from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { registerRulesApi } from './rules-api.ts';

const contractRoutes = Object.values(TRIAGE_ROUTES).map((r) => `${r.method} ${fastifyPath(r.path)}`);

describe("triage's rules API", () => {
  it('mounts exactly its contracts, all in the OpenAPI document it serves, which is the committed copy (pnpm --filter @telecare/triage openapi)', async () => {
    const logger = createLogger('triage-openapi-test', 'silent');
    const app = createHttpServer({ logger, metrics: createMetrics('triage'), readiness: {} });
    const seen = collectRoutes(app);
    // Nothing is called: the store is not needed to mount the routes.
    await registerRulesApi(app, {} as never, undefined, logger);
    await app.ready();
    expect([...seen].filter((route) => route.includes(' /api/')).sort()).toEqual([...contractRoutes].sort());
    const served = (await app.inject({ url: '/openapi.json' })).json();
    await app.close();
    const documented = Object.entries(served.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${fastifyPath(path)}`),
    );
    expect(documented.sort()).toEqual([...contractRoutes].sort());
    expect(served).toEqual(await openApiDocument(TRIAGE_API, TRIAGE_ROUTES));
    const committed = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(served);
  });
});

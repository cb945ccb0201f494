import { readFileSync } from 'node:fs';
import { fastifyPath, REGISTRY_API, REGISTRY_ROUTES } from '@telecare/contracts';
import {
  collectRoutes,
  createHttpServer,
  createLogger,
  createMetrics,
  ManualClock,
  openApiDocument,
} from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { type ApiDeps, registerApi } from './api.ts';

const contractRoutes = Object.values(REGISTRY_ROUTES).map((r) => `${r.method} ${fastifyPath(r.path)}`);

/** The registry's routes mounted on a bare server: nothing is called, so nothing else is needed. */
async function mounted() {
  const logger = createLogger('registry-openapi-test', 'silent');
  const app = createHttpServer({ logger, metrics: createMetrics('registry'), readiness: {} });
  const seen = collectRoutes(app);
  const unused = {} as never;
  const deps: ApiDeps = {
    store: unused,
    deviceMap: unused,
    dc09: unused,
    credentials: undefined,
    clock: new ManualClock(0),
    logger,
    adminToken: undefined,
    testTimeoutS: 60,
    dc09Keyless: 'refuse',
    metrics: { residentsCreated: unused, devicesCreated: unused, refused: unused },
  };
  await registerApi(app, deps);
  await app.ready();
  return { app, seen };
}

describe("the registry's routes", () => {
  it('are all mounted from the contracts, and every contract is mounted', async () => {
    const { app, seen } = await mounted();
    const api = [...seen].filter((route) => route.includes(' /api/'));
    expect(api.sort()).toEqual([...contractRoutes].sort());
    await app.close();
  });

  it('are all in the OpenAPI document served at /openapi.json, which is the committed copy (pnpm --filter @telecare/registry openapi)', async () => {
    const { app } = await mounted();
    const served = (await app.inject({ url: '/openapi.json' })).json();
    await app.close();
    const documented = Object.entries(served.paths as Record<string, Record<string, unknown>>).flatMap(
      ([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${fastifyPath(path)}`),
    );
    expect(documented.sort()).toEqual([...contractRoutes].sort());
    expect(served).toEqual(await openApiDocument(REGISTRY_API, REGISTRY_ROUTES));
    const committed = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(served);
  });

  it('document their bodies, roles and refusals', async () => {
    const doc = (await openApiDocument(REGISTRY_API, REGISTRY_ROUTES)) as {
      paths: Record<
        string,
        Record<string, { description: string; requestBody?: unknown; responses: object }>
      >;
    };
    const register = doc.paths['/api/devices']?.post;
    expect(JSON.stringify(register?.requestBody)).toContain('supervisionIntervalS');
    expect(register?.description).toBe('Roles: admin, installer');
    expect(Object.keys(register?.responses ?? {})).toEqual(
      expect.arrayContaining(['201', '400', '401', '403', '409', '422']),
    );
  });
});

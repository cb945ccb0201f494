import { readFileSync } from 'node:fs';
import { REPORTS_API, REPORTS_ROUTES, SummaryView } from '@telecare/contracts';
import { contractsServed, openApiDocument } from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { registerApi } from './api.ts';
import { loadReportsConfig } from './config.ts';
import { summarise } from './summary.ts';

describe('the reports API', () => {
  it('mounts exactly its contracts, all in the OpenAPI document it serves, which is the committed copy (pnpm --filter @telecare/reports openapi)', async () => {
    // Nothing is called: the store is not needed to mount the routes.
    const check = await contractsServed(REPORTS_API, REPORTS_ROUTES, (app, logger) =>
      registerApi(app, {
        store: {} as never,
        readSlots: {} as never,
        clock: { now: () => 0 },
        logger,
        config: loadReportsConfig({}),
      }),
    );
    expect(check.mounted).toEqual(check.contracts);
    expect(check.documented).toEqual(check.contracts);
    expect(check.served).toEqual(check.generated);
    const committed = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(check.served);
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

  it("documents a 503 on every report's route: a read past REPORTS_READ_TIMEOUT_MS, or the registry not answering", async () => {
    const doc = (await openApiDocument(REPORTS_API, REPORTS_ROUTES)) as {
      paths: Record<string, Record<string, { summary: string; responses: Record<string, unknown> }>>;
    };
    const reports = Object.entries(doc.paths).filter(([path]) => path.startsWith('/api/reports/'));
    expect(reports.length).toBeGreaterThanOrEqual(7);
    for (const [path, methods] of reports)
      for (const [method, op] of Object.entries(methods)) {
        expect(Object.keys(op.responses), `${method} ${path}`).toContain('503');
        expect(op.summary, `${method} ${path}`).toMatch(/503/);
      }
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

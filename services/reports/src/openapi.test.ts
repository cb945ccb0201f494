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

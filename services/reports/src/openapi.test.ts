import { describe, expect, it } from 'vitest';
import { openApiDocument, SummaryView } from './openapi.ts';
import { summarise } from './summary.ts';

describe('the reports OpenAPI document', () => {
  it('documents every route with its roles', () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, { description: string }>> };
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/api/reports/summary',
        '/api/reports/export.csv',
        '/api/reports/csv/{chart}',
        '/api/reports/episodes.csv',
        '/api/reports/bed-days',
        '/api/reports/hospital-episodes',
        '/api/tokens',
        '/api/tokens/{id}',
      ].sort(),
    );
    expect(doc.paths['/api/reports/episodes.csv']?.get?.description).toBe('Roles: analyst, admin.');
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

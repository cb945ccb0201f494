import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from './openapi.ts';

describe('the OpenAPI document', () => {
  it('is generated from the zod schemas and the committed copy is current (pnpm --filter @telecare/helpline openapi)', () => {
    const committed = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
  });

  it('documents the DESIGN §4 endpoints with their bodies and refusals', () => {
    const doc = openApiDocument() as {
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>;
    };
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
    expect(Object.keys(resolve?.responses ?? {})).toEqual(
      expect.arrayContaining(['200', '400', '403', '409']),
    );
  });
});

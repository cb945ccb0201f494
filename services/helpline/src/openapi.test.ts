import { readFileSync } from 'node:fs';
import { HELPLINE_API, HELPLINE_ROUTES } from '@telecare/contracts';
import { contractsServed, ManualClock, openApiDocument } from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { type RouteDeps, registerRoutes } from './routes/index.ts';

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
  it('are all mounted from the contracts and in the OpenAPI document served at /api/openapi.json, which is the committed copy (pnpm --filter @telecare/helpline openapi)', async () => {
    // Nothing is called: the stores are not needed to mount the routes.
    const check = await contractsServed(HELPLINE_API, HELPLINE_ROUTES, (app, logger) =>
      registerRoutes(app, { logger, clock: new ManualClock(0) } as Partial<RouteDeps> as RouteDeps),
    );
    expect(check.mounted).toEqual(check.contracts);
    expect(check.documented).toEqual(check.contracts);
    expect(check.served).toEqual(check.generated);
    const committed = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(check.served);
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
    // The list keeps its array body; the next page is named in the answer's Link header.
    const list = doc.paths['/api/cases']?.get;
    expect(list?.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['state', 'limit', 'cursor', 'from', 'to']),
    );
    const listed = (list?.responses ?? {}) as Record<string, { headers?: Record<string, unknown> }>;
    expect(Object.keys(listed['200']?.headers ?? {})).toEqual(['Link']);
    expect(doc.paths['/api/login']?.post?.description).toBe('Roles: anyone');
    expect(Object.keys(doc.paths['/api/cases/{id}/reveal']?.post?.responses ?? {})).toContain('429');
    // The stream takes a one-use ticket where no header can be set, never a token in its URL.
    const stream = doc.paths['/api/stream']?.get;
    expect(stream?.parameters?.map((p) => p.name)).toContain('ticket');
    expect(stream?.parameters?.map((p) => p.name)).not.toContain('access_token');
    const ticket = doc.paths['/api/stream/ticket']?.post;
    expect(ticket?.description).toBe('Roles: operator, supervisor, admin');
    expect(Object.keys(ticket?.responses ?? {})).toEqual(expect.arrayContaining(['201', '401']));
  });
});

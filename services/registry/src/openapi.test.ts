import { readFileSync } from 'node:fs';
import { REGISTRY_API, REGISTRY_ROUTES } from '@telecare/contracts';
import { contractsServed, ManualClock, openApiDocument } from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { type ApiDeps, registerApi } from './api.ts';

describe("the registry's routes", () => {
  it('are all mounted from the contracts and in the OpenAPI document served at /openapi.json, which is the committed copy (pnpm --filter @telecare/registry openapi)', async () => {
    // Nothing is called: the stores are not needed to mount the routes.
    const unused = {} as never;
    const check = await contractsServed(REGISTRY_API, REGISTRY_ROUTES, (app, logger) => {
      const deps: ApiDeps = {
        store: unused,
        deviceMap: unused,
        dc09: unused,
        credentials: undefined,
        clock: new ManualClock(0),
        logger,
        adminToken: undefined,
        revealLimits: { perPerson: unused, perToken: unused },
        testTimeoutS: 60,
        dc09Keyless: 'refuse',
        metrics: { residentsCreated: unused, devicesCreated: unused, refused: unused },
      };
      return registerApi(app, deps);
    });
    expect(check.mounted).toEqual(check.contracts);
    expect(check.documented).toEqual(check.contracts);
    expect(check.served).toEqual(check.generated);
    const committed = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(check.served);
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

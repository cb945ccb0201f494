import { readFileSync } from 'node:fs';
import { TRIAGE_API, TRIAGE_ROUTES } from '@telecare/contracts';
import { contractsServed } from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { registerRulesApi } from './rules-api.ts';

describe("triage's rules API", () => {
  it('mounts exactly its contracts, all in the OpenAPI document it serves, which is the committed copy (pnpm --filter @telecare/triage openapi)', async () => {
    // Nothing is called: the store is not needed to mount the routes.
    const check = await contractsServed(TRIAGE_API, TRIAGE_ROUTES, (app, logger) =>
      registerRulesApi(
        app,
        {} as never,
        { admin: undefined, helpline: undefined },
        async () => ({}) as never,
        logger,
      ),
    );
    expect(check.mounted).toEqual(check.contracts);
    expect(check.documented).toEqual(check.contracts);
    expect(check.served).toEqual(check.generated);
    const committed = JSON.parse(readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(check.served);
  });
});

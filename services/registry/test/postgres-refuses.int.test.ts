import { randomBytes } from 'node:crypto';
import { createLogger } from '@telecare/platform';
import { cleanupNamespace, OwnPostgres, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller } from './support.ts';

// The registry on a PostgreSQL of its own that answers but turns read-only, as the old primary
// after a failover or with default_transaction_read_only set by a DBA: an installer's write is a
// 503 saying nothing was saved (not a 500), reads still answer, /readyz says why, and once the
// server takes writes again the same request is saved, without a restart of the registry.
const ns = uniqueNamespace('regpgrefuses');
let postgres: OwnPostgres;
let registry: RegistryHandle;
let token: string;
const call = apiCaller(
  () => registry.url,
  () => token,
);

beforeAll(async () => {
  postgres = await OwnPostgres.start();
  const env = serviceEnv(ns, {
    REGISTRY_PORT: '0',
    DATABASE_URL: postgres.url,
    REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
  });
  token = env.TELECARE_ADMIN_TOKEN as string;
  registry = await startRegistry(loadRegistryConfig(env), {
    logger: createLogger('regpgrefuses-test', process.env.TEST_LOG_LEVEL ?? 'silent'),
  });
}, 120_000);

afterAll(async () => {
  await registry?.close().catch(() => undefined);
  postgres?.destroy();
  await cleanupNamespace(ns);
});

describe('registry on a read-only PostgreSQL', () => {
  it('answers a write 503 saying nothing was saved, is not ready with the reason, and saves it once writable', async () => {
    const resident = { name: 'Read Only', address: '1 Road', postcode: 'GL1 2AB' };
    expect((await call('POST', '/api/residents', resident)).status).toBe(201);

    await postgres.alterSystem('default_transaction_read_only', 'on');
    const ready = await waitFor(
      async () => {
        const res = await fetch(`${registry.url}/readyz`);
        return res.status === 503 && ((await res.json()) as { reasons?: Record<string, string> });
      },
      { what: 'not ready while read-only' },
    );
    expect(ready.reasons?.['postgres-writes']).toMatch(/^PostgreSQL is read-only/);

    const refused = await fetch(`${registry.url}/api/residents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...resident, name: 'During Read Only' }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(((await refused.json()) as { message: string }).message).toMatch(
      /^PostgreSQL is read-only.*nothing was saved; try again shortly$/,
    );
    expect((await call('GET', '/api/residents')).status).toBe(200);

    await postgres.alterSystem('default_transaction_read_only', undefined);
    await waitFor(async () => (await fetch(`${registry.url}/readyz`)).status === 200, {
      what: 'ready again',
    });
    expect((await call('POST', '/api/residents', { ...resident, name: 'During Read Only' })).status).toBe(
      201,
    );
  }, 60_000);
});

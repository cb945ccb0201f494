import { waitFor } from '@telecare/testkit';
import { describe, expect, it } from 'vitest';
import { registryOnOwnPostgres } from './support.ts';

// The registry on a PostgreSQL of its own that answers but turns read-only, as the old primary
// after a failover or with default_transaction_read_only set by a DBA: an installer's write is a
// 503 saying nothing was saved (not a 500), reads still answer, /readyz says why, and once the
// server takes writes again the same request is saved, without a restart of the registry.
const { own, call } = registryOnOwnPostgres('regpgrefuses');

describe('registry on a read-only PostgreSQL', () => {
  it('answers a write 503 saying nothing was saved, is not ready with the reason, and saves it once writable', async () => {
    const resident = { name: 'Read Only', address: '1 Road', postcode: 'GL1 2AB' };
    expect((await call('POST', '/api/residents', resident)).status).toBe(201);

    await own.postgres.alterSystem('default_transaction_read_only', 'on');
    const ready = await waitFor(
      async () => {
        const res = await fetch(`${own.registry.url}/readyz`);
        return res.status === 503 && ((await res.json()) as { reasons?: Record<string, string> });
      },
      { what: 'not ready while read-only' },
    );
    expect(ready.reasons?.['postgres-writes']).toMatch(/^PostgreSQL is read-only/);

    const refused = await fetch(`${own.registry.url}/api/residents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${own.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...resident, name: 'During Read Only' }),
    });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(((await refused.json()) as { message: string }).message).toMatch(
      /^PostgreSQL is read-only.*nothing was saved; try again shortly$/,
    );
    expect((await call('GET', '/api/residents')).status).toBe(200);

    await own.postgres.alterSystem('default_transaction_read_only', undefined);
    await waitFor(async () => (await fetch(`${own.registry.url}/readyz`)).status === 200, {
      what: 'ready again',
    });
    expect((await call('POST', '/api/residents', { ...resident, name: 'During Read Only' })).status).toBe(
      201,
    );
  }, 60_000);
});

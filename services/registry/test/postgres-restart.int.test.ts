import { waitFor } from '@telecare/testkit';
import { describe, expect, it } from 'vitest';
import { registryOnOwnPostgres } from './support.ts';

// The registry on a PostgreSQL of its own, crashed under an import in flight and started again:
// the import writes nothing, every request meanwhile is a 503 with Retry-After (not a 500, and
// nothing of the server in the message), the registry is not ready, and afterwards it answers,
// imports and reveals again without a restart of its own.
const { own, call } = registryOnOwnPostgres('regpgrestart');

describe('registry through a PostgreSQL restart', () => {
  it('answers 503 while PostgreSQL is down, loses no committed row, writes no half import, and works after', async () => {
    const created = await call('POST', '/api/residents', {
      name: 'Restart Resident',
      address: '1 Road',
      postcode: 'GL1 2AB',
      keySafe: '2468',
    });
    expect(created.status).toBe(201);
    const residentId = created.body.id as string;
    const rows = Array.from({ length: 10_000 }, (_, i) => `PGR-${i},Person ${i},${i} Road,GL1 2AB`);
    const inFlight = call('POST', '/api/import', {
      residents: ['ref,name,address,postcode', ...rows].join('\n'),
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await own.postgres.crash();
    expect((await inFlight).status).toBe(503);

    const down: [string, string, unknown?][] = [
      ['GET', '/api/residents'],
      ['GET', `/api/residents/${residentId}`],
      ['POST', '/api/residents', { name: 'During Outage', address: '2 Road', postcode: 'GL1 2AB' }],
      ['POST', `/api/residents/${residentId}/reveal`, { fields: ['keySafe'], reason: 'outage test' }],
      ['POST', '/api/import', { residents: 'ref,name,address,postcode\nPGR-X,Ann Other,3 Road,GL1 2AB\n' }],
      ['POST', '/api/devices', { serial: 'PND-PGR1', kind: 'pendant', residentId }],
      ['GET', '/api/devices/health'],
    ];
    for (const [method, path, body] of down) {
      const res = await call(method, path, body);
      expect(res.status, `${method} ${path}`).toBe(503);
      expect(res.body.error).toBe('unavailable');
      expect(String(res.body.message)).not.toMatch(/postgres@|127\.0\.0\.1|at \w+ \(/);
    }
    await waitFor(async () => (await fetch(`${own.registry.url}/readyz`)).status === 503, {
      what: 'not ready while PostgreSQL is down',
    });

    own.postgres.start();
    await waitFor(async () => (await call('GET', '/api/residents')).status === 200, {
      what: 'answers again',
      timeoutMs: 30_000,
    });
    const listed = await call('GET', '/api/residents?limit=1000');
    expect(listed.body.total).toBe(1);
    const imported = await call('POST', '/api/import', {
      residents: 'ref,name,address,postcode\nPGR-Y,Ann Other,3 Road,GL1 2AB\n',
    });
    expect(imported.status).toBe(200);
    const revealed = await call('POST', `/api/residents/${residentId}/reveal`, {
      fields: ['keySafe'],
      reason: 'after the outage',
    });
    expect(revealed.body).toMatchObject({ keySafe: '2468' });
    expect((await fetch(`${own.registry.url}/readyz`)).status).toBe(200);
  }, 90_000);
});

import { OwnPostgres, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ReportsHarness, reportsHarness, telecareEvent } from './support.ts';

// The reports service on its own PostgreSQL, crashed and started again under it: a request during
// the outage is a 503 that says so (not a 500), and the service answers and ingests again after.
let postgres: OwnPostgres;
let h: ReportsHarness;
const DAY = '2026-11-10';
const summary = (token?: string) =>
  h.api(`/api/reports/summary?from=${DAY}&to=2026-11-11`, token ? { token } : {});

beforeAll(async () => {
  postgres = await OwnPostgres.start();
  h = await reportsHarness('rppgrestart', { DATABASE_URL: postgres.url });
  await h.start();
}, 120_000);

afterAll(async () => {
  await h?.close().catch(() => undefined);
  postgres?.destroy();
});

describe('reports through a PostgreSQL restart', () => {
  it('answers 503 while PostgreSQL is down, is not ready, and works and ingests again after', async () => {
    const made = await h.api('/api/tokens', {
      method: 'POST',
      body: JSON.stringify({ role: 'commissioner', recipient: 'council' }),
    });
    const { token } = (await made.json()) as { token: string };
    expect((await summary(token)).status).toBe(200);

    await postgres.crash();
    for (const t of [token, undefined]) {
      const res = await summary(t);
      expect(res.status, t ? 'report token' : 'admin token').toBe(503);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe('unavailable');
      expect(body.message).not.toMatch(/postgres@|127\.0\.0\.1|at \w+ \(/);
    }
    await waitFor(async () => (await fetch(`${h.reports.url}/readyz`)).status === 503, {
      what: 'not ready while PostgreSQL is down',
    });
    // Published while the database is down: kept on the stream, applied once it is back.
    for (let i = 0; i < 5; i++)
      await h.publishEvent(
        telecareEvent({
          serial: `PEN-PG${i}`,
          residentId: `res_pg${i}`,
          kind: 'pendant',
          type: 'heartbeat',
          at: `${DAY}T09:00:00.000Z`,
          district: 'GL1',
        }),
      );

    postgres.start();
    await waitFor(async () => (await summary(token)).status === 200, {
      what: 'answers again',
      timeoutMs: 30_000,
    });
    await waitFor(
      async () => {
        const body = (await (await summary(token)).json()) as { residents: { active: number | null } };
        return body.residents.active === 5;
      },
      { what: 'the outage events ingested', timeoutMs: 30_000 },
    );
    expect((await fetch(`${h.reports.url}/readyz`)).status).toBe(200);
  }, 90_000);
});

import { OwnPostgres, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

/**
 * The helpline while its PostgreSQL is down for a while (a crash, then a restart that takes
 * seconds): alarms raised meanwhile become cases once it is back, each once, at once. The console
 * through an outage: `console-outage.int.test.ts`.
 */
// Long enough that the redelivery backoff (1 s doubling) has grown past several seconds.
const OUTAGE_MS = 16_000;
// An alarm committed within this of the database answering again.
const ALARM_BACK_WITHIN_MS = 5_000;

let server: OwnPostgres;
let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  server = await OwnPostgres.start();
  h = await helplineHarness('pgoutage', {
    DATABASE_URL: server.url,
  });
  await h.start();
}, 120_000);

afterAll(async () => {
  await h?.close();
  server?.destroy();
});

const allCases = async () =>
  (await h.api('/api/cases?state=all&limit=500')).json as {
    id: string;
    residentId: string;
    state: string;
    alertIds: string[];
    presses: number;
  }[];

describe('PostgreSQL down for a while', () => {
  it('commits every alarm raised during the outage once, within seconds of the database answering', async () => {
    const first = h.alert({ residentId: 'res_out_rep', priority: 1 });
    await h.publish(first);
    await h.caseOf('res_out_rep');

    await server.crash();
    const alarms = [1, 2, 3, 4].map((i) => h.alert({ residentId: `res_out_${i}`, priority: i % 2 ? 1 : 2 }));
    // The resident presses again while the database is down: the repeat must reach the case.
    const repeat = h.alert({ residentId: 'res_out_rep', priority: 1, repeats: { alertId: first.id } });
    for (const a of [...alarms, repeat]) await h.publish(a);
    // A second copy of one of them (a republish) must change nothing.
    await h.publish(alarms[0] as (typeof alarms)[0]);
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    expect((await fetch(new URL('/readyz', h.helpline.url))).status).toBe(503);

    server.start();
    const back = Date.now();
    const expected = [...alarms, repeat].map((a) => a.id);
    await waitFor(
      async () => {
        const ids = new Set((await allCases()).flatMap((c) => c.alertIds));
        return expected.every((id) => ids.has(id));
      },
      { timeoutMs: 40_000, intervalMs: 100, what: 'every alarm raised during the outage in a case' },
    );
    const took = Date.now() - back;
    expect(took, `alarms committed ${took} ms after the database came back`).toBeLessThan(
      ALARM_BACK_WITHIN_MS,
    );

    const cases = await allCases();
    const ids = cases.flatMap((c) => c.alertIds);
    expect(new Set(ids).size).toBe(ids.length);
    expect(cases.filter((c) => c.residentId === 'res_out_rep')).toMatchObject([{ presses: 2 }]);
    expect((await fetch(new URL('/readyz', h.helpline.url))).status).toBe(200);
  }, 60_000);
});

import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Summary } from '../src/summary.ts';
import { alert, caseEvent, reportsHarness, telecareEvent } from './support.ts';

// Figures a commissioner can defend: residents who moved between districts in the period, a
// period across the clock change, cases still open at its end, test calls and repeated presses.
const h = await reportsHarness('rphonest', {
  REPORTS_PSEUDONYM_KEY: 'a-pseudonym-secret-of-32-characters-or-more',
});

/**
 * A P1 pendant call raised at `at`, opened and accepted 20 s later; resolved unless `open`. With
 * `repeats`, a press the triage merged into that alert's group, which the helpline opened a case
 * for because the case of the alert it repeats was resolved by then.
 */
async function call(
  n: string,
  residentId: string,
  at: string,
  opts: { open?: boolean; testMode?: boolean; repeats?: string } = {},
) {
  const a = {
    ...alert({ residentId, priority: 1, type: 'pendant.pressed', raisedAt: at }),
    testMode: !!opts.testMode,
    ...(opts.repeats ? { repeats: { alertId: opts.repeats } } : {}),
  };
  await h.publishAlert(a);
  const t = (s: number) => new Date(Date.parse(at) + s * 1000).toISOString();
  const caseId = `case_honest${n}`;
  await h.publishCase(
    caseEvent(caseId, 'opened', t(1), {
      alertId: a.id,
      priority: 1,
      type: a.type,
      ...(opts.testMode ? { testMode: true } : {}),
      ...(opts.repeats ? { repeats: opts.repeats } : {}),
    }),
  );
  await h.publishCase(caseEvent(caseId, 'accepted', t(20)));
  if (!opts.open)
    await h.publishCase(caseEvent(caseId, 'resolved', t(600), { outcome: 'reassurance-given' }));
  return { caseId, alertId: a.id };
}

const heartbeat = (serial: string, residentId: string, at: string, district: string) =>
  h.publishEvent(telecareEvent({ serial, residentId, kind: 'pendant', type: 'heartbeat', at, district }));

const episodes = async (query: string) => {
  const res = await h.api(`/api/reports/episodes.csv?${query}`);
  expect(res.status).toBe(200);
  const [head, ...rows] = (await res.text()).trim().split('\n');
  const cols = (head ?? '').split(',');
  return rows.map((r) => Object.fromEntries(r.split(',').map((v, i) => [cols[i], v])));
};

const daysOf = async (serial: string) => {
  const { rows } = await h.reports.store.pool.query(
    `select count(*)::int as n from ${h.reports.store.table('rp_device_days')} where serial = $1`,
    [serial],
  );
  return rows[0]?.n as number;
};

const casesIn = async () => {
  const { rows } = await h.reports.store.pool.query(
    `select count(*)::int as n from ${h.reports.store.table('rp_case_steps')}`,
  );
  return rows[0]?.n as number;
};

beforeAll(async () => {
  await h.start();
  // Five residents in GL1 who moved to GL2 on 15 November, each with a call before and after.
  for (let i = 0; i < 5; i++) {
    const resident = `res_mover${i}`;
    await heartbeat(`PEN-MV${i}`, resident, '2026-11-02T08:00:00.000Z', 'GL1');
    await heartbeat(`PEN-MV${i}`, resident, '2026-11-16T08:00:00.000Z', 'GL2');
    await call(`mv-before${i}`, resident, `2026-11-05T10:0${i}:00.000Z`);
    await call(`mv-after${i}`, resident, `2026-11-20T10:0${i}:00.000Z`);
  }
  // The night the clocks went back (25 October 2026): 01:30 BST and 01:30 GMT are two calls.
  await heartbeat('PEN-CLK', 'res_clock', '2026-10-24T08:00:00.000Z', 'GL3');
  await call('clk-bst', 'res_clock', '2026-10-25T00:30:00.000Z');
  await call('clk-gmt', 'res_clock', '2026-10-25T01:30:00.000Z');
  // A test call and an open case in GL4.
  await heartbeat('PEN-OPN', 'res_open', '2026-11-01T08:00:00.000Z', 'GL4');
  await call('test', 'res_open', '2026-11-10T10:00:00.000Z', { testMode: true });
  await call('open', 'res_open', '2026-11-30T23:59:00.000Z', { open: true });
  // Five residents in GL5 each press, press again while the call is open (merged into it: no
  // case of its own), and press again after it was resolved (a new call, in a new case).
  for (let i = 0; i < 5; i++) {
    const resident = `res_repeat${i}`;
    await heartbeat(`PEN-RP${i}`, resident, '2026-11-01T08:00:00.000Z', 'GL5');
    const first = await call(`rp-first${i}`, resident, `2026-11-12T10:0${i}:00.000Z`);
    await h.publishAlert({
      ...alert({
        residentId: resident,
        priority: 1,
        type: 'pendant.pressed',
        raisedAt: `2026-11-12T10:0${i}:30.000Z`,
      }),
      repeats: { alertId: first.alertId },
    });
    await call(`rp-again${i}`, resident, `2026-11-12T11:0${i}:00.000Z`, { repeats: first.alertId });
  }
  // One pendant heard every day for 40 days, over two months.
  for (let d = 0; d < 40; d++)
    await heartbeat(
      'PEN-DAILY',
      'res_daily',
      new Date(Date.parse('2026-11-10T08:00:00Z') + d * 86_400_000).toISOString(),
      'GL6',
    );
  // 10 movers × 3 steps, 2 clock calls × 3, a test call × 3, the open case × 2, 10 repeats × 3.
  await waitFor(async () => (await casesIn()) === 30 + 6 + 3 + 2 + 30 && (await daysOf('PEN-DAILY')) === 40, {
    what: 'every step applied',
    timeoutMs: 20_000,
  });
});
afterAll(() => h.close());

describe('a resident who moved district in the period', () => {
  it('has each call counted in the district they lived in when it was raised', async () => {
    const gl1 = await episodes('from=2026-11-01&to=2026-12-01&districts=GL1');
    const gl2 = await episodes('from=2026-11-01&to=2026-12-01&districts=GL2');
    expect(gl1.map((r) => r.raised_day).sort()).toEqual(Array(5).fill('2026-11-05'));
    expect(gl2.map((r) => r.raised_day).sort()).toEqual(Array(5).fill('2026-11-20'));
    for (const [district, n] of [
      ['GL1', 5],
      ['GL2', 5],
    ] as const) {
      const s = (await (
        await h.api(`/api/reports/summary?from=2026-11-01&to=2026-12-01&districts=${district}`)
      ).json()) as Summary;
      expect(s.alerts.byType.total, district).toBe(n);
      expect(s.outcomes.total, district).toBe(n);
    }
  });
});

describe('repeated presses', () => {
  it('count once while the call is open, and again as a new call after it was resolved', async () => {
    const s = (await (
      await h.api('/api/reports/summary?from=2026-11-01&to=2026-12-01&districts=GL5')
    ).json()) as Summary;
    // 5 first presses and 5 presses after the resolve; the 5 merged presses are not calls.
    expect(s.alerts.byType.total).toBe(10);
    expect(s.alerts.byPriority.cells.P1).toBe(10);
    expect(s.outcomes.total).toBe(10);
    expect(s.answer.within60s.of).toBe(10);
  });
});

describe('bounded work for a long period', () => {
  it('reads one activity row per device and month, not per day, and counts the same', async () => {
    const scope = { from: new Date('2026-11-01'), to: new Date('2027-01-01'), districts: ['GL6'] };
    const { activity } = await h.reports.store.rows(scope);
    expect(activity.map((a) => [a.serial, a.day.slice(0, 7)])).toEqual([
      ['PEN-DAILY', '2026-11'],
      ['PEN-DAILY', '2026-12'],
    ]);
    // Days before the period's first day are not read.
    const late = await h.reports.store.rows({ ...scope, from: new Date('2026-12-15') });
    expect(late.activity.map((a) => a.day)).toEqual(['2026-12-15']);
  });
});

describe('a period across the clock change', () => {
  it('counts the repeated hour twice, once per call, in a 25-hour local day', async () => {
    const day = await episodes('from=2026-10-25T00:00:00%2B01:00&to=2026-10-26T00:00:00Z&districts=GL3');
    expect(day).toHaveLength(2);
    expect(day.every((r) => r.answer_seconds === '20')).toBe(true);
  });
});

describe('test calls and cases still open at the end of the period', () => {
  it('leaves the test call out and shows the open case as open, answered in time', async () => {
    const rows = await episodes('from=2026-11-01&to=2026-12-01&districts=GL4');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ outcome: '', answer_seconds: '20' });
  });
});

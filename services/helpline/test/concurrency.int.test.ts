import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  h = await helplineHarness('hlconc', { INGEST_CONCURRENCY: '4' });
  await h.start();
});

afterAll(async () => {
  await h?.close();
});

describe('concurrent ingestion', () => {
  it("handles residents in parallel but each resident's alerts of a priority in order, once each", async () => {
    const residents = ['res_cc_a', 'res_cc_b', 'res_cc_c', 'res_cc_d', 'res_cc_e', 'res_cc_f'];
    // The P2 alerts of each resident, in the order sent (each priority has its own consumer, so
    // the P1 may be committed before P2s sent ahead of it: it must not wait behind them).
    const sent = new Map<string, string[]>(residents.map((r) => [r, []]));
    const urgent = new Map<string, string>();
    const alerts = [];
    // Interleaved: every resident gets five alerts, with priorities that change the case.
    for (let round = 0; round < 5; round++)
      for (const residentId of residents) {
        const alert = h.alert({
          residentId,
          priority: round === 3 ? 1 : 2,
          type: round === 3 ? 'fall.detected' : 'flood.detected',
        });
        alerts.push(alert);
        if (alert.priority === 1) urgent.set(residentId, alert.id);
        else sent.get(residentId)?.push(alert.id);
      }
    for (const alert of alerts) await h.publish(alert);
    await h.drained();

    for (const residentId of residents) {
      const all = (await h.api('/api/cases?state=all')).json as { id: string; residentId: string }[];
      const mine = all.filter((c) => c.residentId === residentId);
      expect(mine).toHaveLength(1);
      const detail = await h.detail(mine[0]?.id as string);
      expect(detail.alertIds).toHaveLength(5);
      expect(detail.priority).toBe(1);
      const order = (detail.events as { kind: string; data: { alertId?: string } }[])
        .filter((e) => e.kind === 'opened' || e.kind === 'alert-joined')
        .map((e) => e.data.alertId);
      expect(order.filter((id) => id !== urgent.get(residentId))).toEqual(sent.get(residentId));
      expect(order).toContain(urgent.get(residentId));
    }
  });
});

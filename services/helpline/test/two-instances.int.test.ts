import { ManualClock } from '@telecare/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HelplineHandle, loadHelplineConfig, startHelpline } from '../src/index.ts';
import { helplineHarness } from './harness.ts';

/**
 * Two helpline instances on one PostgreSQL and one ALERTS consumer, as a scaled-out helpline runs:
 * both take alerts and both run the queue at the same moments. A case is offered to one operator
 * at a time, an operator holds one offer at a time, and every alert is in exactly one case.
 */
const OPERATORS = 4;
const CASES = 12;
const env = { TIMER_TICK_MS: '60000', OFFER_TIMEOUT_S: '600', PRESENCE_TIMEOUT_S: '300' };
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let second: HelplineHandle;

beforeAll(async () => {
  h = await helplineHarness('twoinst', env);
  await h.start(clock);
  second = await startHelpline(loadHelplineConfig({ ...h.env, ...env }), { clock });
});
afterAll(async () => {
  await second?.close();
  await h?.close();
});

interface Detail {
  id: string;
  residentId: string;
  state: string;
  offeredTo: string | null;
  alertIds: string[];
  events: { kind: string; data: Record<string, unknown> }[];
}

describe('two helpline instances', () => {
  it('never offer one case twice or give one operator two offers, however their ticks interleave', async () => {
    const consoles = [];
    for (let i = 0; i < OPERATORS; i++) {
      const op = await h.user(`twin${i}`, 'operator');
      await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: op.cookie });
      // Half the operators hold their console on each instance.
      consoles.push(await h.openConsole(op.cookie, i % 2 === 0 ? h.helpline.url : second.url));
      clock.advance(10);
    }
    const residents = Array.from({ length: CASES }, (_, i) => `res_twin_${i}`);
    for (const residentId of residents)
      await h.publish(h.alert({ residentId, priority: 1, raisedAt: new Date(clock.now()).toISOString() }));
    await h.drained();

    for (let round = 0; round < 8; round++) await Promise.all([h.helpline.tick(), second.tick()]);

    const details: Detail[] = [];
    for (const residentId of residents)
      details.push((await h.detail((await h.caseOf(residentId)).id)) as Detail);
    const offered = details.filter((d) => d.state === 'offered');
    expect(offered).toHaveLength(OPERATORS);
    expect(new Set(offered.map((d) => d.offeredTo)).size).toBe(OPERATORS);
    for (const d of details) {
      expect(d.alertIds).toHaveLength(1);
      expect(d.events.filter((e) => e.kind === 'offered').length).toBeLessThanOrEqual(1);
    }
    const all = (await h.api('/api/cases?state=all')).json as { residentId: string }[];
    for (const residentId of residents)
      expect(all.filter((c) => c.residentId === residentId)).toHaveLength(1);
    for (const c of consoles) c.close();
  });
});

import { ManualClock } from '@telecare/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  h = await helplineHarness('restart', {
    TIMER_TICK_MS: '60000',
    OFFER_TIMEOUT_S: '20',
    PRESENCE_TIMEOUT_S: '300',
  });
  await h.start(clock);
});
afterAll(() => h?.close());

describe('a helpline restart', () => {
  it('keeps cases in every state and resumes every timer from PostgreSQL', async () => {
    const op = await h.user('op', 'operator');
    const sup = await h.user('sup', 'supervisor');
    const raised = new Date(clock.now());
    const residents = ['queued', 'offered', 'accepted', 'held', 'resolved'];
    for (const r of residents)
      await h.publish(h.alert({ residentId: `res_rs_${r}`, raisedAt: raised.toISOString() }));
    await h.drained();
    const ids: Record<string, string> = {};
    for (const r of residents) ids[r] = (await h.caseOf(`res_rs_${r}`)).id;
    // accepted, held, resolved: worked by the supervisor (never offered); then op takes the next offer.
    for (const r of ['accepted', 'held', 'resolved'])
      expect((await h.api(`/api/cases/${ids[r]}/accept`, { method: 'POST', as: sup.cookie })).status).toBe(
        200,
      );
    await h.api(`/api/cases/${ids.held}/hold`, {
      method: 'POST',
      body: { until: new Date(clock.now() + 40_000).toISOString(), reason: 'call back', returnPriority: 2 },
      as: sup.cookie,
    });
    await h.api(`/api/cases/${ids.resolved}/resolve`, {
      method: 'POST',
      body: { outcome: 'false-alarm', reason: 'pressed by mistake' },
      as: sup.cookie,
    });
    await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: op.cookie });
    // The operator's console is open until the restart; it does not come back (see presence tests).
    await h.openConsole(op.cookie);
    await h.helpline.tick();
    const before = await h.api('/api/cases?state=all');
    const offered = (before.json as { id: string; state: string }[]).filter((c) => c.state === 'offered');
    expect(offered).toHaveLength(1);
    const states = Object.fromEntries(
      (before.json as { id: string; state: string }[]).map((c) => [c.id, c.state]),
    );
    expect(Object.values(states).sort()).toEqual(['accepted', 'offered', 'on_hold', 'queued', 'resolved']);

    await h.stop();
    // Time passes while the helpline is down: the offer expires, the call-back falls due, the P1s
    // waiting pass the 30 s and 60 s rungs.
    clock.set(raised.getTime() + 65_000);
    await h.start(clock);
    await h.helpline.tick();

    const after = (await h.api('/api/cases?state=all')).json as {
      id: string;
      state: string;
      escalationStep: number;
      priority: number;
    }[];
    expect(after.map((c) => c.id).sort()).toEqual(Object.keys(states).sort());
    const byId = Object.fromEntries(after.map((c) => [c.id, c]));
    const offeredId = offered[0]?.id as string;
    expect((await h.detail(offeredId)).events.map((e: { kind: string }) => e.kind)).toContain(
      'offer-expired',
    );
    expect(byId[ids.held as string]).toMatchObject({ state: 'queued', priority: 2 });
    expect(byId[ids.accepted as string]).toMatchObject({ state: 'accepted', escalationStep: 0 });
    expect(byId[ids.resolved as string]).toMatchObject({ state: 'resolved' });
    // Every unaccepted P1 reached the supervisor rung, each rung recorded once.
    for (const c of after.filter((x) => x.priority === 1 && ['queued', 'offered'].includes(x.state))) {
      expect(c.escalationStep).toBe(2);
      const rungs = (await h.detail(c.id)).events.filter((e: { kind: string }) => e.kind === 'escalated');
      expect(rungs.map((e: { data: { to: string } }) => e.data.to)).toEqual(['all-operators', 'supervisor']);
    }
  });
});

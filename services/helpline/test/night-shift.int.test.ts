import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// A night shift with few operators and many open cases. Timers are stepped by hand.
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let op1: { id: string; cookie: string };
let op2: { id: string; cookie: string };
let n = 0;

beforeAll(async () => {
  h = await helplineHarness('nightshift', {
    TIMER_TICK_MS: '60000',
    OFFER_TIMEOUT_S: '20',
    PRESENCE_TIMEOUT_S: '300',
  });
  await h.start(clock);
  op1 = await h.user('op1', 'operator');
  op2 = await h.user('op2', 'operator');
  for (const op of [op1, op2]) {
    await h.openConsole(op.cookie);
    await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: op.cookie });
    clock.advance(10);
  }
});
afterAll(() => h?.close());

async function raise(label: string, priority: 1 | 2 | 3 | 4, type: string): Promise<string> {
  n += 1;
  const residentId = `res_ns_${label}_${n}`;
  await h.publish(
    h.alert({
      residentId,
      priority,
      type: type as never,
      raisedAt: new Date(clock.now()).toISOString(),
    }),
  );
  return (await h.caseOf(residentId)).id;
}

const stateOf = async (id: string) => {
  const c = await h.detail(id);
  return { state: c.state as string, offeredTo: c.offeredTo as string | null };
};

describe('a night shift', () => {
  it('offers a new alarm at once when every operator holds an offer of a technical case', async () => {
    const faults = [await raise('mains', 3, 'mains.lost'), await raise('line', 3, 'line.fault')];
    await h.helpline.tick();
    const offered = await Promise.all(faults.map(stateOf));
    expect(offered.map((o) => o.state)).toEqual(['offered', 'offered']);

    // Both operators are reading a mains-fail card when a pendant is pressed.
    clock.advance(2_000);
    const press = await raise('press', 1, 'pendant.pressed');
    await h.helpline.tick();
    const p = await waitFor(
      async () => {
        await h.helpline.tick();
        const s = await stateOf(press);
        return s.state === 'offered' ? s : undefined;
      },
      { what: 'the press offered without waiting for an offer of a fault to lapse', timeoutMs: 5_000 },
    );
    expect([op1.id, op2.id]).toContain(p.offeredTo);
    // The fault it displaced is back in the queue, and says why.
    const after = await Promise.all(faults.map(stateOf));
    expect(after.filter((o) => o.state === 'offered').map((o) => o.offeredTo)).not.toContain(p.offeredTo);
    const displaced = faults[after.findIndex((o) => o.state === 'queued')] as string;
    const events = (await h.detail(displaced)).events as { kind: string; data: Record<string, unknown> }[];
    expect(events.at(-1)).toMatchObject({
      kind: 'offer-expired',
      data: { from: p.offeredTo, reason: 'a more urgent case', for: press },
    });
  });

  it('does not resolve or hold away a press that joined after the operator last looked', async () => {
    n += 1;
    const residentId = `res_ns_again_${n}`;
    const first = h.alert({ residentId, raisedAt: new Date(clock.now()).toISOString() });
    await h.publish(first);
    const id = (await h.caseOf(residentId)).id;
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST' })).status).toBe(200);
    // The operator has the case open (one alert) and is typing the outcome when the resident presses again.
    const seen = (await h.detail(id)).alertIds.length as number;
    await h.publish(h.alert({ residentId, repeats: { alertId: first.id } }));
    await waitFor(async () => (await h.detail(id)).alertIds.length === 2, { what: 'the repeat to join' });

    const resolve = await h.api(`/api/cases/${id}/resolve`, {
      method: 'POST',
      body: { outcome: 'reassurance-given', reason: 'resident fine', seenAlerts: seen },
    });
    expect(resolve.status).toBe(409);
    expect(resolve.json.message).toMatch(/pressed again|new alert/);
    const hold = await h.api(`/api/cases/${id}/hold`, {
      method: 'POST',
      body: { until: new Date(clock.now() + 600_000).toISOString(), reason: 'call back', seenAlerts: seen },
    });
    expect(hold.status).toBe(409);
    expect((await h.detail(id)).state).toBe('accepted');

    // Having seen it, the operator decides again.
    const again = await h.api(`/api/cases/${id}/resolve`, {
      method: 'POST',
      body: {
        outcome: 'reassurance-given',
        reason: 'resident fine, pressed twice by mistake',
        seenAlerts: 2,
      },
    });
    expect(again.status).toBe(200);
  });
});

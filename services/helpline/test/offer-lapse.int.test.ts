import { ManualClock } from '@telecare/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// Offers that lapse or are declined while another operator is free. Timers are stepped by hand.
const OFFER_TIMEOUT_S = 20;
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let n = 0;

beforeAll(async () => {
  h = await helplineHarness('offerlapse', {
    TIMER_TICK_MS: '60000',
    OFFER_TIMEOUT_S: String(OFFER_TIMEOUT_S),
    PRESENCE_TIMEOUT_S: '300',
  });
  await h.start(clock);
});
afterAll(() => h?.close());

async function operator(name: string) {
  const op = await h.user(name, 'operator');
  const console = await h.openConsole(op.cookie);
  await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: op.cookie });
  clock.advance(1_000);
  return { ...op, console };
}

async function press(): Promise<string> {
  n += 1;
  const residentId = `res_lapse_${n}`;
  await h.publish(h.alert({ residentId, priority: 1, raisedAt: new Date(clock.now()).toISOString() }));
  const id = (await h.caseOf(residentId)).id;
  await h.helpline.tick();
  return id;
}

const offeredTo = async (id: string) => (await h.detail(id)).offeredTo as string | null;

describe('an offer nobody takes goes to someone else who is free', () => {
  it('a lapsed offer moves to the other free operator, not back to the one who let it lapse', async () => {
    // Anna has been available longest; her console is open but she has left her desk.
    const anna = await operator('anna');
    const ben = await operator('ben');
    const id = await press();
    expect(await offeredTo(id)).toBe(anna.id);

    clock.advance((OFFER_TIMEOUT_S + 1) * 1000);
    await h.helpline.tick();
    // Ben has been free all along: the press is his now.
    expect(await offeredTo(id)).toBe(ben.id);
    // And should he let it lapse too, it goes back to Anna: nobody is left out for good.
    clock.advance((OFFER_TIMEOUT_S + 1) * 1000);
    await h.helpline.tick();
    expect(await offeredTo(id)).toBe(anna.id);

    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: anna.cookie })).status).toBe(200);
    const body = { outcome: 'false-alarm', reason: 'test over' };
    expect((await h.api(`/api/cases/${id}/resolve`, { method: 'POST', body, as: anna.cookie })).status).toBe(
      200,
    );
    await h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: anna.cookie });
    await h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: ben.cookie });
    anna.console.close();
    ben.console.close();
  });

  it('a declined offer moves to the other free operator', async () => {
    const cara = await operator('cara');
    const dev = await operator('dev');
    const id = await press();
    expect(await offeredTo(id)).toBe(cara.id);
    expect((await h.api(`/api/cases/${id}/decline`, { method: 'POST', as: cara.cookie })).status).toBe(200);
    await h.helpline.tick();
    expect(await offeredTo(id)).toBe(dev.id);
  });
});

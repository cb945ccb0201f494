import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// Everyone busy, a fall comes in: the supervisor gives it to the operator whose own case can wait
// (she holds a mains fault she accepted before). The offer stands until she takes it or it lapses;
// it goes back at once only if she takes yet another case after it was offered.
let h: Awaited<ReturnType<typeof helplineHarness>>;
type User = { id: string; cookie: string };
let ann: User;
let ben: User;
let sue: User;
const consoles: { close(): void }[] = [];
type Event = { kind: string; actor: string; data: Record<string, unknown> };

beforeAll(async () => {
  h = await helplineHarness('rebusy', {
    TIMER_TICK_MS: '200',
    OFFER_TIMEOUT_S: '600',
    PRESENCE_ON_LOGIN: 'available',
  });
  await h.start();
  ann = await h.user('ann', 'operator');
  ben = await h.user('ben', 'operator');
  sue = await h.user('sue', 'supervisor');
  for (const u of [ann, ben, sue]) consoles.push(await h.openConsole(u.cookie));
});
afterAll(async () => {
  for (const c of consoles) c.close();
  await h?.close();
});

const accept = async (id: string, as: User) =>
  expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: as.cookie })).status).toBe(200);

async function raise(residentId: string, priority: 1 | 3, type: string) {
  await h.publish(h.alert({ residentId, priority, type: type as 'mains.lost' }));
  return h.caseOf(residentId);
}

describe('reassigning a waiting case to an operator working another', () => {
  it('the offer stands: it is not taken back as if she had taken another case since', async () => {
    const mains = await raise('res_busy_mains', 3, 'mains.lost');
    await accept(mains.id, ann);
    const fall = await raise('res_busy_fall', 1, 'fall.detected');
    await waitFor(async () => ((await h.detail(fall.id)).offeredTo === ben.id ? true : undefined), {
      what: 'the fall offered to Ben, the one free',
    });
    const moved = await h.api(`/api/cases/${fall.id}/reassign`, {
      method: 'POST',
      as: sue.cookie,
      body: { to: ann.id },
    });
    expect(moved.status).toBe(200);
    expect(moved.json.offeredTo).toBe(ann.id);
    // Ben, free again, is offered a case (this one, or the fall taken back from Ann): the timers
    // have ticked since the reassign.
    await raise('res_busy_next', 3, 'line.fault');
    const open = async () =>
      (await h.api('/api/cases?state=open')).json as { id: string; offeredTo: string }[];
    await waitFor(async () => ((await open()).some((c) => c.offeredTo === ben.id) ? true : undefined), {
      what: 'a case offered to Ben',
    });
    const fallNow = await h.detail(fall.id);
    expect(fallNow.state).toBe('offered');
    expect(fallNow.offeredTo).toBe(ann.id);
    expect((fallNow.events as Event[]).filter((e) => e.kind === 'offer-expired')).toEqual([]);

    // She takes another case from the list after the offer: the fall goes back at once.
    const another = await raise('res_busy_another', 3, 'battery.low');
    await accept(another.id, ann);
    await waitFor(async () => ((await h.detail(fall.id)).offeredTo !== ann.id ? true : undefined), {
      what: 'the fall taken back from Ann',
    });
    const back = (await h.detail(fall.id)).events as Event[];
    expect(back.findLast((e) => e.kind === 'offer-expired')).toMatchObject({
      data: { from: ann.id, reason: 'operator took another case' },
    });
  });
});

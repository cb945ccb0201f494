import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// A supervisor hands a case only to someone who would see it: a signed-in operator with no console
// open (or one gone silent) is refused an accepted case and an offer, as is one who is away; the
// case stays as it was. The clock moves only when the test says so.
const TIMEOUT_S = 5;
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let sup: User;
let anna: User;
let annaConsole: Console;
let n = 0;

type User = { id: string; cookie: string };
type Console = Awaited<ReturnType<typeof h.openConsole>>;
type Event = { kind: string; actor: string; data: Record<string, unknown> };

beforeAll(async () => {
  h = await helplineHarness('there', {
    TIMER_TICK_MS: '60000',
    OFFER_TIMEOUT_S: '600',
    PRESENCE_TIMEOUT_S: String(TIMEOUT_S),
  });
  await h.start(clock);
  sup = await h.user('sup', 'supervisor');
  anna = await operator('anna');
  annaConsole = await h.openConsole(anna.cookie);
});
afterAll(() => h?.close());

/** A signed-in operator who chose `available`, with no console open yet. */
async function operator(label: string): Promise<User> {
  n += 1;
  const u = await h.user(`${label}${n}`, 'operator');
  await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: u.cookie });
  return u;
}

/** A new case, offered to Anna (the only operator there and free). */
async function offeredToAnna(label: string, priority: 1 | 3): Promise<string> {
  n += 1;
  const residentId = `res_there_${label}_${n}`;
  await h.publish(h.alert({ residentId, priority, raisedAt: new Date(clock.now()).toISOString() }));
  await h.drained();
  const id = (await h.caseOf(residentId)).id;
  await waitFor(
    async () => {
      await h.helpline.tick();
      return (await h.detail(id)).offeredTo === anna.id;
    },
    { what: `case ${id} offered to anna` },
  );
  return id;
}

const reassign = (id: string, to: User) =>
  h.api(`/api/cases/${id}/reassign`, { method: 'POST', body: { to: to.id, reason: 'r' }, as: sup.cookie });

/** What a refused reassign must leave as it was. */
const standing = async (id: string) => {
  const c = await h.detail(id);
  return {
    state: c.state,
    assignedTo: c.assignedTo,
    offeredTo: c.offeredTo,
    reassigned: (c.events as Event[]).filter((e) => e.kind === 'reassigned').length,
  };
};

describe('a supervisor reassigning a case', () => {
  it('refuses an accepted case to someone with no console open, and hands it to someone there', async () => {
    const id = await offeredToAnna('accepted', 1);
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: anna.cookie })).status).toBe(200);
    const before = await standing(id);
    expect(before).toMatchObject({ state: 'accepted', assignedTo: anna.id });

    // Ben is signed in and chose available, but no console of his is open: he would not see it.
    const ben = await operator('ben');
    const refused = await reassign(id, ben);
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({
      error: 'refused',
      message: 'they have no console open: an accepted case goes only to someone who is there',
      state: 'accepted',
    });
    expect(await standing(id)).toEqual(before);

    const benConsole = await h.openConsole(ben.cookie);
    const moved = await reassign(id, ben);
    expect(moved.status).toBe(200);
    expect(moved.json).toMatchObject({ state: 'accepted', assignedTo: ben.id });
    benConsole.close();
  });

  it('refuses an offer to someone with no console, one gone silent, or one away; offers it to someone there', async () => {
    // On offer to Anna, who is there: the offer stands while the others are tried.
    const id = await offeredToAnna('waiting', 3);
    const before = await standing(id);
    expect(before).toMatchObject({ state: 'offered', offeredTo: anna.id });

    const cara = await operator('cara');
    const noConsole = await reassign(id, cara);
    expect(noConsole.status).toBe(409);
    expect(noConsole.json.message).toBe(
      'they have no console open: a waiting case is offered only to someone who is there',
    );
    expect(await standing(id)).toEqual(before);

    // A console whose heartbeats stopped (a lost network) counts for nothing past the timeout.
    const caraConsole = await h.openConsole(cara.cookie);
    const dan = await operator('dan');
    const danConsole = await h.openConsole(dan.cookie);
    await caraConsole.stall();
    clock.advance((TIMEOUT_S + 1) * 1000);
    for (const c of [annaConsole, danConsole]) expect((await c.beat())?.status).toBe(200);
    const silent = await reassign(id, cara);
    expect(silent.status).toBe(409);
    expect(silent.json.message).toContain('they have no console open');
    expect(await standing(id)).toEqual(before);

    // Dan's console is open, but he is on a break.
    await h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: dan.cookie });
    const away = await reassign(id, dan);
    expect(away.status).toBe(409);
    expect(away.json.message).toBe('they are away: a waiting case is offered only to someone who is there');
    expect(await standing(id)).toEqual(before);

    await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: dan.cookie });
    const offered = await reassign(id, dan);
    expect(offered.status).toBe(200);
    expect(offered.json).toMatchObject({ state: 'offered', offeredTo: dan.id });
    caraConsole.close();
    danConsole.close();
    annaConsole.close();
  });
});

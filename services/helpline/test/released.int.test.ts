import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// Accepting makes an operator `busy`, and the queue offers nothing to someone busy. A case that
// leaves the operator's hands by their own hold or resolve makes them `available` again; one taken
// from them (a supervisor's reassign, hold or resolve, or the case back in the queue while their
// console was gone) must too, or they sit at a free desk that is never offered another case while
// alarms wait. And the operator a supervisor gives an accepted case to is on it: `busy`.
const TIMEOUT_S = 5;
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let sup: User;
let n = 0;

type User = { id: string; cookie: string };
type Console = Awaited<ReturnType<typeof h.openConsole>>;

beforeAll(async () => {
  h = await helplineHarness('released', {
    TIMER_TICK_MS: '60000',
    OFFER_TIMEOUT_S: '600',
    PRESENCE_TIMEOUT_S: String(TIMEOUT_S),
    HELPLINE_OPERATOR_GONE_S: '90',
    HELPLINE_OPERATOR_GONE_REQUEUE_S: '120',
  });
  await h.start(clock);
  sup = await h.user('sup', 'supervisor');
});
afterAll(() => h?.close());

async function operator(label: string): Promise<User> {
  n += 1;
  const u = await h.user(`${label}${n}`, 'operator');
  await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: u.cookie });
  clock.advance(10);
  return u;
}

async function newCase(label: string, priority: 1 | 2 | 3 = 1): Promise<string> {
  n += 1;
  const residentId = `res_rel_${label}_${n}`;
  await h.publish(h.alert({ residentId, priority, raisedAt: new Date(clock.now()).toISOString() }));
  await h.drained();
  return (await h.caseOf(residentId)).id;
}

const presenceOf = async (user: User) => {
  const users = (await h.api('/api/users', { as: sup.cookie })).json.users as {
    id: string;
    presence: string | null;
  }[];
  return users.find((u) => u.id === user.id)?.presence;
};

/** A case offered to `who` (the only operator free) and accepted by them. */
async function acceptedBy(label: string, who: User): Promise<string> {
  const id = await newCase(label);
  await waitFor(
    async () => {
      await h.helpline.tick();
      return (await h.detail(id)).offeredTo === who.id;
    },
    { what: `case ${id} offered to ${who.id}`, timeoutMs: 8_000 },
  );
  expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: who.cookie })).status).toBe(200);
  expect(await presenceOf(who)).toBe('busy');
  return id;
}

/** The next case is offered to `who`. */
async function offeredNext(label: string, who: User, consoles: Console[]) {
  const id = await newCase(label, 2);
  for (const c of consoles) await c.beat();
  await h.helpline.tick();
  expect((await h.detail(id)).offeredTo).toBe(who.id);
  // Out of the way for the next test.
  await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: sup.cookie });
  await h.api(`/api/cases/${id}/resolve`, {
    method: 'POST',
    as: sup.cookie,
    body: { outcome: 'false-alarm', reason: 'test' },
  });
}

describe('an operator a case is taken from', () => {
  it('is free for the next case after a supervisor reassigns their accepted case, and the new holder is busy', async () => {
    const anna = await operator('anna');
    const annaConsole = await h.openConsole(anna.cookie);
    const id = await acceptedBy('reassign', anna);
    const ben = await operator('ben');
    const benConsole = await h.openConsole(ben.cookie);
    const moved = await h.api(`/api/cases/${id}/reassign`, {
      method: 'POST',
      as: sup.cookie,
      body: { to: ben.id, reason: 'anna is needed on the phone to the GP' },
    });
    expect(moved.status).toBe(200);
    expect(moved.json).toMatchObject({ state: 'accepted', assignedTo: ben.id });
    expect(await presenceOf(anna)).toBe('available');
    expect(await presenceOf(ben)).toBe('busy');
    await offeredNext('after-reassign', anna, [annaConsole, benConsole]);
    // Ben resolves the case he was given: free again, as after any case of his own.
    await h.api(`/api/cases/${id}/resolve`, {
      method: 'POST',
      as: ben.cookie,
      body: { outcome: 'no-action-needed', reason: 'resident fine' },
    });
    expect(await presenceOf(ben)).toBe('available');
    annaConsole.close();
    benConsole.close();
  });

  it('is free for the next case after a supervisor resolves or holds their accepted case', async () => {
    const cara = await operator('cara');
    const caraConsole = await h.openConsole(cara.cookie);
    const first = await acceptedBy('sup-resolve', cara);
    const resolved = await h.api(`/api/cases/${first}/resolve`, {
      method: 'POST',
      as: sup.cookie,
      body: { outcome: 'false-alarm', reason: 'closed from the supervisor desk' },
    });
    expect(resolved.status).toBe(200);
    expect(await presenceOf(cara)).toBe('available');
    await offeredNext('after-sup-resolve', cara, [caraConsole]);

    const second = await acceptedBy('sup-hold', cara);
    const held = await h.api(`/api/cases/${second}/hold`, {
      method: 'POST',
      as: sup.cookie,
      body: { until: new Date(clock.now() + 600_000).toISOString(), reason: 'waiting for the GP' },
    });
    expect(held.status).toBe(200);
    expect(await presenceOf(cara)).toBe('available');
    await offeredNext('after-sup-hold', cara, [caraConsole]);
    await h.api(`/api/cases/${second}/resolve`, {
      method: 'POST',
      as: sup.cookie,
      body: { outcome: 'false-alarm', reason: 'test' },
    });
    caraConsole.close();
  });

  it('is offered cases again on coming back after their alarm call went back to the queue', async () => {
    const dan = await operator('dan');
    const danConsole = await h.openConsole(dan.cookie);
    const id = await acceptedBy('gone', dan);
    await danConsole.stall();
    // Gone past both bounds (90 s flagged, 120 s more requeued): the call is back in the queue.
    for (const step of [TIMEOUT_S + 1, 90, 121]) {
      clock.advance(step * 1000);
      await h.helpline.tick();
    }
    expect((await h.detail(id)).state).toBe('queued');
    // The supervisor takes it; Dan's PC is back.
    await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: sup.cookie });
    danConsole.close();
    const back = await h.openConsole(dan.cookie);
    expect(await presenceOf(dan)).toBe('available');
    await offeredNext('after-gone', dan, [back]);
    back.close();
  });
});

// An operator may hold two accepted cases (one offered, one taken from the list). Letting one go
// (hold or resolve) freed them, `available` on a call; and so did resolving a case they had on hold.
describe('an operator who still has an accepted case in hand', () => {
  it('stays busy after holding or resolving another case, and is available once nothing is in hand', async () => {
    const eli = await operator('eli');
    const eliConsole = await h.openConsole(eli.cookie);
    const first = await acceptedBy('two-first', eli);
    // A second case, taken from the list (nobody is free to be offered it).
    const second = await newCase('two-second', 2);
    expect((await h.api(`/api/cases/${second}/accept`, { method: 'POST', as: eli.cookie })).status).toBe(200);
    const until = new Date(clock.now() + 600_000).toISOString();
    const held = await h.api(`/api/cases/${first}/hold`, {
      method: 'POST',
      as: eli.cookie,
      body: { until, reason: 'waiting for the GP' },
    });
    expect(held.status).toBe(200);
    expect(await presenceOf(eli)).toBe('busy');
    // The held case resolved while the other is still accepted: still busy.
    const resolvedHeld = await h.api(`/api/cases/${first}/resolve`, {
      method: 'POST',
      as: eli.cookie,
      body: { outcome: 'false-alarm', reason: 'GP confirmed all well' },
    });
    expect(resolvedHeld.status).toBe(200);
    expect(await presenceOf(eli)).toBe('busy');
    // A third case in hand, then one of the two resolved: still busy.
    const third = await newCase('two-third', 2);
    expect((await h.api(`/api/cases/${third}/accept`, { method: 'POST', as: eli.cookie })).status).toBe(200);
    const resolved = await h.api(`/api/cases/${second}/resolve`, {
      method: 'POST',
      as: eli.cookie,
      body: { outcome: 'false-alarm', reason: 'pressed by mistake' },
    });
    expect(resolved.status).toBe(200);
    expect(await presenceOf(eli)).toBe('busy');
    // The last one let go: available, and offered the next case.
    const last = await h.api(`/api/cases/${third}/hold`, {
      method: 'POST',
      as: eli.cookie,
      body: { until, reason: 'calling the son back' },
    });
    expect(last.status).toBe(200);
    expect(await presenceOf(eli)).toBe('available');
    await offeredNext('after-two', eli, [eliConsole]);
    await h.api(`/api/cases/${third}/resolve`, {
      method: 'POST',
      as: sup.cookie,
      body: { outcome: 'false-alarm', reason: 'test' },
    });
    eliConsole.close();
  });
});

// Attack: an operator's accept and their going away, at the same moment (two tabs, a double
// action). Whatever the order, an accepted case never stays with someone away, and nobody is left
// `busy` with nothing in hand.
describe('an accept racing a break', () => {
  it('ends either with the case in hand and the operator busy, or back in the queue and the operator away', async () => {
    const fay = await operator('fay');
    const fayConsole = await h.openConsole(fay.cookie);
    for (let i = 0; i < 8; i++) {
      const id = await newCase(`race-${i}`, 3);
      const [accepted, away] = await Promise.all([
        h.api(`/api/cases/${id}/accept`, { method: 'POST', as: fay.cookie }),
        h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: fay.cookie }),
      ]);
      expect(away.status).toBe(200);
      const c = await h.detail(id);
      const presence = (
        (await h.api('/api/users')).json.users as { id: string; chosenPresence: string | null }[]
      ).find((u) => u.id === fay.id)?.chosenPresence;
      if (accepted.status === 200 && c.state === 'accepted') expect(presence, `round ${i}`).toBe('busy');
      else {
        expect(c.state, `round ${i}`).toBe('queued');
        expect(presence, `round ${i}`).toBe('away');
      }
      // Ready for the next round: back, nothing in hand.
      await h.api(`/api/cases/${id}/resolve`, {
        method: 'POST',
        as: sup.cookie,
        body: { outcome: 'false-alarm', reason: 'test' },
      });
      await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: fay.cookie });
    }
    fayConsole.close();
  });
});

import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HelplineHandle, loadHelplineConfig, startHelpline } from '../src/index.ts';
import { helplineHarness } from './harness.ts';

// Presence is decided from live consoles: a console holds the stream open and answers the
// server's pings. The clock moves only when a test says so, so "no heartbeat for longer than the
// timeout" is a clock step, not a wait; a closed stream or a sign-out acts at once.
const TIMEOUT_S = 5;
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let sup: { id: string; cookie: string };
let n = 0;

type Console = Awaited<ReturnType<typeof h.openConsole>>;
type User = { id: string; cookie: string };

beforeAll(async () => {
  h = await helplineHarness('presence', {
    TIMER_TICK_MS: '60000',
    OFFER_TIMEOUT_S: '20',
    PRESENCE_TIMEOUT_S: String(TIMEOUT_S),
  });
  await h.start(clock);
  sup = await h.user('sup', 'supervisor');
});
afterAll(() => h?.close());

/** An operator who chose `available`; whether they are there is up to their console. */
async function operator(label: string): Promise<User> {
  n += 1;
  const u = await h.user(`${label}${n}`, 'operator');
  await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: u.cookie });
  // Longest-available first: a later operator is strictly later.
  clock.advance(10);
  return u;
}

async function newCase(label: string): Promise<string> {
  n += 1;
  const residentId = `res_pr_${label}_${n}`;
  await h.publish(h.alert({ residentId, priority: 1, raisedAt: new Date(clock.now()).toISOString() }));
  await h.drained();
  return (await h.caseOf(residentId)).id;
}

const offeredTo = async (caseId: string, user: User | undefined) =>
  waitFor(
    async () => {
      await h.helpline.tick();
      const c = await h.detail(caseId);
      return c.state === 'offered' && c.offeredTo === (user?.id ?? null) ? c : undefined;
    },
    { what: `case ${caseId} offered to ${user?.id}`, timeoutMs: 8_000 },
  );

const presenceOf = async (user: User) => {
  const users = (await h.api('/api/users', { as: sup.cookie })).json.users as {
    id: string;
    presence: string | null;
    consoles: number;
  }[];
  return users.find((u) => u.id === user.id);
};

/** Leaves nothing in the queue for the next test: the supervisor takes the case. */
async function finish(caseId: string, consoles: Console[]) {
  for (const c of consoles) c.close();
  await h.api(`/api/cases/${caseId}/accept`, { method: 'POST', as: sup.cookie });
}

describe('presence from live consoles', () => {
  it('offers nothing to an operator who chose available but has no console open', async () => {
    const ghost = await operator('ghost');
    const c = await newCase('ghost');
    await h.helpline.tick();
    expect((await h.detail(c)).state).toBe('queued');
    expect(await presenceOf(ghost)).toMatchObject({ presence: 'away', consoles: 0 });

    const console1 = await h.openConsole(ghost.cookie);
    await offeredTo(c, ghost);
    expect(await presenceOf(ghost)).toMatchObject({ presence: 'available', consoles: 1 });
    await finish(c, [console1]);
  });

  it('a closed console (tab closed) withdraws its offer at once and the next operator present gets it', async () => {
    const anna = await operator('anna');
    const ben = await operator('ben');
    const annaConsole = await h.openConsole(anna.cookie);
    const benConsole = await h.openConsole(ben.cookie);
    const c = await newCase('tab');
    await offeredTo(c, anna);

    annaConsole.close();
    // No clock step: the closed stream alone moves the offer on.
    const moved = await waitFor(
      async () => {
        const d = await h.detail(c);
        return d.offeredTo === ben.id ? d : undefined;
      },
      { what: 'the offer to move to ben', timeoutMs: 8_000 },
    );
    const expired = (moved.events as { kind: string; data: Record<string, unknown> }[]).find(
      (e) => e.kind === 'offer-expired',
    );
    expect(expired?.data).toMatchObject({ from: anna.id, reason: 'operator not connected' });
    expect(await presenceOf(anna)).toMatchObject({ presence: 'away', consoles: 0 });
    await finish(c, [benConsole]);
  });

  it('with two tabs open, closing one keeps the operator present; closing both moves the offer', async () => {
    const anna = await operator('tabs');
    const ben = await operator('tabsben');
    const tab1 = await h.openConsole(anna.cookie);
    const tab2 = await h.openConsole(anna.cookie);
    const benConsole = await h.openConsole(ben.cookie);
    const c = await newCase('tabs');
    await offeredTo(c, anna);
    expect(await presenceOf(anna)).toMatchObject({ presence: 'available', consoles: 2 });

    tab1.close();
    await waitFor(async () => ((await presenceOf(anna))?.consoles === 1 ? true : undefined), {
      what: 'one console left',
    });
    await h.helpline.tick();
    expect(await h.detail(c)).toMatchObject({ state: 'offered', offeredTo: anna.id });

    tab2.close();
    await offeredTo(c, ben);
    await finish(c, [benConsole]);
  });

  it('signing out sets the operator away, ends their stream and moves the offer on at once', async () => {
    const anna = await operator('out');
    const ben = await operator('outben');
    const annaConsole = await h.openConsole(anna.cookie);
    const benConsole = await h.openConsole(ben.cookie);
    const c = await newCase('signout');
    await offeredTo(c, anna);

    expect((await h.api('/api/logout', { method: 'POST', as: anna.cookie })).status).toBe(200);
    await offeredTo(c, ben);
    expect(await presenceOf(anna)).toMatchObject({ presence: 'away', consoles: 0 });
    await waitFor(() => annaConsole.ended, { what: "anna's stream to end" });
    await finish(c, [benConsole]);
  });

  it('a console that stops answering (network lost) counts as away once the timeout passes', async () => {
    const anna = await operator('net');
    const ben = await operator('netben');
    const annaConsole = await h.openConsole(anna.cookie);
    const benConsole = await h.openConsole(ben.cookie);
    const c = await newCase('network');
    await offeredTo(c, anna);

    await annaConsole.stall();
    clock.advance((TIMEOUT_S + 1) * 1000);
    await benConsole.beat();
    await offeredTo(c, ben);
    expect(await presenceOf(anna)).toMatchObject({ presence: 'away' });
    const expired = ((await h.detail(c)).events as { kind: string; data: Record<string, unknown> }[]).find(
      (e) => e.kind === 'offer-expired',
    );
    expect(expired?.data).toMatchObject({ from: anna.id, reason: 'operator not connected' });
    await finish(c, [annaConsole, benConsole]);
  });

  it('an operator who is there may accept a case still offered to someone who is not', async () => {
    const anna = await operator('acc');
    const ben = await operator('accben');
    const annaConsole = await h.openConsole(anna.cookie);
    const benConsole = await h.openConsole(ben.cookie);
    const c = await newCase('accept');
    await offeredTo(c, anna);

    // Anna's network goes; before any tick notices, Ben presses Accept on the P1 he can see.
    await annaConsole.stall();
    clock.advance((TIMEOUT_S + 1) * 1000);
    await benConsole.beat();
    const accepted = await h.api(`/api/cases/${c}/accept`, { method: 'POST', as: ben.cookie });
    expect(accepted.status).toBe(200);
    expect(accepted.json).toMatchObject({ state: 'accepted', assignedTo: ben.id });

    // While Anna is there, her offer is hers.
    const carl = await operator('acccarl');
    const dora = await operator('accdora');
    const carlConsole = await h.openConsole(carl.cookie);
    const doraConsole = await h.openConsole(dora.cookie);
    const c2 = await newCase('accept2');
    await offeredTo(c2, carl);
    const refused = await h.api(`/api/cases/${c2}/accept`, { method: 'POST', as: dora.cookie });
    expect(refused.status).toBe(409);
    expect(refused.json.message).toBe('the case is offered to another operator');
    await finish(c2, [annaConsole, benConsole, carlConsole, doraConsole]);
  });

  it('a supervisor sets an operator away and signs another out; an operator may do neither', async () => {
    const anna = await operator('supa');
    const ben = await operator('supb');
    const carl = await operator('supc');
    const annaConsole = await h.openConsole(anna.cookie);
    const benConsole = await h.openConsole(ben.cookie);
    const carlConsole = await h.openConsole(carl.cookie);

    expect(
      (
        await h.api(`/api/users/${ben.id}/presence`, {
          method: 'PUT',
          body: { status: 'away' },
          as: anna.cookie,
        })
      ).status,
    ).toBe(403);
    expect((await h.api(`/api/users/${ben.id}/logout`, { method: 'POST', as: anna.cookie })).status).toBe(
      403,
    );

    const c = await newCase('sup');
    await offeredTo(c, anna);
    const away = await h.api(`/api/users/${anna.id}/presence`, {
      method: 'PUT',
      body: { status: 'away' },
      as: sup.cookie,
    });
    expect(away.status).toBe(200);
    await offeredTo(c, ben);
    const expired = ((await h.detail(c)).events as { kind: string; data: Record<string, unknown> }[]).find(
      (e) => e.kind === 'offer-expired',
    );
    expect(expired?.data).toMatchObject({ from: anna.id, reason: 'operator away' });
    // Anna's console learns it from her next heartbeat.
    expect((await annaConsole.beat())?.json).toMatchObject({ presence: 'away' });

    const out = await h.api(`/api/users/${ben.id}/logout`, { method: 'POST', as: sup.cookie });
    expect(out.status).toBe(200);
    await offeredTo(c, carl);
    expect((await h.api('/api/me', { as: ben.cookie })).status).toBe(401);
    await waitFor(() => benConsole.ended, { what: "ben's stream to end" });
    expect(await presenceOf(ben)).toMatchObject({ presence: 'away', consoles: 0 });
    await finish(c, [annaConsole, carlConsole]);
  });

  it('a second helpline instance sees the consoles the first one holds, and its sign-out ends them', async () => {
    const second: HelplineHandle = await startHelpline(
      loadHelplineConfig({
        ...h.env,
        TIMER_TICK_MS: '60000',
        OFFER_TIMEOUT_S: '20',
        PRESENCE_TIMEOUT_S: String(TIMEOUT_S),
      }),
      { clock },
    );
    try {
      const anna = await operator('two');
      const annaConsole = await h.openConsole(anna.cookie);
      const c = await newCase('two');
      // The second instance decides the offer from the console the first instance holds. A tick
      // that finds the other instance dispatching leaves it to that one: tick until it is done.
      const ticked = async (
        want: (c: { state: string; offeredTo: string | null }) => boolean,
        what: string,
      ) =>
        waitFor(
          async () => {
            await second.tick();
            const d = await h.detail(c);
            return want(d) ? d : undefined;
          },
          { what, timeoutMs: 8_000 },
        );
      await ticked((d) => d.state === 'offered' && d.offeredTo === anna.id, 'the offer to anna');
      const out = await fetch(`${second.url}/api/logout`, {
        method: 'POST',
        headers: { cookie: anna.cookie.slice(7) },
      });
      expect(out.status).toBe(200);
      await waitFor(() => annaConsole.ended, { what: 'the first instance to end the stream' });
      await ticked((d) => d.state === 'queued', 'the offer withdrawn');
      await finish(c, [annaConsole]);
    } finally {
      await second.close();
    }
  });

  it('after a restart nobody counts as there until their console connects again', async () => {
    const anna = await operator('restart');
    const annaConsole = await h.openConsole(anna.cookie);
    expect(await presenceOf(anna)).toMatchObject({ presence: 'available', consoles: 1 });
    await h.stop();
    await h.start(clock);
    expect(await presenceOf(anna)).toMatchObject({ presence: 'away', consoles: 0 });
    const c = await newCase('restart');
    await h.helpline.tick();
    expect((await h.detail(c)).state).toBe('queued');
    // Her console reconnects (the browser does this by itself): she is there again.
    const again = await h.openConsole(anna.cookie);
    await offeredTo(c, anna);
    await finish(c, [annaConsole, again]);
  });
});

import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// A night shift outlasts a fixed sign-in: an operator at work past SESSION_TTL_S keeps their
// session (every request and console heartbeat moves its end on), up to SESSION_MAX_S from sign-in;
// a session nobody uses still ends after SESSION_TTL_S. The clock moves only when the test says so.
const TTL_S = 120;
const MAX_S = 600;
const STEP_S = 10;
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let n = 0;
const PASSWORD = 'correct horse battery';

beforeAll(async () => {
  h = await helplineHarness('session', {
    TIMER_TICK_MS: '60000',
    // Pings every 2 s; a console is judged silent after 12 s without a heartbeat, more than a step.
    PRESENCE_TIMEOUT_S: '6',
    SESSION_TTL_S: String(TTL_S),
    SESSION_MAX_S: String(MAX_S),
  });
  await h.start(clock);
});
afterAll(() => h?.close());

async function login(username: string, cookie?: string) {
  const r = await h.api('/api/login', {
    method: 'POST',
    body: { username, password: PASSWORD },
    as: cookie ?? '',
  });
  expect(r.status).toBe(200);
  return { cookie: `cookie:${r.setCookie.split(';')[0] ?? ''}`, json: r.json };
}

async function operator(label: string) {
  n += 1;
  const username = `${label}${n}`;
  const u = { ...(await h.user(username, 'operator', PASSWORD)), username };
  await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: u.cookie });
  return u;
}

const me = async (cookie: string) => (await h.api('/api/me', { as: cookie })).status;

/** A P1 for a new resident, offered to and accepted by the operator with this cookie. */
async function acceptedP1(cookie: string, userId: string): Promise<string> {
  n += 1;
  const residentId = `res_session_${n}`;
  await h.publish(h.alert({ residentId, priority: 1, raisedAt: new Date(clock.now()).toISOString() }));
  await h.drained();
  const id = (await h.caseOf(residentId)).id;
  await waitFor(
    async () => {
      await h.helpline.tick();
      return (await h.detail(id)).offeredTo === userId;
    },
    { what: `case ${id} offered to ${userId}`, timeoutMs: 8_000 },
  );
  expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: cookie })).status).toBe(200);
  return id;
}

/** Out of the way of the next test's offers. */
async function resolve(id: string) {
  const r = await h.api(`/api/cases/${id}/resolve`, {
    method: 'POST',
    body: { outcome: 'reassurance-given', reason: 'resident fine' },
  });
  expect(r.status, JSON.stringify(r.json)).toBe(200);
}

/** A ping round of the live streams has run (every 2 s here, in real time). */
const pingRound = () => new Promise((resolve) => setTimeout(resolve, 2_500));

describe('a session while the console is in use', () => {
  it('an operator at work past SESSION_TTL_S keeps their session, stream and case, up to SESSION_MAX_S', async () => {
    const signedInAt = clock.now();
    const anna = await operator('anna');
    const console = await h.openConsole(anna.cookie);
    const id = await acceptedP1(anna.cookie, anna.id);

    // Twice the TTL of work: a heartbeat every step, as the console's answers to pings.
    for (let t = 0; t < 2 * TTL_S; t += STEP_S) {
      clock.advance(STEP_S * 1000);
      expect((await console.beat())?.status).toBe(200);
    }
    expect(clock.now() - signedInAt).toBeGreaterThan(TTL_S * 1000);
    expect(await me(anna.cookie)).toBe(200);
    await h.helpline.tick();
    await pingRound();
    expect(console.ended).toBe(false);
    expect(await h.detail(id)).toMatchObject({ state: 'accepted', assignedTo: anna.id, operatorGone: null });
    const session = (await h.api('/api/me', { as: anna.cookie })).json.session;
    expect(session.endsAt).toBe(new Date(signedInAt + MAX_S * 1000).toISOString());

    // The absolute bound holds, however busy: the session ends SESSION_MAX_S after sign-in.
    while (clock.now() + STEP_S * 1000 < signedInAt + MAX_S * 1000) {
      clock.advance(STEP_S * 1000);
      expect((await console.beat())?.status).toBe(200);
    }
    expect(await me(anna.cookie)).toBe(200);
    clock.set(signedInAt + MAX_S * 1000 + 1000);
    expect(await me(anna.cookie)).toBe(401);
    expect((await console.beat())?.status).toBe(401);
    await waitFor(() => console.ended, { what: 'the ended session’s stream to end', timeoutMs: 6_000 });
    await resolve(id);
  });

  it('a session nobody uses ends SESSION_TTL_S after its last request; an ended one is never renewed', async () => {
    const ben = await operator('ben');
    clock.advance((TTL_S - 20) * 1000);
    expect(await me(ben.cookie)).toBe(200);
    clock.advance((TTL_S - 20) * 1000);
    // Past the TTL from sign-in, but used since: still there.
    expect(await me(ben.cookie)).toBe(200);
    clock.advance((TTL_S + 1) * 1000);
    expect(await me(ben.cookie)).toBe(401);
    // Expired stays expired: a later request does not bring it back.
    expect(await me(ben.cookie)).toBe(401);

    const cara = await operator('cara');
    expect((await h.api('/api/logout', { method: 'POST', as: cara.cookie })).status).toBe(200);
    expect(await me(cara.cookie)).toBe(401);
  });

  it('signing in again in place keeps the console, its stream and the case past the old session’s end', async () => {
    const signedInAt = clock.now();
    const dev = await operator('dev');
    const console = await h.openConsole(dev.cookie);
    const id = await acceptedP1(dev.cookie, dev.id);

    // Work up to a few minutes before the absolute end.
    while (clock.now() + STEP_S * 1000 < signedInAt + (MAX_S - 60) * 1000) {
      clock.advance(STEP_S * 1000);
      expect((await console.beat())?.status).toBe(200);
    }
    const again = await login(dev.username, dev.cookie);
    expect(again.json.session.endsAt).toBe(new Date(clock.now() + MAX_S * 1000).toISOString());
    // The session this browser had is replaced, not left open beside the new one.
    expect(await me(dev.cookie)).toBe(401);

    // Past the old session's end: the console (its stream now carried by the new session) goes on.
    for (let t = 0; t < 120; t += STEP_S) {
      clock.advance(STEP_S * 1000);
      const beat = await h.api('/api/presence/heartbeat', {
        method: 'POST',
        body: { console: console.id },
        as: again.cookie,
      });
      expect(beat.status).toBe(200);
    }
    expect(clock.now()).toBeGreaterThan(signedInAt + MAX_S * 1000);
    await h.helpline.tick();
    await pingRound();
    expect(console.ended).toBe(false);
    expect(await h.detail(id)).toMatchObject({ state: 'accepted', assignedTo: dev.id, operatorGone: null });
    expect(await me(again.cookie)).toBe(200);
    await resolve(id);
    console.close();
  });

  it('signing in as someone else does not take over the consoles of the session this browser had', async () => {
    const eve = await operator('eve');
    const fay = await operator('fay');
    const console = await h.openConsole(eve.cookie);
    const other = await login(fay.username, eve.cookie);
    expect(await me(other.cookie)).toBe(200);
    // Eve's session and console are untouched; a heartbeat of Fay's does not reach Eve's console.
    expect(await me(eve.cookie)).toBe(200);
    const beat = await h.api('/api/presence/heartbeat', {
      method: 'POST',
      body: { console: console.id },
      as: other.cookie,
    });
    expect(beat.status).toBe(404);
    expect((await console.beat())?.status).toBe(200);
    console.close();
  });
});

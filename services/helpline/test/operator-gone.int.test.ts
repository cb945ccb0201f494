import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HelplineHandle, loadHelplineConfig, startHelpline } from '../src/index.ts';
import { helplineHarness } from './harness.ts';

// An operator holding an accepted case whose console goes silent (a lost network, a laptop lid
// shut, a crashed PC: the stream never closes, the heartbeats just stop). The clock moves only
// when the test says so: the bounds are clock steps, not waits.
/**
 * The presence timeout. The helpline pings each stream every third of it, in real time, and ends a
 * stream silent for twice it by the test's clock: a ping round landing between a clock step and
 * the beats that answer it would end a console the test holds there. A minute keeps the rounds
 * to one or two in the whole file, however busy the machine.
 */
const TIMEOUT_S = 60;
const GONE_S = 90;
const REQUEUE_S = 120;
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let sup: User;
let n = 0;

type User = { id: string; cookie: string };
type Console = Awaited<ReturnType<typeof h.openConsole>>;
type Event = { kind: string; actor: string; at: string; data: Record<string, unknown> };

beforeAll(async () => {
  h = await helplineHarness('opgone', {
    TIMER_TICK_MS: '60000',
    PRESENCE_TIMEOUT_S: String(TIMEOUT_S),
    HELPLINE_OPERATOR_GONE_S: String(GONE_S),
    HELPLINE_OPERATOR_GONE_REQUEUE_S: String(REQUEUE_S),
  });
  await h.start(clock);
  sup = await h.user('sup', 'supervisor');
});
afterAll(() => h?.close());

async function operator(label: string): Promise<User & { username: string }> {
  n += 1;
  const username = `${label}${n}`;
  const u = { ...(await h.user(username, 'operator')), username };
  await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: u.cookie });
  clock.advance(10);
  return u;
}

/** Moves the clock on; the consoles still there answer at once, as their next ping would make them. */
async function advance(seconds: number, present: Console[]) {
  clock.advance(seconds * 1000);
  for (const c of present) expect((await c.beat())?.status).toBe(200);
  await h.helpline.tick();
}

const eventsOf = async (id: string) => (await h.detail(id)).events as Event[];

/** A P1 (or `priority`) for a new resident, offered to and accepted by `who` (the only operator there). */
async function acceptedP1(label: string, who: User, console: Console, priority: 1 | 3 = 1): Promise<string> {
  n += 1;
  const residentId = `res_gone_${label}_${n}`;
  await h.publish(h.alert({ residentId, priority, raisedAt: new Date(clock.now()).toISOString() }));
  await h.drained();
  const id = (await h.caseOf(residentId)).id;
  await waitFor(
    async () => {
      await h.helpline.tick();
      return (await h.detail(id)).offeredTo === who.id;
    },
    { what: `case ${id} offered to ${who.id}`, timeoutMs: 8_000 },
  );
  clock.advance(12_000);
  await console.beat();
  const accepted = await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: who.cookie });
  expect(accepted.status).toBe(200);
  return id;
}

/**
 * A case just handed back is in the queue, or already offered to the one operator there: the request
 * that handed it back asks the timers to run, and on a busy machine they may have before it is read.
 */
function expectBackInQueue(c: Record<string, unknown>, there: User) {
  expect([
    { state: 'queued', offeredTo: null },
    { state: 'offered', offeredTo: there.id },
  ]).toContainEqual({ state: c.state, offeredTo: c.offeredTo });
}

const resolve = async (id: string, by: User) =>
  expect(
    (
      await h.api(`/api/cases/${id}/resolve`, {
        method: 'POST',
        body: { outcome: 'reassurance-given', reason: 'test done' },
        as: by.cookie,
      })
    ).status,
  ).toBe(200);

const scrape = async () => (await fetch(new URL('/metrics', h.helpline.url))).text();

describe('an operator whose console has gone while holding a case', () => {
  it('flags the case after the bound, then puts a P1 back at the front of the queue for an operator who is there', async () => {
    const anna = await operator('anna');
    const annaConsole = await h.openConsole(anna.cookie);
    const id = await acceptedP1('requeue', anna, annaConsole);
    const before = await h.detail(id);
    await h.api(`/api/cases/${id}/notes`, {
      method: 'POST',
      body: { text: 'resident on the floor, conscious' },
      as: anna.cookie,
    });
    const ben = await operator('ben');
    const benConsole = await h.openConsole(ben.cookie);

    // Anna's network goes: the stream stays open on the server, the heartbeats stop.
    await annaConsole.stall();
    await advance(TIMEOUT_S + 1, [benConsole]);
    const goneFrom = clock.now();
    expect((await h.detail(id)).operatorGone).toBeNull();

    await advance(GONE_S - 2, [benConsole]);
    expect((await h.detail(id)).operatorGone).toBeNull();
    expect((await eventsOf(id)).some((e) => e.kind === 'operator-gone')).toBe(false);

    await advance(3, [benConsole]);
    const flagged = await h.detail(id);
    expect(flagged).toMatchObject({ state: 'accepted', assignedTo: anna.id });
    expect(flagged.operatorGone).toMatchObject({
      operatorId: anna.id,
      since: new Date(goneFrom).toISOString(),
    });
    const gone = (flagged.events as Event[]).find((e) => e.kind === 'operator-gone');
    expect(gone).toMatchObject({
      actor: 'helpline',
      data: { operatorId: anna.id, since: new Date(goneFrom).toISOString(), priority: 1 },
    });

    // Everybody's business: the supervisor's overview, the metric, and every console's stream.
    const overview = (await h.api('/api/supervisor/overview', { as: sup.cookie })).json;
    expect(overview.operatorGone).toEqual([
      expect.objectContaining({ caseId: id, operatorId: anna.id, priority: 1, state: 'accepted' }),
    ]);
    expect(overview.queue.byPriority['1'].operatorGone).toBe(1);
    expect(await scrape()).toMatch(/^helpline_cases_operator_gone\{[^}]*priority="1"[^}]*\} 1$/m);

    // Still gone after the further bound: back to the queue, offered to Ben, never to Anna.
    await advance(REQUEUE_S - 5, [benConsole]);
    expect((await h.detail(id)).state).toBe('accepted');
    await advance(6, [benConsole]);
    const requeued = await h.detail(id);
    expect(requeued).toMatchObject({ state: 'offered', offeredTo: ben.id, assignedTo: null });
    expect(requeued.operatorGone).toBeNull();
    const events = requeued.events as Event[];
    const back = events.find((e) => e.kind === 'requeued');
    expect(back?.data).toMatchObject({ reason: 'operator gone', operatorId: anna.id, priority: 1 });
    const offers = events.filter((e) => e.kind === 'offered').map((e) => e.data.to);
    expect(offers.at(-1)).toBe(ben.id);
    expect(events.filter((e) => e.kind === 'offered' && Date.parse(e.at) > goneFrom)).not.toContainEqual(
      expect.objectContaining({ data: expect.objectContaining({ to: anna.id }) }),
    );
    // Nothing lost: the note, the first acceptance and its answer clock stay.
    expect(events.find((e) => e.kind === 'note')?.data).toMatchObject({
      text: 'resident on the floor, conscious',
    });
    expect(before.acceptedAt).not.toBeNull();
    expect(requeued.acceptedAt).toBe(before.acceptedAt);
    // A scrape reads the queue at most once a second.
    await waitFor(
      async () => /^helpline_cases_operator_gone\{[^}]*priority="1"[^}]*\} 0$/m.test(await scrape()),
      {
        what: 'the gauge back to 0',
      },
    );

    const taken = await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: ben.cookie });
    expect(taken.status).toBe(200);
    const accepts = (await eventsOf(id)).filter((e) => e.kind === 'accepted');
    expect(accepts).toHaveLength(2);
    expect(accepts[1]?.data.answerSeconds).toBe(accepts[0]?.data.answerSeconds);
    await h.api(`/api/cases/${id}/resolve`, {
      method: 'POST',
      body: { outcome: 'reassurance-given', reason: 'test done' },
      as: ben.cookie,
    });
    annaConsole.close();
    benConsole.close();
  });

  it('an operator who comes back in time keeps the case, and the flag clears with an event', async () => {
    const cara = await operator('cara');
    const caraConsole = await h.openConsole(cara.cookie);
    const id = await acceptedP1('back', cara, caraConsole);

    await caraConsole.stall();
    await advance(TIMEOUT_S + 1, []);
    await advance(GONE_S + 1, []);
    expect((await h.detail(id)).operatorGone).toMatchObject({ operatorId: cara.id });

    // The network comes back: her console answers again. Silent for more than twice the presence
    // timeout, its stream may have been ended by a ping round meanwhile (they run in real time):
    // the heartbeat is then refused with a 404 and the browser opens a new stream, as here. Either
    // way she is back.
    let back = caraConsole;
    if ((await caraConsole.beat())?.status !== 200) back = await h.openConsole(cara.cookie);
    await h.helpline.tick();
    const kept = await h.detail(id);
    expect(kept).toMatchObject({ state: 'accepted', assignedTo: cara.id, operatorGone: null });
    const backEvent = (kept.events as Event[]).find((e) => e.kind === 'operator-back');
    expect(backEvent?.data).toMatchObject({ operatorId: cara.id });

    // Well past the requeue bound, she is still there and still has it.
    await advance(REQUEUE_S + GONE_S, [back]);
    const later = await h.detail(id);
    expect(later).toMatchObject({ state: 'accepted', assignedTo: cara.id, operatorGone: null });
    expect((later.events as Event[]).some((e) => e.kind === 'requeued')).toBe(false);
    await h.api(`/api/cases/${id}/resolve`, {
      method: 'POST',
      body: { outcome: 'reassurance-given', reason: 'test done' },
      as: cara.cookie,
    });
    caraConsole.close();
    back.close();
  });

  it('a case on hold is flagged but keeps its call-back; a supervisor can reassign it', async () => {
    const dan = await operator('dan');
    const danConsole = await h.openConsole(dan.cookie);
    const id = await acceptedP1('hold', dan, danConsole);
    const held = await h.api(`/api/cases/${id}/hold`, {
      method: 'POST',
      body: {
        until: new Date(clock.now() + 3600_000).toISOString(),
        reason: 'ambulance on its way, call back',
      },
      as: dan.cookie,
    });
    expect(held.status).toBe(200);
    danConsole.close();
    await waitFor(
      async () => {
        await h.helpline.tick();
        return (
          (await h.api('/api/users', { as: sup.cookie })).json.users.find(
            (u: { id: string }) => u.id === dan.id,
          )?.consoles === 0
        );
      },
      { what: 'dan no longer there' },
    );
    await advance(1, []);
    await advance(GONE_S + REQUEUE_S + 1, []);
    const c = await h.detail(id);
    expect(c).toMatchObject({ state: 'on_hold', assignedTo: dan.id, operatorGone: { operatorId: dan.id } });

    // Given to someone at a console: a case goes to nobody who has none open.
    const eve = await operator('eve');
    const eveConsole = await h.openConsole(eve.cookie);
    const moved = await h.api(`/api/cases/${id}/reassign`, {
      method: 'POST',
      body: { to: eve.id, reason: 'dan has gone home' },
      as: sup.cookie,
    });
    expect(moved.status).toBe(200);
    expect(moved.json).toMatchObject({ state: 'on_hold', assignedTo: eve.id, operatorGone: null });
    eveConsole.close();
  });
});

describe('an operator who signs out on purpose while holding a case', () => {
  it('puts an accepted P1 back in the queue at once, offered in the same tick to someone who is there', async () => {
    const gil = await operator('gil');
    const gilConsole = await h.openConsole(gil.cookie);
    const id = await acceptedP1('signout', gil, gilConsole);
    const hal = await operator('hal');
    const halConsole = await h.openConsole(hal.cookie);

    const out = await h.api('/api/logout', { method: 'POST', as: gil.cookie });
    expect(out.status).toBe(200);
    // Not 90 s flagged and 3.5 min later requeued, as after a crash: at once. The sign-out ended her
    // console, which asks the timers to run: the case may be offered to Hal already.
    const back = await h.detail(id);
    expect(back).toMatchObject({ assignedTo: null, operatorGone: null });
    expectBackInQueue(back, hal);
    expect(back.acceptedAt).not.toBeNull();
    const requeued = (back.events as Event[]).find((e) => e.kind === 'requeued');
    expect(requeued).toMatchObject({
      actor: 'helpline',
      data: { reason: 'signed out', operatorId: gil.id, priority: 1 },
    });
    await advance(0, [halConsole]);
    expect((await h.detail(id)).offeredTo).toBe(hal.id);
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: hal.cookie })).status).toBe(200);
    const resolved = await h.api(`/api/cases/${id}/resolve`, {
      method: 'POST',
      body: { outcome: 'false-alarm', reason: 'pressed by mistake' },
      as: hal.cookie,
    });
    expect(resolved.status).toBe(200);
    halConsole.close();
  });

  it('flags a held case at once (its call-back stays), and keeps a case whose holder has another console there', async () => {
    const ida = await operator('ida');
    const idaConsole = await h.openConsole(ida.cookie);
    const id = await acceptedP1('signouthold', ida, idaConsole);
    const until = new Date(clock.now() + 600_000).toISOString();
    expect(
      (
        await h.api(`/api/cases/${id}/hold`, {
          method: 'POST',
          body: { until, reason: 'GP calling back' },
          as: ida.cookie,
        })
      ).status,
    ).toBe(200);
    // A second session of hers (another PC) is still there: signing out of one keeps the case.
    const login = await h.api('/api/login', {
      method: 'POST',
      body: { username: ida.username, password: 'correct horse battery' },
      as: '',
    });
    const second = `cookie:${login.setCookie.split(';')[0]}`;
    const secondConsole = await h.openConsole(second);
    expect((await h.api('/api/logout', { method: 'POST', as: ida.cookie })).status).toBe(200);
    expect(await h.detail(id)).toMatchObject({ state: 'on_hold', assignedTo: ida.id, operatorGone: null });

    secondConsole.close();
    expect((await h.api('/api/logout', { method: 'POST', as: second })).status).toBe(200);
    const c = await h.detail(id);
    expect(c).toMatchObject({ state: 'on_hold', assignedTo: ida.id, operatorGone: { operatorId: ida.id } });
    expect(c.hold.until).toBe(until);
    expect((c.events as Event[]).find((e) => e.kind === 'operator-gone')).toMatchObject({
      data: { operatorId: ida.id, signedOut: true, state: 'on_hold' },
    });

    // Her call-back comes due while she is signed out: it reaches the queue and whoever is there.
    const joy = await operator('joy');
    const joyConsole = await h.openConsole(joy.cookie);
    await advance(590, [joyConsole]);
    expect((await h.detail(id)).state).toBe('on_hold');
    await advance(11, [joyConsole]);
    const due = await h.detail(id);
    expect(due).toMatchObject({ state: 'offered', offeredTo: joy.id, assignedTo: null, operatorGone: null });
    expect((due.events as Event[]).filter((e) => e.kind === 'requeued').map((e) => e.data)).toEqual([
      expect.objectContaining({ reason: 'call-back due', heldBy: ida.id }),
    ]);
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: joy.cookie })).status).toBe(200);
    await resolve(id, joy);
    joyConsole.close();
  });

  it('puts an accepted technical case back in the queue at once too: nobody is at it', async () => {
    const max = await operator('max');
    const maxConsole = await h.openConsole(max.cookie);
    const id = await acceptedP1('signoutp3', max, maxConsole, 3);
    const ned = await operator('ned');
    const nedConsole = await h.openConsole(ned.cookie);

    expect((await h.api('/api/logout', { method: 'POST', as: max.cookie })).status).toBe(200);
    const back = await h.detail(id);
    expect(back).toMatchObject({ assignedTo: null, operatorGone: null });
    expectBackInQueue(back, ned);
    expect((back.events as Event[]).filter((e) => e.kind === 'requeued').map((e) => e.data)).toEqual([
      expect.objectContaining({ reason: 'signed out', operatorId: max.id, priority: 3 }),
    ]);
    expect((back.events as Event[]).some((e) => e.kind === 'operator-gone')).toBe(false);
    await advance(0, [nedConsole]);
    expect((await h.detail(id)).offeredTo).toBe(ned.id);
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: ned.cookie })).status).toBe(200);
    await resolve(id, ned);
    maxConsole.close();
    nedConsole.close();
  });
});

describe('an operator who goes away (a break) while working a case', () => {
  it('puts every accepted case back in the queue at once, offered to someone who is there; a held case stays', async () => {
    const jo = await operator('jo');
    const joConsole = await h.openConsole(jo.cookie);
    const held = await acceptedP1('awayheld', jo, joConsole);
    const until = new Date(clock.now() + 600_000).toISOString();
    const hold = await h.api(`/api/cases/${held}/hold`, {
      method: 'POST',
      body: { until, reason: 'GP calling back' },
      as: jo.cookie,
    });
    expect(hold.status).toBe(200);
    // A technical case too: whatever its priority, nobody works it while she is on her break.
    const id = await acceptedP1('away', jo, joConsole, 3);
    const kim = await operator('kim');
    const kimConsole = await h.openConsole(kim.cookie);

    // Her console stays open: she is at the screen, not gone, so only going away tells the helpline.
    const away = await h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: jo.cookie });
    expect(away.status).toBe(200);
    expect(away.json).toMatchObject({ userId: jo.id, status: 'away', returned: [id] });
    const back = await h.detail(id);
    expect(back).toMatchObject({ assignedTo: null, operatorGone: null });
    expectBackInQueue(back, kim);
    expect(back.acceptedAt).not.toBeNull();
    expect((back.events as Event[]).find((e) => e.kind === 'requeued')).toMatchObject({
      actor: 'helpline',
      data: { reason: 'operator away', operatorId: jo.id, by: jo.id, priority: 3 },
    });
    // The call-back she set is hers and keeps its time: it returns to the queue for whoever is free.
    expect(await h.detail(held)).toMatchObject({ state: 'on_hold', assignedTo: jo.id });
    await advance(0, [joConsole, kimConsole]);
    expect((await h.detail(id)).offeredTo).toBe(kim.id);
    await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: kim.cookie });
    await resolve(id, kim);
    // Her call-back comes due while she is still away: it is the queue's, and goes to Kim, not to her.
    await advance(601, [joConsole, kimConsole]);
    const due = await h.detail(held);
    expect(due).toMatchObject({ state: 'offered', offeredTo: kim.id, assignedTo: null });
    expect((due.events as Event[]).filter((e) => e.kind === 'requeued').map((e) => e.data)).toEqual([
      expect.objectContaining({ reason: 'call-back due', heldBy: jo.id }),
    ]);
    expect((await h.api(`/api/cases/${held}/accept`, { method: 'POST', as: kim.cookie })).status).toBe(200);
    await resolve(held, kim);
    joConsole.close();
    kimConsole.close();
  });

  it('is never seen away with a case still theirs: the timers cannot take the hand-back from the request', async () => {
    // A tick that ran between the presence being set and the cases being handed back found the
    // holder away first and handed the case back itself: the answer said nothing went back and the
    // step did not say who set them away.
    const vic = await operator('vic');
    const vicConsole = await h.openConsole(vic.cookie);
    const id = await acceptedP1('awayrace', vic, vicConsole);
    const db = new pg.Client({ connectionString: h.env.DATABASE_URL });
    const peek = new pg.Client({ connectionString: h.env.DATABASE_URL });
    await Promise.all([db.connect(), peek.connect()]);
    try {
      const t = `"${h.names.schema('helpline')}"`;
      await db.query('begin');
      await db.query(`select id from ${t}.cases where id = $1 for update`, [id]);
      const away = h.api(`/api/users/${vic.id}/presence`, {
        method: 'PUT',
        body: { status: 'away' },
        as: sup.cookie,
      });
      // The request waits on the case; meanwhile nobody may see her away while it is hers.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const seen = await peek.query(`select status from ${t}.presence where user_id = $1`, [vic.id]);
      expect(seen.rows[0]?.status).not.toBe('away');
      await db.query('commit');
      const answered = await away;
      expect(answered.status).toBe(200);
      expect(answered.json).toMatchObject({ status: 'away', returned: [id] });
    } finally {
      await Promise.all([db.end(), peek.end()]);
    }
    const requeued = (await eventsOf(id)).filter((e) => e.kind === 'requeued');
    expect(requeued.map((e) => e.data)).toEqual([
      expect.objectContaining({ reason: 'operator away', operatorId: vic.id, by: sup.id }),
    ]);
    expect((await eventsOf(id)).some((e) => e.data.timer === true)).toBe(false);
    // Back from her break, the case is given back to her and closed, so it waits for nobody else.
    await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: vic.cookie });
    const moved = await h.api(`/api/cases/${id}/reassign`, {
      method: 'POST',
      body: { to: vic.id, reason: 'back to vic' },
      as: sup.cookie,
    });
    expect(moved.json).toMatchObject({ state: 'offered', offeredTo: vic.id });
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: vic.cookie })).status).toBe(200);
    await resolve(id, vic);
    vicConsole.close();
  });

  it('set away by a supervisor, an accepted alarm call goes back to the queue at once, saying who', async () => {
    const lee = await operator('lee');
    const leeConsole = await h.openConsole(lee.cookie);
    const id = await acceptedP1('supaway', lee, leeConsole);
    const set = await h.api(`/api/users/${lee.id}/presence`, {
      method: 'PUT',
      body: { status: 'away' },
      as: sup.cookie,
    });
    expect(set.status).toBe(200);
    expect(set.json).toMatchObject({ userId: lee.id, status: 'away', returned: [id] });
    const back = await h.detail(id);
    expect(back).toMatchObject({ state: 'queued', assignedTo: null });
    expect((back.events as Event[]).find((e) => e.kind === 'requeued')).toMatchObject({
      data: { reason: 'operator away', operatorId: lee.id, by: sup.id, priority: 1 },
    });
    // Nor can it be handed to them while they are away, once someone has accepted it. The supervisor
    // takes it from their own break: taking a call, they are there (not left away with it).
    await h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: sup.cookie });
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: sup.cookie })).status).toBe(200);
    const users = (await h.api('/api/users')).json.users as { id: string; chosenPresence: string | null }[];
    expect(users.find((u) => u.id === sup.id)?.chosenPresence).toBe('available');
    const toAway = await h.api(`/api/cases/${id}/reassign`, {
      method: 'POST',
      body: { to: lee.id, reason: 'back to lee' },
      as: sup.cookie,
    });
    expect(toAway.status).toBe(409);
    expect(toAway.json.message).toContain('away');
    // Back from the break, it may be; choosing available hands nothing back.
    const again = await h.api('/api/presence', {
      method: 'PUT',
      body: { status: 'available' },
      as: lee.cookie,
    });
    expect(again.json).toMatchObject({ returned: [] });
    const moved = await h.api(`/api/cases/${id}/reassign`, {
      method: 'POST',
      body: { to: lee.id, reason: 'back to lee' },
      as: sup.cookie,
    });
    expect(moved.json).toMatchObject({ state: 'accepted', assignedTo: lee.id });
    await resolve(id, lee);
    leeConsole.close();
  });
});

// What the request that set it did not hand back (an instance stopped between setting the presence
// and handing the cases back, a sign-out that never reached the cases): the timers find it, on
// whichever instance ticks first, and hand each case back once.
describe('the timers find an accepted case whose holder is not there', () => {
  let second: HelplineHandle;
  let db: pg.Client;
  beforeAll(async () => {
    second = await startHelpline(loadHelplineConfig({ ...h.env }), { clock });
    db = new pg.Client({ connectionString: h.env.DATABASE_URL });
    await db.connect();
  });
  afterAll(async () => {
    await db?.end();
    await second?.close();
  });
  const schema = () => h.names.schema('helpline');
  const bothTick = async (rounds = 3) => {
    for (let i = 0; i < rounds; i++) await Promise.all([h.helpline.tick(), second.tick()]);
  };
  const requeues = async (id: string) =>
    (await eventsOf(id)).filter((e) => e.kind === 'requeued').map((e) => e.data);

  it('away without the hand-back: back in the queue at the next tick, once across two instances', async () => {
    const ola = await operator('ola');
    const olaConsole = await h.openConsole(ola.cookie);
    const id = await acceptedP1('tickaway', ola, olaConsole, 3);
    const pat = await operator('pat');
    const patConsole = await h.openConsole(pat.cookie);
    await db.query(`update "${schema()}".presence set status = 'away' where user_id = $1`, [ola.id]);

    clock.advance(1000);
    for (const c of [olaConsole, patConsole]) expect((await c.beat())?.status).toBe(200);
    await bothTick();
    const back = await h.detail(id);
    expect(back).toMatchObject({ state: 'offered', offeredTo: pat.id, assignedTo: null, operatorGone: null });
    expect(await requeues(id)).toEqual([
      expect.objectContaining({ reason: 'operator away', operatorId: ola.id, priority: 3, timer: true }),
    ]);
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: pat.cookie })).status).toBe(200);
    await resolve(id, pat);
    olaConsole.close();
    patConsole.close();
  });

  it('signed out without the hand-back: back in the queue at the next tick, saying so, once', async () => {
    const quin = await operator('quin');
    const quinConsole = await h.openConsole(quin.cookie);
    const id = await acceptedP1('tickout', quin, quinConsole, 1);
    const rae = await operator('rae');
    const raeConsole = await h.openConsole(rae.cookie);
    // The sign-out ended the session and the console and set her away, then stopped.
    quinConsole.close();
    await db.query(`delete from "${schema()}".sessions where user_id = $1`, [quin.id]);
    await db.query(`delete from "${schema()}".consoles where user_id = $1`, [quin.id]);
    await db.query(`update "${schema()}".presence set status = 'away' where user_id = $1`, [quin.id]);

    clock.advance(1000);
    expect((await raeConsole.beat())?.status).toBe(200);
    await bothTick();
    const back = await h.detail(id);
    expect(back).toMatchObject({ state: 'offered', offeredTo: rae.id, assignedTo: null, operatorGone: null });
    expect(await requeues(id)).toEqual([
      expect.objectContaining({ reason: 'signed out', operatorId: quin.id, priority: 1, timer: true }),
    ]);
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: rae.cookie })).status).toBe(200);
    await resolve(id, rae);
    raeConsole.close();
  });

  it('gone past the bounds with an accepted technical case: back in the queue, once across two instances', async () => {
    const sol = await operator('sol');
    const solConsole = await h.openConsole(sol.cookie);
    const id = await acceptedP1('tickgone', sol, solConsole, 3);
    const tam = await operator('tam');
    const tamConsole = await h.openConsole(tam.cookie);
    await solConsole.stall();
    await advance(TIMEOUT_S + 1, [tamConsole]);
    await advance(GONE_S + 1, [tamConsole]);
    expect(await h.detail(id)).toMatchObject({ state: 'accepted', operatorGone: { operatorId: sol.id } });
    clock.advance(REQUEUE_S * 1000);
    expect((await tamConsole.beat())?.status).toBe(200);
    await bothTick();
    expect(await h.detail(id)).toMatchObject({ state: 'offered', offeredTo: tam.id, assignedTo: null });
    expect(await requeues(id)).toEqual([
      expect.objectContaining({ reason: 'operator gone', operatorId: sol.id, priority: 3 }),
    ]);
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: tam.cookie })).status).toBe(200);
    await resolve(id, tam);
    solConsole.close();
    tamConsole.close();
  });
});

describe('a supervisor reassigning an accepted case to an operator who goes away at that moment', () => {
  it('never leaves the case with them: either the reassign is refused or going away hands it back', async () => {
    const uma = await operator('uma');
    // At her console: a case goes to nobody who has none open, and this is about her break.
    const umaConsole = await h.openConsole(uma.cookie);
    for (let round = 0; round < 12; round++) {
      n += 1;
      const residentId = `res_gone_race_${n}`;
      await h.publish(h.alert({ residentId, priority: 2, raisedAt: new Date(clock.now()).toISOString() }));
      await h.drained();
      const id = (await h.caseOf(residentId)).id;
      expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: sup.cookie })).status).toBe(200);
      expect(
        (await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: uma.cookie }))
          .status,
      ).toBe(200);
      // The tick that change asked for runs now, not in the middle of the race: the timers hand back
      // what a request left behind, and this is about the requests themselves.
      await h.helpline.tick();

      // The break lands at a different moment of the reassign each round: at once, or a few ms in.
      const [moved, away] = await Promise.all([
        h.api(`/api/cases/${id}/reassign`, {
          method: 'POST',
          body: { to: uma.id, reason: 'uma takes it' },
          as: sup.cookie,
        }),
        new Promise((wait) => setTimeout(wait, round * 1.5)).then(() =>
          h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: uma.cookie }),
        ),
      ]);
      expect(away.status).toBe(200);
      if (moved.status === 409) expect(moved.json.message).toContain('away');
      else {
        expect(moved.status).toBe(200);
        expect(moved.json).toMatchObject({ state: 'accepted', assignedTo: uma.id });
        // Handed to her before she went: her going away handed it back, in its own request.
        expect(away.json.returned, `round ${round}: left accepted by someone away`).toEqual([id]);
      }
      const c = await h.detail(id);
      expect(c.state === 'accepted' && c.assignedTo === uma.id).toBe(false);
      if (c.state !== 'accepted')
        expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: sup.cookie })).status).toBe(200);
      await resolve(id, sup);
    }
    umaConsole.close();
  });
});

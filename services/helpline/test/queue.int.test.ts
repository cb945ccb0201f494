import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// Timers are stepped by hand: the interval is long and the clock moves only when a test says so.
const clock = new ManualClock(Date.now());
const overflowCalls: unknown[] = [];
let overflow: Server;
let h: Awaited<ReturnType<typeof helplineHarness>>;
let op1: { id: string; cookie: string };
let op2: { id: string; cookie: string };
let sup: { id: string; cookie: string };
let commissioner: { id: string; cookie: string };

const kinds = async (id: string): Promise<string[]> =>
  ((await h.detail(id)).events as { kind: string }[]).map((e) => e.kind);

beforeAll(async () => {
  overflow = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      overflowCalls.push(JSON.parse(body));
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => overflow.listen(0, '127.0.0.1', resolve));
  h = await helplineHarness('queue', {
    TIMER_TICK_MS: '60000',
    OFFER_TIMEOUT_S: '20',
    OVERFLOW_WEBHOOK_URL: `http://127.0.0.1:${(overflow.address() as AddressInfo).port}/overflow`,
    HELPLINE_PARTNER_SECRET: 'a-partner-secret-of-32-characters!!',
    REGISTRY_URL: 'http://127.0.0.1:9/',
    // The clock steps through offers and the escalation ladder; the operators' consoles stay present.
    PRESENCE_TIMEOUT_S: '300',
  });
  await h.start(clock);
  op1 = await h.user('op1', 'operator');
  op2 = await h.user('op2', 'operator');
  // Offers go only to operators whose console is open.
  await h.openConsole(op1.cookie);
  await h.openConsole(op2.cookie);
  sup = await h.user('sup', 'supervisor');
  commissioner = await h.user('comm', 'commissioner');
});

afterAll(async () => {
  await h?.close();
  overflow?.close();
});

describe('people and roles', () => {
  it('signs in with a password, refuses a wrong one, and knows who is signed in', async () => {
    const me = await h.api('/api/me', { as: op1.cookie });
    expect(me.json).toMatchObject({ id: op1.id, role: 'operator', username: 'op1' });
    const wrong = await h.api('/api/login', {
      method: 'POST',
      body: { username: 'op1', password: 'nope' },
      as: '',
    });
    expect(wrong.status).toBe(401);
    expect((await h.api('/api/cases', { as: '' })).status).toBe(401);
    expect((await h.api('/api/cases', { as: 'cookie:helpline_session=forged' })).status).toBe(401);
  });

  it('answers 403 with the reason when the role does not allow the action', async () => {
    const listed = await h.api('/api/cases', { as: commissioner.cookie });
    expect(listed.status).toBe(403);
    expect(listed.json.message).toMatch(
      /needs the role operator or supervisor or admin; you are signed in as commissioner/,
    );
    const made = await h.api('/api/users', {
      method: 'POST',
      body: { username: 'sneaky', name: 'x', role: 'admin', password: 'long enough password' },
      as: op1.cookie,
    });
    expect(made.status).toBe(403);
    expect((await h.api('/api/stats/answer', { as: commissioner.cookie })).status).toBe(200);
  });

  it('issues bearer tokens for programs that act as a user', async () => {
    const issued = await h.api('/api/tokens', {
      method: 'POST',
      body: { userId: sup.id, label: 'wallboard' },
    });
    expect(issued.status).toBe(201);
    const me = await h.api('/api/me', { as: issued.json.token });
    expect(me.json).toMatchObject({ id: sup.id, role: 'supervisor' });
    expect((await h.api('/api/me', { as: 'tok_not-a-real-one' })).status).toBe(401);
  });
});

describe('the queue', () => {
  it('offers the most urgent case to an available operator, takes it back when not accepted in time', async () => {
    const p3 = h.alert({ residentId: 'res_q_p3', priority: 3, type: 'mains.lost' });
    const p1 = h.alert({ residentId: 'res_q_p1', priority: 1 });
    await h.publish(p3);
    await h.publish(p1);
    await h.drained();
    const c1 = await h.caseOf('res_q_p1');
    const c3 = await h.caseOf('res_q_p3');

    expect(
      (await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: op1.cookie })).status,
    ).toBe(200);
    await h.helpline.tick();
    let p1Case = (await h.detail(c1.id)) as { state: string; offeredTo: string };
    expect(p1Case).toMatchObject({ state: 'offered', offeredTo: op1.id });
    // op1 has an offer in hand: the P3 waits.
    expect((await h.detail(c3.id)).state).toBe('queued');

    // Someone else cannot take a case offered to op1.
    const stolen = await h.api(`/api/cases/${c1.id}/accept`, { method: 'POST', as: op2.cookie });
    expect(stolen.status).toBe(409);
    expect(stolen.json).toMatchObject({
      error: 'refused',
      message: 'the case is offered to another operator',
      state: 'offered',
    });

    clock.advance(21_000);
    await h.helpline.tick();
    const events = await kinds(c1.id);
    expect(events).toContain('offer-expired');
    // Back in the queue and offered again (op1 is the only operator available).
    p1Case = await h.detail(c1.id);
    expect(p1Case.state).toBe('offered');

    const accepted = await h.api(`/api/cases/${c1.id}/accept`, {
      method: 'POST',
      as: op1.cookie,
      key: 'accept-c1-0001',
    });
    expect(accepted.status).toBe(200);
    expect(accepted.json).toMatchObject({ state: 'accepted', assignedTo: op1.id });
    // The same click again (lost response, retried): no second event.
    const again = await h.api(`/api/cases/${c1.id}/accept`, {
      method: 'POST',
      as: op1.cookie,
      key: 'accept-c1-0001',
    });
    expect(again.status).toBe(200);
    expect((await kinds(c1.id)).filter((k) => k === 'accepted')).toHaveLength(1);
    expect((await h.api('/api/me', { as: op1.cookie })).json.presence).toBe('busy');

    // A case someone else works cannot be resolved by another operator; nothing changes.
    const other = await h.api(`/api/cases/${c1.id}/resolve`, {
      method: 'POST',
      body: { outcome: 'false-alarm', reason: 'x' },
      as: op2.cookie,
    });
    expect(other.status).toBe(409);
    expect(other.json.message).toBe('another operator has this case');
    expect((await h.detail(c1.id)).state).toBe('accepted');

    // Supervisor reassigns the P3 to op2.
    const reassigned = await h.api(`/api/cases/${c3.id}/reassign`, {
      method: 'POST',
      body: { to: op2.id },
      as: sup.cookie,
    });
    expect(reassigned.status).toBe(200);
    expect(reassigned.json).toMatchObject({ state: 'offered', offeredTo: op2.id });
    expect(
      (await h.api(`/api/cases/${c3.id}/reassign`, { method: 'POST', body: { to: op2.id }, as: op1.cookie }))
        .status,
    ).toBe(403);
    const ev = (await h.detail(c3.id)).events as { kind: string; actor: string }[];
    expect(ev.find((e) => e.kind === 'reassigned')?.actor).toBe(sup.id);
  });

  it('works the responder list once per click, then emergency services, and resolves', async () => {
    const c = await h.caseOf('res_q_p1');
    const ctx = await h.api(`/api/cases/${c.id}/context`, { as: op1.cookie });
    expect(ctx.status).toBe(200);
    expect(ctx.json).toMatchObject({ available: false });
    expect(ctx.json.message).toMatch(/registry is not reachable/);
    const call = { responderId: 'rsp_1', name: 'Daughter', result: 'no-answer' };
    const first = await h.api(`/api/cases/${c.id}/responder-calls`, {
      method: 'POST',
      body: call,
      as: op1.cookie,
      key: 'call-rsp1-0001',
    });
    const double = await h.api(`/api/cases/${c.id}/responder-calls`, {
      method: 'POST',
      body: call,
      as: op1.cookie,
      key: 'call-rsp1-0001',
    });
    expect([first.status, double.status]).toEqual([201, 200]);
    expect(double.json.id).toBe(first.json.id);
    expect(
      (await h.api(`/api/cases/${c.id}/responder-calls`, { method: 'POST', body: call, as: op2.cookie }))
        .status,
    ).toBe(409);
    const bad = await h.api(`/api/cases/${c.id}/responder-calls`, {
      method: 'POST',
      body: { ...call, result: 'maybe' },
      as: op1.cookie,
    });
    expect(bad.status).toBe(400);
    expect(
      (
        await h.api(`/api/cases/${c.id}/emergency-calls`, {
          method: 'POST',
          body: { service: 'ambulance' },
          as: op1.cookie,
        })
      ).status,
    ).toBe(201);
    const reveal = await h.api(`/api/cases/${c.id}/reveal`, {
      method: 'POST',
      body: { field: 'keySafe' },
      as: op1.cookie,
    });
    expect(reveal.json).toMatchObject({
      field: 'keySafe',
      value: null,
      message: 'the registry is not reachable',
    });
    const noOutcome = await h.api(`/api/cases/${c.id}/resolve`, {
      method: 'POST',
      body: { reason: 'x' },
      as: op1.cookie,
    });
    expect(noOutcome.status).toBe(400);
    const resolved = await h.api(`/api/cases/${c.id}/resolve`, {
      method: 'POST',
      body: { outcome: 'ambulance', reason: 'no responder; ambulance sent' },
      as: op1.cookie,
    });
    expect(resolved.status).toBe(200);
    const events = (await h.detail(c.id)).events as { kind: string; actor: string }[];
    expect(events.map((e) => e.kind)).toEqual([
      'opened',
      'offered',
      'offer-expired',
      'offered',
      'accepted',
      'responder-called',
      'emergency-called',
      'revealed',
      'resolved',
    ]);
    expect(
      events
        .filter((e) => ['accepted', 'responder-called', 'revealed', 'resolved'].includes(e.kind))
        .every((e) => e.actor === op1.id),
    ).toBe(true);
    expect((await h.api('/api/me', { as: op1.cookie })).json.presence).toBe('available');
  });

  it('returns a held case to the queue at its return priority when the call-back is due', async () => {
    await h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: op1.cookie });
    const a = h.alert({ residentId: 'res_q_hold', priority: 2, type: 'flood.detected' });
    await h.publish(a);
    await h.drained();
    const c = await h.caseOf('res_q_hold');
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: sup.cookie })).status).toBe(200);
    const until = new Date(clock.now() + 60_000).toISOString();
    const held = await h.api(`/api/cases/${c.id}/hold`, {
      method: 'POST',
      body: { until, reason: 'plumber on the way', returnPriority: 1 },
      as: sup.cookie,
    });
    // The answer is the case's summary: the hold's reason (the holder's words) is in the case view.
    expect(held.json).toMatchObject({ state: 'on_hold', hold: { until, returnPriority: 1 } });
    expect(held.json.hold.reason).toBeUndefined();
    expect((await h.detail(c.id)).hold).toMatchObject({ reason: 'plumber on the way', returnPriority: 1 });
    clock.advance(30_000);
    await h.helpline.tick();
    expect((await h.detail(c.id)).state).toBe('on_hold');
    clock.advance(31_000);
    await h.helpline.tick();
    expect(await h.detail(c.id)).toMatchObject({ state: 'queued', priority: 1, hold: null });
    expect(await kinds(c.id)).toContain('requeued');
  });

  it('refuses a hold past HELPLINE_HOLD_MAX_S (24 h) or in the past, naming the field and the limit', async () => {
    await h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: op1.cookie });
    await h.publish(h.alert({ residentId: 'res_q_hold_max', priority: 1 }));
    await h.drained();
    const c = await h.caseOf('res_q_hold_max');
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: sup.cookie })).status).toBe(200);
    const hold = (ms: number) =>
      h.api(`/api/cases/${c.id}/hold`, {
        method: 'POST',
        body: { until: new Date(clock.now() + ms).toISOString(), reason: 'call back' },
        as: sup.cookie,
      });
    // A mistyped year: 2062 instead of 2026.
    const decades = await hold(36 * 365 * 24 * 3600_000);
    expect(decades.status).toBe(400);
    expect(decades.json.message).toContain('until');
    expect(decades.json.message).toContain('24 h');
    expect(decades.json.issues).toEqual([
      { path: 'until', message: expect.stringContaining('HELPLINE_HOLD_MAX_S') },
    ]);
    expect((await hold(24 * 3600_000 + 1000)).status).toBe(400);
    expect((await hold(-60_000)).status).toBe(400);
    expect((await h.detail(c.id)).state).toBe('accepted');
    expect(await kinds(c.id)).not.toContain('held');
    const held = await hold(24 * 3600_000);
    expect(held.status).toBe(200);
    expect(held.json.state).toBe('on_hold');
    await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: op1.cookie });
  });
});

describe('declining an offer', () => {
  it('takes the offer back from the operator who declines it (200, offer-expired)', async () => {
    // An operator of their own: the others are busy or away after the tests above.
    const op3 = await h.user('op3', 'operator');
    const op3Console = await h.openConsole(op3.cookie);
    await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: op3.cookie });
    await h.publish(h.alert({ residentId: 'res_q_decline', priority: 3, type: 'mains.lost' }));
    await h.drained();
    await h.helpline.tick();
    // Whichever case waited longest is offered to op3.
    const open = (await h.api('/api/cases?state=open&limit=500')).json as {
      id: string;
      offeredTo: string | null;
    }[];
    const offered = open.find((c) => c.offeredTo === op3.id);
    expect(offered).toBeDefined();
    const id = offered?.id ?? '';
    const declined = await h.api(`/api/cases/${id}/decline`, { method: 'POST', as: op3.cookie });
    expect(declined.status).toBe(200);
    expect((await h.detail(id)).offeredTo).not.toBe(op3.id);
    expect(await kinds(id)).toContain('offer-expired');
    op3Console.close();
  });
});

describe('escalation ladder', () => {
  it('alerts all operators at 30 s, the supervisor at 60 s, then calls the overflow, each step once', async () => {
    await h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: op2.cookie });
    const raised = new Date(clock.now());
    const a = h.alert({ residentId: 'res_q_esc', priority: 1, raisedAt: raised.toISOString() });
    await h.publish(a);
    await h.drained();
    const c = await h.caseOf('res_q_esc');
    const steps = async () =>
      ((await h.detail(c.id)).events as { kind: string; data: { to?: string } }[])
        .filter((e) => e.kind === 'escalated')
        .map((e) => e.data.to);
    clock.set(raised.getTime() + 29_000);
    await h.helpline.tick();
    expect(await steps()).toEqual([]);
    clock.set(raised.getTime() + 30_000);
    await h.helpline.tick();
    await h.helpline.tick();
    expect(await steps()).toEqual(['all-operators']);
    clock.set(raised.getTime() + 61_000);
    await h.helpline.tick();
    expect(await steps()).toEqual(['all-operators', 'supervisor']);
    clock.set(raised.getTime() + 91_000);
    await h.helpline.tick();
    expect(await steps()).toEqual(['all-operators', 'supervisor', 'overflow']);
    const mine = (x: unknown) => (x as { case: { id: string } }).case.id === c.id;
    const call = await waitFor(() => overflowCalls.find(mine), { what: 'the overflow webhook' });
    expect(overflowCalls.filter(mine)).toHaveLength(1);
    expect(call).toMatchObject({ case: { id: c.id }, escalation: { step: 3, to: 'overflow' } });
    const note = ((await h.detail(c.id)).events as { kind: string; data: Record<string, unknown> }[]).find(
      (e) => e.kind === 'note',
    );
    expect(note?.data).toMatchObject({ overflowDelivery: 'delivered', status: 202 });
    expect((await h.detail(c.id)).escalationStep).toBe(3);
  });

  it('counts answer times against the 60 s and 180 s targets', async () => {
    const stats = await h.api('/api/stats/answer?hours=24', { as: sup.cookie });
    expect(stats.status).toBe(200);
    expect(stats.json.total).toBeGreaterThanOrEqual(3);
    expect(stats.json.within60s.target).toBe(97.5);
    expect(stats.json.within180s.target).toBe(99);
    expect(stats.json.waitingOver60).toBeGreaterThanOrEqual(1);
  });
});

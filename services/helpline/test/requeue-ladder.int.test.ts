import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CaseEvent } from '@telecare/contracts';
import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HelplineHandle, loadHelplineConfig, startHelpline } from '../src/index.ts';
import { helplineHarness } from './harness.ts';

// A P1 that comes back to the queue unanswered long after it was raised (its operator gone, its
// call-back due, a press bringing it back from hold) climbs the escalation ladder again from the
// moment it came back: every operator after 30 s, the supervisor after 60 s, the partner centre
// (a real HTTP listener here) only after 90 s, each once per time in the queue. The clock moves
// only when the test says so.
const TIMEOUT_S = 5;
const GONE_S = 90;
const REQUEUE_S = 120;
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let overflow: Server;
let second: HelplineHandle | undefined;
let n = 0;
/** What the partner centre received: the case, the rung, and the helpline's time when it came. */
const partner: { caseId: string; step: number; at: number }[] = [];
/** Every case event on CASES, as the consoles and the reports see them. */
const published: CaseEvent[] = [];

type User = { id: string; cookie: string };
type Console = Awaited<ReturnType<typeof h.openConsole>>;
type Event = { kind: string; at: string; data: Record<string, unknown> };

beforeAll(async () => {
  overflow = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const call = JSON.parse(body) as { case: { id: string }; escalation: { step: number } };
      partner.push({ caseId: call.case.id, step: call.escalation.step, at: clock.now() });
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => overflow.listen(0, '127.0.0.1', resolve));
  h = await helplineHarness('relad', {
    TIMER_TICK_MS: '60000',
    PRESENCE_TIMEOUT_S: String(TIMEOUT_S),
    HELPLINE_OPERATOR_GONE_S: String(GONE_S),
    HELPLINE_OPERATOR_GONE_REQUEUE_S: String(REQUEUE_S),
    ESCALATE_ALL_OPERATORS_S: '30',
    ESCALATE_SUPERVISOR_S: '60',
    ESCALATE_OVERFLOW_S: '90',
    OVERFLOW_WEBHOOK_URL: `http://127.0.0.1:${(overflow.address() as AddressInfo).port}/overflow`,
    HELPLINE_PARTNER_SECRET: 'a-partner-secret-of-32-characters!!',
  });
  await h.start(clock);
  const sub = h.nc.subscribe(h.names.subjects.allCases);
  void (async () => {
    for await (const msg of sub) published.push(msg.json() as CaseEvent);
  })();
}, 60_000);

afterAll(async () => {
  await second?.close();
  await h?.close();
  overflow?.close();
});

const eventsOf = async (id: string) => (await h.detail(id)).events as Event[];
const rungsOf = async (id: string) => (await eventsOf(id)).filter((e) => e.kind === 'escalated');
const partnerCalls = (id: string) => partner.filter((c) => c.caseId === id);

/** Moves the clock on and ticks (every instance running); the consoles still there answer first. */
async function advance(seconds: number, present: Console[] = []) {
  clock.advance(seconds * 1000);
  for (const c of present) expect((await c.beat())?.status).toBe(200);
  await Promise.all([h.helpline.tick(), second?.tick()]);
}

async function p1(label: string): Promise<string> {
  n += 1;
  const residentId = `res_relad_${label}_${n}`;
  await h.publish(h.alert({ residentId, priority: 1, raisedAt: new Date(clock.now()).toISOString() }));
  await h.drained();
  return (await h.caseOf(residentId)).id;
}

describe('a P1 back in the queue unanswered', () => {
  it('after its operator has gone: no rung at once, the partner centre only 90 s after the requeue, once', async () => {
    const anna: User = await h.user('anna', 'operator');
    await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: anna.cookie });
    const annaConsole = await h.openConsole(anna.cookie);
    const id = await p1('gone');
    await waitFor(
      async () => {
        await h.helpline.tick();
        return (await h.detail(id)).offeredTo === anna.id;
      },
      { what: `case ${id} offered to anna` },
    );
    // Answered in 12 s: no rung was due.
    await advance(12, [annaConsole]);
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: anna.cookie })).status).toBe(200);

    // Anna's network goes; nobody else is there. Four minutes later the call is back in the queue.
    await annaConsole.stall();
    await advance(TIMEOUT_S + 1);
    await advance(GONE_S + 1);
    await advance(REQUEUE_S + 1);
    const requeuedAt = clock.now();
    // Raised minutes ago, but nothing climbed in the tick that requeued it, nor in the next one.
    expect(await rungsOf(id)).toEqual([]);
    expect(partnerCalls(id)).toEqual([]);
    const back = await h.detail(id);
    expect(back).toMatchObject({
      state: 'queued',
      assignedTo: null,
      escalationStep: 0,
      requeuedAt: new Date(requeuedAt).toISOString(),
    });
    expect(Date.parse(back.raisedAt)).toBeLessThan(requeuedAt - 200_000);
    expect((await eventsOf(id)).find((e) => e.kind === 'requeued')?.data).toMatchObject({
      reason: 'operator gone',
    });
    await advance(0);
    expect(await rungsOf(id)).toEqual([]);
    expect(partnerCalls(id)).toEqual([]);

    // The ladder's clock is in PostgreSQL: a restart on the way changes nothing.
    await h.stop();
    await h.start(clock);
    await advance(29);
    expect(await rungsOf(id)).toEqual([]);
    await advance(1);
    const first = await rungsOf(id);
    expect(first.map((e) => e.data)).toEqual([
      {
        step: 1,
        to: 'all-operators',
        afterSeconds: 30,
        waitedSeconds: 30,
        requeuedAt: new Date(requeuedAt).toISOString(),
      },
    ]);
    expect((await h.detail(id)).escalationStep).toBe(1);
    await advance(30);
    expect((await rungsOf(id)).map((e) => e.data.to)).toEqual(['all-operators', 'supervisor']);
    await advance(29);
    expect(partnerCalls(id)).toEqual([]);
    await advance(1);
    expect(partnerCalls(id)).toEqual([{ caseId: id, step: 3, at: requeuedAt + 90_000 }]);
    expect((await rungsOf(id)).map((e) => e.data.to)).toEqual(['all-operators', 'supervisor', 'overflow']);
    const note = (await eventsOf(id)).find((e) => e.kind === 'note');
    expect(note?.data).toMatchObject({ overflowDelivery: 'delivered', status: 202 });

    // It was answered once: the answer clock and its targets stay with that first answer.
    await advance(120);
    expect(partnerCalls(id)).toHaveLength(1);
    const later = await h.detail(id);
    expect(later).toMatchObject({ escalationStep: 3, answerTargetMissed: null });
    expect((later.events as Event[]).some((e) => e.kind === 'answer-target-missed')).toBe(false);

    // CASES carries the climb as it carries a first one: each rung once, after the requeue.
    await waitFor(() => published.filter((e) => e.caseId === id && e.kind === 'note').length === 1, {
      what: 'the case events on CASES',
    });
    const onCases = published.filter((e) => e.caseId === id && e.kind === 'escalated');
    expect(onCases.map((e) => [e.data.step, Date.parse(e.at) - requeuedAt])).toEqual([
      [1, 30_000],
      [2, 60_000],
      [3, 90_000],
    ]);
    await h.api(`/api/cases/${id}/resolve`, {
      method: 'POST',
      body: { outcome: 'reassurance-given', reason: 'test done' },
    });
    annaConsole.close();
  });

  it('after its call-back, a P1 that had climbed every rung climbs them again, once each, with two instances ticking', async () => {
    const sue: User = await h.user('sue', 'supervisor');
    const id = await p1('callback');
    await advance(91);
    expect((await rungsOf(id)).map((e) => e.data.step)).toEqual([1, 2, 3]);
    expect(partnerCalls(id)).toHaveLength(1);

    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: sue.cookie })).status).toBe(200);
    const held = await h.api(`/api/cases/${id}/hold`, {
      method: 'POST',
      body: { until: new Date(clock.now() + 300_000).toISOString(), reason: 'GP calling back' },
      as: sue.cookie,
    });
    expect(held.status).toBe(200);

    second = await startHelpline(loadHelplineConfig(h.env), { clock });
    await advance(300);
    const callBackAt = clock.now();
    expect(await h.detail(id)).toMatchObject({
      state: 'queued',
      escalationStep: 0,
      requeuedAt: new Date(callBackAt).toISOString(),
    });
    expect((await eventsOf(id)).filter((e) => e.kind === 'requeued')).toHaveLength(1);
    expect(await rungsOf(id)).toHaveLength(3);
    await advance(29);
    expect(await rungsOf(id)).toHaveLength(3);
    await advance(1);
    expect((await rungsOf(id)).map((e) => e.data.step)).toEqual([1, 2, 3, 1]);
    await advance(59);
    expect(partnerCalls(id)).toHaveLength(1);
    await advance(1);
    expect((await rungsOf(id)).map((e) => e.data.step)).toEqual([1, 2, 3, 1, 2, 3]);
    expect(partnerCalls(id)).toHaveLength(2);
    expect(partnerCalls(id)[1]?.at).toBe(callBackAt + 90_000);
    await advance(200);
    expect(partnerCalls(id)).toHaveLength(2);
    await second.close();
    second = undefined;
    await h.api(`/api/cases/${id}/resolve`, {
      method: 'POST',
      body: { outcome: 'reassurance-given', reason: 'test done' },
    });
  });

  it('brought back from hold by a press, it climbs from that press', async () => {
    const id = await p1('press');
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST' })).status).toBe(200);
    await h.api(`/api/cases/${id}/hold`, {
      method: 'POST',
      body: { until: new Date(clock.now() + 3_600_000).toISOString(), reason: 'ambulance on its way' },
    });
    await advance(600);
    const { residentId } = await h.detail(id);
    await h.publish(h.alert({ residentId, priority: 1, raisedAt: new Date(clock.now()).toISOString() }));
    await h.drained();
    const pressedAt = clock.now();
    await waitFor(async () => (await h.detail(id)).state === 'queued', {
      what: 'the press to bring it back',
    });
    expect((await h.detail(id)).requeuedAt).toBe(new Date(pressedAt).toISOString());
    await advance(29);
    expect(await rungsOf(id)).toEqual([]);
    await advance(1);
    expect((await rungsOf(id)).map((e) => e.data.to)).toEqual(['all-operators']);
    expect(partnerCalls(id)).toEqual([]);
  });
});

describe('a case that becomes P1', () => {
  it('a P2 waiting five minutes that a P1 alert joins: no rung at once, the partner centre only 90 s after the join', async () => {
    n += 1;
    const residentId = `res_relad_raised_${n}`;
    await h.publish(
      h.alert({
        residentId,
        priority: 2,
        type: 'fall.detected',
        raisedAt: new Date(clock.now()).toISOString(),
      }),
    );
    await h.drained();
    const id = (await h.caseOf(residentId)).id;
    await advance(300);
    expect(await rungsOf(id)).toEqual([]);

    // The resident presses their pendant: the waiting fall is now a P1.
    await h.publish(h.alert({ residentId, priority: 1, raisedAt: new Date(clock.now()).toISOString() }));
    await h.drained();
    const raisedAt = clock.now();
    await waitFor(async () => (await h.detail(id)).priority === 1, { what: 'the press to join the fall' });
    const joined = await h.detail(id);
    expect(joined).toMatchObject({
      state: 'queued',
      escalationStep: 0,
      requeuedAt: null,
      priorityRaisedAt: new Date(raisedAt).toISOString(),
    });
    // Its wait and answer clock stay with the fall: the resident has waited five minutes.
    expect(Date.parse(joined.raisedAt)).toBeLessThanOrEqual(raisedAt - 300_000);

    // Raised five minutes ago, but a P1 only now: nothing climbs in the next tick.
    await advance(0);
    expect(await rungsOf(id)).toEqual([]);
    await advance(29);
    expect(await rungsOf(id)).toEqual([]);
    await advance(1);
    expect((await rungsOf(id)).map((e) => e.data)).toEqual([
      {
        step: 1,
        to: 'all-operators',
        afterSeconds: 30,
        waitedSeconds: 30,
        priorityRaisedAt: new Date(raisedAt).toISOString(),
      },
    ]);
    await advance(59);
    expect((await rungsOf(id)).map((e) => e.data.to)).toEqual(['all-operators', 'supervisor']);
    expect(partnerCalls(id)).toEqual([]);
    await advance(1);
    await waitFor(() => partnerCalls(id).length > 0, { what: 'the partner centre to be called' });
    expect(partnerCalls(id)).toEqual([{ caseId: id, step: 3, at: raisedAt + 90_000 }]);
  });
});

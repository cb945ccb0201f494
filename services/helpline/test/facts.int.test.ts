import { CaseEvent, CaseFact } from '@telecare/contracts';
import {
  connectNats,
  createLogger,
  type JetStreamManager,
  jetstreamManager,
  type NatsConnection,
} from '@telecare/platform';
import { servers, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// The facts the reports count, recorded on a case by the operator holding it: the route, the
// refusals, the resolution carrying the facts not recorded yet, and the steps in CASES.
let h: Awaited<ReturnType<typeof helplineHarness>>;
let op1: { id: string; cookie: string };
let op2: { id: string; cookie: string };
let sup: { id: string; cookie: string };
let nc: NatsConnection;
let jsm: JetStreamManager;
let residents = 0;

beforeAll(async () => {
  h = await helplineHarness('facts', { TIMER_TICK_MS: '60000' });
  await h.start();
  op1 = await h.user('op1', 'operator');
  op2 = await h.user('op2', 'operator');
  sup = await h.user('sup', 'supervisor');
  nc = await connectNats({
    url: servers.natsUrl,
    name: 'facts-test',
    logger: createLogger('facts-test', 'silent'),
  });
  jsm = await jetstreamManager(nc);
});

afterAll(async () => {
  await nc?.close();
  await h?.close();
});

/** A pendant press raised `agoS` seconds ago, accepted by op1. */
async function acceptedCase(agoS = 120): Promise<{ id: string; raisedAt: string }> {
  residents += 1;
  const residentId = `res_facts${residents}`;
  const raisedAt = new Date(Date.now() - agoS * 1000).toISOString();
  await h.publish(h.alert({ residentId, raisedAt }));
  const c = await h.caseOf(residentId);
  const accepted = await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: op1.cookie });
  expect(accepted.status).toBe(200);
  return { id: c.id, raisedAt };
}

const ago = (s: number) => new Date(Date.now() - s * 1000).toISOString();
const facts = async (id: string) =>
  ((await h.detail(id)).events as CaseEvent[]).filter((e) => e.kind === 'fact-recorded');

describe('recording a fact on a case', () => {
  it('records each fact as a fact-recorded step whose data is exactly the CaseFact, and publishes it to CASES', async () => {
    const c = await acceptedCase();
    const recorded: CaseFact[] = [
      { fact: 'responder-arrived', at: ago(30), responderId: 'rsp_1' },
      { fact: 'found-on-floor', at: ago(25), onFloorMinutes: 40, source: 'responder' },
      { fact: 'ambulance-requested', at: ago(20) },
      { fact: 'ambulance-attended', at: ago(10) },
    ];
    for (const fact of recorded) {
      const r = await h.api(`/api/cases/${c.id}/facts`, { method: 'POST', body: fact, as: op1.cookie });
      expect(r.status, JSON.stringify(r.json)).toBe(201);
      expect(r.json).toMatchObject({ kind: 'fact-recorded', actor: op1.id, caseId: c.id, data: fact });
    }
    const steps = await facts(c.id);
    expect(steps.map((e) => CaseFact.parse(e.data))).toEqual(recorded);
    // Nothing but the fact in the step: the reports parse it as it is.
    for (const [i, step] of steps.entries()) expect(step.data).toEqual(recorded[i]);
    const last = steps.at(-1) as CaseEvent;
    // CASES is written after the commit (the outbox), so the last step may land a moment later
    // than the answer: wait for it, then compare it whole.
    const stored = await waitFor(() =>
      jsm.streams
        .getMessage(h.names.streams.cases, { last_by_subj: h.names.subjects.caseEvent(c.id) })
        .then((m) => (m && CaseEvent.parse(m.json()).id === last.id ? m : undefined))
        .catch(() => undefined),
    );
    expect(CaseEvent.parse(stored.json())).toEqual(last);
  });

  it('refuses a time in the future or before the case was raised with a 400 that says so', async () => {
    const c = await acceptedCase(60);
    const future = await h.api(`/api/cases/${c.id}/facts`, {
      method: 'POST',
      body: { fact: 'responder-arrived', at: new Date(Date.now() + 10 * 60_000).toISOString() },
      as: op1.cookie,
    });
    expect(future.status).toBe(400);
    expect(future.json.message).toMatch(/responder-arrived: the time .* is in the future/);
    const before = await h.api(`/api/cases/${c.id}/facts`, {
      method: 'POST',
      body: { fact: 'ambulance-requested', at: ago(3600) },
      as: op1.cookie,
    });
    expect(before.status).toBe(400);
    expect(before.json.message).toMatch(/before the case was raised/);
    const shape = await h.api(`/api/cases/${c.id}/facts`, {
      method: 'POST',
      body: { fact: 'found-on-floor', at: ago(5), onFloorMinutes: -3, source: 'guess' },
      as: op1.cookie,
    });
    expect(shape.status).toBe(400);
    const issues = shape.json.issues as { path: string; message: string }[];
    expect(issues.map((i) => i.path).join(' ')).toMatch(/onFloorMinutes/);
    expect(issues.map((i) => i.path).join(' ')).toMatch(/source/);
    expect(await facts(c.id)).toEqual([]);
  });

  it('is the holder’s or a supervisor’s to record: another operator, a waiting case and a commissioner are refused', async () => {
    const c = await acceptedCase();
    const fact = { fact: 'admitted', at: ago(5) };
    const other = await h.api(`/api/cases/${c.id}/facts`, { method: 'POST', body: fact, as: op2.cookie });
    expect(other.status).toBe(409);
    expect(other.json).toMatchObject({ message: 'another operator has this case', holder: op1.id });
    const bySupervisor = await h.api(`/api/cases/${c.id}/facts`, {
      method: 'POST',
      body: fact,
      as: sup.cookie,
    });
    expect(bySupervisor.status).toBe(201);
    expect(bySupervisor.json.actor).toBe(sup.id);

    residents += 1;
    await h.publish(h.alert({ residentId: `res_facts${residents}` }));
    const waiting = await h.caseOf(`res_facts${residents}`);
    const early = await h.api(`/api/cases/${waiting.id}/facts`, {
      method: 'POST',
      body: { fact: 'ambulance-requested', at: new Date().toISOString() },
      as: op1.cookie,
    });
    expect(early.status).toBe(409);
    expect(early.json.message).toBe('accept the case before recording what happened');

    const commissioner = await h.user('comm', 'commissioner');
    const refused = await h.api(`/api/cases/${c.id}/facts`, {
      method: 'POST',
      body: fact,
      as: commissioner.cookie,
    });
    expect(refused.status).toBe(403);
  });

  it('writes one step for a retried request with the same Idempotency-Key', async () => {
    const c = await acceptedCase();
    const body = { fact: 'ambulance-requested', at: ago(2) };
    const first = await h.api(`/api/cases/${c.id}/facts`, {
      method: 'POST',
      body,
      as: op1.cookie,
      key: 'fact-key-0001',
    });
    const again = await h.api(`/api/cases/${c.id}/facts`, {
      method: 'POST',
      body,
      as: op1.cookie,
      key: 'fact-key-0001',
    });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.json.id).toBe(first.json.id);
    expect(await facts(c.id)).toHaveLength(1);
  });
});

describe('resolving with outcome detail', () => {
  it('records the facts the resolution carries as fact-recorded steps before the resolution, in one transaction', async () => {
    const c = await acceptedCase();
    const detail: CaseFact[] = [
      { fact: 'found-on-floor', at: ago(60), onFloorMinutes: 90, source: 'resident' },
      { fact: 'ambulance-conveyed', at: ago(20) },
      { fact: 'admitted', at: ago(5) },
    ];
    const r = await h.api(`/api/cases/${c.id}/resolve`, {
      method: 'POST',
      body: { outcome: 'admitted-to-hospital', reason: 'fall, long lie, admitted', facts: detail },
      as: op1.cookie,
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.state).toBe('resolved');
    // The case was raised two minutes ago: the overflow check may have begun a partner handover
    // before the accept, whose note can land after the resolution. The operator's steps are these.
    const events = ((await h.detail(c.id)).events as CaseEvent[]).filter(
      (e) => !(e.kind === 'note' && e.actor === 'helpline'),
    );
    expect(events.map((e) => e.kind).slice(-4)).toEqual([
      'fact-recorded',
      'fact-recorded',
      'fact-recorded',
      'resolved',
    ]);
    expect((await facts(c.id)).map((e) => e.data)).toEqual(detail);
    // Learnt after the resolution: still the holder's to add.
    const later = await h.api(`/api/cases/${c.id}/facts`, {
      method: 'POST',
      body: { fact: 'responder-arrived', at: ago(70) },
      as: op1.cookie,
    });
    expect(later.status).toBe(201);
  });

  it('refuses the whole resolution when one of its facts cannot be right, and leaves the case as it was', async () => {
    const c = await acceptedCase();
    const r = await h.api(`/api/cases/${c.id}/resolve`, {
      method: 'POST',
      body: {
        outcome: 'ambulance',
        reason: 'conveyed',
        facts: [
          { fact: 'ambulance-attended', at: ago(10) },
          { fact: 'ambulance-conveyed', at: new Date(Date.now() + 3600_000).toISOString() },
        ],
      },
      as: op1.cookie,
    });
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(/ambulance-conveyed: the time .* is in the future/);
    expect((await h.detail(c.id)).state).toBe('accepted');
    expect(await facts(c.id)).toEqual([]);
  });
});

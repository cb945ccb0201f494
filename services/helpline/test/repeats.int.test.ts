import { type Alert, alertIdFor } from '@telecare/contracts';
import { ManualClock } from '@telecare/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// Repeat presses (`repeats`: a press that merged into its group's open alert in triage), against
// the real PostgreSQL and NATS: counted on the open case, or a new case once it is resolved.
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let resident = 0;
const nextResident = () => `res_repeat${++resident}x${Date.now().toString(36)}`;

type Ev = { kind: string; actor: string; data: Record<string, unknown> };
type Detail = { id: string; state: string; priority: number; presses: number; lastPressAt: string | null };
const detailOf = async (id: string) => (await h.detail(id)) as unknown as Detail & { events: Ev[] };

async function send(...alerts: Alert[]): Promise<void> {
  for (const a of alerts) await h.publish(a);
  await h.drained();
  clock.advance(2_000);
}

let seconds = 0;
/** A press `s` seconds on, and its repeats: the repeat's id is its own press's, as triage makes it. */
const press = (residentId: string, overrides: Partial<Alert> = {}): Alert =>
  h.alert({
    residentId,
    raisedAt: new Date(Date.parse('2026-12-03T01:20:00.000Z') + 1000 * seconds++).toISOString(),
    ...overrides,
  });
const repeatOf = (anchor: Alert, overrides: Partial<Alert> = {}): Alert =>
  press(anchor.residentId, { repeats: { alertId: anchor.id }, ...overrides });

const cases = async (residentId: string): Promise<Detail[]> =>
  ((await h.api('/api/cases?state=all')).json as Array<Detail & { residentId: string }>).filter(
    (c) => c.residentId === residentId,
  );

beforeAll(async () => {
  h = await helplineHarness('repeats', { TIMER_TICK_MS: '60000', CASE_JOIN_WINDOW_S: '900' });
  await h.start(clock);
});

afterAll(async () => {
  await h?.close();
});

describe('a repeat press', () => {
  it('is counted on the waiting case with its time, once however often it is delivered', async () => {
    const first = press(nextResident());
    await send(first);
    const c = await h.caseOf(first.residentId);
    expect(await detailOf(c.id)).toMatchObject({ presses: 1, lastPressAt: first.raisedAt });
    const second = repeatOf(first);
    const third = repeatOf(first);
    await send(second, third);
    await send(third);
    const detail = await detailOf(c.id);
    expect(detail).toMatchObject({ state: 'queued', presses: 3, lastPressAt: third.raisedAt });
    expect(detail.events.filter((e) => e.kind === 'alert-joined').map((e) => e.data)).toMatchObject([
      { alertId: second.id, repeat: true, repeats: first.id, presses: 2, lastPressAt: second.raisedAt },
      { alertId: third.id, repeat: true, repeats: first.id, presses: 3, lastPressAt: third.raisedAt },
    ]);
    expect(await cases(first.residentId)).toHaveLength(1);
  });

  it('joins its case past the join window: it belongs to the group of that case’s press', async () => {
    const first = press(nextResident());
    await send(first);
    const c = await h.caseOf(first.residentId);
    const late = repeatOf(first, {
      raisedAt: new Date(Date.parse(first.raisedAt) + 3_600_000).toISOString(),
    });
    await send(late);
    expect(await detailOf(c.id)).toMatchObject({ presses: 2, lastPressAt: late.raisedAt });
    expect(await cases(first.residentId)).toHaveLength(1);
  });

  it('brings a case on hold back to the queue: the resident is pressing again', async () => {
    const first = press(nextResident());
    await send(first);
    const c = await h.caseOf(first.residentId);
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST' })).status).toBe(200);
    const until = new Date(clock.now() + 600_000).toISOString();
    await h.api(`/api/cases/${c.id}/hold`, { method: 'POST', body: { until, reason: 'call back' } });
    await send(repeatOf(first));
    const detail = await detailOf(c.id);
    expect(detail).toMatchObject({ state: 'queued', presses: 2, hold: null });
    // Other events may follow it (the answer clock's 60 s and 180 s marks run on their own timer).
    expect(detail.events.find((e) => e.data.requeuedFromHold)?.data).toMatchObject({
      repeat: true,
      requeuedFromHold: true,
    });
  });

  it('raises a less urgent case to the press’s priority', async () => {
    const first = press(nextResident(), { type: 'bogus-caller.pressed', priority: 2 });
    await send(first);
    const c = await h.caseOf(first.residentId);
    await send(repeatOf(first, { type: 'bogus-caller.pressed', priority: 1 }));
    expect(await detailOf(c.id)).toMatchObject({ priority: 1, presses: 2 });
  });

  it('after the operator resolved the case, opens a new case that names the one it follows', async () => {
    const first = press(nextResident());
    await send(first);
    const c = await h.caseOf(first.residentId);
    await h.api(`/api/cases/${c.id}/accept`, { method: 'POST' });
    await h.api(`/api/cases/${c.id}/resolve`, {
      method: 'POST',
      body: { outcome: 'false-alarm', reason: 'pressed by mistake' },
    });
    const again = repeatOf(first);
    await send(again);
    const all = await cases(first.residentId);
    expect(all).toHaveLength(2);
    const fresh = all.find((x) => x.id !== c.id) as Detail;
    const detail = await detailOf(fresh.id);
    expect(detail).toMatchObject({ state: 'queued', priority: 1, presses: 1, lastPressAt: again.raisedAt });
    expect(detail.events[0]).toMatchObject({
      kind: 'opened',
      data: { alertId: again.id, repeats: first.id, afterCase: c.id, afterState: 'resolved' },
    });
    // A further repeat of the same group joins the new case, not the resolved one.
    await send(repeatOf(first));
    expect(await detailOf(fresh.id)).toMatchObject({ presses: 2 });
    expect(await detailOf(c.id)).toMatchObject({ state: 'resolved', presses: 1 });
  });

  it('whose first press never reached the helpline opens a case of its own', async () => {
    const unseen = press(nextResident());
    const again = repeatOf(unseen);
    await send(again);
    const c = await h.caseOf(unseen.residentId);
    expect(await detailOf(c.id)).toMatchObject({ state: 'queued', priority: 1, presses: 1 });
  });

  it('is closed with the alert it repeats: press, press, cancel resolves the case as a false alarm', async () => {
    const first = press(nextResident());
    const again = repeatOf(first);
    await send(first, again);
    const c = await h.caseOf(first.residentId);
    await send(
      h.alert({
        residentId: first.residentId,
        type: 'alarm.cancelled',
        priority: 5,
        reason: 'cancelled by the resident',
        closes: { alertId: first.id, outcome: 'false-alarm' },
      }),
    );
    expect(await detailOf(c.id)).toMatchObject({ state: 'resolved', presses: 2 });
  });

  it('counts a press that reached the case twice (its repeat, then its own alert) once', async () => {
    const first = press(nextResident());
    const again = repeatOf(first);
    // Triage raises the press's own alert too when a late cancel splits its group.
    const own = h.alert({
      residentId: first.residentId,
      id: alertIdFor('trigger.pendant', first.residentId, `merge:${again.evidence[0]}`),
      evidence: again.evidence,
      raisedAt: again.raisedAt,
    });
    await send(first, again, own);
    const c = await h.caseOf(first.residentId);
    expect(await detailOf(c.id)).toMatchObject({ presses: 2 });
    expect((await h.detail(c.id)).alertIds).toHaveLength(3);
  });
});

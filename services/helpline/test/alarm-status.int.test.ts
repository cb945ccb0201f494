import type { Alert } from '@telecare/contracts';
import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// What a panel says of an alarm after it raised it, on the alarm's case, against the real
// PostgreSQL and NATS: its button back to normal (`alarm.restored`, a restore of the press alert)
// and the alarm still present (`alarm.still-present`, a status report that repeats the press alert).
// Neither closes, lowers, requeues or counts as a press: only the resident's cancel does.
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let resident = 0;
const nextResident = () => `res_status${++resident}x${Date.now().toString(36)}`;

type Ev = { kind: string; actor: string; data: Record<string, unknown> };
type Detail = {
  id: string;
  state: string;
  priority: number;
  type: string;
  outcome: string | null;
  presses: number;
  escalationStep: number;
  lastAlertAt: string;
  alertIds: string[];
  events: Ev[];
};
const detailOf = async (id: string): Promise<Detail> => (await h.detail(id)) as Detail;

async function send(...alerts: Alert[]): Promise<void> {
  for (const a of alerts) await h.publish(a);
  await h.drained();
  clock.advance(2_000);
}

/** A press raised now by the helpline's clock: its escalation ladder starts from it. */
const pressOf = (residentId: string): Alert =>
  h.alert({
    residentId,
    raisedAt: new Date(clock.now()).toISOString(),
    deviceSerial: 'PND-1',
    deviceKind: 'pendant',
  });

const restoreOf = (press: Alert): Alert =>
  h.alert({
    residentId: press.residentId,
    type: 'alarm.restored',
    priority: 5,
    rule: { id: 'correlation.alarm-restore', version: 1 },
    evidence: [...press.evidence, `${press.evidence[0]}-restore`],
    reason: 'Alarm restore: alarm button back to normal (not a cancel) at 14:02 (pendant in hall)',
    deviceSerial: 'PND-1',
    deviceKind: 'pendant',
    closes: { alertId: press.id, outcome: 'restored' },
  });

const cancelOf = (press: Alert): Alert =>
  h.alert({
    residentId: press.residentId,
    type: 'alarm.cancelled',
    priority: 5,
    evidence: [...press.evidence, `${press.evidence[0]}-cancel`],
    reason: 'Resident cancelled the alarm: cancelled by the resident 10 s after the alarm',
    closes: { alertId: press.id, outcome: 'false-alarm' },
  });

const stillPresentOf = (press: Alert): Alert =>
  h.alert({
    residentId: press.residentId,
    type: 'alarm.still-present',
    priority: 5,
    rule: { id: 'trigger.pendant', version: 2 },
    evidence: [`${press.evidence[0]}-still`],
    reason: 'Panel reports the alarm still present (a status report, not a press): pendant in hall',
    deviceSerial: 'PND-1',
    deviceKind: 'pendant',
    repeats: { alertId: press.id },
  });

/** What a restore or a status report must leave as it was. */
const standing = (d: Detail) => ({
  state: d.state,
  priority: d.priority,
  type: d.type,
  outcome: d.outcome,
  presses: d.presses,
  escalationStep: d.escalationStep,
  lastAlertAt: d.lastAlertAt,
});

beforeAll(async () => {
  h = await helplineHarness('alarm-status', { TIMER_TICK_MS: '60000', PRESENCE_TIMEOUT_S: '300' });
  await h.start(clock);
});

afterAll(async () => {
  await h?.close();
});

describe("an alarm's button back to normal", () => {
  it('shows on the case and changes nothing else: the press stays queued for an operator', async () => {
    const press = pressOf(nextResident());
    await send(press);
    const c = await h.caseOf(press.residentId);
    const before = await detailOf(c.id);
    const restore = restoreOf(press);
    await send(restore);
    const after = await detailOf(c.id);
    expect(standing(after)).toEqual(standing(before));
    expect(after).toMatchObject({ state: 'queued', priority: 1, presses: 1 });
    expect(after.alertIds).toEqual([press.id, restore.id]);
    expect(after.events.at(-1)).toMatchObject({
      kind: 'alert-joined',
      data: {
        alertId: restore.id,
        type: 'alarm.restored',
        closes: { alertId: press.id, outcome: 'restored' },
        by: 'device',
        effect: 'noted',
        why: 'alarm-restore',
        reason: restore.reason,
      },
    });
    // Past the pre-alarm window and more, the case is still the operator's.
    clock.advance(5 * 60_000);
    const later = await detailOf(c.id);
    expect(later).toMatchObject({ state: 'queued', priority: 1 });
    expect((await h.api('/api/cases?state=open')).json).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: c.id })]),
    );
  });

  it("press, restore 2 s later, cancel 10 s later: the resident's cancel still closes it as a false alarm", async () => {
    const press = pressOf(nextResident());
    await send(press);
    const c = await h.caseOf(press.residentId);
    await send(restoreOf(press));
    const cancel = cancelOf(press);
    await send(cancel);
    const d = await detailOf(c.id);
    expect(d).toMatchObject({ state: 'resolved', outcome: 'false-alarm' });
    // (The clock has moved on: the escalation ladder's steps are in the trail too.)
    const trail = d.events.filter((e) => ['opened', 'alert-joined', 'resolved'].includes(e.kind));
    expect(trail.map((e) => e.kind)).toEqual(['opened', 'alert-joined', 'alert-joined', 'resolved']);
    expect(trail[2]).toMatchObject({ data: { alertId: cancel.id, effect: 'resolved' } });
  });

  it('a press whose restore and cancel were committed before it still closes as a false alarm', async () => {
    const press = pressOf(nextResident());
    // Records have lanes of their own: the restore and the cancel overtook the press.
    await send(restoreOf(press), cancelOf(press));
    await h.publish(press);
    const c = await waitFor(
      async () => {
        const all = (await h.api('/api/cases?state=all')).json as {
          id: string;
          alertIds: string[];
          state: string;
        }[];
        return all.find((x) => x.alertIds.includes(press.id) && x.state === 'resolved');
      },
      { what: 'the press closed by the cancel that overtook it' },
    );
    expect(await detailOf(c.id)).toMatchObject({ outcome: 'false-alarm' });
  });
});

describe('a status report that the alarm is still present', () => {
  it('shows on the case of the press it follows, counts no press and changes nothing; a cancel still closes the case', async () => {
    const press = pressOf(nextResident());
    await send(press);
    const c = await h.caseOf(press.residentId);
    const before = await detailOf(c.id);
    const status = stillPresentOf(press);
    await send(status);
    const after = await detailOf(c.id);
    expect(standing(after)).toEqual(standing(before));
    expect(after).toMatchObject({ presses: 1, state: 'queued' });
    expect(after.alertIds).toEqual([press.id, status.id]);
    expect(after.events.at(-1)).toMatchObject({
      kind: 'alert-joined',
      data: { alertId: status.id, type: 'alarm.still-present', repeats: press.id, reason: status.reason },
    });
    expect(after.events.at(-1)?.data).not.toHaveProperty('repeat');
    await send(cancelOf(press));
    expect(await detailOf(c.id)).toMatchObject({ state: 'resolved', outcome: 'false-alarm' });
  });

  it('leaves a case on hold on hold', async () => {
    const press = pressOf(nextResident());
    await send(press);
    const c = await h.caseOf(press.residentId);
    await h.api(`/api/cases/${c.id}/accept`, { method: 'POST' });
    const until = new Date(clock.now() + 600_000).toISOString();
    const held = await h.api(`/api/cases/${c.id}/hold`, {
      method: 'POST',
      body: { until, reason: 'call back' },
    });
    expect(held.status).toBe(200);
    await send(stillPresentOf(press), restoreOf(press));
    expect(await detailOf(c.id)).toMatchObject({ state: 'on_hold', presses: 1 });
  });
});

import type { Alert } from '@telecare/contracts';
import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// Alerts that close earlier ones (a resident's cancel in the pre-alarm window, a device restore)
// and record-only alerts, against the real PostgreSQL and NATS.
const clock = new ManualClock(Date.now());
let h: Awaited<ReturnType<typeof helplineHarness>>;
let resident = 0;
const nextResident = () => `res_closes${++resident}x${Date.now().toString(36)}`;

type Ev = { kind: string; actor: string; data: Record<string, unknown> };
const eventsOf = async (id: string): Promise<Ev[]> => (await h.detail(id)).events as Ev[];

async function send(...alerts: Alert[]): Promise<void> {
  for (const a of alerts) await h.publish(a);
  await h.drained();
  // Time moves on between deliveries, as it does in a real pre-alarm window.
  clock.advance(2_000);
}

const cancelOf = (press: Alert): Alert =>
  h.alert({
    residentId: press.residentId,
    type: 'alarm.cancelled',
    priority: 5,
    reason:
      'Resident cancelled the alarm: cancelled by the resident 12 s after the alarm: recorded as a false alarm',
    closes: { alertId: press.id, outcome: 'false-alarm' },
  });

const restoreOf = (fault: Alert, type: Alert['type']): Alert =>
  h.alert({
    residentId: fault.residentId,
    type,
    priority: 5,
    reason: `${type} from the same device`,
    deviceSerial: 'SER-1',
    closes: { alertId: fault.id, outcome: 'restored' },
  });

const openIds = async (): Promise<string[]> =>
  ((await h.api('/api/cases?state=open')).json as { id: string }[]).map((c) => c.id);

beforeAll(async () => {
  // The clock moves on between deliveries; consoles opened here stay present throughout.
  h = await helplineHarness('closes', {
    TIMER_TICK_MS: '60000',
    OFFER_TIMEOUT_S: '20',
    PRESENCE_TIMEOUT_S: '300',
  });
  await h.start(clock);
});

afterAll(async () => {
  await h?.close();
});

describe('a resident cancel within the pre-alarm window', () => {
  it('resolves the unaccepted case as a false alarm, kept in the audit and out of the queue', async () => {
    const press = h.alert({ residentId: nextResident() });
    await send(press);
    const c = await h.caseOf(press.residentId);
    const cancel = cancelOf(press);
    await send(cancel);

    const detail = await h.detail(c.id);
    expect(detail).toMatchObject({ state: 'resolved', outcome: 'false-alarm', priority: 1 });
    expect(detail.alertIds).toEqual([press.id, cancel.id]);
    const events = await eventsOf(c.id);
    expect(events.map((e) => e.kind)).toEqual(['opened', 'alert-joined', 'resolved']);
    expect(events[1]).toMatchObject({
      actor: 'helpline',
      data: {
        alertId: cancel.id,
        closes: { alertId: press.id, outcome: 'false-alarm' },
        by: 'resident',
        evidence: cancel.evidence,
        effect: 'resolved',
      },
    });
    expect(events[2]).toMatchObject({
      actor: 'helpline',
      data: { outcome: 'false-alarm', reason: cancel.reason, automatic: true, byAlertId: cancel.id },
    });
    expect(await openIds()).not.toContain(c.id);
    const all = (await h.api('/api/cases?state=all')).json as { id: string; state: string }[];
    expect(all.filter((x) => x.id === c.id)).toHaveLength(1);

    // A redelivered or republished cancel changes nothing.
    await h.publish({ ...cancel });
    await send(cancel);
    expect((await eventsOf(c.id)).map((e) => e.kind)).toEqual(['opened', 'alert-joined', 'resolved']);
  });

  it('takes back an offer: the offered case resolves and the operator is free for the next', async () => {
    const op = await h.user('offered-op', 'operator');
    expect(
      (await h.api('/api/presence', { method: 'PUT', body: { status: 'available' }, as: op.cookie })).status,
    ).toBe(200);
    const opConsole = await h.openConsole(op.cookie);
    const press = h.alert({ residentId: nextResident() });
    await send(press);
    const c = await h.caseOf(press.residentId);
    await waitFor(async () => (await h.detail(c.id)).state === 'offered', { what: 'the case offered' });

    await send(cancelOf(press));
    const detail = await h.detail(c.id);
    expect(detail).toMatchObject({
      state: 'resolved',
      outcome: 'false-alarm',
      offeredTo: null,
      offerExpiresAt: null,
    });

    const other = h.alert({ residentId: nextResident(), type: 'fall.detected' });
    await send(other);
    const next = await h.caseOf(other.residentId);
    await waitFor(async () => (await h.detail(next.id)).offeredTo === op.id, {
      what: 'the next case offered',
    });
    await h.api('/api/presence', { method: 'PUT', body: { status: 'away' }, as: op.cookie });
    await h.api(`/api/cases/${next.id}/decline`, { method: 'POST', as: op.cookie });
    opConsole.close();
  });

  it('never resolves an accepted case: the cancel is noted for the operator', async () => {
    const press = h.alert({ residentId: nextResident() });
    await send(press);
    const c = await h.caseOf(press.residentId);
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST' })).status).toBe(200);
    await send(cancelOf(press));
    const detail = await h.detail(c.id);
    expect(detail).toMatchObject({ state: 'accepted', outcome: null });
    const joined = (await eventsOf(c.id)).at(-1);
    expect(joined).toMatchObject({
      kind: 'alert-joined',
      data: { effect: 'noted', why: 'already-accepted' },
    });
  });

  it('keeps a case on hold on hold: a cancel is not a new alarm', async () => {
    const press = h.alert({ residentId: nextResident() });
    await send(press);
    const c = await h.caseOf(press.residentId);
    await h.api(`/api/cases/${c.id}/accept`, { method: 'POST' });
    const until = new Date(clock.now() + 600_000).toISOString();
    expect(
      (await h.api(`/api/cases/${c.id}/hold`, { method: 'POST', body: { until, reason: 'call back' } }))
        .status,
    ).toBe(200);
    await send(cancelOf(press));
    expect(await h.detail(c.id)).toMatchObject({ state: 'on_hold', hold: { until } });
  });

  it('does not resolve a case that holds another alert nobody cancelled', async () => {
    const press = h.alert({ residentId: nextResident() });
    const fall = h.alert({ residentId: press.residentId, type: 'fall.detected' });
    await send(press, fall);
    const c = await h.caseOf(press.residentId);
    await send(cancelOf(press));
    expect(await h.detail(c.id)).toMatchObject({ state: 'queued' });
    expect((await eventsOf(c.id)).at(-1)).toMatchObject({
      data: { effect: 'noted', why: 'other-alerts-open' },
    });
  });
});

describe('a restore from the device', () => {
  it('clears a technical fault nobody has accepted yet as technical-resolved', async () => {
    const mains = h.alert({ residentId: nextResident(), type: 'mains.lost', priority: 3 });
    await send(mains);
    const c = await h.caseOf(mains.residentId);
    const restore = restoreOf(mains, 'mains.restored');
    await send(restore);
    expect(await h.detail(c.id)).toMatchObject({ state: 'resolved', outcome: 'technical-resolved' });
    const events = await eventsOf(c.id);
    expect(events.map((e) => e.kind)).toEqual(['opened', 'alert-joined', 'resolved']);
    expect(events[1]?.data).toMatchObject({ by: 'device', deviceSerial: 'SER-1', closedType: 'mains.lost' });
    expect(await openIds()).not.toContain(c.id);
  });

  it('only notes a smoke restore: the P1 stays in the queue for an operator to call', async () => {
    const smoke = h.alert({ residentId: nextResident(), type: 'smoke.detected' });
    await send(smoke);
    const c = await h.caseOf(smoke.residentId);
    await send(restoreOf(smoke, 'smoke.restored'));
    expect(await h.detail(c.id)).toMatchObject({ state: 'queued', priority: 1, type: 'smoke.detected' });
    expect((await eventsOf(c.id)).at(-1)).toMatchObject({ data: { effect: 'noted', why: 'alarm-restore' } });
    expect(await openIds()).toContain(c.id);
  });

  it('joins the case of the alert it closes even outside the join window', async () => {
    const mains = h.alert({
      residentId: nextResident(),
      type: 'mains.lost',
      priority: 3,
      raisedAt: new Date(Date.now() - 6 * 3_600_000).toISOString(),
    });
    await send(mains);
    const c = await h.caseOf(mains.residentId);
    await send(restoreOf(mains, 'mains.restored'));
    expect(await h.detail(c.id)).toMatchObject({ state: 'resolved', outcome: 'technical-resolved' });
  });
});

describe('record-only (P5) alerts', () => {
  it('never join or ring: a P5 without anything to close is kept in a closed case of its own', async () => {
    const press = h.alert({ residentId: nextResident() });
    await send(press);
    const open = await h.caseOf(press.residentId);
    const record = h.alert({ residentId: press.residentId, type: 'medication.taken', priority: 5 });
    const orphan = h.alert({
      residentId: press.residentId,
      type: 'supervision.restored',
      priority: 5,
      closes: { alertId: `alt_${'0'.repeat(32)}`, outcome: 'restored' },
    });
    await send(record, orphan);

    expect((await eventsOf(open.id)).map((e) => e.kind)).not.toContain('alert-joined');
    expect((await h.detail(open.id)).alertIds).toEqual([press.id]);
    const all = (await h.api('/api/cases?state=all')).json as {
      id: string;
      residentId: string;
      state: string;
      alertIds: string[];
    }[];
    const mine = all.filter((x) => x.residentId === press.residentId && x.id !== open.id);
    expect(mine.map((x) => x.alertIds[0]).sort()).toEqual([record.id, orphan.id].sort());
    for (const x of mine) {
      expect(x.state).toBe('closed');
      expect((await eventsOf(x.id)).map((e) => [e.kind, e.data.reason ?? e.data.recordOnly])).toEqual([
        ['opened', true],
        ['closed', 'record-only'],
      ]);
    }
    expect(await openIds()).not.toEqual(expect.arrayContaining(mine.map((x) => x.id)));
  });
});

describe('a fault that keeps coming back', () => {
  // Last in the file: it moves the clock on by days.
  const DAY = 24 * 3_600_000;
  const noisyFrom = (residentId: string, serial: string): Alert =>
    h.alert({
      residentId,
      type: 'sensor.noisy',
      priority: 4,
      deviceSerial: serial,
      reason: `Movement sensor reports far beyond a person: ${serial}`,
    });
  const quietOf = (noisy: Alert): Alert =>
    h.alert({
      residentId: noisy.residentId,
      type: 'sensor.quiet',
      priority: 5,
      reason: 'Movement sensor calm again',
      deviceSerial: noisy.deviceSerial as string,
      closes: { alertId: noisy.id, outcome: 'restored' },
    });
  /** One afternoon's noise: the case it opens, and what became of it once the sensor calmed. */
  const afternoon = async (residentId: string, serial: string) => {
    const noisy = noisyFrom(residentId, serial);
    await send(noisy);
    const all = (await h.api('/api/cases?state=all')).json as { id: string; alertIds: string[] }[];
    const id = all.find((c) => c.alertIds.includes(noisy.id))?.id as string;
    expect(id).toBeDefined();
    await send(quietOf(noisy));
    return { id, detail: await h.detail(id), last: (await eventsOf(id)).at(-1) };
  };

  it('no longer closes by itself the third time one sensor is noisy within a week: the installer is booked', async () => {
    const residentId = nextResident();
    const first = await afternoon(residentId, 'PIR-L');
    expect(first.detail).toMatchObject({ state: 'resolved', outcome: 'technical-resolved' });
    clock.advance(DAY);
    expect((await afternoon(residentId, 'PIR-L')).detail).toMatchObject({ state: 'resolved' });
    // Another sensor of the same home, noisy once: its own fault, cleared as before.
    clock.advance(DAY);
    expect((await afternoon(residentId, 'PIR-K')).detail).toMatchObject({ state: 'resolved' });
    const third = await afternoon(residentId, 'PIR-L');
    expect(third.detail).toMatchObject({ state: 'queued', priority: 4, type: 'sensor.noisy' });
    expect(third.last).toMatchObject({
      kind: 'alert-joined',
      data: {
        effect: 'noted',
        why: 'fault-repeats',
        closedType: 'sensor.noisy',
        repeated: { type: 'sensor.noisy', deviceSerial: 'PIR-L', times: 3, days: 7 },
        note: 'PIR-L noisy 3 times in 7 days: book the installer',
      },
    });
    expect(await openIds()).toContain(third.id);
    // Noisy again after a quiet week: a passing fault once more.
    clock.advance(8 * DAY);
    const later = await afternoon(residentId, 'PIR-L');
    expect(later.detail).toMatchObject({ state: 'resolved', outcome: 'technical-resolved' });
  });

  it('stays for the operator when another alert of its case is restored after it, in either order', async () => {
    const residentId = nextResident();
    await afternoon(residentId, 'PIR-L');
    clock.advance(DAY);
    await afternoon(residentId, 'PIR-L');
    /** The third (then fourth) noisy spell, with the home unit's mains lost in the same case. */
    const withMains = async (quietFirst: boolean) => {
      clock.advance(DAY);
      // Raised a day after the last spell, whose case is still open: a case of its own.
      const raisedAt = new Date(clock.now()).toISOString();
      const noisy = { ...noisyFrom(residentId, 'PIR-L'), raisedAt };
      const mains = h.alert({ residentId, type: 'mains.lost', priority: 3, deviceSerial: 'HUB-1', raisedAt });
      await send(noisy, mains);
      const all = (await h.api('/api/cases?state=all')).json as { id: string; alertIds: string[] }[];
      const id = all.find((c) => c.alertIds.includes(noisy.id))?.id as string;
      // One case, whichever of the two (on lanes of their own priorities) came first.
      expect([...(all.find((c) => c.id === id)?.alertIds ?? [])].sort()).toEqual([noisy.id, mains.id].sort());
      const restored = h.alert({
        residentId,
        type: 'mains.restored',
        priority: 5,
        reason: 'Mains power restored',
        deviceSerial: 'HUB-1',
        closes: { alertId: mains.id, outcome: 'restored' },
      });
      await send(...(quietFirst ? [quietOf(noisy), restored] : [restored, quietOf(noisy)]));
      return { id, detail: await h.detail(id), last: (await eventsOf(id)).at(-1) };
    };
    for (const [quietFirst, times] of [
      [true, 3],
      [false, 4],
    ] as const) {
      const kept = await withMains(quietFirst);
      expect(kept.detail).toMatchObject({ state: 'queued', type: 'mains.lost' });
      expect(kept.last).toMatchObject({
        kind: 'alert-joined',
        data: {
          effect: 'noted',
          why: 'fault-repeats',
          repeated: { type: 'sensor.noisy', deviceSerial: 'PIR-L', times, days: 7 },
          note: `PIR-L noisy ${times} times in 7 days: book the installer`,
        },
      });
      expect(await openIds()).toContain(kept.id);
    }
  });
});

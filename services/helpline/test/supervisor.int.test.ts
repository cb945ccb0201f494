import {
  DeadLetter,
  eventIdOfKey,
  partitionOf,
  type SecurityEvent,
  type TelecareEvent,
} from '@telecare/contracts';
import { jetstream, jetstreamManager, ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';
import { readSse } from './sse.ts';

// The figures a supervisor reads at the start of a shift and through it. Each test reproduces a
// figure that misled: the clock is stepped by hand, and raise times are set on the alerts.
const T0 = Date.now();
const clock = new ManualClock(T0);
let h: Awaited<ReturnType<typeof helplineHarness>>;
let op1: { id: string; cookie: string };
let op2: { id: string; cookie: string };
let sup: { id: string; cookie: string };
const streamed: { kind?: string; caseId: string; data?: Record<string, unknown> }[] = [];
const abort = new AbortController();

const ago = (seconds: number) => new Date(clock.now() - seconds * 1000).toISOString();
const overview = async () => {
  const r = await h.api('/api/supervisor/overview', { as: sup.cookie });
  expect(r.status).toBe(200);
  return r.json;
};

/** Follows the live stream as a wallboard would, keeping each case change's lastEvent. */
async function followStream() {
  const response = await fetch(`${h.helpline.url}/api/stream`, {
    headers: { authorization: `Bearer ${h.adminToken}` },
    signal: abort.signal,
  });
  if (!response.body) throw new Error('no stream');
  void readSse(response.body, ({ event, data }) => {
    if (event === 'case' && data) {
      const c = JSON.parse(data) as {
        id: string;
        lastEvent?: { kind: string; data: Record<string, unknown> };
      };
      streamed.push({ caseId: c.id, kind: c.lastEvent?.kind, data: c.lastEvent?.data });
    }
  });
}

beforeAll(async () => {
  h = await helplineHarness('superv', { TIMER_TICK_MS: '60000', ESCALATE_OVERFLOW_S: '600' });
  await h.start(clock);
  op1 = await h.user('op1', 'operator');
  op2 = await h.user('op2', 'operator');
  sup = await h.user('sup', 'supervisor');
  await followStream();
});

afterAll(async () => {
  abort.abort();
  await h?.close();
});

describe('answer figures a supervisor can trust', () => {
  it('does not show a miss at the start of a shift for a case waiting 40 s', async () => {
    await h.publish(h.alert({ residentId: 'res_sv_start', priority: 1, raisedAt: ago(40) }));
    await h.drained();
    const stats = await h.api('/api/stats/answer?hours=24', { as: sup.cookie });
    expect(stats.status).toBe(200);
    // Nothing has been answered or missed yet: no percentage, and the target is not failed.
    expect(stats.json.total).toBe(0);
    expect(stats.json.within60s).toMatchObject({ percent: null, met: true });
    expect(stats.json.within180s).toMatchObject({ percent: null, met: true });
    const o = await overview();
    expect(o.queue.waitingNow).toBe(1);
    expect(o.queue.longestWaitSeconds).toBe(40);
    expect(o.queue.byPriority['1']).toMatchObject({ waiting: 1, longestWaitSeconds: 40 });
    expect(o.answer.within60s.percent).toBeNull();
  });

  it('counts only alarm calls (P1, P2) against the targets; technical cases still show in the queue', async () => {
    await h.publish(
      h.alert({ residentId: 'res_sv_mains', priority: 3, type: 'mains.lost', raisedAt: ago(300) }),
    );
    await h.publish(
      h.alert({ residentId: 'res_sv_batt', priority: 4, type: 'battery.low', raisedAt: ago(250) }),
    );
    await h.drained();
    const battery = await h.caseOf('res_sv_batt');
    expect((await h.api(`/api/cases/${battery.id}/accept`, { method: 'POST', as: sup.cookie })).status).toBe(
      200,
    );
    const stats = await h.api('/api/stats/answer?hours=24', { as: sup.cookie });
    expect(stats.json).toMatchObject({ total: 0, answered: 0, waitingOver60: 0 });
    expect(stats.json.within60s.percent).toBeNull();
    const o = await overview();
    expect(o.queue.byPriority['3']).toMatchObject({ waiting: 1, longestWaitSeconds: 300 });
    expect(o.queue.byPriority['4']).toMatchObject({ waiting: 0, accepted: 1 });
    expect(o.queue.waitingNow).toBe(2);
    expect(o.queue.longestWaitSeconds).toBe(300);
    expect(o.queue.alarmsWaiting).toBe(1);
    expect(o.queue.alarmLongestWaitSeconds).toBe(40);
    expect(o.answer.byPriority['3']).toBeUndefined();
  });

  it('gives figures per priority and per operator', async () => {
    const p1 = await h.caseOf('res_sv_start');
    expect((await h.api(`/api/cases/${p1.id}/accept`, { method: 'POST', as: op1.cookie })).status).toBe(200);
    await h.publish(
      h.alert({ residentId: 'res_sv_p2', priority: 2, type: 'flood.detected', raisedAt: ago(100) }),
    );
    await h.drained();
    const p2 = await h.caseOf('res_sv_p2');
    expect((await h.api(`/api/cases/${p2.id}/accept`, { method: 'POST', as: op2.cookie })).status).toBe(200);

    const stats = (await h.api('/api/stats/answer?hours=24', { as: sup.cookie })).json;
    expect(stats).toMatchObject({ total: 2, answered: 2 });
    expect(stats.within60s).toMatchObject({ count: 1, percent: 50, met: false });
    expect(stats.within180s).toMatchObject({ count: 2, percent: 100, met: true });
    expect(stats.byPriority['1']).toMatchObject({ answered: 1, within60s: { count: 1, percent: 100 } });
    expect(stats.byPriority['2']).toMatchObject({
      answered: 1,
      within60s: { count: 0, percent: 0 },
      within180s: { count: 1, percent: 100 },
    });
    const byOperator = Object.fromEntries(
      (stats.byOperator as { userId: string }[]).map((o) => [o.userId, o]),
    ) as Record<string, Record<string, unknown>>;
    expect(byOperator[op1.id]).toMatchObject({
      name: 'op1 name',
      answered: 1,
      within60s: { count: 1, percent: 100 },
      medianAnswerSeconds: 40,
    });
    expect(byOperator[op2.id]).toMatchObject({
      answered: 1,
      within60s: { count: 0, percent: 0 },
      medianAnswerSeconds: 100,
    });
    const o = await overview();
    const ops = Object.fromEntries((o.operators as { id: string }[]).map((u) => [u.id, u])) as Record<
      string,
      Record<string, unknown>
    >;
    expect(ops[op1.id]).toMatchObject({ role: 'operator', chosenPresence: 'busy', working: [p1.id] });
    expect(ops[op2.id]).toMatchObject({ working: [p2.id] });
    expect(o.answer.byOperator).toHaveLength(2);
  });

  it('flags an alarm unanswered at 60 s and at 180 s, in the case, the stats and the stream', async () => {
    const raised = clock.now();
    await h.publish(
      h.alert({
        residentId: 'res_sv_late',
        priority: 2,
        type: 'flood.detected',
        raisedAt: new Date(raised).toISOString(),
      }),
    );
    await h.drained();
    const late = await h.caseOf('res_sv_late');
    const steps = async () =>
      ((await h.detail(late.id)).events as { kind: string; data: { targetSeconds?: number } }[])
        .filter((e) => e.kind === 'answer-target-missed')
        .map((e) => e.data.targetSeconds);
    clock.set(raised + 59_000);
    await h.helpline.tick();
    expect(await steps()).toEqual([]);
    clock.set(raised + 60_500);
    await h.helpline.tick();
    expect(await steps()).toEqual([60]);
    clock.set(raised + 179_000);
    await h.helpline.tick();
    expect(await steps()).toEqual([60]);
    clock.set(raised + 180_500);
    await h.helpline.tick();
    await h.helpline.tick();
    expect(await steps()).toEqual([60, 180]);
    expect((await h.detail(late.id)).answerTargetMissed).toBe(180);

    await waitFor(
      () =>
        streamed.find(
          (s) => s.caseId === late.id && s.kind === 'answer-target-missed' && s.data?.targetSeconds === 180,
        ),
      { what: 'the 180 s step on the stream' },
    );
    const stats = (await h.api('/api/stats/answer?hours=24', { as: sup.cookie })).json;
    // Still waiting past 180 s: a miss of both targets now.
    expect(stats).toMatchObject({ total: 3, answered: 2, waitingOver60: 1, waitingOver180: 1 });
    expect(stats.within180s).toMatchObject({ count: 2, percent: 66.67, met: false });
    const o = await overview();
    expect(o.breaches).toEqual([
      expect.objectContaining({ caseId: late.id, priority: 2, targetSeconds: 180, waitedSeconds: 180 }),
    ]);
  });

  it('shows recent security events and unmapped DC-09 codes', async () => {
    const p2 = await h.caseOf('res_sv_p2');
    const refused = await h.api(`/api/cases/${p2.id}/reveal`, {
      method: 'POST',
      body: { field: 'keySafe' },
      as: op1.cookie,
    });
    expect(refused.status).toBe(403);
    const residentId = 'res_sv_panel';
    const partition = partitionOf(residentId, 8);
    const at = new Date().toISOString();
    const event: TelecareEvent = {
      specversion: '1.0',
      id: eventIdOfKey('DC09-SV1', `${h.ns}-unmapped`),
      source: '/gateway-dc09',
      type: 'code.unmapped',
      subject: 'DC09-SV1',
      time: at,
      datacontenttype: 'application/json',
      residentid: residentId,
      devicekind: 'home-unit',
      deviceeventid: `${h.ns}-unmapped`,
      partition,
      receivedat: at,
      testmode: false,
      sourcecode: 'CID 1999',
      data: { note: 'unmapped code from account SV1: unknown code CID 1999' },
    };
    await h.ensureEvents();
    await h.publishEvent(event);
    await h.deviceEvent(residentId, 'DC09-SV1', 'heartbeat');
    const o = await overview();
    expect(o.securityEvents[0]).toMatchObject({ kind: 'reveal-refused', userId: op1.id, caseId: p2.id });
    expect(o.unmappedCodes.events).toEqual([
      expect.objectContaining({
        serial: 'DC09-SV1',
        sourceCode: 'CID 1999',
        residentId,
        note: 'unmapped code from account SV1: unknown code CID 1999',
      }),
    ]);
    expect(o.unmappedCodes.byCode).toEqual([{ sourceCode: 'CID 1999', count: 1, serials: ['DC09-SV1'] }]);
    expect((await h.api('/api/supervisor/overview', { as: op1.cookie })).status).toBe(403);
  });

  it('lists the gateways’ security events once each, those raised while no helpline ran too, within the hourly cap', async () => {
    // Raised while the helpline is down: the SECURITY stream keeps them.
    await h.stop();
    const js = jetstream(h.nc);
    const forged = (serial: string): SecurityEvent => ({
      id: null,
      at: new Date(clock.now()).toISOString(),
      service: 'gateway-dc09',
      kind: 'dc09-frame-forged',
      userId: null,
      caseId: null,
      detail: { account: serial, serial, reason: 'mac', transport: 'tcp' },
    });
    const send = (event: SecurityEvent, msgID: string) =>
      js.publish(h.names.subjects.securityEvents, JSON.stringify(event), { msgID });
    await send(forged('DC09-F1'), 'sec_f1');
    // The same store retried: one message on the stream.
    expect((await send(forged('DC09-F1'), 'sec_f1')).duplicate).toBe(true);
    await send(forged('DC09-F2'), 'sec_f2');
    // Past the cap of two an hour: counted, not listed.
    await send(forged('DC09-F3'), 'sec_f3');
    // A publisher naming itself anew each time: every unknown name shares one cap.
    for (const i of [1, 2, 3])
      await send({ ...forged(`ROGUE-${i}`), service: `rogue-${i}` }, `sec_rogue_${i}`);
    await h.start(clock, { HELPLINE_SECURITY_EVENTS_PER_HOUR: '2' });
    const metrics = async () => (await fetch(new URL('/metrics', h.helpline.url))).text();
    const capped = (service: string) =>
      new RegExp(
        `^helpline_security_events_read_total\\{[^}]*service="${service}"[^}]*outcome="capped"[^}]*\\} 1$`,
        'm',
      );
    await waitFor(
      async () => {
        const text = await metrics();
        return capped('gateway-dc09').test(text) && capped('other').test(text) ? true : undefined;
      },
      { what: 'the third of each counted as capped', timeoutMs: 5_000, intervalMs: 50 },
    );
    const r = await h.api('/api/security-events?limit=200', { as: sup.cookie });
    expect(r.status).toBe(200);
    const listed = (
      r.json as { events: { service: string; kind: string; detail: { serial?: string } }[] }
    ).events
      .filter((e) => e.kind === 'dc09-frame-forged')
      .map((e) => ({ service: e.service, serial: e.detail.serial }));
    expect(
      listed
        .filter((e) => e.service === 'gateway-dc09')
        .sort((a, b) => String(a.serial).localeCompare(String(b.serial))),
    ).toEqual([
      { service: 'gateway-dc09', serial: 'DC09-F1' },
      { service: 'gateway-dc09', serial: 'DC09-F2' },
    ]);
    // Two of the three unknown names listed, under the names they gave.
    expect(listed.filter((e) => e.service.startsWith('rogue-'))).toHaveLength(2);
    expect(await metrics()).toMatch(
      /^helpline_security_events_read_total\{[^}]*service="gateway-dc09"[^}]*outcome="stored"[^}]*\} 2$/m,
    );
    // Its own are listed as raised and not again from the stream.
    const own = (r.json as { events: { service: string; kind: string }[] }).events.filter(
      (e) => e.kind === 'reveal-refused',
    );
    expect(own).toHaveLength(1);
    expect(own[0]?.service).toBe('helpline');
  });

  it('lists triage’s cancels not taken, and dead-letters a kind it does not know without losing the ones after it', async () => {
    const js = jetstream(h.nc);
    const cancel: SecurityEvent = {
      id: null,
      at: new Date(clock.now()).toISOString(),
      service: 'triage',
      kind: 'cancel-not-taken',
      userId: null,
      caseId: null,
      detail: {
        serial: 'PX-STOLEN',
        residentId: 'res_sv_cancel',
        alertId: 'alt_sv_cancel',
        eventId: 'evt_sv_cancel',
        ruleId: 'correlation.pre-alarm-cancel',
        orphanCancels: 3,
      },
    };
    // A kind from a newer service than this helpline, first on the stream.
    await js.publish(
      h.names.subjects.securityEvents,
      JSON.stringify({ ...cancel, kind: 'kind-from-later' }),
      {
        msgID: 'sec_sv_later',
      },
    );
    await js.publish(h.names.subjects.securityEvents, JSON.stringify(cancel), { msgID: 'sec_sv_cancel' });
    const listed = await waitFor(
      async () => {
        const r = await h.api('/api/security-events?limit=200', { as: sup.cookie });
        const events = (r.json as { events: SecurityEvent[] }).events;
        return events.find((e) => e.kind === 'cancel-not-taken') ? events : undefined;
      },
      { what: 'the cancel not taken listed', timeoutMs: 10_000, intervalMs: 50 },
    );
    expect(listed.filter((e) => e.kind === 'cancel-not-taken')).toEqual([
      expect.objectContaining({ service: 'triage', detail: cancel.detail }),
    ]);
    expect(listed.map((e) => e.kind)).not.toContain('kind-from-later');
    const jsm = await jetstreamManager(h.nc);
    const letter = await waitFor(
      () =>
        jsm.streams
          .getMessage(h.names.streams.deadletter, {
            last_by_subj: h.names.subjects.deadletter('helpline', 'schema'),
          })
          .then((m) => (m ? DeadLetter.parse(m.json()) : undefined))
          .catch(() => undefined),
      { what: 'the unknown kind dead-lettered' },
    );
    expect(letter.origin).toMatch(
      new RegExp(`^${h.names.subjects.securityEvents.replaceAll('.', '\\.')}#\\d+$`),
    );
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '@telecare/platform';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// Voice from the case: the helpline hands out tel:/sip: call actions built from the registry's
// numbers, places calls through a telephony adapter, and records each call's start, end and result.
const clock = new ManualClock(Date.now());
const PBX_TOKEN = 'pbx-token-0123456789abcdef';
const pbxCalls: { body: Record<string, unknown>; authorization: string | undefined }[] = [];
let pbxAnswer = 200;
/** While set, the PBX holds its answers until it resolves. */
let pbxHold: Promise<void> | undefined;
let pbx: Server;
let h: Awaited<ReturnType<typeof helplineHarness>>;
let op: { id: string; cookie: string };
let op2: { id: string; cookie: string };
let residentId: string;
let responderId: string;
let caseId: string;
let registryUrl: string;
const unit = `HUB-VOX-${Date.now().toString(36).toUpperCase()}`;

type Event = { kind: string; actor: string; data: Record<string, unknown> };
const events = async (): Promise<Event[]> => (await h.detail(caseId)).events as Event[];
/**
 * The operator's console, as at a desk: a case's holder with no console there is gone, and the
 * case would be flagged and requeued while the clock moves on (see operator-gone.int.test.ts).
 */
let opConsole: Awaited<ReturnType<typeof h.openConsole>>;
const advance = async (ms: number) => {
  clock.advance(ms);
  await opConsole.beat();
};
const call = (body: unknown, as = op.cookie) =>
  h.api(`/api/cases/${caseId}/calls`, { method: 'POST', body, as });

beforeAll(async () => {
  pbx = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', async () => {
      pbxCalls.push({ body: JSON.parse(body), authorization: req.headers.authorization });
      await pbxHold;
      res.writeHead(pbxAnswer, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'pbx-123' }));
    });
  });
  await new Promise<void>((resolve) => pbx.listen(0, '127.0.0.1', resolve));
  h = await helplineHarness('calls', { TIMER_TICK_MS: '60000' });
  const registry = await h.startRegistry();
  registryUrl = registry.url;
  await h.start(clock, { REGISTRY_URL: registryUrl });
  op = await h.user('vic', 'operator');
  op2 = await h.user('wes', 'operator');
  opConsole = await h.openConsole(op.cookie);
  residentId = (
    await h.registryApi('/api/residents', {
      name: 'Vera Voice',
      address: '3 Call Lane, Gloucester',
      postcode: 'GL1 1AA',
      phone: '01452 000111',
    })
  ).id;
  responderId = (
    await h.registryApi(`/api/residents/${residentId}/responders`, {
      name: 'Sam Son',
      relationship: 'son',
      phone: '07700 900003',
    })
  ).responders[0].id;
  await h.registryApi('/api/devices', {
    serial: unit,
    residentId,
    kind: 'home-unit',
    location: 'hallway',
    voiceUri: 'sip:unit-7@pbx.example.org',
  });
  await h.publish(h.alert({ residentId, priority: 1, type: 'pendant.pressed' }));
  caseId = (await h.caseOf(residentId)).id;
});

afterAll(async () => {
  await h?.close();
  pbx?.close();
});

describe('call actions on a case (HELPLINE_TELEPHONY=none)', () => {
  it('lists the home unit, the resident, each responder and 999 as tel:/sip: URIs from the registry', async () => {
    const r = await h.api(`/api/cases/${caseId}/call-targets`, { as: op.cookie });
    expect(r.status).toBe(200);
    expect(r.json.telephony).toBe('none');
    expect(r.json.targets).toEqual([
      expect.objectContaining({ party: 'home-unit', deviceSerial: unit, uri: 'sip:unit-7@pbx.example.org' }),
      expect.objectContaining({ party: 'resident', uri: 'tel:01452000111' }),
      expect.objectContaining({
        party: 'responder',
        responderId,
        label: 'Sam Son (son)',
        uri: 'tel:07700900003',
      }),
      expect.objectContaining({ party: 'emergency', uri: 'tel:999' }),
    ]);
  });

  it('starts a call only for the operator holding the case, and only to a party the registry names', async () => {
    expect((await call({ party: 'home-unit', deviceSerial: unit })).status).toBe(409);
    expect((await h.api(`/api/cases/${caseId}/accept`, { method: 'POST', as: op.cookie })).status).toBe(200);
    expect((await call({ party: 'home-unit', deviceSerial: unit }, op2.cookie)).status).toBe(409);
    // The number is never the browser's to choose.
    expect((await call({ party: 'resident', uri: 'tel:0900123456' })).status).toBe(400);
    expect((await call({ party: 'responder', responderId: 'rsp_not_theirs' })).status).toBe(404);
  });

  it('records who called the home unit, when, how long and how it ended; numbers stay out of the events', async () => {
    const started = await call({ party: 'home-unit', deviceSerial: unit });
    expect(started.status).toBe(201);
    expect(started.json).toMatchObject({
      via: 'browser',
      uri: 'sip:unit-7@pbx.example.org',
      party: 'home-unit',
    });
    const callId = started.json.callId as string;
    expect(callId).toMatch(/^call_/);
    await advance(95_000);
    const ended = await h.api(`/api/cases/${caseId}/calls/${callId}/end`, {
      method: 'POST',
      body: { outcome: 'answered', note: 'spoke through the unit; she is on the floor' },
      as: op.cookie,
    });
    expect(ended.status).toBe(201);
    expect(ended.json.data).toMatchObject({ callId, outcome: 'answered', durationSeconds: 95 });
    const again = await h.api(`/api/cases/${caseId}/calls/${callId}/end`, {
      method: 'POST',
      body: { outcome: 'answered' },
      as: op.cookie,
    });
    expect(again.status).toBe(409);
    const trail = (await events()).filter((e) => e.kind.startsWith('call-'));
    expect(trail.map((e) => [e.kind, e.actor, e.data.party])).toEqual([
      ['call-started', op.id, 'home-unit'],
      ['call-ended', op.id, 'home-unit'],
    ]);
    expect(trail[0]?.data).toMatchObject({ callId, deviceSerial: unit, scheme: 'sip', via: 'browser' });
    expect(JSON.stringify(trail)).not.toMatch(/unit-7|01452/);
  });

  it('closes a responder call and a 999 call through the existing responder and 999 records', async () => {
    const toSon = await call({ party: 'responder', responderId });
    expect(toSon.json).toMatchObject({ uri: 'tel:07700900003' });
    await advance(40_000);
    const result = await h.api(`/api/cases/${caseId}/responder-calls`, {
      method: 'POST',
      body: { responderId, name: 'Sam Son', result: 'declined', callId: toSon.json.callId },
      as: op.cookie,
    });
    expect(result.status).toBe(201);
    expect(result.json.data).toMatchObject({
      result: 'declined',
      callId: toSon.json.callId,
      durationSeconds: 40,
    });

    const to999 = await h.api(`/api/cases/${caseId}/calls`, {
      method: 'POST',
      body: { party: 'emergency' },
      as: op.cookie,
      key: 'call-999-0001',
    });
    expect(to999.json).toMatchObject({ uri: 'tel:999' });
    // A double click is one call.
    const twice = await h.api(`/api/cases/${caseId}/calls`, {
      method: 'POST',
      body: { party: 'emergency' },
      as: op.cookie,
      key: 'call-999-0001',
    });
    expect(twice.status).toBe(200);
    expect(twice.json).toMatchObject({ callId: to999.json.callId, uri: 'tel:999' });
    await advance(120_000);
    const ambulance = await h.api(`/api/cases/${caseId}/emergency-calls`, {
      method: 'POST',
      body: { service: 'ambulance', reference: 'CAD-77', callId: to999.json.callId },
      as: op.cookie,
    });
    expect(ambulance.status).toBe(201);
    // A call already closed cannot be closed again by another record.
    expect(
      (
        await h.api(`/api/cases/${caseId}/emergency-calls`, {
          method: 'POST',
          body: { service: 'ambulance', callId: to999.json.callId },
          as: op.cookie,
        })
      ).status,
    ).toBe(409);

    const kinds = (await events()).map((e) => e.kind).filter((k) => /call/.test(k));
    expect(kinds).toEqual([
      'call-started',
      'call-ended',
      'call-started',
      'call-ended',
      'responder-called',
      'call-started',
      'call-ended',
      'emergency-called',
    ]);
    const listed = await h.api(`/api/cases/${caseId}/calls`, { as: op.cookie });
    expect(listed.json.calls).toEqual([
      expect.objectContaining({
        party: 'home-unit',
        startedBy: op.id,
        outcome: 'answered',
        durationSeconds: 95,
      }),
      expect.objectContaining({ party: 'responder', responderId, outcome: 'answered', durationSeconds: 40 }),
      expect.objectContaining({ party: 'emergency', outcome: 'answered', durationSeconds: 120 }),
    ]);
  });
});

describe('click-to-call through a PBX (HELPLINE_TELEPHONY=sip-click-to-call)', () => {
  beforeAll(async () => {
    await h.stop();
    await h.start(clock, {
      REGISTRY_URL: registryUrl,
      HELPLINE_TELEPHONY: 'sip-click-to-call',
      HELPLINE_PBX_URL: `http://127.0.0.1:${(pbx.address() as AddressInfo).port}/click-to-call`,
      HELPLINE_PBX_TOKEN: PBX_TOKEN,
      // Longer than the PBX below holds a call, so a held call is still placed by the PBX.
      HELPLINE_PBX_TIMEOUT_MS: '10000',
    });
    opConsole = await h.openConsole(op.cookie);
  });

  it('asks the PBX to ring the operator extension, then the party', async () => {
    const set = await h.api(`/api/users/${op.id}/extension`, {
      method: 'PUT',
      body: { extension: '2001' },
      as: op.cookie,
    });
    expect(set.status).toBe(200);
    expect(
      (
        await h.api(`/api/users/${op.id}/extension`, {
          method: 'PUT',
          body: { extension: '2002' },
          as: op2.cookie,
        })
      ).status,
    ).toBe(403);
    const started = await call({ party: 'resident' });
    expect(started.status).toBe(201);
    expect(started.json).toMatchObject({ via: 'pbx', pbxReference: 'pbx-123', uri: 'tel:01452000111' });
    expect(pbxCalls.at(-1)).toEqual({
      authorization: `Bearer ${PBX_TOKEN}`,
      body: { from: '2001', to: 'tel:01452000111', reference: started.json.callId, caseId },
    });
    const trail = (await events()).filter((e) => e.kind === 'call-started').at(-1);
    expect(trail?.data).toMatchObject({ via: 'pbx', pbxReference: 'pbx-123', party: 'resident' });
    const ended = await h.api(`/api/cases/${caseId}/calls/${started.json.callId}/end`, {
      method: 'POST',
      body: { outcome: 'no-answer' },
      as: op.cookie,
    });
    expect(ended.json.data).toMatchObject({ outcome: 'no-answer' });
  });

  it('falls back to the browser link, and says why, when the PBX refuses', async () => {
    pbxAnswer = 503;
    const started = await call({ party: 'resident' });
    pbxAnswer = 200;
    expect(started.status).toBe(201);
    expect(started.json).toMatchObject({ via: 'browser', uri: 'tel:01452000111' });
    expect(started.json.message).toMatch(/503/);
    const trail = (await events()).filter((e) => e.kind === 'call-started').at(-1);
    expect(trail?.data).toMatchObject({ via: 'browser', pbxFailed: expect.stringMatching(/503/) });
  });
  it('places one call for two starts with the same Idempotency-Key at once (a double click)', async () => {
    const before = pbxCalls.length;
    // The PBX answers once a second request has reached it (or after a while): two starts racing
    // each other both reach it before either call is recorded, unless the key is claimed first.
    let release = () => {};
    pbxHold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const reached = waitFor(() => pbxCalls.length - before >= 2, { timeoutMs: 2500 }).then(release, release);
    const start = () =>
      h.api(`/api/cases/${caseId}/calls`, {
        method: 'POST',
        body: { party: 'resident' },
        as: op.cookie,
        key: 'call-resident-double-click',
      });
    const [a, b] = await Promise.all([start(), start()]);
    await reached;
    pbxHold = undefined;
    expect(pbxCalls.length - before).toBe(1);
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(b.json.callId).toBe(a.json.callId);
    expect(b.json).toMatchObject({ via: 'pbx', pbxReference: 'pbx-123', uri: 'tel:01452000111' });
    const started = (await events()).filter(
      (e) => e.kind === 'call-started' && e.data.callId === a.json.callId,
    );
    expect(started).toHaveLength(1);
  });
});

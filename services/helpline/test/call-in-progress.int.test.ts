import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// Two call starts under one Idempotency-Key at once (a double click, a retry after a lost answer):
// the second waits for the first to be placed, and is answered with its call. A phone system slower
// than that wait (HELPLINE_PBX_TIMEOUT_MS + 2 s, at most 12 s) leaves the second answered 409
// `call-in-progress`: nothing done, no second call dialled, and the same key sent again once the
// first has answered gets the first's call.
const PBX_TIMEOUT_MS = 20_000;
let pbxAsked = 0;
let release = () => {};
let pbx: Server;
let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  pbx = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      pbxAsked += 1;
      await held;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'pbx-slow-1' }));
    });
  });
  await new Promise<void>((resolve) => pbx.listen(0, '127.0.0.1', resolve));
  h = await helplineHarness('callprogress');
  await h.start(undefined, {
    HELPLINE_TELEPHONY: 'sip-click-to-call',
    HELPLINE_PBX_URL: `http://127.0.0.1:${(pbx.address() as AddressInfo).port}/click-to-call`,
    HELPLINE_PBX_TOKEN: 'pbx-token-0123456789abcdef',
    HELPLINE_PBX_TIMEOUT_MS: String(PBX_TIMEOUT_MS),
  });
});

afterAll(async () => {
  release();
  await h?.close();
  pbx?.close();
});

describe('a second call start under the same key', () => {
  it('waiting past its wait while the phone system is slow is answered 409 call-in-progress, and dials nothing', async () => {
    const op = await h.user('progress.op@example.org', 'operator');
    const extension = { method: 'PUT', body: { extension: '2002' }, as: op.cookie };
    expect((await h.api(`/api/users/${op.id}/extension`, extension)).status).toBe(200);
    const residentId = `res_callprogress${Date.now().toString(36)}`;
    await h.publish(h.alert({ residentId }));
    const c = await h.caseOf(residentId);
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: op.cookie })).status).toBe(200);
    const start = () =>
      h.api(`/api/cases/${c.id}/calls`, {
        method: 'POST',
        body: { party: 'emergency' },
        as: op.cookie,
        key: 'double-click-1',
      });

    const first = start();
    await waitFor(() => pbxAsked === 1, { what: 'the first start to ask the phone system' });
    const began = Date.now();
    const second = await start();
    expect(second.status).toBe(409);
    expect(second.json).toMatchObject({ error: 'call-in-progress' });
    // It waited for the first (12 s at most), then gave up without dialling.
    expect(Date.now() - began).toBeGreaterThanOrEqual(11_000);
    expect(pbxAsked).toBe(1);

    release();
    const placed = await first;
    expect(placed.status).toBe(201);
    expect(placed.json).toMatchObject({ via: 'pbx', pbxReference: 'pbx-slow-1' });
    // Sent again once the first has answered: the first's call, not another.
    const again = await start();
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ callId: placed.json.callId, eventId: placed.json.eventId });
    expect(pbxAsked).toBe(1);
    const calls = await h.api(`/api/cases/${c.id}/calls`, { as: op.cookie });
    expect((calls.json.calls as { id: string }[]).map((call) => call.id)).toEqual([placed.json.callId]);
  }, 60_000);
});

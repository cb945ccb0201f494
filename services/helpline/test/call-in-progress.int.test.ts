import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';
import { heldPbx } from './held-pbx.ts';

// Two call starts under one Idempotency-Key at once (a double click, a retry after a lost answer):
// the second waits for the first to be placed, and is answered with its call. A phone system slower
// than that wait (HELPLINE_PBX_TIMEOUT_MS + 2 s, at most 12 s) leaves the second answered 409
// `call-in-progress`: nothing done, no second call dialled, and the same key sent again once the
// first has answered gets the first's call.
const PBX_TIMEOUT_MS = 20_000;
let pbx: Awaited<ReturnType<typeof heldPbx>>;
let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  pbx = await heldPbx(PBX_TIMEOUT_MS, 'pbx-slow-1');
  h = await helplineHarness('callprogress');
  await h.start(undefined, pbx.env);
});

afterAll(async () => {
  pbx?.close();
  await h?.close();
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
    await waitFor(() => pbx.asked === 1, { what: 'the first start to ask the phone system' });
    const began = Date.now();
    const second = await start();
    expect(second.status).toBe(409);
    expect(second.json).toMatchObject({ error: 'call-in-progress' });
    // It waited for the first (12 s at most), then gave up without dialling.
    expect(Date.now() - began).toBeGreaterThanOrEqual(11_000);
    expect(pbx.asked).toBe(1);

    pbx.release();
    const placed = await first;
    expect(placed.status).toBe(201);
    expect(placed.json).toMatchObject({ via: 'pbx', pbxReference: 'pbx-slow-1' });
    // Sent again once the first has answered: the first's call, not another.
    const again = await start();
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ callId: placed.json.callId, eventId: placed.json.eventId });
    expect(pbx.asked).toBe(1);
    const calls = await h.api(`/api/cases/${c.id}/calls`, { as: op.cookie });
    expect((calls.json.calls as { id: string }[]).map((call) => call.id)).toEqual([placed.json.callId]);
  }, 60_000);
});

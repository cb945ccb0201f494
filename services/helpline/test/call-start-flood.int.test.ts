import { waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';
import { heldPbx } from './held-pbx.ts';

// A call start under an Idempotency-Key holds a PostgreSQL connection from claiming its key until
// the call is recorded, the PBX's answer included, and a start under a key being placed waits on
// a connection too. One session firing starts at its case all at once (a stuck button, a script
// with a stolen session) must not take every connection the alerts and other operators need.
const STARTS = 40;
let pbx: Awaited<ReturnType<typeof heldPbx>>;
let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  pbx = await heldPbx(20_000);
  h = await helplineHarness('callflood');
  await h.start(undefined, pbx.env);
});

afterAll(async () => {
  pbx?.close();
  await h?.close();
});

describe('many call starts at once from one session', () => {
  it('leave the helpline answering other requests while the PBX is slow', async () => {
    const op = await h.user('flood.op@example.org', 'operator');
    const extension = { method: 'PUT', body: { extension: '2001' }, as: op.cookie };
    expect((await h.api(`/api/users/${op.id}/extension`, extension)).status).toBe(200);
    const residentId = `res_callflood${Date.now().toString(36)}`;
    await h.publish(h.alert({ residentId }));
    const c = await h.caseOf(residentId);
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: op.cookie })).status).toBe(200);

    const start = (key: string) =>
      h.api(`/api/cases/${c.id}/calls`, { method: 'POST', body: { party: 'emergency' }, as: op.cookie, key });
    // Half a double click repeated, half each under a key of its own.
    const starts = Array.from({ length: STARTS }, (_, i) =>
      start(i % 2 ? 'flood-same-key' : `flood-key-${i}`),
    );
    await waitFor(() => pbx.asked >= 1, { what: 'the PBX to be asked' });

    // Another operator's read, and an alarm raised meanwhile, are answered at once.
    const began = Date.now();
    const read = await h.api(`/api/cases/${c.id}`);
    expect(read.status).toBe(200);
    const other = `res_callflood_other${Date.now().toString(36)}`;
    await h.publish(h.alert({ residentId: other }));
    await h.caseOf(other);
    expect(Date.now() - began).toBeLessThan(3000);

    pbx.release();
    const answers = await Promise.all(starts);
    // Each start was placed, answered with the call under its key, told a call is being placed, or
    // told to wait for one of the two a person may have being placed.
    for (const a of answers) expect([200, 201, 409, 429], JSON.stringify(a.json)).toContain(a.status);
    expect(answers.filter((a) => a.status === 201).length).toBeGreaterThanOrEqual(1);
    expect(answers.some((a) => a.status === 429)).toBe(true);
  }, 60_000);
});

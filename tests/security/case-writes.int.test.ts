import { newId } from '@telecare/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: a script with a stolen session writes on cases in a loop (accept, decline, hold,
// any write under /api/cases/{id}). Only notes, facts and reveals had limits of their own: the
// rest took whatever came, unseen, and answered 404 for an id no case has and 409 or 200 for a
// real one. Now each person's case writes are bounded at each instance (CASE_WRITES_PER_MINUTE),
// far above anyone at a console: past it 429 with Retry-After, counted, a security event once per
// window, and the same answer for an unknown id as for a real one.

const LIMIT = 30;
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('seccasewrites', { CASE_WRITES_PER_MINUTE: String(LIMIT) });
});

afterAll(async () => {
  await p?.close();
});

/** A refusal as a caller sees it, but for the seconds to wait (the window runs on meanwhile). */
const refusal = (answer: { status: number; json: { code?: string; message?: string } }) => ({
  status: answer.status,
  code: answer.json?.code,
  message: answer.json?.message?.replace(/\d+ s\b/, 'N s'),
});

describe('case writes in a loop', () => {
  it('are bounded per person: 429 alike for unknown and real ids, one security event; a colleague works on', async () => {
    const flooder = await p.user('writes.flooder@example.org', 'operator');
    const colleague = await p.user('writes.colleague@example.org', 'operator');
    const caseId = await p.caseFor(await p.resident('Writes Resident', '4242'));
    const write = (as: string, id: string, action: string, body: unknown = {}) =>
      p.helplineCall('POST', `/api/cases/${id}/${action}`, { as, body });

    // Within the bound an id no case has is 404 and a real one answers for its state: the ids are
    // in the list every person working the queue reads anyway.
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT - 1; i++)
      statuses.push((await write(flooder.cookie, newId('case'), 'decline')).status);
    statuses.push((await write(flooder.cookie, caseId, 'decline')).status);
    expect(statuses).toEqual([...Array.from({ length: LIMIT - 1 }, () => 404), 409]);

    const unknown = await write(flooder.cookie, newId('case'), 'decline');
    const real = await write(flooder.cookie, caseId, 'decline');
    expect(unknown.status).toBe(429);
    expect(Number(unknown.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refusal(real)).toEqual(refusal(unknown));
    for (const action of ['accept', 'notes', 'hold'])
      expect(refusal(await write(flooder.cookie, caseId, action, { text: 'x' }))).toEqual(refusal(unknown));

    // The colleague's writes are their own: they accept the alarm.
    expect((await write(colleague.cookie, caseId, 'accept')).status).toBe(200);

    const metrics = await (await fetch(`${p.helpline.url}/metrics`)).text();
    expect(metrics).toMatch(/helpline_case_writes_refused_total(?:\{[^}]*\})? 5\b/);
    expect(metrics).toMatch(
      /helpline_case_transitions_refused_total\{action="accept",reason="rate-limited"[^}]*\} 1\b/,
    );
    const events = await p.helplineCall('GET', '/api/security-events?limit=100');
    expect(
      (events.json.events as { kind: string; userId: string }[]).filter((e) => e.userId === flooder.id),
    ).toEqual([
      expect.objectContaining({
        kind: 'case-writes-rate-limited',
        userId: flooder.id,
        detail: expect.objectContaining({ limit: LIMIT, windowS: 60 }),
      }),
    ]);
  });
});

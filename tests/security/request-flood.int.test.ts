import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: a script with a stolen session reads the helpline's cheap routes (the case list,
// who is signed in) in a loop. Only some routes had limits of their own; the rest took whatever
// came. Now every person's reads are bounded at each instance (REQUESTS_PER_MINUTE): 429 with
// Retry-After, counted, a security event once per window. What answers an alarm is never held
// back by it: signing in, accepting, and reading the case one holds or is offered (counted apart,
// CASE_IN_HAND_READS_PER_MINUTE). A case waiting in the queue is in no one's hand: read in a loop,
// it is bounded as any other read.

const LIMIT = 20;
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secrequests', { REQUESTS_PER_MINUTE: String(LIMIT) });
});

afterAll(async () => {
  await p?.close();
});

describe('reads in a loop', () => {
  it('are bounded per person: 429 with Retry-After, one security event; answering an alarm still works', async () => {
    const flooder = await p.user('requests.flooder@example.org', 'operator');
    const colleague = await p.user('requests.colleague@example.org', 'operator');
    const caseId = await p.caseFor(await p.resident('Budget Resident', '9191'));
    const list = (as: string) => p.helplineCall('GET', '/api/cases?state=all', { as });

    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 4; i++) statuses.push((await list(flooder.cookie)).status);
    expect(statuses).toEqual([
      ...Array.from({ length: LIMIT }, () => 200),
      ...Array.from({ length: 4 }, () => 429),
    ]);
    const refused = await p.helplineCall('GET', '/api/me', { as: flooder.cookie });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);

    // The alarm waiting in the queue: refused to a read over the budget, accepted (a write), then
    // read and called about.
    expect((await p.helplineCall('GET', `/api/cases/${caseId}`, { as: flooder.cookie })).status).toBe(429);
    expect(
      (await p.helplineCall('POST', `/api/cases/${caseId}/accept`, { as: flooder.cookie, body: {} })).status,
    ).toBe(200);
    expect((await p.helplineCall('GET', `/api/cases/${caseId}`, { as: flooder.cookie })).status).toBe(200);
    expect((await p.helplineCall('GET', `/api/cases/${caseId}/calls`, { as: flooder.cookie })).status).toBe(
      200,
    );
    // A case a colleague holds is not the flooder's work: refused over the budget.
    const other = await p.caseFor(await p.resident('Colleague Resident', '9292'));
    expect(
      (await p.helplineCall('POST', `/api/cases/${other}/accept`, { as: colleague.cookie, body: {} })).status,
    ).toBe(200);
    expect((await p.helplineCall('GET', `/api/cases/${other}`, { as: flooder.cookie })).status).toBe(429);
    // Signing in is never held back; the colleague's own budget is untouched.
    expect(
      (
        await p.helplineCall('POST', '/api/login', {
          as: '',
          body: { username: 'requests.flooder@example.org', password: 'wrong password here' },
        })
      ).status,
    ).toBe(401);
    expect((await list(colleague.cookie)).status).toBe(200);

    const metrics = await (await fetch(`${p.helpline.url}/metrics`)).text();
    expect(metrics).toMatch(/helpline_requests_refused_total(?:\{[^}]*\})? 7/);
    const events = await p.helplineCall('GET', '/api/security-events?limit=100');
    expect(
      (events.json.events as { kind: string; userId: string }[]).filter((e) => e.userId === flooder.id),
    ).toEqual([expect.objectContaining({ kind: 'requests-rate-limited', userId: flooder.id })]);
  });
});

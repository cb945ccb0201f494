import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: a stolen supervisor session signs the shift out in a loop. Each sign-out ends the
// person's sessions and consoles, sets them away and puts the cases they had accepted back in the
// queue; each set-away does the same but for the sessions. Nothing bounded them, and nothing told
// anyone: the operators signed in again and were signed out again, and the queue went unanswered.
// Now the changes one person makes to others are bounded (SUPERVISOR_CONTROLS_PER_HOUR, counted in
// PostgreSQL across instances): 429 with Retry-After, counted, and a security event at the first
// refusal of a burst, which the other supervisors see.

const LIMIT = 3;
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secsupctl', { SUPERVISOR_CONTROLS_PER_HOUR: String(LIMIT) });
});

afterAll(async () => {
  await p?.close();
});

describe("a supervisor's changes to other people", () => {
  it('are bounded per person: 429 with Retry-After, counted, one security event; another supervisor still acts', async () => {
    const stolen = await p.user('ctl.stolen@example.org', 'supervisor');
    const other = await p.user('ctl.other@example.org', 'supervisor');
    const operators = [
      await p.user('ctl.op1@example.org', 'operator'),
      await p.user('ctl.op2@example.org', 'operator'),
    ];
    const signOut = (as: string, id: string) => p.helplineCall('POST', `/api/users/${id}/logout`, { as });
    const setAway = (as: string, id: string) =>
      p.helplineCall('PUT', `/api/users/${id}/presence`, { as, body: { status: 'away' } });

    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 2; i++) {
      const target = operators[i % operators.length]?.id as string;
      statuses.push((await (i % 2 ? setAway(stolen.cookie, target) : signOut(stolen.cookie, target))).status);
    }
    expect(statuses).toEqual([
      ...Array.from({ length: LIMIT }, () => 200),
      ...Array.from({ length: 2 }, () => 429),
    ]);
    const refused = await signOut(stolen.cookie, operators[0]?.id as string);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.json.message).toMatch(/past hour/);

    // The refused sign-out did nothing: the operator signed in since keeps their session.
    const back = await p.user('ctl.op3@example.org', 'operator');
    expect((await signOut(stolen.cookie, back.id)).status).toBe(429);
    expect((await p.helplineCall('GET', '/api/me', { as: back.cookie })).status).toBe(200);

    // Another supervisor is not held up by the flood.
    expect((await signOut(other.cookie, back.id)).status).toBe(200);
    expect((await p.helplineCall('GET', '/api/me', { as: back.cookie })).status).toBe(401);

    const metrics = await (await fetch(`${p.helpline.url}/metrics`)).text();
    expect(metrics).toMatch(/helpline_supervisor_controls_refused_total(?:\{[^}]*\})? 4/);
    const events = await p.helplineCall('GET', '/api/security-events?limit=100');
    expect(
      (events.json.events as { kind: string; userId: string }[]).filter((e) => e.userId === stolen.id),
    ).toEqual([expect.objectContaining({ kind: 'supervisor-controls-rate-limited', userId: stolen.id })]);
  });
});

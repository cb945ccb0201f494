import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: a stolen session of the operator holding a case records facts on it (ambulance
// requested, attended, conveyed…) as fast as the helpline takes them. Each fact is a step of the
// case sent to every console and into the reports, and nothing bounded them, where notes were.
// Now facts are bounded per person (FACTS_PER_MINUTE, counted in PostgreSQL across instances): 429
// with Retry-After, counted, and a security event at the first refusal of a burst. A retry of a
// fact already recorded (its Idempotency-Key) is still answered.

const LIMIT = 3;
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secfacts', { FACTS_PER_MINUTE: String(LIMIT) });
});

afterAll(async () => {
  await p?.close();
});

describe('facts recorded in a loop', () => {
  it('are bounded per person: 429 with Retry-After, counted, one security event; others still record', async () => {
    const flooder = await p.user('facts.flooder@example.org', 'operator');
    const other = await p.user('facts.other@example.org', 'operator');
    const caseId = await p.caseFor(await p.resident('Fact Resident', '8181'));
    const otherCase = await p.caseFor(await p.resident('Other Fact Resident', '8282'));
    for (const [as, id] of [
      [flooder.cookie, caseId],
      [other.cookie, otherCase],
    ] as const)
      expect((await p.helplineCall('POST', `/api/cases/${id}/accept`, { as, body: {} })).status).toBe(200);
    const fact = (as: string, id: string, key?: string) =>
      p.helplineCall('POST', `/api/cases/${id}/facts`, {
        as,
        body: { fact: 'ambulance-requested', at: new Date().toISOString() },
        ...(key ? { headers: { 'idempotency-key': key } } : {}),
      });

    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 2; i++)
      statuses.push((await fact(flooder.cookie, caseId, `flood-fact-${i}-0000`)).status);
    expect(statuses).toEqual([
      ...Array.from({ length: LIMIT }, () => 201),
      ...Array.from({ length: 2 }, () => 429),
    ]);
    const refused = await fact(flooder.cookie, caseId);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // A lost answer retried: the fact already recorded, answered, not refused.
    expect((await fact(flooder.cookie, caseId, 'flood-fact-0-0000')).status).toBe(200);

    // Another operator recording on their own case is not held up by someone else's flood.
    expect((await fact(other.cookie, otherCase)).status).toBe(201);
    const steps = (await p.helplineCall('GET', `/api/cases/${caseId}`, { as: flooder.cookie })).json
      .events as { kind: string }[];
    expect(steps.filter((s) => s.kind === 'fact-recorded')).toHaveLength(LIMIT);

    const metrics = await (await fetch(`${p.helpline.url}/metrics`)).text();
    expect(metrics).toMatch(/helpline_facts_refused_total(?:\{[^}]*\})? 3/);
    const events = await p.helplineCall('GET', '/api/security-events?limit=100');
    expect(
      (events.json.events as { kind: string; userId: string }[]).filter((e) => e.userId === flooder.id),
    ).toEqual([expect.objectContaining({ kind: 'facts-rate-limited', userId: flooder.id, caseId })]);
  });
});

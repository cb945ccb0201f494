import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// A commissioner (the council or trust that buys the service) reads the answer-time figures. They
// came with `byOperator`: each operator's name and user id with how many calls they answered and
// how fast — a member of staff's performance, by name, to another organisation. Commissioners see
// aggregates, never identities.

let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('seccomst');
});

afterAll(async () => {
  await p?.close();
});

describe('answer figures for a commissioner', () => {
  it('are the totals and priorities, with no operator named; a supervisor still sees each operator', async () => {
    const residentId = await p.resident('Stats Resident', '1357');
    const caseId = await p.caseFor(residentId);
    const operator = await p.user('answerer@example.org', 'operator');
    expect(
      (await p.helplineCall('POST', `/api/cases/${caseId}/accept`, { as: operator.cookie })).status,
    ).toBe(200);
    const commissioner = await p.user('council@example.org', 'commissioner');
    const supervisor = await p.user('lead@example.org', 'supervisor');

    const seen = await p.helplineCall('GET', '/api/stats/answer', { as: commissioner.cookie });
    expect(seen.status).toBe(200);
    expect(seen.json.answered).toBe(1);
    expect(seen.json.byOperator).toEqual([]);
    expect(JSON.stringify(seen.json)).not.toContain(operator.id);
    expect(JSON.stringify(seen.json)).not.toContain('answerer@example.org name');

    const led = await p.helplineCall('GET', '/api/stats/answer', { as: supervisor.cookie });
    expect(led.json.byOperator).toEqual([expect.objectContaining({ userId: operator.id, answered: 1 })]);
  });
});

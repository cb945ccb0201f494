import { type HelplineHandle, loadHelplineConfig, startHelpline } from '@telecare/helpline';
import { createLogger } from '@telecare/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startRegistryAndHelpline } from './support.ts';

// Attack replay: several helpline instances run behind one proxy. The limit on reading residents
// outside one's own cases was kept in each instance's memory, so an operator whose requests were
// spread over N instances read N times as many residents, and a restart forgot every count. Now
// the reads are counted in PostgreSQL, which every instance shares, in one statement: two
// instances answering at the same moment cannot both let the last read through.

const LIMIT = 3;
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;
let second: HelplineHandle;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secctxinst', { CONTEXT_READS_PER_HOUR: String(LIMIT) });
  second = await startHelpline(
    loadHelplineConfig({ ...p.env, CONTEXT_READS_PER_HOUR: String(LIMIT), REGISTRY_URL: p.registry.url }),
    { logger: createLogger('secctxinst-second', 'silent') },
  );
});

afterAll(async () => {
  await second?.close();
  await p?.close();
});

/** Resolved cases of `count` new residents: history, nobody's own work any more. */
async function pastCases(label: string, count: number): Promise<string[]> {
  const cases: string[] = [];
  for (let i = 0; i < count; i++) {
    const caseId = await p.caseFor(await p.resident(`${label} Resident${i}`, `33${i}3`));
    expect((await p.helplineCall('POST', `/api/cases/${caseId}/accept`, { body: {} })).status).toBe(200);
    const resolved = await p.helplineCall('POST', `/api/cases/${caseId}/resolve`, {
      body: { outcome: 'false-alarm', reason: 'pressed by mistake' },
    });
    expect(resolved.status, JSON.stringify(resolved.json)).toBe(200);
    cases.push(caseId);
  }
  return cases;
}

const instances = () => [p.helpline.url, second.url];
const contextAt = (base: string, caseId: string, as: string) =>
  call(base, 'GET', `/api/cases/${caseId}/context`, { as });

describe("the limit on reading residents outside one's own cases, with two instances", () => {
  it('holds across them: what one instance let through counts at the other', async () => {
    const cases = await pastCases('Spread', LIMIT + 2);
    const reader = await p.user('spread.reader@example.org', 'operator');
    for (const caseId of cases.slice(0, LIMIT))
      expect((await contextAt(p.helpline.url, caseId, reader.cookie)).status).toBe(200);
    // A resident already read is free at either instance.
    expect((await contextAt(second.url, cases[0] as string, reader.cookie)).status).toBe(200);
    const refused = await contextAt(second.url, cases[LIMIT] as string, reader.cookie);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await contextAt(p.helpline.url, cases[LIMIT + 1] as string, reader.cookie)).status).toBe(429);
  });

  it('lets exactly the allowed number through when reads at the limit arrive at both at once', async () => {
    const cases = await pastCases('Race', 2 * LIMIT + 2);
    const reader = await p.user('race.reader@example.org', 'operator');
    const statuses = await Promise.all(
      cases.map(
        async (caseId, i) => (await contextAt(instances()[i % 2] as string, caseId, reader.cookie)).status,
      ),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(LIMIT);
    expect(statuses.filter((s) => s === 429)).toHaveLength(cases.length - LIMIT);
    // One refusal run, one security event, whichever instance refused first.
    const events = await p.helplineCall('GET', '/api/security-events?limit=50');
    const mine = (events.json.events as { kind: string; userId: string }[]).filter(
      (e) => e.userId === reader.id,
    );
    expect(mine).toEqual([expect.objectContaining({ kind: 'context-reads-rate-limited' })]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HelplineHandle, loadHelplineConfig, startHelpline } from '../src/index.ts';
import { helplineHarness } from './harness.ts';

// Two helpline instances on one PostgreSQL behind a balancer: a person's reads, reads of the case
// in their hand and writes on cases are counted once for the helpline, not once per instance, so a
// stolen session spreading its requests over the instances gets one budget, not two.
const READS = 10;
const IN_HAND = 100;
const WRITES = 30;
const env = {
  TIMER_TICK_MS: '60000',
  REQUESTS_PER_MINUTE: String(READS),
  CASE_IN_HAND_READS_PER_MINUTE: String(IN_HAND),
  CASE_WRITES_PER_MINUTE: String(WRITES),
};
let h: Awaited<ReturnType<typeof helplineHarness>>;
let second: HelplineHandle;

beforeAll(async () => {
  h = await helplineHarness('sharedbudget', env);
  await h.start();
  second = await startHelpline(loadHelplineConfig({ ...h.env, ...env }));
});
afterAll(async () => {
  await second?.close();
  await h?.close();
});

/** A request as `as` to one instance or the other (`i` even: the first). */
const spread = async (i: number, path: string, as: string, method = 'GET') => {
  const base = i % 2 === 0 ? h.helpline.url : second.url;
  const response = await fetch(`${base}${path}`, { method, headers: { cookie: as.slice(7) } });
  await response.arrayBuffer();
  return response.status;
};

const securityEvents = async (userId: string) =>
  ((await h.api('/api/security-events?limit=200')).json.events as { kind: string; userId: string }[])
    .filter((e) => e.userId === userId)
    .map((e) => e.kind);

/** A case id no case has, of a real one's shape: a write on it is counted, then answered 404. */
const UNKNOWN = `case_${'0'.repeat(25)}`;

describe('the read and write budgets of two instances', () => {
  it("refuses a person's reads spread over both past the one budget, with one security event", async () => {
    const op = await h.user('sb.reader', 'operator');
    const statuses: number[] = [];
    for (let i = 0; i < READS + 4; i++) statuses.push(await spread(i, '/api/me', op.cookie));
    expect(statuses.slice(0, READS)).toEqual(Array(READS).fill(200));
    expect(statuses.slice(READS)).toEqual([429, 429, 429, 429]);
    expect(await securityEvents(op.id)).toEqual(['requests-rate-limited']);
    // Someone else still has a budget of their own.
    const other = await h.user('sb.other', 'operator');
    expect(await spread(1, '/api/me', other.cookie)).toBe(200);
  });

  it("refuses a person's writes on cases spread over both past the one bound", async () => {
    const op = await h.user('sb.writer', 'operator');
    const statuses: number[] = [];
    for (let i = 0; i < WRITES + 2; i++)
      statuses.push(await spread(i, `/api/cases/${UNKNOWN}/decline`, op.cookie, 'POST'));
    expect(statuses.slice(0, WRITES)).toEqual(Array(WRITES).fill(404));
    expect(statuses.slice(WRITES)).toEqual([429, 429]);
    expect(await securityEvents(op.id)).toEqual(['case-writes-rate-limited']);
  });

  it('refuses reads of the case in hand spread over both past its one bound', async () => {
    const op = await h.user('sb.inhand', 'operator');
    const residentId = `res_sb${Date.now().toString(36)}`;
    await h.publish(h.alert({ residentId }));
    const { id } = await h.caseOf(residentId);
    expect((await h.api(`/api/cases/${id}/accept`, { method: 'POST', as: op.cookie })).status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < IN_HAND + 2; i++)
      statuses.push(await spread(i, `/api/cases/${id}/alerts`, op.cookie));
    expect(statuses.filter((s) => s === 200)).toHaveLength(IN_HAND);
    expect(statuses.slice(IN_HAND)).toEqual([429, 429]);
  });
});

import { type HelplineHandle, loadHelplineConfig, startHelpline } from '@telecare/helpline';
import { createLogger } from '@telecare/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startRegistryAndHelpline } from './support.ts';

// Attack replay: reads that return residents' personal data in bulk, called in a loop.
// `GET /api/queue/names` answers the names and districts of every resident with an open case, and
// was not limited: a script could ask it as fast as the helpline answered, each call a read of up
// to 500 residents from the registry. `GET /api/cases/{id}` answers a case's steps, with the
// responders called by name and the operators' notes, for any case id: paging through the history
// copied them, though the same case's context was already limited. Now the queue's names are
// bounded per person (QUEUE_NAMES_PER_MINUTE, counted in PostgreSQL so every instance shares the
// count), and a case outside the reader's own work counts as a read of its resident, as its
// context does. The staff list (`GET /api/users`: everyone's presence, consoles and last
// heartbeat) and the supervisor's overview (the heaviest read there is) were not bounded either: one
// stolen session could ask them without end. Both are bounded per person now, across instances.

const NAMES_LIMIT = 4;
const READS_LIMIT = 3;
const STAFF_LIMIT = 4;
const OVERVIEW_LIMIT = 3;
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;
let second: HelplineHandle;

beforeAll(async () => {
  const env = {
    QUEUE_NAMES_PER_MINUTE: String(NAMES_LIMIT),
    CONTEXT_READS_PER_HOUR: String(READS_LIMIT),
    STAFF_LIST_PER_MINUTE: String(STAFF_LIMIT),
    OVERVIEW_PER_MINUTE: String(OVERVIEW_LIMIT),
  };
  p = await startRegistryAndHelpline('secbulk', env);
  second = await startHelpline(loadHelplineConfig({ ...p.env, ...env, REGISTRY_URL: p.registry.url }), {
    logger: createLogger('secbulk-second', 'silent'),
  });
});

afterAll(async () => {
  await second?.close();
  await p?.close();
});

const securityEventsOf = async (userId: string) => {
  const events = await p.helplineCall('GET', '/api/security-events?limit=100');
  expect(events.status).toBe(200);
  return (events.json.events as { kind: string; userId: string }[]).filter((e) => e.userId === userId);
};

describe("the queue's names called in a loop", () => {
  it('are bounded per person across instances: 429 with Retry-After, counted, one security event', async () => {
    await p.caseFor(await p.resident('Queued Loopread', '4321'));
    const looper = await p.user('names.looper@example.org', 'operator');
    const statuses: number[] = [];
    for (let i = 0; i < NAMES_LIMIT + 3; i++) {
      const base = i % 2 === 0 ? p.helpline.url : second.url;
      const answer = await call(base, 'GET', '/api/queue/names', { as: looper.cookie });
      statuses.push(answer.status);
      if (answer.status === 429) {
        expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
        expect(JSON.stringify(answer.json)).not.toContain('Loopread');
      }
    }
    expect(statuses).toEqual([
      ...Array.from({ length: NAMES_LIMIT }, () => 200),
      ...Array.from({ length: 3 }, () => 429),
    ]);
    // Someone else's console is not held up by it.
    const other = await p.user('names.other@example.org', 'operator');
    const theirs = await p.helplineCall('GET', '/api/queue/names', { as: other.cookie });
    expect(theirs.status).toBe(200);
    expect(Object.values(theirs.json.names)).toContain('Queued Loopread');

    const refused = async (url: string) =>
      Number(
        /helpline_queue_names_refused_total(?:\{[^}]*\})? (\d+)/.exec(
          await (await fetch(`${url}/metrics`)).text(),
        )?.[1],
      );
    expect((await refused(p.helpline.url)) + (await refused(second.url))).toBe(3);
    expect(await securityEventsOf(looper.id)).toEqual([
      expect.objectContaining({ kind: 'queue-names-rate-limited', userId: looper.id }),
    ]);
  });
});

describe('a case read outside one’s own work', () => {
  it("counts as a read of its resident, as the case's context does; one's own case never", async () => {
    const past: string[] = [];
    for (let i = 0; i < READS_LIMIT + 1; i++) {
      const caseId = await p.caseFor(await p.resident(`History Caseread${i}`, `55${i}5`));
      expect((await p.helplineCall('POST', `/api/cases/${caseId}/accept`, { body: {} })).status).toBe(200);
      expect(
        (
          await p.helplineCall('POST', `/api/cases/${caseId}/responder-calls`, {
            body: { responderId: 'rsp_x', name: `Responder Caseread${i}`, result: 'accepted' },
          })
        ).status,
      ).toBe(201);
      const resolved = await p.helplineCall('POST', `/api/cases/${caseId}/resolve`, {
        body: { outcome: 'responder-visit', reason: 'daughter went round' },
      });
      expect(resolved.status, JSON.stringify(resolved.json)).toBe(200);
      past.push(caseId);
    }
    const reader = await p.user('case.pager@example.org', 'operator');
    const own = await p.caseFor(await p.resident('Own Caseread', '5995'));
    expect(
      (await p.helplineCall('POST', `/api/cases/${own}/accept`, { as: reader.cookie, body: {} })).status,
    ).toBe(200);
    const detail = (caseId: string) => p.helplineCall('GET', `/api/cases/${caseId}`, { as: reader.cookie });
    for (const caseId of past.slice(0, READS_LIMIT)) expect((await detail(caseId)).status).toBe(200);
    // The same resident again is free: the console reads the case again on every change of it.
    expect((await detail(past[0] as string)).status).toBe(200);
    expect((await p.helplineCall('GET', `/api/cases/${past[1]}/context`, { as: reader.cookie })).status).toBe(
      200,
    );
    const refused = await detail(past[READS_LIMIT] as string);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(JSON.stringify(refused.json)).not.toContain('Caseread');
    // The case the reader holds, as often as it is read.
    for (let i = 0; i < 3; i++) expect((await detail(own)).status).toBe(200);
    // The admin token (the deployment's program) does not.
    expect((await p.helplineCall('GET', `/api/cases/${past[READS_LIMIT]}`)).status).toBe(200);
    expect(await securityEventsOf(reader.id)).toEqual([
      expect.objectContaining({ kind: 'context-reads-rate-limited', userId: reader.id }),
    ]);
  });
});

describe("the staff list and the supervisor's overview called in a loop", () => {
  const refusedOn = async (url: string, metric: string) =>
    Number(
      new RegExp(`${metric}(?:\\{[^}]*\\})? (\\d+)`).exec(await (await fetch(`${url}/metrics`)).text())?.[1],
    );

  for (const read of [
    {
      path: '/api/users',
      limit: STAFF_LIMIT,
      metric: 'helpline_staff_list_refused_total',
      kind: 'staff-list-rate-limited',
      who: 'staff.looper@example.org',
    },
    {
      path: '/api/supervisor/overview',
      limit: OVERVIEW_LIMIT,
      metric: 'helpline_overview_refused_total',
      kind: 'overview-rate-limited',
      who: 'overview.looper@example.org',
    },
  ])
    it(`${read.path} is bounded per person across instances: 429 with Retry-After, counted, one security event`, async () => {
      const looper = await p.user(read.who, 'supervisor');
      const statuses: number[] = [];
      for (let i = 0; i < read.limit + 3; i++) {
        const base = i % 2 === 0 ? p.helpline.url : second.url;
        const answer = await call(base, 'GET', read.path, { as: looper.cookie });
        statuses.push(answer.status);
        if (answer.status === 429) {
          expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
          expect(JSON.stringify(answer.json)).not.toContain('@example.org');
        }
      }
      expect(statuses).toEqual([
        ...Array.from({ length: read.limit }, () => 200),
        ...Array.from({ length: 3 }, () => 429),
      ]);
      // Another supervisor's console is not held up by it, nor the deployment's own program.
      const other = await p.user(`other.${read.who}`, 'supervisor');
      expect((await p.helplineCall('GET', read.path, { as: other.cookie })).status).toBe(200);
      expect((await p.helplineCall('GET', read.path)).status).toBe(200);
      expect(
        (await refusedOn(p.helpline.url, read.metric)) + (await refusedOn(second.url, read.metric)),
      ).toBe(3);
      expect(await securityEventsOf(looper.id)).toEqual([
        expect.objectContaining({ kind: read.kind, userId: looper.id }),
      ]);
    });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: an operator pages through every case, resolved ones and colleagues' included,
// reading each resident's context (name, address, phone, responders) and the numbers to call. The
// reads were logged with who read whom, but nothing stopped them. Now reads of residents whose case
// is not the reader's own (held by or offered to them, or waiting in the queue for anyone) are
// limited per person (distinct residents per hour): 429 with Retry-After, counted, and a security
// event for a supervisor. The case an operator holds is never limited.

const LIMIT = 3;
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secctx', { CONTEXT_READS_PER_HOUR: String(LIMIT) });
});

afterAll(async () => {
  await p?.close();
});

const resolve = async (caseId: string) => {
  expect((await p.helplineCall('POST', `/api/cases/${caseId}/accept`, { body: {} })).status).toBe(200);
  const resolved = await p.helplineCall('POST', `/api/cases/${caseId}/resolve`, {
    body: { outcome: 'false-alarm', reason: 'pressed by mistake' },
  });
  expect(resolved.status, JSON.stringify(resolved.json)).toBe(200);
};

describe("reads of residents' context outside one's own cases", () => {
  it('are limited per person: 429 with Retry-After, counted, a security event; the case held is never limited', async () => {
    // Resolved cases of LIMIT + 2 residents: history, not anyone's work now.
    const past: string[] = [];
    for (let i = 0; i < LIMIT + 2; i++) {
      const residentId = await p.resident(`Past Resident${i}`, `11${i}1`);
      const caseId = await p.caseFor(residentId);
      await resolve(caseId);
      past.push(caseId);
    }
    const reader = await p.user('bulk.reader@example.org', 'operator');
    const other = await p.user('other.reader@example.org', 'operator');

    // The reader's own case: accepted by them.
    const ownResident = await p.resident('Own Resident', '9999');
    const ownCase = await p.caseFor(ownResident);
    expect(
      (await p.helplineCall('POST', `/api/cases/${ownCase}/accept`, { as: reader.cookie, body: {} })).status,
    ).toBe(200);

    const context = (caseId: string, as = reader.cookie) =>
      p.helplineCall('GET', `/api/cases/${caseId}/context`, { as });
    for (const caseId of past.slice(0, LIMIT)) expect((await context(caseId)).status).toBe(200);
    // A resident already read is read again freely (the console reads the case view again on
    // every change of the case).
    expect((await context(past[0] as string)).status).toBe(200);
    expect(
      (await p.helplineCall('GET', `/api/cases/${past[1]}/call-targets`, { as: reader.cookie })).status,
    ).toBe(200);

    const refused = await context(past[LIMIT] as string);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(JSON.stringify(refused.json)).not.toContain('Past Resident');
    const targets = await p.helplineCall('GET', `/api/cases/${past[LIMIT + 1]}/call-targets`, {
      as: reader.cookie,
    });
    expect(targets.status).toBe(429);

    // Life safety: the case the reader holds, read as often as it is read.
    for (let i = 0; i < 3; i++) {
      const own = await context(ownCase);
      expect(own.status).toBe(200);
      expect(JSON.stringify(own.json)).toContain('Own Resident');
      expect(
        (await p.helplineCall('GET', `/api/cases/${ownCase}/call-targets`, { as: reader.cookie })).status,
      ).toBe(200);
    }
    // A new case waiting in the queue is anyone's to look at before accepting it.
    const queuedResident = await p.resident('Queued Resident', '8888');
    const queued = await p.caseFor(queuedResident);
    expect((await context(queued)).status).toBe(200);

    // Another person has a limit of their own.
    expect((await context(past[LIMIT] as string, other.cookie)).status).toBe(200);

    // Counted, and one security event for a supervisor, naming the reader by id.
    const metrics = await (await fetch(`${p.helpline.url}/metrics`)).text();
    expect(metrics).toMatch(/helpline_context_reads_refused_total\{[^}]*\} 2/);
    const events = await p.helplineCall('GET', '/api/security-events?limit=50');
    expect(events.status).toBe(200);
    const mine = (events.json.events as { kind: string; userId: string }[]).filter(
      (e) => e.userId === reader.id,
    );
    expect(mine).toEqual([
      expect.objectContaining({ kind: 'context-reads-rate-limited', userId: reader.id }),
    ]);
    expect(JSON.stringify(mine)).not.toContain('Past Resident');
  });

  it("counts a case's device events timeline as a read of its resident, as the case view is", async () => {
    // The timeline is the resident's days at home (in bed, up, out, the door at night, the
    // medication taken or not): it used to be read on any case, resolved ones and colleagues'
    // included, as often as asked, while the case view and context of the same case were refused.
    const reader = await p.user('timeline.reader@example.org', 'operator');
    const past: string[] = [];
    for (let i = 0; i < LIMIT + 1; i++) {
      const caseId = await p.caseFor(await p.resident(`Timeline Resident${i}`, `33${i}3`));
      await resolve(caseId);
      past.push(caseId);
    }
    const timeline = (caseId: string) =>
      p.helplineCall('GET', `/api/cases/${caseId}/timeline?hours=24`, { as: reader.cookie });
    const statuses: number[] = [];
    for (const caseId of past) statuses.push((await timeline(caseId)).status);
    expect(statuses).toEqual([...past.slice(0, LIMIT).map(() => 200), 429]);
    const refused = await timeline(past[LIMIT] as string);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // The case view of a resident whose timeline was read is that resident again: free.
    expect((await p.helplineCall('GET', `/api/cases/${past[0]}`, { as: reader.cookie })).status).toBe(200);
    expect((await timeline(past[0] as string)).status).toBe(200);

    // The case the reader holds, never limited.
    const own = await p.caseFor(await p.resident('Timeline Own', '4434'));
    expect(
      (await p.helplineCall('POST', `/api/cases/${own}/accept`, { as: reader.cookie, body: {} })).status,
    ).toBe(200);
    expect((await timeline(own)).status).toBe(200);
  });

  it("limits reads of a case another operator holds, not a supervisor's of any open case", async () => {
    const holder = await p.user('holder@example.org', 'operator');
    const looker = await p.user('looker@example.org', 'operator');
    const supervisor = await p.user('watcher@example.org', 'supervisor');
    const held: string[] = [];
    for (let i = 0; i < LIMIT + 1; i++) {
      const caseId = await p.caseFor(await p.resident(`Held Resident${i}`, `22${i}2`));
      expect(
        (await p.helplineCall('POST', `/api/cases/${caseId}/accept`, { as: holder.cookie, body: {} })).status,
      ).toBe(200);
      held.push(caseId);
    }
    const statuses: number[] = [];
    for (const caseId of held)
      statuses.push(
        (await p.helplineCall('GET', `/api/cases/${caseId}/context`, { as: looker.cookie })).status,
      );
    expect(statuses).toEqual([...held.slice(0, LIMIT).map(() => 200), 429]);
    for (const caseId of held)
      expect(
        (await p.helplineCall('GET', `/api/cases/${caseId}/context`, { as: supervisor.cookie })).status,
      ).toBe(200);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replays (issue: bulk reveal of key-safe codes). Each ran against the registry and the
// helpline as deployed and read codes it had no business reading.

let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;
let residents: string[];

beforeAll(async () => {
  p = await startRegistryAndHelpline('secrev');
  residents = [];
  for (let i = 0; i < 3; i++) residents.push(await p.resident(`Resident ${i}`, `KS-${i}-1966`));
});

afterAll(async () => {
  await p?.close();
});

describe('the registry reveals to no person-role token', () => {
  it.each(['operator', 'supervisor', 'installer', 'commissioner'])(
    'a %s token can list residents but reveals no key-safe code, with or without a case',
    async (role) => {
      const token = await p.registryToken(role);
      for (const residentId of residents) {
        const plain = await p.registryCall('POST', `/api/residents/${residentId}/reveal`, {
          as: token,
          body: { fields: ['keySafe', 'medicalSummary'], reason: 'bulk export' },
        });
        expect(plain.status).toBe(403);
        const posing = await p.registryCall('POST', `/api/residents/${residentId}/reveal`, {
          as: token,
          body: {
            fields: ['keySafe'],
            reason: 'on a call',
            caseId: 'case_made_up_0001',
            actor: { id: 'usr_someone', role: 'operator' },
          },
        });
        expect(posing.status).toBe(403);
        expect(JSON.stringify([plain.json, posing.json])).not.toContain('1966');
      }
      const reads = await p.registryCall('GET', `/api/residents/${residents[0]}/audit`);
      expect(reads.json.reads).toEqual([]);
    },
  );

  it("the helpline's own token reveals only naming a case and the person, recorded as such", async () => {
    const helplineToken = p.env.HELPLINE_REGISTRY_TOKEN ?? '';
    expect(helplineToken).not.toBe('');
    expect(helplineToken).not.toBe(p.admin);
    const residentId = residents[1] ?? '';
    const noCase = await p.registryCall('POST', `/api/residents/${residentId}/reveal`, {
      as: helplineToken,
      body: { fields: ['keySafe'], reason: 'no case' },
    });
    expect(noCase.status).toBe(400);
    expect(JSON.stringify(noCase.json)).toMatch(/caseId/);
    const ok = await p.registryCall('POST', `/api/residents/${residentId}/reveal`, {
      as: helplineToken,
      body: {
        fields: ['keySafe'],
        reason: 'ambulance at the door',
        caseId: 'case_registry_direct_1',
        actor: { id: 'usr_direct', role: 'operator' },
      },
    });
    expect(ok.status).toBe(200);
    expect(ok.json.keySafe).toBe('KS-1-1966');
    const audit = await p.registryCall('GET', `/api/residents/${residentId}/audit`);
    expect(audit.json.reads.at(-1)).toMatchObject({
      field: 'keySafe',
      caseId: 'case_registry_direct_1',
      actor: { id: 'usr_direct', role: 'operator' },
      via: { role: 'helpline-service' },
      reason: 'ambulance at the door',
    });
    // The service token writes nothing and mints nothing.
    const write = await p.registryCall('POST', '/api/residents', {
      as: helplineToken,
      body: { name: 'Intruder', address: 'x', postcode: 'GL1 1AA' },
    });
    expect(write.status).toBe(403);
    const mint = await p.registryCall('POST', '/api/tokens', {
      as: helplineToken,
      body: { name: 'escalate', role: 'admin' },
    });
    expect(mint.status).toBe(403);
  });
});

describe('the helpline reveals only on an open case the caller holds', () => {
  it('an operator is refused on a queued case, on a colleague’s case and on a resolved one; the holder is not', async () => {
    const residentId = residents[2] ?? '';
    const caseId = await p.caseFor(residentId);
    const mallory = await p.user('mallory@example.org', 'operator');
    const olive = await p.user('olive@example.org', 'operator');
    const reveal = (as: string) =>
      p.helplineCall('POST', `/api/cases/${caseId}/reveal`, { as, body: { field: 'keySafe' } });

    const queued = await reveal(mallory.cookie);
    expect(queued.status).toBe(403);
    expect(queued.json?.value).toBeUndefined();

    expect((await p.helplineCall('POST', `/api/cases/${caseId}/accept`, { as: olive.cookie })).status).toBe(
      200,
    );
    const colleagues = await reveal(mallory.cookie);
    expect(colleagues.status).toBe(403);
    expect(JSON.stringify(colleagues.json)).not.toContain('1966');

    const holder = await reveal(olive.cookie);
    expect(holder.status).toBe(200);
    expect(holder.json.value).toBe('KS-2-1966');

    // The registry's audit names the case and the operator as data, and the helpline as the caller.
    const audit = await p.registryCall('GET', `/api/residents/${residentId}/audit`);
    expect(audit.json.reads).toEqual([
      expect.objectContaining({
        field: 'keySafe',
        caseId,
        actor: expect.objectContaining({ id: olive.id, role: 'operator' }),
        via: expect.objectContaining({ role: 'helpline-service' }),
      }),
    ]);

    const resolved = await p.helplineCall('POST', `/api/cases/${caseId}/resolve`, {
      as: olive.cookie,
      body: { outcome: 'reassurance-given', reason: 'all well' },
    });
    expect(resolved.status).toBe(200);
    expect((await reveal(olive.cookie)).status).toBe(403);
    const supervisor = await p.user('sue@example.org', 'supervisor');
    expect((await reveal(supervisor.cookie)).status).toBe(403);
    // Refusals reveal nothing and are not passed to the registry.
    const after = await p.registryCall('GET', `/api/residents/${residentId}/audit`);
    expect(after.json.reads).toHaveLength(1);
  });

  it('a supervisor may reveal on any open case', async () => {
    const residentId = await p.resident('Supervised Resident', 'KS-S-1966');
    const caseId = await p.caseFor(residentId);
    const supervisor = await p.user('sam@example.org', 'supervisor');
    const answer = await p.helplineCall('POST', `/api/cases/${caseId}/reveal`, {
      as: supervisor.cookie,
      body: { field: 'keySafe', reason: 'checking for the operator' },
    });
    expect(answer.status).toBe(200);
    expect(answer.json.value).toBe('KS-S-1966');
  });

  it('a burst of reveals answers 429 and raises one security event a supervisor sees', async () => {
    const residentId = await p.resident('Burst Resident', 'KS-B-1966');
    const caseId = await p.caseFor(residentId);
    const bob = await p.user('bob@example.org', 'operator');
    expect((await p.helplineCall('POST', `/api/cases/${caseId}/accept`, { as: bob.cookie })).status).toBe(
      200,
    );
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 30; i++) {
      const answer = await p.helplineCall('POST', `/api/cases/${caseId}/reveal`, {
        as: bob.cookie,
        body: { field: i % 2 ? 'keySafe' : 'medical' },
      });
      statuses.push(answer.status);
      if (answer.status === 429) retryAfter = answer.headers.get('retry-after');
    }
    const allowed = statuses.filter((s) => s === 200).length;
    expect(allowed).toBeGreaterThan(0);
    expect(allowed).toBeLessThanOrEqual(10);
    expect(statuses.slice(allowed).every((s) => s === 429)).toBe(true);
    expect(Number(retryAfter)).toBeGreaterThan(0);

    const supervisor = await p.user('sid@example.org', 'supervisor');
    const events = await p.helplineCall('GET', '/api/security-events', { as: supervisor.cookie });
    expect(events.status).toBe(200);
    const mine = (events.json.events as { kind: string; userId: string }[]).filter(
      (e) => e.userId === bob.id,
    );
    expect(mine).toEqual([expect.objectContaining({ kind: 'reveal-rate-limited', userId: bob.id, caseId })]);
    expect((await p.helplineCall('GET', '/api/security-events', { as: bob.cookie })).status).toBe(403);
    // Only what was allowed reached the registry's audit.
    const audit = await p.registryCall('GET', `/api/residents/${residentId}/audit`);
    expect(audit.json.reads).toHaveLength(allowed);
  });

  it('the registry limits its own callers as well: a burst from the helpline token for one person is refused', async () => {
    const residentId = await p.resident('Direct Burst', 'KS-D-1966');
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const answer = await p.registryCall('POST', `/api/residents/${residentId}/reveal`, {
        as: p.env.HELPLINE_REGISTRY_TOKEN ?? '',
        body: {
          fields: ['keySafe'],
          reason: 'burst',
          caseId: 'case_burst_0001',
          actor: { id: 'usr_burst', role: 'operator' },
        },
      });
      statuses.push(answer.status);
    }
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(20);
  });
});

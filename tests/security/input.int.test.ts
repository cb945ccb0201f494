import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: NUL characters in text fields answered 500 (PostgreSQL refused them at the
// insert), so a client learnt nothing about what was wrong and the error log filled up.

let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secinput');
});

afterAll(async () => {
  await p?.close();
});

describe('NUL in a text field is refused with a 400 naming the field', () => {
  it('at the registry: bodies and path parameters', async () => {
    const created = await p.registryCall('POST', '/api/residents', {
      body: { name: 'Ann\u0000Other', address: '1 Row', postcode: 'GL1 1AA', keySafe: '12\u000034' },
    });
    expect(created.status).toBe(400);
    expect(created.json.issues.map((i: { path: string }) => i.path).sort()).toEqual(['keySafe', 'name']);

    const residentId = await p.resident('Nul Test', '1966');
    const responder = await p.registryCall('POST', `/api/residents/${residentId}/responders`, {
      body: { name: 'Sam', relationship: 'son\u0000', phone: '07700 900001' },
    });
    expect(responder.status).toBe(400);
    expect(responder.json.issues).toEqual([expect.objectContaining({ path: 'relationship' })]);

    const path = await p.registryCall('GET', '/api/residents/res_%00abc');
    expect(path.status).toBe(400);
    expect(JSON.stringify(path.json)).toContain('params.id');
  });

  it('at the helpline: case notes and user names', async () => {
    const residentId = await p.resident('Nul Case', '1966');
    const caseId = await p.caseFor(residentId);
    const note = await p.helplineCall('POST', `/api/cases/${caseId}/notes`, {
      body: { text: 'called\u0000' },
    });
    expect(note.status).toBe(400);
    expect(note.json.message).toMatch(/^text: .*NUL/);
    const user = await p.helplineCall('POST', '/api/users', {
      body: { username: 'nul@example.org', name: 'N\u0000', role: 'operator', password: 'Long-enough-pw-1' },
    });
    expect(user.status).toBe(400);
    expect(user.json.message).toMatch(/^name: /);
  });
});

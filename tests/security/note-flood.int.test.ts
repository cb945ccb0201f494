import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRegistryAndHelpline } from './support.ts';

// Attack replay: a stolen operator session writes notes of 4,000 characters on a case a colleague
// is working, as fast as the helpline takes them. Each note is a step of the case sent to every
// console, and the case view carries every note, read again by the console on every change of the
// case: 2,000 notes in under a minute made the view of a resident's alarm call 8 MB, and nothing
// bounded them. Now the steps a person writes by hand (notes, responders' answers, 999 calls) are
// bounded per person (NOTES_PER_MINUTE, counted in PostgreSQL across instances): 429 with
// Retry-After, counted, and a security event at the first refusal of a burst. A retry of a note
// already written (its Idempotency-Key) is still answered.

const LIMIT = 4;
let p: Awaited<ReturnType<typeof startRegistryAndHelpline>>;

beforeAll(async () => {
  p = await startRegistryAndHelpline('secnotes', { NOTES_PER_MINUTE: String(LIMIT) });
});

afterAll(async () => {
  await p?.close();
});

describe('notes written in a loop', () => {
  it('are bounded per person: 429 with Retry-After, counted, one security event; the holder still writes', async () => {
    const holder = await p.user('notes.holder@example.org', 'operator');
    const flooder = await p.user('notes.flooder@example.org', 'operator');
    const caseId = await p.caseFor(await p.resident('Noted Resident', '7171'));
    expect(
      (await p.helplineCall('POST', `/api/cases/${caseId}/accept`, { as: holder.cookie, body: {} })).status,
    ).toBe(200);
    const note = (as: string, text: string, key?: string) =>
      p.helplineCall('POST', `/api/cases/${caseId}/notes`, {
        as,
        body: { text },
        ...(key ? { headers: { 'idempotency-key': key } } : {}),
      });
    const long = 'x'.repeat(4000);

    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 3; i++)
      statuses.push((await note(flooder.cookie, long, `flood-note-${i}-0000`)).status);
    expect(statuses).toEqual([
      ...Array.from({ length: LIMIT }, () => 201),
      ...Array.from({ length: 3 }, () => 429),
    ]);
    const refused = await note(flooder.cookie, long);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // A lost answer retried: the note already written, answered, not refused.
    const retried = await note(flooder.cookie, long, 'flood-note-0-0000');
    expect(retried.status).toBe(200);
    // The same key on another case is another note: counted, so refused.
    const elsewhere = await p.caseFor(await p.resident('Other Noted', '7272'));
    const again = await p.helplineCall('POST', `/api/cases/${elsewhere}/notes`, {
      as: flooder.cookie,
      body: { text: long },
      headers: { 'idempotency-key': 'flood-note-0-0000' },
    });
    expect(again.status).toBe(429);

    // The operator working the case is not held up by someone else's flood.
    expect((await note(holder.cookie, 'daughter on her way')).status).toBe(201);
    const steps = (await p.helplineCall('GET', `/api/cases/${caseId}`, { as: holder.cookie })).json
      .events as {
      kind: string;
      actor: string;
    }[];
    expect(steps.filter((s) => s.kind === 'note' && s.actor === flooder.id)).toHaveLength(LIMIT);

    const metrics = await (await fetch(`${p.helpline.url}/metrics`)).text();
    expect(metrics).toMatch(/helpline_notes_refused_total(?:\{[^}]*\})? 5/);
    const events = await p.helplineCall('GET', '/api/security-events?limit=100');
    expect(
      (events.json.events as { kind: string; userId: string }[]).filter((e) => e.userId === flooder.id),
    ).toEqual([expect.objectContaining({ kind: 'notes-rate-limited', userId: flooder.id, caseId })]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// An Idempotency-Key makes a retried click one step: the same person's same action again is
// answered with the step written first. A key was looked up by case alone, so another person's
// request, or another action, carrying a key already used on the case was answered as done (200, the
// first step) and nothing was written: a colleague's note dropped and shown someone else's text, a
// resolution answered 200 with the case still accepted.
let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  h = await helplineHarness('hlkeys');
  await h.start();
});

afterAll(async () => {
  await h?.close();
});

type Step = { id: string; kind: string; actor: string; data: Record<string, unknown> };

describe('an Idempotency-Key already used on the case', () => {
  it("is refused for another person's request or another action, and still answers a retry", async () => {
    const alice = await h.user('keys.alice@example.org', 'operator');
    const bob = await h.user('keys.bob@example.org', 'operator');
    const desk = await h.openConsole(alice.cookie);
    const residentId = `res_keys${Date.now().toString(36)}`;
    await h.publish(h.alert({ residentId }));
    const c = await h.caseOf(residentId);
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: alice.cookie })).status).toBe(200);
    const note = (text: string, as: string, key: string) =>
      h.api(`/api/cases/${c.id}/notes`, { method: 'POST', body: { text }, as, key });
    const resolve = (key: string) =>
      h.api(`/api/cases/${c.id}/resolve`, {
        method: 'POST',
        body: { outcome: 'false-alarm', reason: 'pressed by mistake' },
        as: alice.cookie,
        key,
      });

    const first = await note('key safe code agreed with the daughter', alice.cookie, 'note-0001-shared');
    expect(first.status).toBe(201);

    // Bob's note under Alice's key: refused, his note not taken for hers, her text not shown to him.
    const bobs = await note('neighbour has a key', bob.cookie, 'note-0001-shared');
    expect(bobs.status).toBe(422);
    expect(bobs.json.error).toBe('idempotency-key-reused');
    expect(JSON.stringify(bobs.json)).not.toContain('daughter');

    // Alice's resolution under her note's key: refused, not answered as done.
    const resolved = await resolve('note-0001-shared');
    expect(resolved.status).toBe(422);
    expect(resolved.json.error).toBe('idempotency-key-reused');
    expect((await h.detail(c.id)).state).toBe('accepted');

    // Her own note again (a lost answer): the first step, nothing written twice.
    const retried = await note('key safe code agreed with the daughter', alice.cookie, 'note-0001-shared');
    expect(retried.status).toBe(200);
    expect(retried.json.id).toBe(first.json.id);

    // With keys of their own both are done.
    expect((await note('neighbour has a key', bob.cookie, 'note-0002-bob')).status).toBe(201);
    const done = await resolve('resolve-0001-alice');
    expect(done.status).toBe(200);
    expect(done.json.state).toBe('resolved');
    const steps = (await h.detail(c.id)).events as Step[];
    expect(steps.filter((s) => s.kind === 'note').map((s) => [s.actor, s.data.text])).toEqual([
      [alice.id, 'key safe code agreed with the daughter'],
      [bob.id, 'neighbour has a key'],
    ]);
    expect(steps.filter((s) => s.kind === 'resolved')).toHaveLength(1);
    desk.close();
  });
});

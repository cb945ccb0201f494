import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// A long night on one case (a resident who keeps pressing, a shift handing over) gathers notes,
// and the case view carried every one of them, read again by each console on every change of the
// case. Now the view carries the newest CASE_VIEW_NOTES notes with the count of those left out and
// a cursor to the older ones, which `GET /api/cases/{id}/notes` reads a page at a time.
const SHOWN = 4;
const NOTES = 11;
let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  h = await helplineHarness('casenotes', { CASE_VIEW_NOTES: String(SHOWN) });
  await h.start();
});

afterAll(async () => {
  await h?.close();
});

type Step = { id: string; kind: string; data: Record<string, unknown> };

describe('the notes of a case with more of them than the view carries', () => {
  it('are the newest CASE_VIEW_NOTES in the view, with a count and a cursor to page through the older', async () => {
    const op = await h.user('notes.op@example.org', 'operator');
    const residentId = `res_notes${Date.now().toString(36)}`;
    await h.publish(h.alert({ residentId }));
    const c = await h.caseOf(residentId);
    expect((await h.api(`/api/cases/${c.id}/accept`, { method: 'POST', as: op.cookie })).status).toBe(200);
    for (let i = 1; i <= NOTES; i++) {
      const r = await h.api(`/api/cases/${c.id}/notes`, {
        method: 'POST',
        body: { text: `note ${i}` },
        as: op.cookie,
      });
      expect(r.status).toBe(201);
    }

    const view = await h.api(`/api/cases/${c.id}`, { as: op.cookie });
    expect(view.status).toBe(200);
    const steps = view.json.events as Step[];
    const texts = (list: Step[]) => list.filter((s) => s.kind === 'note').map((s) => s.data.text);
    expect(texts(steps)).toEqual(['note 8', 'note 9', 'note 10', 'note 11']);
    // Every other step is still there: the case opened, accepted.
    expect(steps.map((s) => s.kind)).toEqual(expect.arrayContaining(['opened', 'accepted']));
    expect(view.json.notesLeftOut).toBe(NOTES - SHOWN);
    expect(typeof view.json.olderNotes).toBe('string');

    // Older notes, newest first, a page at a time, until the cursor runs out.
    const older: Step[] = [];
    let cursor: string | null = view.json.olderNotes;
    let pages = 0;
    while (cursor) {
      const page = await h.api(`/api/cases/${c.id}/notes?limit=3&before=${encodeURIComponent(cursor)}`, {
        as: op.cookie,
      });
      expect(page.status, JSON.stringify(page.json)).toBe(200);
      expect(page.json.total).toBe(NOTES);
      older.push(...(page.json.events as Step[]));
      cursor = page.json.next;
      pages += 1;
      expect(pages).toBeLessThan(10);
    }
    expect(pages).toBe(3);
    expect(texts(older)).toEqual(['note 7', 'note 6', 'note 5', 'note 4', 'note 3', 'note 2', 'note 1']);

    // From the newest, without a cursor: the first page of all.
    const newest = await h.api(`/api/cases/${c.id}/notes?limit=2`, { as: op.cookie });
    expect(texts(newest.json.events), JSON.stringify(newest.json)).toEqual(['note 11', 'note 10']);

    // A cursor this case's notes did not give is refused, naming it.
    await h.publish(h.alert({ residentId: `${residentId}b` }));
    const other = await h.caseOf(`${residentId}b`);
    const foreign = await h.api(
      `/api/cases/${other.id}/notes?before=${encodeURIComponent(view.json.olderNotes)}`,
      {
        as: op.cookie,
      },
    );
    expect(foreign.status).toBe(400);
    expect(JSON.stringify(foreign.json)).toContain('before');
    const junk = await h.api(`/api/cases/${c.id}/notes?before=not-a-cursor`, { as: op.cookie });
    expect(junk.status).toBe(400);
  });

  it('has no cursor when every note is in the view', async () => {
    const residentId = `res_fewnotes${Date.now().toString(36)}`;
    await h.publish(h.alert({ residentId }));
    const c = await h.caseOf(residentId);
    const view = await h.api(`/api/cases/${c.id}`);
    expect(view.json.notesLeftOut).toBe(0);
    expect(view.json.olderNotes).toBeNull();
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// A write on a case answers the case's summary, as the list and the live stream give it: a hold
// says until when and at what priority, not why. The reason is the holder's words, read in the case
// view, which logs who read them: a supervisor reassigning a held case, or a colleague taking it,
// learns it only by reading the view.
const REASON = 'daughter Sue is driving over, ring back when she is there';
let h: Awaited<ReturnType<typeof helplineHarness>>;
let serial = 0;

beforeAll(async () => {
  h = await helplineHarness('writeanswers', { TIMER_TICK_MS: '60000' });
  await h.start();
});
afterAll(() => h?.close());

/** A new queued case, of a resident of its own. */
const newCase = async (): Promise<string> => {
  serial += 1;
  const residentId = `res_wa${serial}${Date.now().toString(36)}`;
  await h.publish(h.alert({ residentId }));
  return (await h.caseOf(residentId)).id;
};

const post = (id: string, action: string, as: string, body?: unknown, key?: string) =>
  h.api(`/api/cases/${id}/${action}`, {
    method: 'POST',
    as,
    ...(body === undefined ? {} : { body }),
    ...(key ? { key } : {}),
  });

/** Accepted and put on hold by `as`, with the reason. */
const heldBy = async (as: string) => {
  const id = await newCase();
  expect((await post(id, 'accept', as)).status).toBe(200);
  const held = await post(id, 'hold', as, {
    until: new Date(Date.now() + 30 * 60_000).toISOString(),
    reason: REASON,
    returnPriority: 1,
  });
  expect(held.status).toBe(200);
  return { id, held };
};

describe('what a write on a case answers', () => {
  it('answers a hold with its time and priority, not its reason, which the case view keeps', async () => {
    const anna = await h.user('wa.anna', 'operator');
    const { id, held } = await heldBy(anna.cookie);
    expect(held.json).toMatchObject({ id, state: 'on_hold', hold: { returnPriority: 1 } });
    expect(held.json.hold.until).toEqual(expect.any(String));
    expect(JSON.stringify(held.json)).not.toContain(REASON);
    // The case view, which is audited, still has it.
    expect((await h.api(`/api/cases/${id}`, { as: anna.cookie })).json.hold.reason).toBe(REASON);
  });

  it("gives a supervisor reassigning someone's held case no reason", async () => {
    const anna = await h.user('wa.anna2', 'operator');
    const ben = await h.user('wa.ben', 'operator');
    const sup = await h.user('wa.sup', 'supervisor');
    const benConsole = await h.openConsole(ben.cookie);
    try {
      const { id } = await heldBy(anna.cookie);
      const moved = await post(id, 'reassign', sup.cookie, { to: ben.id, reason: 'anna went home' });
      expect(moved.status).toBe(200);
      expect(moved.json).toMatchObject({ id, state: 'on_hold', assignedTo: ben.id });
      expect(moved.json.hold.until).toEqual(expect.any(String));
      expect(JSON.stringify(moved.json)).not.toContain(REASON);
    } finally {
      benConsole.close();
    }
  });

  it("gives a supervisor taking someone's held case no reason, on the first accept or a retried one", async () => {
    const anna = await h.user('wa.anna3', 'operator');
    const sup = await h.user('wa.sup3', 'supervisor');
    const annaConsole = await h.openConsole(anna.cookie);
    try {
      const { id } = await heldBy(anna.cookie);
      const taken = await post(id, 'accept', sup.cookie, undefined, 'sup-takes-it');
      expect(taken.status).toBe(200);
      expect(taken.json).toMatchObject({ id, state: 'accepted', assignedTo: sup.id });
      expect(JSON.stringify(taken.json)).not.toContain(REASON);
      // Back to Anna, who holds it again with new words: the supervisor's retried accept (a click
      // repeated under its key) answers the case as it is now, without them either.
      expect((await post(id, 'reassign', sup.cookie, { to: anna.id, reason: 'yours again' })).status).toBe(
        200,
      );
      const annasWords = 'resident asleep, her son says try after lunch';
      expect(
        (
          await post(id, 'hold', anna.cookie, {
            until: new Date(Date.now() + 60 * 60_000).toISOString(),
            reason: annasWords,
          })
        ).status,
      ).toBe(200);
      const retried = await post(id, 'accept', sup.cookie, undefined, 'sup-takes-it');
      expect(retried.status).toBe(200);
      expect(retried.json).toMatchObject({ id, state: 'on_hold', assignedTo: anna.id });
      expect(JSON.stringify(retried.json)).not.toContain(annasWords);
    } finally {
      annaConsole.close();
    }
  });

  it('answers a resolution with the summary as well', async () => {
    const dora = await h.user('wa.dora', 'operator');
    const { id } = await heldBy(dora.cookie);
    expect((await post(id, 'accept', dora.cookie)).status).toBe(200);
    const resolved = await post(id, 'resolve', dora.cookie, {
      outcome: 'reassurance-given',
      reason: 'Spoke to the resident, all well',
    });
    expect(resolved.status).toBe(200);
    expect(resolved.json).toMatchObject({ id, state: 'resolved' });
    expect(JSON.stringify(resolved.json)).not.toContain(REASON);
  });
});

import { partitionOf } from '@telecare/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { helplineHarness } from './harness.ts';

// A case's device events are read from EVENTS by scanning the resident's partition, up to 20,000
// messages a read (seconds each on a busy partition). One session asking for them twenty times at
// once held the helpline for minutes (2.4 s alone, 154 s for the twenty), every read of anyone's
// waiting behind. Now one person has at most TIMELINE_READS_AT_ONCE reads running on an instance;
// another is 429 with Retry-After until one ends, and other people's reads are not held back.

const AT_ONCE = 2;
let h: Awaited<ReturnType<typeof helplineHarness>>;

beforeAll(async () => {
  h = await helplineHarness('hltimeline', { TIMELINE_READS_AT_ONCE: String(AT_ONCE) });
  await h.ensureEvents();
  await h.start();
});

afterAll(async () => {
  await h?.close();
});

describe("a case's device events asked for many times at once", () => {
  it('are read at most TIMELINE_READS_AT_ONCE at a time per person; the rest 429 with Retry-After', async () => {
    const residentId = `res_tl${Date.now().toString(36)}`;
    const partition = partitionOf(residentId, 8);
    // A busy partition: the neighbours' heartbeats, so each read takes a while.
    const neighbours = Array.from({ length: 400 }, (_, i) => `res_nb${i}${residentId}`).filter(
      (id) => partitionOf(id, 8) === partition,
    );
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < 20_000; i++) {
      sent.push(h.deviceEvent(neighbours[i % neighbours.length] as string, `PEN-NB${i % 40}`, 'heartbeat'));
      if (sent.length >= 500) await Promise.all(sent.splice(0));
    }
    await Promise.all(sent);
    await h.publish(h.alert({ residentId }));
    const c = await h.caseOf(residentId);
    const reader = await h.user('timeline.reader@example.org', 'operator');
    const other = await h.user('timeline.other@example.org', 'operator');
    const timeline = (as: string) => h.api(`/api/cases/${c.id}/timeline?hours=24`, { as });

    const answers = await Promise.all([
      ...Array.from({ length: 6 }, () => timeline(reader.cookie)),
      timeline(other.cookie),
    ]);
    const mine = answers.slice(0, 6);
    expect(mine.filter((a) => a.status === 200)).toHaveLength(AT_ONCE);
    const refused = mine.filter((a) => a.status === 429);
    expect(refused).toHaveLength(6 - AT_ONCE);
    expect(refused[0]?.json.error).toBe('too-many-requests');
    // Another person's read is not held back by them.
    expect(answers[6]?.status).toBe(200);
    expect(answers[6]?.json.scanned).toBeGreaterThan(0);
    // Once theirs end, the reader reads again.
    expect((await timeline(reader.cookie)).status).toBe(200);
  }, 180_000);
});

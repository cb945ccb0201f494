import { describe, expect, it } from 'vitest';
import { NAME_RETRY_STEADY_MS, NameAsks, nameRetryDelay } from './name-asks.ts';

describe("the queue's names asked again", () => {
  it('after 1 s, 2 s and 4 s, then every 15 s', () => {
    expect([1, 2, 3, 4, 5, 50].map(nameRetryDelay)).toEqual([1_000, 2_000, 4_000, 15_000, 15_000, 15_000]);
    expect(NAME_RETRY_STEADY_MS).toBe(15_000);
  });

  it('a resident missed in a row is due at each step of the schedule, and not while its ask is on its way', () => {
    const asks = new NameAsks();
    let now = 0;
    expect(asks.due('res_a', now)).toBe(true);
    const dueAt: number[] = [];
    for (let round = 0; round < 5; round++) {
      asks.asking('res_a');
      // Not asked twice at once, however long its answer takes.
      expect(asks.due('res_a', now + 60_000)).toBe(false);
      expect(asks.nextDue(['res_a'])).toBeUndefined();
      now += 300; // the answer's round trip
      asks.missed('res_a', now);
      const next = asks.nextDue(['res_a']) as number;
      expect(asks.due('res_a', next - 1)).toBe(false);
      expect(asks.due('res_a', next)).toBe(true);
      dueAt.push(next - now);
      now = next;
    }
    expect(dueAt).toEqual([1_000, 2_000, 4_000, 15_000, 15_000]);
  });

  it('starts again from 1 s once named, and waits out a refusal', () => {
    const asks = new NameAsks();
    asks.asking('res_b');
    asks.missed('res_b', 0);
    asks.asking('res_b');
    asks.missed('res_b', 1_000);
    asks.named('res_b');
    expect(asks.due('res_b', 1_000)).toBe(true);
    asks.asking('res_b');
    asks.missed('res_b', 2_000);
    expect(asks.nextDue(['res_b'])).toBe(3_000);

    // 429 with Retry-After: 20 s: not before then, whatever the schedule says.
    asks.asking('res_c');
    asks.missed('res_c', 5_000, 25_000);
    expect(asks.due('res_c', 6_000)).toBe(false);
    expect(asks.nextDue(['res_c'])).toBe(25_000);
  });

  it('names the earliest retry among the residents still shown, and forgets the others', () => {
    const asks = new NameAsks();
    for (const id of ['res_x', 'res_y', 'res_z']) asks.asking(id);
    asks.missed('res_x', 10_000);
    asks.missed('res_y', 10_000);
    asks.missed('res_y', 10_000);
    expect(asks.nextDue(['res_x', 'res_y', 'res_z'])).toBe(11_000);
    // res_x's case left the queue: forgotten; res_z is still on its way.
    expect(asks.nextDue(['res_y', 'res_z'])).toBe(12_000);
    expect(asks.nextDue(['res_x', 'res_y'])).toBe(12_000);
    expect(asks.due('res_x', 10_000)).toBe(true);
  });
});

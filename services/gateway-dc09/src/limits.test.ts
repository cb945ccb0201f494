import { describe, expect, it } from 'vitest';
import { PerSourceCount, PerSourceRate } from './limits.ts';

describe('per-source limits', () => {
  it('counts open connections per address and frees a place when one closes', () => {
    const count = new PerSourceCount(2);
    expect([count.take('a'), count.take('a'), count.take('a')]).toEqual([true, true, false]);
    expect(count.take('b')).toBe(true);
    count.release('a');
    expect(count.take('a')).toBe(true);
  });

  it('rations per address: a burst, then the refill rate; other addresses keep their own', () => {
    const rate = new PerSourceRate(3, 60);
    expect([0, 0, 0, 0].map(() => rate.take('a', 0))).toEqual([true, true, true, false]);
    expect(rate.take('b', 0)).toBe(true);
    // 60 a minute: one more each second.
    expect(rate.take('a', 999)).toBe(false);
    expect(rate.take('a', 1_000)).toBe(true);
    expect(rate.take('a', 1_000)).toBe(false);
  });

  it('something costing more than is left still goes when a token is, and its debt holds the next back', () => {
    const rate = new PerSourceRate(3, 60);
    expect(rate.take('a', 0, 10)).toBe(true);
    // 3 - 10: seven tokens owed, then one more needed; at one a second that is eight seconds.
    expect(rate.take('a', 7_500)).toBe(false);
    expect(rate.take('a', 8_000)).toBe(true);
  });

  it('forgets the longest-quiet address past its bound, so memory stays bounded', () => {
    const rate = new PerSourceRate(1, 0, 2);
    expect(rate.take('a', 0)).toBe(true);
    expect(rate.take('b', 0)).toBe(true);
    expect(rate.take('c', 0)).toBe(true);
    // `a` was forgotten: it starts again with a full bucket; `c` was not.
    expect(rate.take('a', 0)).toBe(true);
    expect(rate.take('c', 0)).toBe(false);
  });
});

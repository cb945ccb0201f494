import { describe, expect, it } from 'vitest';
import { SlidingWindowLimiter } from './rate-limit.ts';

describe('SlidingWindowLimiter', () => {
  it('allows max attempts per key in the window, refuses the next with a retry time, and flags the first refusal', () => {
    let now = 1_000_000;
    const limiter = new SlidingWindowLimiter(3, 60_000, () => now);
    expect([1, 2, 3].map(() => limiter.attempt('a').allowed)).toEqual([true, true, true]);
    const refused = limiter.attempt('a');
    expect(refused).toEqual({ allowed: false, retryAfterS: 60, firstRefusal: true });
    expect(limiter.attempt('a')).toMatchObject({ allowed: false, firstRefusal: false });
    // Another key has its own budget.
    expect(limiter.attempt('b').allowed).toBe(true);
    now += 60_001;
    expect(limiter.attempt('a')).toEqual({ allowed: true, remaining: 2 });
  });

  it('slides: an attempt frees up when it leaves the window, not when a fixed period ends', () => {
    let now = 0;
    const limiter = new SlidingWindowLimiter(2, 10_000, () => now);
    limiter.attempt('a');
    now = 6_000;
    limiter.attempt('a');
    now = 9_000;
    expect(limiter.attempt('a')).toMatchObject({ allowed: false, retryAfterS: 1 });
    now = 10_001;
    expect(limiter.attempt('a').allowed).toBe(true);
    expect(limiter.attempt('a').allowed).toBe(false);
  });

  it('counts only what is recorded for failure limits, blocks once full, and forgets on reset', () => {
    let now = 0;
    const limiter = new SlidingWindowLimiter(3, 60_000, () => now);
    expect(limiter.blockedFor('u')).toBeUndefined();
    limiter.record('u');
    limiter.record('u');
    expect(limiter.blockedFor('u')).toBeUndefined();
    limiter.record('u');
    now = 30_000;
    expect(limiter.blockedFor('u')).toBe(30);
    limiter.reset('u');
    expect(limiter.blockedFor('u')).toBeUndefined();
  });
});

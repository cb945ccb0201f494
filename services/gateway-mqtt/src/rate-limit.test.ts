import { describe, expect, it } from 'vitest';
import { DeviceRateLimit } from './rate-limit.ts';

describe('DeviceRateLimit', () => {
  it('lets a burst through, then the refill rate, per device', () => {
    let now = 0;
    const limit = new DeviceRateLimit({ ratePerS: 10, burst: 5, now: () => now });
    const taken = Array.from({ length: 8 }, () => limit.take('A'));
    expect(taken).toEqual([true, true, true, true, true, false, false, false]);
    // Another device has a bucket of its own.
    expect(limit.take('B')).toBe(true);
    now += 100; // one token back at 10/s
    expect(limit.take('A')).toBe(true);
    expect(limit.take('A')).toBe(false);
    now += 10_000; // refilled, never beyond the burst
    expect(Array.from({ length: 6 }, () => limit.take('A')).filter(Boolean)).toHaveLength(5);
  });

  it('says whether a token is there without taking it, and takes one given back', () => {
    let now = 0;
    const limit = new DeviceRateLimit({ ratePerS: 1, burst: 2, now: () => now });
    expect(limit.has('A')).toBe(true);
    expect(limit.take('A')).toBe(true);
    expect(limit.take('A')).toBe(true);
    expect(limit.has('A')).toBe(false);
    limit.giveBack('A');
    expect(limit.has('A')).toBe(true);
    expect(limit.has('A')).toBe(true);
    expect(limit.take('A')).toBe(true);
    expect(limit.take('A')).toBe(false);
    now += 10_000;
    // Given back, never beyond the burst.
    limit.giveBack('A');
    expect([limit.take('A'), limit.take('A'), limit.take('A')]).toEqual([true, true, false]);
  });

  it('a rate of 0 limits nothing', () => {
    const limit = new DeviceRateLimit({ ratePerS: 0, burst: 1 });
    expect(Array.from({ length: 100 }, () => limit.take('A')).every(Boolean)).toBe(true);
  });

  it('forgets idle devices rather than tracking every serial ever seen', () => {
    let now = 0;
    const limit = new DeviceRateLimit({ ratePerS: 10, burst: 2, now: () => now, maxTracked: 100 });
    for (let i = 0; i < 1_000; i++) {
      limit.take(`D${i}`);
      now += 1_000;
    }
    expect(limit.tracked).toBeLessThanOrEqual(100);
  });
});

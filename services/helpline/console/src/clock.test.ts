import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { heardServerTime, serverNow } from './clock.ts';

// The console's clock is the PC's, corrected by the times the live stream's hello and pings carry.
// A ping reaches the browser some time after the helpline stamped it: late, never early.
const T = Date.parse('2026-12-05T03:14:15.000Z');
const SLOW = 180_000;
const heardAt = (serverMs: number) => heardServerTime(new Date(serverMs).toISOString());

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T);
});
afterEach(() => vi.useRealTimers());

describe('the console clock', () => {
  it('never steps back for a ping that arrived late (a busy helpline in a storm)', () => {
    heardAt(T + SLOW);
    expect(serverNow()).toBe(T + SLOW);
    // A second on, a ping the helpline stamped 700 ms before the browser read it.
    vi.setSystemTime(T + 1_000);
    heardAt(T + SLOW + 1_000 - 700);
    // The answer clocks read the same second again, or one back, at every late ping.
    expect(serverNow()).toBe(T + SLOW + 1_000);
    // The next ping on time changes nothing either.
    vi.setSystemTime(T + 6_000);
    heardAt(T + SLOW + 6_000 - 5);
    expect(serverNow()).toBe(T + SLOW + 6_000);
  });

  it('follows the PC clock when it is put right (a step, not a late ping)', () => {
    heardAt(T + SLOW);
    vi.setSystemTime(T + 5_000 + SLOW);
    heardAt(T + 5_000 + SLOW);
    expect(serverNow()).toBe(T + 5_000 + SLOW);
  });
});

import { describe, expect, it } from 'vitest';
import { TimerGate } from './timer-gate.ts';

const MAX = 300_000;
const NONE = Number.NEGATIVE_INFINITY;

describe('TimerGate', () => {
  it('lets timers fire up to what the lane has read, and asks for a checkpoint while one waits', () => {
    const gate = new TimerGate(MAX, 1_000);
    // Due at 100, the lane has read up to 50: it waits, and the lane asks how far the stream reaches.
    expect(gate.look(50, 120, 100, 0)).toBe(true);
    expect(gate.fireBy(50, 120)).toBe(50);
    // Not again within the second.
    expect(gate.look(50, 120, 100, 500)).toBe(false);
    expect(gate.look(50, 121, 100, 1_000)).toBe(true);
    // The lane read up to 110: the timer due at 100 fires.
    expect(gate.fireBy(110, 121)).toBe(110);
    expect(gate.force(110, 121, 1_000)).toBeUndefined();
  });

  it('a lane caught up to the clock fires everything due, with no checkpoint', () => {
    const gate = new TimerGate(MAX);
    expect(gate.look(200, 200, 100, 0)).toBe(false);
    expect(gate.fireBy(200, 200)).toBe(200);
    expect(gate.look(NONE, 200, undefined, 0)).toBe(false);
  });

  it('a lane that stays behind: the timers due when the wait began fire after maxWaitMs of real time', () => {
    const gate = new TimerGate(MAX);
    gate.look(NONE, 1_000, 900, 0);
    expect(gate.force(NONE, 1_000, MAX - 1)).toBeUndefined();
    expect(gate.fireBy(NONE, 1_000)).toBe(NONE);
    // Clock time moved on meanwhile (2,000); the wait covered what was due at 1,000.
    expect(gate.force(NONE, 2_000, MAX)).toBe(MAX);
    expect(gate.fireBy(NONE, 2_000)).toBe(1_000);
    // It stays forced on the next rounds (more timers than one round fires).
    expect(gate.look(NONE, 2_001, 950, MAX + 10)).toBe(false);
    expect(gate.fireBy(NONE, 2_001)).toBe(1_000);
    // A timer due after the forced wait waits for the next one: at most twice maxWaitMs.
    expect(gate.look(NONE, 2_001, 1_500, MAX + 10)).toBe(true);
    expect(gate.force(NONE, 2_001, 2 * MAX)).toBeUndefined();
    expect(gate.force(NONE, 2_500, 2 * MAX + 10)).toBe(MAX);
    expect(gate.fireBy(NONE, 2_500)).toBe(2_001);
  });

  it('a wait the lane reads past ends, and the next one starts its own time', () => {
    const gate = new TimerGate(MAX);
    gate.look(NONE, 1_000, 900, 0);
    // The lane read up to 1,000 (the wait's timers), but another is due at 1,100 and unread.
    expect(gate.look(1_000, 1_200, 1_100, MAX - 5)).toBe(true);
    expect(gate.force(1_000, 1_200, MAX + 5)).toBeUndefined();
    expect(gate.force(1_000, 1_200, 2 * MAX - 5)).toBe(MAX);
    expect(gate.fireBy(1_000, 1_300)).toBe(1_200);
  });
});

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LeftoverRetry } from './leftovers.ts';

const retry = { initialMs: 100, maxMs: 400 };

/** A bucket that refuses every delete while `full`; what it was asked, in order. */
function bucket() {
  const state = { full: true, tried: [] as string[], refused: 0, done: [] as number[] };
  const leftovers = new LeftoverRetry({
    retry,
    drop: async (key) => {
      state.tried.push(key);
      if (state.full) throw new Error('maximum bytes exceeded');
      return key !== 'taken';
    },
    refused: () => state.refused++,
    done: (deleted) => state.done.push(deleted),
  });
  return { state, leftovers };
}

describe('LeftoverRetry', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('tries the leftovers with backoff while the bucket refuses, a round stopping at the first refusal', async () => {
    const { state, leftovers } = bucket();
    leftovers.add(['a', 'b']);
    await vi.advanceTimersByTimeAsync(99);
    expect(state.tried).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(state.tried).toEqual(['a']);
    // 200 ms, then 400 ms, then the 400 ms bound.
    await vi.advanceTimersByTimeAsync(199);
    expect(state.tried).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await vi.advanceTimersByTimeAsync(400);
    await vi.advanceTimersByTimeAsync(400);
    expect(state.tried).toEqual(['a', 'a', 'a', 'a']);
    expect(state.refused).toBe(4);
    expect(state.done).toEqual([]);
  });

  it('deals with each once there is room, tells it once, and tries nothing more', async () => {
    const { state, leftovers } = bucket();
    leftovers.add(['a', 'taken', 'b']);
    await vi.advanceTimersByTimeAsync(100);
    state.full = false;
    await vi.advanceTimersByTimeAsync(200);
    expect(state.tried).toEqual(['a', 'a', 'taken', 'b']);
    // A key someone took meanwhile is dealt with, not counted as deleted.
    expect(state.done).toEqual([2]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(state.tried).toHaveLength(4);
  });

  it('tries nothing after close', async () => {
    const { state, leftovers } = bucket();
    leftovers.add(['a']);
    await vi.advanceTimersByTimeAsync(100);
    leftovers.close();
    state.full = false;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(state.tried).toEqual(['a']);
    expect(state.done).toEqual([]);
  });

  it('a sync adding leftovers starts the backoff again', async () => {
    const { state, leftovers } = bucket();
    leftovers.add(['a']);
    await vi.advanceTimersByTimeAsync(100 + 200 + 400);
    expect(state.tried).toHaveLength(3);
    leftovers.add(['b']);
    await vi.advanceTimersByTimeAsync(100);
    expect(state.tried).toEqual(['a', 'a', 'a', 'a']);
  });
});

import { describe, expect, it } from 'vitest';
import { backoffDelay, keepWorking, Pause, sleep, TimeoutError, within, withTimeout } from './work.ts';

describe('backoffDelay', () => {
  it('doubles from the first delay and stops at the cap', () => {
    const policy = { initialMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffDelay(policy, n))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });

  it('draws the jittered share of each delay at random, never past the delay itself', () => {
    const policy = { initialMs: 100, maxMs: 1_000, jitter: 0.5 };
    expect(backoffDelay(policy, 3, () => 0)).toBe(400);
    expect(backoffDelay(policy, 3, () => 0.999_999)).toBe(200);
    expect(backoffDelay(policy, 9, () => 0.5)).toBe(750);
  });
});

describe('sleep', () => {
  it('ends early when its signal aborts', async () => {
    const abort = new AbortController();
    const started = performance.now();
    const slept = sleep(10_000, abort.signal);
    abort.abort();
    await slept;
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('withTimeout', () => {
  it('gives the value in time, undefined after', async () => {
    expect(await withTimeout(Promise.resolve(7), 1_000)).toBe(7);
    expect(await withTimeout(new Promise(() => {}), 10)).toBeUndefined();
  });
});

describe('within', () => {
  it('gives the value in time, a TimeoutError after', async () => {
    expect(await within(Promise.resolve(7), 1_000)).toBe(7);
    await expect(within(new Promise(() => {}), 10)).rejects.toBeInstanceOf(TimeoutError);
  });
});

describe('Pause', () => {
  it('ends the wait in progress on wake, and waits again after', async () => {
    const pause = new Pause();
    const started = performance.now();
    const waiting = pause.wait(10_000);
    pause.wake();
    await waiting;
    expect(performance.now() - started).toBeLessThan(5_000);
    pause.wake(); // nothing in progress: the next wait is a whole one
    const next = performance.now();
    await pause.wait(50);
    expect(performance.now() - next).toBeGreaterThanOrEqual(40);
  });
});

describe('keepWorking', () => {
  it('tells the server the message is in hand until the work ends', async () => {
    let beats = 0;
    const value = await keepWorking({ working: () => void beats++ }, 150, () =>
      sleep(400).then(() => 'done'),
    );
    expect(value).toBe('done');
    expect(beats).toBeGreaterThanOrEqual(2);
    const after = beats;
    await sleep(200);
    expect(beats).toBe(after);
  });
});

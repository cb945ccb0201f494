import { describe, expect, it } from 'vitest';
import { RequestBudget } from './request-budget.ts';

describe('RequestBudget', () => {
  it('lets max requests per person through in a window, then refuses until it ends', () => {
    let now = 1_000;
    const budget = new RequestBudget(3, 60_000, () => now);
    expect([1, 2, 3].map(() => budget.take('a').allowed)).toEqual([true, true, true]);
    expect(budget.take('a')).toEqual({ allowed: false, retryAfterS: 60 });
    now += 30_000;
    expect(budget.take('a')).toEqual({ allowed: false, retryAfterS: 30 });
    // Another person has a budget of their own.
    expect(budget.take('b').allowed).toBe(true);
    now += 30_000;
    expect(budget.take('a')).toEqual({ allowed: true, remaining: 2 });
  });

  it('says a refusal is the first once per window', () => {
    let now = 0;
    const budget = new RequestBudget(1, 1000, () => now);
    budget.take('a');
    expect(budget.take('a').allowed).toBe(false);
    expect(budget.refused('a')).toBe(true);
    expect(budget.refused('a')).toBe(false);
    now += 1000;
    budget.take('a');
    expect(budget.take('a').allowed).toBe(false);
    expect(budget.refused('a')).toBe(true);
  });
});

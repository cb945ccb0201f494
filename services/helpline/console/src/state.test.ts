import { afterEach, describe, expect, it } from 'vitest';
import { sortedCases, state } from './state.ts';
import type { CaseSummary } from './types.ts';

/** Only what the queue's order reads. */
const listed = (id: string, priority: number, raisedAt: string): CaseSummary =>
  ({ id, priority, raisedAt }) as unknown as CaseSummary;

afterEach(() => state.cases.clear());

describe("the console queue's order", () => {
  it("is the server's (priority, raised_at, id): a tie of priority and raise time goes by id", () => {
    const sameMs = '2026-12-05T03:14:15.926Z';
    const cases = [
      listed('case_0mi8k2a1f3c9d2e8b7a6c5d4', 2, sameMs),
      listed('case_0mi8k2a1f0a1b2c3d4e5f6a7', 2, sameMs),
      listed('case_0mi8k2a1f9ffffffffffffff', 1, '2026-12-05T03:14:16.000Z'),
      listed('case_0mi8k2a1e5aaaaaaaaaaaaaa', 2, '2026-12-05T03:14:15.925Z'),
      listed('case_0mi8k2a1f1bbbbbbbbbbbbbb', 2, sameMs),
    ];
    const expected = [
      'case_0mi8k2a1f9ffffffffffffff',
      'case_0mi8k2a1e5aaaaaaaaaaaaaa',
      'case_0mi8k2a1f0a1b2c3d4e5f6a7',
      'case_0mi8k2a1f1bbbbbbbbbbbbbb',
      'case_0mi8k2a1f3c9d2e8b7a6c5d4',
    ];
    // Whatever order the stream told them in (the order the console's map keeps).
    for (const order of [cases, [...cases].reverse(), [cases[4], cases[0], cases[2], cases[1], cases[3]]]) {
      state.cases.clear();
      for (const c of order) if (c) state.cases.set(c.id, c);
      expect(sortedCases().map((c) => c.id)).toEqual(expected);
    }
  });
});

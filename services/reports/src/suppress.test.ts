import { describe, expect, it } from 'vitest';
import { per1000, percent, protectCount, protectGroup } from './suppress.ts';

describe('small-number suppression', () => {
  it('hides a count from 1 to 4 and shows 0 and 5', () => {
    expect([0, 1, 4, 5, 12].map(protectCount)).toEqual([0, null, null, 5, 12]);
  });

  it('hides a second cell when one small cell could be worked out from the total', () => {
    // 3 alone is hidden; 50 − 40 − 7 would give it back, so the smallest other (7) goes too.
    expect(protectGroup({ a: 40, b: 7, c: 3 })).toEqual({ total: 50, cells: { a: 40, b: null, c: null } });
  });

  it('hides more cells while the hidden ones add up to under 5', () => {
    // 1 + 2 = 3 < 5: the next smallest (6) is hidden as well, so the hidden sum is 9.
    expect(protectGroup({ a: 1, b: 2, c: 6, d: 30, e: 0 })).toEqual({
      total: 39,
      cells: { a: null, b: null, c: null, d: 30, e: 0 },
    });
  });

  it('leaves a group with no small cell alone', () => {
    expect(protectGroup({ a: 5, b: 9, c: 0 })).toEqual({ total: 14, cells: { a: 5, b: 9, c: 0 } });
  });

  it('hides the total too when nothing else can hide a small cell', () => {
    expect(protectGroup({ met: 20, missed: 2 })).toEqual({ total: 22, cells: { met: null, missed: null } });
    expect(protectGroup({ only: 0, other: 3 })).toEqual({ total: null, cells: { only: 0, other: null } });
  });

  it('never lets the shown cells and total give back a hidden cell', () => {
    const cases: Record<string, number>[] = [
      { a: 1, b: 100 },
      { a: 4, b: 4, c: 50 },
      { a: 2, b: 2, c: 2, d: 9 },
    ];
    for (const raw of cases) {
      const { total, cells } = protectGroup(raw);
      const hidden = Object.keys(raw).filter((k) => cells[k] === null);
      const shown = Object.values(cells).reduce<number>((s, v) => s + (v ?? 0), 0);
      if (total !== null && hidden.length > 0) expect(total - shown).toBeGreaterThanOrEqual(5);
      for (const k of hidden) expect(cells[k]).toBeNull();
    }
  });

  it('gives no percentage or rate of a hidden count', () => {
    expect(percent(null, 40)).toBeNull();
    expect(percent(39, 40)).toBe(97.5);
    expect(per1000(12, 250)).toBe(48);
    expect(per1000(7, null)).toBeNull();
  });
});

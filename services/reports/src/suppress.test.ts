import { describe, expect, it } from 'vitest';
import { per1000, percent, protectCount, protectGroup, publishCount, publishGroup } from './suppress.ts';

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

  it('publishes a count suppressed when small, else rounded to the nearest 5', () => {
    expect([0, 1, 4, 5, 7, 8, 12, 13, 22, 23].map(publishCount)).toEqual([
      0,
      null,
      null,
      5,
      5,
      10,
      10,
      15,
      20,
      25,
    ]);
  });

  it('rounds the cells left shown and the true total on its own, not the sum of rounded cells', () => {
    // 36 = 20 + 10 + 6: the cells round to 20, 10, 5 (35), the total 36 on its own to 35.
    expect(publishGroup({ a: 20, b: 10, c: 6 })).toEqual({ total: 35, cells: { a: 20, b: 10, c: 5 } });
    // 44 = 18 + 13 + 13: the cells round to 20, 15, 15 (50), the total to 45.
    expect(publishGroup({ a: 18, b: 13, c: 13 })).toEqual({ total: 45, cells: { a: 20, b: 15, c: 15 } });
    // Suppression first: 3 and the next smallest (7) are hidden before anything is rounded.
    expect(publishGroup({ a: 40, b: 7, c: 3 })).toEqual({ total: 50, cells: { a: 40, b: null, c: null } });
  });

  it('leaves two totals whose difference is a hidden count consistent with every value it could take', () => {
    // {X, Y} and {X}, Y's 1 to 4 suppressed: whatever X is, the two rounded totals allow 1 to 4.
    for (let x = 5; x < 60; x++)
      for (let y = 1; y <= 4; y++) {
        const both = publishCount(x + y) as number;
        const alone = publishCount(x) as number;
        const allowed = new Set<number>();
        for (let a = both - 2; a <= both + 2; a++)
          for (let b = alone - 2; b <= alone + 2; b++) if (a - b >= 1 && a - b <= 4) allowed.add(a - b);
        expect(allowed.size, `x ${x}, y ${y}`).toBeGreaterThan(1);
        expect(allowed.has(y)).toBe(true);
      }
  });
});

import { describe, expect, it } from 'vitest';
import { nulPaths } from './input.ts';

describe('nulPaths', () => {
  it('names every string or key holding NUL by its dotted path', () => {
    expect(nulPaths({ name: 'a\u0000b', notes: ['ok', 'x\u0000'], deep: { 'k\u0000': 1 }, n: 3 })).toEqual([
      'name',
      'notes.1',
      'deep.k\u0000',
    ]);
    expect(nulPaths('\u0000')).toEqual(['(body)']);
    expect(nulPaths({ name: 'fine', list: [1, null, true] })).toEqual([]);
  });

  it('stops at the limit', () => {
    expect(
      nulPaths(
        Array.from({ length: 50 }, () => '\u0000'),
        5,
      ),
    ).toHaveLength(5);
  });
});

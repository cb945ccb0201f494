import { InvalidRequestError } from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, type ListKey } from './list-cursor.ts';

const all: ListKey = {
  state: 'all',
  raisedAt: '2026-12-03T22:14:05.123456Z',
  id: 'case_0mx9m8sl2e2a3b28786973d',
};
const open: ListKey = { state: 'open', priority: 2, raisedAt: all.raisedAt, id: all.id };

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidRequestError);
    return JSON.stringify((err as InvalidRequestError).issues);
  }
  throw new Error('not refused');
};

describe('the cursor of GET /api/cases', () => {
  it('gives back the key of the last case, microseconds and all, as URL-safe text', () => {
    for (const key of [all, open]) {
      const cursor = encodeCursor(key);
      expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
      expect(decodeCursor(cursor, key.state)).toEqual(key);
    }
  });

  it('refuses, naming the cursor, one it did not give or one of the other state', () => {
    expect(refusal(() => decodeCursor('not-a-cursor', 'all'))).toContain('cursor');
    expect(refusal(() => decodeCursor(encodeCursor({ ...all, id: 'res_1' } as ListKey), 'all'))).toContain(
      'not a cursor',
    );
    expect(
      refusal(() =>
        decodeCursor(Buffer.from(JSON.stringify({ ...all, extra: 1 })).toString('base64url'), 'all'),
      ),
    ).toContain('not a cursor');
    expect(refusal(() => decodeCursor(encodeCursor(all), 'open'))).toContain('state=all');
  });
});

import { describe, expect, it } from 'vitest';
import { nextPageLink, nextPageOf } from './route.ts';

describe('a list read page by page', () => {
  it('names its next page in a Link header that a client reads back', () => {
    const path = '/api/cases?state=all&limit=100&cursor=eyJhIjoxfQ';
    expect(nextPageLink(path)).toBe(`<${path}>; rel="next"`);
    expect(nextPageOf(nextPageLink(path))).toBe(path);
  });

  it('finds rel="next" among other links and parameters, and nothing on the last page', () => {
    expect(nextPageOf('</a?x=1>; rel="prev", </b?y=2>; title="more"; rel=next')).toBe('/b?y=2');
    expect(nextPageOf('</a>; rel="prev"')).toBeUndefined();
    expect(nextPageOf('</a>; rel="nextish"')).toBeUndefined();
    expect(nextPageOf(null)).toBeUndefined();
    expect(nextPageOf('')).toBeUndefined();
  });
});

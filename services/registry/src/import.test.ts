import { describe, expect, it } from 'vitest';
import { parseCodeOverrides } from './import.ts';

describe('a dc09CodeOverrides CSV cell', () => {
  it('reads CODE=type entries separated by ;, upper-casing codes and ignoring blanks', () => {
    expect(parseCodeOverrides('cid 120=fall.detected; SIA  UA=flood.detected;')).toEqual({
      overrides: { 'CID 120': 'fall.detected', 'SIA UA': 'flood.detected' },
    });
    expect(parseCodeOverrides('')).toEqual({});
    expect(parseCodeOverrides(undefined)).toEqual({});
  });

  it('names an entry without = and a code given twice', () => {
    expect(parseCodeOverrides('CID 120=fall.detected;CID 121').problem).toMatch(
      /^"CID 121" must be CODE=event.type/,
    );
    expect(parseCodeOverrides('CID 120=x;cid 120=y').problem).toBe('CID 120 is given twice');
    expect(parseCodeOverrides('=fall.detected').problem).toMatch(/must be CODE=event.type/);
  });
});

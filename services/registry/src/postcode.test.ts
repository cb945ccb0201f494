import { describe, expect, it } from 'vitest';
import { normalisePostcode, postcodeDistrict } from './postcode.ts';

describe('normalisePostcode', () => {
  it.each([
    ['GL1 2AB', 'GL1 2AB'],
    ['gl1 2ab', 'GL1 2AB'],
    ['  gl1   2ab ', 'GL1 2AB'],
    ['GL12AB', 'GL1 2AB'],
    ['sw1a 1aa', 'SW1A 1AA'],
    ['M1 1AE', 'M1 1AE'],
    ['B33 8TH', 'B33 8TH'],
    ['CR2 6XH', 'CR2 6XH'],
    ['DN55 1PT', 'DN55 1PT'],
    ['W1A 0AX', 'W1A 0AX'],
    ['EC1A 1BB', 'EC1A 1BB'],
    ['gir0aa', 'GIR 0AA'],
  ])('%j → %j', (input, expected) => {
    expect(normalisePostcode(input)).toBe(expected);
  });

  it.each([
    '',
    'GL1',
    'XYZ',
    '12345',
    'GL1 2AB3',
    'Q1 1AA', // Q never starts a postcode
    'GL1 2CB', // C never appears in the inward letters
    'GLAB 2AB',
    'GL1-2AB',
    'GL1 2A',
    'SW1A1AAA',
  ])('refuses %j', (input) => {
    expect(normalisePostcode(input)).toBeUndefined();
  });
});

describe('postcodeDistrict', () => {
  it('is the outward code', () => {
    expect(postcodeDistrict('GL1 2AB')).toBe('GL1');
    expect(postcodeDistrict('SW1A 1AA')).toBe('SW1A');
    expect(postcodeDistrict('M1 1AE')).toBe('M1');
  });

  it('agrees with normalisation for typed input', () => {
    expect(postcodeDistrict(normalisePostcode('dn551pt') ?? '')).toBe('DN55');
  });
});

import { describe, expect, it } from 'vitest';
import { fingerprintOf } from './idempotency.ts';

describe("an Idempotency-Key's body fingerprint", () => {
  it('is the same for the same body in any key order, and differs for another body', () => {
    const body = { name: 'Ida', address: '3 Retry Row', nested: { b: 1, a: [2, { d: 3, c: 4 }] } };
    const reordered = { nested: { a: [2, { c: 4, d: 3 }], b: 1 }, address: '3 Retry Row', name: 'Ida' };
    expect(fingerprintOf(reordered)).toBe(fingerprintOf(body));
    expect(fingerprintOf({ ...body, name: 'Ada' })).not.toBe(fingerprintOf(body));
    expect(fingerprintOf({ ...body, extra: undefined })).toBe(fingerprintOf(body));
    expect(fingerprintOf({ ...body, extra: null })).not.toBe(fingerprintOf(body));
  });

  it('holds whether a sealed field was sent, never its value (a key-safe code is not to be guessed from it)', () => {
    const body = { name: 'Ida', address: '3 Retry Row', postcode: 'GL1 2AB' };
    const withCode = (keySafe: string | null) => fingerprintOf({ ...body, keySafe });
    expect(withCode('1234')).toBe(withCode('9876'));
    expect(withCode('1234')).not.toBe(fingerprintOf(body));
    expect(withCode(null)).not.toBe(withCode('1234'));
    expect(fingerprintOf({ ...body, medicalSummary: 'a' })).toBe(
      fingerprintOf({ ...body, medicalSummary: 'b' }),
    );
  });
});

import { describe, expect, it } from 'vitest';
import { fingerprintOf } from './idempotency.ts';
import { importFingerprinted } from './import.ts';

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

  it("leaves a device's DC-09 key out too", () => {
    const body = { serial: 'PNL-1', kind: 'home-unit', dc09Account: '1234' };
    expect(fingerprintOf({ ...body, dc09Key: '00112233445566778899AABBCCDDEEFF' })).toBe(
      fingerprintOf({ ...body, dc09Key: 'FFEEDDCCBBAA99887766554433221100' }),
    );
  });

  it("of an import holds its rows, with the sealed columns' cells only as filled or blank", () => {
    const file = (code: string, name = 'Ida') => ({
      importValid: false,
      residents: `ref,name,address,postcode,keySafe\nR1,${name},3 Retry Row,GL1 2AB,${code}\n`,
    });
    const of = (body: { importValid: boolean; residents: string }) =>
      fingerprintOf(importFingerprinted(body));
    expect(of(file('1234'))).toBe(of(file('9876')));
    expect(of(file('1234'))).not.toBe(of(file('')));
    expect(of(file('1234'))).not.toBe(of(file('1234', 'Ada')));
    expect(JSON.stringify(importFingerprinted(file('1234')))).not.toContain('1234');
  });
});

import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  dc09KeyBytes,
  FieldCipher,
  hashSecret,
  hashSecretAsync,
  newSecret,
  parseDataKey,
  verifySecret,
} from './crypto.ts';

describe('FieldCipher', () => {
  const cipher = new FieldCipher(randomBytes(32));

  it("fingerprints a DC-09 key's bytes under a key of its own, however the key is written", () => {
    const dataKey = randomBytes(32);
    const keyed = new FieldCipher(dataKey);
    const hex = keyed.fingerprint(dc09KeyBytes('30313233343536373839616263646566', 'hex'));
    expect(keyed.fingerprint(dc09KeyBytes('30313233343536373839616263646567', 'hex'))).not.toBe(hex);
    expect(keyed.fingerprint(dc09KeyBytes('30313233343536373839616263646566'.toUpperCase(), 'hex'))).toBe(
      hex,
    );
    expect(keyed.fingerprint(dc09KeyBytes('0123456789abcdef', 'ascii'))).toBe(hex);
    // Not the data key itself, and another data key gives another fingerprint.
    expect(hex).not.toBe(createHmac('sha256', dataKey).update(Buffer.from('0123456789abcdef')).digest('hex'));
    expect(cipher.fingerprint(dc09KeyBytes('0123456789abcdef', 'ascii'))).not.toBe(hex);
  });

  it('round-trips and never stores the plain text', () => {
    const stored = cipher.encrypt('key safe 4321 by the back door', 'res_1', 'keySafe');
    expect(stored).not.toContain('4321');
    expect(cipher.decrypt(stored, 'res_1', 'keySafe')).toBe('key safe 4321 by the back door');
  });

  it('refuses a ciphertext moved to another record or field', () => {
    const stored = cipher.encrypt('1234', 'res_1', 'keySafe');
    expect(() => cipher.decrypt(stored, 'res_2', 'keySafe')).toThrow();
    expect(() => cipher.decrypt(stored, 'res_1', 'medicalSummary')).toThrow();
  });

  it('refuses another key', () => {
    const stored = cipher.encrypt('1234', 'res_1', 'keySafe');
    expect(() => new FieldCipher(randomBytes(32)).decrypt(stored, 'res_1', 'keySafe')).toThrow();
  });
});

describe('parseDataKey', () => {
  it('takes 64 hex digits or base64 of 32 bytes and nothing else', () => {
    const key = randomBytes(32);
    expect(parseDataKey(key.toString('hex'))).toEqual(key);
    expect(parseDataKey(key.toString('base64'))).toEqual(key);
    expect(parseDataKey('short')).toBeUndefined();
    expect(parseDataKey(randomBytes(16).toString('hex'))).toBeUndefined();
  });
});

describe('secret hashes', () => {
  it('verify the right secret only', () => {
    const stored = hashSecret('s3cret-value');
    expect(verifySecret('s3cret-value', stored)).toBe(true);
    expect(verifySecret('other', stored)).toBe(false);
  });

  it('hashed off the event loop, as an import hashes them, verify as the same scheme', async () => {
    const stored = await hashSecretAsync('s3cret-value');
    expect(stored).toMatch(/^scrypt\$/);
    expect(verifySecret('s3cret-value', stored)).toBe(true);
    expect(verifySecret('other', stored)).toBe(false);
  });

  it('issues device secrets that never start with - (a spreadsheet would take it for a formula)', () => {
    const secrets = Array.from({ length: 3000 }, newSecret);
    expect(secrets.some((s) => s.startsWith('-'))).toBe(false);
    expect(new Set(secrets).size).toBe(secrets.length);
    expect(secrets.every((s) => /^[A-Za-z0-9_][A-Za-z0-9_-]{31}$/.test(s))).toBe(true);
  });
});

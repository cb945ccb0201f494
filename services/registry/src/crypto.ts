import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  scrypt,
  scryptSync,
  timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(scrypt) as (secret: string, salt: Buffer, length: number) => Promise<Buffer>;

/**
 * Parses REGISTRY_DATA_KEY: 32 bytes as 64 hex digits or as base64. Returns undefined when the
 * text is neither, so the config schema can say exactly what is wrong.
 */
export function parseDataKey(text: string): Buffer | undefined {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, 'base64');
    return bytes.length === 32 ? bytes : undefined;
  }
  return undefined;
}

const VERSION = 'v1';

/**
 * AES-256-GCM for the few fields that must never sit in the database as plain text (key-safe
 * information, medical summary, DC-09 keys). The record's id and the field name are the
 * additional authenticated data, so a ciphertext copied onto another resident or field fails
 * to decrypt instead of revealing the wrong person's secret.
 */
export class FieldCipher {
  readonly #key: Buffer;
  /** The key of `fingerprint`, derived from the data key (never the data key itself). */
  readonly #fingerprintKey: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new RangeError('the data key must be 32 bytes');
    this.#key = key;
    this.#fingerprintKey = Buffer.from(
      hkdfSync('sha256', key, Buffer.alloc(0), 'telecare registry dc09 key fingerprint v1', 32),
    );
  }

  /**
   * A keyed fingerprint of a secret's bytes (HMAC-SHA256 under a key derived from the data key), as
   * hex: equal secrets are found by their fingerprints without opening every row, and a fingerprint
   * read out of the database cannot be tried against guesses without the data key.
   */
  fingerprint(bytes: Buffer): string {
    return createHmac('sha256', this.#fingerprintKey).update(bytes).digest('hex');
  }

  encrypt(plain: string, recordId: string, field: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(`${recordId}\u001f${field}`));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [
      VERSION,
      iv.toString('base64'),
      cipher.getAuthTag().toString('base64'),
      body.toString('base64'),
    ].join(':');
  }

  decrypt(stored: string, recordId: string, field: string): string {
    const [version, iv, tag, body] = stored.split(':');
    if (version !== VERSION || !iv || !tag || body === undefined) {
      throw new RangeError(`unknown ciphertext format for ${field}`);
    }
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64'));
    decipher.setAAD(Buffer.from(`${recordId}\u001f${field}`));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64')), decipher.final()]).toString('utf8');
  }
}

/**
 * A device secret: 24 random bytes, URL-safe, shown once. Never starting with `-`, so a secrets
 * CSV opened in a spreadsheet holds it as text, unchanged (a leading `-` would be a formula).
 */
export function newSecret(): string {
  for (;;) {
    const secret = randomBytes(24).toString('base64url');
    if (!secret.startsWith('-')) return secret;
  }
}

/** scrypt with a per-secret salt: `scrypt$<salt>$<hash>`. */
export function hashSecret(secret: string): string {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('base64')}$${scryptSync(secret, salt, 32).toString('base64')}`;
}

/**
 * `hashSecret` on libuv's thread pool: an import's thousands of secrets (some 40 ms of CPU each)
 * are hashed side by side on every core, without holding the event loop.
 */
export async function hashSecretAsync(secret: string): Promise<string> {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('base64')}$${(await scryptAsync(secret, salt, 32)).toString('base64')}`;
}

export function verifySecret(secret: string, stored: string): boolean {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = scryptSync(secret, Buffer.from(salt, 'base64'), expected.length);
  return timingSafeEqual(actual, expected);
}

/**
 * A DC-09 key's bytes as the gateway uses them: hex digits decoded (in either case), ascii
 * characters as they are. Two keys are one key when these are equal, however they were written.
 */
export function dc09KeyBytes(key: string, encoding: string): Buffer {
  return encoding === 'hex' ? Buffer.from(key, 'hex') : Buffer.from(key, 'latin1');
}

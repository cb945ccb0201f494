import { type Cipher, createCipheriv, createDecipheriv, type Decipher, randomInt } from 'node:crypto';
import type { Dc09KeyEncoding } from '@telecare/contracts';
import { dataEnd, outsideText } from './free-text.ts';

const ZERO_IV = Buffer.alloc(16);
const CIPHERS: Record<number, string> = { 16: 'aes-128-cbc', 24: 'aes-192-cbc', 32: 'aes-256-cbc' };

/** A configured key that is not 16, 24 or 32 bytes once decoded the account's way. */
export class Dc09KeyError extends Error {
  override readonly name = 'Dc09KeyError';
}

/**
 * The AES key of an account. Senders disagree on how a configured key is written, so the
 * encoding is the account's: `hex` decodes 32/48/64 hex digits, `ascii` takes 16/24/32
 * characters as they are.
 */
export function keyBytes(key: string, encoding: Dc09KeyEncoding): Buffer {
  const bytes =
    encoding === 'hex'
      ? /^(?:[0-9A-Fa-f]{2})+$/.test(key)
        ? Buffer.from(key, 'hex')
        : Buffer.alloc(0)
      : Buffer.from(key, 'latin1');
  if (!CIPHERS[bytes.byteLength]) {
    throw new Dc09KeyError(`a ${encoding} key must give 16, 24 or 32 bytes, not ${bytes.byteLength}`);
  }
  return bytes;
}

const ECB: Record<number, string> = { 16: 'aes-128-ecb', 24: 'aes-192-ecb', 32: 'aes-256-ecb' };
const BLOCK = 16;

/**
 * AES of single blocks under one key, kept with the key: CBC is chained here, block by block, so
 * a frame costs no cipher set-up (the key schedule) of its own. Without padding, and given only
 * whole blocks, ECB keeps nothing from one call to the next.
 */
interface BlockCiphers {
  readonly encrypt: Cipher;
  readonly decrypt: Decipher;
}
const BLOCK_CIPHERS = new WeakMap<Buffer, BlockCiphers>();

function blockCiphers(key: Buffer): BlockCiphers {
  let ciphers = BLOCK_CIPHERS.get(key);
  if (!ciphers) {
    const algorithm = ECB[key.byteLength] as string;
    const encrypt = createCipheriv(algorithm, key, null);
    encrypt.setAutoPadding(false);
    const decrypt = createDecipheriv(algorithm, key, null);
    decrypt.setAutoPadding(false);
    ciphers = { encrypt, decrypt };
    BLOCK_CIPHERS.set(key, ciphers);
  }
  return ciphers;
}

/** AES-CBC with a zero IV over whole blocks: each decrypted block xor the ciphertext before it. */
function cbcDecrypt(ciphertext: Buffer, key: Buffer): Buffer {
  const plain = blockCiphers(key).decrypt.update(ciphertext);
  for (let i = plain.length - 1; i >= BLOCK; i--)
    plain[i] = (plain[i] as number) ^ (ciphertext[i - BLOCK] as number);
  return plain;
}

/** AES-CBC with a zero IV over whole blocks: each block xor the ciphertext before it, encrypted. */
function cbcEncrypt(plain: Buffer, key: Buffer): Buffer {
  const { encrypt } = blockCiphers(key);
  const out = Buffer.allocUnsafe(plain.length);
  const block = Buffer.alloc(BLOCK);
  for (let at = 0; at < plain.length; at += BLOCK) {
    for (let i = 0; i < BLOCK; i++) {
      block[i] = (plain[at + i] as number) ^ (at === 0 ? 0 : (out[at - BLOCK + i] as number));
    }
    encrypt.update(block).copy(out, at);
  }
  return out;
}

/** Why a ciphertext could not be read: the sender answered with NAK. */
export class Dc09DecryptError extends Error {
  override readonly name = 'Dc09DecryptError';
}

const TIMESTAMP_SHAPE = /_\d{2}:\d{2}:\d{2},\d{2}-\d{2}-\d{4}$/;

/**
 * Decrypts the hex after `[` and strips the padding up to the first `|`. A sender that sends no
 * data may leave the `|` out (a Hikvision hub's encrypted poll decrypts to `ppppppppppp]_…`): with
 * no `|` at all, the content starts at the first `]` and must end with a timestamp.
 */
export function decryptPayload(hex: string, key: Buffer): string {
  if (hex.length === 0 || hex.length % 32 !== 0 || !/^[0-9A-Fa-f]+$/.test(hex)) {
    throw new Dc09DecryptError('ciphertext is not whole 16-byte blocks of hex');
  }
  const plain = cbcDecrypt(Buffer.from(hex, 'hex'), key);
  // The padding may be any bytes but `|`, `[` and `]`, and may fill a whole block: it proves
  // nothing. A wrong key gives bytes, not an error; what proves the key is what follows the pad:
  // text without control bytes reading `#ACCT|…]` or `]…`. Printable ASCII alone (at least `]`
  // and a 20-character timestamp) lets a wrong key through about once in 10^9. Zone names and
  // text may be 8-bit (a panel's room names in UTF-8 or Windows-1252), which makes that check weaker, so
  // content with 8-bit bytes must also end with a timestamp's shape (`_dd:dd:dd,dd-dd-dddd`), as
  // must content with no `|` before it (its pad is told from it by the `]` alone).
  const bar = plain.indexOf(0x7c);
  const close = bar < 0 ? plain.indexOf(0x5d) : -1;
  if (bar < 0 && (close < 0 || plain.subarray(0, close).includes(0x5b))) {
    throw new Dc09DecryptError('decrypted data has no padding separator (wrong key?)');
  }
  const content = bar < 0 ? plain.subarray(close) : plain.subarray(bar + 1);
  let eightBit = false;
  for (const byte of content) {
    if (byte < 0x20 || byte === 0x7f) {
      throw new Dc09DecryptError('decrypted data has control bytes after the padding (wrong key?)');
    }
    if (byte > 0x7f) eightBit = true;
  }
  const text = content.toString('latin1');
  // The data's `]`, brackets in its `^…^` text aside (a zone named `Bed [2]`).
  const dataClose = dataEnd(text);
  if (dataClose < 0 || outsideText(text.slice(0, dataClose)).includes('[')) {
    throw new Dc09DecryptError('decrypted data does not read data] after the padding (wrong key?)');
  }
  if ((eightBit || bar < 0) && !TIMESTAMP_SHAPE.test(text)) {
    throw new Dc09DecryptError(
      bar < 0
        ? 'decrypted data with no padding separator does not end with a timestamp (wrong key?)'
        : 'decrypted 8-bit data does not end with a timestamp (wrong key?)',
    );
  }
  return text;
}

const PAD_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random padding (never `|`, `[` or `]`) so `padding|content` fills whole 16-byte blocks. */
export function padFor(contentLength: number, random: (max: number) => number = randomInt): string {
  const length = (16 - ((contentLength + 1) % 16)) % 16;
  let pad = '';
  for (let i = 0; i < length; i++) pad += PAD_ALPHABET[random(PAD_ALPHABET.length)];
  return pad;
}

/** Upper-case hex of AES-CBC (zero IV) over `padding|content`. */
export function encryptPayload(content: string, key: Buffer, pad: string = padFor(content.length)): string {
  const plain = Buffer.from(`${pad}|${content}`, 'latin1');
  if (plain.length % BLOCK === 0) return cbcEncrypt(plain, key).toString('hex').toUpperCase();
  // Not whole blocks (a pad given by the caller): the cipher refuses it, as it always has.
  const cipher = createCipheriv(CIPHERS[key.byteLength] as string, key, ZERO_IV);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(plain), cipher.final()])
    .toString('hex')
    .toUpperCase();
}

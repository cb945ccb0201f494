import { type Cipher, createCipheriv, createDecipheriv, type Decipher, randomInt } from 'node:crypto';
import type { Dc09KeyEncoding } from '@telecare/contracts';
import { ContentError } from './content-error.ts';
import { readCidData, readSiaData } from './data.ts';
import { dataEnd, outsideText } from './free-text.ts';
import { dataAccountOf, encryptedContentProblem, sameAccount } from './strict.ts';

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

/**
 * Why a ciphertext could not be read: the sender answered with NAK. `tampered` when the key is
 * proven all the same (`keyProven`: the first block names the header's account, or the last ends a
 * timestamp) but the content cannot be read or is not laid out as DC-09 lays it out: not a wrong
 * key, but blocks changed, put together from two frames, cut off or added
 * (`encryptedContentProblem`), or a sender gone wrong.
 */
export class Dc09DecryptError extends Error {
  override readonly name = 'Dc09DecryptError';
  constructor(
    message: string,
    readonly tampered = false,
  ) {
    super(message);
  }
}

const TIMESTAMP_SHAPE = /_\d{2}:\d{2}:\d{2},\d{2}-\d{2}-\d{4}$/;

/**
 * The longest pad: it brings the plaintext to whole blocks, so it is shorter than a block, a whole
 * one from a sender that always pads, or a block and a byte from the dc09_spt dialler library
 * (`dc09crypt` pads `17 - (len(data) + 21) % 16` bytes: 2 to 17, 17 for one message length in 16,
 * its `|` the 18th byte). That byte widens nothing: a block garbled by a flip in the one before
 * could already be read as a whole block of pad, the `|` after it the flipped block's first byte,
 * which the flip chooses as freely as its second; what a flip cannot pass is the account required
 * at the head of encrypted data and the block it shares with a frame already taken (strict.ts,
 * README "Encrypted content is read strictly").
 */
const MAX_PAD = BLOCK + 1;

/**
 * Decrypts the hex after `[` and strips the padding up to its `|`. The pad is random bytes, and
 * real panels draw them from every byte, `|` and `]` among them: the pad ends at one of the
 * `|` within its first block and two bytes (no pad is longer: `MAX_PAD`), and which one is told by
 * what follows it. The first after which the content is laid out as DC-09 lays it
 * out (`encryptedContentProblem`: `data]`, extended data, the timestamp ending it) and its data
 * reads as data (nothing, or Contact ID or SIA events read whole after an optional `#ACCT|` that
 * is `account`'s) wins; where none does, the first after which it is laid out so at all (what its
 * data says is then the receiver's to judge: DUH). A sender that sends no data may leave the `|`
 * out (a Hikvision hub's encrypted poll decrypts to `ppppppppppp]_…`): with no `|` at all, the
 * content starts at a `]`, the same way. Every reading must pass the key's proof
 * (`contentAfterPad`); content that passes it and is laid out wrong is refused as `tampered`.
 */
export function decryptPayload(hex: string, key: Buffer, account?: string): string {
  return decryptFrame(hex, key, account).content;
}

/** What a ciphertext decrypts to: the content after the pad, and the pad (its `|` left out). */
export interface Decrypted {
  readonly content: string;
  readonly pad: Buffer;
}

/** `decryptPayload`, with the pad it stripped. */
export function decryptFrame(hex: string, key: Buffer, account?: string): Decrypted {
  if (hex.length === 0 || hex.length % 32 !== 0 || !/^[0-9A-Fa-f]+$/.test(hex)) {
    throw new Dc09DecryptError('ciphertext is not whole 16-byte blocks of hex');
  }
  const plain = cbcDecrypt(Buffer.from(hex, 'hex'), key);
  // Why it cannot be read, `tampered` where the key is proven all the same.
  const refused = (message: string) => {
    const tampered = keyProven(plain, account);
    return new Dc09DecryptError(
      tampered ? `${message}, yet the key is right: changed without the key?` : `${message} (wrong key?)`,
      tampered,
    );
  };
  const noBar = plain.indexOf(0x7c) < 0;
  // Without a `|` the content starts at a `]`: the first one, or one further on within a block.
  const mark = noBar ? 0x5d : 0x7c;
  const first = plain.indexOf(mark);
  if (first < 0 || first > MAX_PAD || (noBar && plain.subarray(0, first).includes(0x5b))) {
    // A pad longer than a block and a byte is no pad: what is garbled by changing the block before it (a
    // bit flip, a splice) must not be read as one.
    throw refused('decrypted data has no padding separator within its first block and two bytes');
  }
  const starts = [noBar ? first : first + 1];
  for (let at = plain.indexOf(mark, first + 1); at >= 0 && at <= MAX_PAD; at = plain.indexOf(mark, at + 1)) {
    starts.push(noBar ? at : at + 1);
  }
  let unreadable: Decrypted | undefined;
  let failure: string | undefined;
  let problem: string | undefined;
  for (const start of starts) {
    const content = contentAfterPad(plain.subarray(start));
    if (typeof content !== 'string') {
      failure ??= content.failure;
      continue;
    }
    const wrong = encryptedContentProblem(content);
    if (wrong !== undefined) {
      problem ??= wrong;
      continue;
    }
    const read = { content, pad: Buffer.from(plain.subarray(0, noBar ? start : start - 1)) };
    if (readsAsData(content, account)) return read;
    unreadable ??= read;
  }
  if (unreadable !== undefined) return unreadable;
  throw refused(problem === undefined ? (failure as string) : `decrypted content: ${problem}`);
}

/** The last 16 characters of a timestamp: the last block of an encrypted message, whatever its pad. */
const LAST_BLOCK_OF_TIMESTAMP = /\d{2}:\d{2},\d{2}-\d{2}-\d{4}$/;

/**
 * Whether decrypted bytes show the key is right though they cannot be read: their last block is
 * the end of a timestamp (`MM:SS,MM-DD-YYYY`), or the data after a `|` in the first block names
 * `account` (`|#ACCT|`). A wrong key gives either far less than once in 10^14; a frame changed
 * without the key (a bit flip, blocks spliced, cut off or added) keeps one or both, for it garbles
 * only the blocks where the change is.
 */
function keyProven(plain: Buffer, account: string | undefined): boolean {
  const text = plain.toString('latin1');
  if (LAST_BLOCK_OF_TIMESTAMP.test(text)) return true;
  if (account === undefined) return false;
  for (const named of text.slice(0, MAX_PAD + 19).matchAll(/\|#([0-9A-Fa-f]{3,16})\|/g)) {
    if (named.index <= MAX_PAD && sameAccount(named[1] as string, account)) return true;
  }
  return false;
}

/**
 * The content after a pad, checked for what proves the key. The pad may be any bytes and may fill
 * a whole block: it proves nothing. A wrong key gives bytes, not an error; what proves the key is
 * what follows the pad: text without control bytes reading `data]` and ending with a timestamp's
 * shape (`_dd:dd:dd,dd-dd-dddd`), which DC-09 makes mandatory in an encrypted message. Zone names
 * and text may be 8-bit (a panel's room names in UTF-8 or Windows-1252); with the timestamp's shape
 * a wrong key still passes far less than once in 10^30.
 */
function contentAfterPad(content: Buffer): string | { readonly failure: string } {
  for (const byte of content) {
    if (byte < 0x20 || byte === 0x7f)
      return { failure: 'decrypted data has control bytes after the padding' };
  }
  const text = content.toString('latin1');
  // The data's `]`, brackets in its `^…^` text aside (a zone named `Bed [2]`).
  const dataClose = dataEnd(text);
  if (dataClose < 0 || outsideText(text.slice(0, dataClose)).includes('[')) {
    return { failure: 'decrypted data does not read data] after the padding' };
  }
  if (!TIMESTAMP_SHAPE.test(text)) return { failure: 'decrypted data does not end with a timestamp' };
  return text;
}

/**
 * Whether content's data is what DC-09 carries: nothing (a poll), or events that SIA DC-03 or
 * Contact ID reads whole, after an optional `#ACCT|`. The tail of a pad that held `|` is neither:
 * `x7|#1234|1101 01 001` reads as no events of either, nor does `abc|#1234|…` (an account block
 * followed by another account, not by events), nor `|Nri1MA1`. Where `account` is given, data
 * naming another one without `#` (`abc|Nri1MA1`) is a pad's hex tail, not data; with `#`
 * (`#5678|…`) it is the data, naming another account (the receiver refuses it), and the pad does
 * not end inside it.
 */
function readsAsData(content: string, account: string | undefined): boolean {
  const data = content.slice(0, dataEnd(content));
  if (data === '') return true;
  if (data.startsWith('|')) return false;
  const named = dataAccountOf(data);
  if (named !== undefined && account !== undefined && !sameAccount(named, account)) {
    return data.startsWith('#');
  }
  for (const read of [readCidData, readSiaData]) {
    try {
      read(data);
      return true;
    } catch (err) {
      if (!(err instanceof ContentError)) throw err;
    }
  }
  return false;
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

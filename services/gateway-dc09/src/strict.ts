import { dataEnd, outsideText } from './free-text.ts';

/** Extended data blocks, each `[`, a letter and what it holds (no bracket), `]`. */
const XDATA = /^(?:\[[^[\]][^[\]]*\])*$/;
const TIMESTAMP_ONLY = /^_\d{2}:\d{2}:\d{2},\d{2}-\d{2}-\d{4}$/;

/**
 * What is wrong with decrypted content (the pad stripped) as DC-09 lays it out: `data]`, then
 * extended data `[…]`, then the timestamp `_HH:MM:SS,MM-DD-YYYY`, and nothing after it; 8-bit
 * bytes only in free text (`^…^`, an SIA `A…` block, extended data), no bracket inside an extended
 * data block. Undefined when it is sound.
 *
 * AES-CBC without a MAC lets anyone holding a frame change it: flipping bits of one ciphertext
 * block flips the same bits of the next block's plaintext and turns the block itself into 16 random
 * bytes; blocks of two frames put together do the same where they meet; blocks added after the end
 * decrypt to random bytes. What the receiver can tell such a frame by is those random bytes, where
 * the layout leaves no room for them: outside free text they are text with no 8-bit byte about once
 * in 10^7 (about once in 8 with 8-bit bytes), and after the timestamp never. Stricter than plain
 * content, which senders leave all sorts of bytes in; an encrypted sender's content is its own.
 */
export function encryptedContentProblem(content: string): string | undefined {
  const close = dataEnd(content);
  if (close < 0) return 'data has no closing ]';
  const data = content.slice(0, close);
  if (outsideText(data).includes('[')) return 'data contains [';
  if (eightBitOutsideText(data)) return 'data has 8-bit bytes outside its free text';
  const rest = content.slice(close + 1);
  const stamp = rest.length - '_HH:MM:SS,MM-DD-YYYY'.length;
  if (stamp < 0 || !TIMESTAMP_ONLY.test(rest.slice(stamp))) {
    return 'content does not end with a timestamp _HH:MM:SS,MM-DD-YYYY';
  }
  if (!XDATA.test(rest.slice(0, stamp))) {
    return 'bytes between the data and the timestamp are not extended data blocks [X…]';
  }
  return undefined;
}

/**
 * Whether data has a byte above 0x7F outside its free text: `^…^`, and SIA `A…` blocks (ASCII
 * text about the events, which panels write in their own language too).
 */
function eightBitOutsideText(data: string): boolean {
  let inText = false;
  let inAscii = false;
  let blockStart = true;
  for (let i = 0; i < data.length; i++) {
    const code = data.charCodeAt(i);
    const ch = data[i];
    if (blockStart) {
      inAscii = ch === 'A';
      blockStart = false;
    }
    if (ch === '^') inText = !inText;
    else if (ch === '|' && !inText) {
      blockStart = true;
      inAscii = false;
    } else if (code > 0x7f && !inText && !inAscii) return true;
  }
  return false;
}

/** The account at the head of data (`#ACCT|`, `#ACCT` alone, or `ACCT|`), if it names one. */
const DATA_ACCOUNT = /^(?:#([0-9A-Fa-f]{3,16})(?:\||$)|([0-9A-Fa-f]{3,16})\|)/;

export function dataAccountOf(data: string): string | undefined {
  const m = DATA_ACCOUNT.exec(data);
  return m ? (m[1] ?? m[2]) : undefined;
}

/**
 * Whether the data's account may stand for the header's: the same, leading zeros aside (a Pima
 * writes `#00AAAA` under `#AAAA`), or all zeros (a SATEL writes `#0000` whatever its account).
 */
export function sameAccount(named: string, header: string): boolean {
  const bare = (account: string) => account.toUpperCase().replace(/^0+/, '');
  return bare(named) === '' || bare(named) === bare(header);
}

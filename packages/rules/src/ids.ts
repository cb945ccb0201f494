import * as crypto from 'node:crypto';

/**
 * `alertIdFor` of @telecare/contracts, the same ids (a test checks it), at a quarter of the cost.
 *
 * The id stays SHA-256 on purpose: alert ids are a stable contract — a replay or a reprocessing
 * after an upgrade must give the same ids, or ALERTS and the helpline could not collapse them —
 * and a cryptographic hash keeps two different evidence keys from ever sharing one. What cost was
 * `createHash`'s object per id, not the hash: node's one-shot `crypto.hash` (node ≥ 20.12) skips
 * it. Where it is missing, the object API gives the same digest.
 */
const sha256 =
  typeof crypto.hash === 'function'
    ? (text: string): string => crypto.hash('sha256', text, 'hex')
    : (text: string): string => crypto.createHash('sha256').update(text).digest('hex');

export function alertId(ruleId: string, residentId: string, evidenceKey: string): string {
  return `alt_${sha256(`${ruleId}\u001f${residentId}\u001f${evidenceKey}`).slice(0, 32)}`;
}

let flatRead = 0;

/** What `flat` read (nothing uses it: it keeps the read from being optimised away). */
export const flatReads = (): number => flatRead;

/**
 * The same string, made flat. An id built by concatenation (a template literal) is a chain of
 * pieces until something reads its characters, and each `===` or `<` between two such ids goes
 * through the runtime, several times the cost of comparing two flat strings. Reading one character
 * flattens the string in place, once. (The read goes to a module variable so that it is not
 * optimised away.) A flat string, as JSON.parse gives, is left as it is.
 */
export function flat(text: string): string {
  flatRead ^= text.charCodeAt(0);
  return text;
}

/**
 * A 32-bit fingerprint of a string (FNV-1a over its length and its last `PRINTED` UTF-16 units):
 * ids kept beside their fingerprints are compared as numbers, and only one whose fingerprint
 * matches is compared as a string. Each string kept is its own object, somewhere in the heap:
 * comparing a handful of them (a resident's `seen` ids, their timers' ids) touches that many cold
 * objects, where their fingerprints lie together in one list. Equal strings have equal
 * fingerprints; two different ones may share one, and their string comparison then tells them
 * apart. The ids fingerprinted differ in their ends (an event id's hash, a timer id's serial,
 * event id or date), so the end is read and not the rest: a timer id is 40–70 units long.
 */
export function fingerprint(text: string): number {
  const length = text.length;
  let hash = Math.imul(0x811c9dc5 ^ length, 0x01000193);
  for (let i = length > PRINTED ? length - PRINTED : 0; i < length; i++)
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash | 0;
}

/** How many of a string's last units its fingerprint reads. */
const PRINTED = 16;

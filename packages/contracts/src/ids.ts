import * as crypto from 'node:crypto';

/** Ids carry their kind. */
export type IdKind = 'evt' | 'alt' | 'case' | 'res' | 'dev' | 'rsp' | 'dlq' | 'tok' | 'cev' | 'call';

/**
 * SHA-256 of the parts, the first 32 hex digits. Every stored event's id is one (a stable contract:
 * a resend must get the same id), so it is hashed one-shot (`crypto.hash`, node ≥ 20.12) rather
 * than through a `createHash` object per id; the digest is the same either way.
 */
const sha256 =
  typeof crypto.hash === 'function'
    ? (text: string): string => crypto.hash('sha256', text, 'hex')
    : (text: string): string => crypto.createHash('sha256').update(text).digest('hex');

const hash = (parts: readonly string[]): string => sha256(parts.join('\u001f')).slice(0, 32);

/**
 * The platform id of a device event: deterministic from the serial and the device's own id,
 * so a device that resends until acked produces the same id and JetStream deduplicates it.
 */
export function eventIdFor(serial: string, deviceEventId: string): string {
  return `evt_${hash([serial, deviceEventId])}`;
}

/** Deterministic alert id from rule, resident and the evidence that triggered it. */
export function alertIdFor(ruleId: string, residentId: string, evidenceKey: string): string {
  return `alt_${hash([ruleId, residentId, evidenceKey])}`;
}

/** A new random id, time-ordered for readable sorting: `res_lq2k3j4h5g6f7d8s9a0`. */
export function newId(kind: IdKind, now: number = Date.now()): string {
  return `${kind}_${now.toString(36).padStart(9, '0')}${crypto.randomBytes(8).toString('hex')}`;
}

export const idPattern = (kind: IdKind): RegExp => new RegExp(`^${kind}_[0-9a-z]{8,64}$`);

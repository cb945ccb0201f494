import { createHash, randomBytes } from 'node:crypto';

/** Ids carry their kind. */
export type IdKind = 'evt' | 'alt' | 'case' | 'res' | 'dev' | 'rsp' | 'dlq' | 'tok' | 'cev' | 'call';

const hash = (parts: readonly string[]): string =>
  createHash('sha256').update(parts.join('\u001f')).digest('hex').slice(0, 32);

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
  return `${kind}_${now.toString(36).padStart(9, '0')}${randomBytes(8).toString('hex')}`;
}

export const idPattern = (kind: IdKind): RegExp => new RegExp(`^${kind}_[0-9a-z]{8,64}$`);

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
 * The platform id of an event a device sent over MQTT: deterministic from the serial, the device's
 * own id, the device's time exactly as it sent it (`at`, the string as received, not the time the
 * gateway may store instead) and the event type. A device that resends until acked sends the same
 * payload, so its resend gets the same id and JetStream and triage drop the copy. The device's id
 * alone does not name one event: real pendants start their counter again after a battery change or
 * a firmware update, and a press hours later under an id used before is a new alarm; with its own
 * time (or another type) it gets an id of its own.
 *
 * Events stored before the id took the time and type (`hash(serial, id)`) keep their ids.
 */
export function eventIdFor(serial: string, deviceEventId: string, deviceAt: string, type: string): string {
  return `evt_${hash([serial, deviceEventId, deviceAt, type])}`;
}

/**
 * The platform id of an event whose key already names one occurrence: a DC-09 frame's events (named
 * by account, sequence, content and which occurrence of the message it is) and the events a gateway
 * makes itself (a device's status change, named with its receipt time). Deterministic from the
 * serial and the key, so the same key again is the same event.
 */
export function eventIdOfKey(serial: string, key: string): string {
  return `evt_${hash([serial, key])}`;
}

/** Deterministic alert id from rule, resident and the evidence that triggered it. */
export function alertIdFor(ruleId: string, residentId: string, evidenceKey: string): string {
  return `alt_${hash([ruleId, residentId, evidenceKey])}`;
}

/**
 * A security event's `Nats-Msg-Id` (`sec_…`, as the outbox's random ones) when what raised it names
 * one occurrence (`kind` and the ids it is about): raised again for the same (an event redelivered
 * after its alerts were stored), it is the same id, so SECURITY and the helpline keep it once.
 */
export function securityEventIdFor(kind: string, ...parts: readonly string[]): string {
  return `sec_${hash([kind, ...parts])}`;
}

/** A new random id, time-ordered for readable sorting: `res_lq2k3j4h5g6f7d8s9a0`. */
export function newId(kind: IdKind, now: number = Date.now()): string {
  return `${kind}_${now.toString(36).padStart(9, '0')}${crypto.randomBytes(8).toString('hex')}`;
}

export const idPattern = (kind: IdKind): RegExp => new RegExp(`^${kind}_[0-9a-z]{8,64}$`);

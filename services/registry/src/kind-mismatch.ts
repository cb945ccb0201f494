import { type EventType, isUnexpectedKindAlarm } from '@telecare/contracts';
import type { KindMismatch } from './records.ts';

/** An installer's words for an alarm stored although `kind` does not report `type`. */
export const kindMismatchDetail = (kind: string, type: string): string =>
  `a ${kind} does not report ${type}: the alarm was stored all the same; check the device's registered kind`;

/**
 * The alarm as a kind mismatch when a device registered as `kind` does not report its type, else
 * undefined. Only a life-critical alarm can be one: the gateways refuse any other type a kind does
 * not report (and that refusal reaches the registry as a dead letter), and keep a type triage
 * derives that a panel's code maps to, which is no device's own.
 */
export function kindMismatchOf(
  kind: string,
  event: { type: EventType; at: string; eventId: string },
): KindMismatch | undefined {
  if (!isUnexpectedKindAlarm(kind, event.type)) return undefined;
  return {
    type: event.type,
    kind,
    detail: kindMismatchDetail(kind, event.type),
    at: event.at,
    eventId: event.eventId,
  };
}
